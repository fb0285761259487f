// QueryAggregates on PostgreSQL (the rollups kept by the rollup job, the domain's plan,
// the store's parts merged per bucket) against SQL computed directly on the raw rows, for
// every bucket width, over data spanning several hours and a day boundary, sent in
// shuffled batches (late samples land in closed cells) with re-sent batches (counted
// once) — before the job ran, after part of it, and after all of it. Also: the rollup
// tables equal the raw rows per minute and per hour (also with two replicas' jobs running
// during ingest), and a long range's middle is read from the rollups, not from the raw
// rows. Retention: an expired day's rollups go with its partition; the state history that
// ended before the cut too. Latest values (moved forward by the same job): exact before,
// during and after it, late samples never moving them back.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/uuid.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/service_tables.h"
#include "server/telemetry/aggregate_query.h"
#include "server/telemetry/module.h"
#include "server/telemetry/pg_store.h"
#include "server/telemetry/rollup_job.h"
#include "tests/support/test_servers.h"

namespace plantmesh::telemetry {
namespace {

// What the reference SQL says of one bucket.
struct Expected {
  int64_t count = 0;
  double min = 0, max = 0, avg = 0, first = 0, last = 0;
};

class AggregatesPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int databases = 0;
    absl::StatusOr<std::string> url = plantmesh::testing::SharedPostgres().CreateDatabase(
        absl::StrCat("telemetry_aggregates_", ++databases));
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    ASSERT_TRUE(runtime::ApplyMigrations(url_, "audit", runtime::AuditMigrations()).ok());
    ASSERT_TRUE(runtime::ApplyMigrations(url_, "telemetry", EmbeddedMigrations()).ok());
    ASSERT_TRUE(runtime::ApplyServiceTables(url_, "telemetry").ok());
    runtime::PgPoolOptions options;
    options.url = url_;
    options.size = 2;
    options.on_connect.push_back(&PgTelemetryStore::PrepareStatements);
    absl::StatusOr<std::unique_ptr<runtime::PgPool>> pool = runtime::PgPool::Open(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    store_ = std::make_unique<PgTelemetryStore>(
        pool_.get(), LibpqPool::Create(PgTelemetryStore::IngestPoolOptions(
                         url_, 2, absl::Seconds(30), absl::Seconds(10))));
    now_ = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
    Machine m;
    m.id = "CNC-07";
    m.data_items = {{"temp", "", Category::kSample, 6, "", ""},
                    {"mode", "", Category::kEvent, 1, "", ""}};  // OTHER: any text, numbers
    ASSERT_TRUE(
        store_->RegisterMachine(m, ChangeContext{{"ops", "R", "", "p"}, now_, nullptr}, nullptr)
            .ok());
  }

  absl::StatusOr<BatchOutcome> Ingest(const std::string& writer, uint64_t sequence,
                                      const std::vector<Sample>& samples) {
    return store_->IngestBatch(
        Batch{writer, sequence, samples},
        [this](std::vector<Sample>& s, const Catalog& c) {
          return JudgeBatch(s, c, now_, IngestLimits{});
        },
        [](const Batch&, const std::vector<int>&) {
          return runtime::OutboxEvent{common::NewUuidV4(), "", "x"};
        });
  }

  // The reference: the bucket aggregates of the raw rows in [start, end) computed in
  // SQL alone (DISTINCT ON for first and last, ties broken as the contract says).
  std::map<absl::Time, Expected> Reference(const std::string& item, absl::Time start,
                                           absl::Time end, absl::Duration width) {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    const std::string w = absl::StrCat(absl::ToInt64Microseconds(width));
    const std::string sql = absl::StrCat(
        "WITH s AS (SELECT number, time, floor((extract(epoch from time) * 1000000) / ", w, ") * ",
        w, " AS b FROM telemetry.samples WHERE machine_id = 'CNC-07' AND data_item_id = ",
        tx.quote(item), " AND number IS NOT NULL AND time >= to_timestamp(",
        absl::ToUnixMicros(start), " / 1000000.0) AND time < to_timestamp(",
        absl::ToUnixMicros(end), " / 1000000.0)), ",
        "a AS (SELECT b, count(*) AS n, min(number) AS mn, max(number) AS mx, "
        "avg(number) AS av FROM s GROUP BY b), ",
        "f AS (SELECT DISTINCT ON (b) b, number FROM s ORDER BY b, time, number), ",
        "l AS (SELECT DISTINCT ON (b) b, number FROM s ORDER BY b, time DESC, number DESC) ",
        "SELECT a.b::int8, n, mn, mx, av, f.number, l.number FROM a JOIN f USING (b) "
        "JOIN l USING (b) ORDER BY 1");
    std::map<absl::Time, Expected> out;
    for (const pqxx::row& r : tx.exec(sql)) {
      Expected e;
      e.count = r[1].as<int64_t>();
      e.min = r[2].as<double>();
      e.max = r[3].as<double>();
      e.avg = r[4].as<double>();
      e.first = r[5].as<double>();
      e.last = r[6].as<double>();
      out[absl::FromUnixMicros(r[0].as<int64_t>())] = e;
    }
    return out;
  }

