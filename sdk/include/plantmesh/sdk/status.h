// Turning a gRPC status into absl::Status and into words a person can act on.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace grpc {
class Status;
}

namespace plantmesh::sdk {

// Converts a gRPC status, keeping the rich details (google.rpc.Status-compatible
// `grpc-status-details-bin`) as absl payloads keyed by their type URL. A TLS
// handshake failure (a refused or unknown client certificate arrives as UNAVAILABLE)
// becomes UNAUTHENTICATED with a message that says so.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The same, for a call made over mutual TLS: a connection the server closes right after
// the handshake is also reported as a refused certificate, since that is how TLS 1.3
// delivers the refusal (the client finishes its handshake before the server checks
// the client certificate, so the client sees only "Socket closed").
absl::Status FromGrpcStatus(const grpc::Status& status, bool mutual_tls);

struct FieldViolationView {
  std::string field;
  std::string description;
};

// The field violations (google.rpc.BadRequest) carried by a status.
std::vector<FieldViolationView> FieldViolations(const absl::Status& status);

// ErrorInfo reason (domain "sdk.plantmesh") of a call the SDK ended UNAVAILABLE without
// sending its request: the channel never connected (a wrong endpoint, a server not
// started) before the call's deadline. Nothing was done; sending it again is safe.
inline constexpr char kNotConnectedReason[] = "NOT_CONNECTED";

// The ErrorInfo reason (e.g. "ILLEGAL_TRANSITION"), empty when absent.
std::string ErrorReason(const absl::Status& status);
// An ErrorInfo metadata value, empty when absent.
std::string ErrorMetadata(const absl::Status& status, const std::string& key);

struct PreconditionViolationView {
  std::string type;
  std::string subject;
  std::string description;
};

// The violations of a PreconditionFailure detail (e.g. a Watch cursor that is too old
// names the oldest valid cursor in its description).
std::vector<PreconditionViolationView> PreconditionViolations(const absl::Status& status);

// Multi-line, human-readable rendering: code, message, each field violation,
// error reason and metadata, precondition failures.
std::string DescribeStatus(const absl::Status& status);

// One line: "CODE: message", line breaks in the message as spaces (for a log line, or to
// quote a status inside another message); "OK" when it is.
std::string StatusLine(const absl::Status& status);

// Whether a stream of changes (a Watch*, a telemetry tail) that ended with `status` is
// opened again from its last cursor (or the `cursor` its end names): OK (the server ended
// it), UNAVAILABLE (the server drains or restarts, a watcher fell behind, the network),
// DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, and CANCELLED — which a caller that did
// not cancel the call itself gets from a server that shuts down (outside testing:
// `plantctl telemetry tail` gave up on it when the server restarted). Anything else is
// for the caller to fix; FAILED_PRECONDITION means the cursor can no longer be served
// (list, or start again without a cursor).
bool WatchEndIsResumable(const absl::Status& status);

}  // namespace plantmesh::sdk
