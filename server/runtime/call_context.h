// What a service handler knows about the call it is serving. Filled by the CallPolicy
// before the handler runs; handlers never read certificates or metadata themselves.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace grpc {
class ServerContext;
}
namespace google::protobuf {
class Message;
}

namespace plantmesh::runtime {

struct CallContext {
  // The underlying gRPC context: deadline, cancellation, peer. Not owned.
  grpc::ServerContext* server_context = nullptr;
  // Fully qualified method, e.g. "plantmesh.defect.v1.DefectService.CreateDefect".
  std::string method;
  // The caller's identity: the single URI SAN of its client certificate
  // (peer_spiffe_id), or "insecure:local" when the server runs with --insecure.
  std::string identity;
  // Roles bound to `identity` by the role-binding file.
  std::vector<std::string> roles;
  // The `x-request-id` metadata value, or one generated for this call; echoed back
  // in the response's initial metadata and written to logs and audit.
  std::string trace_id;
  // When the call began (from the injected clock).
  absl::Time start_time;
  // Whether the method changes state (contract idempotency_level != NO_SIDE_EFFECTS).
  bool mutating = false;

  // What the call is about, as JSON, for its audit record when there is no single
  // request message to audit (client streams). Filled by the handler, never with
  // payload bytes; empty: nothing to say.
  std::string audit_detail_json;

  // True when the client cancelled, the deadline passed or the server is draining.
  bool Cancelled() const;
  // Sets audit_detail_json to `detail` in the JSON form of audited requests.
  void SetAuditDetail(const google::protobuf::Message& detail);
};

}  // namespace plantmesh::runtime