  // `some`: the range holds samples (else it may be empty, and must be so on both sides).
  void ExpectEqualToReference(const std::string& item, absl::Time start, absl::Time end,
                              BucketWidth width, bool some = true) {
    const absl::Duration d = BucketDuration(width);
    SCOPED_TRACE(absl::StrCat(item, " width ", absl::FormatDuration(d), " [",
                              absl::FormatTime(start), ", ", absl::FormatTime(end), ")"));
    absl::StatusOr<std::map<absl::Time, Aggregate>> got =
        AggregateBuckets(*store_, "CNC-07", item, start, end, width);
    ASSERT_TRUE(got.ok()) << got.status();
    const std::map<absl::Time, Expected> want = Reference(item, BucketStart(start, d), end, d);
    if (some) {
      ASSERT_FALSE(want.empty());
    }
    ASSERT_EQ(got->size(), want.size());
    for (const auto& [bucket, e] : want) {
      auto it = got->find(bucket);
      ASSERT_NE(it, got->end()) << absl::FormatTime(bucket);
      const Aggregate& a = it->second;
      EXPECT_EQ(a.count, e.count) << absl::FormatTime(bucket);
      EXPECT_EQ(a.min, e.min) << absl::FormatTime(bucket);
      EXPECT_EQ(a.max, e.max) << absl::FormatTime(bucket);
      EXPECT_NEAR(a.avg(), e.avg, 1e-9 * std::max(1.0, std::abs(e.avg)))
          << absl::FormatTime(bucket);
      EXPECT_EQ(a.first, e.first) << absl::FormatTime(bucket);
      EXPECT_EQ(a.last, e.last) << absl::FormatTime(bucket);
    }
  }

  // Every pending batch rolled up, as the job's thread would.
  void RollUp() {
    RollupJob job(store_.get(), absl::Hours(1));
    absl::StatusOr<int64_t> batches = job.RunUntilIdle();
    ASSERT_TRUE(batches.ok()) << batches.status();
    EXPECT_EQ(Count("SELECT count(*) FROM telemetry.rollup_pending"), 0);
  }

  // The rollups hold every committed sample once: per minute and per hour, count, sum,
  // min and max equal the raw rows' (no re-sent batch, no batch counted twice).
  void ExpectRollupsEqualRawRows() {
    for (const char* level : {"minute", "hour"}) {
      const std::string table = absl::StrCat("telemetry.rollup_", level, "s");
      EXPECT_EQ(Count(absl::StrCat(
                    "SELECT count(*) FROM (SELECT machine_id, data_item_id, date_trunc('", level,
                    "', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS c, count(*) AS n, "
                    "sum(number) AS s, min(number) AS mn, max(number) AS mx "
                    "FROM telemetry.samples WHERE kind = 1 GROUP BY 1, 2, 3) raw FULL JOIN ",
                    table,
                    " r ON (r.machine_id, r.data_item_id, r.cell_start) = (raw.machine_id, "
                    "raw.data_item_id, raw.c) WHERE r.count IS DISTINCT FROM raw.n "
                    "OR abs(r.sum - raw.s) > 1e-6 OR r.min IS DISTINCT FROM raw.mn "
                    "OR r.max IS DISTINCT FROM raw.mx")),
                0)
          << level;
    }
  }

