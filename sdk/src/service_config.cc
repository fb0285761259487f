// The retry policy comes from the contracts compiled into this program: every
// plantmesh.* service in the generated descriptor pool, every method whose
// idempotency_level says a repeat is harmless.
#include "plantmesh/sdk/internal/service_config.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "plantmesh/sdk/client_options.h"

namespace plantmesh::sdk {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::MethodDescriptor;
using google::protobuf::MethodOptions;

// A protobuf JSON Duration, e.g. "0.100s".
std::string JsonDuration(absl::Duration duration) {
  return absl::StrFormat("%.3fs", absl::ToDoubleSeconds(duration));
}

bool RetrySafe(const MethodDescriptor* method) {
  const auto level = method->options().idempotency_level();
  return level == MethodOptions::NO_SIDE_EFFECTS || level == MethodOptions::IDEMPOTENT;
}

}  // namespace

namespace internal {

std::vector<const google::protobuf::FileDescriptor*> LinkedPlantMeshFiles() {
  // Computed once: the generated database is complete after static initialization, and
  // its FindAllFileNames is not thread-safe (concurrent MakeChannel calls crashed in it).
  static const std::vector<const google::protobuf::FileDescriptor*>* const files = [] {
    std::vector<std::string> names;
    DescriptorPool::internal_generated_database()->FindAllFileNames(&names);
    std::sort(names.begin(), names.end());
    auto* found = new std::vector<const google::protobuf::FileDescriptor*>();
    for (const std::string& name : names) {
      if (!absl::StartsWith(name, "plantmesh/")) continue;
      const auto* file = DescriptorPool::generated_pool()->FindFileByName(name);
      if (file != nullptr) found->push_back(file);
    }
    return found;
  }();
  return *files;
}

std::string RetryServiceConfigJsonFor(
    const std::vector<const google::protobuf::FileDescriptor*>& files, const RetryOptions& retry) {
  // {"service":"plantmesh.defect.v1.DefectService","method":"GetDefect"} per method.
  std::vector<std::string> names;
  for (const auto* file : files) {
    if (!absl::StartsWith(file->package(), "plantmesh.")) continue;
    for (int s = 0; s < file->service_count(); ++s) {
      const auto* service = file->service(s);
      for (int m = 0; m < service->method_count(); ++m) {
        const MethodDescriptor* method = service->method(m);
        if (!RetrySafe(method)) continue;
        names.push_back(absl::StrCat(R"({"service":")", service->full_name(), R"(","method":")",
                                     method->name(), R"("})"));
      }
    }
  }
  if (retry.max_attempts < 2 || names.empty()) return R"({"methodConfig":[]})";
  // Throttling stops retries when most calls fail (a server down for good), so a
  // fleet of clients does not multiply the load on a struggling server.
  return absl::StrCat(R"({"methodConfig":[{"name":[)", absl::StrJoin(names, ","),
                      R"(],"retryPolicy":{)", R"("maxAttempts":)", std::min(retry.max_attempts, 5),
                      R"(,"initialBackoff":")", JsonDuration(retry.initial_backoff),
                      R"(","maxBackoff":")", JsonDuration(retry.max_backoff),
                      R"(","backoffMultiplier":)", absl::StrFormat("%g", retry.backoff_multiplier),
                      R"(,"retryableStatusCodes":["UNAVAILABLE"]}}],)",
                      R"("retryThrottling":{"maxTokens":10,"tokenRatio":0.1}})");
}

}  // namespace internal

std::string RetryServiceConfigJson(const RetryOptions& retry) {
  return internal::RetryServiceConfigJsonFor(internal::LinkedPlantMeshFiles(), retry);
}

}  // namespace plantmesh::sdk
