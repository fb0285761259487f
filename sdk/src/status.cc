#include "plantmesh/sdk/status.h"

#include <grpcpp/support/status.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "plantmesh/api/v1/error_details.pb.h"
#include "plantmesh/sdk/internal/connection.h"

namespace plantmesh::sdk {
namespace {

namespace api = ::plantmesh::api::v1;

// The google.rpc type URLs the server packs its details with (wire-compatible).
constexpr absl::string_view kBadRequestTypeUrl = "type.googleapis.com/google.rpc.BadRequest";
constexpr absl::string_view kErrorInfoTypeUrl = "type.googleapis.com/google.rpc.ErrorInfo";
constexpr absl::string_view kPreconditionFailureTypeUrl =
    "type.googleapis.com/google.rpc.PreconditionFailure";
constexpr absl::string_view kRetryInfoTypeUrl = "type.googleapis.com/google.rpc.RetryInfo";

// gRPC's own text when the client could not establish any connection (1.51:
// "failed to connect to all addresses; last error: ..."). A status the server sent
// never has this shape, so TLS words elsewhere (a server's "SSL SYSCALL error" from
// its database, say) are not mistaken for a certificate problem.
constexpr absl::string_view kConnectFailurePrefix = "failed to connect to all addresses";

// Only the gRPC client generates a connection failure, and it attaches no details.
bool IsClientConnectFailure(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE && status.error_details().empty() &&
         absl::StartsWith(status.error_message(), kConnectFailurePrefix);
}

// What a connection failure's text says of TLS (gRPC 1.51 with OpenSSL 3).
enum class TlsFailure {
  kNone,     // not TLS, or the TLS layer saw a timeout or I/O error: transient
  kCertain,  // OpenSSL refused, or was refused with an alert; or the host name check
  kClosed,   // over mutual TLS, the peer closed without an alert: see the header
};

TlsFailure ClassifyConnectFailure(const grpc::Status& status, bool mutual_tls) {
  if (!IsClientConnectFailure(status)) return TlsFailure::kNone;
  const std::string& message = status.error_message();
  // A handshake that timed out or whose connection broke ("Handshake read failed":
  // outside testing, a frozen server) says nothing about certificates.
  for (absl::string_view io : {"Handshake read failed", "Handshake write failed"}) {
    if (absl::StrContains(message, io)) return TlsFailure::kNone;
  }
  for (absl::string_view refused :
       {"SSL_ERROR_SSL", " alert ", "certificate", "Hostname Verification", "Peer name"}) {
    if (absl::StrContains(message, refused)) return TlsFailure::kCertain;
  }
  if (mutual_tls) {
    for (absl::string_view closed :
         {"Socket closed", "Connection reset", "End of TCP stream", "Broken pipe"}) {
      if (absl::StrContains(message, closed)) return TlsFailure::kClosed;
    }
  }
  return TlsFailure::kNone;
}

// A server that took the connection and closed it at once, without a word: to a
// plaintext client, most likely one that speaks TLS (outside testing: "is the server
// started?" to a client set `insecure` against a running mTLS server, and nothing at all
// on streams and `admin status`).
bool ClosedByPeer(absl::string_view why) {
  for (absl::string_view closed : {"Socket closed", "Connection reset", "End of TCP stream"}) {
    if (absl::StrContains(why, closed)) return true;
  }
  return false;
}
constexpr absl::string_view kExpectsTlsQuestion =
    " the server closed the connection at once; does it expect TLS (this client is set "
    "insecure: plaintext)?";

absl::Status WithSdkErrorInfo(absl::Status status, absl::string_view reason) {
  api::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain("sdk.plantmesh");
  status.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

// Which side refused, where OpenSSL's text says so: this client verifying the server's
// certificate ("certificate verify failed"), the host name check, or the server
// answering with an alert about this client's ("... alert bad certificate", "certificate
// expired", "unknown ca"). Outside testing: an expired server certificate was reported
// as the server refusing the client's, and a certificate without the endpoint's host
// name as a server not started.
absl::Status HandshakeFailure(absl::string_view message, TlsFailure kind) {
  absl::string_view why = "the server refused this client's certificate, or the CA does not match";
  if (kind == TlsFailure::kClosed) {
    why =
        "the server closed the connection without a word: it refused this client's "
        "certificate (expired, not valid yet, of another CA, not for client authentication, "
        "or a CA's; the server's log says which), or a "
        "proxy in front of it has no server behind it";
  } else if (absl::StrContains(message, "Hostname Verification") ||
             absl::StrContains(message, "Peer name")) {
    why =
        "the server's certificate does not name the host this client connects to: connect "
        "by a name or address the certificate carries, or set server_name to one";
  } else if (absl::StrContains(message, "certificate verify failed")) {
    why =
        "this client did not accept the server's certificate (expired, not yet valid, not "
        "signed by the CA of ca_file, or not a server's: its extended key usage lacks "
        "serverAuth)";
  } else if (absl::StrContains(message, " alert ")) {
    why = "the server refused this client's certificate (expired, not valid yet, or of another CA)";
  }
  return WithSdkErrorInfo(
      absl::UnauthenticatedError(absl::StrCat("TLS handshake failed: ", why, " (", message, ")")),
      kind == TlsFailure::kClosed ? kTlsConnectionClosedReason : kTlsHandshakeFailedReason);
}

template <typename Detail>
std::optional<Detail> DetailOf(const absl::Status& status, absl::string_view type_url) {
  auto payload = status.GetPayload(type_url);  // absl::optional in this abseil build
  if (!payload.has_value()) return std::nullopt;
  Detail detail;
  if (!detail.ParseFromString(std::string(*payload))) return std::nullopt;
  return detail;
}

// How the call went: unknown (the one-argument FromGrpcStatus), plaintext or mutual TLS.
enum class Transport { kUnknown, kPlaintext, kMutualTls };

absl::Status Convert(const grpc::Status& status, Transport transport) {
  if (status.ok()) return absl::OkStatus();
  const bool mutual_tls = transport == Transport::kMutualTls;
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  const TlsFailure tls = ClassifyConnectFailure(status, mutual_tls);
  // A plaintext peer answers the ClientHello with bytes that are no TLS record (outside
  // testing: a probe port was reported as refusing the client's certificate).
  if (tls != TlsFailure::kNone &&
      absl::StrContains(status.error_message(), "wrong version number")) {
    return WithSdkErrorInfo(
        absl::UnavailableError(absl::StrCat(
            "the endpoint does not speak TLS: a plaintext port (a probe or metrics port?); "
            "connect to the service's mutual-TLS port (",
            status.error_message(), ")")),
        kNotTlsReason);
  }
  if (tls != TlsFailure::kNone) return HandshakeFailure(status.error_message(), tls);
  std::string message = status.error_message();
  // Over mutual TLS a refused client certificate can also break the handshake off this
  // way (outside testing: a batch writer with a certificate of another CA reported only
  // "Handshake read failed" while the server logged "certificate verify failed").
  if (mutual_tls && IsClientConnectFailure(status) &&
      absl::StrContains(message, "Handshake read failed")) {
    absl::StrAppend(&message,
                    " (the TLS handshake broke off: the server refused this client's "
                    "certificate, which its log says, or it stopped answering)");
  }
  if (transport == Transport::kPlaintext && IsClientConnectFailure(status) &&
      ClosedByPeer(message)) {
    absl::StrAppend(&message, ":", kExpectsTlsQuestion);
  }
  absl::Status result(code, message);
  if (!status.error_details().empty()) {
    api::Status details;
    if (details.ParseFromString(status.error_details())) {
      for (const auto& any : details.details()) {
        result.SetPayload(any.type_url(), absl::Cord(any.value()));
      }
    }
  }
  return result;
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  return Convert(status, Transport::kUnknown);
}

absl::Status FromGrpcStatus(const grpc::Status& status, bool mutual_tls) {
  return Convert(status, mutual_tls ? Transport::kMutualTls : Transport::kPlaintext);
}

namespace internal {

bool IsUnsentConnectFailure(const grpc::Status& status) { return IsClientConnectFailure(status); }

grpc::Status NotConnectedStatus(const std::string& endpoint, const std::string& why,
                                bool plaintext) {
  api::ErrorInfo info;
  info.set_reason(kNotConnectedReason);
  info.set_domain("sdk.plantmesh");
  (*info.mutable_metadata())["endpoint"] = endpoint;
  const std::string question = plaintext && ClosedByPeer(why)
                                   ? absl::StrCat(":", kExpectsTlsQuestion)
                                   : ": is the endpoint right, and the server started?";
  const std::string message =
      absl::StrCat("no connection to ", endpoint,
                   " was made within the call's deadline, so the request was not sent",
                   why.empty() ? "" : absl::StrCat(" (", why, ")"), question);
  api::Status details;
  details.set_code(grpc::StatusCode::UNAVAILABLE);
  details.set_message(message);
  google::protobuf::Any* detail = details.add_details();
  detail->set_type_url(std::string(kErrorInfoTypeUrl));
  detail->set_value(info.SerializeAsString());
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, message, details.SerializeAsString());
}

absl::Status WithFilledRequestId(absl::Status status, const std::string& request_id) {
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
      break;
    default:
      return status;  // the server answered: nothing was done
  }
  if (request_id.empty() || ErrorReason(status) == kNotConnectedReason) return status;
  api::ErrorInfo info;
  if (auto existing = DetailOf<api::ErrorInfo>(status, kErrorInfoTypeUrl)) {
    info = *existing;
  } else {
    info.set_reason(kOutcomeUnknownReason);
    info.set_domain("sdk.plantmesh");
  }
  (*info.mutable_metadata())["request_id"] = request_id;
  absl::Status noted(status.code(),
                     absl::StrCat(status.message(), " (request_id ", request_id,
                                  ", filled by the SDK: send the request again with it to "
                                  "learn the outcome)"));
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    noted.SetPayload(type_url, payload);
  });
  noted.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  return noted;
}

