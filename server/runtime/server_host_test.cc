// plantmesh-server's transport, identity, authorization, audit and health, served
// in-process on a free loopback port: plaintext (--insecure) and mutual TLS with a dev
// PKI, and the plaintext probe listener beside either. Process-level behaviour (SIGTERM
// drain, LISTENING line) is covered by tests/e2e.
#include "server/runtime/server_host.h"

#include <gmock/gmock.h>
#include <google/protobuf/wrappers.pb.h>
#include <grpc/support/time.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/error_details.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "plantmesh/api/v1/error_details.pb.h"
#include "plantmesh/defect/v1/defect_service.grpc.pb.h"
#include "plantmesh/system/v1/system_service.grpc.pb.h"
#include "server/runtime/errors.h"
#include "server/runtime/shutdown.h"
#include "server/runtime/standard_call_policy.h"
#include "server/runtime/system_service.h"
#include "tests/support/poll.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr char kAssignDefect[] = "plantmesh.defect.v1.DefectService.AssignDefect";
constexpr char kDefectService[] = "plantmesh.defect.v1.DefectService";
constexpr char kUploadDefectPhoto[] = "plantmesh.defect.v1.DefectService.UploadDefectPhoto";

class RecordingAuditSink : public AuditSink {
 public:
  void Record(AuditRecord record) override {
    absl::MutexLock lock(&mu_);
    records_.push_back(std::move(record));
  }
  void Flush(absl::Duration) override {}
  std::vector<AuditRecord> records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }

 private:
  absl::Mutex mu_;
  std::vector<AuditRecord> records_;
};

// The reason of a status' ErrorInfo detail ("" when it has none).
std::string ErrorInfoReason(const grpc::Status& status) {
  api::v1::Status rich;
  if (!grpc::ExtractErrorDetails(status, &rich).ok()) return "";
  for (const auto& detail : rich.details()) {
    api::v1::ErrorInfo info;
    if (detail.type_url() == "type.googleapis.com/google.rpc.ErrorInfo" &&
        info.ParseFromString(detail.value())) {
      return info.reason();
    }
  }
  return "";
}

// One method of the defect contract, wrapped the way the generated bases wrap every
// method, answering with `outcome`.
class AssignOnlyDefectService : public defect::v1::DefectService::Service {
 public:
  explicit AssignOnlyDefectService(CallPolicy* policy) : policy_(policy) {}
  grpc::Status AssignDefect(grpc::ServerContext* context,
                            const defect::v1::AssignDefectRequest* request,
                            defect::v1::AssignDefectResponse*) override {
    CallContext call;
    grpc::Status begun = policy_->Begin(context, kAssignDefect, &call);
    if (!begun.ok()) return begun;
    absl::Notification* hold = nullptr;
    {
      absl::MutexLock lock(&mu_);
      hold = hold_;
    }
    if (hold != nullptr) {
      hold->WaitForNotificationWithTimeout(absl::Seconds(30));
      // Until the transport has told the server (the client's cancel can come later than
      // its own deadline on a busy machine).
      testing::PollUntil([&call] { return call.Ended(); }, absl::Seconds(30));
    }
    absl::MutexLock lock(&mu_);
    time_left_ = call.TimeLeft();
    // As a store that commits the change's row with it does.
    ChangeAudit* audit = call.AuditOfChange(*request);
    if (store_writes_audit_ && audit != nullptr) audit->MarkWritten();
    return policy_->End(call, outcome_, request);
  }
  // AssignDefect waits for `hold` (at most 30 s), then for its call to have ended on the
  // transport, before it ends; null: it does not wait.
  void HoldUntil(absl::Notification* hold) {
    absl::MutexLock lock(&mu_);
    hold_ = hold;
  }
  // A client stream, wrapped like the generated bases wrap one (no request for End):
  // the handler describes the upload from its first message.
  grpc::Status UploadDefectPhoto(grpc::ServerContext* context,
                                 grpc::ServerReader<defect::v1::UploadDefectPhotoRequest>* reader,
                                 defect::v1::UploadDefectPhotoResponse*) override {
    CallContext call;
    grpc::Status begun = policy_->Begin(context, kUploadDefectPhoto, &call);
    if (!begun.ok()) return begun;
    defect::v1::UploadDefectPhotoRequest message;
    if (reader->Read(&message)) call.SetAuditDetail(message.metadata());
    absl::MutexLock lock(&mu_);
    // As telemetry's ingest store does with its first commit (store.h, IngestAudit).
    ChangeAudit* audit = call.AuditOfChange(message.metadata());
    if (store_writes_audit_ && audit != nullptr) audit->MarkWritten();
    while (reader->Read(&message)) {
    }
    return policy_->End(call, outcome_, nullptr);
  }

  // The test sets and reads these on its own thread while gRPC's threads run the handlers;
  // the socket between them is no happens-before edge ThreadSanitizer can see.
  void SetOutcome(absl::Status outcome) {
    absl::MutexLock lock(&mu_);
    outcome_ = std::move(outcome);
  }
  // AssignDefect and uploads mark their change's row written, as a store that commits it
  // does.
  void SetStoreWritesAudit(bool writes) {
    absl::MutexLock lock(&mu_);
    store_writes_audit_ = writes;
  }
  // What the last AssignDefect's CallContext::TimeLeft said.
  absl::Duration TimeLeft() {
    absl::MutexLock lock(&mu_);
    return time_left_;
  }

