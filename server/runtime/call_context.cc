#include "server/runtime/call_context.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpc/support/time.h>
#include <grpcpp/server_context.h>

#include "server/runtime/shutdown.h"

namespace plantmesh::runtime {

bool CallContext::Cancelled() const {
  return stop_requested_.load(std::memory_order_acquire) || Ended();
}

bool CallContext::Ended() const {
  if (ended_by_server_.load(std::memory_order_acquire)) return true;
  if (server_context == nullptr) return false;
  if (server_context->IsCancelled()) return true;
  // gRPC's own time arithmetic, which saturates: deadline() converts to nanoseconds of
  // system_clock, and a deadline after 2262-04-11 wrapped to one long past (outside
  // testing: grpc-go sends `grpc-timeout: 2562047H` for "no deadline", and every unary
  // call so sent ended CANCELLED before it started).
  const gpr_timespec deadline = server_context->raw_deadline();
  return gpr_time_cmp(deadline, gpr_now(deadline.clock_type)) <= 0;
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

ChangeAudit* CallContext::AuditOfChange(const google::protobuf::Message& request) {
  if (!change_audit.active()) return nullptr;
  // Once per call: a handler that builds its change context twice serializes once.
  if (change_audit.request_json().empty()) change_audit.SetRequestJson(AuditJsonOf(request));
  return &change_audit;
}

}  // namespace plantmesh::runtime
