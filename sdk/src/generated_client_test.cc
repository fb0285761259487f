// The generated clients against an in-process gRPC server: paging, request ids,
// retries from the contract, rich errors and both stream directions.
#include <gmock/gmock.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "plantmesh/api/v1/error_details.pb.h"
#include "plantmesh/defect/v1/defect_service.grpc.pb.h"
#include "plantmesh/defect/v1/defect_service.pm_client.h"
#include "plantmesh/sdk/internal/calls.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/system/v1/system_service.grpc.pb.h"
#include "plantmesh/system/v1/system_service.pm_client.h"

namespace plantmesh::sdk {
namespace {

namespace dv1 = ::plantmesh::defect::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// The facade's shape, as the spec fixes it (compile-time).
static_assert(std::is_same_v<
              decltype(std::declval<DefectClient&>().ListAllDefects(dv1::ListDefectsRequest{})),
              absl::StatusOr<std::vector<dv1::Defect>>>);
static_assert(
    std::is_same_v<decltype(std::declval<DefectClient&>().WatchDefects(dv1::WatchDefectsRequest{})),
                   std::unique_ptr<ReadStream<dv1::WatchDefectsResponse>>>);
static_assert(std::is_same_v<decltype(std::declval<DefectClient&>().UploadDefectPhoto()),
                             std::unique_ptr<WriteStream<dv1::UploadDefectPhotoRequest,
                                                         dv1::UploadDefectPhotoResponse>>>);
static_assert(
    std::is_same_v<decltype(DefectClient::Connect(ClientOptions{})), absl::StatusOr<DefectClient>>);
static_assert(
    std::is_same_v<decltype(std::declval<SystemClient&>().WhoAmI(system::v1::WhoAmIRequest{})),
                   absl::StatusOr<system::v1::WhoAmIResponse>>);

// Seven defects served three per page.
class FakeDefectService final : public dv1::DefectService::Service {
 public:
  grpc::Status ListDefects(grpc::ServerContext*, const dv1::ListDefectsRequest* request,
                           dv1::ListDefectsResponse* response) override {
    const int start = request->page_token().empty() ? 0 : std::stoi(request->page_token());
    for (int i = start; i < std::min(start + 3, 7); ++i) {
      response->add_defects()->set_id(absl::StrCat("d", i));
    }
    if (start + 3 < 7) response->set_next_page_token(std::to_string(start + 3));
    pages_served.fetch_add(1);
    return grpc::Status::OK;
  }

  grpc::Status CreateDefect(grpc::ServerContext* context, const dv1::CreateDefectRequest* request,
                            dv1::CreateDefectResponse* response) override {
    {
      absl::MutexLock lock(&mutex);
      request_ids.push_back(request->request_id());
      for (const auto& [key, value] : context->client_metadata()) {
        if (key == "x-request-id") trace_id = std::string(value.data(), value.size());
      }
    }
    // As a client sees a call whose answer did not come in time (the change may be made).
    if (request->defect().vin() == "TIMES-OUT") {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
    }
    if (request->defect().vin() == "REFUSED") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "defect.vin: refused");
    }
    *response->mutable_defect() = request->defect();
    response->mutable_defect()->set_id(request->request_id());
    return grpc::Status::OK;
  }

  // Fails the first attempt as a restarting server would, the second as gRPC does a call
  // that reaches a server as its shutdown begins.
  grpc::Status GetDefect(grpc::ServerContext*, const dv1::GetDefectRequest* request,
                         dv1::GetDefectResponse* response) override {
    const int attempt = get_attempts.fetch_add(1);
    if (attempt == 0) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting");
    if (attempt == 1) return grpc::Status(grpc::StatusCode::CANCELLED, "shutting down");
    response->mutable_defect()->set_id(request->id());
    return grpc::Status::OK;
  }

