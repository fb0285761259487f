// What a service handler knows about the call it is serving. Filled by the CallPolicy
// before the handler runs; handlers never read certificates or metadata themselves.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/runtime/audit.h"

namespace grpc {
class ServerContextBase;
}
namespace google::protobuf {
class Message;
}

namespace plantmesh::runtime {

// `message` as audit rows hold requests: JSON with the contract's field names (bytes
// fields as base64); empty when it cannot be printed.
std::string AuditJsonOf(const google::protobuf::Message& message);

struct CallContext {
  // The underlying gRPC context (callback or synchronous API): deadline, cancellation,
  // peer. Not owned.
  grpc::ServerContextBase* server_context = nullptr;
  // Fully qualified method, e.g. "plantmesh.defect.v1.DefectService.CreateDefect".
  std::string method;
  // The caller's identity: the single URI SAN of its client certificate
  // (peer_spiffe_id), or "insecure:local" when the server runs with --insecure.
  std::string identity;
  // Roles bound to `identity` by the role-binding file.
  std::vector<std::string> roles;
  // The `x-request-id` metadata value, or one generated for this call; echoed back
  // in the response's metadata (EchoRequestId) and written to logs and audit.
  std::string trace_id;
  // Why the client's x-request-id was not kept (sent back as x-request-id-replaced);
  // empty when it was kept or none was sent.
  std::string request_id_replaced;
  // The request's own `request_id` (the contract's idempotency key; a client stream's
  // first message's; one level down where the request carries it in a message, as
  // UploadDefectPhoto's metadata.request_id), for the call's log line: what a client
  // retries with and plantctl prints. Empty when it has none. Set by the runtime's reactors
  // (NoteRequestId).
  std::string request_id;
  // The response headers went (a stream its handler opened: CallPolicy::StreamOpened).
  bool headers_sent = false;
  // When the call began (from the injected clock).
  absl::Time start_time;
  // Whether the method changes state (contract idempotency_level != NO_SIDE_EFFECTS).
  bool mutating = false;
  // Whether the call's end writes an audit row (mutating, or every call with audit-reads,
  // when the server keeps an audit log): only then is a refused request's body worth
  // turning into JSON (AuditRefusedRequest).
  bool audited = false;

  // A stream's: ends the call with the status given, from any thread, at once (a handler
  // uses it for what no message of the call can tell it, e.g. TransferWatchdog); empty
  // for unary calls. Does nothing once the call ended.
  std::function<void(absl::Status)> end_stream;

  // What the call is about, as JSON, for its audit record when there is no single
  // request message to audit (client streams). Filled by the handler, never with
  // payload bytes; empty: nothing to say.
  std::string audit_detail_json;

  // True when the client cancelled or left, the deadline passed, the server ended the
  // call (the drain window is over), or the runtime asked a long-lived stream to stop
  // (draining began). A handler that sees it stops work and returns; what it returns is
  // still recorded, but the client may already have its status.
  bool Cancelled() const;
  // True once the server is draining. Long-lived streams (watches, tails) end now with
  // UNAVAILABLE and a resume cursor; unary calls and finite streams (uploads,
  // downloads) carry on, and Cancelled() turns true if the drain window ends first.
  bool Draining() const;
  // The status of a call that ended before its work was done (`what` says what did not
  // happen, e.g. "the call ended before it started"): DEADLINE_EXCEEDED once its deadline
  // passed (as AsTheClientGetsIt), else CANCELLED. Outside testing: `grpc-timeout: 1u`
  // answered CANCELLED.
  absl::Status EndedStatus(absl::string_view what) const;
  // `ours`, or what the client gets instead when the call ended on the transport before
  // `ours` could be sent: DEADLINE_EXCEEDED once the deadline passed (the client's own
  // timer answers it; a cancel within 100 ms of the deadline counts as that timer's),
  // CANCELLED when the client cancelled or left or the server cancelled the call; the
  // message says what `ours` was. So the log line, the metric and the audit
  // count the status the client got (outside testing: a call answered DEADLINE_EXCEEDED
  // was counted OK).
  absl::Status AsTheClientGetsIt(absl::Status ours) const;
  // How long until the call's deadline: absl::InfiniteDuration() without one (or one past
  // what a system_clock time can hold: grpc-go sends `grpc-timeout: 2562047H` for "no
  // deadline"), negative once it passed. Read from gRPC's own saturating time
  // (raw_deadline), never ServerContext::deadline(), which wraps such a deadline around to
  // one long past.
  absl::Duration TimeLeft() const;
  // Sets request_id from `request` (a message decoded, even one the rules refused) when the
  // log is JSON (only its lines carry it), once:
  // a stream's later messages do not change it (outside testing: a request refused by the
  // contract's rules, and every ImportDemand, logged no request_id).
  void NoteRequestId(const google::protobuf::Message& request);
  // Sets audit_detail_json to `detail` in the JSON form of audited requests.
  void SetAuditDetail(const google::protobuf::Message& detail);
  // Adds what was refused to audit_detail_json (RefusedRequestAuditJson's `json`): a
  // unary call's or a server stream's request is that; a client stream's message
  // `stream_message` (1 for the first) joins what the handler said of the stream:
  // {"detail":…,"refused_message":N,"request":…}.
  void AuditRefusedRequest(std::string json, int64_t stream_message = 0);

  // The audit of this call's change, for the store to write inside the change's
  // transaction (audit.h), with `request` (the call's request, or the message that
  // stands for a client stream) as the audited request; nullptr when the call is not
  // audited that way (not mutating, or no audit log). Activated by the CallPolicy.
  ChangeAudit* AuditOfChange(const google::protobuf::Message& request);
  // Read by the CallPolicy at the end of the call.
  ChangeAudit change_audit;
  // The CallPolicy's own data about the method, set by its Begin for its End (so that
  // End need not look the method up again); not for handlers. May stay null.
  const void* policy_method = nullptr;

  // For the runtime's reactors. EndByServer: the call is finishing; Cancelled() and
  // Ended() turn true. RequestStop: a long-lived stream should end (its body returns its
  // own status, e.g. UNAVAILABLE with a cursor); only Cancelled() turns true. Ended:
  // Cancelled() apart from RequestStop — the call can take no more messages.
  void EndByServer() { ended_by_server_.store(true, std::memory_order_release); }
  void RequestStop() { stop_requested_.store(true, std::memory_order_release); }
  bool Ended() const;

 private:
  std::atomic<bool> ended_by_server_{false};
  std::atomic<bool> stop_requested_{false};
};

}  // namespace plantmesh::runtime
