// The cross-cutting steps around every RPC: identity, authorization against the roles
// the contract declares, audit of mutating calls, logging, metrics and the one mapping
// from absl::Status to grpc::Status. The generated server bases (<file>.pm_server.h,
// produced by protoc-gen-plantmesh) call Begin before and End after each handler, so
// no handler repeats any of it.
#pragma once

#include <grpcpp/support/status.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "server/runtime/call_context.h"

namespace google::protobuf {
class Message;
}

namespace grpc {
class ServerContextBase;
}

namespace plantmesh::runtime {

class CallPolicy {
 public:
  virtual ~CallPolicy() = default;

  // Identifies and authorizes the caller of `method` (fully qualified) and fills
  // `call`. A non-OK result (UNAUTHENTICATED, PERMISSION_DENIED naming the roles
  // needed, UNAVAILABLE while draining) is returned to the client as is and the
  // handler does not run.
  virtual grpc::Status Begin(grpc::ServerContextBase* server_context, std::string_view method,
                             CallContext* call) = 0;

  // Records the outcome of a call that Begin admitted (audit for mutating methods,
  // metrics, log line) and converts `status` to the status sent to the client. A server
  // fault (INTERNAL, UNKNOWN, DATA_LOSS) reaches the client as a generic message with an
  // error id; its text stays in the server's log under that id.
  // `request` is the unary/server-streaming request, or nullptr for client streams,
  // whose handler may describe the call in call.audit_detail_json instead.
  virtual grpc::Status End(const CallContext& call, const absl::Status& status,
                           const google::protobuf::Message* request) = 0;

  // A stream's handler opened it: its response headers go now (a watch with nothing to
  // send yet is still answered at once), with what the policy adds to them. Until then,
  // and in a unary call, End decides: a call that fails before its headers is answered
  // without any, which gRPC's retry policy needs to try it again.
  virtual void StreamOpened(CallContext& call) { (void)call; }

  // The largest response message the server sends (max-send-message-bytes): a handler's
  // answer beyond it ends the call with ResponseTooLarge (errors.h) instead of gRPC's
  // bare RESOURCE_EXHAUSTED after the call was counted a success.
  virtual size_t MaxResponseBytes() const { return SIZE_MAX; }
};

}  // namespace plantmesh::runtime
