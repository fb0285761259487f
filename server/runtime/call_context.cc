#include "server/runtime/call_context.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpc/support/time.h>
#include <grpcpp/server_context.h>

#include "absl/strings/str_cat.h"
#include "server/runtime/idempotency.h"
#include "server/runtime/logging.h"
#include "server/runtime/shutdown.h"

namespace plantmesh::runtime {

bool CallContext::Cancelled() const {
  return stop_requested_.load(std::memory_order_acquire) || Ended();
}

bool CallContext::Ended() const {
  if (ended_by_server_.load(std::memory_order_acquire)) return true;
  if (server_context == nullptr) return false;
  // Outside testing: every unary call with grpc-go's "no deadline" ended CANCELLED before
  // it started, its deadline() wrapped around (TimeLeft says why).
  return server_context->IsCancelled() || TimeLeft() <= absl::ZeroDuration();
}

absl::Duration CallContext::TimeLeft() const {
  if (server_context == nullptr) return absl::InfiniteDuration();
  const gpr_timespec deadline = server_context->raw_deadline();
  if (gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0) {
    return absl::InfiniteDuration();
  }
  // gpr_time_sub saturates; seconds beyond what absl::Duration holds make it infinite.
  const gpr_timespec left = gpr_time_sub(deadline, gpr_now(deadline.clock_type));
  return absl::Seconds(left.tv_sec) + absl::Nanoseconds(left.tv_nsec);
}

absl::Status CallContext::EndedStatus(absl::string_view what) const {
  return AsTheClientGetsIt(absl::CancelledError(what));
}

absl::Status CallContext::AsTheClientGetsIt(absl::Status ours) const {
  if (server_context == nullptr) return ours;
  const absl::Duration left = TimeLeft();
  const bool cancelled = server_context->IsCancelled();
  if (!cancelled && left > absl::ZeroDuration()) return ours;
  // A client's own deadline timer cancels the stream a little before the server's
  // deadline, which counts from the call's arrival with grpc-timeout rounded up: a cancel
  // that close to it is the deadline (seen in testing: 1 ms before it on loopback).
  constexpr absl::Duration kClientDeadlineLead = absl::Milliseconds(100);
  const bool deadline_passed = left <= kClientDeadlineLead;
  const absl::StatusCode code =
      deadline_passed ? absl::StatusCode::kDeadlineExceeded : absl::StatusCode::kCancelled;
  if (ours.code() == code) return ours;
  std::string message = deadline_passed
                            ? "the call's deadline passed before its answer was sent"
                            : "the call was cancelled (by its client, its connection or the "
                              "server) before its answer was sent";
  if (ours.ok()) {
    absl::StrAppend(&message, "; its work was done (OK)");
  } else if (ours.code() != absl::StatusCode::kCancelled) {  // a cancel was the deadline
    absl::StrAppend(&message, "; the answer was ", absl::StatusCodeToString(ours.code()), ": ",
                    ours.message());
  }
  return absl::Status(code, message);
}

bool CallContext::Draining() const { return runtime::Draining(); }

std::string AuditJsonOf(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) json.clear();
  return json;
}

void CallContext::SetAuditDetail(const google::protobuf::Message& detail) {
  audit_detail_json = AuditJsonOf(detail);
}

void CallContext::AuditRefusedRequest(std::string json, int64_t stream_message) {
  if (stream_message == 0) {
    audit_detail_json = std::move(json);
    return;
  }
  audit_detail_json = absl::StrCat(
      "{", audit_detail_json.empty() ? "" : absl::StrCat(R"("detail":)", audit_detail_json, ","),
      R"("refused_message":)", stream_message, R"(,"request":)", json, "}");
}

ChangeAudit* CallContext::AuditOfChange(const google::protobuf::Message& request) {
  if (!change_audit.active()) return nullptr;
  // Once per call: a handler that builds its change context twice serializes once.
  if (change_audit.request_json().empty()) change_audit.SetRequestJson(AuditJsonOf(request));
  return &change_audit;
}

namespace {

// `message`'s request_id, or one level down in a message field that is set
// (UploadDefectPhoto's metadata.request_id); "" when there is none.
std::string RequestIdIn(const google::protobuf::Message& message, bool look_inside) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  if (const google::protobuf::FieldDescriptor* field = RequestIdField(message)) {
    return reflection->GetString(message, field);
  }
  if (!look_inside) return "";
  const google::protobuf::Descriptor* type = message.GetDescriptor();
  for (int i = 0; i < type->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* inner = type->field(i);
    if (inner->is_repeated() ||
        inner->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE ||
        !reflection->HasField(message, inner)) {
      continue;
    }
    std::string id = RequestIdIn(reflection->GetMessage(message, inner), false);
    if (!id.empty()) return id;
  }
  return "";
}

}  // namespace

void CallContext::NoteRequestId(const google::protobuf::Message& request) {
  // Only JSON lines carry it: no lookup on every call otherwise.
  if (request_id.empty() && JsonLogging()) request_id = RequestIdIn(request, /*look_inside=*/true);
}

}  // namespace plantmesh::runtime