 private:
  CallPolicy* policy_;
  absl::Mutex mu_;
  absl::Status outcome_ ABSL_GUARDED_BY(mu_) = absl::OkStatus();
  bool store_writes_audit_ ABSL_GUARDED_BY(mu_) = false;
  absl::Notification* hold_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Duration time_left_ ABSL_GUARDED_BY(mu_);
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A running server with SystemService and AssignDefect.
struct TestServer {
  TestServer(ServerConfig server_config, std::unique_ptr<RoleBindingStore> store)
      : config(std::move(server_config)),
        bindings(std::move(store)),
        policy(
            StandardCallPolicy::Options{config.insecure, config.trust_domain, config.audit_reads},
            bindings.get(), &audit),
        system_service(&policy, &executor, {kDefectService}, "test"),
        defect_service(&policy) {
    absl::StatusOr<AccessPolicy> access =
        AccessPolicy::FromServices({kDefectService, kSystemServiceName});
    EXPECT_TRUE(access.ok()) << access.status();
    policy.SetAccessPolicy(*std::move(access));
    absl::StatusOr<std::unique_ptr<ServerHost>> started = ServerHost::Start(
        config, {{&system_service, kSystemServiceName}, {&defect_service, kDefectService}}, {});
    EXPECT_TRUE(started.ok()) << started.status();
    if (started.ok()) host = *std::move(started);
  }

  ServerConfig config;
  std::unique_ptr<RoleBindingStore> bindings;
  RecordingAuditSink audit;
  StandardCallPolicy policy;
  Executor executor{ExecutorOptions{2, 16, "test"}};
  SystemService system_service;
  AssignOnlyDefectService defect_service;
  std::unique_ptr<ServerHost> host;
};

std::shared_ptr<grpc::Channel> Channel(const std::string& endpoint,
                                       std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // no connection shared across tests
  return grpc::CreateCustomChannel(endpoint, credentials, args);
}

// grpc.health.v1.Health/Check without the health proto: its request and response are
// wire-identical to StringValue {service} and Int32Value {status}.
grpc::Status CheckHealth(grpc::Channel* channel, const std::string& service, int* status) {
  grpc::TemplatedGenericStub<google::protobuf::StringValue, google::protobuf::Int32Value> stub(
      channel->shared_from_this());
  google::protobuf::StringValue request;
  request.set_value(service);
  google::protobuf::Int32Value response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status result = done.get_future().get();
  *status = response.value();
  return result;
}

// An open grpc.health.v1.Health/Watch for every service ("") on `channel`, its first
// answer read.
struct HealthWatch {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<grpc::health::v1::HealthCheckResponse>> reader;
  grpc::health::v1::HealthCheckResponse first;
};
std::unique_ptr<HealthWatch> OpenHealthWatch(const std::shared_ptr<grpc::Channel>& channel,
                                             std::chrono::seconds deadline) {
  auto watch = std::make_unique<HealthWatch>();
  watch->context.set_deadline(std::chrono::system_clock::now() + deadline);
  watch->reader = grpc::health::v1::Health::NewStub(channel)->Watch(
      &watch->context, grpc::health::v1::HealthCheckRequest());
  if (!watch->reader->Read(&watch->first)) return nullptr;
  return watch;
}

constexpr int kServing = 1;
constexpr int kNotServing = 2;

// The status of a unary call of `method` with an empty request, whatever the method
// expects: enough to tell UNIMPLEMENTED (not offered there) from anything else.
grpc::Status CallAnything(grpc::Channel* channel, const std::string& method) {
  grpc::TemplatedGenericStub<google::protobuf::StringValue, google::protobuf::StringValue> stub(
      channel->shared_from_this());
  google::protobuf::StringValue request;
  google::protobuf::StringValue response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

constexpr char kReflectionInfo[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

class InsecureServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ResetDrainingForTesting();
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.insecure = true;
    absl::StatusOr<RoleBindings> roles = RoleBindings::Parse(
        R"({"bindings": [{"identity": "insecure:local", "roles": ["admin"]}]})");
    ASSERT_TRUE(roles.ok());
    server_ = std::make_unique<TestServer>(config, RoleBindingStore::Fixed(*roles));
    ASSERT_NE(server_->host, nullptr);
    channel_ = Channel(server_->host->endpoint(), grpc::InsecureChannelCredentials());
  }

  // An upload of `first` (its metadata), then `chunks`, then the half-close: its status.
  grpc::Status Upload(const defect::v1::UploadDefectPhotoRequest& first,
                      const std::vector<std::string>& chunks = {}) {
    auto stub = defect::v1::DefectService::NewStub(channel_);
    grpc::ClientContext context;
    defect::v1::UploadDefectPhotoResponse response;
    auto writer = stub->UploadDefectPhoto(&context, &response);
    EXPECT_TRUE(writer->Write(first));
    for (const std::string& bytes : chunks) {
      defect::v1::UploadDefectPhotoRequest chunk;
      chunk.set_chunk(bytes);
      EXPECT_TRUE(writer->Write(chunk));
    }
    EXPECT_TRUE(writer->WritesDone());
    return writer->Finish();
  }

  void TearDown() override {
    server_.reset();
    ResetDrainingForTesting();
  }

  std::unique_ptr<TestServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(InsecureServerTest, ListensOnTheSelectedPort) {
  EXPECT_GT(server_->host->port(), 0);
  EXPECT_EQ(server_->host->endpoint(), "127.0.0.1:" + std::to_string(server_->host->port()));
}

TEST_F(InsecureServerTest, WhoAmIAndRequestIdEcho) {
  auto stub = system::v1::SystemService::NewStub(channel_);
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "trace-abc-123");
  system::v1::WhoAmIResponse response;
  grpc::Status status = stub->WhoAmI(&context, {}, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.identity(), "insecure:local");
  EXPECT_THAT(response.roles(), ElementsAre("admin"));
  EXPECT_THAT(response.services(), ElementsAre(kDefectService));
  auto echoed = context.GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(echoed, context.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), "trace-abc-123");

