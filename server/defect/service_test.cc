// DefectServiceImpl over in-process gRPC: photo upload and download rules, request_id
// handling, create and list validation through the wire on the in-memory store
// (DefectServiceTest: no servers); watchers (zone filter, draining) on PostgreSQL, the
// outbox relay and Redis (DefectServicePgTest). The call policy here only names the
// caller; authorization is tested in the runtime and end to end.
#include "server/defect/service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/common/sha256.h"
#include "plantmesh/common/uuid.h"
#include "plantmesh/defect/v1/defect_service.grpc.pb.h"
#include "plantmesh/sdk/status.h"
#include "server/defect/config.h"
#include "server/defect/convert.h"
#include "server/defect/module.h"
#include "server/defect/pg_store.h"
#include "server/defect/testing/fake_store.h"
#include "server/runtime/call_policy.h"
#include "server/runtime/errors.h"
#include "server/runtime/event_hub.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/executor.h"
#include "server/runtime/grpc_status.h"
#include "server/runtime/memory_budget.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/service_tables.h"
#include "server/runtime/shutdown.h"
#include "server/runtime/testing/handler_test_support.h"
#include "server/runtime/transfer_watchdog.h"
#include "tests/support/test_servers.h"

namespace plantmesh::defect {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::plantmesh::defect::v1;

// Names the caller from the `x-test-identity` header; converts statuses like the runtime.
class IdentityOnlyPolicy : public runtime::CallPolicy {
 public:
  grpc::Status Begin(grpc::ServerContextBase* server_context, std::string_view method,
                     runtime::CallContext* call) override {
    call->server_context = server_context;
    call->method = std::string(method);
    auto it = server_context->client_metadata().find("x-test-identity");
    call->identity = it == server_context->client_metadata().end()
                         ? "spiffe://test/user/anonymous"
                         : std::string(it->second.data(), it->second.size());
    auto roles = server_context->client_metadata().find("x-test-roles");
    if (roles != server_context->client_metadata().end()) {
      call->roles = absl::StrSplit(std::string(roles->second.data(), roles->second.size()), ',');
    }
    call->start_time = absl::Now();
    return grpc::Status::OK;
  }
  grpc::Status End(const runtime::CallContext& call, const absl::Status& status,
                   const google::protobuf::Message*) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      audit_details_[call.method] = call.audit_detail_json;
    }
    return runtime::ToGrpcStatus(status);
  }
  // What the last call of `method` left for its audit record (audit_detail_json).
  std::string AuditDetailOf(const std::string& method) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = audit_details_.find(method);
    return it == audit_details_.end() ? std::string() : it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> audit_details_;
};

