#include "server/runtime/call_context.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/server_context.h>

#include <chrono>

#include "server/runtime/shutdown.h"

namespace plantmesh::runtime {

bool CallContext::Cancelled() const {
  return stop_requested_.load(std::memory_order_acquire) || Ended();
}

bool CallContext::Ended() const {
  if (ended_by_server_.load(std::memory_order_acquire)) return true;
  if (server_context == nullptr) return false;
  return server_context->IsCancelled() ||
         server_context->deadline() <= std::chrono::system_clock::now();
}

bool CallContext::Draining() const { return runtime::Draining(); }

void CallContext::SetAuditDetail(const google::protobuf::Message& detail) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;  // as StandardCallPolicy audits requests
  audit_detail_json.clear();
  if (!google::protobuf::util::MessageToJsonString(detail, &audit_detail_json, options).ok()) {
    audit_detail_json.clear();
  }
}

}  // namespace plantmesh::runtime
