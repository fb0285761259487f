#include "cli/unary_call.h"

#include <grpcpp/client_context.h>

#include "absl/time/clock.h"
#include "cli/generic_call.h"
#include "plantmesh/sdk/internal/calls.h"

namespace plantmesh::cli {

grpc::Status CallUnary(const MethodCommand& command, const google::protobuf::Message& request,
                       const RunEnvironment& env, google::protobuf::Message* response,
                       bool* received) {
  const absl::Time deadline = absl::Now() + env.options.default_deadline;
  grpc::Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    const AttachedToCtrlC attached(env, &context);
    GenericCall call(env.channel, command.grpc_path, &context);
    response->Clear();
    *received = false;
    if (call.Write(request)) {
      call.WritesDone();
      *received = call.Read(response);
    }
    status = call.Finish();
    // The channel's history now knows the first attempt found no server: a retry-safe
    // method's second attempt waits for one (sdk/internal/connection.h).
    if (!sdk::internal::ShouldSendAgain(env.options, status, deadline)) break;
  }
  return status;
}

}  // namespace plantmesh::cli
