// Issue 8: exactly-once ingest through crashes. Writers (the SDK's TelemetryBatchWriter
// over mTLS) ingest 1,000,000 samples while plantmesh-server is killed with SIGKILL six
// times and started again on the same port. Afterwards PostgreSQL must hold every sample
// exactly once and each writer must have closed with everything acknowledged.
//
// Sample identity: writer w writes machine KILL-<w>, and its n-th sample (n from 1) has
// source_sequence n and value n, on data item v<n % 10>. So "exactly once" is checkable
// in SQL: per machine, count = distinct source_sequence = N, min 1, max N, value equal to
// source_sequence.
//
// Kills: five at progress thresholds (wherever the writers happen to be: mid-COPY,
// between batches, while connecting), and one at the moment exactly-once is about: a
// batch committed whose acknowledgement the writer has not seen. That one is made
// certain (not left to timing): writer 0 reaches the server through a TCP relay
// (tests/support/tcp_relay.h). Its producer pauses at a hold sample until the relay
// discards what the server sends; the batches after it are sent only then, so no answer
// to them can reach the writer. Once PostgreSQL holds one of them, the server is killed
// and the relay's connections dropped; the writer re-sends the batch and the server must
// answer it as a duplicate. Writer 0
// also sends one sample the server must reject (unknown data item), which must stay
// rejected and unstored through all of it.
//
// Negative control: the same run, smaller, with the dedup record disabled. The server has
// no switch for that, on purpose: a flag that turns exactly-once off is one mistyped
// configuration away from silent double counting in a plant. The control disables it in
// its own test database instead: triggers keep telemetry.ingest_writers'
// last_batch_sequence at 0 and telemetry.ingest_batches empty, so no batch is ever
// recognised as sent before. The checker
// must then report duplicates, proving it can fail.
#include <atomic>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/sdk/telemetry_batch_writer.h"
#include "plantmesh/telemetry/v1/telemetry_service.pm_client.h"
#include "tests/e2e/mesh.h"
#include "tests/support/poll.h"
#include "tests/support/tcp_relay.h"

namespace plantmesh::e2e {
namespace {

namespace v1 = ::plantmesh::telemetry::v1;
using ::testing::HasSubstr;

constexpr int kDataItems = 10;
constexpr char kUnknownItem[] = "not-registered";

std::string MachineOf(int writer) { return absl::StrCat("KILL-", writer); }

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

struct RunOptions {
  int writers = 2;
  int64_t samples_per_writer = 500'000;
  // Kills at these shares of all samples acknowledged, before and after the held kill.
  std::vector<double> kills_before_hold = {0.15, 0.30};
  std::vector<double> kills_after_hold = {0.60, 0.75, 0.88};
  // Writer 0's sample at this share names an unknown data item: rejected.
  double reject_at = 0.45;
  // Writer 0's producer waits before its sample at this share until the relay discards.
  // Beyond the last kill before the hold (as a share of all samples) with room to spare,
  // so writer 0 is streaming on a connection to the restarted server when it gets there.
  double hold_at = 0.7;
};

struct RunResult {
  std::vector<sdk::TelemetryBatchWriterStats> stats;  // per writer, after Close
  std::vector<absl::Status> closed;                   // Close's result per writer
  int kills = 0;
  int64_t rejected_index = 0;  // writer 0's n of the rejected sample
  absl::Duration ingest_time;
};

std::string Summary(const sdk::TelemetryBatchWriterStats& s) {
  return absl::StrCat("added ", s.samples_added, ", accepted ", s.samples_accepted, ", duplicate ",
                      s.samples_duplicate, ", rejected ", s.samples_rejected, ", batches sent ",
                      s.batches_sent, ", re-sent ", s.batches_resent, ", stream errors ",
                      s.stream_errors, ", reconnects ", s.reconnects, ", abandoned ",
                      s.samples_abandoned, ", in flight ", s.batches_in_flight, ", buffered ",
                      s.buffered_samples, ", last stream error: ", s.last_stream_error);
}

class TelemetryKillTest : public ::testing::Test {
 protected:
  void StartMesh() {
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = *std::move(mesh);
  }

