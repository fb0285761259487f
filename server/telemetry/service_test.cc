// TelemetryServiceImpl over in-process gRPC on the in-memory store (no servers): machine
// validation naming fields, ingest answers in order with rejects by index, duplicates,
// a lost store ending the stream with UNAVAILABLE, latest values and sample paging. The
// call policy here only names the caller; authorization is tested end to end.
#include "server/telemetry/service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/telemetry/v1/telemetry_service.grpc.pb.h"
#include "server/runtime/executor.h"
#include "server/runtime/shutdown.h"
#include "server/runtime/testing/handler_test_support.h"
#include "server/telemetry/convert.h"
#include "server/telemetry/tail_source.h"
#include "server/telemetry/testing/fake_store.h"

namespace plantmesh::telemetry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> FieldsOf(const grpc::Status& status) {
  std::vector<std::string> fields;
  for (const auto& v : sdk::FieldViolations(sdk::FromGrpcStatus(status))) {
    fields.push_back(v.field);
  }
  return fields;
}

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
  out->set_nanos(static_cast<int32_t>((absl::ToUnixMicros(t) % 1000000) * 1000));
}

class TelemetryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime::ResetDrainingForTesting();
    deps_.config = &config_;
    deps_.call_policy = &policy_;
    deps_.executor = &executor_;
    deps_.now = [this] { return now_; };
    service_ = std::make_unique<TelemetryServiceImpl>(deps_, telemetry_config_, &store_);
    server_ = std::make_unique<runtime::testing::InProcessServer>(service_.get());
    ASSERT_TRUE(server_->ok());
    stub_ = v1::TelemetryService::NewStub(server_->channel());
  }

  void TearDown() override {
    server_.reset();
    executor_.Shutdown();
    runtime::ResetDrainingForTesting();
  }

  // Writer `writer_id`'s first batch, its samples to add.
  static v1::IngestSamplesRequest FirstBatch(const std::string& writer_id) {
    v1::IngestSamplesRequest batch;
    batch.set_writer_id(writer_id);
    batch.set_batch_sequence(1);
    return batch;
  }

  // Ingests `samples` as writer "w"'s first batch on a stream of its own and waits for
  // the answer.
  void IngestOneBatch(const std::vector<v1::Sample>& samples) {
    auto context = Context();
    auto stream = stub_->IngestSamples(context.get());
    v1::IngestSamplesRequest batch = FirstBatch("w");
    for (const v1::Sample& s : samples) *batch.add_samples() = s;
    ASSERT_TRUE(stream->Write(batch));
    stream->WritesDone();
    v1::IngestSamplesResponse answer;
    ASSERT_TRUE(stream->Read(&answer));
    ASSERT_TRUE(stream->Finish().ok());
  }

  // The samples of the batch events written (one event per committed group).
  int EventSamples() {
    int samples = 0;
    for (const runtime::OutboxEvent& event : store_.Events()) {
      v1::IngestSamplesRequest batch;
      EXPECT_TRUE(batch.ParseFromString(event.payload));
      samples += batch.samples_size();
    }
    return samples;
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return context;
  }

  // QueryAggregates of one data item over [start, now_) by the minute.
  v1::QueryAggregatesRequest Aggregates(const std::string& machine_id,
                                        const std::string& data_item_id, absl::Time start) {
    v1::QueryAggregatesRequest request;
    request.set_machine_id(machine_id);
    request.set_data_item_id(data_item_id);
    SetTime(start, request.mutable_start_time());
    SetTime(now_, request.mutable_end_time());
    request.set_bucket_width(v1::BUCKET_WIDTH_MINUTE);
    return request;
  }

  v1::Machine Cnc(const std::string& id = "CNC-07") {
    v1::Machine m;
    m.set_id(id);
    m.set_display_name("Fanuc 31i lathe 7");
    m.set_line("LINE-2");
    v1::DataItem* x = m.add_data_items();
    x->set_id("Xact");
    x->set_category(v1::DATA_ITEM_CATEGORY_EVENT);
    x->set_type(v1::DATA_ITEM_TYPE_EXECUTION);
    v1::DataItem* s = m.add_data_items();
    s->set_id("S1speed");
    s->set_category(v1::DATA_ITEM_CATEGORY_SAMPLE);
    s->set_type(v1::DATA_ITEM_TYPE_SPINDLE_SPEED);
    return m;
  }

  grpc::Status Register(const v1::Machine& machine, v1::RegisterMachineResponse* out,
                        const std::string& request_id = "") {
    v1::RegisterMachineRequest request;
    *request.mutable_machine() = machine;
    request.set_request_id(request_id);
    return stub_->RegisterMachine(Context().get(), request, out);
  }

  v1::Sample Num(const std::string& item, double value, absl::Time t) {
    v1::Sample s;
    s.set_machine_id("CNC-07");
    s.set_data_item_id(item);
    SetTime(t, s.mutable_time());
    s.set_number(value);
    return s;
  }

  // The server's send limit (max-send-message-bytes), changed while it serves.
  void SetMaxSendBytes(int bytes) {
    runtime::testing::ChangeWhileServing(executor_,
                                         [&] { config_.max_send_message_bytes = bytes; });
  }

  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  runtime::ServerConfig config_;
  TelemetryConfig telemetry_config_;
  runtime::testing::FixedIdentityPolicy policy_{"spiffe://test/user/adapter"};
  runtime::ServiceDeps deps_;
  testing::FakeTelemetryStore store_;
  std::unique_ptr<TelemetryServiceImpl> service_;
  runtime::Executor executor_{runtime::ExecutorOptions{4, 64, "test"}};
  std::unique_ptr<runtime::testing::InProcessServer> server_;
  std::unique_ptr<v1::TelemetryService::Stub> stub_;
};

