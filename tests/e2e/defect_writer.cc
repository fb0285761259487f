#include "tests/e2e/defect_writer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {

DefectWriter::DefectWriter(sdk::DefectClient client, absl::Duration period, std::string vin_prefix)
    : client_(std::move(client)) {
  thread_ = std::thread([this, period, prefix = std::move(vin_prefix)] {
    for (int i = 0;; ++i) {
      {
        // The scenario's pace: the next report after `period`, or none once stopped.
        absl::MutexLock lock(&mu_);
        auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
        if (i > 0 && mu_.AwaitWithTimeout(absl::Condition(&stopping), period)) break;
        if (stop_) break;
      }
      defect::v1::CreateDefectRequest request;
      *request.mutable_defect() = SampleDefect(absl::StrCat(prefix, i));
      // CreateDefect is retry-safe (request_id): the SDK resends it across a restart.
      auto created = client_.CreateDefect(request);
      {
        absl::MutexLock lock(&mu_);
        if (created.ok()) {
          acknowledged_.push_back(created->defect().id());
        } else {
          failures_.push_back(Describe(created.status()));
        }
      }
    }
  });
}

DefectWriter::~DefectWriter() { Stop(); }

void DefectWriter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> DefectWriter::acknowledged() {
  absl::MutexLock lock(&mu_);
  return acknowledged_;
}

std::vector<std::string> DefectWriter::failures() {
  absl::MutexLock lock(&mu_);
  return failures_;
}

bool DefectWriter::AwaitMoreThan(size_t count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto more = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return acknowledged_.size() > count; };
  return mu_.AwaitWithTimeout(absl::Condition(&more), timeout);
}

}  // namespace plantmesh::e2e