  void RegisterMachines(int writers) {
    absl::StatusOr<sdk::TelemetryClient> ops =
        sdk::TelemetryClient::Connect(mesh_->OptionsFor("ops"));
    ASSERT_TRUE(ops.ok()) << ops.status();
    for (int w = 0; w < writers; ++w) {
      v1::RegisterMachineRequest request;
      request.mutable_machine()->set_id(MachineOf(w));
      for (int i = 0; i < kDataItems; ++i) {
        v1::DataItem* item = request.mutable_machine()->add_data_items();
        item->set_id(absl::StrCat("v", i));
        item->set_category(v1::DATA_ITEM_CATEGORY_SAMPLE);
        item->set_type(v1::DATA_ITEM_TYPE_OTHER);
      }
      absl::StatusOr<v1::RegisterMachineResponse> registered = ops->RegisterMachine(request);
      ASSERT_TRUE(registered.ok()) << Describe(registered.status());
    }
  }

  // The negative control's lever: the writers' dedup record never advances.
  void DisableDedupRecord() {
    pqxx::connection conn(mesh_->database_url());
    pqxx::nontransaction tx(conn);
    tx.exec(
        "CREATE FUNCTION public.kill_test_forget_batches() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.last_batch_sequence := 0; RETURN NEW; END $$");
    tx.exec(
        "CREATE TRIGGER kill_test_forget_batches BEFORE UPDATE ON telemetry.ingest_writers "
        "FOR EACH ROW EXECUTE FUNCTION public.kill_test_forget_batches()");
    tx.exec(
        "CREATE FUNCTION public.kill_test_skip_record() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RETURN NULL; END $$");
    tx.exec(
        "CREATE TRIGGER kill_test_skip_record BEFORE INSERT ON telemetry.ingest_batches "
        "FOR EACH ROW EXECUTE FUNCTION public.kill_test_skip_record()");
  }

  // Rows of `machine` from its sample `first_sequence` on.
  int64_t StoredRowsFrom(const std::string& machine, int64_t first_sequence) {
    pqxx::connection conn(mesh_->database_url());
    pqxx::nontransaction tx(conn);
    return tx
        .exec1("SELECT count(*) FROM telemetry.samples WHERE machine_id = " + tx.quote(machine) +
               " AND source_sequence >= " + std::to_string(first_sequence))[0]
        .as<int64_t>();
  }

  void KillAndRestart(RunResult& result) {
    absl::Status restarted = mesh_->KillAndRestartServerOnSamePort();
    ASSERT_TRUE(restarted.ok()) << restarted;
    ++result.kills;
  }

  RunResult Ingest(const RunOptions& run) {
    RunResult result;
    const int64_t total = run.writers * run.samples_per_writer;
    result.rejected_index =
        static_cast<int64_t>(run.reject_at * static_cast<double>(run.samples_per_writer));
    const int64_t hold_index =
        static_cast<int64_t>(run.hold_at * static_cast<double>(run.samples_per_writer));

    // Writer 0's connection: through the relay, which the held kill uses.
    absl::StatusOr<std::unique_ptr<testing::TcpRelay>> relay =
        testing::TcpRelay::Start(mesh_->server().port());
    EXPECT_TRUE(relay.ok()) << relay.status();
    if (!relay.ok()) return result;

    std::vector<std::unique_ptr<sdk::TelemetryBatchWriter>> writers;
    for (int w = 0; w < run.writers; ++w) {
      sdk::TelemetryBatchWriterOptions options;
      options.writer_id = absl::StrCat("kill-test-", w);
      options.max_batch_samples = 500;
      options.block_timeout = absl::Minutes(5);  // a producer waits out every restart
      options.initial_backoff = absl::Milliseconds(50);
      options.max_backoff = absl::Seconds(1);
      sdk::ClientOptions client = mesh_->OptionsFor("ivan");
      if (w == 0) client.endpoint = (*relay)->endpoint();
      absl::StatusOr<std::unique_ptr<sdk::TelemetryBatchWriter>> writer =
          sdk::TelemetryBatchWriter::Create(std::move(client), std::move(options));
      EXPECT_TRUE(writer.ok()) << writer.status();
      if (!writer.ok()) return result;
      writers.push_back(*std::move(writer));
    }

    // Times an hour ago, a microsecond apart: well inside retention, never in the future.
    const absl::Time base = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() - absl::Hours(1)));
    const absl::Time started = absl::Now();
    // Each producer adds its last sample only after the last kill: the ingest cannot
    // finish before a kill that was meant to fall during it, however fast it runs.
    absl::Notification kills_done;
    absl::Notification discarding;  // writer 0's producer waits for it at hold_index
    std::vector<std::thread> producers;
    std::vector<absl::Status> add_errors(static_cast<size_t>(run.writers));
    for (int w = 0; w < run.writers; ++w) {
      producers.emplace_back([&, w] {
        v1::Sample sample;
        sample.set_machine_id(MachineOf(w));
        for (int64_t n = 1; n <= run.samples_per_writer; ++n) {
          if (n == run.samples_per_writer) kills_done.WaitForNotification();
          if (w == 0 && n == hold_index) discarding.WaitForNotification();
          const bool rejected = w == 0 && n == result.rejected_index;
          sample.set_data_item_id(rejected ? std::string(kUnknownItem)
                                           : absl::StrCat("v", n % kDataItems));
          SetTime(base + absl::Microseconds(n), sample.mutable_time());
          sample.set_number(static_cast<double>(n));
          sample.set_source_sequence(static_cast<uint64_t>(n));
          absl::Status added = writers[static_cast<size_t>(w)]->Add(sample);
          if (!added.ok()) {
            add_errors[static_cast<size_t>(w)] = added;
            return;
          }
        }
      });
    }