  grpc::ClientContext generated;
  ASSERT_TRUE(stub->WhoAmI(&generated, {}, &response).ok());
  auto id = generated.GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(id, generated.GetServerInitialMetadata().end());
  EXPECT_THAT(std::string(id->second.data(), id->second.size()), MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(generated.GetServerInitialMetadata().count("x-request-id-replaced"), 0u);

  // Outside testing: an id with a space, or of 129 characters, was replaced without a
  // word; the response says so (the id it got is in x-request-id).
  for (const auto& [sent, why] :
       {std::pair<std::string, std::string>{"abc def",
                                            "holds a space or a character outside visible ASCII"},
        {std::string(129, 'a'), "longer than 128 characters"},
        {"one\ntwo", "given more than once"},
        {"MES-1,MES-2", "holds a comma: two ids joined?"}}) {
    grpc::ClientContext replaced;
    for (const absl::string_view one : absl::StrSplit(sent, '\n')) {
      replaced.AddMetadata("x-request-id", std::string(one));
    }
    ASSERT_TRUE(stub->WhoAmI(&replaced, {}, &response).ok());
    const auto& headers = replaced.GetServerInitialMetadata();
    auto reason = headers.find("x-request-id-replaced");
    ASSERT_NE(reason, headers.end()) << sent;
    EXPECT_EQ(std::string(reason->second.data(), reason->second.size()), why);
    auto given = headers.find("x-request-id");
    ASSERT_NE(given, headers.end());
    EXPECT_THAT(std::string(given->second.data(), given->second.size()),
                MatchesRegex("[0-9a-f]{32}"));
  }
}

// A client at the wrong port (each service has its own) is told what this one serves
// (outside testing: gRPC's UNIMPLEMENTED had an empty message).
TEST_F(InsecureServerTest, AMethodNotServedHereIsUnimplementedNamingTheServicesServed) {
  for (const std::string& method : {std::string("/plantmesh.planning.v1.PlanningService/ListLines"),
                                    std::string("/no.such.Service/Call")}) {
    grpc::Status status = CallAnything(channel_.get(), method);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << method;
    EXPECT_THAT(status.error_message(),
                ::testing::AllOf(::testing::HasSubstr(kDefectService),
                                 ::testing::HasSubstr(kSystemServiceName),
                                 ::testing::HasSubstr("grpc.health.v1.Health"),
                                 ::testing::HasSubstr("its own port")))
        << method;
  }
  grpc::Status status =
      CallAnything(channel_.get(), "/plantmesh.planning.v1.PlanningService/ListLines");
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("'/plantmesh.planning.v1.PlanningService/ListLines'"));
  // A method this server's version lacks of a service it serves: not the endpoint.
  status = CallAnything(channel_.get(), std::string("/") + kDefectService + "/NewMethod");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("this server's version has no method"));
  // Each with a reason, as every error a client is told (re-test: UNIMPLEMENTED had none).
  EXPECT_EQ(ErrorInfoReason(status), "METHOD_NOT_FOUND");
  EXPECT_EQ(ErrorInfoReason(
                CallAnything(channel_.get(), "/plantmesh.planning.v1.PlanningService/ListLines")),
            "SERVICE_NOT_SERVED");
  // What is served still is.
  auto stub = system::v1::SystemService::NewStub(channel_);
  grpc::ClientContext context;
  system::v1::WhoAmIResponse response;
  EXPECT_TRUE(stub->WhoAmI(&context, {}, &response).ok());
}

