// The TelemetryStore conformance suite (testing/store_conformance.h) against the
// in-memory fake and PostgreSQL (a real server from tests/support), and what only the
// PostgreSQL store has: day partitions, the ingest connections. ctest runs them as
// telemetry.store_conformance.fake and telemetry.store_conformance.pg.
#include "server/telemetry/testing/store_conformance.h"

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "server/runtime/errors.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/service_tables.h"
#include "server/telemetry/libpq_pool.h"
#include "server/telemetry/module.h"
#include "server/telemetry/partition_job.h"
#include "server/telemetry/pg_store.h"
#include "server/telemetry/testing/fake_store.h"
#include "server/telemetry/testing/state_conformance.h"
#include "tests/support/poll.h"
#include "tests/support/test_servers.h"

namespace plantmesh::telemetry::testing {
namespace {

class FakeBackend {
 public:
  absl::Status SetUp() { return absl::OkStatus(); }
  TelemetryStore* store() { return &store_; }
  std::vector<runtime::OutboxEvent> Events() { return store_.Events(); }

 private:
  FakeTelemetryStore store_;
};

// A fresh database per case, migrated as the server migrates it. No partition is
// created ahead: the first batch of a day creates its partition.
class PgBackend {
 public:
  absl::Status SetUp() {
    static int databases = 0;
    PM_ASSIGN_OR_RETURN(url_, plantmesh::testing::SharedPostgres().CreateDatabase(
                                  absl::StrCat("telemetry_conformance_", ++databases)));
    PM_RETURN_IF_ERROR(runtime::ApplyMigrations(url_, "audit", runtime::AuditMigrations()));
    PM_RETURN_IF_ERROR(runtime::ApplyMigrations(url_, "telemetry", EmbeddedMigrations()));
    PM_RETURN_IF_ERROR(runtime::ApplyServiceTables(url_, "telemetry"));
    runtime::PgPoolOptions options;
    options.url = url_;
    options.size = 4;
    options.on_connect.push_back(&PgTelemetryStore::PrepareStatements);
    PM_ASSIGN_OR_RETURN(pool_, runtime::PgPool::Open(options));
    store_ = std::make_unique<PgTelemetryStore>(
        pool_.get(), LibpqPool::Create(PgTelemetryStore::IngestPoolOptions(
                         url_, 2, absl::Seconds(10), absl::Seconds(5))));
    return absl::OkStatus();
  }
  TelemetryStore* store() { return store_.get(); }
  PgTelemetryStore* pg() { return store_.get(); }
  std::vector<runtime::OutboxEvent> Events() {
    std::vector<runtime::OutboxEvent> events;
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    for (const pqxx::row& r :
         tx.exec("SELECT event_id::text, payload FROM telemetry.outbox ORDER BY id")) {
      events.push_back({r[0].as<std::string>(), "", pqxx::binarystring(r[1]).str()});
    }
    return events;
  }
  int64_t Count(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    return tx.exec1(sql)[0].as<int64_t>();
  }
  void Exec(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    tx.exec0(sql);
  }
  const std::string& url() const { return url_; }

