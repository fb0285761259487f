// TelemetryBatchWriter against an in-process TelemetryService that stores samples in
// memory, dedups batches by (writer_id, batch_sequence) as the contract says, rejects
// invalid samples, and can break streams (after committing a batch, before answering
// it) or be shut down and started again on the same port.
#include "plantmesh/sdk/telemetry_batch_writer.h"

#include <gmock/gmock.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "plantmesh/telemetry/v1/telemetry_service.grpc.pb.h"
#include "tests/support/poll.h"

namespace plantmesh::sdk {
namespace {

namespace tv1 = ::plantmesh::telemetry::v1;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// The stored samples' source_sequence values; the checker of the exactly-once tests.
class SampleLedger {
 public:
  void Store(uint64_t id) {
    ++count_[id];
    order_.push_back(id);
  }
  // Everything wrong with the ledger for ids 0..n-1: missing, duplicated, out of order.
  std::vector<std::string> Problems(uint64_t n) const {
    std::vector<std::string> problems;
    for (uint64_t id = 0; id < n; ++id) {
      auto it = count_.find(id);
      const int count = it == count_.end() ? 0 : it->second;
      if (count != 1) problems.push_back(absl::StrCat("sample ", id, " stored ", count, " times"));
      if (problems.size() > 10) return problems;
    }
    if (count_.size() > n) problems.push_back("samples stored that were never added");
    for (size_t i = 1; i < order_.size(); ++i) {
      if (order_[i] <= order_[i - 1]) {
        problems.push_back(absl::StrCat("sample ", order_[i], " stored after ", order_[i - 1]));
        break;
      }
    }
    return problems;
  }
  size_t size() const { return order_.size(); }

 private:
  std::map<uint64_t, int> count_;
  std::vector<uint64_t> order_;
};

class FakeTelemetryService final : public tv1::TelemetryService::Service {
 public:
  grpc::Status IngestSamples(grpc::ServerContext* context,
                             grpc::ServerReaderWriter<tv1::IngestSamplesResponse,
                                                      tv1::IngestSamplesRequest>* stream) override {
    tv1::IngestSamplesRequest request;
    while (stream->Read(&request)) {
      if (request.writer_id() == "denied") {
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "writer not allowed");
      }
      {
        absl::MutexLock lock(&mutex);
        if (pause_after_batches >= 0 && committed_batches >= pause_after_batches) paused = true;
        auto resumed = [this] { return !paused; };
        if (paused) ++held_batches;
        while (paused && !context->IsCancelled()) {
          mutex.AwaitWithTimeout(absl::Condition(&resumed), absl::Milliseconds(10));
        }
        held_batches = 0;
      }
      if (context->IsCancelled()) return grpc::Status::CANCELLED;
      tv1::IngestSamplesResponse response;
      bool drop = false;
      grpc::Status drop_status;
      {
        absl::MutexLock lock(&mutex);
        response = Commit(request);
        if (misanswer_next) {
          misanswer_next = false;
          response.set_batch_sequence(response.batch_sequence() + 1000);
        }
        drop = drop_every > 0 && committed_batches % drop_every == 0;
        if (drop) ++drops;
        drop_status = this->drop_status;
      }
      // Committed but not answered: the writer must re-send it, and it is a duplicate.
      if (drop) return drop_status;
      if (!stream->Write(response)) break;
    }
    absl::MutexLock lock(&mutex);
    stream_ends.push_back(context->IsCancelled() ? "cancelled" : "half-closed");
    auto cancelled = [context] { return context->IsCancelled(); };
    while (hold_after_half_close && !cancelled()) {
      mutex.AwaitWithTimeout(absl::Condition(&cancelled), absl::Milliseconds(10));
    }
    return grpc::Status::OK;
  }

  tv1::IngestSamplesResponse Commit(const tv1::IngestSamplesRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex) {
    tv1::IngestSamplesResponse response;
    response.set_batch_sequence(request.batch_sequence());
    ++committed_batches;
    uint64_t& last = last_sequence[request.writer_id()];
    sequences.push_back(request.batch_sequence());
    batch_sizes.push_back(request.samples_size());
    if (dedup && request.batch_sequence() <= last) {
      response.set_duplicate_count(request.samples_size());
      return response;
    }
    last = std::max(last, request.batch_sequence());
    for (int i = 0; i < request.samples_size(); ++i) {
      const tv1::Sample& sample = request.samples(i);
      tv1::RejectReason reason = tv1::REJECT_REASON_UNSPECIFIED;
      std::string message;
      if (sample.machine_id() == "unknown") {
        reason = tv1::REJECT_REASON_UNKNOWN_MACHINE;
        message = absl::StrCat("samples[", i, "].machine_id: no machine \"unknown\"");
      } else if (sample.has_number() && !std::isfinite(sample.number())) {
        reason = tv1::REJECT_REASON_NOT_FINITE;
        message = absl::StrCat("samples[", i, "].number: not a finite number");
      }
      if (reason != tv1::REJECT_REASON_UNSPECIFIED) {
        tv1::RejectedSample* rejected = response.add_rejected_samples();
        rejected->set_index(i);
        rejected->set_reason(reason);
        rejected->set_message(message);
        response.set_rejected_count(response.rejected_count() + 1);
        continue;
      }
      ledger.Store(sample.source_sequence());
      response.set_accepted_count(response.accepted_count() + 1);
      // A machine whose state timeline another source moved ahead of this one.
      if (sample.machine_id() == "late-states") {
        response.set_late_state_count(response.late_state_count() + 1);
      }
    }
    return response;
  }