TEST_F(TelemetryServiceTest, RegisterNamesEachWrongDataItemField) {
  v1::Machine m = Cnc();
  v1::DataItem* dup = m.add_data_items();
  *dup = m.data_items(0);  // the same id again
  v1::DataItem* odd = m.add_data_items();
  *odd = m.data_items(1);
  odd->set_id("has space");
  m.mutable_ideal_cycle_time()->set_seconds(90000);
  v1::RegisterMachineResponse out;
  grpc::Status s = Register(m, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(s), ElementsAre("machine.ideal_cycle_time", "machine.data_items[2].id",
                                       "machine.data_items[2].type", "machine.data_items[3].id"));
  // A type number the contract does not declare: the runtime names it, as for every enum.
  odd->set_type(static_cast<v1::DataItemType>(999));
  s = Register(m, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(s), ElementsAre("machine.data_items[3].type"));
  EXPECT_THAT(s.error_message(), HasSubstr("unknown value 999"));
  // Category and type are REQUIRED in the contract: the runtime names them first.
  v1::Machine bare = Cnc();
  bare.add_data_items()->set_id("x");
  s = Register(bare, &out);
  EXPECT_THAT(FieldsOf(s),
              ElementsAre("machine.data_items[2].category", "machine.data_items[2].type"));
}