// What a handler is told is left of its call's deadline (ProposePlan's time limit is cut to
// it). A deadline after 2262-04-11, which wrapped around to one long past and ended calls
// before they started, is e2e.node_deadline's: this client caps what it sends.
TEST_F(InsecureServerTest, TimeLeftIsWhatTheCallersDeadlineLeaves) {
  auto defects = defect::v1::DefectService::NewStub(channel_);
  auto time_left_with = [&](std::optional<absl::Duration> deadline) {
    grpc::ClientContext context;
    if (deadline) context.set_deadline(absl::ToChronoTime(absl::Now() + *deadline));
    defect::v1::AssignDefectResponse assigned;
    EXPECT_TRUE(defects->AssignDefect(&context, {}, &assigned).ok());
    return server_->defect_service.TimeLeft();
  };
  // grpc-timeout is sent rounded up to its unit.
  const absl::Duration one_hour = time_left_with(absl::Hours(1));
  EXPECT_GT(one_hour, absl::Minutes(59));
  EXPECT_LE(one_hour, absl::Hours(1) + absl::Minutes(1));
  EXPECT_GT(time_left_with(absl::Hours(24 * 365)), absl::Hours(24 * 364));
  EXPECT_EQ(time_left_with(std::nullopt), absl::InfiniteDuration());
}

// Outside testing: a call whose deadline passed while it ran was answered
// DEADLINE_EXCEEDED by gRPC but logged, counted and audited OK. What is recorded is what
// the client got, and the message says how the call itself ended.
TEST_F(InsecureServerTest, ACallPastItsDeadlineIsRecordedAsTheClientGotIt) {
  absl::Notification hold;
  server_->defect_service.HoldUntil(&hold);
  auto stub = defect::v1::DefectService::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  defect::v1::AssignDefectResponse response;
  const grpc::Status status = stub->AssignDefect(&context, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  hold.Notify();
  ASSERT_TRUE(
      testing::PollUntil([&] { return !server_->audit.records().empty(); }, absl::Seconds(30)));
  const AuditRecord record = server_->audit.records().front();
  EXPECT_EQ(record.status_code, static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED));
  EXPECT_EQ(record.status_message,
            "the call's deadline passed before its answer was sent; its work was done (OK)");
  // Counted as the client got it (re-test: the summary at stop counted it a success).
  EXPECT_EQ(server_->policy.Stats().at(kAssignDefect).errors, 1);
  server_->defect_service.HoldUntil(nullptr);
}

// Re-test: a change committed with its audit row after its client's deadline passed was
// audited OK alone. Its end gets a row too; an answered change gets none of its own.
TEST_F(InsecureServerTest, AChangeCommittedPastItsDeadlineGetsARowOfItsEnd) {
  server_->defect_service.SetStoreWritesAudit(true);
  auto stub = defect::v1::DefectService::NewStub(channel_);
  {
    grpc::ClientContext context;
    defect::v1::AssignDefectResponse response;
    ASSERT_TRUE(stub->AssignDefect(&context, {}, &response).ok());
    EXPECT_TRUE(server_->audit.records().empty());  // the store's row stands for it
  }
  absl::Notification hold;
  server_->defect_service.HoldUntil(&hold);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  defect::v1::AssignDefectResponse response;
  EXPECT_EQ(stub->AssignDefect(&context, {}, &response).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  hold.Notify();
  ASSERT_TRUE(
      testing::PollUntil([&] { return !server_->audit.records().empty(); }, absl::Seconds(30)));
  EXPECT_EQ(server_->audit.records().front().status_code,
            static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED));
  server_->defect_service.HoldUntil(nullptr);
}

TEST_F(InsecureServerTest, ErrorsCarryRichDetailsAndMutationsAreAudited) {
  server_->defect_service.SetOutcome(InvalidField("mechanic_id", "must name an existing mechanic"));
  auto stub = defect::v1::DefectService::NewStub(channel_);
  grpc::ClientContext context;
  defect::v1::AssignDefectRequest request;
  request.set_id("42");
  request.set_mechanic_id("nobody");
  defect::v1::AssignDefectResponse response;
  grpc::Status status = stub->AssignDefect(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "mechanic_id: must name an existing mechanic");
  api::v1::Status rich;
  ASSERT_TRUE(grpc::ExtractErrorDetails(status, &rich).ok());
  // The field violations, and the reason every error carries (errors.h, ForClient).
  std::set<std::string> types;
  for (const auto& detail : rich.details()) types.insert(detail.type_url());
  EXPECT_EQ(types, (std::set<std::string>{"type.googleapis.com/google.rpc.BadRequest",
                                          "type.googleapis.com/google.rpc.ErrorInfo"}));

  std::vector<AuditRecord> records = server_->audit.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].identity, "insecure:local");
  EXPECT_EQ(records[0].method, kAssignDefect);
  EXPECT_EQ(records[0].status_code, 3);
  EXPECT_THAT(records[0].request_json, HasSubstr(R"("mechanic_id":"nobody")"));
  EXPECT_EQ(records[0].trace_id.size(), 32u);

  StandardCallPolicy::MethodStats stats = server_->policy.Stats().at(kAssignDefect);
  EXPECT_EQ(stats.calls, 1);
  EXPECT_EQ(stats.errors, 1);
}

