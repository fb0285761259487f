// protoc-gen-plantmesh's output for a test contract, end to end: the server base (with a
// recording CallPolicy) serving the generated client over an in-process server.
#include <gmock/gmock.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "plantmesh/codegentest/v1/echo_service.pm_client.h"
#include "plantmesh/codegentest/v1/echo_service.pm_server.h"
#include "server/runtime/call_context.h"

namespace plantmesh::codegentest::v1 {
namespace {

using ::testing::ElementsAre;

// Records what the generated entry points hand to the policy.
class RecordingPolicy final : public runtime::CallPolicy {
 public:
  grpc::Status Begin(grpc::ServerContext* server_context, std::string_view method,
                     runtime::CallContext* call) override {
    call->server_context = server_context;
    call->method = std::string(method);
    absl::MutexLock lock(&mutex);
    begun.push_back(call->method);
    return grpc::Status::OK;
  }
  grpc::Status End(const runtime::CallContext& call, const absl::Status& status,
                   const google::protobuf::Message* request) override {
    absl::MutexLock lock(&mutex);
    ended.push_back(absl::StrCat(call.method, request == nullptr ? " (stream)" : " (request)"));
    if (status.ok()) return grpc::Status::OK;
    return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                        std::string(status.message()));
  }

  absl::Mutex mutex;
  std::vector<std::string> begun ABSL_GUARDED_BY(mutex);
  std::vector<std::string> ended ABSL_GUARDED_BY(mutex);
};

class Echo final : public EchoServiceBase {
 public:
  using EchoServiceBase::EchoServiceBase;
  std::atomic<int> fire_attempts{0};

 protected:
  absl::Status HandleChat(runtime::CallContext&,
                          runtime::RequestStream<ChatMessage, ChatMessage>* stream) override {
    ChatMessage message;
    while (stream->Read(&message)) {
      message.set_text("echo: " + message.text());
      if (!stream->Write(message)) break;
    }
    return absl::OkStatus();
  }
  absl::Status HandleFire(runtime::CallContext&, const FireRequest& request,
                          FireResponse* response) override {
    if (fire_attempts.fetch_add(1) == 0) return absl::UnavailableError("busy");
    *response->mutable_target() = request.target();
    response->set_request_id(request.request_id());
    return absl::OkStatus();
  }
  absl::Status HandleListThings(runtime::CallContext&, const ListThingsRequest& request,
                                ListThingsResponse* response) override {
    if (request.page_token().empty()) {
      response->add_things()->set_name("a");
      response->set_next_page_token("2");
    } else {
      response->add_things()->set_name("b");
    }
    return absl::OkStatus();
  }
};

class CodegenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    sdk::ClientOptions options;
    options.insecure = true;
    options.endpoint = absl::StrCat("127.0.0.1:", port);
    absl::StatusOr<sdk::EchoClient> client = sdk::EchoClient::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::make_unique<sdk::EchoClient>(*std::move(client));
  }
  void TearDown() override { server_->Shutdown(); }

  RecordingPolicy policy_;
  Echo service_{&policy_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<sdk::EchoClient> client_;
};

TEST_F(CodegenTest, BidiStreamRunsThroughTheBaseAndThePolicy) {
  auto chat = client_->Chat();
  ChatMessage message;
  message.set_text("hi");
  ASSERT_TRUE(chat->Write(message));
  ASSERT_TRUE(chat->Next(&message));
  EXPECT_EQ(message.text(), "echo: hi");
  ASSERT_TRUE(chat->WritesDone());
  EXPECT_FALSE(chat->Next(&message));
  EXPECT_TRUE(chat->Finish().ok());
  absl::MutexLock lock(&policy_.mutex);
  EXPECT_THAT(policy_.begun, ElementsAre("plantmesh.codegentest.v1.EchoService.Chat"));
  EXPECT_THAT(policy_.ended, ElementsAre("plantmesh.codegentest.v1.EchoService.Chat (stream)"));
}

TEST_F(CodegenTest, AMethodWithoutIdempotencyIsNotRetried) {
  FireRequest request;
  request.mutable_target()->set_name("t");
  absl::StatusOr<FireResponse> fired = client_->Fire(request);
  EXPECT_EQ(fired.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.fire_attempts.load(), 1);

  fired = client_->Fire(request);
  ASSERT_TRUE(fired.ok()) << fired.status();
  EXPECT_EQ(fired->target().name(), "t");  // nested message type FireRequest_Target
  EXPECT_EQ(fired->request_id().size(), 36u);
  absl::MutexLock lock(&policy_.mutex);
  EXPECT_EQ(policy_.ended.back(), "plantmesh.codegentest.v1.EchoService.Fire (request)");
}

TEST_F(CodegenTest, PagedListsGetListAllAndForEach) {
  absl::StatusOr<std::vector<Thing>> things = client_->ListAllThings({});
  ASSERT_TRUE(things.ok()) << things.status();
  ASSERT_EQ(things->size(), 2u);
  EXPECT_EQ((*things)[1].name(), "b");
  int seen = 0;
  EXPECT_TRUE(client_->ForEachThing({}, [&seen](const Thing&) { return ++seen < 1; }).ok());
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace plantmesh::codegentest::v1
