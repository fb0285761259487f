// The one conversion from the absl::Status used inside the server to the grpc::Status
// sent to clients. Payloads attached with errors.h become google.protobuf.Any details
// of a google.rpc.Status-compatible message in `grpc-status-details-bin`, readable by
// grpc::ExtractErrorDetails and every language's rich-error helpers.
#pragma once

#include <grpcpp/support/status.h>

namespace grpc {
class ServerContextBase;
}

#include "absl/status/status.h"

namespace plantmesh::runtime {

// Code and message are kept; every google.rpc payload (type URL → serialized detail) is
// packed as an Any, ErrorInfo first, the others by type URL (the same request, the same
// bytes). A status without such payloads carries no details.
grpc::Status ToGrpcStatus(const absl::Status& status);

// When `sent` asks for a retry delay (WithRetryDelay), tells gRPC's retry policy too:
// the `grpc-retry-pushback-ms` trailer (gRFC A6), which a client's retries wait for
// instead of their own backoff. Call before the call finishes.
void AddRetryPushback(grpc::ServerContextBase* context, const absl::Status& sent);

}  // namespace plantmesh::runtime