  grpc::Status CreateDefectCategory(grpc::ServerContext*, const dv1::CreateDefectCategoryRequest*,
                                    dv1::CreateDefectCategoryResponse*) override {
    api::v1::BadRequest bad_request;
    auto* violation = bad_request.add_field_violations();
    violation->set_field("category.code");
    violation->set_description("1-32 characters A-Z, 0-9, '-'");
    api::v1::Status status;
    status.set_code(grpc::StatusCode::INVALID_ARGUMENT);
    status.set_message("category.code is invalid");
    auto* any = status.add_details();
    any->set_type_url("type.googleapis.com/google.rpc.BadRequest");
    any->set_value(bad_request.SerializeAsString());
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "category.code is invalid",
                        status.SerializeAsString());
  }

  grpc::Status WatchDefects(grpc::ServerContext*, const dv1::WatchDefectsRequest* request,
                            grpc::ServerWriter<dv1::WatchDefectsResponse>* writer) override {
    for (int i = 0; i < 3; ++i) {
      dv1::WatchDefectsResponse event;
      event.mutable_event()->set_cursor(absl::StrCat(request->zone(), "-", i));
      if (!writer->Write(event)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status UploadDefectPhoto(grpc::ServerContext*,
                                 grpc::ServerReader<dv1::UploadDefectPhotoRequest>* reader,
                                 dv1::UploadDefectPhotoResponse* response) override {
    dv1::UploadDefectPhotoRequest message;
    int64_t bytes = 0;
    while (reader->Read(&message)) {
      if (message.has_metadata()) {
        response->mutable_photo()->set_file_name(message.metadata().file_name());
        response->mutable_photo()->set_id(message.metadata().request_id());
      }
      bytes += static_cast<int64_t>(message.chunk().size());
    }
    response->mutable_photo()->set_size_bytes(bytes);
    return grpc::Status::OK;
  }

  std::atomic<int> pages_served{0};
  std::atomic<int> get_attempts{0};
  absl::Mutex mutex;
  std::vector<std::string> request_ids ABSL_GUARDED_BY(mutex);
  std::string trace_id ABSL_GUARDED_BY(mutex);
};

class GeneratedClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    options_.insecure = true;
    options_.endpoint = absl::StrCat("127.0.0.1:", port);
    absl::StatusOr<DefectClient> client = DefectClient::Connect(options_);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::make_unique<DefectClient>(*std::move(client));
  }
  void TearDown() override { server_->Shutdown(); }

  FakeDefectService service_;
  std::unique_ptr<grpc::Server> server_;
  ClientOptions options_;
  std::unique_ptr<DefectClient> client_;
};

TEST_F(GeneratedClientTest, ListAllFollowsEveryPage) {
  absl::StatusOr<std::vector<dv1::Defect>> all = client_->ListAllDefects({});
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> ids;
  for (const auto& defect : *all) ids.push_back(defect.id());
  EXPECT_THAT(ids, ElementsAre("d0", "d1", "d2", "d3", "d4", "d5", "d6"));
  EXPECT_EQ(service_.pages_served.load(), 3);
}

TEST_F(GeneratedClientTest, ForEachStopsWhenTheCallbackSaysSo) {
  int seen = 0;
  const absl::Status status =
      client_->ForEachDefect({}, [&seen](const dv1::Defect&) { return ++seen < 2; });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(service_.pages_served.load(), 1);
}

TEST_F(GeneratedClientTest, CreateFillsAnEmptyRequestIdAndKeepsAGivenOne) {
  CallOptions call;
  call.metadata.emplace_back("x-request-id", "trace-123");
  dv1::CreateDefectRequest request;
  request.mutable_defect()->set_vin("WVWZZZ1JZXW000001");
  absl::StatusOr<dv1::CreateDefectResponse> created = client_->CreateDefect(request, call);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(created->defect().id(),
              MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));

  request.set_request_id("mine");
  created = client_->CreateDefect(request);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->defect().id(), "mine");
  absl::MutexLock lock(&service_.mutex);
  EXPECT_EQ(service_.trace_id, "trace-123");
}

// Outside testing: a create that timed out told its caller nothing of the request_id the
// SDK filled, so the retry the README advises could not be made, and a retry without
// it stored the defect twice.
TEST_F(GeneratedClientTest, AFailureOfUnknownOutcomeCarriesTheFilledRequestId) {
  dv1::CreateDefectRequest request;
  request.mutable_defect()->set_vin("TIMES-OUT");
  const absl::Status timed_out = client_->CreateDefect(request).status();
  EXPECT_EQ(timed_out.code(), absl::StatusCode::kDeadlineExceeded);
  std::string sent;
  {
    absl::MutexLock lock(&service_.mutex);
    ASSERT_FALSE(service_.request_ids.empty());
    sent = service_.request_ids.back();
  }
  EXPECT_EQ(ErrorMetadata(timed_out, "request_id"), sent);
  EXPECT_EQ(ErrorReason(timed_out), kOutcomeUnknownReason);
  EXPECT_THAT(std::string(timed_out.message()), HasSubstr(absl::StrCat("request_id ", sent)));

  // The caller's own id it knows; a refusal has a known outcome (nothing done).
  request.set_request_id("mine");
  EXPECT_EQ(ErrorMetadata(client_->CreateDefect(request).status(), "request_id"), "");
  request.clear_request_id();
  request.mutable_defect()->set_vin("REFUSED");
  const absl::Status refused = client_->CreateDefect(request).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorMetadata(refused, "request_id"), "");
}

