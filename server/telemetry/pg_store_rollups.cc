// The telemetry store's rollups (why by a job: migrations 0005_rollups_by_job.sql and
// 0006_latest_values_by_job.sql): the ingest transaction's pending row, the rollup job's
// round, QueryAggregates' reads and the rollups' retention.
// Part of PgTelemetryStore (pg_store.h); what the parts share: pg_store_internal.h.

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plantmesh/common/status_macros.h"
#include "server/telemetry/convert.h"
#include "server/telemetry/pg_store.h"
#include "server/telemetry/pg_store_internal.h"
#include "server/telemetry/rollups.h"

namespace plantmesh::telemetry {
namespace pg_store_internal {

// ---- Rollups and aggregates (QueryAggregates): ingest side ----
// The batch's transaction records the batch as not rolled up yet; the rollup job
// (RollUpPending below) aggregates its rows and moves the latest values forward later
// (why: migrations 0005_rollups_by_job.sql and 0006_latest_values_by_job.sql).

const char kIngestRollupPending[] = "telemetry.ingest_rollup_pending";

std::vector<std::pair<std::string, std::string>> RollupIngestStatements() {
  // One statement for a group's batches (arrays of the same length, one element a batch),
  // not one a batch: at 100 samples a message a group of ~30 batches sent ~30.
  return {{kIngestRollupPending,
           "INSERT INTO telemetry.rollup_pending (batch, samples, min_time, max_time) "
           "SELECT u.batch, u.samples, timestamptz 'epoch' + u.t0 * interval '1 microsecond', "
           "timestamptz 'epoch' + u.t1 * interval '1 microsecond' "
           "FROM unnest($1::int8[], $2::int4[], $3::int8[], $4::int8[]) AS u(batch, samples, "
           "t0, t1)"}};
}

// The minute rollups' partition of `day` (with the samples' partition of that day).
std::string RollupPartitionName(absl::Time day) {
  return absl::StrCat("rollup_minutes_", absl::FormatTime("%Y%m%d", day, absl::UTCTimeZone()));
}

std::string RollupPartitionDdl(absl::Time day) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  return absl::StrCat("CREATE TABLE IF NOT EXISTS telemetry.", RollupPartitionName(day),
                      " PARTITION OF telemetry.rollup_minutes FOR VALUES FROM ('",
                      absl::FormatTime("%Y-%m-%d 00:00:00+00", day, utc), "') TO ('",
                      absl::FormatTime("%Y-%m-%d 00:00:00+00", day + absl::Hours(24), utc),
                      "') WITH (fillfactor = 50)");  // why: 0005_rollups_by_job.sql
}

std::optional<std::array<std::string, 4>> RollupPendingParameters(
    const std::vector<Batch>& batches, const std::vector<size_t>& fresh,
    const std::vector<BatchOutcome>& outcomes) {
  std::array<std::vector<int64_t>, 4> columns;  // batch, samples, first time, last time
  for (size_t b : fresh) {
    const std::vector<int>& accepted = outcomes[b].verdict.accepted;
    if (accepted.empty()) continue;
    int64_t min_us = std::numeric_limits<int64_t>::max();
    int64_t max_us = std::numeric_limits<int64_t>::min();
    for (int i : accepted) {
      const int64_t us = absl::ToUnixMicros(*batches[b].samples[static_cast<size_t>(i)].time);
      min_us = std::min(min_us, us);
      max_us = std::max(max_us, us);
    }
    columns[0].push_back(outcomes[b].batch_id);
    columns[1].push_back(static_cast<int64_t>(accepted.size()));
    columns[2].push_back(min_us);
    columns[3].push_back(max_us);
  }
  if (columns[0].empty()) return std::nullopt;
  std::array<std::string, 4> literals;
  for (size_t c = 0; c < columns.size(); ++c) {
    literals[c] = absl::StrCat("{", absl::StrJoin(columns[c], ","), "}");
  }
  return literals;
}

// ---- end of the rollups' ingest side ----

namespace {

// ---- Rollups and aggregates: query side and retention (libpqxx pool) ----

// Microseconds since the epoch of `col`, and the start of the bucket of $5 microseconds
// (floor division, also before 1970) that holds them.
#define PM_EPOCH_US(col) "(extract(epoch from " col ") * 1000000)::int8"
#define PM_BUCKET_OF(us) "(" us " - ((" us " % $5::int8) + $5::int8) % $5::int8)"

// Per bucket of the rollup `table`'s cells in [$3, $4) of ($1, $2): the cells merged as
// Aggregate::Merge merges them (first: earliest time, then smallest value; last: latest
// time, then largest value).
std::string RollupBucketsSql(const char* table) {
  return absl::StrCat(
      "SELECT b, sum(count)::int8 AS n, min(min) AS mn, max(max) AS mx, sum(sum) AS s, "
      "(array_agg(first ORDER BY ft, first))[1] AS f, min(ft) AS ft, "
      "(array_agg(last ORDER BY lt DESC, last DESC))[1] AS l, max(lt) AS lt "
      "FROM (SELECT count, min, max, sum, first, last, " PM_EPOCH_US("first_time") " AS ft, "
      PM_EPOCH_US("last_time") " AS lt, " PM_BUCKET_OF(PM_EPOCH_US("cell_start")) " AS b "
      "FROM telemetry.", table, " WHERE machine_id = $1 AND data_item_id = $2 "
      "AND cell_start >= " PM_TS(3) " AND cell_start < " PM_TS(4) ") r GROUP BY b ORDER BY b");
}

// The ON CONFLICT clause that merges a cell's new partial aggregate (`excluded`) into
// the stored one (`r`) as Aggregate::Merge does: first/last by (time, value).
constexpr char kRollupMergeSql[] =
    "ON CONFLICT (machine_id, data_item_id, cell_start) DO UPDATE SET "
    "count = r.count + excluded.count, min = least(r.min, excluded.min), "
    "max = greatest(r.max, excluded.max), sum = r.sum + excluded.sum, "
    "first = CASE WHEN (excluded.first_time, excluded.first) < (r.first_time, r.first) "
    "THEN excluded.first ELSE r.first END, "
    "first_time = least(r.first_time, excluded.first_time), "
    "last = CASE WHEN (excluded.last_time, excluded.last) > (r.last_time, r.last) "
    "THEN excluded.last ELSE r.last END, "
    "last_time = greatest(r.last_time, excluded.last_time)";
// first and last by (time, value) without sorting: the smallest and largest
// ARRAY[epoch seconds, value] (float8 arrays compare element by element), which lets
// PostgreSQL hash-aggregate. Epoch seconds as float8 keep distinct microseconds apart and
// in order (the spacing of float8 stays below 1 µs until 2^33 s, the year 2242) and round
// back to the exact microsecond.
#define PM_FROM_EPOCH(seconds) \
  "(timestamptz 'epoch' + round(" seconds " * 1000000)::int8 * interval '1 microsecond')"
#define PM_ROLLUP_COLUMNS                                                                  \
  "(machine_id, data_item_id, cell_start, count, min, max, sum, first, first_time, last, " \
  "last_time)"
// The rows of alias `t` that a round took: the batches $5 (keys in [$1, $2), times in
// [$3, $4], $6 keys per batch).
#define PM_ROUND_ROWS(t)                                          \
  t ".sample_key >= $1 AND " t ".sample_key < $2 AND " t          \
    ".time >= " PM_TS(3) " AND " t ".time <= " PM_TS(4) " AND " t \
                                                        ".sample_key / $6::int8 = ANY($5::int8[])"
// The round's rows (rollup_apply's parameters) of every kind aggregated per (data item,
// minute) cell, read once for both results: the numeric samples' partial aggregate (n =
// 0 when the cell has none; `number` is NULL for the other kinds) and the cell's newest
// sample of any kind (o: the largest ARRAY[epoch seconds, key]) for latest_values.
// Reading the rows once instead of once for each (two statements before): a round of
// 196,608 rows 386 ms against 322 + 221 ms, PostgreSQL's CPU per ingested sample in B1
// 5.5-6.1 µs against 6.1-6.4 (bench/README.md).
constexpr char kRollupCellsSql[] =
    "SELECT s.machine_id, s.data_item_id, date_bin('1 minute', s.time, timestamptz 'epoch') "
    "AS cell, count(s.number) AS n, min(s.number) AS mn, max(s.number) AS mx, "
    "sum(s.number) AS sm, min(ARRAY[date_part('epoch', s.time), s.number]) FILTER (WHERE "
    "s.kind = 1) AS f, max(ARRAY[date_part('epoch', s.time), s.number]) FILTER (WHERE s.kind "
    "= 1) AS l, max(ARRAY[date_part('epoch', s.time), s.sample_key]) AS o "
    "FROM telemetry.samples s WHERE " PM_ROUND_ROWS("s") " GROUP BY 1, 2, 3";
// The numeric cells (CTE m) into the minute rollups, and merged per hour into the hour
// rollups (each followed by kRollupMergeSql).
constexpr char kRollupInsertMinutesSql[] =
    "INSERT INTO telemetry.rollup_minutes AS r " PM_ROLLUP_COLUMNS
    " SELECT machine_id, data_item_id, cell, n, mn, mx, sm, f[2], " PM_FROM_EPOCH(
        "f[1]") ", l[2], " PM_FROM_EPOCH("l[1]") " FROM m ";
constexpr char kRollupInsertHoursSql[] =
    "INSERT INTO telemetry.rollup_hours AS r " PM_ROLLUP_COLUMNS
    " SELECT machine_id, data_item_id, hour, n, mn, mx, sm, f[2], " PM_FROM_EPOCH(
        "f[1]") ", l[2], " PM_FROM_EPOCH("l[1]") " FROM (SELECT machine_id, data_item_id, "
    "date_bin('1 hour', cell, timestamptz 'epoch') AS hour, sum(n)::int8 AS n, min(mn) AS mn, "
    "max(mx) AS mx, sum(sm) AS sm, min(f) AS f, max(l) AS l FROM m GROUP BY 1, 2, 3) h ";

// The newest sample of each data item among the cells (CTE c) into latest_values, unless
// it holds a newer one. The newest is found by hashing (max of ARRAY[epoch seconds, key])
// and read again by its key: measured 0.4 µs per row of the round against 3 µs for
// DISTINCT ON, which sorts them. The read is a LATERAL subquery with LIMIT 1 (keys are
// unique) so that it stays one index lookup per data item: as a plain join, a round
// whose rows the statistics did not see yet (the table's first minutes) was planned with
// the round's raw rows outside and the data items inside, 200,000 × 4,000 comparisons,
// and ran into the statement timeout.
constexpr char kLatestValuesForwardSql[] =
    "INSERT INTO telemetry.latest_values AS l (machine_id, data_item_id, time, sample_key, "
    "kind, number, text, condition_level, native_code, message, source_sequence) "
    "SELECT s.* FROM (SELECT max(o) AS o FROM c GROUP BY machine_id, data_item_id) newest, "
    "LATERAL (SELECT " PM_SAMPLE_COLUMNS_OF("t") " FROM telemetry.samples t WHERE "
    "t.sample_key = newest.o[2]::int8 AND " PM_ROUND_ROWS("t") " LIMIT 1) s "
    "ON CONFLICT (machine_id, data_item_id) DO UPDATE SET time = excluded.time, "
    "sample_key = excluded.sample_key, kind = excluded.kind, number = excluded.number, "
    "text = excluded.text, condition_level = excluded.condition_level, "
    "native_code = excluded.native_code, message = excluded.message, "
    "source_sequence = excluded.source_sequence "
    "WHERE (l.time, l.sample_key) < (excluded.time, excluded.sample_key) RETURNING 1";

struct AggregateSql {
  runtime::PgStatements registry{"telemetry"};
  // The rollup job (RollUpPending), one replica at a time.
  const runtime::PgStatement rollup_lock = registry.Add(
      "rollup_lock", "SELECT pg_try_advisory_xact_lock(hashtext('telemetry rollups'))");
  // In the job's transaction: group the round's rows by hashing, not by sorting them (the
  // planner, which cannot estimate how many rows a round's batches hold, sorts; measured
  // 2-3 µs per row for the sort).
  const runtime::PgStatement rollup_hash =
      registry.Add("rollup_hash", "SELECT set_config('enable_sort', 'off', true)");
  // Takes the oldest pending batches, up to about $1 samples (at least one batch): how
  // many, their samples, the range of their numbers and of their samples' times, and the
  // numbers as an array (rollup_apply's parameters).
  const runtime::PgStatement rollup_take = registry.Add(
      "rollup_take",
      "WITH taken AS (DELETE FROM telemetry.rollup_pending WHERE batch IN (SELECT batch FROM "
      "(SELECT batch, samples, sum(samples) OVER (ORDER BY batch) AS running FROM "
      "telemetry.rollup_pending) p WHERE running - samples < $1) RETURNING *) "
      "SELECT count(*) AS batches, coalesce(sum(samples), 0)::int8 AS samples, min(batch) AS "
      "lo, max(batch) AS hi, " PM_EPOCH_US("min(min_time)") " AS t0, " PM_EPOCH_US(
          "max(max_time)") " AS t1, array_agg(batch)::text AS ids FROM taken");
  // The batches $5 (keys in [$1, $2), times in [$3, $4], $6 keys per batch), read once
  // (kRollupCellsSql): their numeric samples merged into their minute cells and those into
  // their hour cells; their newest sample per data item (by time, then key; all kinds)
  // moves latest_values forward, an older one leaves it. Counts the cells and latest
  // values written.
  const runtime::PgStatement rollup_apply = registry.Add(
      "rollup_apply",
      absl::StrCat("WITH c AS (", kRollupCellsSql,
                   "), m AS (SELECT * FROM c WHERE n > 0), minutes AS (", kRollupInsertMinutesSql,
                   kRollupMergeSql, " RETURNING 1), hours AS (", kRollupInsertHoursSql,
                   kRollupMergeSql, " RETURNING 1), latest AS (", kLatestValuesForwardSql,
                   ") SELECT (SELECT count(*) FROM minutes) AS minutes, (SELECT count(*) FROM "
                   "hours) AS hours, (SELECT count(*) FROM latest) AS latest"));
  // Where the rollups are complete in this snapshot: the oldest pending sample's time
  // (NULL when nothing is pending).
  const runtime::PgStatement rollup_pending_from =
      registry.Add("rollup_pending_from",
                   "SELECT " PM_EPOCH_US("min(min_time)") " AS t0 FROM telemetry.rollup_pending");
  // Per bucket of ($1, $2)'s numeric samples in [$3, $4): the same merge over raw rows.
  const runtime::PgStatement raw_buckets = registry.Add(
      "aggregate_raw",
      "SELECT b, count(*) AS n, min(number) AS mn, max(number) AS mx, sum(number) AS s, "
      "(array_agg(number ORDER BY us, number))[1] AS f, min(us) AS ft, "
      "(array_agg(number ORDER BY us DESC, number DESC))[1] AS l, max(us) AS lt "
      "FROM (SELECT number, us, " PM_BUCKET_OF("us") " AS b FROM (SELECT number, " PM_EPOCH_US(
          "time") " AS us FROM telemetry.samples WHERE machine_id = $1 AND data_item_id = $2 "
                  "AND kind = 1 AND time >= " PM_TS(3) " AND time < " PM_TS(
                      4) ") s0) s GROUP BY b ORDER BY b");
  const runtime::PgStatement minute_buckets =
      registry.Add("aggregate_minutes", RollupBucketsSql("rollup_minutes"));
  const runtime::PgStatement hour_buckets =
      registry.Add("aggregate_hours", RollupBucketsSql("rollup_hours"));
  // Retention: a dropped day's hour cells.
  const runtime::PgStatement hours_delete_day = registry.Add(
      "rollup_hours_delete_day", "DELETE FROM telemetry.rollup_hours WHERE cell_start >= " PM_TS(
                                     1) " AND cell_start < " PM_TS(2));
};

#undef PM_EPOCH_US
#undef PM_BUCKET_OF
#undef PM_ROLLUP_COLUMNS
#undef PM_FROM_EPOCH
#undef PM_ROUND_ROWS

const AggregateSql& AggregateStatements() {
  static const auto* sql = new AggregateSql();
  return *sql;
}

}  // namespace

// With the day's samples partition: its minute cells (their partition) and hour cells.
void DropRollupsOfDay(pqxx::transaction_base& tx, absl::Time day) {
  tx.exec(absl::StrCat("DROP TABLE IF EXISTS telemetry.", RollupPartitionName(day)));
  tx.exec_prepared(AggregateStatements().hours_delete_day, Micros(day),
                   Micros(day + absl::Hours(24)));
}

// ---- end of the rollups' query side ----

void PrepareAggregateStatements(pqxx::connection& conn) {
  AggregateStatements().registry.Prepare(conn);
}

const runtime::PgStatement& RollupPendingFrom() {
  return AggregateStatements().rollup_pending_from;
}

}  // namespace pg_store_internal