  void SetPaused(bool value) {
    absl::MutexLock lock(&mutex);
    paused = value;
    pause_after_batches = -1;
  }
  // Holds every batch read once `batches` have been committed (from the server's side,
  // so that no commit can slip in between), until SetPaused(false).
  void PauseAfter(int64_t batches) {
    absl::MutexLock lock(&mutex);
    pause_after_batches = batches;
  }
  int64_t HeldBatches() {
    absl::MutexLock lock(&mutex);
    return held_batches;
  }

  absl::Mutex mutex;
  bool dedup ABSL_GUARDED_BY(mutex) = true;
  bool paused ABSL_GUARDED_BY(mutex) = false;
  int64_t pause_after_batches ABSL_GUARDED_BY(mutex) = -1;  // PauseAfter; -1: none
  int64_t held_batches ABSL_GUARDED_BY(mutex) = 0;          // read and held while paused
  int drop_every ABSL_GUARDED_BY(mutex) = 0;         // end the stream after every n-th commit
  grpc::Status drop_status ABSL_GUARDED_BY(mutex) =  // how
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "test server drops the stream");
  int drops ABSL_GUARDED_BY(mutex) = 0;
  bool misanswer_next ABSL_GUARDED_BY(mutex) = false;           // name the wrong batch once
  bool hold_after_half_close ABSL_GUARDED_BY(mutex) = false;    // end a call only when cancelled
  std::vector<std::string> stream_ends ABSL_GUARDED_BY(mutex);  // "half-closed" or "cancelled"
  int64_t committed_batches ABSL_GUARDED_BY(mutex) = 0;
  std::map<std::string, uint64_t> last_sequence ABSL_GUARDED_BY(mutex);
  std::vector<uint64_t> sequences ABSL_GUARDED_BY(mutex);  // every batch committed, in order
  std::vector<int> batch_sizes ABSL_GUARDED_BY(mutex);
  SampleLedger ledger ABSL_GUARDED_BY(mutex);
};

tv1::Sample NumberSample(uint64_t id, const std::string& machine = "cnc07") {
  tv1::Sample sample;
  sample.set_machine_id(machine);
  sample.set_data_item_id("Xload");
  sample.mutable_time()->set_seconds(1'700'000'000 + static_cast<int64_t>(id));
  sample.set_number(static_cast<double>(id) * 0.5);
  sample.set_source_sequence(id);
  return sample;
}

class TelemetryBatchWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartServer("127.0.0.1:0");
    client_options_.insecure = true;
    client_options_.endpoint = absl::StrCat("127.0.0.1:", port_);
    client_options_.default_deadline = absl::Seconds(5);
  }
  void TearDown() override {
    service_.SetPaused(false);
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now()));
  }

  void StartServer(const std::string& address) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr) << "cannot listen on " << address;
  }

  // Shuts the server down (its streams end) and starts it again on the same port with
  // the same storage, as a restarted server over the same database.
  void RestartServer() {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(50)));
    server_.reset();
    StartServer(absl::StrCat("127.0.0.1:", port_));
  }

  TelemetryBatchWriterOptions Options(const std::string& writer_id = "mtconnect-cnc07") {
    TelemetryBatchWriterOptions options;
    options.writer_id = writer_id;
    return options;
  }

  std::unique_ptr<TelemetryBatchWriter> MakeWriter(TelemetryBatchWriterOptions options) {
    absl::StatusOr<std::unique_ptr<TelemetryBatchWriter>> writer =
        TelemetryBatchWriter::Create(client_options_, std::move(options));
    EXPECT_TRUE(writer.ok()) << writer.status();
    return writer.ok() ? *std::move(writer) : nullptr;
  }

  int64_t CommittedBatches() {
    absl::MutexLock lock(&service_.mutex);
    return service_.committed_batches;
  }

  std::vector<std::string> LedgerProblems(uint64_t n) {
    absl::MutexLock lock(&service_.mutex);
    return service_.ledger.Problems(n);
  }

  FakeTelemetryService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  ClientOptions client_options_;
};