    auto acknowledged = [&] {
      int64_t sum = 0;
      for (const auto& writer : writers) sum += writer->Stats().samples_acknowledged();
      return sum;
    };
    int relayed_before_kill = 0;  // the relay's connection count before the last kill
    auto kill_at = [&](double share) {
      const int64_t threshold = static_cast<int64_t>(share * static_cast<double>(total));
      ASSERT_TRUE(testing::PollUntil([&] { return acknowledged() >= threshold; }, absl::Minutes(3)))
          << "acknowledged " << acknowledged() << " of " << total << ", waiting for " << threshold;
      ASSERT_LT(acknowledged(), total) << "the kill must fall during the ingest";
      relayed_before_kill = (*relay)->connections_relayed();
      KillAndRestart(result);
    };
    for (double share : run.kills_before_hold) {
      kill_at(share);
      if (HasFatalFailure()) break;
    }
    if (!HasFatalFailure()) {
      // Writer 0 waits at its hold with everything before it answered, on a stream to the
      // restarted server (a handshake through the discarding relay would never finish).
      // Its window is then empty, so the batches after the hold are sent at once; their
      // answers are discarded, so once PostgreSQL holds one, the server holds a batch
      // writer 0 was never told of. (Waiting for PostgreSQL to hold more than when the
      // discarding began failed: writer 0's window was full of batches committed
      // already, and it sent nothing more.)
      const std::string machine = MachineOf(0);
      EXPECT_TRUE(testing::PollUntil(
          [&] {
            const sdk::TelemetryBatchWriterStats s = writers[0]->Stats();
            return s.samples_added == hold_index - 1 && s.buffered_samples == 0 &&
                   (*relay)->connections_relayed() > relayed_before_kill;
          },
          absl::Minutes(3)))
          << "writer 0 at its hold (sample " << hold_index << "): " << Summary(writers[0]->Stats())
          << "; connections relayed: " << (*relay)->connections_relayed() << ", "
          << relayed_before_kill << " before the last kill";
      (*relay)->DiscardServerBytes();
      discarding.Notify();
      EXPECT_TRUE(testing::PollUntil([&] { return StoredRowsFrom(machine, hold_index) > 0; },
                                     absl::Minutes(3)))
          << "nothing stored from writer 0's hold on: " << Summary(writers[0]->Stats());
      KillAndRestart(result);
      (*relay)->DropConnections();
    }
    if (!HasFatalFailure()) {
      for (double share : run.kills_after_hold) {
        kill_at(share);
        if (HasFatalFailure()) break;
      }
    }
    if (!discarding.HasBeenNotified()) discarding.Notify();
    kills_done.Notify();
    for (std::thread& producer : producers) producer.join();
    for (int w = 0; w < run.writers; ++w) {
      EXPECT_TRUE(add_errors[static_cast<size_t>(w)].ok())
          << "writer " << w << ": " << Describe(add_errors[static_cast<size_t>(w)]);
      result.closed.push_back(
          writers[static_cast<size_t>(w)]->Close(absl::Now() + absl::Minutes(3)));
      result.stats.push_back(writers[static_cast<size_t>(w)]->Stats());
    }
    result.ingest_time = absl::Now() - started;
    return result;
  }