// Outside testing: an upper-case key ("X-Request-Id") or a value with a line break aborted
// the integrator's process in gRPC; they fail the call INVALID_ARGUMENT, unsent.
TEST_F(GeneratedClientTest, MetadataGrpcWouldNotSendFailsTheCall) {
  dv1::GetDefectRequest request;
  request.set_id("d9");
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"X-Request-Id", "1"},
                                                        {"", "1"},
                                                        {"grpc-timeout", "1S"},
                                                        {"x id", "1"},
                                                        {"x-barcode", "line\nbreak"},
                                                        {"x-name", "\xC3\xA4"}}) {
    CallOptions call;
    call.metadata.emplace_back(key, value);
    absl::StatusOr<dv1::GetDefectResponse> got = client_->GetDefect(request, call);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(std::string(got.status().message()), HasSubstr("CallOptions.metadata")) << key;
    auto stream = client_->UploadDefectPhoto(call);
    EXPECT_EQ(stream->Finish().status().code(), absl::StatusCode::kInvalidArgument) << key;
  }
  // Outside testing: 20,000 bytes in one value went out, and the server's refusal
  // (RESOURCE_EXHAUSTED "received initial metadata size exceeds limit") named neither.
  CallOptions large;
  large.metadata.emplace_back("x-note", std::string(20000, 'a'));
  absl::StatusOr<dv1::GetDefectResponse> refused = client_->GetDefect(request, large);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("CallOptions.metadata: 20038 bytes as HTTP/2 counts them, more than 8192"));
  CallOptions binary;
  binary.metadata.emplace_back("x-raw-bin", std::string("\0\n\xff", 3));
  dv1::CreateDefectRequest create;
  create.mutable_defect()->set_vin("WVWZZZ1JZXW000001");
  EXPECT_TRUE(client_->CreateDefect(create, binary).ok());
}

TEST_F(GeneratedClientTest, RetriesUnavailableAndCancelledForAMethodTheContractMarksSafe) {
  dv1::GetDefectRequest request;
  request.set_id("d9");
  absl::StatusOr<dv1::GetDefectResponse> got = client_->GetDefect(request);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->defect().id(), "d9");
  EXPECT_EQ(service_.get_attempts.load(), 3);
}

TEST_F(GeneratedClientTest, RichErrorsArriveWithTheirFieldViolations) {
  absl::StatusOr<dv1::CreateDefectCategoryResponse> created = client_->CreateDefectCategory({});
  ASSERT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  const auto violations = FieldViolations(created.status());
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "category.code");
}

TEST_F(GeneratedClientTest, ReadStreamDeliversEveryMessageThenOk) {
  dv1::WatchDefectsRequest request;
  request.set_zone("paint");
  auto stream = client_->WatchDefects(request);
  dv1::WatchDefectsResponse event;
  std::vector<std::string> cursors;
  while (stream->Next(&event)) cursors.push_back(event.event().cursor());
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_THAT(cursors, ElementsAre("paint-0", "paint-1", "paint-2"));
}

TEST_F(GeneratedClientTest, WriteStreamSendsEveryChunk) {
  auto stream = client_->UploadDefectPhoto();
  dv1::UploadDefectPhotoRequest message;
  message.mutable_metadata()->set_file_name("scratch.jpg");
  ASSERT_TRUE(stream->Write(message));
  for (int i = 0; i < 4; ++i) {
    message.set_chunk(std::string(1000, 'x'));
    ASSERT_TRUE(stream->Write(message));
  }
  absl::StatusOr<dv1::UploadDefectPhotoResponse> uploaded = stream->Finish();
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ(uploaded->photo().file_name(), "scratch.jpg");
  EXPECT_EQ(uploaded->photo().size_bytes(), 4000);
}