TEST_F(InsecureServerTest, ClientStreamIsAuditedWithTheHandlersDescription) {
  defect::v1::UploadDefectPhotoRequest first;
  first.mutable_metadata()->set_defect_id("42");
  first.mutable_metadata()->set_file_name("door.jpg");
  first.mutable_metadata()->set_request_id("upload-7");
  grpc::Status status = Upload(first, {"PHOTO-BYTES"});
  ASSERT_TRUE(status.ok()) << status.error_message();

  std::vector<AuditRecord> records = server_->audit.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].method, kUploadDefectPhoto);
  EXPECT_EQ(records[0].status_code, 0);
  EXPECT_THAT(records[0].request_json, HasSubstr(R"("defect_id":"42")"));
  EXPECT_THAT(records[0].request_json, HasSubstr(R"("file_name":"door.jpg")"));
  EXPECT_THAT(records[0].request_json, HasSubstr(R"("request_id":"upload-7")"));
  EXPECT_THAT(records[0].request_json, ::testing::Not(HasSubstr("PHOTO-BYTES")));
}

// Outside testing: an ingest stream whose row came with its first commit, and that was
// then refused, read OK in the audit. A client stream whose change row is written gets a
// row of its end too when that end is not OK; an OK end adds none.
TEST_F(InsecureServerTest, AClientStreamWhoseRowIsWrittenGetsARowOfABadEndToo) {
  server_->defect_service.SetStoreWritesAudit(true);
  defect::v1::UploadDefectPhotoRequest first;
  first.mutable_metadata()->set_defect_id("42");
  EXPECT_TRUE(Upload(first).ok());
  EXPECT_TRUE(server_->audit.records().empty());  // the store's row stands for it
  server_->defect_service.SetOutcome(InvalidField("chunk", "refused after the commit"));
  EXPECT_EQ(Upload(first).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<AuditRecord> records = server_->audit.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].status_code, 3);
  EXPECT_EQ(records[0].method, kUploadDefectPhoto);
}

// Outside testing: gRPC 1.51 inflates a compressed request whole before it checks its
// size: 8 gzip requests of ~1 MB inflating to 512 MiB each took a server to 2.7 GiB.
// Compressed requests are refused before their message is read (the probe port is built
// with the same refusal: server_host.cc).
TEST_F(InsecureServerTest, CompressedRequestsAreRefusedBeforeTheirMessageIsRead) {
  auto stub = system::v1::SystemService::NewStub(channel_);
  grpc::ClientContext context;
  context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  system::v1::WhoAmIResponse response;
  grpc::Status status = stub->WhoAmI(&context, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("gzip"));
  grpc::ClientContext deflate;
  deflate.set_compression_algorithm(GRPC_COMPRESS_DEFLATE);
  EXPECT_EQ(stub->WhoAmI(&deflate, {}, &response).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  grpc::ClientContext plain;
  EXPECT_TRUE(stub->WhoAmI(&plain, {}, &response).ok());
}

TEST_F(InsecureServerTest, ReadsAreNotAudited) {
  auto stub = system::v1::SystemService::NewStub(channel_);
  grpc::ClientContext context;
  system::v1::WhoAmIResponse response;
  ASSERT_TRUE(stub->WhoAmI(&context, {}, &response).ok());
  EXPECT_TRUE(server_->audit.records().empty());
}

TEST_F(InsecureServerTest, HealthPerService) {
  int status = 0;
  ASSERT_TRUE(CheckHealth(channel_.get(), "", &status).ok());
  EXPECT_EQ(status, kServing);
  ASSERT_TRUE(CheckHealth(channel_.get(), kDefectService, &status).ok());
  EXPECT_EQ(status, kServing);
  ASSERT_TRUE(CheckHealth(channel_.get(), kSystemServiceName, &status).ok());
  EXPECT_EQ(status, kServing);
  EXPECT_EQ(CheckHealth(channel_.get(), "plantmesh.nope.v1.Nope", &status).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// A channel that retries UNAVAILABLE of every method, as the SDK's does for retry-safe ones.
std::shared_ptr<grpc::Channel> RetryingChannel(const std::string& endpoint, int max_attempts) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  args.SetServiceConfigJSON(absl::StrCat(
      R"({"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": )", max_attempts,
      R"(, "initialBackoff": "0.01s", "maxBackoff": "0.01s", "backoffMultiplier": 1,
          "retryableStatusCodes": ["UNAVAILABLE"]}}]})"));
  return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
}

std::string MetadataValue(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                          const std::string& key) {
  auto it = metadata.find(key);
  return it == metadata.end() ? "(none)" : std::string(it->second.data(), it->second.size());
}