// Outside testing: create_time and etag were taken and dropped unseen.
TEST_F(TelemetryServiceTest, RegisterRefusesOutputOnlyFields) {
  v1::Machine m = Cnc();
  m.set_etag("7");
  m.mutable_create_time()->set_seconds(1);
  v1::RegisterMachineResponse out;
  grpc::Status s = Register(m, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(s), ElementsAre("machine.create_time", "machine.etag"));
  EXPECT_THAT(s.error_message(), HasSubstr("output only: must be empty on create"));
  EXPECT_EQ(store_.GetMachine("CNC-07").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TelemetryServiceTest, RegisterRetryAndAlreadyExists) {
  v1::RegisterMachineResponse first, retry, again;
  ASSERT_TRUE(Register(Cnc(), &first, "req-1").ok());
  EXPECT_EQ(first.machine().etag(), "1");
  EXPECT_EQ(first.machine().data_items_size(), 2);
  ASSERT_TRUE(Register(Cnc(), &retry, "req-1").ok());
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(Register(Cnc(), &again, "req-2").error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(TelemetryServiceTest, UpdateWithStaleEtagIsAborted) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  v1::UpdateMachineRequest request;
  request.mutable_machine()->set_id("CNC-07");
  request.mutable_machine()->set_zone("MACHINING");
  request.mutable_update_mask()->add_paths("zone");
  request.set_etag("1");
  v1::UpdateMachineResponse out;
  ASSERT_TRUE(stub_->UpdateMachine(Context().get(), request, &out).ok());
  EXPECT_EQ(out.machine().zone(), "MACHINING");
  EXPECT_EQ(out.machine().etag(), "2");
  EXPECT_EQ(out.machine().data_items_size(), 2);
  EXPECT_EQ(stub_->UpdateMachine(Context().get(), request, &out).error_code(),
            grpc::StatusCode::ABORTED);
  // Outside testing: `abc` was ABORTED "changed since etag 'abc'"; it was never an etag,
  // of this machine or of one that does not exist.
  for (const char* machine : {"CNC-07", "NO-SUCH-MACHINE"}) {
    request.mutable_machine()->set_id(machine);
    request.set_etag("abc");
    const grpc::Status malformed = stub_->UpdateMachine(Context().get(), request, &out);
    EXPECT_EQ(malformed.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << machine;
    EXPECT_THAT(FieldsOf(malformed), ElementsAre("etag"));
  }
  request.mutable_machine()->set_id("CNC-07");
  request.set_etag("");
  request.mutable_update_mask()->set_paths(0, "id");
  EXPECT_EQ(stub_->UpdateMachine(Context().get(), request, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Outside testing: samples whose Timestamp had nanos -1, 2000000000 or 2147483647 were
// stored at a shifted time; and numbers past 1e297 broke the aggregates. Each such
// sample is rejected alone, with its index; the valid rest is stored.
TEST_F(TelemetryServiceTest, IngestRejectsInvalidTimestampsAndHugeNumbersPerSample) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  auto context = Context();
  auto stream = stub_->IngestSamples(context.get());
  v1::IngestSamplesRequest batch = FirstBatch("mtconnect-cnc07");
  *batch.add_samples() = Num("S1speed", 1200, now_ - absl::Seconds(100));
  for (int32_t nanos : {-1, 1000000000, 2000000000, 2147483647}) {
    v1::Sample bad = Num("S1speed", 1, now_ - absl::Seconds(100));
    bad.mutable_time()->set_nanos(nanos);
    *batch.add_samples() = bad;
  }
  v1::Sample far = Num("S1speed", 1, now_);
  far.mutable_time()->set_seconds(253402300800);  // 10000-01-01
  *batch.add_samples() = far;
  *batch.add_samples() = Num("S1speed", 1e308, now_ - absl::Seconds(99));
  *batch.add_samples() = Num("S1speed", -1.7e308, now_ - absl::Seconds(98));
  ASSERT_TRUE(stream->Write(batch));
  ASSERT_TRUE(stream->WritesDone());
  v1::IngestSamplesResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.accepted_count(), 1);
  ASSERT_EQ(answer.rejected_samples_size(), 7);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(answer.rejected_samples(i).index(), i + 1);
    EXPECT_EQ(answer.rejected_samples(i).reason(), v1::REJECT_REASON_TIME_OUT_OF_RANGE);
    EXPECT_THAT(answer.rejected_samples(i).message(),
                HasSubstr(absl::StrCat("samples[", i + 1, "].time: not a valid")));
  }
  // Outside testing: the part that is wrong was not named (the seconds were fine).
  EXPECT_THAT(answer.rejected_samples(0).message(), HasSubstr("(nanos -1 is out of range)"));
  EXPECT_THAT(answer.rejected_samples(4).message(),
              HasSubstr("(seconds 253402300800 is out of range)"));
  for (int i = 5; i < 7; ++i) {
    EXPECT_EQ(answer.rejected_samples(i).index(), i + 1);
    EXPECT_EQ(answer.rejected_samples(i).reason(), v1::REJECT_REASON_NUMBER_OUT_OF_RANGE);
  }
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(store_.AllSamples().size(), 1u);
  EXPECT_EQ(store_.AllSamples()[0].sample.number, 1200);
}

// Outside testing: a batch of 9,999 samples rejected with messages quoting a 64-character
// value (and one good sample) was committed, then answered RESOURCE_EXHAUSTED (a 4.9 MB
// answer); the client, told to "ask for less", sent the samples again and stored the
// good one twice. The answer of a committed batch always fits the send limit: the
// rejections' messages are cut to an equal share, indexes and reasons whole.
TEST_F(TelemetryServiceTest, TheAnswerToABatchOfRejectionsFitsTheSendLimit) {
  SetMaxSendBytes(400000);  // ~24 bytes a message for 9,999 rejections
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  auto context = Context();
  auto stream = stub_->IngestSamples(context.get());
  v1::IngestSamplesRequest batch = FirstBatch("mtconnect-cnc07");
  for (int i = 0; i < kMaxSamplesPerBatch - 1; ++i) {
    *batch.add_samples() = Num("S1speed", std::nan(""), now_);
  }
  *batch.add_samples() = Num("S1speed", 1200, now_);
  ASSERT_TRUE(stream->Write(batch));
  ASSERT_TRUE(stream->WritesDone());
  v1::IngestSamplesResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_LE(answer.ByteSizeLong(), 400000u);
  EXPECT_EQ(answer.accepted_count(), 1);
  EXPECT_EQ(answer.rejected_count(), kMaxSamplesPerBatch - 1);
  ASSERT_EQ(answer.rejected_samples_size(), kMaxSamplesPerBatch - 1);
  for (int i = 0; i < answer.rejected_samples_size(); ++i) {
    const v1::RejectedSample& rejected = answer.rejected_samples(i);
    ASSERT_EQ(rejected.index(), i);
    ASSERT_EQ(rejected.reason(), v1::REJECT_REASON_NOT_FINITE);
  }
  // Cut, and marked so: "samples[0].number: NaN …" shortened to its share.
  const std::string& first = answer.rejected_samples(0).message();
  EXPECT_THAT(first, ::testing::StartsWith("samples["));
  EXPECT_THAT(first, ::testing::EndsWith("\xE2\x80\xA6"));
  ASSERT_EQ(store_.AllSamples().size(), 1u);

  // The same batch with the default limit: the messages whole.
  SetMaxSendBytes(4 << 20);
  auto again_context = Context();
  auto again = stub_->IngestSamples(again_context.get());
  batch.set_batch_sequence(2);
  ASSERT_TRUE(again->Write(batch));
  ASSERT_TRUE(again->WritesDone());
  ASSERT_TRUE(again->Read(&answer));
  EXPECT_TRUE(again->Finish().ok());
  EXPECT_THAT(answer.rejected_samples(0).message(), HasSubstr("samples[0].number"));
  EXPECT_THAT(answer.rejected_samples(0).message(),
              ::testing::Not(::testing::EndsWith("\xE2\x80\xA6")));
}

TEST_F(TelemetryServiceTest, IngestAnswersEachBatchInOrderWithRejectsByIndex) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  auto context = Context();
  auto stream = stub_->IngestSamples(context.get());
  v1::IngestSamplesRequest batch = FirstBatch("mtconnect-cnc07");
  *batch.add_samples() = Num("S1speed", 1200, now_);
  *batch.add_samples() = Num("S1speed", std::nan(""), now_);
  *batch.add_samples() = Num("S1speed", 1, now_ + absl::Hours(1));
  v1::Sample unavailable = Num("Xact", 0, now_);
  unavailable.mutable_unavailable();
  *batch.add_samples() = unavailable;
  ASSERT_TRUE(stream->Write(batch));
  batch.set_batch_sequence(2);
  ASSERT_TRUE(stream->Write(batch));
  batch.set_batch_sequence(2);  // re-sent
  ASSERT_TRUE(stream->Write(batch));
  v1::IngestSamplesResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.batch_sequence(), 1u);
  EXPECT_EQ(answer.accepted_count(), 2);
  EXPECT_EQ(answer.rejected_count(), 2);
  ASSERT_EQ(answer.rejected_samples_size(), 2);
  EXPECT_EQ(answer.rejected_samples(0).index(), 1);
  EXPECT_EQ(answer.rejected_samples(0).reason(), v1::REJECT_REASON_NOT_FINITE);
  EXPECT_THAT(answer.rejected_samples(0).message(), HasSubstr("samples[1].number"));
  EXPECT_EQ(answer.rejected_samples(1).index(), 2);
  EXPECT_EQ(answer.rejected_samples(1).reason(), v1::REJECT_REASON_TIME_IN_FUTURE);
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.batch_sequence(), 2u);
  EXPECT_EQ(answer.accepted_count(), 2);
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.batch_sequence(), 2u);
  EXPECT_EQ(answer.duplicate_count(), 2);  // stored the first time
  EXPECT_EQ(answer.rejected_count(), 2);   // rejected the first time, and still
  EXPECT_EQ(answer.accepted_count(), 0);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&answer));
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(store_.AllSamples().size(), 4u);
  // The stored samples in one event per transaction (batches 1 and 2 may be one group).
  EXPECT_EQ(EventSamples(), 4);
  EXPECT_EQ(service_->figures().rejected_by_reason[static_cast<size_t>(RejectReason::kNotFinite)],
            2);

  v1::GetLatestValuesRequest latest_request;
  latest_request.add_machine_ids("CNC-07");
  v1::GetLatestValuesResponse latest;
  ASSERT_TRUE(stub_->GetLatestValues(Context().get(), latest_request, &latest).ok());
  ASSERT_EQ(latest.values_size(), 2);
  EXPECT_EQ(latest.values(0).data_item_id(), "S1speed");
  EXPECT_EQ(latest.values(0).number(), 1200);
  EXPECT_TRUE(latest.values(1).has_unavailable());
}

