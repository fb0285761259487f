#include "server/runtime/health_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace plantmesh::runtime {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&health_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    stub_ = Health::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::Status Check(const std::string& service, HealthCheckResponse* response) {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service(service);
    return stub_->Check(&context, request, response);
  }

  HealthService health_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(HealthServiceTest, CheckAnswersSetEntriesAndRefusesUnknownOnes) {
  health_.SetServingStatus("plantmesh.defect.v1.DefectService", true);
  health_.SetServingStatus("plantmesh.dependency.redis", false);
  HealthCheckResponse response;
  ASSERT_TRUE(Check("plantmesh.defect.v1.DefectService", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check("plantmesh.dependency.redis", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Check("no.such.Service", &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Outside testing (BI L1): every drain reported PostgreSQL and Redis NOT_SERVING while
// both were fine. At shutdown the server and its services turn NOT_SERVING; the
// dependencies' entries keep what they were last seen as.
TEST_F(HealthServiceTest, ShutdownKeepsTheDependenciesAsTheyWere) {
  health_.SetServingStatus("", true);
  health_.SetServingStatus("plantmesh.defect.v1.DefectService", true);
  health_.SetServingStatus("plantmesh.dependency.postgres", true);
  health_.SetServingStatus("plantmesh.dependency.redis", false);
  health_.Shutdown({"plantmesh.dependency.postgres", "plantmesh.dependency.redis"});
  health_.SetServingStatus("plantmesh.dependency.redis", true);  // ignored after Shutdown
  for (const auto& [service, status] :
       std::vector<std::pair<std::string, HealthCheckResponse::ServingStatus>>{
           {"", HealthCheckResponse::NOT_SERVING},
           {"plantmesh.defect.v1.DefectService", HealthCheckResponse::NOT_SERVING},
           {"plantmesh.dependency.postgres", HealthCheckResponse::SERVING},
           {"plantmesh.dependency.redis", HealthCheckResponse::NOT_SERVING}}) {
    HealthCheckResponse response;
    ASSERT_TRUE(Check(service, &response).ok()) << service;
    EXPECT_EQ(response.status(), status) << service;
  }
}

TEST_F(HealthServiceTest, WatchSendsEachChangeAndEndsAtShutdown) {
  health_.SetServingStatus("", true);
  grpc::ClientContext context;
  HealthCheckRequest request;
  auto reader = stub_->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  health_.SetServingStatus("", true);  // no change: nothing sent
  health_.SetServingStatus("", false);
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  health_.SetServingStatus("", true);
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  health_.Shutdown();
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_TRUE(reader->Finish().ok());

  health_.SetServingStatus("", true);  // ignored after shutdown
  ASSERT_TRUE(Check("", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
}

TEST_F(HealthServiceTest, WatchOfUnknownServiceSaysSoAndEndsWhenClientCancels) {
  grpc::ClientContext context;
  HealthCheckRequest request;
  request.set_service("not.yet.Registered");
  auto reader = stub_->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  context.TryCancel();
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// Each of several Watch streams (reactors; none holds a thread) sees the change and the
// end.
TEST_F(HealthServiceTest, ManyWatchesEachSeeTheChangeAndTheEnd) {
  health_.SetServingStatus("", true);
  constexpr int kWatches = 12;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<HealthCheckResponse>>> readers;
  HealthCheckRequest request;
  HealthCheckResponse response;
  for (int i = 0; i < kWatches; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(stub_->Watch(contexts.back().get(), request));
    ASSERT_TRUE(readers.back()->Read(&response));
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  }
  health_.SetServingStatus("", false);
  for (auto& reader : readers) {
    ASSERT_TRUE(reader->Read(&response));
    EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  }
  health_.Shutdown();  // already NOT_SERVING: nothing more is sent, every stream ends
  for (auto& reader : readers) {
    EXPECT_FALSE(reader->Read(&response));
    EXPECT_TRUE(reader->Finish().ok());
  }
}

}  // namespace
}  // namespace plantmesh::runtime