  // Per data item of CNC-07 (or, `table`, of telemetry.latest_values alone): the key of
  // its newest sample (time, then key), as "item=key" strings by item.
  std::vector<std::string> NewestKeys(const char* table = "telemetry.samples") {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    std::vector<std::string> out;
    for (const pqxx::row& r : tx.exec(absl::StrCat(
             "SELECT DISTINCT ON (data_item_id COLLATE \"C\") data_item_id, sample_key FROM ",
             table,
             " WHERE machine_id = 'CNC-07' ORDER BY data_item_id COLLATE \"C\", time DESC, "
             "sample_key DESC"))) {
      out.push_back(absl::StrCat(r[0].as<std::string>(), "=", r[1].as<int64_t>()));
    }
    return out;
  }

  // What the store answers, in NewestKeys' form (its order is bytewise, the same here).
  std::vector<std::string> LatestKeys(const std::vector<std::string>& items = {}) {
    absl::StatusOr<std::vector<StoredSample>> latest = store_->LatestValues({"CNC-07"}, items);
    EXPECT_TRUE(latest.ok()) << latest.status();
    std::vector<std::string> out;
    if (!latest.ok()) return out;
    for (const StoredSample& s : *latest) {
      out.push_back(absl::StrCat(s.sample.data_item_id, "=", s.key));
    }
    return out;
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  std::string url_;
  std::unique_ptr<runtime::PgPool> pool_;
  std::unique_ptr<PgTelemetryStore> store_;
  absl::Time now_;
};

TEST_F(AggregatesPgTest, EveryBucketWidthEqualsSqlOnTheRawRows) {
  // From 21:00 two days ago to 03:30 yesterday (UTC): across midnight, always past.
  const absl::Time base = DayStart(now_) - absl::Hours(48) + absl::Hours(21);
  const absl::Time stop = base + absl::Hours(6) + absl::Minutes(30);
  std::mt19937 random(20240601);
  std::uniform_real_distribution<double> value(-50, 150);
  std::uniform_int_distribution<int> jitter_us(0, 2'999'999);
  std::vector<Sample> samples;
  for (absl::Time t = base; t < stop; t += absl::Seconds(3)) {
    const absl::Time at = t + absl::Microseconds(jitter_us(random));
    auto number = [&](const char* item, double v, absl::Time when) {
      Sample s;
      s.machine_id = "CNC-07";
      s.data_item_id = item;
      s.time = when;
      s.kind = ValueKind::kNumber;
      s.number = std::round(v * 1000) / 1000;
      samples.push_back(s);
    };
    number("temp", value(random), at);
    if (samples.size() % 7 == 0) number("temp", value(random), at);  // equal times
    if (samples.size() % 5 == 0) {
      Sample text;
      text.machine_id = "CNC-07";
      text.data_item_id = "mode";
      text.time = at;
      text.kind = ValueKind::kText;
      text.text = "ACTIVE";  // not a number: not aggregated
      samples.push_back(text);
    } else {
      number("mode", value(random), at);
    }
  }
  // Batches of 250 committed in shuffled order (late samples into closed cells), every
  // fourth sent twice (a writer re-sending after a broken stream).
  std::vector<std::vector<Sample>> batches;
  for (size_t i = 0; i < samples.size(); i += 250) {
    batches.emplace_back(
        samples.begin() + static_cast<std::ptrdiff_t>(i),
        samples.begin() + static_cast<std::ptrdiff_t>(std::min(samples.size(), i + 250)));
  }
  std::shuffle(batches.begin(), batches.end(), random);
  int duplicates = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    absl::StatusOr<BatchOutcome> out = Ingest("w", b + 1, batches[b]);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_FALSE(out->duplicate);
    ASSERT_EQ(out->verdict.accepted.size(), batches[b].size());
    if (b % 4 == 0) {
      out = Ingest("w", b + 1, batches[b]);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_TRUE(out->duplicate);
      ++duplicates;
    }
  }
  ASSERT_GT(duplicates, 5);
  ASSERT_EQ(Count("SELECT count(*) FROM telemetry.samples"), static_cast<int64_t>(samples.size()));