// Outside testing (BJ M1): no call the server answered UNAVAILABLE with a retry delay was
// retried by the SDK's channel: the x-request-id header went out first, and gRPC holds a
// call whose headers came committed (gRFC A6). A failed call's id comes in the trailers;
// its answer has no headers, and gRPC's retry policy tries it again.
TEST_F(InsecureServerTest, AFailedCallIsAnsweredWithoutHeadersSoItsRetryPolicyRetriesIt) {
  auto channel = RetryingChannel(server_->host->endpoint(), 3);
  auto defects = defect::v1::DefectService::NewStub(channel);
  server_->defect_service.SetOutcome(
      WithRetryDelay(absl::UnavailableError("PostgreSQL restarts"), absl::Milliseconds(10)));
  grpc::ClientContext failed;
  failed.AddMetadata("x-request-id", "retry-me");
  defect::v1::AssignDefectResponse assigned;
  EXPECT_EQ(defects->AssignDefect(&failed, {}, &assigned).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server_->policy.Stats()[kAssignDefect].calls, 3) << "each attempt reached the server";
  EXPECT_EQ(MetadataValue(failed.GetServerInitialMetadata(), "x-request-id"), "(none)");
  EXPECT_EQ(MetadataValue(failed.GetServerTrailingMetadata(), "x-request-id"), "retry-me");

  // One that succeeds sends it in its headers, as before.
  server_->defect_service.SetOutcome(absl::OkStatus());
  grpc::ClientContext succeeded;
  succeeded.AddMetadata("x-request-id", "fine");
  ASSERT_TRUE(defects->AssignDefect(&succeeded, {}, &assigned).ok());
  EXPECT_EQ(MetadataValue(succeeded.GetServerInitialMetadata(), "x-request-id"), "fine");

  // A call refused before its handler (the server drains) is retried too, after the
  // server's pushback (1 s); a replaced id says why in the trailers.
  BeginDraining();
  auto system = system::v1::SystemService::NewStub(RetryingChannel(server_->host->endpoint(), 2));
  grpc::ClientContext refused;
  refused.AddMetadata("x-request-id", "a b");
  system::v1::WhoAmIResponse who;
  EXPECT_EQ(system->WhoAmI(&refused, {}, &who).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server_->policy.Stats()["plantmesh.system.v1.SystemService.WhoAmI"].denied, 2);
  EXPECT_EQ(MetadataValue(refused.GetServerInitialMetadata(), "x-request-id"), "(none)");
  EXPECT_EQ(MetadataValue(refused.GetServerTrailingMetadata(), "x-request-id-replaced"),
            "holds a space or a character outside visible ASCII");
}

TEST_F(InsecureServerTest, DrainingRefusesNewCalls) {
  BeginDraining();
  auto stub = system::v1::SystemService::NewStub(channel_);
  grpc::ClientContext context;
  system::v1::WhoAmIResponse response;
  grpc::Status status = stub->WhoAmI(&context, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("server is shutting down"));
  // The reason of the streams a drain ends (re-test: new calls had UNAVAILABLE as theirs).
  EXPECT_EQ(ErrorInfoReason(status), "SERVER_DRAINING");
}

TEST_F(InsecureServerTest, DrainTurnsHealthNotServing) {
  // Health turns NOT_SERVING before the transport closes: a Check after the drain
  // sees NOT_SERVING or a closed server, never SERVING.
  server_->host->Drain(absl::Seconds(1));
  int status = kServing;
  grpc::Status check = CheckHealth(channel_.get(), "", &status);
  EXPECT_TRUE(!check.ok() || status == kNotServing);
  EXPECT_TRUE(Draining());
}

