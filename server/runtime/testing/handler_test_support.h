// For a service's handler tests that run without servers: its handlers served over
// in-process gRPC, and a call policy that only names the caller. Authorization, audit and
// the standard policy are tested end to end (the e2e tests, the authz matrix).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/runtime/call_policy.h"
#include "server/runtime/executor.h"
#include "server/runtime/grpc_status.h"

namespace plantmesh::runtime::testing {

// Every call is made by `identity`; statuses are converted as the runtime converts them.
class FixedIdentityPolicy : public CallPolicy {
 public:
  explicit FixedIdentityPolicy(std::string identity) : identity_(std::move(identity)) {}

  grpc::Status Begin(grpc::ServerContextBase* server_context, std::string_view method,
                     CallContext* call) override {
    call->server_context = server_context;
    call->method = std::string(method);
    call->identity = identity_;
    call->start_time = absl::Now();
    return grpc::Status::OK;
  }
  grpc::Status End(const CallContext&, const absl::Status& status,
                   const google::protobuf::Message*) override {
    return ToGrpcStatus(status);
  }

 private:
  std::string identity_;
};

// Changes what handlers read (the server's config) while the server runs, so that every
// later call's handler sees the change. The handler runs on `executor`, reached from
// gRPC's threads, whose hand-over ThreadSanitizer cannot see (CI's TSan run reported a
// plain write as a race); taking the executor's lock after the change orders it before
// every task queued afterwards, which is every later call.
inline void ChangeWhileServing(Executor& executor, absl::FunctionRef<void()> change) {
  change();
  (void)executor.queued();  // takes and releases the executor's lock
}

// `service` served on 127.0.0.1 (a free port, plaintext) until destroyed; `service`
// outlives it. ok() is false when the server could not start.
class InProcessServer {
 public:
  explicit InProcessServer(grpc::Service* service) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    if (server_ != nullptr) {
      endpoint_ = absl::StrCat("127.0.0.1:", port);
      channel_ = grpc::CreateChannel(endpoint_, grpc::InsecureChannelCredentials());
    }
  }
  ~InProcessServer() {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
  }
  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;

  bool ok() const { return server_ != nullptr; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // "127.0.0.1:<port>", for a channel of a test's own (other arguments).
  const std::string& endpoint() const { return endpoint_; }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string endpoint_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace plantmesh::runtime::testing