TEST(TelemetryBatchWriterOptionsTest, ValidateNamesTheOption) {
  TelemetryBatchWriterOptions options;
  EXPECT_THAT(options.Validate().message(), HasSubstr("writer_id"));
  options.writer_id = "adapter\n1";
  EXPECT_THAT(options.Validate().message(), HasSubstr("control characters"));
  // The server's rule, not bytes (outside testing: a blank id and one not UTF-8 were
  // created and refused by the first stream; 60 CJK characters were refused here).
  for (const char* blank : {" ", "\u00A0", "\u200B\u3000"}) {
    options.writer_id = blank;
    EXPECT_THAT(options.Validate().message(), HasSubstr("writer_id: required")) << blank;
  }
  options.writer_id = "w\xff";
  EXPECT_THAT(options.Validate().message(), HasSubstr("writer_id: not UTF-8 at byte 1"));
  options.writer_id = "";
  for (int i = 0; i < 60; ++i) options.writer_id += "\u6a5f";  // 機: 3 bytes each
  EXPECT_TRUE(options.Validate().ok()) << options.Validate();
  options.writer_id = std::string(129, 'w');
  EXPECT_THAT(options.Validate().message(), HasSubstr("1-128 characters"));
  options.writer_id = "adapter-1";
  EXPECT_TRUE(options.Validate().ok());
  options.max_batch_samples = 10'001;
  EXPECT_THAT(options.Validate().message(), HasSubstr("max_batch_samples"));
  options.max_batch_samples = 500;
  options.max_buffered_samples = 499;
  EXPECT_THAT(options.Validate().message(), HasSubstr("max_buffered_samples"));
  options.max_buffered_samples = 1000;
  options.max_samples_in_flight = 0;
  EXPECT_THAT(options.Validate().message(), HasSubstr("max_samples_in_flight"));
  options.max_samples_in_flight = 1;
  options.call_options = CallOptions::WithTimeout(absl::Seconds(1));
  EXPECT_THAT(options.Validate().message(), HasSubstr("call_options.deadline"));
  // Outside testing: both passed Validate, then the first Flush failed.
  options.call_options = CallOptions();
  options.call_options.metadata.emplace_back("x request", "1");
  EXPECT_THAT(options.Validate().message(), HasSubstr("not a gRPC metadata key"));
  options.call_options = CallOptions();
  options.first_batch_sequence = std::numeric_limits<uint64_t>::max() - 1;
  EXPECT_THAT(options.Validate().message(), HasSubstr("first_batch_sequence"));
  options.first_batch_sequence = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(options.Validate().ok()) << options.Validate();
}

TEST_F(TelemetryBatchWriterTest, BatchesAreCutByCountAndSentInOrder) {
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 10;
  options.linger = absl::Hours(1);  // only the count and Flush cut batches here
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 25; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  {
    absl::MutexLock lock(&service_.mutex);
    EXPECT_THAT(service_.batch_sizes, ::testing::ElementsAre(10, 10, 5));
    ASSERT_EQ(service_.sequences.size(), 3u);
    EXPECT_EQ(service_.sequences[1], service_.sequences[0] + 1);
    EXPECT_EQ(service_.sequences[2], service_.sequences[1] + 1);
  }
  EXPECT_THAT(LedgerProblems(25), ::testing::IsEmpty());
  TelemetryBatchWriterStats stats = writer->Stats();
  EXPECT_EQ(stats.samples_added, 25);
  EXPECT_EQ(stats.batches_sent, 3);
  EXPECT_EQ(stats.samples_sent, 25);
  EXPECT_EQ(stats.batches_acknowledged, 3);
  EXPECT_EQ(stats.samples_accepted, 25);
  EXPECT_EQ(stats.samples_acknowledged(), 25);
  EXPECT_EQ(stats.buffered_samples, 0);
  EXPECT_EQ(stats.buffered_bytes, 0);
  EXPECT_TRUE(writer->Close(absl::Now() + absl::Seconds(5)).ok());
}

TEST_F(TelemetryBatchWriterTest, LingerSendsAPartialBatchWithoutFlush) {
  TelemetryBatchWriterOptions options = Options();
  options.linger = absl::Milliseconds(20);
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  EXPECT_TRUE(
      testing::PollUntil([&] { return writer->Stats().samples_accepted == 3; }, absl::Seconds(20)));
  absl::MutexLock lock(&service_.mutex);
  EXPECT_THAT(service_.batch_sizes, ::testing::ElementsAre(3));
}

TEST_F(TelemetryBatchWriterTest, SequencesStartAtTheClockOrAboveTheGivenOne) {
  const uint64_t before = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  auto by_clock = MakeWriter(Options("by-clock"));
  ASSERT_NE(by_clock, nullptr);
  EXPECT_GE(by_clock->next_batch_sequence(), before);
  TelemetryBatchWriterOptions persisted = Options("persisted");
  persisted.first_batch_sequence = std::numeric_limits<uint64_t>::max() / 2;
  auto from_store = MakeWriter(persisted);
  ASSERT_NE(from_store, nullptr);
  EXPECT_EQ(from_store->next_batch_sequence(), persisted.first_batch_sequence);
  ASSERT_TRUE(from_store->Add(NumberSample(0)).ok());
  ASSERT_TRUE(from_store->Flush(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_EQ(from_store->next_batch_sequence(), persisted.first_batch_sequence + 1);
  {
    absl::MutexLock lock(&service_.mutex);
    EXPECT_EQ(service_.last_sequence["persisted"], persisted.first_batch_sequence);
  }
  // An input sent again whole starts where it started the first time, below the clock.
  TelemetryBatchWriterOptions replay = Options("replay");
  replay.first_batch_sequence = 1;
  replay.exact_first_batch_sequence = true;
  auto replayed = MakeWriter(replay);
  ASSERT_NE(replayed, nullptr);
  EXPECT_EQ(replayed->next_batch_sequence(), 1u);
  replay.first_batch_sequence = 0;
  EXPECT_THAT(replay.Validate().message(), HasSubstr("first_batch_sequence: must be set"));
}

TEST_F(TelemetryBatchWriterTest, RejectsAreCountedByReasonAndReported) {
  absl::Mutex reports_mutex;
  std::vector<RejectedSampleReport> reports;
  TelemetryBatchWriterOptions options = Options();
  options.on_rejected = [&](const RejectedSampleReport& report) {
    absl::MutexLock lock(&reports_mutex);
    reports.push_back(report);
  };
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 10; ++i) {
    tv1::Sample sample = NumberSample(i, i == 2 || i == 7 ? "unknown" : "cnc07");
    if (i == 5) sample.set_number(std::nan(""));
    ASSERT_TRUE(writer->Add(sample).ok());
  }
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  TelemetryBatchWriterStats stats = writer->Stats();
  EXPECT_EQ(stats.samples_accepted, 7);
  EXPECT_EQ(stats.samples_rejected, 3);
  EXPECT_EQ(stats.samples_duplicate, 0);
  EXPECT_THAT(stats.rejected_by_reason,
              UnorderedElementsAre(Pair(tv1::REJECT_REASON_UNKNOWN_MACHINE, 2),
                                   Pair(tv1::REJECT_REASON_NOT_FINITE, 1)));
  absl::MutexLock lock(&reports_mutex);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0].sample.source_sequence(), 2u);
  EXPECT_EQ(reports[0].index, 2);
  EXPECT_EQ(reports[0].reason, tv1::REJECT_REASON_UNKNOWN_MACHINE);
  EXPECT_THAT(reports[0].message, HasSubstr("samples[2].machine_id"));
  EXPECT_EQ(reports[1].sample.source_sequence(), 5u);
  EXPECT_EQ(reports[1].reason, tv1::REJECT_REASON_NOT_FINITE);
  EXPECT_EQ(reports[2].sample.source_sequence(), 7u);
  EXPECT_NE(reports[2].batch_sequence, 0u);
}