// Outside testing: a connection made before its client certificate expired (or before
// its CA left tls-ca) went on calling as long as it lived; certificates are checked at
// the handshake only. With max-connection-age-seconds the server asks an old connection
// to go: its open stream ends UNAVAILABLE after the grace, and the client's next call
// is made on a new connection.
TEST(MaxConnectionAgeTest, AnOldConnectionIsClosedAndTheClientReconnects) {
  ResetDrainingForTesting();
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.insecure = true;
  config.max_connection_age_seconds = 1;
  config.max_connection_age_grace_seconds = 1;
  absl::StatusOr<RoleBindings> roles =
      RoleBindings::Parse(R"({"bindings": [{"identity": "insecure:local", "roles": ["admin"]}]})");
  ASSERT_TRUE(roles.ok());
  TestServer server(config, RoleBindingStore::Fixed(*roles));
  ASSERT_NE(server.host, nullptr);
  std::shared_ptr<grpc::Channel> channel =
      Channel(server.host->endpoint(), grpc::InsecureChannelCredentials());

  std::unique_ptr<HealthWatch> watch = OpenHealthWatch(channel, std::chrono::seconds(60));
  ASSERT_NE(watch, nullptr);
  EXPECT_EQ(watch->first.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  const absl::Time opened = absl::Now();
  grpc::health::v1::HealthCheckResponse response;
  while (watch->reader->Read(&response)) {
  }
  const grpc::Status ended = watch->reader->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  // Age 1 s (+10 %) and grace 1 s; the watch's own deadline is 60 s.
  EXPECT_LT(absl::Now() - opened, absl::Seconds(30));
  int status = 0;
  EXPECT_TRUE(CheckHealth(channel.get(), "", &status).ok());
  EXPECT_EQ(status, kServing);
  ResetDrainingForTesting();
}

TEST(InsecureDenyTest, ForbiddenWithoutRoleIsDeniedAuditedAndExplained) {
  ResetDrainingForTesting();
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.insecure = true;
  TestServer server(config, RoleBindingStore::Fixed(RoleBindings()));
  ASSERT_NE(server.host, nullptr);
  auto stub = defect::v1::DefectService::NewStub(
      Channel(server.host->endpoint(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  defect::v1::AssignDefectResponse response;
  grpc::Status status = stub->AssignDefect(&context, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(),
            "identity insecure:local (roles: none) may not call DefectService.AssignDefect; it "
            "needs one of: foreman, admin");
  api::v1::Status rich;
  ASSERT_TRUE(grpc::ExtractErrorDetails(status, &rich).ok());
  ASSERT_EQ(rich.details_size(), 1);
  api::v1::ErrorInfo info;
  ASSERT_TRUE(rich.details(0).UnpackTo(&info) || info.ParseFromString(rich.details(0).value()));
  EXPECT_EQ(info.reason(), "PERMISSION_DENIED_ROLE");
  EXPECT_EQ(info.domain(), "plantmesh");
  EXPECT_EQ(info.metadata().at("required_roles"), "foreman,admin");
  // Fully qualified, as every ErrorInfo names a method (REQUEST_ID_REUSED too; outside
  // testing: "DefectService.AssignDefect" here, the full name there).
  EXPECT_EQ(info.metadata().at("method"), kAssignDefect);

  std::vector<AuditRecord> records = server.audit.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].status_code, 7);
  EXPECT_EQ(records[0].method, kAssignDefect);
  EXPECT_EQ(server.policy.Stats().at(kAssignDefect).denied, 1);

  // Outside testing: a certificate bound to no role wrote 4,000 audit rows (and warning
  // lines) a second. Past a burst of 100 an identity's denials are refused alike and
  // counted, and not audited one by one (10 a second come back in 20 s at most).
  for (int i = 0; i < 299; ++i) {
    grpc::ClientContext again;
    ASSERT_EQ(stub->AssignDefect(&again, {}, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_EQ(server.policy.Stats().at(kAssignDefect).denied, 300);
  EXPECT_GE(server.audit.records().size(), 100u);
  EXPECT_LT(server.audit.records().size(), 300u);
}

class MutualTlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ResetDrainingForTesting();
    absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    absl::StatusOr<testing::TestPki::Client> anna = pki_->IssueClient("anna", {"foreman"});
    ASSERT_TRUE(anna.ok()) << anna.status();
    anna_ = *anna;
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.tls_ca = pki_->ca_file();
    config.tls_cert = pki_->server_cert();
    config.tls_key = pki_->server_key();
    config.role_bindings = pki_->role_bindings_file();
    absl::StatusOr<std::unique_ptr<RoleBindingStore>> store =
        RoleBindingStore::Open(config.role_bindings, absl::Milliseconds(50));
    ASSERT_TRUE(store.ok()) << store.status();
    server_ = std::make_unique<TestServer>(config, *std::move(store));
    ASSERT_NE(server_->host, nullptr);
  }
  void TearDown() override {
    server_.reset();
    ResetDrainingForTesting();
  }

  std::shared_ptr<grpc::Channel> ChannelAs(const testing::TestPki::Client& client) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(pki_->ca_file());
    options.pem_cert_chain = ReadFile(client.cert_file);
    options.pem_private_key = ReadFile(client.key_file);
    return Channel(server_->host->endpoint(), grpc::SslCredentials(options));
  }

  std::unique_ptr<testing::TestPki> pki_;
  testing::TestPki::Client anna_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(MutualTlsServerTest, IdentityIsTheCertificatesUriSan) {
  auto stub = system::v1::SystemService::NewStub(ChannelAs(anna_));
  grpc::ClientContext context;
  system::v1::WhoAmIResponse response;
  grpc::Status status = stub->WhoAmI(&context, {}, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.identity(), anna_.identity);
  EXPECT_THAT(response.identity(), HasSubstr("spiffe://plantmesh.local/"));
  EXPECT_THAT(response.roles(), ElementsAre("foreman"));

  auto defects = defect::v1::DefectService::NewStub(ChannelAs(anna_));
  grpc::ClientContext assign;
  defect::v1::AssignDefectResponse assigned;
  EXPECT_TRUE(defects->AssignDefect(&assign, {}, &assigned).ok());
}

TEST_F(MutualTlsServerTest, ClientWithoutCertificateIsRefusedAtHandshake) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(pki_->ca_file());
  auto stub = system::v1::SystemService::NewStub(
      Channel(server_->host->endpoint(), grpc::SslCredentials(options)));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  system::v1::WhoAmIResponse response;
  grpc::Status status = stub->WhoAmI(&context, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(MutualTlsServerTest, RoleBindingChangesApplyWithoutRestart) {
  absl::StatusOr<testing::TestPki::Client> bob = pki_->IssueClient("bob", {"operator"});
  ASSERT_TRUE(bob.ok()) << bob.status();
  const int64_t before = server_->bindings->generation();
  // IssueClient rewrote the binding file; wait (bounded) for the poller to load it.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server_->bindings->generation() == before && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  auto stub = defect::v1::DefectService::NewStub(ChannelAs(*bob));
  grpc::ClientContext context;
  defect::v1::AssignDefectResponse response;
  grpc::Status status = stub->AssignDefect(&context, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("(roles: operator)"));
}

// The probe listener: what the kubelet's native gRPC probe can reach (plaintext, no
// client certificate) next to a server that requires mTLS.
class ProbeListenerTest : public MutualTlsServerTest {
 protected:
  void SetUp() override {
    MutualTlsServerTest::SetUp();
    ASSERT_NE(server_->host->probe_port(), 0);
    probe_ = Channel(server_->host->probe_endpoint(), grpc::InsecureChannelCredentials());
  }
  std::shared_ptr<grpc::Channel> probe_;
};

TEST_F(ProbeListenerTest, IsOnItsOwnLoopbackPort) {
  EXPECT_NE(server_->host->probe_port(), server_->host->port());
  EXPECT_EQ(server_->host->probe_endpoint(),
            "127.0.0.1:" + std::to_string(server_->host->probe_port()));
}

TEST_F(ProbeListenerTest, AnswersHealthCheckInPlaintext) {
  for (const std::string& service :
       {std::string(), std::string(kDefectService), std::string(kSystemServiceName)}) {
    int status = 0;
    grpc::Status check = CheckHealth(probe_.get(), service, &status);
    ASSERT_TRUE(check.ok()) << service << ": " << check.error_message();
    EXPECT_EQ(status, kServing) << service;
  }
  int status = 0;
  EXPECT_EQ(CheckHealth(probe_.get(), "plantmesh.nope.v1.Nope", &status).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ProbeListenerTest, WatchSeesServingThenTheDrain) {
  std::unique_ptr<HealthWatch> watch = OpenHealthWatch(probe_, std::chrono::seconds(30));
  ASSERT_NE(watch, nullptr);
  EXPECT_EQ(watch->first.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  grpc::health::v1::HealthCheckResponse response;
  // The probe port reports the drain (the kubelet takes the pod out of its Service).
  std::thread drain([this] { server_->host->Drain(absl::Seconds(1)); });
  ASSERT_TRUE(watch->reader->Read(&response));
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  while (watch->reader->Read(&response)) {
  }
  EXPECT_TRUE(watch->reader->Finish().ok());
  drain.join();
}

TEST_F(ProbeListenerTest, OffersNothingButHealth) {
  for (const std::string& method :
       {std::string("/") + kAssignDefect, std::string("/") + kSystemServiceName + "/WhoAmI",
        std::string(kReflectionInfo)}) {
    grpc::Status status = CallAnything(probe_.get(), method);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
        << method << ": " << status.error_message();
  }
}

TEST_F(ProbeListenerTest, TheMutualTlsPortKeepsHealthAndRefusesPlaintext) {
  int status = 0;
  grpc::Status check = CheckHealth(ChannelAs(anna_).get(), "", &status);
  ASSERT_TRUE(check.ok()) << check.error_message();
  EXPECT_EQ(status, kServing);
  // What the kubelet would get on the main port: no answer without TLS.
  auto plaintext = Channel(server_->host->endpoint(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(CheckHealth(plaintext.get(), "", &status).error_code(), grpc::StatusCode::UNAVAILABLE);
  // Reflection stays on the main port.
  EXPECT_NE(CallAnything(ChannelAs(anna_).get(), kReflectionInfo).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST(ProbeListenerConfigTest, EmptyProbeListenMeansNone) {
  ResetDrainingForTesting();
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.insecure = true;
  config.probe_listen = "";
  absl::StatusOr<RoleBindings> roles = RoleBindings::Parse(R"({"bindings": []})");
  ASSERT_TRUE(roles.ok());
  TestServer server(config, RoleBindingStore::Fixed(*roles));
  ASSERT_NE(server.host, nullptr);
  EXPECT_EQ(server.host->probe_port(), 0);
  EXPECT_EQ(server.host->probe_endpoint(), "");
}

// Outside testing: a second server (even of another service) started on a port in use
// took about half of its new connections, answering UNIMPLEMENTED; gRPC sets
// SO_REUSEPORT by default. The probe listener's address is checked alike.
TEST(ListenConfigTest, AnAddressInUseFailsTheStart) {
  ResetDrainingForTesting();
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.insecure = true;
  absl::StatusOr<RoleBindings> roles = RoleBindings::Parse(R"({"bindings": []})");
  ASSERT_TRUE(roles.ok());
  TestServer first(config, RoleBindingStore::Fixed(*roles));
  ASSERT_NE(first.host, nullptr);
  config.probe_listen = first.host->probe_endpoint();
  absl::StatusOr<std::unique_ptr<ServerHost>> second = ServerHost::Start(config, {}, {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("probe-listen"));

  config.probe_listen = "";
  config.listen = absl::StrCat("127.0.0.1:", first.host->port());
  second = ServerHost::Start(config, {}, {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("cannot listen on ", config.listen)));
}

TEST(ReflectionConfigTest, NoReflectionMeansNone) {
  ResetDrainingForTesting();
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.insecure = true;
  config.reflection = false;
  absl::StatusOr<RoleBindings> roles = RoleBindings::Parse(R"({"bindings": []})");
  ASSERT_TRUE(roles.ok());
  TestServer server(config, RoleBindingStore::Fixed(*roles));
  ASSERT_NE(server.host, nullptr);
  auto channel = Channel(server.host->endpoint(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(CallAnything(channel.get(), kReflectionInfo).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace plantmesh::runtime