using pg_store_internal::AggregateSql;
using pg_store_internal::AggregateStatements;
using pg_store_internal::CustomPlans;
using pg_store_internal::Micros;

// ---- Rollups and aggregates (QueryAggregates) ----

absl::StatusOr<PlannedParts> PgTelemetryStore::AggregateParts(const std::string& machine_id,
                                                              const std::string& data_item_id,
                                                              const AggregatePlanner& planner) {
  PlannedParts planned;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    // One snapshot for the levels and every span: rollups, pending batches and raw rows
    // of the same commits.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    planned = {};
    tx.exec_prepared(CustomPlans());
    const AggregateSql& sql = AggregateStatements();
    const pqxx::row pending = tx.exec_prepared1(RollupPendingFrom());
    const absl::Time complete_before = pending["t0"].is_null()
                                           ? absl::InfiniteFuture()
                                           : absl::FromUnixMicros(pending["t0"].as<int64_t>());
    PM_ASSIGN_OR_RETURN(planned.plan, planner(StoredRollupLevels(complete_before)));
    const AggregatePlan& plan = planned.plan;
    const std::string bucket = absl::StrCat(absl::ToInt64Microseconds(plan.bucket));
    for (const PlanSpan& span : plan.spans) {
      const runtime::PgStatement* statement = &sql.raw_buckets;
      if (span.rollup_width == absl::Minutes(1)) {
        statement = &sql.minute_buckets;
      } else if (span.rollup_width == absl::Hours(1)) {
        statement = &sql.hour_buckets;
      } else if (!span.raw()) {
        return absl::InternalError(
            absl::StrCat("no rollup of width ", absl::FormatDuration(span.rollup_width)));
      }
      for (const pqxx::row& r : tx.exec_prepared(*statement, machine_id, data_item_id,
                                                 Micros(span.start), Micros(span.end), bucket)) {
        BucketPart part;
        part.bucket_start = absl::FromUnixMicros(r["b"].as<int64_t>());
        Aggregate& a = part.aggregate;
        a.count = r["n"].as<int64_t>();
        a.min = r["mn"].as<double>();
        a.max = r["mx"].as<double>();
        a.sum = r["s"].as<double>();
        a.first = r["f"].as<double>();
        a.first_time = absl::FromUnixMicros(r["ft"].as<int64_t>());
        a.last = r["l"].as<double>();
        a.last_time = absl::FromUnixMicros(r["lt"].as<int64_t>());
        planned.parts.push_back(part);
      }
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return planned;
}

absl::StatusOr<PgTelemetryStore::RollupRound> PgTelemetryStore::RollUpPending(int64_t max_samples) {
  RollupRound round;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    round = {};
    const AggregateSql& sql = AggregateStatements();
    if (!tx.exec_prepared1(sql.rollup_lock)[0].as<bool>()) {
      round.busy = true;  // another replica's round is running
      return absl::OkStatus();
    }
    tx.exec_prepared(CustomPlans());
    tx.exec_prepared(sql.rollup_hash);
    const pqxx::row taken = tx.exec_prepared1(sql.rollup_take, max_samples);
    round.batches = taken["batches"].as<int64_t>();
    if (round.batches == 0) return absl::OkStatus();
    round.samples = taken["samples"].as<int64_t>();
    // The statement's parameters: the taken batches' key range, time range and numbers.
    const int64_t lo = SampleKey(taken["lo"].as<int64_t>(), 0);
    const int64_t hi = SampleKey(taken["hi"].as<int64_t>() + 1, 0);
    const int64_t t0 = taken["t0"].as<int64_t>(), t1 = taken["t1"].as<int64_t>();
    const char* ids = taken["ids"].c_str();
    const pqxx::row written =
        tx.exec_prepared1(sql.rollup_apply, lo, hi, t0, t1, ids, SampleKey(1, 0));
    tx.commit();
    round.minute_cells = written["minutes"].as<int64_t>();
    round.hour_cells = written["hours"].as<int64_t>();
    round.latest_values = written["latest"].as<int64_t>();
    return absl::OkStatus();
  }));
  return round;
}

}  // namespace plantmesh::telemetry