  // What breaks "each of writer w's samples 1..N, except the rejected one, stored exactly
  // once": one sentence per problem found; empty when none.
  std::vector<std::string> ExactlyOnceProblems(int writer, int64_t samples, int64_t rejected) {
    pqxx::connection conn(mesh_->database_url());
    pqxx::nontransaction tx(conn);
    const std::string machine = tx.quote(MachineOf(writer));
    std::vector<std::string> problems;
    const pqxx::row figures = tx.exec1(
        "SELECT count(*), count(DISTINCT source_sequence), coalesce(min(source_sequence), 0), "
        "coalesce(max(source_sequence), 0), count(*) FILTER (WHERE number <> source_sequence "
        "OR data_item_id <> 'v' || (source_sequence % " +
        std::to_string(kDataItems) +
        ")::text) FROM telemetry.samples WHERE machine_id = " + machine);
    const int64_t rows = figures[0].as<int64_t>();
    const int64_t distinct = figures[1].as<int64_t>();
    const int64_t expected = rejected > 0 ? samples - 1 : samples;
    if (rows != expected) {
      problems.push_back(
          absl::StrCat(MachineOf(writer), ": ", rows, " rows stored, ", expected, " expected"));
    }
    if (distinct != rows) {
      std::string examples;
      for (const pqxx::row& r :
           tx.exec("SELECT source_sequence, count(*) FROM telemetry.samples WHERE machine_id = " +
                   machine + " GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 5")) {
        absl::StrAppend(&examples, " ", r[0].as<int64_t>(), " (", r[1].as<int64_t>(), "x)");
      }
      problems.push_back(absl::StrCat(MachineOf(writer), ": ", rows - distinct,
                                      " samples stored more than once, e.g. source_sequence",
                                      examples));
    }
    if (distinct != expected) {
      problems.push_back(absl::StrCat(MachineOf(writer), ": ", expected - distinct,
                                      " samples missing (distinct source_sequence ", distinct,
                                      ")"));
    }
    if (rows > 0 && (figures[2].as<int64_t>() != 1 || figures[3].as<int64_t>() != samples)) {
      problems.push_back(absl::StrCat(MachineOf(writer), ": source_sequence from ",
                                      figures[2].as<int64_t>(), " to ", figures[3].as<int64_t>(),
                                      ", 1 to ", samples, " expected"));
    }
    if (figures[4].as<int64_t>() != 0) {
      problems.push_back(absl::StrCat(MachineOf(writer), ": ", figures[4].as<int64_t>(),
                                      " rows whose value or data item is not their sample's"));
    }
    if (rejected > 0 && tx.exec1("SELECT count(*) FROM telemetry.samples WHERE machine_id = " +
                                 machine + " AND source_sequence = " + std::to_string(rejected))[0]
                                .as<int64_t>() != 0) {
      problems.push_back(
          absl::StrCat(MachineOf(writer), ": the rejected sample ", rejected, " was stored"));
    }
    return problems;
  }

  std::unique_ptr<Mesh> mesh_;
};

