#include "server/runtime/failure_log.h"

#include <utility>

#include "server/runtime/errors.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {

FailureLog::FailureLog(std::string task, absl::Duration every, std::function<absl::Time()> now)
    : task_(std::move(task)), every_(every), now_(std::move(now)) {}

void FailureLog::Failed(const absl::Status& status, absl::Duration retry_in) {
  const absl::Time now = now_();
  absl::MutexLock lock(&mu_);
  if (failures_++ == 0) {
    ++runs_;
    first_ = logged_ = now;
    spdlog::warn(
        "{} failed (tried again every {}; logged again at most every {} while it fails): {}", task_,
        absl::FormatDuration(retry_in), absl::FormatDuration(every_), StatusForLog(status));
    return;
  }
  if (now - logged_ < every_) return;
  spdlog::warn("{} still fails ({} failures in {}): {}", task_, failures_,
               absl::FormatDuration(absl::Trunc(now - first_, absl::Seconds(1))),
               StatusForLog(status));
  logged_ = now;
}

void FailureLog::Succeeded() {
  const absl::Time now = now_();
  absl::MutexLock lock(&mu_);
  if (failures_ == 0) return;
  spdlog::info("{} works again, after {} failures in {}", task_, failures_,
               absl::FormatDuration(absl::Trunc(now - first_, absl::Seconds(1))));
  failures_ = 0;
}

void FailureLog::Record(const absl::Status& status, absl::Duration retry_in) {
  if (status.ok()) {
    Succeeded();
  } else {
    Failed(status, retry_in);
  }
}

int64_t FailureLog::failures() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

int64_t FailureLog::runs() const {
  absl::MutexLock lock(&mu_);
  return runs_;
}

}  // namespace plantmesh::runtime