// Batches written before any answer is read may be committed together (group commit):
// whether they are or not, each is answered in order, a change of writer on the stream is
// kept apart, and a malformed batch ends the stream after the batches before it.
TEST_F(TelemetryServiceTest, BatchesSentAheadAreAnsweredInOrderUpToAMalformedOne) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  auto context = Context();
  auto stream = stub_->IngestSamples(context.get());
  const std::vector<std::pair<std::string, uint64_t>> frames = {
      {"w1", 1}, {"w2", 1}, {"w1", 2}, {"w1", 2}, {"w2", 5}};
  for (const auto& [writer, sequence] : frames) {
    v1::IngestSamplesRequest batch = FirstBatch(writer);
    batch.set_batch_sequence(sequence);
    *batch.add_samples() = Num("S1speed", static_cast<double>(sequence), now_);
    ASSERT_TRUE(stream->Write(batch));
  }
  ASSERT_TRUE(stream->Write(FirstBatch("w1")));  // no samples
  stream->WritesDone();
  std::vector<std::tuple<uint64_t, int, int>> answers;  // sequence, accepted, duplicate
  v1::IngestSamplesResponse answer;
  while (stream->Read(&answer)) {
    answers.emplace_back(answer.batch_sequence(), answer.accepted_count(),
                         answer.duplicate_count());
  }
  grpc::Status ended = stream->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(ended), ElementsAre("samples"));
  EXPECT_THAT(answers, ElementsAre(std::make_tuple(1u, 1, 0), std::make_tuple(1u, 1, 0),
                                   std::make_tuple(2u, 1, 0), std::make_tuple(2u, 0, 1),
                                   std::make_tuple(5u, 1, 0)));
  EXPECT_EQ(store_.AllSamples().size(), 4u);
  EXPECT_EQ(EventSamples(), 4);
}

// Outside testing: a client that writes a burst of batches and reads the answers as
// they come was cut off with RESOURCE_EXHAUSTED after about 80 (the answers of whole
// groups counted as unread). Every batch is answered, however far ahead it writes: here
// 300 (more than ingest-pending-acks) before it reads the first answer.
TEST_F(TelemetryServiceTest, ABurstOfBatchesWrittenBeforeAnyAnswerIsReadIsAnsweredInFull) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  auto context = Context();
  auto stream = stub_->IngestSamples(context.get());
  constexpr int kBatches = 300;
  for (int i = 1; i <= kBatches; ++i) {
    v1::IngestSamplesRequest batch = FirstBatch("burst");
    batch.set_batch_sequence(static_cast<uint64_t>(i));
    *batch.add_samples() = Num("S1speed", i, now_ - absl::Seconds(kBatches - i));
    ASSERT_TRUE(stream->Write(batch));
  }
  ASSERT_TRUE(stream->WritesDone());
  v1::IngestSamplesResponse answer;
  uint64_t answered = 0;
  while (stream->Read(&answer)) {
    EXPECT_EQ(answer.batch_sequence(), ++answered);
    EXPECT_EQ(answer.accepted_count(), 1);
  }
  grpc::Status ended = stream->Finish();
  EXPECT_TRUE(ended.ok()) << ended.error_message();
  EXPECT_EQ(answered, static_cast<uint64_t>(kBatches));
  EXPECT_EQ(store_.AllSamples().size(), static_cast<size_t>(kBatches));
}

// Outside testing: a second caller that used the same writer_id (or one that restarted
// its count) had every batch answered "duplicate" and its samples lost. Its first batch
// under a committed sequence with other samples ends its stream with ALREADY_EXISTS
// (BATCH_SEQUENCE_REUSED); a new sequence below the writer's last, FAILED_PRECONDITION.
TEST_F(TelemetryServiceTest, AWriterIdSharedByTwoSourcesIsRefusedNotAnsweredDuplicate) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  auto ingest = [&](uint64_t sequence, double value, std::vector<int>* accepted) {
    auto context = Context();
    auto stream = stub_->IngestSamples(context.get());
    v1::IngestSamplesRequest batch = FirstBatch("shared-1");
    batch.set_batch_sequence(sequence);
    *batch.add_samples() = Num("S1speed", value, now_);
    EXPECT_TRUE(stream->Write(batch));
    stream->WritesDone();
    v1::IngestSamplesResponse answer;
    while (stream->Read(&answer)) accepted->push_back(answer.accepted_count());
    return stream->Finish();
  };
  std::vector<int> accepted;
  for (uint64_t sequence : {1, 2, 3}) ASSERT_TRUE(ingest(sequence, 100, &accepted).ok());
  grpc::Status reused = ingest(2, 200, &accepted);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::ALREADY_EXISTS) << reused.error_message();
  EXPECT_THAT(reused.error_message(), HasSubstr("shared-1"));
  grpc::Status behind = ingest(1, 100, &accepted);  // the same samples: a re-send
  EXPECT_TRUE(behind.ok()) << behind.error_message();
  EXPECT_EQ(accepted, (std::vector<int>{1, 1, 1, 0}));
  // Lost batch 4, then a count restarted below it.
  ASSERT_TRUE(ingest(5, 100, &accepted).ok());
  behind = ingest(4, 100, &accepted);
  EXPECT_EQ(behind.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << behind.error_message();
  EXPECT_EQ(store_.AllSamples().size(), 4u);
}