TEST_F(TelemetryKillTest, EveryAcknowledgedSampleStoredExactlyOnceThroughSixSigkills) {
  StartMesh();
  ASSERT_FALSE(HasFatalFailure());
  RunOptions run;  // 2 writers x 500,000 samples, 6 kills
  RegisterMachines(run.writers);
  ASSERT_FALSE(HasFatalFailure());
  RunResult result = Ingest(run);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_GE(result.kills, 5);
  std::printf("ingest of %lld samples with %d SIGKILLs: %s\n",
              static_cast<long long>(run.writers * run.samples_per_writer), result.kills,
              absl::FormatDuration(result.ingest_time).c_str());

  for (int w = 0; w < run.writers; ++w) {
    const sdk::TelemetryBatchWriterStats& s = result.stats[static_cast<size_t>(w)];
    std::printf("writer %d: %s\n", w, Summary(s).c_str());
    EXPECT_TRUE(result.closed[static_cast<size_t>(w)].ok())
        << "writer " << w << ": " << Describe(result.closed[static_cast<size_t>(w)]);
    // Nothing lost on the writer's side: every sample added was answered.
    EXPECT_EQ(s.samples_added, run.samples_per_writer);
    EXPECT_EQ(s.samples_acknowledged(), s.samples_added);
    EXPECT_EQ(s.samples_abandoned, 0);
    EXPECT_EQ(s.buffered_samples, 0);
    EXPECT_EQ(s.answers_out_of_order, 0);
    EXPECT_GE(s.stream_errors, 1);
    const int64_t rejected = w == 0 ? result.rejected_index : 0;
    EXPECT_EQ(s.samples_rejected, rejected > 0 ? 1 : 0);
    EXPECT_THAT(ExactlyOnceProblems(w, run.samples_per_writer, rejected), ::testing::IsEmpty());
  }
  // The held kill re-sent batches committed before it: the server recognised them.
  EXPECT_GT(result.stats[0].samples_duplicate, 0);
  // Every stream that stored a batch has its audit row, killed or not: written with its
  // first new batch (outside testing: at the stream's end, so each SIGKILL left the
  // streams it cut unaudited, and only the writers' last streams had one). The kills come
  // at shares of all samples acknowledged, so between two of them (and before the first,
  // and after the last) some writer stored new batches, on a stream of its own.
  pqxx::connection conn(mesh_->database_url());
  pqxx::nontransaction tx(conn);
  EXPECT_GE(tx.exec1("SELECT count(*) FROM audit.audit_log WHERE method LIKE '%.IngestSamples' "
                     "AND status_code = 0")[0]
                .as<int64_t>(),
            static_cast<int64_t>(result.kills) + 1);
}

TEST_F(TelemetryKillTest, NegativeControlWithoutTheDedupRecordTheCheckerReportsDuplicates) {
  StartMesh();
  ASSERT_FALSE(HasFatalFailure());
  DisableDedupRecord();
  RunOptions run;
  run.writers = 1;
  run.samples_per_writer = 60'000;
  run.kills_before_hold = {0.2};
  run.hold_at = 0.5;
  run.kills_after_hold = {0.7};
  RegisterMachines(run.writers);
  ASSERT_FALSE(HasFatalFailure());
  RunResult result = Ingest(run);
  ASSERT_FALSE(HasFatalFailure());
  const sdk::TelemetryBatchWriterStats& s = result.stats[0];
  std::printf("negative control, %d SIGKILLs: %s\n", result.kills, Summary(s).c_str());
  // The writer did its part exactly as in the real run...
  EXPECT_TRUE(result.closed[0].ok()) << Describe(result.closed[0]);
  EXPECT_EQ(s.samples_acknowledged(), s.samples_added);
  // ...but the server no longer recognised the batches re-sent after the held kill.
  EXPECT_EQ(s.samples_duplicate, 0);
  EXPECT_GT(s.batches_resent, 0);
  const std::vector<std::string> problems =
      ExactlyOnceProblems(0, run.samples_per_writer, result.rejected_index);
  for (const std::string& p : problems) std::printf("checker: %s\n", p.c_str());
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr("stored more than once")));
}

