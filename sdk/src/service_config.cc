// The retry policy comes from the contracts, through the list the code generator emits
// (GeneratedRetrySafeMethods): a program need not link any service's descriptors.
#include "plantmesh/sdk/internal/service_config.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "plantmesh/sdk/client_options.h"

namespace plantmesh::sdk {
namespace {

// A protobuf JSON Duration, e.g. "0.100s".
std::string JsonDuration(absl::Duration duration) {
  return absl::StrFormat("%.3fs", absl::ToDoubleSeconds(duration));
}

}  // namespace

namespace internal {

std::string RetryServiceConfigJsonFor(const std::vector<RetrySafeMethod>& methods,
                                      const RetryOptions& retry) {
  // {"service":"plantmesh.defect.v1.DefectService","method":"GetDefect"} per method.
  std::vector<std::string> names;
  names.reserve(methods.size());
  for (const RetrySafeMethod& method : methods) {
    if (method.client_streaming) continue;
    names.push_back(
        absl::StrCat(R"({"service":")", method.service, R"(","method":")", method.method, R"("})"));
  }
  if (retry.max_attempts < 2 || names.empty()) return R"({"methodConfig":[]})";
  // Throttling stops retries when most calls fail (a server down for good), so a
  // fleet of clients does not multiply the load on a struggling server. gRPC stops
  // once the tokens fall to half of maxTokens, one token per failure: at 1000 (gRPC's
  // most), after 500 failures in a row. Outside testing: at 10, the calls of 12
  // threads in flight at a server crash used them up and 23 retry-safe calls failed
  // UNAVAILABLE unretried (some of them stored).
  // CANCELLED too: the client's own cancellation is never retried by gRPC, so a CANCELLED
  // here came from the server's side: gRPC core cancels a call that reaches a server in
  // the instant its shutdown begins, before any handler saw it (outside testing: 1-5 of a
  // stream of calls at a SIGTERM), and the calls still running when a drain ends.
  return absl::StrCat(R"({"methodConfig":[{"name":[)", absl::StrJoin(names, ","),
                      R"(],"retryPolicy":{)", R"("maxAttempts":)", std::min(retry.max_attempts, 5),
                      R"(,"initialBackoff":")", JsonDuration(retry.initial_backoff),
                      R"(","maxBackoff":")", JsonDuration(retry.max_backoff),
                      R"(","backoffMultiplier":)", absl::StrFormat("%g", retry.backoff_multiplier),
                      R"(,"retryableStatusCodes":["UNAVAILABLE","CANCELLED"]}}],)",
                      R"("retryThrottling":{"maxTokens":1000,"tokenRatio":0.1}})");
}

}  // namespace internal

std::string RetryServiceConfigJson(const RetryOptions& retry) {
  return internal::RetryServiceConfigJsonFor(internal::GeneratedRetrySafeMethods(), retry);
}

}  // namespace plantmesh::sdk
