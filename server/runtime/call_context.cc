#include "server/runtime/call_context.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/server_context.h>

#include <chrono>

#include "server/runtime/shutdown.h"

namespace plantmesh::runtime {

bool CallContext::Cancelled() const {
  if (Draining()) return true;
  if (server_context == nullptr) return false;
  return server_context->IsCancelled() ||
         server_context->deadline() <= std::chrono::system_clock::now();
}

void CallContext::SetAuditDetail(const google::protobuf::Message& detail) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;  // as StandardCallPolicy audits requests
  audit_detail_json.clear();
  if (!google::protobuf::util::MessageToJsonString(detail, &audit_detail_json, options).ok()) {
    audit_detail_json.clear();
  }
}

}  // namespace plantmesh::runtime