// Adds `n` samples (ids 0..n-1) while the server breaks streams after committing
// batches it then does not answer; returns the writer's figures after Flush.
TelemetryBatchWriterStats IngestThroughDrops(TelemetryBatchWriterTest* test,
                                             TelemetryBatchWriter* writer, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    absl::Status added = writer->Add(NumberSample(i));
    EXPECT_TRUE(added.ok()) << added;
    if (!added.ok()) break;
  }
  absl::Status flushed = writer->Flush(absl::Now() + absl::Seconds(60));
  EXPECT_TRUE(flushed.ok()) << flushed;
  (void)test;
  return writer->Stats();
}

// Outside testing (sweep 59): a stream that met a server as its shutdown began ended with
// gRPC's bare "CANCELLED", and the writer's last_stream_error said only "CANCELLED:
// CANCELLED". It says what that means, and the batches are sent again.
TEST_F(TelemetryBatchWriterTest, AStreamTheServerCancelledIsSentAgainAndSaysWhy) {
  {
    absl::MutexLock lock(&service_.mutex);
    service_.drop_every = 7;
    service_.drop_status = grpc::Status(grpc::StatusCode::CANCELLED, "CANCELLED");
  }
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 100;
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  constexpr uint64_t kSamples = 2'000;
  TelemetryBatchWriterStats stats = IngestThroughDrops(this, writer.get(), kSamples);
  EXPECT_THAT(LedgerProblems(kSamples), ::testing::IsEmpty());
  EXPECT_GE(stats.stream_errors, 1);
  EXPECT_EQ(stats.last_stream_error,
            "CANCELLED: the server ended the stream as its shutdown began (gRPC says only "
            "CANCELLED); the batches it did not answer are sent again");
  EXPECT_TRUE(writer->Close(absl::Now() + absl::Seconds(5)).ok());
}

TEST_F(TelemetryBatchWriterTest, EverySampleStoredExactlyOnceAcrossBrokenStreams) {
  {
    absl::MutexLock lock(&service_.mutex);
    service_.drop_every = 7;
  }
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 100;
  options.max_batches_in_flight = 4;
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  constexpr uint64_t kSamples = 20'000;
  TelemetryBatchWriterStats stats = IngestThroughDrops(this, writer.get(), kSamples);
  int drops = 0;
  {
    absl::MutexLock lock(&service_.mutex);
    drops = service_.drops;
  }
  ASSERT_GE(drops, 5);
  EXPECT_THAT(LedgerProblems(kSamples), ::testing::IsEmpty());
  // Each dropped stream's last commit is answered once, as a duplicate, when re-sent.
  EXPECT_EQ(stats.samples_duplicate, drops * 100);
  EXPECT_EQ(stats.samples_accepted, static_cast<int64_t>(kSamples) - drops * 100);
  EXPECT_EQ(stats.samples_acknowledged(), static_cast<int64_t>(kSamples));
  EXPECT_EQ(stats.batches_acknowledged, static_cast<int64_t>(kSamples / 100));
  EXPECT_EQ(stats.batches_sent, static_cast<int64_t>(kSamples / 100));
  EXPECT_GE(stats.batches_resent, drops);
  EXPECT_EQ(stats.stream_errors, drops);
  EXPECT_EQ(stats.answers_out_of_order, 0);
  EXPECT_EQ(stats.reconnects, drops);
  EXPECT_THAT(stats.last_stream_error, HasSubstr("test server drops the stream"));
  EXPECT_EQ(stats.buffered_samples, 0);
  EXPECT_TRUE(writer->Close(absl::Now() + absl::Seconds(5)).ok());
}