TEST_F(TelemetryServiceTest, MalformedBatchEndsTheStream) {
  auto context = Context();
  auto stream = stub_->IngestSamples(context.get());
  v1::IngestSamplesRequest batch = FirstBatch("w");  // no samples
  ASSERT_TRUE(stream->Write(batch));
  stream->WritesDone();
  v1::IngestSamplesResponse answer;
  EXPECT_FALSE(stream->Read(&answer));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldsOf(s), ElementsAre("samples"));
}

TEST_F(TelemetryServiceTest, LostStoreEndsTheStreamUnavailable) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  store_.FailWith(absl::UnavailableError("lost the connection to PostgreSQL"));
  auto context = Context();
  auto stream = stub_->IngestSamples(context.get());
  v1::IngestSamplesRequest batch = FirstBatch("w");
  *batch.add_samples() = Num("S1speed", 1, now_);
  ASSERT_TRUE(stream->Write(batch));
  stream->WritesDone();
  v1::IngestSamplesResponse answer;
  EXPECT_FALSE(stream->Read(&answer));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  store_.FailWith(absl::OkStatus());
  EXPECT_TRUE(store_.AllSamples().empty());
}

// Outside testing: an ingest stream kept taking batches for the whole drain window after
// SIGTERM (2,247 in 5 s). It answers what it took, then ends UNAVAILABLE SERVER_DRAINING.
TEST_F(TelemetryServiceTest, DrainingEndsAnIngestStreamAfterItsAnswers) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  auto context = Context();
  auto stream = stub_->IngestSamples(context.get());
  v1::IngestSamplesRequest batch = FirstBatch("w");
  *batch.add_samples() = Num("S1speed", 1, now_);
  ASSERT_TRUE(stream->Write(batch));
  v1::IngestSamplesResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.accepted_count(), 1);
  runtime::BeginDraining();
  EXPECT_FALSE(stream->Read(&answer));  // no WritesDone: the server ends it
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(sdk::ErrorReason(sdk::FromGrpcStatus(s)), "SERVER_DRAINING");
  EXPECT_EQ(store_.AllSamples().size(), 1u);
}

TEST_F(TelemetryServiceTest, QuerySamplesPagesAndChecksTheRange) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  std::vector<v1::Sample> samples;
  for (int i = 0; i < 5; ++i) samples.push_back(Num("S1speed", i, now_ - absl::Seconds(5 - i)));
  IngestOneBatch(samples);

  v1::QuerySamplesRequest request;
  request.set_machine_id("CNC-07");
  SetTime(now_ - absl::Minutes(1), request.mutable_start_time());
  SetTime(now_, request.mutable_end_time());
  request.set_page_size(3);
  v1::QuerySamplesResponse page;
  ASSERT_TRUE(stub_->QuerySamples(Context().get(), request, &page).ok());
  ASSERT_EQ(page.samples_size(), 3);
  EXPECT_EQ(page.samples(0).number(), 0);
  ASSERT_FALSE(page.next_page_token().empty());
  request.set_page_token(page.next_page_token());
  ASSERT_TRUE(stub_->QuerySamples(Context().get(), request, &page).ok());
  ASSERT_EQ(page.samples_size(), 2);
  EXPECT_EQ(page.samples(1).number(), 4);
  EXPECT_TRUE(page.next_page_token().empty());
  // Another range with that token is refused; so is an empty range.
  SetTime(now_ - absl::Minutes(2), request.mutable_start_time());
  EXPECT_THAT(FieldsOf(stub_->QuerySamples(Context().get(), request, &page)),
              ElementsAre("page_token"));
  request.clear_page_token();
  SetTime(now_, request.mutable_start_time());
  EXPECT_THAT(FieldsOf(stub_->QuerySamples(Context().get(), request, &page)),
              ElementsAre("end_time"));
}

// Outside testing: a PART_COUNT of -0.0 was served back as -0.0, and 1,100 rises of 2^53
// were answered as part_count 2^63-1, a plausible wrong count.
TEST_F(TelemetryServiceTest, NegativeZeroIsStoredAsZeroAndAPartCountPastInt64IsOutOfRange) {
  v1::Machine machine = Cnc();
  v1::DataItem* parts = machine.add_data_items();
  parts->set_id("parts");
  parts->set_category(v1::DATA_ITEM_CATEGORY_EVENT);
  parts->set_type(v1::DATA_ITEM_TYPE_PART_COUNT);
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(machine, &created).ok());
  const absl::Time start = now_ - absl::Hours(1);
  std::vector<v1::Sample> samples = {Num("S1speed", -0.0, start)};
  for (int i = 0; i < 2200; ++i) {
    samples.push_back(
        Num("parts", i % 2 == 0 ? 0 : 9007199254740992.0, start + absl::Milliseconds(i + 1)));
  }
  IngestOneBatch(samples);

  v1::QuerySamplesRequest query;
  query.set_machine_id("CNC-07");
  query.add_data_item_ids("S1speed");
  SetTime(start, query.mutable_start_time());
  SetTime(now_, query.mutable_end_time());
  v1::QuerySamplesResponse page;
  ASSERT_TRUE(stub_->QuerySamples(Context().get(), query, &page).ok());
  ASSERT_EQ(page.samples_size(), 1);
  EXPECT_FALSE(std::signbit(page.samples(0).number()));

  v1::GetUtilizationRequest request;
  request.set_machine_id("CNC-07");
  SetTime(start, request.mutable_start_time());
  SetTime(now_, request.mutable_end_time());
  v1::GetUtilizationResponse utilization;
  const grpc::Status overflow = stub_->GetUtilization(Context().get(), request, &utilization);
  EXPECT_EQ(overflow.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(overflow.error_message(), HasSubstr("ask for a shorter range"));
  // The first 1,000 rises fit.
  SetTime(start + absl::Milliseconds(2001), request.mutable_end_time());
  ASSERT_TRUE(stub_->GetUtilization(Context().get(), request, &utilization).ok());
  EXPECT_EQ(utilization.part_count(), int64_t{1000} * 9007199254740992);
}