 private:
  std::string url_;
  std::unique_ptr<runtime::PgPool> pool_;
  std::unique_ptr<PgTelemetryStore> store_;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Fake, TelemetryStoreConformanceTest, FakeBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Pg, TelemetryStoreConformanceTest, PgBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Fake, MachineStateConformanceTest, FakeBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Pg, MachineStateConformanceTest, PgBackend);

class PgOnlyTest : public ::testing::Test {
 protected:
  // Judges a batch as ingest does at `now`.
  static BatchJudge JudgeAt(absl::Time now, IngestLimits limits = {}) {
    return [now, limits](std::vector<Sample>& s, const Catalog& c) {
      return JudgeBatch(s, c, now, limits);
    };
  }
  // One event per batch, of no particular content.
  static BatchEventEncoder AnyEvent() {
    return [](const Batch&, const std::vector<int>&) {
      return runtime::OutboxEvent{common::NewUuidV4(), "", "x"};
    };
  }
  void SetUp() override {
    absl::Status up = backend_.SetUp();
    ASSERT_TRUE(up.ok()) << up;
  }
  // Registers CNC-07 with one SAMPLE item `temp`; returns now, to the microsecond.
  absl::Time RegisterCnc07() {
    Machine m;
    m.id = "CNC-07";
    m.data_items = {{"temp", "", Category::kSample, 6, "", ""}};
    const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
    EXPECT_TRUE(backend_.store()->RegisterMachine(m, Ctx("ops", "R", "", now), nullptr).ok());
    return now;
  }
  PgBackend backend_;
};

const absl::Time kNoon = absl::FromUnixSeconds(1700049600);  // 2023-11-15T12:00:00Z

// Outside testing: an ingest stream's audit row was written at the stream's end, so a
// kill -9 left committed, answered batches unaudited. It is committed with the stream's
// first new batch; a group of re-sent batches alone writes none.
TEST_F(PgOnlyTest, AnIngestStreamsAuditRowIsCommittedWithItsFirstNewBatch) {
  const absl::Time now = RegisterCnc07();
  const std::vector<Sample> samples = {NumberAt("temp", 20, now)};
  std::vector<Batch> first = {Batch{"w1", 1, samples}};
  ASSERT_TRUE(backend_.store()->IngestBatches(first, JudgeAt(now), AnyEvent(), {}).ok());
  runtime::ChangeAudit audit;
  runtime::AuditRecord base;
  base.identity = "spiffe://plant/adapter/cnc07";
  base.method = "plantmesh.telemetry.v1.TelemetryService.IngestSamples";
  base.request_json = R"({"writerId":"w1","batchSequence":"1"})";
  audit.Activate(base);
  const std::string rows =
      "SELECT count(*) FROM audit.audit_log WHERE identity = 'spiffe://plant/adapter/cnc07'";
  auto ingest = [&](uint64_t sequence) {
    std::vector<Batch> batches = {Batch{"w1", sequence, samples}};
    return backend_.store()->IngestBatches(batches, JudgeAt(now), AnyEvent(),
                                           IngestAudit{&audit, now});
  };
  ASSERT_TRUE(ingest(1).ok());  // a re-send: nothing new
  EXPECT_FALSE(audit.written());
  EXPECT_EQ(backend_.Count(rows), 0);
  ASSERT_TRUE(ingest(2).ok());
  EXPECT_TRUE(audit.written());
  EXPECT_EQ(backend_.Count(rows), 1);
  ASSERT_TRUE(ingest(3).ok());
  EXPECT_EQ(backend_.Count(rows), 1);  // one row per stream
  EXPECT_EQ(backend_.Count("SELECT count(*) FROM audit.audit_log WHERE status_code = 0 AND "
                           "method LIKE '%.IngestSamples'"),
            1);
}

TEST_F(PgOnlyTest, PartitionsCreatedAheadAndRetentionDropsExactlyTheExpiredDays) {
  const absl::Duration retention = absl::Hours(24 * 3);
  absl::StatusOr<std::vector<std::string>> created =
      backend_.pg()->CreatePartitions(DaysToKeep(kNoon, retention, 2));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(*created,
              ::testing::ElementsAre("samples_20231112", "samples_20231113", "samples_20231114",
                                     "samples_20231115", "samples_20231116", "samples_20231117"));
  // Idempotent: a second round (another replica) creates nothing.
  created = backend_.pg()->CreatePartitions(DaysToKeep(kNoon, retention, 2));
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created->empty());
  // Nothing expired yet: 11-12 still holds samples newer than 11-12T12:00.
  absl::StatusOr<std::vector<std::string>> dropped =
      backend_.pg()->DropExpiredPartitions(kNoon, retention);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_TRUE(dropped->empty());
  // A day and a half later, 11-12 and 11-13 are whole days older than retention;
  // 11-14 is not (its last hour is newer than 11-14T00:00).
  dropped = backend_.pg()->DropExpiredPartitions(kNoon + absl::Hours(36), retention);
  ASSERT_TRUE(dropped.ok());
  EXPECT_THAT(*dropped, ::testing::ElementsAre("samples_20231112", "samples_20231113"));
  absl::StatusOr<std::vector<std::string>> left = backend_.pg()->ListPartitions();
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(*left, ::testing::ElementsAre("samples_20231114", "samples_20231115",
                                            "samples_20231116", "samples_20231117"));
}

// Outside testing: during a pg_dump (ACCESS SHARE on telemetry.samples for its whole run)
// the partition job's DDL waited postgres-lock-timeout-ms for the table, every ingest
// queued behind it (3-5 s stalls each minute), and the log blamed "a record". It waits
// 100 ms, names the table's lock, and succeeds once the backup is done.
TEST_F(PgOnlyTest, PartitionChangesGiveWayToABackupsTableLock) {
  const absl::Duration retention = absl::Hours(24 * 3);
  pqxx::connection backup(backend_.url());
  auto dump = std::make_unique<pqxx::work>(backup);
  dump->exec("SELECT count(*) FROM telemetry.samples");
  absl::StatusOr<std::vector<std::string>> created =
      backend_.pg()->CreatePartitions(DaysToKeep(kNoon, retention, 2));
  EXPECT_EQ(created.status().code(), absl::StatusCode::kAborted) << created.status();
  EXPECT_THAT(created.status().message(),
              ::testing::HasSubstr("telemetry.samples is locked by another session (a backup "
                                   "such as pg_dump"));
  dump->commit();
  dump.reset();
  created = backend_.pg()->CreatePartitions(DaysToKeep(kNoon, retention, 2));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->size(), 6u);
}