  auto expect_every_width_equal = [&] {
    for (const char* item : {"temp", "mode"}) {
      for (BucketWidth width : kAllBucketWidths) {
        const absl::Duration d = BucketDuration(width);
        // The whole data, and a range whose edges fall inside buckets and cells; both
        // capped at the 10,000 buckets a query may ask for.
        const absl::Time whole_start = base - absl::Minutes(30);
        const absl::Time whole_end = std::min(stop + absl::Hours(1), whole_start + d * 10'000);
        ExpectEqualToReference(item, whole_start, whole_end, width);
        const absl::Time from = base + absl::Minutes(37) + absl::Milliseconds(13'500);
        const absl::Time to =
            std::min(base + absl::Hours(5) + absl::Seconds(127), from + d * 9'999);
        ExpectEqualToReference(item, from, to, width);
        // A range starting and ending inside one bucket of the width.
        ExpectEqualToReference(
            item, base + absl::Hours(3) + absl::Seconds(1),
            base + absl::Hours(3) + absl::Seconds(1) + d / 2 + absl::Microseconds(1), width,
            /*some=*/false);
      }
    }
  };
  // Nothing rolled up yet: the answers come from the raw rows.
  {
    SCOPED_TRACE("no batch rolled up");
    expect_every_width_equal();
  }
  // The oldest third of the batches rolled up (by batch number, not by time: the
  // shuffled batches leave pending ones before and after the rolled-up cells).
  const int64_t pending = Count("SELECT count(*) FROM telemetry.rollup_pending");
  ASSERT_EQ(pending, static_cast<int64_t>(batches.size()));
  absl::StatusOr<PgTelemetryStore::RollupRound> round =
      store_->RollUpPending(static_cast<int64_t>(samples.size() / 3));
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_GT(round->batches, 1);
  EXPECT_LT(round->batches, pending);
  EXPECT_GT(round->minute_cells, 0);
  {
    SCOPED_TRACE("a third rolled up");
    expect_every_width_equal();
  }
  RollUp();
  {
    SCOPED_TRACE("all rolled up");
    expect_every_width_equal();
  }
  ExpectRollupsEqualRawRows();
  EXPECT_GT(Count("SELECT count(*) FROM telemetry.rollup_minutes"), 6 * 60);
  // A round with nothing pending changes nothing.
  round = store_->RollUpPending(RollupJob::kRoundSamples);
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->batches, 0);
  ExpectRollupsEqualRawRows();
}

// Two replicas' jobs rolling up every few milliseconds while two writers ingest: each
// batch is rolled up exactly once, whatever order the batches commit and are taken in.
TEST_F(AggregatesPgTest, TwoReplicasJobsDuringIngestRollUpEachBatchOnce) {
  const absl::Time base = now_ - absl::Hours(2);
  auto writer = [&](const std::string& id, int offset) {
    for (int b = 0; b < 30; ++b) {
      std::vector<Sample> batch;
      for (int i = 0; i < 100; ++i) {
        Sample s;
        s.machine_id = "CNC-07";
        s.data_item_id = "temp";
        s.time = base + absl::Seconds(b * 100 + i) + absl::Milliseconds(offset);
        s.kind = ValueKind::kNumber;
        s.number = b * 1000 + i + offset;
        batch.push_back(s);
      }
      absl::StatusOr<BatchOutcome> out = Ingest(id, static_cast<uint64_t>(b + 1), batch);
      EXPECT_TRUE(out.ok()) << out.status();
    }
  };
  {
    RollupJob replica_a(store_.get(), absl::Milliseconds(5));
    RollupJob replica_b(store_.get(), absl::Milliseconds(7));
    std::thread first(writer, "w1", 0);
    std::thread second(writer, "w2", 500);
    first.join();
    second.join();
  }
  RollUp();
  EXPECT_EQ(NewestKeys("telemetry.latest_values"), NewestKeys());
  EXPECT_EQ(Count("SELECT count(*) FROM telemetry.samples"), 2 * 30 * 100);
  EXPECT_EQ(Count("SELECT sum(count)::int8 FROM telemetry.rollup_minutes"), 2 * 30 * 100);
  EXPECT_EQ(Count("SELECT sum(count)::int8 FROM telemetry.rollup_hours"), 2 * 30 * 100);
  ExpectRollupsEqualRawRows();
}

// LatestValues merges latest_values (the batches rolled up) with the batches still
// pending: the newest sample of each data item whatever the job has done, in batches of
// numbers, texts and UNAVAILABLE sent out of time order (a late batch never moves a value
// back), and the job leaves latest_values equal to the raw rows' newest.
TEST_F(AggregatesPgTest, LatestValuesExactBeforeDuringAndAfterTheJob) {
  std::vector<std::vector<Sample>> batches;
  const absl::Time base = now_ - absl::Hours(1);
  for (int b = 0; b < 24; ++b) {
    std::vector<Sample> batch;
    for (int i = 0; i < 5; ++i) {
      Sample s;
      s.machine_id = "CNC-07";
      s.data_item_id = i % 2 == 0 ? "temp" : "mode";
      // Every third batch is late: older than all before it.
      s.time = b % 3 == 2 ? base - absl::Minutes(b) + absl::Seconds(i)
                          : base + absl::Minutes(b) + absl::Seconds(i / 2);
      if (i % 2 == 0) {
        s.kind = ValueKind::kNumber;
        s.number = b * 10 + i;
      } else if (b % 4 == 1) {
        s.kind = ValueKind::kUnavailable;
      } else {
        s.kind = ValueKind::kText;
        s.text = absl::StrCat("ACTIVE ", b);
      }
      batch.push_back(s);
    }
    batches.push_back(std::move(batch));
  }
  auto ingest = [&](int from, int to) {
    for (int b = from; b < to; ++b) {
      absl::StatusOr<BatchOutcome> out =
          Ingest("w", static_cast<uint64_t>(b + 1), batches[static_cast<size_t>(b)]);
      ASSERT_TRUE(out.ok()) << out.status();
    }
  };
  ingest(0, 12);
  ASSERT_EQ(NewestKeys().size(), 2u);
  EXPECT_EQ(LatestKeys(), NewestKeys()) << "nothing rolled up";
  EXPECT_TRUE(NewestKeys("telemetry.latest_values").empty());
  EXPECT_EQ(LatestKeys({"temp"}), std::vector<std::string>{NewestKeys()[1]});
  // Part of it applied: the oldest half of the batches (by number).
  absl::StatusOr<PgTelemetryStore::RollupRound> round = store_->RollUpPending(6 * 5);
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->batches, 6);
  EXPECT_EQ(round->latest_values, 2);
  EXPECT_EQ(LatestKeys(), NewestKeys()) << "half rolled up";
  ingest(12, 24);
  EXPECT_EQ(LatestKeys(), NewestKeys()) << "half rolled up, more ingested";
  RollUp();
  EXPECT_EQ(LatestKeys(), NewestKeys()) << "all rolled up";
  EXPECT_EQ(NewestKeys("telemetry.latest_values"), NewestKeys());
  // A late batch after all that: stored, pending, and not the latest either way.
  const std::vector<std::string> before = NewestKeys();
  ASSERT_TRUE(Ingest("w", 25, batches[2]).ok());
  EXPECT_EQ(LatestKeys(), before);
  RollUp();
  EXPECT_EQ(LatestKeys(), before);
  EXPECT_EQ(NewestKeys("telemetry.latest_values"), before);
}

// Outside testing: 1e308, 1e308 and -1.7e308 were accepted, and their sum overflowed in
// PostgreSQL ("value out of range: overflow"): QueryAggregates answered INTERNAL and the
// rollup job retried that batch forever, leaving every later batch of every machine
// pending. Such numbers are refused now; the largest accepted ones aggregate.
TEST_F(AggregatesPgTest, NumbersAtTheLargestAcceptedMagnitudeAggregateWithoutOverflow) {
  const absl::Time base = DayStart(now_) - absl::Hours(24) + absl::Minutes(10);
  std::vector<Sample> samples;
  for (double v : {1e308, 1e308, -1.7e308, kMaxSampleMagnitude, kMaxSampleMagnitude,
                   kMaxSampleMagnitude, -kMaxSampleMagnitude}) {
    Sample s;
    s.machine_id = "CNC-07";
    s.data_item_id = "temp";
    s.time = base + absl::Seconds(samples.size());
    s.kind = ValueKind::kNumber;
    s.number = v;
    samples.push_back(s);
  }
  absl::StatusOr<BatchOutcome> stored = Ingest("w", 1, samples);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_THAT(stored->verdict.accepted, ::testing::ElementsAre(3, 4, 5, 6));
  ASSERT_EQ(stored->verdict.rejected.size(), 3u);
  for (const Rejection& r : stored->verdict.rejected) {
    EXPECT_EQ(r.reason, RejectReason::kNumberOutOfRange) << r.message;
  }
  // Before the job (raw rows) and after it (rollups), in every bucket width that merges
  // them: one bucket, sum 2e297.
  for (bool rolled_up : {false, true}) {
    if (rolled_up) RollUp();
    for (BucketWidth width :
         {BucketWidth::kSecond, BucketWidth::kMinute, BucketWidth::kHour, BucketWidth::kDay}) {
      absl::StatusOr<std::map<absl::Time, Aggregate>> buckets = AggregateBuckets(
          *store_, "CNC-07", "temp", base - absl::Hours(1), base + absl::Hours(1), width);
      ASSERT_TRUE(buckets.ok()) << buckets.status();
      double sum = 0;
      int64_t count = 0;
      for (const auto& [start, aggregate] : *buckets) {
        sum += aggregate.sum;
        count += aggregate.count;
      }
      EXPECT_EQ(count, 4);
      EXPECT_DOUBLE_EQ(sum, 2 * kMaxSampleMagnitude);
    }
  }
}

// A batch's statements go to PostgreSQL in two pipelines (libpq_exec.h ExecPipeline): a
// statement failing in either (here a trigger refusing the writer's row, then the
// outbox row) fails the batch whole, nothing of it stays, and the connections serve the
// next batches as before.
TEST_F(AggregatesPgTest, AFailureInEitherPipelineLeavesNothingOfTheBatch) {
  auto exec = [this](const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
  };
  exec(
      "CREATE FUNCTION telemetry.test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
      "$$BEGIN RAISE EXCEPTION 'refused by the test'; END$$");
  Sample s;
  s.machine_id = "CNC-07";
  s.data_item_id = "temp";
  s.time = now_ - absl::Minutes(5);
  s.kind = ValueKind::kNumber;
  s.number = 21.5;
  const char* tables[] = {"ingest_writers", "outbox"};
  for (const char* table : tables) {
    exec(absl::StrCat("CREATE TRIGGER test_refuse BEFORE INSERT OR UPDATE ON telemetry.", table,
                      " FOR EACH ROW EXECUTE FUNCTION telemetry.test_refuse()"));
    // Both ingest connections, twice each.
    for (int attempt = 0; attempt < 4; ++attempt) {
      absl::StatusOr<BatchOutcome> failed = Ingest("w", 1, {s});
      EXPECT_FALSE(failed.ok()) << table;
      EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal) << failed.status();
    }
    exec(absl::StrCat("DROP TRIGGER test_refuse ON telemetry.", table));
    EXPECT_EQ(Count("SELECT count(*) FROM telemetry.samples"), 0) << table;
    EXPECT_EQ(Count("SELECT count(*) FROM telemetry.rollup_pending"), 0) << table;
    EXPECT_EQ(Count("SELECT count(*) FROM telemetry.outbox"), 0) << table;
  }
  // The same batch now: stored once, not a duplicate (its sequence never advanced).
  for (int attempt = 0; attempt < 4; ++attempt) {
    absl::StatusOr<BatchOutcome> stored = Ingest("w", 1, {s});
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->duplicate, attempt > 0);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM telemetry.samples"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM telemetry.outbox"), 1);
}

