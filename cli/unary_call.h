// One unary call by name, as plantctl makes every unary call (a method's command, each page
// of a list): the client's default deadline, cancellable by Ctrl-C, and sent once more when
// the first attempt never reached a server (sdk/internal/calls.h ShouldSendAgain, the SDK's
// rule for its own unary calls). plantctl's call is its connection's first, which does not
// wait for a connection (a wrong address fails at once); without the second attempt a
// server restarting for a second failed a retry-safe call that the SDK's same call rides
// through (outside testing: `telemetry get-machine` exit 24 after 0.73 s, `propose-plan`
// after 4.6 s, where the SDK's waited and succeeded).
#pragma once

#include <grpcpp/support/status.h>

#include "cli/method_runner.h"

namespace plantmesh::cli {

// Hands `context` to env.on_call (so that Ctrl-C cancels the call) for its scope.
class AttachedToCtrlC {
 public:
  AttachedToCtrlC(const RunEnvironment& env, grpc::ClientContext* context) : env_(env) {
    if (env_.on_call) env_.on_call(context);
  }
  ~AttachedToCtrlC() {
    if (env_.on_call) env_.on_call(nullptr);
  }
  AttachedToCtrlC(const AttachedToCtrlC&) = delete;
  AttachedToCtrlC& operator=(const AttachedToCtrlC&) = delete;

 private:
  const RunEnvironment& env_;
};

// Sends `request` to `command`'s method and reads its one response into `*response`;
// `*received` says whether one came. The status is gRPC's.
grpc::Status CallUnary(const MethodCommand& command, const google::protobuf::Message& request,
                       const RunEnvironment& env, google::protobuf::Message* response,
                       bool* received);

}  // namespace plantmesh::cli