// Outside testing: after PostgreSQL restarted, the first ingest failed "terminating
// connection due to administrator command" on a connection the old server had closed
// while it sat idle in the ingest pool. An idle connection closed by the server is
// opened again before use.
TEST_F(PgOnlyTest, AnIngestConnectionClosedWhileIdleIsOpenedAgain) {
  const absl::Time now = RegisterCnc07();
  const BatchJudge judge = JudgeAt(now);
  const BatchEventEncoder encode = AnyEvent();
  Batch first{"w", 1, {NumberAt("temp", 1, now, "CNC-07")}};
  ASSERT_TRUE(backend_.store()->IngestBatch(first, judge, encode).ok());
  // Every other backend of the database ends, as at a restart (the counting connection is
  // a new one of its own).
  const std::string others =
      "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
      "AND backend_type = 'client backend'";
  EXPECT_GT(backend_.Count("SELECT count(pg_terminate_backend(pid)) " + others), 0);
  ASSERT_TRUE(plantmesh::testing::PollUntil(
      [&] { return backend_.Count("SELECT count(*) " + others) == 0; }, absl::Seconds(30),
      absl::Milliseconds(20)));
  Batch second{"w", 2, {NumberAt("temp", 2, now + absl::Seconds(1), "CNC-07")}};
  absl::StatusOr<BatchOutcome> out = backend_.store()->IngestBatch(second, judge, encode);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->verdict.accepted.size(), 1u);
}

TEST_F(PgOnlyTest, DroppingAPartitionKeepsTheOtherDaysSamples) {
  const absl::Time now = RegisterCnc07();
  const IngestLimits limits;  // 30 days
  const BatchJudge judge = JudgeAt(now, limits);
  const BatchEventEncoder encode = AnyEvent();
  const absl::Time old_day = DayStart(now) - absl::Hours(24 * 29);
  Batch batch{"w",
              1,
              {NumberAt("temp", 1, old_day + absl::Hours(1), "CNC-07"),
               NumberAt("temp", 2, now, "CNC-07")}};
  absl::StatusOr<BatchOutcome> out = backend_.store()->IngestBatch(batch, judge, encode);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->verdict.accepted.size(), 2u);
  // Both days' partitions were created by the batch itself.
  absl::StatusOr<std::vector<std::string>> parts = backend_.pg()->ListPartitions();
  ASSERT_TRUE(parts.ok());
  EXPECT_THAT(*parts, ::testing::ElementsAre(PartitionName(old_day), PartitionName(DayStart(now))));
  // Two days later the old day has expired: dropped whole, today's sample stays.
  absl::StatusOr<std::vector<std::string>> dropped =
      backend_.pg()->DropExpiredPartitions(now + absl::Hours(48), limits.retention);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_THAT(*dropped, ::testing::ElementsAre(PartitionName(old_day)));
  EXPECT_EQ(backend_.Count("SELECT count(*) FROM telemetry.samples"), 1);
  // A batch of the dropped day is rejected, not stored in a partition that is gone.
  const absl::Time later = now + absl::Hours(48);
  Batch stale{"w", 2, {NumberAt("temp", 3, old_day + absl::Hours(2), "CNC-07")}};
  out = backend_.store()->IngestBatch(
      stale,
      [&](std::vector<Sample>& s, const Catalog& c) { return JudgeBatch(s, c, later, limits); },
      encode);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->verdict.rejected.size(), 1u);
  EXPECT_EQ(out->verdict.rejected[0].reason, RejectReason::kTimeOutOfRange);
}