// Each batch is announced once, before it is sent, in sequence order, with the samples of
// Add it holds: re-sends across broken streams announce nothing again.
TEST_F(TelemetryBatchWriterTest, EveryBatchIsAnnouncedOnceBeforeItIsSent) {
  {
    absl::MutexLock lock(&service_.mutex);
    service_.drop_every = 7;
  }
  absl::Mutex mu;
  std::vector<BatchSending> announced;
  std::vector<size_t> received_before;  // batches the server had when each was announced
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 100;
  options.max_batches_in_flight = 4;
  options.linger = absl::Hours(1);  // batches cut by count only
  options.on_batch_sending = [&](const BatchSending& batch) {
    size_t received = 0;
    {
      absl::MutexLock lock(&service_.mutex);
      received = service_.sequences.size();
    }
    absl::MutexLock lock(&mu);
    announced.push_back(batch);
    received_before.push_back(received);
  };
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  constexpr uint64_t kSamples = 5'000;
  IngestThroughDrops(this, writer.get(), kSamples);
  ASSERT_TRUE(writer->Close(absl::Now() + absl::Seconds(5)).ok());
  absl::MutexLock lock(&mu);
  ASSERT_EQ(announced.size(), kSamples / 100);
  for (size_t i = 0; i < announced.size(); ++i) {
    EXPECT_EQ(announced[i].first_added_index, static_cast<int64_t>(i * 100)) << i;
    EXPECT_EQ(announced[i].sample_count, 100) << i;
    if (i > 0) {
      EXPECT_EQ(announced[i].batch_sequence, announced[i - 1].batch_sequence + 1);
    }
  }
  absl::MutexLock service_lock(&service_.mutex);
  for (size_t i = 0; i < announced.size(); ++i) {
    // Not received before it was announced.
    for (size_t k = 0; k < received_before[i]; ++k) {
      EXPECT_NE(service_.sequences[k], announced[i].batch_sequence) << i;
    }
  }
}