bool Eventually(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::vector<std::string> FieldsOf(const grpc::Status& status) {
  std::vector<std::string> fields;
  for (const auto& v : sdk::FieldViolations(sdk::FromGrpcStatus(status))) {
    fields.push_back(v.field);
  }
  return fields;
}

// The service over in-process gRPC on the store a subclass gives (StartStore).
class ServiceFixture : public ::testing::Test {
 protected:
  // The store the service runs on, and what else it needs (relay, events).
  virtual DefectStore* StartStore() = 0;

  void SetUp() override {
    runtime::ResetDrainingForTesting();
    defect_config_.photo_max_bytes = 3 * 1024 * 1024;
    deps_.config = &config_;
    deps_.service_config = &defect_config_;
    deps_.upload_memory = &upload_memory_;
    deps_.download_memory = &download_memory_;
    transfers_ = std::make_unique<runtime::TransferWatchdog>(TransferIdleTimeout());
    deps_.transfers = transfers_.get();
    deps_.call_policy = &policy_;
    deps_.executor = &executor_;
    store_ = StartStore();
    ASSERT_NE(store_, nullptr);
    service_ = std::make_unique<DefectServiceImpl>(deps_, store_);

    server_ = std::make_unique<runtime::testing::InProcessServer>(service_.get());
    ASSERT_TRUE(server_->ok());
    stub_ = v1::DefectService::NewStub(server_->channel());

    ASSERT_TRUE(store_
                    ->CreateCategory({"PAINT-SCRATCH", "Paint scratch", Severity::kMinor},
                                     Ops("CreateDefectCategory"), nullptr)
                    .ok());
  }

  void TearDown() override {
    server_.reset();
    // Joins what still runs for the service before the subclass's store goes away.
    executor_.Shutdown();
    StopStore();
    runtime::ResetDrainingForTesting();
  }
  // Stops what StartStore started, after the server.
  virtual void StopStore() {}

  // A store-level change by the admin "ops" (reference data).
  static ChangeContext Ops(const std::string& method) {
    return ChangeContext{
        {"spiffe://test/user/ops", "plantmesh.defect.v1.DefectService." + method, "", ""},
        absl::Now(),
        DefectOutboxEvent};
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& user = "op",
                                               const std::string& roles = "") {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("x-test-identity", "spiffe://test/user/" + user);
    if (!roles.empty()) context->AddMetadata("x-test-roles", roles);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return context;
  }

  v1::Defect Report(const std::string& vin, const std::string& zone = "PAINT") {
    v1::CreateDefectRequest request;
    v1::Defect* d = request.mutable_defect();
    d->set_vin(vin);
    d->set_model("SEDAN");
    d->set_zone(zone);
    d->set_station("P-07");
    d->set_category_code("PAINT-SCRATCH");
    d->set_shift("2026-11-21/A");
    request.set_request_id(common::NewUuidV4());
    v1::CreateDefectResponse response;
    grpc::Status status = stub_->CreateDefect(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.defect();
  }

  // Crew CREW-A, mechanic M-1 (spiffe://test/user/m1) and repair places `places` in PAINT.
  void SeedRepairCrew(std::initializer_list<const char*> places) {
    ASSERT_TRUE(
        store_->CreateCrew({"CREW-A", "Paint repair A", "PAINT"}, Ops("CreateCrew"), nullptr).ok());
    ASSERT_TRUE(store_
                    ->CreateMechanic({"M-1", "Ann", "CREW-A", "spiffe://test/user/m1"},
                                     Ops("CreateMechanic"), nullptr)
                    .ok());
    for (const char* place : places) {
      ASSERT_TRUE(store_
                      ->CreateRepairPlace({place, "Bay", "PAINT", false, ""},
                                          Ops("CreateRepairPlace"), nullptr)
                      .ok());
    }
  }

  // Uploads `bytes` in `chunk`-sized pieces with the given metadata.
  grpc::Status Upload(const v1::PhotoUpload& metadata, const std::string& bytes, size_t chunk,
                      v1::UploadDefectPhotoResponse* response) {
    auto context = Context();
    auto writer = stub_->UploadDefectPhoto(context.get(), response);
    v1::UploadDefectPhotoRequest first;
    *first.mutable_metadata() = metadata;
    writer->Write(first);
    for (size_t offset = 0; offset < bytes.size(); offset += chunk) {
      v1::UploadDefectPhotoRequest piece;
      piece.set_chunk(bytes.substr(offset, chunk));
      if (!writer->Write(piece)) break;  // the server already refused
    }
    writer->WritesDone();
    return writer->Finish();
  }

  // The server's send limit (max-send-message-bytes), changed while it serves.
  void SetMaxSendBytes(int bytes) {
    runtime::testing::ChangeWhileServing(executor_,
                                         [&] { config_.max_send_message_bytes = bytes; });
  }

  runtime::ServerConfig config_;
  DefectConfig defect_config_;
  // What uploads may hold together: the largest photo, no more.
  runtime::MemoryBudget upload_memory_{3 * 1024 * 1024};
  // And what downloads may hold together: the same.
  runtime::MemoryBudget download_memory_{3 * 1024 * 1024};
  // transfer-idle-seconds; zero (the tests' default): never.
  virtual absl::Duration TransferIdleTimeout() const { return absl::ZeroDuration(); }
  std::unique_ptr<runtime::TransferWatchdog> transfers_;
  IdentityOnlyPolicy policy_;
  runtime::ServiceDeps deps_;
  DefectStore* store_ = nullptr;
  std::unique_ptr<DefectServiceImpl> service_;
  // Destroyed before the service: joins what still runs for it.
  runtime::Executor executor_{runtime::ExecutorOptions{4, 64, "test"}};
  std::unique_ptr<runtime::testing::InProcessServer> server_;
  std::unique_ptr<v1::DefectService::Stub> stub_;
};

// The handlers on the in-memory store: everything they do but SQL, with no server.
class DefectServiceTest : public ServiceFixture {
 protected:
  DefectStore* StartStore() override { return &fake_; }
  v1::DownloadDefectPhotoRequest DownloadOfNewPhoto(const std::string& vin, size_t size,
                                                    std::string* bytes);
  // A client whose HTTP/2 window stays at 64 KiB (no BDP probing, which could grow it past
  // a photo): once it stops reading, the server cannot send a photo's rest.
  std::unique_ptr<v1::DefectService::Stub> SlowReader() {
    grpc::ChannelArguments narrow;
    narrow.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    narrow.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return v1::DefectService::NewStub(
        grpc::CreateCustomChannel(server_->endpoint(), grpc::InsecureChannelCredentials(), narrow));
  }
  testing::FakeDefectStore fake_;
};

// The handlers on PostgreSQL, with the outbox relay publishing to Redis and the event
// hub reading back: for what goes through those (watchers).
class DefectServicePgTest : public ServiceFixture {
 protected:
  DefectStore* StartStore() override {
    static int database = 0;
    absl::StatusOr<std::string> url = plantmesh::testing::SharedPostgres().CreateDatabase(
        absl::StrCat("defect_service_", ++database));
    EXPECT_TRUE(url.ok()) << url.status();
    if (!url.ok()) return nullptr;
    absl::Status migrated = runtime::ApplyMigrations(*url, "audit", runtime::AuditMigrations());
    if (migrated.ok()) migrated = runtime::ApplyMigrations(*url, "defect", EmbeddedMigrations());
    // The runtime's tables (the relay's stream record), as the server adds them.
    if (migrated.ok()) migrated = runtime::ApplyServiceTables(*url, "defect");
    EXPECT_TRUE(migrated.ok()) << migrated;
    if (!migrated.ok()) return nullptr;
    runtime::PgPoolOptions pool_options;
    pool_options.url = *url;
    pool_options.size = 4;
    pool_options.on_connect.push_back(Descriptor().on_pg_connect);
    absl::StatusOr<std::unique_ptr<runtime::PgPool>> pool = runtime::PgPool::Open(pool_options);
    EXPECT_TRUE(pool.ok()) << pool.status();
    if (!pool.ok()) return nullptr;
    pool_ = *std::move(pool);
    deps_.pg = pool_.get();
    deps_.redis.port = plantmesh::testing::SharedRedis().port();
    relay_ = std::make_unique<runtime::OutboxRelay>(
        pool_.get(), deps_.redis, std::vector<runtime::OutboxSource>{Descriptor().outbox});
    relay_->Start();
    // As the server does: the stream is checked before the hub starts (a new database on
    // the shared Redis starts a new generation).
    EXPECT_TRUE(relay_->AwaitStreamsChecked(absl::Seconds(10)));
    deps_.relay = relay_.get();
    runtime::EventHubOptions hub_options;
    hub_options.redis = deps_.redis;
    hub_ =
        std::make_unique<runtime::EventHub>(hub_options, std::vector<std::string>{kEventStreamKey});
    hub_->Start();
    EXPECT_TRUE(hub_->AwaitConnected(absl::Seconds(10)));
    deps_.events = hub_.get();
    pg_store_ = std::make_unique<PgDefectStore>(pool_.get());
    return pg_store_.get();
  }
  void StopStore() override {
    if (hub_) hub_->Stop();
    if (relay_) relay_->Stop();
  }

  std::unique_ptr<runtime::PgPool> pool_;
  std::unique_ptr<runtime::OutboxRelay> relay_;
  std::unique_ptr<runtime::EventHub> hub_;
  std::unique_ptr<PgDefectStore> pg_store_;
};

// The issue's examples through the handlers: a request_id reused with a different
// payload on UpdateDefect or AssignDefect is REQUEST_ID_REUSED (it answered OK with the
// old result); the retry gets the first response byte for byte; the same id from another
// method or caller is a call of its own; only the assigned mechanic starts the repair.
// Outside testing: an assignment's assign_time and update_time were one clock reading,
// its history entry's change_time and its event's time another, microseconds later. One
// change has one time, with a clock that moves at every reading.
TEST_F(DefectServiceTest, OneChangeHasOneTime) {
  auto ticks = std::make_shared<std::atomic<int64_t>>(0);
  deps_.now = [ticks] { return absl::FromUnixSeconds(1796000000) + absl::Milliseconds(++*ticks); };
  server_.reset();
  service_ = std::make_unique<DefectServiceImpl>(deps_, store_);
  server_ = std::make_unique<runtime::testing::InProcessServer>(service_.get());
  ASSERT_TRUE(server_->ok());
  stub_ = v1::DefectService::NewStub(server_->channel());
  SeedRepairCrew({"RP-01"});
  v1::Defect d = Report("VIN-ONE-TIME");
  v1::AssignDefectRequest assign;
  assign.set_id(d.id());
  assign.set_repair_place_id("RP-01");
  assign.set_mechanic_id("M-1");
  v1::AssignDefectResponse assigned;
  ASSERT_TRUE(stub_->AssignDefect(Context("foreman").get(), assign, &assigned).ok());
  v1::CancelDefectRequest cancel;
  cancel.set_id(d.id());
  cancel.set_reason("duplicate");
  v1::CancelDefectResponse cancelled;
  ASSERT_TRUE(stub_->CancelDefect(Context("foreman").get(), cancel, &cancelled).ok());

  v1::GetDefectHistoryRequest history;
  history.set_id(d.id());
  v1::GetDefectHistoryResponse entries;
  ASSERT_TRUE(stub_->GetDefectHistory(Context().get(), history, &entries).ok());
  ASSERT_EQ(entries.entries_size(), 3);  // reported, assigned, cancelled
  const auto same = [](const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
    return a.seconds() == b.seconds() && a.nanos() == b.nanos();
  };
  EXPECT_TRUE(same(assigned.defect().assignment().assign_time(), assigned.defect().update_time()));
  EXPECT_TRUE(same(entries.entries(1).change_time(), assigned.defect().update_time()))
      << entries.entries(1).DebugString() << assigned.defect().DebugString();
  EXPECT_TRUE(same(entries.entries(2).change_time(), cancelled.defect().close_time()))
      << entries.entries(2).DebugString() << cancelled.defect().DebugString();
  EXPECT_TRUE(same(cancelled.defect().update_time(), cancelled.defect().close_time()));
}

TEST_F(DefectServiceTest, RequestIdsAreComparedAndScopedThroughTheHandlers) {
  SeedRepairCrew({"RP-01", "RP-02"});
  v1::Defect d = Report("VIN-RID");
  v1::AssignDefectRequest assign;
  assign.set_id(d.id());
  assign.set_repair_place_id("RP-01");
  assign.set_mechanic_id("M-1");
  assign.set_request_id("rid-assign");
  v1::AssignDefectResponse assigned;
  grpc::Status status = stub_->AssignDefect(Context("foreman").get(), assign, &assigned);
  ASSERT_TRUE(status.ok()) << status.error_message();

  // The same assignment again, without a request_id: the defect as it is, no new
  // version, no history entry (outside testing, AD F8).
  v1::AssignDefectRequest same = assign;
  same.clear_request_id();
  v1::AssignDefectResponse unchanged;
  status = stub_->AssignDefect(Context("foreman").get(), same, &unchanged);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(unchanged.defect().etag(), assigned.defect().etag());
  EXPECT_EQ(unchanged.defect().assignment().assign_time().seconds(),
            assigned.defect().assignment().assign_time().seconds());
  v1::GetDefectHistoryRequest history;
  history.set_id(d.id());
  v1::GetDefectHistoryResponse entries;
  ASSERT_TRUE(stub_->GetDefectHistory(Context().get(), history, &entries).ok());
  EXPECT_EQ(entries.entries_size(), 2);  // reported, assigned

  v1::AssignDefectRequest other_place = assign;
  other_place.set_repair_place_id("RP-02");
  v1::AssignDefectResponse refused;
  status = stub_->AssignDefect(Context("foreman").get(), other_place, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  EXPECT_EQ(sdk::ErrorReason(sdk::FromGrpcStatus(status)), "REQUEST_ID_REUSED");

  v1::UpdateDefectRequest update;
  update.mutable_defect()->set_id(d.id());
  update.mutable_defect()->set_description("first");
  update.mutable_update_mask()->add_paths("description");
  update.set_etag(assigned.defect().etag());
  update.set_request_id("rid-update");
  v1::UpdateDefectResponse updated;
  ASSERT_TRUE(stub_->UpdateDefect(Context("foreman").get(), update, &updated).ok());
  const v1::UpdateDefectResponse first_update = updated;
  // Outside testing (telemetry): an etag no version ever had was ABORTED as if stale. It
  // is INVALID_ARGUMENT naming the field, for a defect that exists or not.
  for (const std::string& id : {d.id(), std::string("999999")}) {
    for (const char* malformed : {"abc", "3", "\"v3\"", "v03"}) {
      v1::UpdateDefectRequest bad = update;
      bad.mutable_defect()->set_id(id);
      bad.set_etag(malformed);
      bad.set_request_id("rid-bad-etag");
      EXPECT_THAT(FieldsOf(stub_->UpdateDefect(Context("foreman").get(), bad, &updated)),
                  ::testing::ElementsAre("etag"))
          << malformed;
      v1::AssignDefectRequest bad_assign = assign;
      bad_assign.set_id(id);
      bad_assign.set_etag(malformed);
      bad_assign.set_request_id("rid-bad-etag");
      EXPECT_THAT(FieldsOf(stub_->AssignDefect(Context("foreman").get(), bad_assign, &refused)),
                  ::testing::ElementsAre("etag"))
          << malformed;
    }
  }
  // Outside testing: a retry from a client that read the defect again, so sent its new
  // etag, was REQUEST_ID_REUSED. It is the same call: the first answer, byte for byte.
  v1::UpdateDefectRequest reread = update;
  ASSERT_NE(first_update.defect().etag(), update.etag());
  reread.set_etag(first_update.defect().etag());
  v1::UpdateDefectResponse replayed;
  ASSERT_TRUE(stub_->UpdateDefect(Context("foreman").get(), reread, &replayed).ok());
  EXPECT_EQ(replayed.SerializeAsString(), first_update.SerializeAsString());
  v1::UpdateDefectRequest other_text = update;
  other_text.mutable_defect()->set_description("second");
  status = stub_->UpdateDefect(Context("foreman").get(), other_text, &updated);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  EXPECT_EQ(sdk::ErrorReason(sdk::FromGrpcStatus(status)), "REQUEST_ID_REUSED");

  // StartRepair with AssignDefect's request_id is its own call; another mechanic than the
  // assigned one is refused, the assigned one (m1) starts.
  v1::StartRepairRequest start;
  start.set_id(d.id());
  start.set_request_id("rid-assign");
  v1::StartRepairResponse started;
  status = stub_->StartRepair(Context("m2", "mechanic").get(), start, &started);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(sdk::ErrorReason(sdk::FromGrpcStatus(status)), "NOT_ASSIGNED_MECHANIC");
  status = stub_->StartRepair(Context("m1", "mechanic").get(), start, &started);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(started.defect().status(), v1::DEFECT_STATUS_IN_REPAIR);

  // The assignment's retry answers as the first call did, though the defect moved on.
  v1::AssignDefectResponse retried;
  ASSERT_TRUE(stub_->AssignDefect(Context("foreman").get(), assign, &retried).ok());
  EXPECT_EQ(retried.SerializeAsString(), assigned.SerializeAsString());
  EXPECT_EQ(store_->GetDefect(std::stoll(d.id()))->status, DefectStatus::kInRepair);
  // Another foreman with the same request_id and payload makes a call of its own, which
  // the state machine now refuses.
  status = stub_->AssignDefect(Context("anna").get(), assign, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
}

// An upload being received, driven step by step by the test.
struct OpenUpload {
  std::unique_ptr<grpc::ClientContext> context;
  v1::UploadDefectPhotoResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadDefectPhotoRequest>> writer;

  bool Send(const std::string& chunk) {
    v1::UploadDefectPhotoRequest piece;
    piece.set_chunk(chunk);
    return writer->Write(piece);
  }
  grpc::Status Finish() {
    writer->WritesDone();
    return writer->Finish();
  }
};

// The first bytes of every JPEG file (ISO/IEC 10918-1): uploads are checked for them.
constexpr char kJpegSignature[] = "\xFF\xD8\xFF";
constexpr size_t kMiB = 1024 * 1024;

v1::PhotoUpload PhotoMetadata(const std::string& defect_id, const std::string& bytes) {
  v1::PhotoUpload metadata;
  metadata.set_defect_id(defect_id);
  metadata.set_content_type("image/jpeg");
  metadata.set_size_bytes(static_cast<int64_t>(bytes.size()));
  metadata.set_sha256(common::Sha256Hex(bytes));
  metadata.set_request_id(common::NewUuidV4());
  return metadata;
}

// Outside testing: a 2 MiB upload that was no JPEG was received to its end (20 s when sent
// slowly, and its memory) before it was refused. It is refused at its first chunk: the
// status names the signature, not the bytes that never came.
// Outside testing (sweep 57): a change's id hid its etag's fault, both the method's own
// fields; a download's defect_id hid its photo_id's.
TEST_F(DefectServiceTest, AChangeNamesEveryWrongFieldAtOnce) {
  v1::FinishRepairRequest finish;
  finish.set_id("abc");
  finish.set_etag("v03");
  finish.set_work_done("replaced the seal");
  finish.set_labor_minutes(-5);
  v1::FinishRepairResponse finished;
  EXPECT_THAT(FieldsOf(stub_->FinishRepair(Context("m1", "mechanic").get(), finish, &finished)),
              ::testing::ElementsAre("id", "etag", "labor_minutes"));
  v1::DownloadDefectPhotoRequest download;
  download.set_defect_id("x");
  download.set_photo_id("y");
  auto context = Context();
  auto reader = stub_->DownloadDefectPhoto(context.get(), download);
  v1::DownloadDefectPhotoResponse chunk;
  while (reader->Read(&chunk)) {
  }
  EXPECT_THAT(FieldsOf(reader->Finish()), ::testing::ElementsAre("defect_id", "photo_id"));
  // Outside testing (sweep 58): a bad identity hid an unknown crew.
  v1::CreateMechanicRequest mechanic;
  mechanic.mutable_mechanic()->set_id("M-9");
  mechanic.mutable_mechanic()->set_display_name("Nine");
  mechanic.mutable_mechanic()->set_crew_id("NOCREW");
  mechanic.mutable_mechanic()->set_identity("not a spiffe id");
  v1::CreateMechanicResponse created;
  EXPECT_THAT(FieldsOf(stub_->CreateMechanic(Context("admin").get(), mechanic, &created)),
              ::testing::ElementsAre("mechanic.identity", "mechanic.crew_id"));
  v1::GetDefectHistoryRequest history;
  history.set_id("abc");
  history.set_page_size(5000);
  v1::GetDefectHistoryResponse entries;
  EXPECT_THAT(FieldsOf(stub_->GetDefectHistory(Context().get(), history, &entries)),
              ::testing::ElementsAre("id", "page_size"));
  v1::WatchDefectsRequest watch;
  watch.set_max_changes_per_response(1001);
  watch.set_cursor("not-a-cursor");
  auto watch_context = Context();
  auto watcher = stub_->WatchDefects(watch_context.get(), watch);
  v1::WatchDefectsResponse change;
  while (watcher->Read(&change)) {
  }
  EXPECT_THAT(FieldsOf(watcher->Finish()),
              ::testing::ElementsAre("max_changes_per_response", "cursor"));
}

TEST_F(DefectServiceTest, AnUploadOfAnotherTypeIsRefusedAtItsFirstChunk) {
  v1::Defect d = Report("VIN-SIGNATURE");
  const std::string pdf = "%PDF-1.7" + std::string(2 * kMiB - 8, 'x');
  OpenUpload upload;
  upload.context = Context();
  upload.writer = stub_->UploadDefectPhoto(upload.context.get(), &upload.response);
  v1::UploadDefectPhotoRequest first;
  *first.mutable_metadata() = PhotoMetadata(d.id(), pdf);
  ASSERT_TRUE(upload.writer->Write(first));
  ASSERT_TRUE(upload.Send(pdf.substr(0, 64 * 1024)));
  const grpc::Status refused = upload.Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("do not begin with its file signature"));
}

bool EventuallyEquals(const runtime::MemoryBudget& budget, int64_t bytes) {
  return Eventually([&] { return budget.used() == bytes; });
}

// The issue's example: 50 streams that send only their metadata (declaring the largest
// size) used to reserve that size each; now they hold nothing, and a whole photo of the
// budget's size still fits beside them.
TEST_F(DefectServiceTest, MetadataOnlyUploadsHoldNoMemory) {
  v1::Defect d = Report("VIN-BUDGET-META");
  std::string largest(static_cast<size_t>(defect_config_.photo_max_bytes), 'j');
  largest.replace(0, 3, kJpegSignature);
  std::vector<std::unique_ptr<OpenUpload>> idle;
  for (int i = 0; i < 50; ++i) {
    auto upload = std::make_unique<OpenUpload>();
    upload->context = Context();
    upload->writer = stub_->UploadDefectPhoto(upload->context.get(), &upload->response);
    v1::UploadDefectPhotoRequest first;
    *first.mutable_metadata() = PhotoMetadata(d.id(), largest);
    ASSERT_TRUE(upload->writer->Write(first));
    idle.push_back(std::move(upload));
  }
  v1::UploadDefectPhotoResponse uploaded;
  grpc::Status status = Upload(PhotoMetadata(d.id(), largest), largest, 1024 * 1024, &uploaded);
  EXPECT_TRUE(status.ok()) << status.error_message();
  for (auto& upload : idle) {
    upload->context->TryCancel();
    upload->writer->Finish().IgnoreError();
  }
  EXPECT_TRUE(EventuallyEquals(upload_memory_, 0));
}

// Bytes received are charged to the process-wide budget; an upload that would go beyond
// it is RESOURCE_EXHAUSTED, and every share comes back when its stream ends, whether it
// finished, was refused or was cancelled.
TEST_F(DefectServiceTest, UploadsBeyondTheMemoryBudgetAreResourceExhausted) {
  v1::Defect d = Report("VIN-BUDGET");
  std::vector<std::string> photos;
  for (char c : {'a', 'b', 'c', 'd'}) {
    photos.emplace_back(kMiB, c).replace(0, 3, kJpegSignature);
  }

  // Three uploads of 1 MiB each hold the whole 3 MiB budget once their bytes arrived.
  std::vector<std::unique_ptr<OpenUpload>> open;
  for (int i = 0; i < 3; ++i) {
    auto upload = std::make_unique<OpenUpload>();
    upload->context = Context();
    upload->writer = stub_->UploadDefectPhoto(upload->context.get(), &upload->response);
    v1::UploadDefectPhotoRequest first;
    *first.mutable_metadata() = PhotoMetadata(d.id(), photos[i]);
    ASSERT_TRUE(upload->writer->Write(first));
    ASSERT_TRUE(upload->Send(photos[i]));
    open.push_back(std::move(upload));
  }
  ASSERT_TRUE(EventuallyEquals(upload_memory_, 3 * kMiB)) << upload_memory_.used();

  // A fourth does not fit.
  v1::UploadDefectPhotoResponse response;
  grpc::Status refused = Upload(PhotoMetadata(d.id(), photos[3]), photos[3], kMiB, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_EQ(upload_memory_.used(), 3 * kMiB);

  // A cancelled stream returns its share...
  open[0]->context->TryCancel();
  EXPECT_FALSE(open[0]->writer->Finish().ok());
  EXPECT_TRUE(EventuallyEquals(upload_memory_, 2 * kMiB)) << upload_memory_.used();
  // ...so do finished ones.
  for (int i = 1; i < 3; ++i) {
    grpc::Status status = open[i]->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_TRUE(EventuallyEquals(upload_memory_, 0)) << upload_memory_.used();

  // And the refused photo now goes through.
  grpc::Status retried = Upload(PhotoMetadata(d.id(), photos[3]), photos[3], kMiB, &response);
  EXPECT_TRUE(retried.ok()) << retried.error_message();
  EXPECT_EQ(upload_memory_.used(), 0);
}

// The download request of a photo of `size` bytes (a JPEG), uploaded to a new defect of
// `vin`; its bytes in `*bytes`. An empty photo_id when the upload failed.
v1::DownloadDefectPhotoRequest DefectServiceTest::DownloadOfNewPhoto(const std::string& vin,
                                                                     size_t size,
                                                                     std::string* bytes) {
  v1::Defect d = Report(vin);
  bytes->assign(size, 'k');
  bytes->replace(0, 3, kJpegSignature);
  v1::UploadDefectPhotoResponse uploaded;
  grpc::Status status = Upload(PhotoMetadata(d.id(), *bytes), *bytes, 1024 * 1024, &uploaded);
  EXPECT_TRUE(status.ok()) << status.error_message();
  v1::DownloadDefectPhotoRequest download;
  download.set_defect_id(d.id());
  download.set_photo_id(uploaded.photo().id());
  return download;
}

// Outside testing: downloads whose client read nothing held a whole photo each, without
// limit (300 of a 10 MiB photo: 2.8 GB). A download holds the photo's bytes, charged to
// the process-wide download budget until its stream ends; one beyond it is
// RESOURCE_EXHAUSTED, before its bytes are read.
TEST_F(DefectServiceTest, DownloadsBeyondTheMemoryBudgetAreResourceExhausted) {
  std::string bytes;
  v1::DownloadDefectPhotoRequest download =
      DownloadOfNewPhoto("VIN-DOWNLOAD-BUDGET", 2 * kMiB, &bytes);
  ASSERT_FALSE(download.photo_id().empty());

  // A client that reads the metadata and stops holds the photo's 2 MiB.
  auto slow_reader = SlowReader();
  auto stalled_context = Context();
  auto stalled = slow_reader->DownloadDefectPhoto(stalled_context.get(), download);
  v1::DownloadDefectPhotoResponse message;
  ASSERT_TRUE(stalled->Read(&message));
  ASSERT_TRUE(message.has_photo());
  EXPECT_EQ(download_memory_.used(), static_cast<int64_t>(2 * kMiB));

  // A second does not fit beside it.
  auto refused_context = Context();
  auto refused = stub_->DownloadDefectPhoto(refused_context.get(), download);
  while (refused->Read(&message)) {
  }
  grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();

  // The stalled one's share comes back when it is cancelled, and the photo downloads whole.
  stalled_context->TryCancel();
  while (stalled->Read(&message)) {
  }
  EXPECT_FALSE(stalled->Finish().ok());
  EXPECT_TRUE(EventuallyEquals(download_memory_, 0)) << download_memory_.used();
  auto whole_context = Context();
  auto whole = stub_->DownloadDefectPhoto(whole_context.get(), download);
  std::string received;
  while (whole->Read(&message)) received += message.chunk();
  ASSERT_TRUE(whole->Finish().ok());
  EXPECT_EQ(received, bytes);
  EXPECT_TRUE(EventuallyEquals(download_memory_, 0)) << download_memory_.used();
}

// Outside testing: 30 uploads that stopped sending, and 25 downloads that stopped reading,
// held the whole budgets for as long as their client stayed connected, and every other
// transfer was RESOURCE_EXHAUSTED meanwhile. One that moves no chunk for
// transfer-idle-seconds is ended, and its share comes back.
class DefectServiceIdleTransferTest : public DefectServiceTest {
 protected:
  absl::Duration TransferIdleTimeout() const override { return absl::Milliseconds(500); }
};

TEST_F(DefectServiceIdleTransferTest, AnUploadThatStopsSendingIsEndedAndGivesItsMemoryBack) {
  v1::Defect d = Report("VIN-IDLE-UPLOAD");
  std::string photo(2 * kMiB, 'i');
  photo.replace(0, 3, kJpegSignature);
  OpenUpload stalled;
  stalled.context = Context();
  stalled.writer = stub_->UploadDefectPhoto(stalled.context.get(), &stalled.response);
  v1::UploadDefectPhotoRequest first;
  *first.mutable_metadata() = PhotoMetadata(d.id(), photo);
  ASSERT_TRUE(stalled.writer->Write(first));
  ASSERT_TRUE(stalled.Send(photo.substr(0, kMiB)));  // half, then nothing
  const grpc::Status ended = stalled.writer->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << ended.error_message();
  EXPECT_THAT(ended.error_message(), HasSubstr("the client sent nothing for"));
  EXPECT_TRUE(EventuallyEquals(upload_memory_, 0)) << upload_memory_.used();
  // One that keeps sending is not ended, however long it takes.
  v1::UploadDefectPhotoResponse uploaded;
  grpc::Status whole = Upload(PhotoMetadata(d.id(), photo), photo, kMiB, &uploaded);
  EXPECT_TRUE(whole.ok()) << whole.error_message();
}

TEST_F(DefectServiceIdleTransferTest, ADownloadThatStopsReadingIsEndedAndGivesItsMemoryBack) {
  std::string bytes;
  v1::DownloadDefectPhotoRequest download =
      DownloadOfNewPhoto("VIN-IDLE-DOWNLOAD", 2 * kMiB, &bytes);
  ASSERT_FALSE(download.photo_id().empty());
  auto slow_reader = SlowReader();
  auto context = Context();
  auto stalled = slow_reader->DownloadDefectPhoto(context.get(), download);
  v1::DownloadDefectPhotoResponse message;
  ASSERT_TRUE(stalled->Read(&message));
  ASSERT_TRUE(message.has_photo());
  EXPECT_TRUE(EventuallyEquals(download_memory_, 0)) << download_memory_.used();
  // Its pending write is cancelled at the transport (the server's log and audit say why).
  while (stalled->Read(&message)) {
  }
  const grpc::Status ended = stalled->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::CANCELLED) << ended.error_message();
}

// A photo larger than the whole download budget (stored under a larger photo-max-bytes)
// can never be sent: FAILED_PRECONDITION saying so, not RESOURCE_EXHAUSTED "retry later".
TEST_F(DefectServiceTest, APhotoLargerThanTheDownloadBudgetIsFailedPrecondition) {
  std::string bytes;
  v1::DownloadDefectPhotoRequest download =
      DownloadOfNewPhoto("VIN-DOWNLOAD-LARGE", 2 * kMiB, &bytes);
  ASSERT_FALSE(download.photo_id().empty());
  // The same store served with a budget of 1 MiB.
  runtime::MemoryBudget small_budget(kMiB);
  runtime::ServiceDeps small_deps = deps_;
  small_deps.download_memory = &small_budget;
  DefectServiceImpl small(small_deps, store_);
  runtime::testing::InProcessServer small_server(&small);
  ASSERT_TRUE(small_server.ok());
  auto context = Context();
  auto reader = v1::DefectService::NewStub(small_server.channel())
                    ->DownloadDefectPhoto(context.get(), download);
  v1::DownloadDefectPhotoResponse message;
  EXPECT_FALSE(reader->Read(&message));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("download-memory-bytes 1048576"));
  EXPECT_EQ(small_budget.used(), 0);
}

// Outside testing: 4,200 photos of one defect made it too large for any answer or
// event (Get, every List page holding it, watches) and a cancel commit but fail. A
// defect holds at most kMaxPhotosPerDefect; the next upload is refused before its bytes.
TEST_F(DefectServiceTest, ADefectHoldsAtMostItsPhotoLimit) {
  v1::Defect d = Report("VIN-PHOTO-LIMIT");
  const std::string bytes = absl::StrCat(kJpegSignature, "tiny");
  v1::UploadDefectPhotoResponse uploaded;
  std::vector<v1::PhotoUpload> sent;
  for (int i = 0; i < kMaxPhotosPerDefect; ++i) {
    sent.push_back(PhotoMetadata(d.id(), bytes));
    ASSERT_TRUE(Upload(sent.back(), bytes, 64, &uploaded).ok()) << i;
  }
  grpc::Status refused = Upload(PhotoMetadata(d.id(), bytes), bytes, 64, &uploaded);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("photos, the most a defect holds"));
  // Its metadata without its bytes is no retry either: the defect's refusal, not the size
  // (outside testing, BJ L1: a CLOSED defect's upload without bytes was told
  // "metadata.size_bytes: declared …, received 0").
  refused = Upload(PhotoMetadata(d.id(), bytes), "", 64, &uploaded);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_EQ(sdk::ErrorReason(sdk::FromGrpcStatus(refused)), "PHOTO_LIMIT_REACHED");
  // A retry of a stored upload is still answered with its photo (outside testing: it
  // was refused PHOTO_LIMIT_REACHED once the defect was full).
  for (int i : {kMaxPhotosPerDefect - 1, 0}) {
    grpc::Status retried = Upload(sent[static_cast<size_t>(i)], bytes, 64, &uploaded);
    ASSERT_TRUE(retried.ok()) << retried.error_message();
    EXPECT_EQ(uploaded.photo().id(), absl::StrCat(i + 1));
  }
  // Other bytes for a full defect are refused before they are sent.
  const std::string other = absl::StrCat(kJpegSignature, "other");
  EXPECT_EQ(Upload(PhotoMetadata(d.id(), other), other, 64, &uploaded).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // A stored upload's request_id with other bytes is that request_id reused, full or not
  // (outside testing: it was PHOTO_LIMIT_REACHED on a full defect).
  v1::PhotoUpload reused = PhotoMetadata(d.id(), other);
  reused.set_request_id(sent[5].request_id());
  grpc::Status status = Upload(reused, other, 64, &uploaded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  EXPECT_EQ(sdk::ErrorReason(sdk::FromGrpcStatus(status)), "REQUEST_ID_REUSED");
  v1::GetDefectRequest get;
  get.set_id(d.id());
  v1::GetDefectResponse got;
  ASSERT_TRUE(stub_->GetDefect(Context().get(), get, &got).ok());
  EXPECT_EQ(got.defect().photos_size(), kMaxPhotosPerDefect);
}

// Outside testing: 160 edits of a 4,000-emoji description made a history no call could
// read (RESOURCE_EXHAUSTED, no paging). It is answered in pages, each within the send
// limit, every entry once and in order; page_size bounds a page; tokens are checked.
TEST_F(DefectServiceTest, AHistoryTooLargeForOneAnswerComesInPages) {
  SetMaxSendBytes(64 * 1024);
  v1::Defect d = Report("VIN-LONG-HISTORY");
  std::string etag = d.etag();
  for (int i = 0; i < 12; ++i) {
    v1::UpdateDefectRequest update;
    update.mutable_defect()->set_id(d.id());
    update.mutable_defect()->set_description(std::string(4000, static_cast<char>('a' + i)));
    update.mutable_update_mask()->add_paths("description");
    update.set_etag(etag);
    v1::UpdateDefectResponse updated;
    ASSERT_TRUE(stub_->UpdateDefect(Context("foreman").get(), update, &updated).ok());
    etag = updated.defect().etag();
  }
  auto read = [&](int page_size) {
    std::vector<std::string> types;
    int pages = 0;
    v1::GetDefectHistoryRequest request;
    request.set_id(d.id());
    request.set_page_size(page_size);
    do {
      v1::GetDefectHistoryResponse page;
      grpc::Status status = stub_->GetDefectHistory(Context().get(), request, &page);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      EXPECT_LE(page.ByteSizeLong(), 64u * 1024);
      if (page_size > 0) {
        EXPECT_LE(page.entries_size(), page_size);
      }
      for (const v1::HistoryEntry& e : page.entries()) {
        types.push_back(v1::ChangeType_Name(e.change_type()));
      }
      request.set_page_token(page.next_page_token());
      ++pages;
    } while (!request.page_token().empty() && pages < 50);
    return std::make_pair(types, pages);
  };
  const auto [all, pages] = read(0);
  ASSERT_EQ(all.size(), 13u);  // reported, then 12 updates
  EXPECT_EQ(all.front(), "CHANGE_TYPE_REPORTED");
  EXPECT_GE(pages, 2);
  EXPECT_EQ(read(5).first, all);
  // Another defect's token, and no token at all, are refused naming page_token.
  v1::GetDefectHistoryRequest first;
  first.set_id(d.id());
  first.set_page_size(1);
  v1::GetDefectHistoryResponse page;
  ASSERT_TRUE(stub_->GetDefectHistory(Context().get(), first, &page).ok());
  v1::GetDefectHistoryRequest other;
  other.set_id(Report("VIN-OTHER-HISTORY").id());
  other.set_page_token(page.next_page_token());
  EXPECT_THAT(FieldsOf(stub_->GetDefectHistory(Context().get(), other, &page)),
              ::testing::ElementsAre("page_token"));
  other.set_page_token("garbage");
  EXPECT_THAT(FieldsOf(stub_->GetDefectHistory(Context().get(), other, &page)),
              ::testing::ElementsAre("page_token"));
  other.set_page_token("");
  other.set_page_size(1001);
  // Outside testing: the refusal said "0 means all in one answer"; 0 is 100 here.
  grpc::Status too_large = stub_->GetDefectHistory(Context().get(), other, &page);
  EXPECT_THAT(FieldsOf(too_large), ::testing::ElementsAre("page_size"));
  EXPECT_THAT(too_large.error_message(), ::testing::HasSubstr("must be 0-1000 (0 means 100)"));
}

// Outside testing: thousands of mechanics (or crews, repair places, categories) made a
// catalog no call could read (RESOURCE_EXHAUSTED RESPONSE_TOO_LARGE, no paging). They
// come in pages within the send limit, by id in byte order; a page token belongs to its
// filter; a mechanic added before the cursor between pages moves no other.
TEST_F(DefectServiceTest, ACatalogTooLargeForOneAnswerComesInPages) {
  SetMaxSendBytes(8 * 1024);
  for (const char* crew : {"CREW-A", "CREW-B"}) {
    ASSERT_TRUE(store_->CreateCrew({crew, "Crew", "PAINT"}, Ops("CreateCrew"), nullptr).ok());
  }
  std::string name;
  for (int c = 0; c < 128; ++c) name += "\u00e9";  // 2 bytes each
  for (int i = 0; i < 60; ++i) {
    const std::string id = absl::StrCat("M-", 100 + i);
    ASSERT_TRUE(store_
                    ->CreateMechanic({id, name, i % 2 == 0 ? "CREW-A" : "CREW-B",
                                      absl::StrCat("spiffe://test/user/m", i)},
                                     Ops("CreateMechanic"), nullptr)
                    .ok());
  }
  v1::ListMechanicsRequest request;
  // Outside testing: an unknown crew answered an empty list; CreateMechanic refuses it.
  request.set_crew_id("NOPE-CREW");
  v1::ListMechanicsResponse unknown;
  grpc::Status refused = stub_->ListMechanics(Context().get(), request, &unknown);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(refused), ::testing::ElementsAre("crew_id"));
  // The audit: the unknown crew and a page field's fault, in one answer.
  request.set_page_token("junk");
  refused = stub_->ListMechanics(Context().get(), request, &unknown);
  EXPECT_THAT(FieldsOf(refused), ::testing::UnorderedElementsAre("crew_id", "page_token"));
  request.clear_page_token();
  request.set_crew_id("CREW-A");
  std::vector<std::string> ids;
  int pages = 0;
  do {
    v1::ListMechanicsResponse page;
    grpc::Status status = stub_->ListMechanics(Context().get(), request, &page);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_LE(page.ByteSizeLong(), 8u * 1024);
    for (const v1::Mechanic& m : page.mechanics()) {
      EXPECT_EQ(m.crew_id(), "CREW-A");
      ids.push_back(m.id());
    }
    if (pages == 0) {
      // Before the cursor: not on a later page, and no mechanic is seen twice.
      ASSERT_TRUE(store_
                      ->CreateMechanic({"M-000", "Early", "CREW-A", "spiffe://test/user/early"},
                                       Ops("CreateMechanic"), nullptr)
                      .ok());
      // The token is this filter's: another crew's request refuses it.
      v1::ListMechanicsRequest other;
      other.set_crew_id("CREW-B");
      other.set_page_token(page.next_page_token());
      v1::ListMechanicsResponse ignored;
      EXPECT_THAT(FieldsOf(stub_->ListMechanics(Context().get(), other, &ignored)),
                  ::testing::ElementsAre("page_token"));
    }
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 100);
  EXPECT_GE(pages, 2);
  ASSERT_EQ(ids.size(), 30u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 30u);
}

// A numbered page is read a chunk at a time (key_pages.h): a page of 1,000 over 150
// entries crosses chunks and still holds every entry once, in order; page_size 0 is 100.
TEST_F(DefectServiceTest, AHistoryPageReadInChunksHoldsEveryEntryOnce) {
  v1::Defect d = Report("VIN-MANY-EDITS");
  std::string etag = d.etag();
  for (int i = 0; i < 149; ++i) {
    v1::UpdateDefectRequest update;
    update.mutable_defect()->set_id(d.id());
    update.mutable_defect()->set_description(absl::StrCat("edit ", i));
    update.mutable_update_mask()->add_paths("description");
    update.set_etag(etag);
    v1::UpdateDefectResponse updated;
    ASSERT_TRUE(stub_->UpdateDefect(Context("foreman").get(), update, &updated).ok()) << i;
    etag = updated.defect().etag();
  }
  v1::GetDefectHistoryRequest request;
  request.set_id(d.id());
  request.set_page_size(1000);
  v1::GetDefectHistoryResponse page;
  ASSERT_TRUE(stub_->GetDefectHistory(Context().get(), request, &page).ok());
  ASSERT_EQ(page.entries_size(), 150);
  for (int i = 0; i < page.entries_size(); ++i) {
    EXPECT_EQ(page.entries(i).sequence(), i + 1);
  }
  EXPECT_TRUE(page.next_page_token().empty());
  request.set_page_size(0);
  ASSERT_TRUE(stub_->GetDefectHistory(Context().get(), request, &page).ok());
  EXPECT_EQ(page.entries_size(), 100);
  EXPECT_FALSE(page.next_page_token().empty());
}

// A page ends early rather than pass the server's send limit (AIP-158 allows a short
// page). Outside testing: 300 defects of 4,000-emoji descriptions were RESOURCE_EXHAUSTED
// at page_size 1,000, and no page_size in the documented range could avoid it.
TEST_F(DefectServiceTest, APageEndsEarlyRatherThanPassTheSendLimit) {
  SetMaxSendBytes(64 * 1024);
  std::set<std::string> created;
  for (int i = 0; i < 30; ++i) {
    v1::CreateDefectRequest request;
    v1::Defect* d = request.mutable_defect();
    d->set_vin(absl::StrCat("VIN-LONG-", i));
    d->set_model("SEDAN");
    d->set_zone("TRIM");
    d->set_station("T-01");
    d->set_category_code("PAINT-SCRATCH");
    d->set_shift("2026-11-21/A");
    d->set_description(std::string(4000, 'x'));
    request.set_request_id(common::NewUuidV4());
    v1::CreateDefectResponse response;
    ASSERT_TRUE(stub_->CreateDefect(Context().get(), request, &response).ok());
    created.insert(response.defect().id());
  }
  std::set<std::string> listed;
  int pages = 0;
  v1::ListDefectsRequest request;
  request.set_zone("TRIM");
  request.set_page_size(1000);
  do {
    v1::ListDefectsResponse page;
    grpc::Status status = stub_->ListDefects(Context().get(), request, &page);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_LE(page.ByteSizeLong(), 64u * 1024);
    for (const v1::Defect& d : page.defects()) EXPECT_TRUE(listed.insert(d.id()).second);
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 10);
  EXPECT_EQ(listed, created);
  EXPECT_GE(pages, 2);
}

// A client stream has no single request to audit: the handler describes the upload.
TEST_F(DefectServiceTest, PhotoUploadDescribesItselfForTheAudit) {
  constexpr char kUpload[] = "plantmesh.defect.v1.DefectService.UploadDefectPhoto";
  v1::Defect d = Report("VIN-AUDIT");
  const std::string bytes = absl::StrCat(kJpegSignature, "JPEG-BYTES-0123456789");
  v1::PhotoUpload metadata;
  metadata.set_defect_id(d.id());
  metadata.set_content_type("image/jpeg");
  metadata.set_size_bytes(static_cast<int64_t>(bytes.size()));
  metadata.set_sha256(common::Sha256Hex(bytes));
  metadata.set_file_name("door.jpg");
  metadata.set_request_id("upload-audit-1");
  v1::UploadDefectPhotoResponse uploaded;
  grpc::Status status = Upload(metadata, bytes, 8, &uploaded);
  ASSERT_TRUE(status.ok()) << status.error_message();

  const std::string detail = policy_.AuditDetailOf(kUpload);
  EXPECT_THAT(detail, HasSubstr(absl::StrCat(R"("defect_id":")", d.id(), R"(")")));
  EXPECT_THAT(detail, HasSubstr(R"("content_type":"image/jpeg")"));
  EXPECT_THAT(detail, HasSubstr(absl::StrCat(R"("size_bytes":")", bytes.size(), R"(")")));
  EXPECT_THAT(detail, HasSubstr(absl::StrCat(R"("sha256":")", common::Sha256Hex(bytes))));
  EXPECT_THAT(detail, HasSubstr(R"("file_name":"door.jpg")"));
  EXPECT_THAT(detail, HasSubstr(R"("request_id":"upload-audit-1")"));
  EXPECT_THAT(detail, ::testing::Not(HasSubstr("JPEG-BYTES")));

  // A refused upload is described too: the audit says what was attempted.
  metadata.set_sha256(std::string(64, '0'));
  metadata.set_request_id("upload-audit-2");
  status = Upload(metadata, bytes, 8, &uploaded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(policy_.AuditDetailOf(kUpload), HasSubstr(R"("request_id":"upload-audit-2")"));
}

TEST_F(DefectServiceTest, PhotoRoundTripInChunks) {
  v1::Defect d = Report("VIN-PHOTO");
  std::string bytes(2 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31 % 251);
  bytes.replace(0, 3, kJpegSignature);
  v1::PhotoUpload metadata;
  metadata.set_defect_id(d.id());
  metadata.set_content_type("image/jpeg");
  metadata.set_size_bytes(static_cast<int64_t>(bytes.size()));
  metadata.set_sha256(common::Sha256Hex(bytes));
  metadata.set_file_name("door.jpg");
  metadata.set_request_id("upload-1");
  v1::UploadDefectPhotoResponse uploaded;
  grpc::Status status = Upload(metadata, bytes, 1024 * 1024, &uploaded);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(uploaded.photo().id(), "1");
  EXPECT_EQ(uploaded.photo().uploaded_by(), "spiffe://test/user/op");
  // A retry with the same request id stores nothing new.
  v1::UploadDefectPhotoResponse retried;
  ASSERT_TRUE(Upload(metadata, bytes, 1024 * 1024, &retried).ok());
  EXPECT_EQ(retried.photo().id(), "1");

  v1::DownloadDefectPhotoRequest download;
  download.set_defect_id(d.id());
  download.set_photo_id("1");
  auto context = Context();
  auto reader = stub_->DownloadDefectPhoto(context.get(), download);
  v1::DownloadDefectPhotoResponse message;
  ASSERT_TRUE(reader->Read(&message));
  ASSERT_TRUE(message.has_photo());
  EXPECT_EQ(message.photo().sha256(), common::Sha256Hex(bytes));
  std::string received;
  int chunks = 0;
  while (reader->Read(&message)) {
    ASSERT_TRUE(message.has_chunk());
    EXPECT_LE(message.chunk().size(), 64u * 1024);
    received += message.chunk();
    ++chunks;
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(received, bytes);
  EXPECT_EQ(chunks, static_cast<int>((bytes.size() + 65535) / 65536));

  v1::GetDefectRequest get;
  get.set_id(d.id());
  v1::GetDefectResponse got;
  ASSERT_TRUE(stub_->GetDefect(Context().get(), get, &got).ok());
  EXPECT_EQ(got.defect().photos_size(), 1);
}

TEST_F(DefectServiceTest, PhotoUploadRules) {
  v1::Defect d = Report("VIN-PHOTO-RULES");
  std::string bytes(1000, 'x');
  bytes.replace(0, 8, "\x89PNG\r\n\x1A\n");
  v1::PhotoUpload good;
  good.set_defect_id(d.id());
  good.set_content_type("image/png");
  good.set_size_bytes(1000);
  good.set_sha256(common::Sha256Hex(bytes));
  v1::UploadDefectPhotoResponse response;

  v1::PhotoUpload wrong_sha = good;
  wrong_sha.set_sha256(common::Sha256Hex("something else"));
  grpc::Status status = Upload(wrong_sha, bytes, 300, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(status), ::testing::ElementsAre("metadata.sha256"));

  v1::PhotoUpload too_few = good;
  too_few.set_size_bytes(999);
  status = Upload(too_few, bytes, 300, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("more bytes"));

  v1::PhotoUpload too_many = good;
  too_many.set_size_bytes(1001);
  EXPECT_THAT(FieldsOf(Upload(too_many, bytes, 300, &response)),
              ::testing::ElementsAre("metadata.size_bytes"));

  v1::PhotoUpload over_limit = good;
  over_limit.set_size_bytes(defect_config_.photo_max_bytes + 1);
  over_limit.set_content_type("image/gif");
  std::vector<std::string> fields = FieldsOf(Upload(over_limit, bytes, 300, &response));
  EXPECT_THAT(fields,
              ::testing::UnorderedElementsAre("metadata.size_bytes", "metadata.content_type"));

  // PNG bytes declared as JPEG: refused once they are all there, nothing stored.
  v1::PhotoUpload mislabelled = good;
  mislabelled.set_content_type("image/jpeg");
  status = Upload(mislabelled, bytes, 300, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(status), ::testing::ElementsAre("chunk"));
  EXPECT_THAT(status.error_message(), HasSubstr("not image/jpeg"));

  v1::PhotoUpload missing = good;
  missing.set_defect_id("424242");
  EXPECT_EQ(Upload(missing, bytes, 300, &response).error_code(), grpc::StatusCode::NOT_FOUND);

  // A chunk first is refused.
  auto context = Context();
  auto writer = stub_->UploadDefectPhoto(context.get(), &response);
  v1::UploadDefectPhotoRequest chunk;
  chunk.set_chunk("abc");
  writer->Write(chunk);
  writer->WritesDone();
  status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(status), ::testing::ElementsAre("metadata"));

  // Outside testing: a second metadata, or an empty message, was reported on `chunk`.
  auto after_metadata = [&](const v1::UploadDefectPhotoRequest& second) {
    auto call = Context();
    auto stream = stub_->UploadDefectPhoto(call.get(), &response);
    v1::UploadDefectPhotoRequest first;
    *first.mutable_metadata() = good;
    stream->Write(first);
    stream->Write(second);
    stream->WritesDone();
    return stream->Finish();
  };
  v1::UploadDefectPhotoRequest again;
  *again.mutable_metadata() = good;
  status = after_metadata(again);
  EXPECT_THAT(FieldsOf(status), ::testing::ElementsAre("metadata"));
  EXPECT_THAT(status.error_message(), HasSubstr("sent twice"));
  status = after_metadata(v1::UploadDefectPhotoRequest());
  EXPECT_THAT(FieldsOf(status), ::testing::ElementsAre("chunk"));
  EXPECT_THAT(status.error_message(), HasSubstr("empty message"));

  v1::GetDefectRequest get;
  get.set_id(d.id());
  v1::GetDefectResponse got;
  ASSERT_TRUE(stub_->GetDefect(Context().get(), get, &got).ok());
  EXPECT_EQ(got.defect().photos_size(), 0);
  EXPECT_EQ(got.defect().etag(), d.etag());
}

TEST_F(DefectServiceTest, CreateNamesUnknownCategoryAndOutputOnlyFields) {
  v1::CreateDefectRequest request;
  request.mutable_defect()->set_vin("VIN-1");
  request.mutable_defect()->set_model("SEDAN");
  request.mutable_defect()->set_zone("PAINT");
  request.mutable_defect()->set_station("P-07");
  request.mutable_defect()->set_shift("A");
  request.mutable_defect()->set_category_code("NO-SUCH");
  request.mutable_defect()->set_status(v1::DEFECT_STATUS_CLOSED);
  v1::CreateDefectResponse response;
  grpc::Status status = stub_->CreateDefect(Context().get(), request, &response);
  // The contract's rules first (the runtime, for every service), then the domain's.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(status), ::testing::ElementsAre("defect.status"));
  EXPECT_THAT(status.error_message(), HasSubstr("output only: must be empty on create"));
  request.mutable_defect()->clear_status();
  status = stub_->CreateDefect(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(status), ::testing::ElementsAre("defect.category_code"));
  EXPECT_THAT(status.error_message(), HasSubstr("unknown category 'NO-SUCH'"));

  // A repair place's state and current defect are the server's too.
  v1::CreateRepairPlaceRequest place;
  place.mutable_repair_place()->set_id("RP-09");
  place.mutable_repair_place()->set_display_name("Bay 9");
  place.mutable_repair_place()->set_zone("PAINT");
  place.mutable_repair_place()->set_state(v1::REPAIR_PLACE_STATE_BUSY);
  place.mutable_repair_place()->set_current_defect_id("12");
  v1::CreateRepairPlaceResponse created_place;
  EXPECT_THAT(FieldsOf(stub_->CreateRepairPlace(Context().get(), place, &created_place)),
              ::testing::ElementsAre("repair_place.state", "repair_place.current_defect_id"));

  // Same request id, different report: refused, the first stands.
  request.mutable_defect()->set_category_code("PAINT-SCRATCH");
  request.mutable_defect()->clear_status();
  request.set_request_id("same-id");
  ASSERT_TRUE(stub_->CreateDefect(Context().get(), request, &response).ok());
  EXPECT_EQ(response.defect().severity(), v1::SEVERITY_MINOR);  // the category's default
  request.mutable_defect()->set_description("another");
  EXPECT_EQ(stub_->CreateDefect(Context().get(), request, &response).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(DefectServiceTest, ListWithOutOfRangeTimestampsIsInvalidArgument) {
  v1::ListDefectsRequest request;
  request.mutable_create_time_from()->set_seconds(-62135596801);  // year 0
  request.mutable_create_time_to()->set_seconds(1700000000);
  request.mutable_create_time_to()->set_nanos(-1);
  v1::ListDefectsResponse response;
  grpc::Status status = stub_->ListDefects(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(FieldsOf(status),
              ::testing::UnorderedElementsAre("create_time_from", "create_time_to"));

  request.Clear();
  request.mutable_create_time_to()->set_seconds(253402300800);  // year 10000
  status = stub_->ListDefects(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(FieldsOf(status), ::testing::ElementsAre("create_time_to"));
}

TEST_F(DefectServicePgTest, WatchFiltersByZoneThenEndsWhenDraining) {
  v1::WatchDefectsRequest request;
  request.set_zone("ASSEMBLY-2");
  auto context = Context("watcher");
  auto reader = stub_->WatchDefects(context.get(), request);
  std::mutex mu;
  std::vector<v1::DefectEvent> events;
  std::thread consume([&] {
    v1::WatchDefectsResponse response;
    while (reader->Read(&response)) {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(response.event());
    }
  });
  v1::Defect paint;
  v1::Defect assembly;
  // Report pairs until the watcher has seen one (the stream may start after the first).
  int round = 0;
  ASSERT_TRUE(Eventually([&] {
    ++round;
    paint = Report(absl::StrCat("VIN-P-", round), "PAINT");
    assembly = Report(absl::StrCat("VIN-A-", round), "ASSEMBLY-2");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard<std::mutex> lock(mu);
    return !events.empty();
  }));
  runtime::BeginDraining();
  consume.join();
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("resume with cursor"));
  for (const v1::DefectEvent& e : events) {
    EXPECT_EQ(e.defect().zone(), "ASSEMBLY-2");
    EXPECT_FALSE(e.cursor().empty());
    EXPECT_EQ(e.change_type(), v1::CHANGE_TYPE_REPORTED);
    EXPECT_EQ(e.actor(), "spiffe://test/user/op");
  }
  // The resume cursor is the last event's, or later when events of other zones followed.
  const std::string resume = sdk::ErrorMetadata(sdk::FromGrpcStatus(status), "cursor");
  ASSERT_FALSE(resume.empty()) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr(resume));
  EXPECT_GE(resume, events.back().cursor());  // same generation and digit count here
}

}  // namespace
}  // namespace plantmesh::defect