// Outside testing: after another replica (or an operator) dropped a day partition this
// replica had created, every batch of that day failed INTERNAL until its next partition
// round, up to an hour later. The batch creates the partition again and commits.
TEST_F(PgOnlyTest, ABatchOfADayWhosePartitionWasDroppedElsewhereCreatesItAgain) {
  const absl::Time now = RegisterCnc07();
  const BatchJudge judge = JudgeAt(now);
  const BatchEventEncoder encode = AnyEvent();
  Batch first{"w", 1, {NumberAt("temp", 1, now, "CNC-07")}};
  ASSERT_TRUE(backend_.store()->IngestBatch(first, judge, encode).ok());
  backend_.Exec(absl::StrCat("DROP TABLE telemetry.", PartitionName(DayStart(now))));
  Batch second{"w", 2, {NumberAt("temp", 2, now + absl::Seconds(1), "CNC-07")}};
  absl::StatusOr<BatchOutcome> out = backend_.store()->IngestBatch(second, judge, encode);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->verdict.accepted.size(), 1u);
  EXPECT_EQ(backend_.Count("SELECT count(*) FROM telemetry.samples"), 1);
}

// Outside testing (Y M2): a day partition an operator detached was logged "created" by the
// partition job, and every batch of that day failed with SQLSTATE 23514 alone. The job
// does not call it created, and the batch is UNAVAILABLE naming the table (the writer
// retries; nothing is stored).
TEST_F(PgOnlyTest, ADetachedDayPartitionIsNamedNotCreatedAndItsBatchesWait) {
  const absl::Time now = RegisterCnc07();
  const BatchJudge judge = JudgeAt(now);
  const BatchEventEncoder encode = AnyEvent();
  Batch first{"w", 1, {NumberAt("temp", 1, now, "CNC-07")}};
  ASSERT_TRUE(backend_.store()->IngestBatch(first, judge, encode).ok());
  const std::string name = PartitionName(DayStart(now));
  backend_.Exec(absl::StrCat("ALTER TABLE telemetry.samples DETACH PARTITION telemetry.", name));
  absl::StatusOr<std::vector<std::string>> created =
      backend_.pg()->CreatePartitions({DayStart(now)});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->empty());
  Batch second{"w", 2, {NumberAt("temp", 2, now + absl::Seconds(1), "CNC-07")}};
  absl::StatusOr<BatchOutcome> out = backend_.store()->IngestBatch(second, judge, encode);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable) << out.status();
  EXPECT_THAT(out.status().message(), ::testing::HasSubstr(name + " exist but are detached"));
  // Attached again, the batch is stored.
  backend_.Exec(absl::StrCat(
      "ALTER TABLE telemetry.samples ATTACH PARTITION telemetry.", name, " FOR VALUES FROM ('",
      absl::FormatTime("%Y-%m-%d", DayStart(now), absl::UTCTimeZone()), " 00:00:00+00') TO ('",
      absl::FormatTime("%Y-%m-%d", DayStart(now) + absl::Hours(24), absl::UTCTimeZone()),
      " 00:00:00+00')"));
  out = backend_.store()->IngestBatch(second, judge, encode);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(backend_.Count("SELECT count(*) FROM telemetry.samples"), 2);
}