TEST_F(AggregatesPgTest, LongRangeMiddleIsReadFromRollupsNotRawRows) {
  const absl::Time base = DayStart(now_) - absl::Hours(48);
  std::vector<Sample> samples;
  for (absl::Time t = base; t < base + absl::Hours(24); t += absl::Seconds(30)) {
    Sample s;
    s.machine_id = "CNC-07";
    s.data_item_id = "temp";
    s.time = t;
    s.kind = ValueKind::kNumber;
    s.number = 1;
    samples.push_back(s);
  }
  ASSERT_TRUE(Ingest("w", 1, samples).ok());
  RollUp();
  const absl::Time from = base + absl::Minutes(30) + absl::Seconds(15);
  const absl::Time to = base + absl::Hours(23) + absl::Seconds(45);
  absl::StatusOr<std::map<absl::Time, Aggregate>> before =
      AggregateBuckets(*store_, "CNC-07", "temp", from, to, BucketWidth::kDay);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->size(), 1u);
  const int64_t all = before->begin()->second.count;
  EXPECT_EQ(all, Count(absl::StrCat("SELECT count(*) FROM telemetry.samples WHERE time >= ",
                                    "to_timestamp(", absl::ToUnixSeconds(base), ") AND time < ",
                                    "to_timestamp(", absl::ToUnixSeconds(to), ")")));
  // Raw rows of the middle hours removed behind the store's back: the answer does not
  // change, so they were not read (the rollups answered for them).
  {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    tx.exec(absl::StrCat("DELETE FROM telemetry.samples WHERE time >= to_timestamp(",
                         absl::ToUnixSeconds(base + absl::Hours(2)), ") AND time < to_timestamp(",
                         absl::ToUnixSeconds(base + absl::Hours(22)), ")"));
  }
  absl::StatusOr<std::map<absl::Time, Aggregate>> after =
      AggregateBuckets(*store_, "CNC-07", "temp", from, to, BucketWidth::kDay);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ(after->begin()->second.count, all);
}

