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
// (tests/support/tcp_relay.h) that starts discarding what the server sends; once
// PostgreSQL shows batches committed beyond what the writer has acknowledged, the server
// is killed and the relay's connections dropped, so those answers never arrive; the
// writer re-sends the batches and the server must answer them as duplicates. Writer 0
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
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
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
};

struct RunResult {
  std::vector<sdk::TelemetryBatchWriterStats> stats;  // per writer, after Close
  std::vector<absl::Status> closed;                   // Close's result per writer
  int kills = 0;
  int64_t rejected_index = 0;  // writer 0's n of the rejected sample
  absl::Duration ingest_time;
};

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

  int64_t StoredRows(const std::string& machine) {
    pqxx::connection conn(mesh_->database_url());
    pqxx::nontransaction tx(conn);
    return tx
        .exec1("SELECT count(*) FROM telemetry.samples WHERE machine_id = " + tx.quote(machine))[0]
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
    std::vector<std::thread> producers;
    std::vector<absl::Status> add_errors(static_cast<size_t>(run.writers));
    for (int w = 0; w < run.writers; ++w) {
      producers.emplace_back([&, w] {
        v1::Sample sample;
        sample.set_machine_id(MachineOf(w));
        for (int64_t n = 1; n <= run.samples_per_writer; ++n) {
          if (n == run.samples_per_writer) kills_done.WaitForNotification();
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
    auto kill_at = [&](double share) {
      const int64_t threshold = static_cast<int64_t>(share * static_cast<double>(total));
      ASSERT_TRUE(testing::PollUntil([&] { return acknowledged() >= threshold; }, absl::Minutes(3)))
          << "acknowledged " << acknowledged() << " of " << total << ", waiting for " << threshold;
      ASSERT_LT(acknowledged(), total) << "the kill must fall during the ingest";
      KillAndRestart(result);
    };
    for (double share : run.kills_before_hold) {
      kill_at(share);
      if (HasFatalFailure()) break;
    }
    if (!HasFatalFailure()) {
      // Writer 0 hears nothing more from the server; its sender still sends (within its
      // window of unacknowledged batches), the server commits and answers. Kill once
      // PostgreSQL holds a whole batch more than writer 0 was told of; those answers
      // go with the relay's connections. First writer 0 must be back from the last
      // kill, streaming (a handshake cut off would send nothing).
      const std::string machine = MachineOf(0);
      const int64_t accepted_before = writers[0]->Stats().samples_accepted;
      EXPECT_TRUE(testing::PollUntil(
          [&] { return writers[0]->Stats().samples_accepted >= accepted_before + 5000; },
          absl::Minutes(1)))
          << "writer 0 acknowledged " << writers[0]->Stats().samples_accepted - accepted_before
          << " samples since the last kill";
      (*relay)->DiscardServerBytes();
      // Every answer writer 0 can still read (in its socket, or read and not yet counted)
      // was passed on before the line above, so it tells of a commit made before this
      // count: rows stored beyond it are answered to nobody. (Waiting for writer 0's
      // count to stand still instead failed under TSan: a burst of group-commit answers
      // arrived after the wait, left nothing unacknowledged committed, and the negative
      // control found no duplicate.)
      const int64_t stored_at_discard = StoredRows(machine);
      EXPECT_TRUE(testing::PollUntil([&] { return StoredRows(machine) >= stored_at_discard + 500; },
                                     absl::Minutes(1)))
          << "stored " << StoredRows(machine) << ", " << stored_at_discard
          << " when the relay began discarding";
      KillAndRestart(result);
      (*relay)->DropConnections();
    }
    if (!HasFatalFailure()) {
      for (double share : run.kills_after_hold) {
        kill_at(share);
        if (HasFatalFailure()) break;
      }
    }
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

std::string Summary(const sdk::TelemetryBatchWriterStats& s) {
  return absl::StrCat("added ", s.samples_added, ", accepted ", s.samples_accepted, ", duplicate ",
                      s.samples_duplicate, ", rejected ", s.samples_rejected, ", batches sent ",
                      s.batches_sent, ", re-sent ", s.batches_resent, ", stream errors ",
                      s.stream_errors, ", reconnects ", s.reconnects, ", abandoned ",
                      s.samples_abandoned);
}

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

}  // namespace
}  // namespace plantmesh::e2e
