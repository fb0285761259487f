#include "plantmesh/sdk/client_options.h"

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "plantmesh/common/loopback.h"
#include "plantmesh/sdk/internal/credentials.h"

namespace plantmesh::sdk {
namespace {

bool IsUnixSocket(absl::string_view endpoint) {
  return absl::StartsWith(endpoint, "unix:") || absl::StartsWith(endpoint, "unix-abstract:");
}

// "host:port" of a network endpoint, without gRPC's name scheme.
absl::string_view WithoutScheme(absl::string_view endpoint) {
  for (absl::string_view scheme : {"dns:///", "ipv4:", "ipv6:"}) {
    if (absl::StartsWith(endpoint, scheme)) endpoint.remove_prefix(scheme.size());
  }
  return endpoint;
}

// What is wrong with an endpoint ("" when nothing), without the field's name.
std::string EndpointProblem(absl::string_view endpoint) {
  if (endpoint.empty()) return "empty; want host:port";
  if (IsUnixSocket(endpoint)) return "";
  endpoint = WithoutScheme(endpoint);
  const size_t colon = endpoint.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return "\"" + std::string(endpoint) + "\" is not host:port";
  }
  int port = 0;
  if (!absl::SimpleAtoi(endpoint.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return "\"" + std::string(endpoint) + "\" has no valid port (1-65535)";
  }
  return "";
}

// What is wrong with plaintext to `endpoint` (well formed): "" for a Unix socket or a
// loopback host (outside testing: an adapter set insecure toward 10.1.2.3 was let send
// identities and plant data in clear across the network; the server's --insecure takes
// loopback only).
std::string PlaintextProblem(absl::string_view endpoint) {
  if (IsUnixSocket(endpoint)) return "";
  endpoint = WithoutScheme(endpoint);
  const absl::string_view host = endpoint.substr(0, endpoint.rfind(':'));
  if (common::IsLoopbackHost(std::string_view(host.data(), host.size()))) return "";
  return absl::StrCat(
      "insecure: plaintext only to this machine (a loopback endpoint: "
      "127.x.x.x, ::1, localhost, or a Unix socket); endpoint's host is \"",
      host, "\": use mutual TLS (ca_file, cert_file, key_file)");
}

// gRPC raises anything below 100 ms to 100 ms; saying so beats a silent change.
std::vector<std::string> ReconnectProblems(const ReconnectOptions& reconnect) {
  std::vector<std::string> problems;
  const absl::Duration floor = absl::Milliseconds(100);
  if (reconnect.initial_backoff < floor) {
    problems.push_back("reconnect.initial_backoff: must be at least 100ms");
  }
  if (reconnect.max_backoff < reconnect.initial_backoff) {
    problems.push_back("reconnect.max_backoff: must not be less than reconnect.initial_backoff");
  }
  if (reconnect.min_connect_timeout < floor) {
    problems.push_back("reconnect.min_connect_timeout: must be at least 100ms");
  }
  if (reconnect.max_backoff_while_calls_wait != absl::ZeroDuration() &&
      reconnect.max_backoff_while_calls_wait < floor) {
    problems.push_back("reconnect.max_backoff_while_calls_wait: must be zero or at least 100ms");
  }
  const absl::Duration int_ms_limit = absl::Milliseconds(std::numeric_limits<int>::max());
  if (reconnect.max_backoff > int_ms_limit || reconnect.min_connect_timeout > int_ms_limit) {
    problems.push_back("reconnect: durations must be below 24 days");
  }
  return problems;
}

}  // namespace

absl::Status CheckEndpoint(absl::string_view endpoint) {
  const std::string problem = EndpointProblem(endpoint);
  return problem.empty() ? absl::OkStatus() : absl::InvalidArgumentError(problem);
}

absl::Status ClientOptions::Validate() const {
  std::vector<std::string> problems;
  auto add = [&problems](std::string problem) {
    if (!problem.empty()) problems.push_back(std::move(problem));
  };
  if (std::string problem = EndpointProblem(endpoint); !problem.empty()) {
    add("endpoint: " + problem);
  } else if (insecure) {
    add(PlaintextProblem(endpoint));
  }
  for (std::string& problem : internal::TlsFileProblems(*this)) add(std::move(problem));
  if (default_deadline <= absl::ZeroDuration()) add("default_deadline: must be positive");
  if (retry.max_attempts < 1 || retry.max_attempts > 5) {
    add("retry.max_attempts: must be 1-5 (1 disables retries; gRPC caps attempts at 5)");
  }
  // The policy goes to gRPC as JSON with millisecond durations; a value it refuses
  // fails every call with "Failed to create secure client channel" and nothing else
  // (outside testing: 400 µs, an infinite max_backoff, a NaN multiplier).
  if (retry.initial_backoff < absl::Milliseconds(1) || retry.initial_backoff > absl::Hours(1)) {
    add("retry.initial_backoff: must be 1 ms to 1 h");
  }
  if (retry.max_backoff < retry.initial_backoff || retry.max_backoff > absl::Hours(1)) {
    add("retry.max_backoff: must be retry.initial_backoff to 1 h");
  }
  if (!(retry.backoff_multiplier >= 1.0 && retry.backoff_multiplier <= 10.0)) {
    add("retry.backoff_multiplier: must be 1 to 10");
  }
  if (max_receive_message_bytes < 1) add("max_receive_message_bytes: must be positive");
  // Below the servers' default min-ping-seconds every quiet call's connection is cut
  // with GOAWAY too_many_pings (outside testing: every 10 s, the SDK reconnecting).
  if (keepalive_time < absl::Seconds(5)) {
    add(
        absl::StrCat("keepalive_time: must be at least 5s (PlantMesh servers close a "
                     "connection that pings more often than min-ping-seconds, 5 s by "
                     "default, with GOAWAY too_many_pings); got ",
                     absl::FormatDuration(keepalive_time)));
  }
  if (keepalive_timeout <= absl::ZeroDuration()) add("keepalive_timeout: must be positive");
  if (tls_reload != absl::ZeroDuration() &&
      (tls_reload < absl::Seconds(1) || tls_reload > absl::Hours(24))) {
    add("tls_reload: must be zero (read once) or 1s-24h");
  }
  for (std::string& problem : ReconnectProblems(reconnect)) add(std::move(problem));
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError("invalid client options: " + absl::StrJoin(problems, "; "));
}

}  // namespace plantmesh::sdk