// The negative control: the same run against a server without dedup must show the
// checker duplicates, or the test above proves nothing.
TEST_F(TelemetryBatchWriterTest, CheckerSeesDuplicatesWhenTheServerDoesNotDedup) {
  {
    absl::MutexLock lock(&service_.mutex);
    service_.drop_every = 7;
    service_.dedup = false;
  }
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 100;
  options.max_batches_in_flight = 4;
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  IngestThroughDrops(this, writer.get(), 5'000);
  const std::vector<std::string> problems = LedgerProblems(5'000);
  ASSERT_FALSE(problems.empty());
  EXPECT_THAT(problems[0], HasSubstr("stored 2 times"));
}

TEST_F(TelemetryBatchWriterTest, RidesThroughServerRestartsOnTheSamePort) {
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 50;
  options.max_buffered_samples = 2'000;  // the producer waits on the restarts
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  constexpr uint64_t kSamples = 10'000;
  std::atomic<uint64_t> added{0};
  std::thread producer([&] {
    for (uint64_t i = 0; i < kSamples; ++i) {
      absl::Status status = writer->Add(NumberSample(i));
      ASSERT_TRUE(status.ok()) << status;
      added.store(i + 1);
    }
  });
  for (int restart = 1; restart <= 5; ++restart) {
    // Each restart while a batch is in flight and unanswered (the server holds it). The
    // server pauses itself after every 20th batch: a test thread that pauses it after
    // seeing the count could come too late on a busy machine (every batch committed,
    // none left in flight).
    service_.PauseAfter(restart * 20);
    ASSERT_TRUE(testing::PollUntil([&] { return service_.HeldBatches() > 0; }, absl::Seconds(60)))
        << "committed " << CommittedBatches();
    ASSERT_GT(writer->Stats().batches_in_flight, 0);
    RestartServer();
    service_.SetPaused(false);
  }
  producer.join();
  absl::Status flushed = writer->Flush(absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(flushed.ok()) << flushed << "\n" << writer->Stats().last_stream_error;
  EXPECT_THAT(LedgerProblems(kSamples), ::testing::IsEmpty());
  TelemetryBatchWriterStats stats = writer->Stats();
  EXPECT_EQ(stats.samples_acknowledged(), static_cast<int64_t>(kSamples));
  // The first restart breaks a stream that was answered before; a later one may hit a
  // stream that had no answer yet, which gRPC's retry policy (IngestSamples is
  // IDEMPOTENT) re-opens and replays unseen by the writer.
  EXPECT_GE(stats.stream_errors, 1);
  EXPECT_GE(stats.reconnects, 1);
  EXPECT_GE(stats.batches_resent, 1);
  EXPECT_EQ(stats.answers_out_of_order, 0);
}

TEST_F(TelemetryBatchWriterTest, AnAnswerForAnotherBatchEndsTheStreamAndIsCounted) {
  {
    absl::MutexLock lock(&service_.mutex);
    service_.misanswer_next = true;
  }
  auto writer = MakeWriter(Options());
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  TelemetryBatchWriterStats stats = writer->Stats();
  EXPECT_EQ(stats.answers_out_of_order, 1);
  EXPECT_EQ(stats.stream_errors, 1);
  EXPECT_THAT(stats.last_stream_error, HasSubstr("was the first unanswered one"));
  EXPECT_EQ(stats.samples_duplicate, 5);  // committed, misanswered, sent again
  EXPECT_THAT(LedgerProblems(5), ::testing::IsEmpty());
}

TEST_F(TelemetryBatchWriterTest, FullBufferFailsFastWhenAskedTo) {
  service_.SetPaused(true);  // nothing is answered: the buffer only fills
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 10;
  options.max_buffered_samples = 50;
  options.when_full = TelemetryBatchWriterOptions::WhenFull::kFailFast;
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 50; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  const absl::Time start = absl::Now();
  absl::Status full = writer->Add(NumberSample(50));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_THAT(full.message(), HasSubstr("not taken"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(writer->Stats().buffered_samples, 50);
  EXPECT_EQ(writer->Stats().samples_added, 50);
  service_.SetPaused(false);
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_TRUE(writer->Add(NumberSample(50)).ok());  // room again
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_THAT(LedgerProblems(51), ::testing::IsEmpty());
}

TEST_F(TelemetryBatchWriterTest, FullBufferByBytesFailsFast) {
  service_.SetPaused(true);
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_bytes = 64 * 1024;
  options.max_buffered_bytes = 64 * 1024;
  options.when_full = TelemetryBatchWriterOptions::WhenFull::kFailFast;
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  absl::Status status;
  int taken = 0;
  for (uint64_t i = 0; i < 1000 && status.ok(); ++i) {
    tv1::Sample sample = NumberSample(i);
    sample.set_text(std::string(500, 'x'));
    status = writer->Add(sample);
    if (status.ok()) ++taken;
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_GT(taken, 100);  // ~520 bytes each in 64 KiB
  EXPECT_LT(taken, 130);
  EXPECT_LE(writer->Stats().buffered_bytes, 64 * 1024);
}

// Outside testing: one 5 MB text value held the writer until its deadline (the server
// refused the message, the writer sent it again after every reconnection). No batch
// could carry it: Add refuses it, and the writer goes on.
TEST_F(TelemetryBatchWriterTest, ASampleLargerThanABatchIsRefusedByAdd) {
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_bytes = 64 * 1024;
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  tv1::Sample huge = NumberSample(0);
  huge.set_text(std::string(5 * 1024 * 1024, 'x'));
  const absl::Status refused = writer->Add(huge);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("more than max_batch_bytes (65536)"));
  EXPECT_EQ(writer->Stats().samples_added, 0);
  ASSERT_TRUE(writer->Add(NumberSample(0)).ok());
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_THAT(LedgerProblems(1), ::testing::IsEmpty());
}

// Outside testing: with an infinite linger and max_buffered_bytes = max_batch_bytes, the
// batch being filled took the whole buffer and Add was refused for ever (RESOURCE_EXHAUSTED
// "65514 + 537 of 65536 bytes" with nothing in flight). A sample that does not fit the
// batch seals it first, so it can be sent and make room.
TEST_F(TelemetryBatchWriterTest, TheBatchBeingFilledNeverHoldsTheBufferAlone) {
  TelemetryBatchWriterOptions options = Options();
  options.linger = absl::InfiniteDuration();
  options.max_batch_bytes = 64 * 1024;
  options.max_buffered_bytes = options.max_batch_bytes;
  options.block_timeout = absl::Seconds(20);
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 300; ++i) {
    tv1::Sample sample = NumberSample(i);
    sample.set_text(std::string(500, 'x'));
    const absl::Status added = writer->Add(sample);
    ASSERT_TRUE(added.ok()) << "sample " << i << ": " << added;
  }
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_THAT(LedgerProblems(300), ::testing::IsEmpty());
}

TEST_F(TelemetryBatchWriterTest, FullBufferBlocksUntilRoomOrTimeout) {
  service_.SetPaused(true);
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 10;
  options.max_buffered_samples = 50;
  options.when_full = TelemetryBatchWriterOptions::WhenFull::kBlock;
  options.block_timeout = absl::Milliseconds(200);
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 50; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  absl::Time start = absl::Now();
  absl::Status full = writer->Add(NumberSample(50));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));

  EXPECT_EQ(writer->Stats().samples_added, 50);
  service_.SetPaused(false);
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_THAT(LedgerProblems(50), ::testing::IsEmpty());
}

TEST_F(TelemetryBatchWriterTest, BlockedAddWaitsForAnswers) {
  service_.SetPaused(true);
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 10;
  options.max_buffered_samples = 10;
  options.block_timeout = absl::Seconds(60);
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  std::atomic<bool> returned{false};
  absl::Status blocked_status;
  std::thread blocked([&] {
    blocked_status = writer->Add(NumberSample(10));
    returned.store(true);
  });
  // Still blocked while nothing is answered (the server holds the first batch).
  ASSERT_TRUE(
      testing::PollUntil([&] { return writer->Stats().batches_sent == 1; }, absl::Seconds(20)));
  EXPECT_FALSE(returned.load());
  service_.SetPaused(false);
  blocked.join();
  EXPECT_TRUE(blocked_status.ok()) << blocked_status;
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_THAT(LedgerProblems(11), ::testing::IsEmpty());
}

TEST_F(TelemetryBatchWriterTest, FlushReturnsAtItsDeadlineAndTheWriterKeepsSending) {
  service_.SetPaused(true);
  auto writer = MakeWriter(Options());
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  const absl::Time start = absl::Now();
  absl::Status flushed = writer->Flush(absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(flushed.code(), absl::StatusCode::kDeadlineExceeded) << flushed;
  EXPECT_THAT(flushed.message(), HasSubstr("20 samples not yet acknowledged"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  service_.SetPaused(false);
  EXPECT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_THAT(LedgerProblems(20), ::testing::IsEmpty());
  EXPECT_TRUE(writer->Close(absl::Now() + absl::Seconds(5)).ok());
}

// The window counts samples as well as batches: 3 batches of 10 fit in 35 samples, a
// fourth waits for an answer; a batch larger than the window goes alone.
TEST_F(TelemetryBatchWriterTest, TheWindowHoldsAtMostItsSamplesInFlight) {
  // Adds `samples` while the server holds every batch and answers how many batches the
  // writer had in flight once it sent `expected` (a short flush's deadline is its time to
  // send one more), then lets the server answer them all.
  auto in_flight_while_held = [&](TelemetryBatchWriter& writer, uint64_t samples,
                                  int64_t expected) {
    service_.SetPaused(true);
    for (uint64_t i = 0; i < samples; ++i) EXPECT_TRUE(writer.Add(NumberSample(i)).ok());
    EXPECT_TRUE(testing::PollUntil([&] { return writer.Stats().batches_sent >= expected; },
                                   absl::Seconds(20)));
    EXPECT_EQ(writer.Flush(absl::Now() + absl::Milliseconds(300)).code(),
              absl::StatusCode::kDeadlineExceeded);
    const int64_t in_flight = writer.Stats().batches_in_flight;
    service_.SetPaused(false);
    EXPECT_TRUE(writer.Flush(absl::Now() + absl::Seconds(20)).ok());
    return in_flight;
  };
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 10;
  options.max_batches_in_flight = 100;
  options.max_samples_in_flight = 35;
  options.linger = absl::Hours(1);
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(in_flight_while_held(*writer, 60, 3), 3);
  EXPECT_THAT(LedgerProblems(60), ::testing::IsEmpty());
  EXPECT_EQ(writer->Stats().batches_sent, 6);
  EXPECT_TRUE(writer->Close(absl::Now() + absl::Seconds(5)).ok());

  options.writer_id = "adapter-window-2";
  options.max_samples_in_flight = 5;
  auto alone = MakeWriter(options);
  ASSERT_NE(alone, nullptr);
  EXPECT_EQ(in_flight_while_held(*alone, 20, 1), 1);
  EXPECT_TRUE(alone->Close(absl::Now() + absl::Seconds(5)).ok());
}

// Stop sends no part of a batch: only whole ones go (count and size cut them).
TEST_F(TelemetryBatchWriterTest, StopDoesNotSendTheBatchBeingFilled) {
  TelemetryBatchWriterOptions options = Options();
  options.max_batch_samples = 10;
  options.linger = absl::InfiniteDuration();
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 15; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  // The writer's reading of the answer, not the server's commit: on a busy machine the
  // answer was still on its way when Stop came, and the batch counted as unanswered.
  ASSERT_TRUE(testing::PollUntil([&] { return writer->Stats().batches_acknowledged == 1; },
                                 absl::Seconds(20)));
  const absl::Status stopped = writer->Stop();
  EXPECT_EQ(stopped.code(), absl::StatusCode::kDeadlineExceeded) << stopped;
  EXPECT_THAT(stopped.message(), HasSubstr("0 samples in 0 batches"));
  EXPECT_THAT(stopped.message(), HasSubstr("and 5 samples of the batch being filled, never sent"));
  EXPECT_EQ(writer->Stats().samples_sent, 10);
  EXPECT_EQ(writer->Stats().samples_abandoned, 5);
  EXPECT_EQ(writer->Add(NumberSample(15)).code(), absl::StatusCode::kFailedPrecondition);
  absl::MutexLock lock(&service_.mutex);
  EXPECT_THAT(service_.batch_sizes, ::testing::ElementsAre(10));
}

TEST_F(TelemetryBatchWriterTest, CloseAtItsDeadlineAbandonsWhatIsUnanswered) {
  service_.SetPaused(true);
  auto writer = MakeWriter(Options());
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  ASSERT_TRUE(
      testing::PollUntil([&] { return writer->Stats().batches_sent == 1; }, absl::Seconds(20)));
  const absl::Time start = absl::Now();
  absl::Status closed = writer->Close(absl::Now() + absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(closed.code(), absl::StatusCode::kDeadlineExceeded) << closed;
  EXPECT_THAT(closed.message(), HasSubstr("20 samples in 1 batches"));
  EXPECT_THAT(closed.message(), HasSubstr("20 of them were sent"));
  EXPECT_EQ(writer->Stats().samples_abandoned, 20);
  EXPECT_EQ(writer->Stats().buffered_samples, 0);
  EXPECT_EQ(writer->Add(NumberSample(21)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer->Close(absl::Now()).code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(TelemetryBatchWriterTest, CloseSendsWhatIsBuffered) {
  TelemetryBatchWriterOptions options = Options();
  options.linger = absl::Hours(1);
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 7; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  EXPECT_TRUE(writer->Close(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_THAT(LedgerProblems(7), ::testing::IsEmpty());
  EXPECT_EQ(writer->Stats().samples_abandoned, 0);
}

// Outside testing: every healthy ingest was logged by the server as CANCELLED, because
// Close cancelled its stream. With everything acknowledged it half-closes it.
TEST_F(TelemetryBatchWriterTest, CloseHalfClosesTheStreamWhenEverythingIsAcknowledged) {
  auto writer = MakeWriter(Options());
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 7; ++i) ASSERT_TRUE(writer->Add(NumberSample(i)).ok());
  EXPECT_TRUE(writer->Close(absl::Now() + absl::Seconds(20)).ok());
  absl::MutexLock lock(&service_.mutex);
  EXPECT_THAT(service_.stream_ends, ::testing::ElementsAre("half-closed"));
}

// A server that does not end the half-closed call is cancelled at Close's deadline;
// everything was acknowledged, so Close is OK.
TEST_F(TelemetryBatchWriterTest, CloseCancelsAHalfClosedStreamTheServerDoesNotEnd) {
  {
    absl::MutexLock lock(&service_.mutex);
    service_.hold_after_half_close = true;
  }
  auto writer = MakeWriter(Options());
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Add(NumberSample(0)).ok());
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  const absl::Time start = absl::Now();
  EXPECT_TRUE(writer->Close(absl::Now() + absl::Milliseconds(200)).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(writer->Stats().samples_abandoned, 0);
}

TEST_F(TelemetryBatchWriterTest, CloseReturnsWhileTheServerIsUnreachable) {
  server_->Shutdown(absl::ToChronoTime(absl::Now()));
  server_.reset();
  auto writer = MakeWriter(Options());
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Add(NumberSample(0)).ok());
  ASSERT_EQ(writer->Flush(absl::Now() + absl::Milliseconds(300)).code(),
            absl::StatusCode::kDeadlineExceeded);
  const absl::Time start = absl::Now();
  const absl::Status closed = writer->Close(absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(closed.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // Outside testing: "1 of them were sent and may be stored" from a writer that never
  // reached a server, and the stream error quoted with its line break.
  EXPECT_THAT(closed.message(),
              HasSubstr("none was sent: no connection to the server was ever established, its "
                        "TLS handshake included"));
  EXPECT_THAT(std::string(closed.message()), ::testing::Not(HasSubstr("\n")));
  EXPECT_THAT(writer->Stats().last_stream_error, ::testing::StartsWith("UNAVAILABLE: "));
  EXPECT_THAT(writer->Stats().last_stream_error, ::testing::Not(HasSubstr("\n")));
}

TEST_F(TelemetryBatchWriterTest, PermanentErrorStopsTheWriter) {
  auto writer = MakeWriter(Options("denied"));
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Add(NumberSample(0)).ok());
  absl::Status flushed = writer->Flush(absl::Now() + absl::Seconds(20));
  EXPECT_EQ(flushed.code(), absl::StatusCode::kPermissionDenied) << flushed;
  EXPECT_EQ(writer->Add(NumberSample(1)).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(writer->Stats().stream_errors, 1);
  // Close says what the error left unstored (outside testing: the bare error, the samples
  // counted abandoned unsaid), and keeps the error's code.
  const absl::Status closed = writer->Close(absl::Now());
  EXPECT_EQ(closed.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(closed.message()),
              ::testing::HasSubstr("close: 1 samples not acknowledged before this error are "
                                   "abandoned (1 of them were sent; none of them was stored)"));
  EXPECT_EQ(writer->Stats().samples_abandoned, 1);
}

// Outside testing (sweep 45): an adapter whose state samples came after another source's
// newer ones learned nothing; the answers' late_state_count adds up in Stats.
TEST_F(TelemetryBatchWriterTest, StateSamplesLateForTheTimelineAreCounted) {
  auto writer = MakeWriter(Options());
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(writer->Add(NumberSample(i, i % 2 == 0 ? "late-states" : "cnc07")).ok());
  }
  ASSERT_TRUE(writer->Flush(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_EQ(writer->Stats().samples_accepted, 6);
  EXPECT_EQ(writer->Stats().samples_late_for_state, 3);
  ASSERT_TRUE(writer->Close(absl::Now() + absl::Seconds(20)).ok());
}

// A connection whose IngestSamples opens no stream, as a gMock connection without an
// action for it does.
class NoStreamConnection : public TelemetryConnection {
 public:
  std::unique_ptr<ReadWriteStream<tv1::IngestSamplesRequest, tv1::IngestSamplesResponse>>
  IngestSamples(const CallOptions&) override {
    return nullptr;
  }
};

// Outside testing: a mock connection without an IngestSamples action ended the adapter's
// whole unit test with SIGSEGV and no message; the writer names it as its permanent error.
TEST(TelemetryBatchWriterNoStreamTest, AConnectionThatOpensNoStreamIsAPermanentError) {
  TelemetryBatchWriterOptions options;
  options.writer_id = "no-stream";
  absl::StatusOr<std::unique_ptr<TelemetryBatchWriter>> writer = TelemetryBatchWriter::Create(
      TelemetryClient(std::make_shared<NoStreamConnection>()), options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Add(NumberSample(0)).ok());
  const absl::Status flushed = (*writer)->Flush(absl::Now() + absl::Seconds(30));
  EXPECT_EQ(flushed.code(), absl::StatusCode::kFailedPrecondition) << flushed;
  EXPECT_THAT(std::string(flushed.message()), HasSubstr("opened no IngestSamples stream"));
}

}  // namespace
}  // namespace plantmesh::sdk