bool IsHandshakeFailure(const grpc::Status& status, bool mutual_tls) {
  return ClassifyConnectFailure(status, mutual_tls) != TlsFailure::kNone;
}

}  // namespace internal

std::vector<FieldViolationView> FieldViolations(const absl::Status& status) {
  std::vector<FieldViolationView> views;
  if (auto detail = DetailOf<api::BadRequest>(status, kBadRequestTypeUrl)) {
    for (const auto& violation : detail->field_violations()) {
      views.push_back({violation.field(), violation.description()});
    }
  }
  return views;
}

std::string ErrorReason(const absl::Status& status) {
  auto detail = DetailOf<api::ErrorInfo>(status, kErrorInfoTypeUrl);
  return detail.has_value() ? detail->reason() : "";
}

std::string ErrorMetadata(const absl::Status& status, const std::string& key) {
  auto detail = DetailOf<api::ErrorInfo>(status, kErrorInfoTypeUrl);
  if (!detail.has_value()) return "";
  auto it = detail->metadata().find(key);
  return it == detail->metadata().end() ? "" : it->second;
}

std::vector<PreconditionViolationView> PreconditionViolations(const absl::Status& status) {
  std::vector<PreconditionViolationView> views;
  if (auto detail = DetailOf<api::PreconditionFailure>(status, kPreconditionFailureTypeUrl)) {
    for (const auto& violation : detail->violations()) {
      views.push_back({violation.type(), violation.subject(), violation.description()});
    }
  }
  return views;
}