// Outside testing (AP F2): across an adapter's restart only at-least-once held: what was
// in flight at the crash was sent again. Here the adapter's process "crashes" (its writer
// abandoned) with five batches committed but unanswered — made certain, not left to
// timing: the relay discards the server's answers while PostgreSQL takes them — and its
// successor resumes the README's way: the batches' record kept by on_batch_sending, the
// writer fenced and told its last committed batch by ResumeIngestWriter.
TEST_F(TelemetryKillTest, AnAdapterRestartedAfterACrashResumesExactlyOnce) {
  StartMesh();
  ASSERT_FALSE(HasFatalFailure());
  RegisterMachines(1);
  ASSERT_FALSE(HasFatalFailure());
  absl::StatusOr<std::unique_ptr<testing::TcpRelay>> relay =
      testing::TcpRelay::Start(mesh_->server().port());
  ASSERT_TRUE(relay.ok()) << relay.status();
  constexpr int64_t kTotal = 2'000;
  const absl::Time base = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() - absl::Hours(1)));
  auto sample = [&](int64_t n) {
    v1::Sample s;
    s.set_machine_id(MachineOf(0));
    s.set_data_item_id(absl::StrCat("v", n % kDataItems));
    SetTime(base + absl::Microseconds(n), s.mutable_time());
    s.set_number(static_cast<double>(n));
    s.set_source_sequence(static_cast<uint64_t>(n));
    return s;
  };
  // The adapter's durable record: batch sequence -> samples taken up to its end.
  absl::Mutex mu;
  std::map<uint64_t, int64_t> record;
  auto writer_options = [&](uint64_t first_batch_sequence) {
    sdk::TelemetryBatchWriterOptions options;
    options.writer_id = "adapter-0";
    options.max_batch_samples = 100;
    options.linger = absl::Hours(1);  // batches cut by count, and by Flush
    options.first_batch_sequence = first_batch_sequence;
    options.on_batch_sending = [&](const sdk::BatchSending& batch) {
      absl::MutexLock lock(&mu);
      record[batch.batch_sequence] = batch.first_added_index + batch.sample_count;
    };
    return options;
  };

  // The first process: 1,000 samples acknowledged, then 500 committed and never answered.
  sdk::ClientOptions through_relay = mesh_->OptionsFor("ivan");
  through_relay.endpoint = (*relay)->endpoint();
  absl::StatusOr<std::unique_ptr<sdk::TelemetryBatchWriter>> first =
      sdk::TelemetryBatchWriter::Create(through_relay, writer_options(0));
  ASSERT_TRUE(first.ok()) << first.status();
  for (int64_t n = 1; n <= 1'000; ++n) ASSERT_TRUE((*first)->Add(sample(n)).ok());
  ASSERT_TRUE((*first)->Flush(absl::Now() + absl::Seconds(60)).ok());
  (*relay)->DiscardServerBytes();
  for (int64_t n = 1'001; n <= 1'500; ++n) ASSERT_TRUE((*first)->Add(sample(n)).ok());
  ASSERT_TRUE(plantmesh::testing::PollUntil(
      [&] { return StoredRowsFrom(MachineOf(0), 1) == 1'500; }, absl::Seconds(60)))
      << StoredRowsFrom(MachineOf(0), 1) << " rows";
  const int64_t acknowledged = (*first)->Stats().samples_acknowledged();
  EXPECT_EQ(acknowledged, 1'000);  // resuming from it would store 500 twice
  (*first)->Stop().IgnoreError();  // the crash: nothing more is sent or waited for
  first->reset();
  (*relay)->DropConnections();

  // The successor.
  uint64_t fence = 0;
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(record.size(), 15u);
    fence = record.rbegin()->first;
  }
  absl::StatusOr<sdk::TelemetryClient> client =
      sdk::TelemetryClient::Connect(mesh_->OptionsFor("ivan"));
  ASSERT_TRUE(client.ok()) << client.status();
  v1::ResumeIngestWriterRequest resume;
  resume.set_writer_id("adapter-0");
  resume.set_fence_batch_sequence(fence);
  absl::StatusOr<v1::ResumeIngestWriterResponse> resumed = client->ResumeIngestWriter(resume);
  ASSERT_TRUE(resumed.ok()) << Describe(resumed.status());
  EXPECT_EQ(resumed->writer().last_batch_sequence(), fence);  // all five had committed
  EXPECT_EQ(resumed->writer().fenced_through(), fence);
  int64_t position = 0;
  {
    absl::MutexLock lock(&mu);
    position = record.at(resumed->writer().last_batch_sequence());
  }
  EXPECT_EQ(position, 1'500);
  absl::StatusOr<std::unique_ptr<sdk::TelemetryBatchWriter>> second =
      sdk::TelemetryBatchWriter::Create(mesh_->OptionsFor("ivan"), writer_options(fence + 1));
  ASSERT_TRUE(second.ok()) << second.status();
  for (int64_t n = position + 1; n <= kTotal; ++n) ASSERT_TRUE((*second)->Add(sample(n)).ok());
  ASSERT_TRUE((*second)->Close(absl::Now() + absl::Seconds(60)).ok());
  EXPECT_THAT(ExactlyOnceProblems(0, kTotal, 0), ::testing::IsEmpty());
}

}  // namespace
}  // namespace plantmesh::e2e