// Outside testing: a replica whose clock ran 40 days ahead dropped every partition of the
// shared database at start, today's with 1.5 M samples, and every batch record. Retention
// follows PostgreSQL's clock.
TEST_F(PgOnlyTest, ThePartitionJobJudgesRetentionByPostgresClockNotItsOwn) {
  const absl::Time now = RegisterCnc07();
  const BatchJudge judge = JudgeAt(now);
  const BatchEventEncoder encode = AnyEvent();
  Batch batch{"w", 1, {NumberAt("temp", 1, now, "CNC-07")}};
  ASSERT_TRUE(backend_.store()->IngestBatch(batch, judge, encode).ok());
  {
    PartitionJob ahead(backend_.pg(), TelemetryConfig{},
                       [] { return absl::Now() + absl::Hours(24 * 40); });
  }
  absl::StatusOr<std::vector<std::string>> parts = backend_.pg()->ListPartitions();
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_THAT(*parts, ::testing::Contains(PartitionName(DayStart(now))));
  EXPECT_EQ(backend_.Count("SELECT count(*) FROM telemetry.samples"), 1);
  EXPECT_EQ(backend_.Count("SELECT count(*) FROM telemetry.ingest_batches"), 1);
}

// The partition job deletes the batch records older than batch-record-hours: a re-send
// of such a batch can no longer be told from new samples, and is refused.
TEST_F(PgOnlyTest, ExpiredBatchRecordsAreDeletedAndTheirSequencesThenRefused) {
  const absl::Time now = RegisterCnc07();
  const BatchJudge judge = JudgeAt(now);
  const BatchEventEncoder encode = AnyEvent();
  Batch batch{"w", 1, {NumberAt("temp", 1, now, "CNC-07")}};
  ASSERT_TRUE(backend_.store()->IngestBatch(batch, judge, encode).ok());
  EXPECT_EQ(backend_.Count("SELECT count(*) FROM telemetry.ingest_batches"), 1);
  absl::StatusOr<int64_t> kept = backend_.pg()->DeleteExpiredBatchRecords(now - absl::Hours(1));
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, 0);
  EXPECT_TRUE(backend_.store()->IngestBatch(batch, judge, encode)->duplicate);
  absl::StatusOr<int64_t> deleted = backend_.pg()->DeleteExpiredBatchRecords(now + absl::Hours(1));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  absl::StatusOr<BatchOutcome> resent = backend_.store()->IngestBatch(batch, judge, encode);
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_EQ(resent->refusal.code(), absl::StatusCode::kFailedPrecondition) << resent->refusal;
  EXPECT_EQ(backend_.Count("SELECT count(*) FROM telemetry.samples"), 1);
}

// Two writers' groups naming the same machines in opposite batch order deadlocked when
// each batch locked its own trackers (PostgreSQL then aborted one group: ABORTED, the
// writer sent again). A group locks all the trackers it moves in id order first. Seen
// from another transaction: while the group waits for CNC-01's tracker, it holds none.
TEST_F(PgOnlyTest, AGroupLocksAllItsTrackersInIdOrderBeforeMovingAny) {
  const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  for (const char* id : {"CNC-01", "CNC-02"}) {
    Machine m;
    m.id = id;
    m.data_items = {{"Xact", "", Category::kEvent, kTypeExecution, "", ""}};
    ASSERT_TRUE(backend_.store()->RegisterMachine(m, Ctx("ops", "R", "", now), nullptr).ok());
  }
  const BatchJudge judge = JudgeAt(now);
  const BatchEventEncoder encode = AnyEvent();
  const absl::Time t = now - absl::Minutes(1);
  ASSERT_TRUE(backend_.store()
                  ->IngestBatch({"w",
                                 1,
                                 {TextAt("Xact", "READY", t, "CNC-01"),
                                  TextAt("Xact", "READY", t, "CNC-02")}},
                                judge, encode)
                  .ok());
  pqxx::connection holder(backend_.url());
  pqxx::work held(holder);
  held.exec("SELECT 1 FROM telemetry.machine_trackers WHERE machine_id = 'CNC-01' FOR UPDATE");
  absl::StatusOr<std::vector<BatchOutcome>> outcomes;
  std::vector<Batch> two = {{"w", 2, {TextAt("Xact", "ACTIVE", t + absl::Seconds(1), "CNC-02")}},
                            {"w", 3, {TextAt("Xact", "ACTIVE", t + absl::Seconds(1), "CNC-01")}}};
  std::thread group([&] { outcomes = backend_.store()->IngestBatches(two, judge, encode, {}); });
  const bool waits = plantmesh::testing::PollUntil(
      [&] {
        return backend_.Count(
                   "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                   "'Lock' AND datname = current_database()") == 1;
      },
      absl::Seconds(30));
  std::string cnc02;
  try {
    pqxx::connection probe(backend_.url());
    pqxx::nontransaction tx(probe);
    tx.exec(
        "SELECT 1 FROM telemetry.machine_trackers WHERE machine_id = 'CNC-02' "
        "FOR UPDATE NOWAIT");
    cnc02 = "free";
  } catch (const pqxx::sql_error& e) {
    cnc02 = e.what();
  }
  held.abort();
  group.join();
  EXPECT_TRUE(waits);
  EXPECT_EQ(cnc02, "free");
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 2u);
  for (const BatchOutcome& o : *outcomes) EXPECT_TRUE(o.refusal.ok()) << o.refusal;
}