std::optional<absl::Duration> RetryDelay(const absl::Status& status) {
  auto detail = DetailOf<api::RetryInfo>(status, kRetryInfoTypeUrl);
  if (!detail.has_value() || !detail->has_retry_delay()) return std::nullopt;
  // A delay no server would ask for (negative, or beyond a day) is not trusted as one.
  const absl::Duration delay = absl::Seconds(detail->retry_delay().seconds()) +
                               absl::Nanoseconds(detail->retry_delay().nanos());
  if (delay < absl::ZeroDuration() || delay > absl::Hours(24)) return std::nullopt;
  return delay;
}

std::string DescribeStatus(const absl::Status& status) {
  if (status.ok()) return "OK";
  std::string text =
      absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message(), "\n");
  for (const FieldViolationView& violation : FieldViolations(status)) {
    absl::StrAppend(&text, "  field ", violation.field, ": ", violation.description, "\n");
  }
  if (auto info = DetailOf<api::ErrorInfo>(status, kErrorInfoTypeUrl)) {
    absl::StrAppend(&text, "  reason: ", info->reason());
    if (!info->domain().empty()) absl::StrAppend(&text, " (", info->domain(), ")");
    absl::StrAppend(&text, "\n");
    // Sorted, so that the rendering is stable.
    std::map<std::string, std::string> sorted(info->metadata().begin(), info->metadata().end());
    for (const auto& [key, value] : sorted) absl::StrAppend(&text, "    ", key, ": ", value, "\n");
  }
  for (const PreconditionViolationView& violation : PreconditionViolations(status)) {
    absl::StrAppend(&text, "  precondition ", violation.type, " ", violation.subject, ": ",
                    violation.description, "\n");
  }
  if (std::optional<absl::Duration> delay = RetryDelay(status)) {
    absl::StrAppend(&text, "  retry after: ", absl::FormatDuration(*delay), "\n");
  }
  return text;
}

std::string StatusLine(const absl::Status& status) {
  if (status.ok()) return "OK";
  std::string line = absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                                  absl::StripTrailingAsciiWhitespace(status.message()));
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

bool IsUnconfirmedTlsRefusal(const absl::Status& status) {
  return ErrorReason(status) == kTlsConnectionClosedReason;
}

bool WatchEndIsResumable(const absl::Status& status) {
  if (IsUnconfirmedTlsRefusal(status)) return true;
  switch (status.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

}  // namespace plantmesh::sdk