// Outside testing: after an UpdateMachine renamed a data item, QuerySamples filtered by
// its old id was NOT_FOUND although its samples were kept. A left-out item is history:
// the reads of history name it, the live ones (latest values, tails) do not.
TEST_F(TelemetryServiceTest, ALeftOutDataItemIsStillReadByHistoryQueries) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  IngestOneBatch({Num("S1speed", 1200, now_ - absl::Seconds(5))});

  v1::UpdateMachineRequest update;
  *update.mutable_machine() = Cnc();
  update.mutable_machine()->mutable_data_items()->RemoveLast();  // S1speed
  update.mutable_update_mask()->add_paths("data_items");
  v1::UpdateMachineResponse updated;
  ASSERT_TRUE(stub_->UpdateMachine(Context().get(), update, &updated).ok());

  v1::QuerySamplesRequest request;
  request.set_machine_id("CNC-07");
  request.add_data_item_ids("S1speed");
  SetTime(now_ - absl::Minutes(1), request.mutable_start_time());
  SetTime(now_, request.mutable_end_time());
  v1::QuerySamplesResponse page;
  grpc::Status read = stub_->QuerySamples(Context().get(), request, &page);
  ASSERT_TRUE(read.ok()) << read.error_message();
  ASSERT_EQ(page.samples_size(), 1);
  EXPECT_EQ(page.samples(0).number(), 1200);

  v1::GetLatestValuesRequest latest;
  latest.add_machine_ids("CNC-07");
  latest.add_data_item_ids("S1speed");
  v1::GetLatestValuesResponse values;
  EXPECT_EQ(stub_->GetLatestValues(Context().get(), latest, &values).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(TelemetryServiceTest, QueryAggregatesMergesBucketsAndNamesWrongFields) {
  v1::RegisterMachineResponse created;
  ASSERT_TRUE(Register(Cnc(), &created).ok());
  // In the minute before now_'s: 30 and 10 at one time, then 20; one in now_'s minute.
  const absl::Time minute = absl::FromUnixSeconds(absl::ToUnixSeconds(now_) / 60 * 60);
  IngestOneBatch({Num("S1speed", 30, minute - absl::Seconds(50)),
                  Num("S1speed", 10, minute - absl::Seconds(50)),
                  Num("S1speed", 20, minute - absl::Seconds(10)),
                  Num("S1speed", 5, minute + absl::Seconds(1))});

  v1::QueryAggregatesRequest request = Aggregates("CNC-07", "S1speed", minute - absl::Minutes(5));
  v1::QueryAggregatesResponse response;
  ASSERT_TRUE(stub_->QueryAggregates(Context().get(), request, &response).ok());
  ASSERT_EQ(response.aggregates_size(), 2);
  const v1::Aggregate& a = response.aggregates(0);
  EXPECT_EQ(a.bucket_start().seconds(), absl::ToUnixSeconds(minute - absl::Minutes(1)));
  EXPECT_EQ(a.count(), 3);
  EXPECT_EQ(a.min(), 10);
  EXPECT_EQ(a.max(), 30);
  EXPECT_EQ(a.sum(), 60);
  EXPECT_EQ(a.avg(), 20);
  EXPECT_EQ(a.first(), 10);  // of equal times, the smallest
  EXPECT_EQ(a.last(), 20);
  EXPECT_EQ(response.aggregates(1).count(), 1);

  request.set_bucket_width(v1::BUCKET_WIDTH_UNSPECIFIED);
  EXPECT_THAT(FieldsOf(stub_->QueryAggregates(Context().get(), request, &response)),
              ElementsAre("bucket_width"));
  request.set_bucket_width(v1::BUCKET_WIDTH_SECOND);
  SetTime(minute - absl::Hours(5), request.mutable_start_time());  // 18,000+ buckets
  EXPECT_THAT(FieldsOf(stub_->QueryAggregates(Context().get(), request, &response)),
              ElementsAre("end_time"));
  request.clear_start_time();
  EXPECT_THAT(FieldsOf(stub_->QueryAggregates(Context().get(), request, &response)),
              ElementsAre("start_time"));
}

// Outside testing: data item ids that cannot exist ("", "a b") in a read's filter were
// answered with an empty OK. They are INVALID_ARGUMENT naming each one.
TEST_F(TelemetryServiceTest, ReadFiltersRefuseDataItemIdsThatCannotExist) {
  v1::RegisterMachineResponse registered;
  ASSERT_TRUE(Register(Cnc(), &registered).ok());
  {
    v1::QuerySamplesRequest request;
    request.set_machine_id("CNC-07");
    SetTime(now_ - absl::Hours(1), request.mutable_start_time());
    SetTime(now_, request.mutable_end_time());
    request.add_data_item_ids("S1speed");
    request.add_data_item_ids("a b");
    v1::QuerySamplesResponse response;
    EXPECT_THAT(FieldsOf(stub_->QuerySamples(Context().get(), request, &response)),
                ElementsAre("data_item_ids[1]"));
    // Outside testing (sweep 58): a bad page size or filter hid a text that is no token.
    request.set_page_token("junk");
    request.set_page_size(99999);
    EXPECT_THAT(FieldsOf(stub_->QuerySamples(Context().get(), request, &response)),
                ElementsAre("data_item_ids[1]", "page_size", "page_token"));
    request.clear_page_token();
    request.clear_page_size();
    // An empty entry breaks the contract's rule for every list, checked before the handler.
    request.add_data_item_ids("");
    EXPECT_THAT(FieldsOf(stub_->QuerySamples(Context().get(), request, &response)),
                ElementsAre("data_item_ids[2]"));
  }
  {
    v1::GetLatestValuesRequest request;
    request.add_machine_ids("CNC-07");
    request.add_data_item_ids("a b");
    v1::GetLatestValuesResponse response;
    EXPECT_THAT(FieldsOf(stub_->GetLatestValues(Context().get(), request, &response)),
                ElementsAre("data_item_ids[0]"));
    // Outside testing (sweep 57): the selection's fault hid the page size's.
    request.set_page_size(kMaxLatestPageSize + 1);
    EXPECT_THAT(FieldsOf(stub_->GetLatestValues(Context().get(), request, &response)),
                ElementsAre("data_item_ids[0]", "page_size"));
  }
  {
    v1::QueryAggregatesRequest request = Aggregates("CNC-07", "a b", now_ - absl::Hours(1));
    v1::QueryAggregatesResponse response;
    EXPECT_THAT(FieldsOf(stub_->QueryAggregates(Context().get(), request, &response)),
                ElementsAre("data_item_id"));
    // Outside testing (sweep 57): the data item's fault hid the range's.
    *request.mutable_end_time() = request.start_time();
    EXPECT_THAT(FieldsOf(stub_->QueryAggregates(Context().get(), request, &response)),
                ElementsAre("data_item_id", "end_time"));
  }
  {
    // The fields a tail of `request` is refused for, before its first message.
    auto refused = [&](const v1::StreamSamplesRequest& request) {
      auto context = Context();
      auto reader = stub_->StreamSamples(context.get(), request);
      v1::StreamSamplesResponse message;
      EXPECT_FALSE(reader->Read(&message));
      return FieldsOf(reader->Finish());
    };
    v1::StreamSamplesRequest request;
    request.add_machine_ids("CNC-07");
    request.add_data_item_ids("");
    EXPECT_THAT(refused(request), ElementsAre("data_item_ids[0]"));
    // Outside testing (sweep 57): the selection's fault hid the cursor's.
    request.set_data_item_ids(0, "a b");
    request.set_cursor("not-a-cursor");
    EXPECT_THAT(refused(request), ElementsAre("data_item_ids[0]", "cursor"));
  }
}

TEST_F(TelemetryServiceTest, StreamSamplesWithoutEventsIsUnavailableAndChecksMachines) {
  v1::StreamSamplesRequest request;
  auto context = Context();
  auto reader = stub_->StreamSamples(context.get(), request);
  v1::StreamSamplesResponse message;
  EXPECT_FALSE(reader->Read(&message));
  EXPECT_THAT(FieldsOf(reader->Finish()), ElementsAre("machine_ids"));
  v1::RegisterMachineResponse registered;
  ASSERT_TRUE(Register(Cnc(), &registered).ok());
  request.add_machine_ids("CNC-07");
  auto context2 = Context();
  auto reader2 = stub_->StreamSamples(context2.get(), request);
  EXPECT_FALSE(reader2->Read(&message));
  EXPECT_EQ(reader2->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// NOT_FOUND naming `id` in its message and in the ErrorInfo (`reason`, metadata `key`).
void ExpectNotFound(const grpc::Status& grpc_status, const std::string& reason,
                    const std::string& key, const std::string& id, const std::string& what) {
  const absl::Status status = sdk::FromGrpcStatus(grpc_status);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << what << ": " << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(id)) << what;
  EXPECT_EQ(sdk::ErrorReason(status), reason) << what;
  EXPECT_EQ(sdk::ErrorMetadata(status, key), id) << what;
}

// Every read that names machines answers NOT_FOUND for one that is not registered,
// naming it (message and ErrorInfo), rather than an empty answer that reads as "no data".
TEST_F(TelemetryServiceTest, ReadsNamingAnUnknownMachineAreNotFound) {
  v1::RegisterMachineResponse registered;
  ASSERT_TRUE(Register(Cnc(), &registered).ok());
  auto expect_not_found = [](const grpc::Status& status, const std::string& what) {
    ExpectNotFound(status, "MACHINE_NOT_FOUND", "machine_id", "CNC-99", what);
  };
  {
    v1::GetMachineRequest request;
    request.set_id("CNC-99");
    v1::GetMachineResponse response;
    expect_not_found(stub_->GetMachine(Context().get(), request, &response), "GetMachine");
  }
  // The range reads: machine CNC-99 (not registered) over the last hour.
  const auto unknown_machine_last_hour = [this](auto& request) {
    request.set_machine_id("CNC-99");
    SetTime(now_ - absl::Hours(1), request.mutable_start_time());
    SetTime(now_, request.mutable_end_time());
  };
  {
    v1::GetLatestValuesRequest request;
    request.add_machine_ids("CNC-07");  // known, then unknown: the unknown one is named
    request.add_machine_ids("CNC-99");
    // Outside testing: the first unknown one in sorted order was named, not in the
    // request's order ("NOPE-1" for NOPE-2, NOPE-1).
    request.add_machine_ids("CNC-98");
    v1::GetLatestValuesResponse response;
    expect_not_found(stub_->GetLatestValues(Context().get(), request, &response),
                     "GetLatestValues");
    request.clear_machine_ids();
    request.add_machine_ids("CNC-07");
    EXPECT_TRUE(stub_->GetLatestValues(Context().get(), request, &response).ok());
  }
  {
    v1::QuerySamplesRequest request;
    unknown_machine_last_hour(request);
    v1::QuerySamplesResponse response;
    expect_not_found(stub_->QuerySamples(Context().get(), request, &response), "QuerySamples");
  }
  {
    v1::QueryAggregatesRequest request = Aggregates("CNC-99", "S1speed", now_ - absl::Hours(1));
    v1::QueryAggregatesResponse response;
    expect_not_found(stub_->QueryAggregates(Context().get(), request, &response),
                     "QueryAggregates");
    // Bad input is still named first.
    request.set_bucket_width(v1::BUCKET_WIDTH_UNSPECIFIED);
    EXPECT_THAT(FieldsOf(stub_->QueryAggregates(Context().get(), request, &response)),
                ElementsAre("bucket_width"));
  }
  {
    v1::ListStateIntervalsRequest request;
    unknown_machine_last_hour(request);
    v1::ListStateIntervalsResponse response;
    expect_not_found(stub_->ListStateIntervals(Context().get(), request, &response),
                     "ListStateIntervals");
  }
  {
    v1::GetUtilizationRequest request;
    unknown_machine_last_hour(request);
    v1::GetUtilizationResponse response;
    expect_not_found(stub_->GetUtilization(Context().get(), request, &response), "GetUtilization");
  }
  {
    v1::ListDowntimesRequest request;
    v1::ListDowntimesResponse response;
    EXPECT_TRUE(stub_->ListDowntimes(Context().get(), request, &response).ok());  // no filter
    request.set_machine_id("CNC-99");
    expect_not_found(stub_->ListDowntimes(Context().get(), request, &response), "ListDowntimes");
  }
  {
    v1::StreamSamplesRequest request;
    request.add_machine_ids("CNC-99");
    auto context = Context();
    auto reader = stub_->StreamSamples(context.get(), request);
    v1::StreamSamplesResponse message;
    EXPECT_FALSE(reader->Read(&message));
    expect_not_found(reader->Finish(), "StreamSamples");
  }
}

// Outside testing: a data item id that none of the named machines has (a typo,
// "spindel") was answered OK and empty by every read that filters by data item. Each is
// NOT_FOUND naming it, as an unknown machine is; a data item of another machine of the
// request is a filter, not an error.
TEST_F(TelemetryServiceTest, ReadsNamingAnUnknownDataItemAreNotFound) {
  v1::RegisterMachineResponse registered;
  ASSERT_TRUE(Register(Cnc(), &registered).ok());
  v1::Machine other = Cnc("CNC-08");
  other.mutable_data_items(1)->set_id("S2speed");
  ASSERT_TRUE(Register(other, &registered).ok());
  auto expect_not_found = [](const grpc::Status& status, const std::string& what) {
    ExpectNotFound(status, "DATA_ITEM_NOT_FOUND", "data_item_id", "spindel", what);
  };
  {
    v1::GetLatestValuesRequest request;
    request.add_machine_ids("CNC-07");
    request.add_machine_ids("CNC-08");
    request.add_data_item_ids("S2speed");  // CNC-08's only: a filter
    v1::GetLatestValuesResponse response;
    EXPECT_TRUE(stub_->GetLatestValues(Context().get(), request, &response).ok());
    request.add_data_item_ids("spindel");
    expect_not_found(stub_->GetLatestValues(Context().get(), request, &response),
                     "GetLatestValues");
  }
  {
    v1::QuerySamplesRequest request;
    request.set_machine_id("CNC-07");
    request.add_data_item_ids("S1speed");
    SetTime(now_ - absl::Hours(1), request.mutable_start_time());
    SetTime(now_, request.mutable_end_time());
    v1::QuerySamplesResponse response;
    EXPECT_TRUE(stub_->QuerySamples(Context().get(), request, &response).ok());
    request.add_data_item_ids("spindel");
    expect_not_found(stub_->QuerySamples(Context().get(), request, &response), "QuerySamples");
    // Another machine's data item is not this machine's.
    request.clear_data_item_ids();
    request.add_data_item_ids("S2speed");
    EXPECT_EQ(stub_->QuerySamples(Context().get(), request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    v1::QueryAggregatesRequest request = Aggregates("CNC-07", "spindel", now_ - absl::Hours(1));
    v1::QueryAggregatesResponse response;
    expect_not_found(stub_->QueryAggregates(Context().get(), request, &response),
                     "QueryAggregates");
  }
  {
    v1::StreamSamplesRequest request;
    request.add_machine_ids("CNC-07");
    request.add_data_item_ids("spindel");
    auto context = Context();
    auto reader = stub_->StreamSamples(context.get(), request);
    v1::StreamSamplesResponse message;
    EXPECT_FALSE(reader->Read(&message));
    expect_not_found(reader->Finish(), "StreamSamples");
  }
}

}  // namespace
}  // namespace plantmesh::telemetry

namespace plantmesh::telemetry {
namespace {

// Utilization and OEE look back further than raw samples: intervals and downtimes have
// their own retention, never shorter than the samples'.
TEST(TelemetryConfigTest, StateRetentionShorterThanSampleRetentionStopsTheServer) {
  TelemetryConfig config;
  const runtime::ServerConfig server;
  EXPECT_THAT(CheckConfig(server, config), ::testing::IsEmpty());  // defaults: 400 >= 30
  config.retention_days = 500;
  EXPECT_THAT(CheckConfig(server, config),
              ::testing::ElementsAre(::testing::HasSubstr("telemetry.state-retention-days")));
  config.state_retention_days = 500;
  EXPECT_THAT(CheckConfig(server, config), ::testing::IsEmpty());
}

// The answer to any batch must fit one message, with its rejections' messages cut away,
// and so must a tail's message of one event (outside review: a limit of 512 KiB was
// taken, and every tail then ended RESOURCE_EXHAUSTED at its first message).
TEST(TelemetryConfigTest, ASendLimitTooSmallForAnAnswerOrATailStopsTheServer) {
  const TelemetryConfig config;
  runtime::ServerConfig server;
  for (const size_t too_small : {kMinIngestAnswerBytes, size_t{512} << 10, kMinTailSendBytes - 1}) {
    server.max_send_message_bytes = static_cast<int>(too_small);
    EXPECT_THAT(CheckConfig(server, config),
                ::testing::ElementsAre(::testing::HasSubstr("max-send-message-bytes: at least")))
        << too_small;
  }
  server.max_send_message_bytes = static_cast<int>(kMinTailSendBytes);
  EXPECT_THAT(CheckConfig(server, config), ::testing::IsEmpty());
}

}  // namespace
}  // namespace plantmesh::telemetry
