// Turning a gRPC status into absl::Status and into words a person can act on.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "plantmesh/sdk/cxx17.h"  // first: before any header that needs C++17

namespace grpc {
class Status;
}

namespace plantmesh::sdk {

// Converts a gRPC status, keeping the rich details (google.rpc.Status-compatible
// `grpc-status-details-bin`) as absl payloads keyed by their type URL. A TLS
// handshake failure (a refused or unknown certificate arrives as UNAVAILABLE) becomes
// UNAUTHENTICATED "TLS handshake failed: <which side, why>" with ErrorInfo
// kTlsHandshakeFailedReason — when OpenSSL's text says so (an error or alert, a
// certificate that does not name the host). A handshake that timed out or broke off
// ("Handshake read failed": a frozen server, a network; over mutual TLS also a refused
// client certificate, which the message then says may be why) stays UNAVAILABLE. A peer that
// does not speak TLS at all (OpenSSL's "wrong version number": a plaintext port, e.g. a
// probe or metrics port) is UNAVAILABLE "the endpoint does not speak TLS" with ErrorInfo
// kNotTlsReason: no certificate is at fault.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The same, for a call made over mutual TLS: a connection the server closes right after
// the handshake without an alert is also UNAUTHENTICATED, with ErrorInfo
// kTlsConnectionClosedReason, since that is how TLS 1.3 delivers a refused client
// certificate (the client finishes its handshake before the server checks the client
// certificate, so the client sees only "Socket closed"). A TCP proxy with no server
// behind it looks the same, so the SDK's long-running helpers (TelemetryBatchWriter,
// ListWatch) retry it (IsUnconfirmedTlsRefusal). `mutual_tls` false: a plaintext call,
// whose connection a server closed at once is asked about as one that expects TLS.
absl::Status FromGrpcStatus(const grpc::Status& status, bool mutual_tls);

// ErrorInfo reasons (domain "sdk.plantmesh") of the two above.
inline constexpr char kTlsHandshakeFailedReason[] = "TLS_HANDSHAKE_FAILED";
inline constexpr char kNotTlsReason[] = "ENDPOINT_NOT_TLS";
inline constexpr char kTlsConnectionClosedReason[] = "TLS_CONNECTION_CLOSED";

// A refusal the client cannot confirm (kTlsConnectionClosedReason): a one-off call
// reports it at once; a helper that runs for hours retries it with backoff rather
// than stopping for good (outside testing: a TCP front whose backend restarted made a
// batch writer abandon its samples).
bool IsUnconfirmedTlsRefusal(const absl::Status& status);

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

// ErrorInfo reason (domain "sdk.plantmesh") of a call whose outcome the client cannot
// know (the deadline passed, the connection broke) and that had no ErrorInfo of its
// own. When the SDK filled the call's request_id, the id is in the status' ErrorInfo
// metadata `request_id` (whatever its reason) and message: send the request again
// with it to learn the outcome, never without it (outside testing: a retry without it
// stored a defect twice).
inline constexpr char kOutcomeUnknownReason[] = "OUTCOME_UNKNOWN";

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

// The least time to wait before sending the request again, when the server said
// (google.rpc.RetryInfo, with UNAVAILABLE or RESOURCE_EXHAUSTED: a draining server, a
// dependency out of reach, a full queue); nullopt otherwise. The SDK's long-running
// helpers (ListWatch, TelemetryBatchWriter) wait at least this long; gRPC's own retries
// wait for the same delay, sent as its `grpc-retry-pushback-ms` trailer.
std::optional<absl::Duration> RetryDelay(const absl::Status& status);

// Multi-line, human-readable rendering: code, message, each field violation,
// error reason and metadata, precondition failures, retry delay.
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
// for the caller to fix, but for IsUnconfirmedTlsRefusal; FAILED_PRECONDITION means the
// cursor can no longer be served (list, or start again without a cursor).
bool WatchEndIsResumable(const absl::Status& status);

}  // namespace plantmesh::sdk