TEST_F(AggregatesPgTest, RetentionDropsTheRollupsOfExpiredDays) {
  const absl::Time old_day = DayStart(now_) - absl::Hours(24 * 29);
  Sample s;
  s.machine_id = "CNC-07";
  s.data_item_id = "temp";
  s.time = old_day + absl::Hours(1);
  s.kind = ValueKind::kNumber;
  s.number = 5;
  Sample fresh = s;
  fresh.time = now_ - absl::Minutes(1);
  ASSERT_TRUE(Ingest("w", 1, {s, fresh}).ok());
  RollUp();
  EXPECT_EQ(Count("SELECT count(*) FROM telemetry.rollup_minutes"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM telemetry.rollup_hours"), 2);
  absl::StatusOr<std::vector<std::string>> dropped =
      store_->DropExpiredPartitions(now_ + absl::Hours(48), IngestLimits{}.retention);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_THAT(*dropped, ::testing::ElementsAre(PartitionName(old_day)));
  EXPECT_EQ(Count("SELECT count(*) FROM telemetry.rollup_minutes"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM telemetry.rollup_hours"), 1);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM pg_class WHERE relname = 'rollup_minutes_",
                               absl::FormatTime("%Y%m%d", old_day, absl::UTCTimeZone()), "'")),
            0);
}

// The state history goes with the samples it was derived from: intervals and ended
// downtimes that ended before now - retention are deleted (what straddles the cut stays,
// as does a downtime still open), counted for the partition job's log line.
TEST_F(AggregatesPgTest, RetentionDeletesTheStateHistoryThatEndedBeforeIt) {
  const absl::Duration retention = IngestLimits{}.retention;
  const absl::Time cut = now_ - retention;
  auto at = [](absl::Time t) {
    return absl::StrCat("(timestamptz 'epoch' + ", absl::ToUnixMicros(t),
                        " * interval '1 microsecond')");
  };
  {
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    auto interval = [&](absl::Time start, absl::Time end) {
      tx.exec(absl::StrCat(
          "INSERT INTO telemetry.state_intervals (machine_id, state, start_time, end_time) "
          "VALUES ('CNC-07', 1, ",
          at(start), ", ", at(end), ")"));
    };
    auto downtime = [&](absl::Time start, std::optional<absl::Time> end) {
      tx.exec(
          absl::StrCat("INSERT INTO telemetry.downtimes (machine_id, state, start_time, end_time) "
                       "VALUES ('CNC-07', 3, ",
                       at(start), ", ", end ? at(*end) : std::string("NULL"), ")"));
    };
    interval(cut - absl::Hours(2), cut - absl::Seconds(1));    // expired
    interval(cut - absl::Seconds(1), cut + absl::Seconds(1));  // straddles the cut
    interval(now_ - absl::Hours(1), now_ - absl::Minutes(30));
    downtime(cut - absl::Hours(3), cut - absl::Seconds(1));  // expired
    downtime(cut - absl::Hours(2), cut + absl::Seconds(1));  // straddles the cut
    downtime(cut - absl::Hours(1), std::nullopt);            // still open
    tx.commit();
  }
  absl::StatusOr<PgTelemetryStore::ExpiredStates> deleted =
      store_->DropExpiredStates(now_, retention);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->intervals, 1);
  EXPECT_EQ(deleted->downtimes, 1);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM telemetry.state_intervals WHERE end_time < ",
                               at(cut))),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM telemetry.state_intervals"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM telemetry.downtimes"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM telemetry.downtimes WHERE end_time IS NULL"), 1);
  // A second round finds nothing more.
  deleted = store_->DropExpiredStates(now_, retention);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->intervals, 0);
  EXPECT_EQ(deleted->downtimes, 0);
}

}  // namespace
}  // namespace plantmesh::telemetry