TEST_F(PgOnlyTest, UnreachableDatabaseIsUnavailableAndStoresNothing) {
  runtime::PgPoolOptions options;
  options.url = backend_.url();
  options.size = 1;
  options.on_connect.push_back(&PgTelemetryStore::PrepareStatements);
  absl::StatusOr<std::unique_ptr<runtime::PgPool>> pool = runtime::PgPool::Open(options);
  ASSERT_TRUE(pool.ok());
  const std::string closed =
      absl::StrCat("postgresql://127.0.0.1:", plantmesh::testing::FreePort(), "/none");
  PgTelemetryStore store(pool->get(), LibpqPool::Create(PgTelemetryStore::IngestPoolOptions(
                                          closed, 1, absl::Seconds(10), absl::Seconds(5))));
  Batch batch{"w", 1, {NumberAt("temp", 1, absl::Now(), "CNC-07")}};
  absl::StatusOr<BatchOutcome> out = store.IngestBatch(
      batch,
      [](std::vector<Sample>& s, const Catalog& c) {
        return JudgeBatch(s, c, absl::Now(), IngestLimits{});
      },
      [](const Batch&, const std::vector<int>&) { return runtime::OutboxEvent{}; });
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable) << out.status();
  EXPECT_EQ(backend_.Count("SELECT count(*) FROM telemetry.ingest_writers"), 0);
}

// Sweep 22: an ingest connection lost in the middle of a batch answered UNAVAILABLE
// without the DEPENDENCY_UNAVAILABLE ErrorInfo that a refused connection carries.
TEST_F(PgOnlyTest, ALostIngestConnectionIsDependencyUnavailable) {
  std::unique_ptr<LibpqPool> pool = LibpqPool::Create(
      PgTelemetryStore::IngestPoolOptions(backend_.url(), 1, absl::Seconds(10), absl::Seconds(5)));
  {
    absl::StatusOr<LibpqPool::Lease> lease = pool->Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    const absl::Status lost =
        LibpqExec(lease->conn(), "SELECT pg_terminate_backend(pg_backend_pid())");
    ASSERT_EQ(lost.code(), absl::StatusCode::kUnavailable) << lost;
    const runtime::ErrorInfoView info = runtime::ErrorInfoOf(lost);
    EXPECT_EQ(info.reason, "DEPENDENCY_UNAVAILABLE") << lost;
    EXPECT_EQ(info.metadata.at("dependency"), "PostgreSQL");
    std::string id;
    EXPECT_THAT(std::string(runtime::ForClient(lost, &id).message()),
                ::testing::StartsWith("the server cannot reach its PostgreSQL; the connection "
                                      "was lost; send the batch again (error id "));
  }
  // The next lease is a new connection.
  absl::StatusOr<LibpqPool::Lease> again = pool->Acquire();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(LibpqExec(again->conn(), "SELECT 1").ok());
}

}  // namespace
}  // namespace plantmesh::telemetry::testing