TEST_F(GeneratedClientTest, WriteStreamFillsTheFirstMessagesEmptyRequestIdAndKeepsAGivenOne) {
  auto stream = client_->UploadDefectPhoto();
  dv1::UploadDefectPhotoRequest message;
  message.mutable_metadata()->set_file_name("scratch.jpg");
  ASSERT_TRUE(stream->Write(message));
  EXPECT_TRUE(message.metadata().request_id().empty());  // the caller's message is untouched
  message.set_chunk("xyz");
  ASSERT_TRUE(stream->Write(message));
  absl::StatusOr<dv1::UploadDefectPhotoResponse> uploaded = stream->Finish();
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_THAT(uploaded->photo().id(),
              MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  EXPECT_EQ(uploaded->photo().size_bytes(), 3);

  stream = client_->UploadDefectPhoto();
  message.mutable_metadata()->set_request_id("mine");
  ASSERT_TRUE(stream->Write(message));
  uploaded = stream->Finish();
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ(uploaded->photo().id(), "mine");
}

// Outside testing: InfinitePast (or any time before 1677) was no deadline at all.
TEST_F(GeneratedClientTest, ADeadlineInThePastIsPastHoweverFar) {
  dv1::GetDefectRequest request;
  request.set_id("d1");
  for (absl::Time past :
       {absl::InfinitePast(), absl::FromCivil(absl::CivilSecond(1600, 1, 1), absl::UTCTimeZone()),
        absl::Now() - absl::Seconds(1)}) {
    CallOptions call;
    call.deadline = past;
    EXPECT_EQ(client_->GetDefect(request, call).status().code(),
              absl::StatusCode::kDeadlineExceeded)
        << past;
    EXPECT_EQ(client_->WatchDefects({}, call)->Finish().code(), absl::StatusCode::kDeadlineExceeded)
        << past;
  }
}

TEST(FillEmptyRequestId, NeverSetsAnAbsentParent) {
  dv1::UploadDefectPhotoRequest chunk_only;
  chunk_only.set_chunk("abc");
  EXPECT_FALSE(internal::HasEmptyRequestId(chunk_only));
  EXPECT_FALSE(internal::FillEmptyRequestId(&chunk_only));
  EXPECT_EQ(chunk_only.chunk(), "abc");

  dv1::CreateDefectRequest root;
  EXPECT_TRUE(internal::FillEmptyRequestId(&root));
  EXPECT_EQ(root.request_id().size(), 36u);
  EXPECT_FALSE(internal::HasEmptyRequestId(root));
}

TEST_F(GeneratedClientTest, UnimplementedMethodsReportUnimplemented) {
  absl::StatusOr<SystemClient> system = SystemClient::Connect(options_);
  ASSERT_TRUE(system.ok()) << system.status();
  absl::StatusOr<system::v1::WhoAmIResponse> who = system->WhoAmI({});
  EXPECT_EQ(who.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(GeneratedClient, StreamToAnEndpointThatNeverAnswersFailsWithinTheDefaultDeadline) {
  ClientOptions options;
  options.insecure = true;
  options.endpoint = "127.0.0.1:1";  // nothing listens: connection refused
  options.default_deadline = absl::Seconds(2);
  absl::StatusOr<DefectClient> client = DefectClient::Connect(options);
  ASSERT_TRUE(client.ok());
  auto stream = client->WatchDefects({});
  dv1::WatchDefectsResponse event;
  EXPECT_FALSE(stream->Next(&event));
  const absl::Status status = stream->Finish();
  EXPECT_TRUE(status.code() == absl::StatusCode::kUnavailable ||
              status.code() == absl::StatusCode::kDeadlineExceeded)
      << status;
}

// Outside testing: a mistyped port waited out the deadline and said only "Deadline
// Exceeded" (the "Connection refused" of the first attempt dropped), and plantctl told the
// user the change "may have been made". The request was never sent: the status says so,
// with the first attempt's error and ErrorInfo NOT_CONNECTED.
TEST(GeneratedClient, ACallToAnEndpointNeverReachedSaysItWasNotSentAndWhy) {
  ClientOptions options;
  options.insecure = true;
  options.endpoint = "127.0.0.1:1";  // nothing listens: connection refused
  absl::StatusOr<DefectClient> client = DefectClient::Connect(options);
  ASSERT_TRUE(client.ok());
  CallOptions call;
  call.deadline = absl::Now() + absl::Seconds(1);
  dv1::GetDefectRequest request;
  request.set_id("1");
  const absl::Status status = client->GetDefect(request, call).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(ErrorReason(status), kNotConnectedReason) << status;
  EXPECT_EQ(ErrorMetadata(status, "endpoint"), "127.0.0.1:1");
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("the request was not sent"));
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("Connection refused"));
}

}  // namespace
}  // namespace plantmesh::sdk
