#include "server/telemetry/pg_store.h"

#include <libpq-fe.h>

#include <array>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_request_log.h"
#include "server/runtime/pg_statements.h"
#include "server/runtime/text_rules.h"
#include "server/telemetry/batch_sequences.h"
#include "server/telemetry/convert.h"
#include "server/telemetry/copy_binary.h"
#include "server/telemetry/libpq_exec.h"
#include "server/telemetry/pg_store_internal.h"
#include "spdlog/spdlog.h"

namespace plantmesh::telemetry {

using pg_store_internal::AdvanceStates;
using pg_store_internal::ArrayLiteral;
using pg_store_internal::Claim;
using pg_store_internal::CustomPlans;
using pg_store_internal::DropRollupsOfDay;
using pg_store_internal::Int64ArrayOf;
using pg_store_internal::kIngestOutbox;
using pg_store_internal::kIngestRollupPending;
using pg_store_internal::LockGroupTrackers;
using pg_store_internal::MarkAudited;
using pg_store_internal::Micros;
using pg_store_internal::OrNull;
using pg_store_internal::RecordWithdrawnInputs;
using pg_store_internal::RequestLog;
using pg_store_internal::RollupIngestStatements;
using pg_store_internal::RollupPartitionDdl;
using pg_store_internal::RollupPendingFrom;
using pg_store_internal::RollupPendingParameters;
using pg_store_internal::StateIngestStatements;
using pg_store_internal::TextAt;
using pg_store_internal::WriteAudit;

namespace {

// The store's SQL on the libpqxx pool, registered under names qualified by the schema.
struct Sql {
  runtime::PgStatements registry{"telemetry"};
  const runtime::PgStatement machine_insert = registry.Add(
      "machine_insert",
      "INSERT INTO telemetry.machines (id, display_name, line, zone, ideal_cycle_time_us, "
      "create_time, update_time, version) VALUES ($1, $2, $3, $4, $5, " PM_TS(6) ", " PM_TS(
          6) ", 1) ON CONFLICT (id) DO NOTHING RETURNING seq");
  // $2: the data items as a JSON array of objects (one round trip for up to 500).
  const runtime::PgStatement items_insert = registry.Add(
      "items_insert",
      "INSERT INTO telemetry.data_items (machine_id, id, position, name, category, type, units, "
      "native_units) SELECT $1, x.id, x.position, x.name, x.category, x.type, x.units, "
      "x.native_units FROM jsonb_to_recordset($2::jsonb) AS x(id text, position int, name text, "
      "category int2, type int, units text, native_units text)");
  const runtime::PgStatement items_delete =
      registry.Add("items_delete", "DELETE FROM telemetry.data_items WHERE machine_id = $1");
  // Before items_delete: the machine's items that the new list $2 leaves out become
  // retired with their type (at $3); those it names again are no longer retired.
  const runtime::PgStatement items_retire = registry.Add(
      "items_retire",
      "WITH revived AS (DELETE FROM telemetry.retired_data_items WHERE machine_id = $1 "
      "AND id = ANY($2::text[])) INSERT INTO telemetry.retired_data_items (machine_id, id, "
      "type, retire_time) SELECT machine_id, id, type, " PM_TS(3) " FROM telemetry.data_items "
      "WHERE machine_id = $1 AND id <> ALL($2::text[]) ON CONFLICT (machine_id, id) DO UPDATE "
      "SET type = EXCLUDED.type, retire_time = EXCLUDED.retire_time");
  const runtime::PgStatement items_of = registry.Add(
      "items_of",
      "SELECT d.machine_id, d.id, d.name, d.category, d.type, d.units, d.native_units FROM "
      "(SELECT DISTINCT id FROM unnest($1::text[]) AS x(id)) m "
      "JOIN telemetry.data_items d ON d.machine_id = m.id ORDER BY d.machine_id, d.position");
  // machines_unknown's rows (kind 0, in the order given), then the (machine, item) pairs
  // of the registered data items of the machines $1 (kind 1).
  const runtime::PgStatement items_now = registry.Add(
      "items_now",
      "SELECT 0 AS kind, x.id, NULL::text AS item, x.n FROM unnest($1::text[]) WITH ORDINALITY "
      "AS x(id, n) WHERE NOT EXISTS (SELECT 1 FROM telemetry.machines m WHERE m.id = x.id) "
      "UNION ALL SELECT 1, d.machine_id, d.id, 0 FROM (SELECT DISTINCT id FROM "
      "unnest($1::text[]) AS x(id)) m JOIN telemetry.data_items d ON d.machine_id = m.id "
      "ORDER BY 1, 4");
  // ResumeIngestWriter. Both wait for an ingest transaction of the writer under way (it
  // holds the row); `writer_fence` raises the fence unless another caller owns the id
  // (then no row: writer_read tells why), creating the row of a new writer.
#define PM_WRITER_COLUMNS                                                        \
  "w.last_batch_sequence, (extract(epoch from w.update_time) * 1000000)::int8, " \
  "coalesce(w.owner, ''), w.fenced_through"
  const runtime::PgStatement writer_read = registry.Add(
      "writer_read", "SELECT " PM_WRITER_COLUMNS
                     " FROM telemetry.ingest_writers w WHERE w.writer_id = $1 FOR SHARE");
  const runtime::PgStatement writer_fence = registry.Add(
      "writer_fence",
      "INSERT INTO telemetry.ingest_writers AS w (writer_id, last_batch_sequence, owner, "
      "fenced_through) VALUES ($1, 0, $2, $3) ON CONFLICT (writer_id) DO UPDATE SET "
      "fenced_through = greatest(w.fenced_through, excluded.fenced_through), owner = "
      "coalesce(w.owner, excluded.owner) WHERE coalesce(w.owner, excluded.owner) = "
      "excluded.owner RETURNING " PM_WRITER_COLUMNS);
#undef PM_WRITER_COLUMNS
  const runtime::PgStatement machine_select = registry.Add(
      "machine_select", "SELECT " PM_MACHINE_COLUMNS " FROM telemetry.machines WHERE id = $1");
  const runtime::PgStatement machine_lock =
      registry.Add("machine_lock", "SELECT " PM_MACHINE_COLUMNS
                                   " FROM telemetry.machines WHERE id = $1 FOR UPDATE");
  // Of the ids in $1, those without a machine, in the order given.
  const runtime::PgStatement machines_unknown = registry.Add(
      "machines_unknown",
      "SELECT x.id FROM unnest($1::text[]) WITH ORDINALITY AS x(id, n) WHERE NOT EXISTS "
      "(SELECT 1 FROM telemetry.machines m WHERE m.id = x.id) ORDER BY x.n");
  // machines_unknown's rows (kind 0), then the data items $2 that none of the machines $1
  // has (kind 1; retired ones count as had when $3), each in the order given. The
  // machines are joined, not matched with `= ANY($1)` (see kIngestCatalog).
  const runtime::PgStatement ids_unknown = registry.Add(
      "ids_unknown",
      "SELECT 0 AS kind, x.id, x.n FROM unnest($1::text[]) WITH ORDINALITY AS x(id, n) "
      "WHERE NOT EXISTS (SELECT 1 FROM telemetry.machines m WHERE m.id = x.id) "
      "UNION ALL SELECT 1, y.id, y.n FROM unnest($2::text[]) WITH ORDINALITY AS y(id, n) "
      "WHERE NOT EXISTS (SELECT 1 FROM unnest($1::text[]) AS m(id) JOIN telemetry.data_items d "
      "ON d.machine_id = m.id AND d.id = y.id) AND NOT ($3::bool AND EXISTS (SELECT 1 FROM "
      "unnest($1::text[]) AS m(id) JOIN telemetry.retired_data_items r ON r.machine_id = m.id "
      "AND r.id = y.id)) ORDER BY 1, 3");
  const runtime::PgStatement machine_update = registry.Add(
      "machine_update",
      "UPDATE telemetry.machines SET display_name = $2, line = $3, zone = $4, "
      "ideal_cycle_time_us = $5, update_time = " PM_TS(6) ", version = $7 WHERE id = $1");
  const runtime::PgStatement machine_list = registry.Add(
      "machine_list",
      "SELECT " PM_MACHINE_COLUMNS " FROM telemetry.machines "
      "WHERE ($1::text = '' OR line = $1) AND ($2::text = '' OR zone = $2) "
      "AND ($3::int8 IS NULL OR (create_time, seq) > (" PM_TS(3) ", $4::int8)) "
      "ORDER BY create_time, seq LIMIT $5");
  // The newest sample of each data item of the machines $1 (of the items $2, all when
  // empty): latest_values (the batches rolled up) merged, in one snapshot, with the raw
  // rows of the batches still pending — exact at every moment (why:
  // 0006_latest_values_by_job.sql). The pending rows are found as the machines' rows
  // since $3, the oldest pending sample's time read in the same snapshot (NULL: none
  // pending), by their (machine_id, time) index: a superset whose rolled-up rows are no
  // newer than latest_values. Planned for its parameters (CustomPlans): with the time
  // unknown the planner expects a third of every partition, hashes all data items and
  // compiles the plan (JIT) — 200 ms for two machines where the custom plan takes 4 ms.
  // Only data items registered now: UpdateMachine replaces the items but leaves their rows
  // (a batch judged against the old items may still store one after it), so the EXISTS,
  // not a delete, keeps a removed item out. Bytewise order (COLLATE "C"), the order
  // GetLatestValues pages in whatever the database's collation.
  const runtime::PgStatement latest = registry.Add(
      "latest",
      "WITH m AS (SELECT DISTINCT id FROM unnest($1::text[]) AS x(id)), c AS ("
      "SELECT " PM_SAMPLE_COLUMNS_OF("l") " FROM m JOIN telemetry.latest_values l "
      "ON l.machine_id = m.id UNION ALL "
      "SELECT " PM_SAMPLE_COLUMNS_OF("s") " FROM m JOIN telemetry.samples s "
      "ON s.machine_id = m.id AND s.time >= " PM_TS(3) ") "
      "SELECT DISTINCT ON (machine_id COLLATE \"C\", data_item_id COLLATE \"C\") "
      PM_SAMPLE_COLUMNS " FROM c WHERE EXISTS (SELECT 1 FROM telemetry.data_items d "
      "WHERE d.machine_id = c.machine_id AND d.id = c.data_item_id) "
      "AND (cardinality($2::text[]) = 0 OR data_item_id = ANY($2::text[])) "
      "ORDER BY machine_id COLLATE \"C\", data_item_id COLLATE \"C\", time DESC, "
      "sample_key DESC");
  const runtime::PgStatement samples = registry.Add(
      "samples",
      "SELECT " PM_SAMPLE_COLUMNS " FROM telemetry.samples "
      "WHERE machine_id = $1 AND time >= " PM_TS(2) " AND time < " PM_TS(3) " "
      "AND (cardinality($4::text[]) = 0 OR data_item_id = ANY($4::text[])) "
      "AND ($5::int8 IS NULL OR (time, sample_key) > (" PM_TS(5) ", $6::int8)) "
      "ORDER BY time, sample_key LIMIT $7");
  // Plans per call: the optional filters fold away and only the range's partitions are
  // planned.
  const runtime::PgStatement custom_plans = registry.Add(
      "custom_plans", "SELECT set_config('plan_cache_mode', 'force_custom_plan', true)");
  // Partition maintenance: one replica at a time (transaction-scoped advisory lock).
  const runtime::PgStatement partitions_lock = registry.Add(
      "partitions_lock", "SELECT pg_advisory_xact_lock(hashtext('telemetry.samples partitions'))");
  // The ingest batches' records committed before $1 (batch_sequences.h).
  const runtime::PgStatement batch_records_expire = registry.Add(
      "batch_records_expire", "DELETE FROM telemetry.ingest_batches WHERE commit_time < " PM_TS(1));
  const runtime::PgStatement partitions =
      registry.Add("partitions",
                   "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                   "WHERE i.inhparent = 'telemetry.samples'::regclass ORDER BY c.relname");
};

const Sql& Statements() {
  static const auto* sql = new Sql();
  return *sql;
}

// The ingest statements, prepared on every LibpqPool connection by these names.
constexpr char kIngestWriter[] = "telemetry.ingest_writer";
constexpr char kIngestCatalog[] = "telemetry.ingest_catalog";
constexpr char kIngestCatalogVersion[] = "telemetry.ingest_catalog_version";
constexpr char kIngestAdvance[] = "telemetry.ingest_advance";
constexpr char kIngestRecords[] = "telemetry.ingest_records";
constexpr char kIngestAudit[] = "telemetry.ingest_audit";
constexpr char kPartitionsLockSql[] =
    "SELECT pg_advisory_xact_lock(hashtext('telemetry.samples partitions'))";
constexpr char kCopySql[] =
    "COPY telemetry.samples (machine_id, data_item_id, time, sample_key, kind, number, text, "
    "condition_level, native_code, message, source_sequence) FROM STDIN WITH (FORMAT binary)";

std::vector<std::pair<std::string, std::string>> IngestStatements() {
  return {
      // Locks the writer's row (created at 0 on its first batch, owned by the caller $3;
      // one without an owner adopts $3: migration 0010), numbers $2 batches and reads its
      // fence (migration 0012).
      {kIngestWriter,
       "INSERT INTO telemetry.ingest_writers AS w (writer_id, last_batch_sequence, owner) "
       "VALUES ($1, 0, $3) ON CONFLICT (writer_id) DO UPDATE SET owner = coalesce(w.owner, "
       "excluded.owner) RETURNING w.last_batch_sequence, (SELECT "
       "array_agg(nextval('telemetry.sample_batches')) FROM generate_series(1, $2::int4)), "
       "w.owner, w.fenced_through"},
      // The facts the judge and the machine states need, and no more: the catalog's
      // version (migration 0008), a row per machine of $1 that is registered (data item
      // NULL; whether its tracker has a change pending), then a row per data item of the
      // pairs ($2, $3) that is registered (its category and type); all in one snapshot.
      // Reading all the machines' items instead cost as much as the COPY: a batch of 100
      // samples of 50 machines read 1,000 item rows (B2). The ids are joined, not
      // matched with `= ANY($1)`: a generic plan made before the tables have statistics
      // then scans every row against the whole array.
      {kIngestCatalog,
       "SELECT NULL::text, NULL::text, NULL::int2, NULL::int4, false, version "
       "FROM telemetry.catalog_version "
       "UNION ALL SELECT m.id, NULL, NULL, NULL, t.machine_id IS NOT NULL, NULL "
       "FROM unnest($1::text[]) AS m(id) JOIN telemetry.machines x ON x.id = m.id "
       "LEFT JOIN telemetry.machine_trackers t ON t.machine_id = m.id AND t.pending "
       "UNION ALL SELECT d.machine_id, d.id, d.category, d.type, false, NULL "
       "FROM unnest($2::text[], $3::text[]) AS k(machine_id, id) JOIN telemetry.data_items d "
       "ON d.machine_id = k.machine_id AND d.id = k.id"},
      // kIngestCatalog's version and pending trackers alone, when the replica remembers
      // the catalog of every id named (catalog_cache.h).
      {kIngestCatalogVersion,
       "SELECT NULL::text, NULL::text, NULL::int2, NULL::int4, false, version "
       "FROM telemetry.catalog_version "
       "UNION ALL SELECT t.machine_id, NULL, NULL, NULL, true, NULL "
       "FROM unnest($1::text[]) AS m(id) JOIN telemetry.machine_trackers t "
       "ON t.machine_id = m.id AND t.pending"},
      // The writer's record of the sequences $2 (batch_sequences.h), under its lock: both
      // columns in one primary key condition, whatever the statistics. Joined to
      // unnest($2) (LATERAL too: the planner flattens it into the same join), the generic
      // plan made while the table had few rows hashed every record of the writer (seen in
      // a local mesh's database), a plan a connection keeps until an ANALYZE of the table
      // replaces it. B2 measured no difference: 0.74 and 0.79 ms a call before and after
      // (`bench/run --pg-stats`), the 2 cores' contention more than the statement.
      {kIngestRecords,
       "SELECT r.batch_sequence, encode(r.samples_sha256, 'hex'), r.rejections FROM "
       "telemetry.ingest_batches r WHERE r.writer_id = $1 AND r.batch_sequence = ANY($2::int8[])"},
      {kIngestOutbox, "INSERT INTO telemetry.outbox (event_id, payload) VALUES ($1::uuid, $2)"},
      // The stream's audit row, with its first new batch (IngestAudit).
      {kIngestAudit, runtime::AuditRowSql(1)},
      // The new batches ($3, their fingerprints $4, their rejections $5) recorded, the
      // writer's last moved.
      {kIngestAdvance,
       "WITH recorded AS (INSERT INTO telemetry.ingest_batches (writer_id, batch_sequence, "
       "samples_sha256, rejections) SELECT $1, u.s, decode(u.h, 'hex'), u.r FROM "
       "unnest($3::int8[], $4::text[], $5::text[]) AS u(s, h, r)) UPDATE "
       "telemetry.ingest_writers SET last_batch_sequence = $2, update_time = now() WHERE "
       "writer_id = $1"},
  };
}

Machine MachineAt(const pqxx::row& r) {
  Machine m;
  m.id = r["id"].as<std::string>();
  m.seq = r["seq"].as<int64_t>();
  m.display_name = r["display_name"].as<std::string>();
  m.line = r["line"].as<std::string>();
  m.zone = r["zone"].as<std::string>();
  if (!r["ideal_cycle_time_us"].is_null()) {
    m.ideal_cycle_time = absl::Microseconds(r["ideal_cycle_time_us"].as<int64_t>());
  }
  m.create_time = absl::FromUnixMicros(r["create_time_us"].as<int64_t>());
  m.update_time = absl::FromUnixMicros(r["update_time_us"].as<int64_t>());
  m.version = r["version"].as<int64_t>();
  return m;
}

StoredSample SampleAt(const pqxx::row& r) {
  StoredSample out;
  Sample& s = out.sample;
  s.machine_id = r["machine_id"].as<std::string>();
  s.data_item_id = r["data_item_id"].as<std::string>();
  s.time = absl::FromUnixMicros(r["time_us"].as<int64_t>());
  out.key = r["sample_key"].as<int64_t>();
  s.kind = static_cast<ValueKind>(r["kind"].as<int>());
  if (!r["number"].is_null()) s.number = r["number"].as<double>();
  s.text = TextAt(r["text"]);
  if (!r["condition_level"].is_null()) s.condition_level = r["condition_level"].as<int>();
  s.native_code = TextAt(r["native_code"]);
  s.message = TextAt(r["message"]);
  if (!r["source_sequence"].is_null()) {
    s.source_sequence = static_cast<uint64_t>(r["source_sequence"].as<int64_t>());
  }
  return out;
}

// Fills the data items of `machines` (by id) from one query.
void LoadItems(pqxx::transaction_base& tx, std::vector<Machine*> machines) {
  if (machines.empty()) return;
  std::map<std::string, Machine*> by_id;
  std::vector<std::string> ids;
  for (Machine* m : machines) {
    by_id[m->id] = m;
    ids.push_back(m->id);
  }
  for (const pqxx::row& r : tx.exec_prepared(Statements().items_of, ArrayLiteral(ids))) {
    DataItem item;
    item.id = r["id"].as<std::string>();
    item.name = r["name"].as<std::string>();
    item.category = static_cast<Category>(r["category"].as<int>());
    item.type = r["type"].as<int>();
    item.units = r["units"].as<std::string>();
    item.native_units = r["native_units"].as<std::string>();
    by_id[r["machine_id"].as<std::string>()]->data_items.push_back(std::move(item));
  }
}

void WriteItems(pqxx::transaction_base& tx, const Machine& m) {
  if (m.data_items.empty()) return;
  nlohmann::json items = nlohmann::json::array();
  for (size_t i = 0; i < m.data_items.size(); ++i) {
    const DataItem& item = m.data_items[i];
    items.push_back({{"id", item.id},
                     {"position", i},
                     {"name", item.name},
                     {"category", static_cast<int>(item.category)},
                     {"type", item.type},
                     {"units", item.units},
                     {"native_units", item.native_units}});
  }
  tx.exec_prepared(Statements().items_insert, m.id, items.dump());
}

std::optional<std::string> CycleMicros(const Machine& m) {
  if (!m.ideal_cycle_time) return std::nullopt;
  return absl::StrCat(absl::ToInt64Microseconds(*m.ideal_cycle_time));
}

std::string MachineResource(const std::string& id) { return absl::StrCat("machines/", id); }

void Record(pqxx::transaction_base& tx, const ChangeContext& context,
            const ResponseEncoder<Machine>& encode, const Machine& value) {
  if (context.request.request_id.empty()) return;
  RequestLog().Record(tx, context.request, encode ? encode(value) : std::string(),
                      MachineResource(value.id));
}

absl::Status NotFound(const std::string& id) { return MachineNotFound(id); }

// Tables of telemetry's day names (samples_YYYYMMDD) that are no partition of
// telemetry.samples: an operator's DETACH PARTITION, or a table restored apart.
constexpr char kDetachedPartitionsSql[] =
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'telemetry' AND c.relkind = 'r' AND c.relname ~ '^samples_[0-9]{8}$' "
    "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) ORDER BY 1";

void LogDetachedPartitions(const std::vector<std::string>& names) {
  spdlog::error(
      "telemetry: {} exist but are no partitions of telemetry.samples (detached?): samples of "
      "those days are refused (UNAVAILABLE, nothing lost) until each is attached again "
      "(ALTER TABLE telemetry.samples ATTACH PARTITION telemetry.<name> FOR VALUES FROM "
      "('<day> 00:00:00+00') TO ('<next day> 00:00:00+00')) or dropped",
      absl::StrJoin(names, ", "));
}

std::string PartitionDdl(absl::Time day) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  return absl::StrCat("CREATE TABLE IF NOT EXISTS telemetry.", PartitionName(day),
                      " PARTITION OF telemetry.samples FOR VALUES FROM ('",
                      absl::FormatTime("%Y-%m-%d 00:00:00+00", day, utc), "') TO ('",
                      absl::FormatTime("%Y-%m-%d 00:00:00+00", day + absl::Hours(24), utc), "')");
}

// The binary COPY rows of the accepted samples, in the column order of kCopySql.
void AddCopyRows(const Batch& batch, const std::vector<int>& accepted, int64_t batch_id,
                 CopyBinaryWriter& writer) {
  for (int i : accepted) {
    const Sample& s = batch.samples[static_cast<size_t>(i)];
    writer.BeginRow(11);
    writer.AddText(s.machine_id);
    writer.AddText(s.data_item_id);
    writer.AddTimestamp(*s.time);
    writer.AddInt64(SampleKey(batch_id, i));
    writer.AddInt16(static_cast<int16_t>(s.kind));
    if (s.kind == ValueKind::kNumber) {
      writer.AddFloat8(s.number);
    } else {
      writer.AddNull();
    }
    if (s.kind == ValueKind::kText) {
      writer.AddText(s.text);
    } else {
      writer.AddNull();
    }
    if (s.kind == ValueKind::kCondition) {
      writer.AddInt16(static_cast<int16_t>(s.condition_level));
      writer.AddText(s.native_code);
      writer.AddText(s.message);
    } else {
      writer.AddNull();
      writer.AddNull();
      writer.AddNull();
    }
    if (s.source_sequence != 0) {
      writer.AddInt64(static_cast<int64_t>(s.source_sequence));
    } else {
      writer.AddNull();
    }
  }
}

// `*no_partition`: whether it failed for a row no partition takes (SQLSTATE 23514 on the
// partitioned table, which has no CHECK constraint of its own).
absl::Status Copy(PGconn* conn, const std::string& rows, bool* no_partition) {
  {
    LibpqResult started(PQexec(conn, kCopySql));
    if (PQresultStatus(started.get()) != PGRES_COPY_IN) {
      return LibpqError(conn, started.get(), "COPY telemetry.samples");
    }
  }
  if (PQputCopyData(conn, rows.data(), static_cast<int>(rows.size())) != 1 ||
      PQputCopyEnd(conn, nullptr) != 1) {
    return LibpqError(conn, nullptr, "COPY telemetry.samples");
  }
  LibpqResult done(PQgetResult(conn));
  absl::Status status = PQresultStatus(done.get()) == PGRES_COMMAND_OK
                            ? absl::OkStatus()
                            : LibpqError(conn, done.get(), "COPY telemetry.samples");
  const char* state =
      done.get() != nullptr ? PQresultErrorField(done.get(), PG_DIAG_SQLSTATE) : nullptr;
  *no_partition = !status.ok() && state != nullptr && std::string_view(state) == "23514";
  // Drain: libpq ends a command with a null result.
  while (PGresult* more = PQgetResult(conn)) PQclear(more);
  return status;
}

// How long partition DDL waits for telemetry.samples' lock. Creating or dropping a
// partition takes ACCESS EXCLUSIVE on the parent, and while that request waits (behind a
// pg_dump's ACCESS SHARE, for the dump's whole run) every ingest queues behind it (outside
// testing: 3-5 s stalls every minute of a backup, at postgres-lock-timeout-ms).
constexpr int kPartitionLockTimeoutMs = 100;
const std::string& PartitionLockTimeout() {
  static const std::string* sql =
      new std::string(absl::StrCat("SET LOCAL lock_timeout = ", kPartitionLockTimeoutMs));
  return *sql;
}

// The job's failure named "a record is locked"; the lock is the table's.
absl::Status PartitionLockBusy(absl::Status status) {
  if (status.code() != absl::StatusCode::kAborted ||
      !absl::StrContains(status.message(), "SQLSTATE 55P03")) {
    return status;
  }
  return absl::AbortedError(absl::StrCat(
      "telemetry.samples is locked by another session (a backup such as pg_dump, or a long "
      "transaction); partition changes wait at most ",
      kPartitionLockTimeoutMs,
      " ms for it, so that ingest is not held behind them, and are tried "
      "again: ",
      status.message()));
}

}  // namespace

namespace pg_store_internal {

const char kIngestOutbox[] = "telemetry.ingest_outbox";

const char* OrNull(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}

const runtime::PgRequestLog& RequestLog() {
  static const auto* log = new runtime::PgRequestLog("telemetry");
  return *log;
}

std::string Micros(absl::Time t) { return absl::StrCat(absl::ToUnixMicros(t)); }

// A PostgreSQL array literal of texts, each element quoted; nullopt elements are NULL.
std::string ArrayLiteral(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (!values[i]) {
      out += "NULL";
      continue;
    }
    out.push_back('"');
    for (char c : *values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

std::string ArrayLiteral(const std::vector<std::string>& values) {
  std::vector<std::optional<std::string>> all(values.begin(), values.end());
  return ArrayLiteral(all);
}

// The elements of a PostgreSQL int8[] in its text form ("{5,6,7}"); none for NULL or
// anything else.
std::vector<int64_t> Int64ArrayOf(absl::string_view text) {
  std::vector<int64_t> out;
  if (!absl::ConsumePrefix(&text, "{") || !absl::ConsumeSuffix(&text, "}")) return out;
  for (absl::string_view element : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(element, &value)) return {};
    out.push_back(value);
  }
  return out;
}

std::string TextAt(const pqxx::field& f) {
  return f.is_null() ? std::string() : f.as<std::string>();
}

void WriteAudit(pqxx::transaction_base& tx, const ChangeContext& context) {
  if (context.audit == nullptr || context.audit->written()) return;
  runtime::WriteAuditInTransaction(tx, context.audit->Row(context.now));
}

void MarkAudited(const ChangeContext& context) {
  if (context.audit != nullptr) context.audit->MarkWritten();
}

absl::StatusOr<std::optional<runtime::PgRequestLog::Entry>> Claim(pqxx::transaction_base& tx,
                                                                  const ChangeContext& context) {
  if (context.request.request_id.empty()) return std::nullopt;
  return RequestLog().Claim(tx, context.request);
}

const runtime::PgStatement& CustomPlans() { return Statements().custom_plans; }

const runtime::PgStatement& PartitionsLock() { return Statements().partitions_lock; }

}  // namespace pg_store_internal

PgTelemetryStore::PgTelemetryStore(runtime::PgPool* pool, std::unique_ptr<LibpqPool> ingest)
    : pool_(pool), ingest_(std::move(ingest)) {}

LibpqPoolOptions PgTelemetryStore::IngestPoolOptions(const std::string& url, int connections,
                                                     absl::Duration statement_timeout,
                                                     absl::Duration lock_timeout) {
  LibpqPoolOptions options;
  options.url = url;
  options.size = connections;
  options.statement_timeout = statement_timeout;
  options.lock_timeout = lock_timeout;
  options.prepare = IngestStatements();
  for (auto& statement : StateIngestStatements()) options.prepare.push_back(std::move(statement));
  for (auto& statement : RollupIngestStatements()) options.prepare.push_back(std::move(statement));
  return options;
}

void PgTelemetryStore::PrepareStatements(pqxx::connection& conn) {
  Statements().registry.Prepare(conn);
  pg_store_internal::PrepareAggregateStatements(conn);
  pg_store_internal::PrepareStateStatements(conn);
  RequestLog().Prepare(conn);
}

absl::Status PgTelemetryStore::Run(const std::function<absl::Status(pqxx::connection&)>& body) {
  return pool_->Run(body);
}

absl::StatusOr<Replayable<Machine>> PgTelemetryStore::RegisterMachine(
    const Machine& machine, const ChangeContext& context, const ResponseEncoder<Machine>& encode) {
  Replayable<Machine> result;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    result = {};
    PM_ASSIGN_OR_RETURN(std::optional<runtime::PgRequestLog::Entry> seen, Claim(tx, context));
    if (seen) {
      result.recorded_response = seen->response.value_or("");
      return absl::OkStatus();
    }
    const std::optional<std::string> cycle = CycleMicros(machine);
    pqxx::result inserted =
        tx.exec_prepared(Statements().machine_insert, machine.id, machine.display_name,
                         machine.line, machine.zone, OrNull(cycle), Micros(context.now));
    if (inserted.empty()) {
      return runtime::ResourceExists("machine", machine.id);
    }
    Machine created = machine;
    created.seq = inserted[0][0].as<int64_t>();
    created.version = 1;
    created.create_time = created.update_time =
        absl::FromUnixMicros(absl::ToUnixMicros(context.now));
    WriteItems(tx, created);
    Record(tx, context, encode, created);
    WriteAudit(tx, context);
    tx.commit();
    MarkAudited(context);
    result.value = std::move(created);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<IngestWriterRecord> PgTelemetryStore::ResumeIngestWriter(
    const std::string& writer_id, const std::string& caller, uint64_t fence) {
  IngestWriterRecord record;
  record.writer_id = writer_id;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    pqxx::result rows;
    if (fence > 0) {
      rows = tx.exec_prepared(Statements().writer_fence, writer_id, caller,
                              static_cast<int64_t>(fence));
    }
    if (rows.empty()) rows = tx.exec_prepared(Statements().writer_read, writer_id);
    if (rows.empty()) return absl::OkStatus();  // no row, no fence asked: nothing committed
    WriterRecord judged;
    const std::string owner = rows[0][2].as<std::string>();
    if (!owner.empty()) judged.owner = owner;
    PM_RETURN_IF_ERROR(JudgeOwner(judged, writer_id, caller, WriterUse::kResume));
    record.last_batch_sequence = rows[0][0].as<uint64_t>();
    if (record.last_batch_sequence > 0) {
      record.last_commit_time = absl::FromUnixMicros(rows[0][1].as<int64_t>());
    }
    record.owner = owner;
    record.fenced_through = rows[0][3].as<uint64_t>();
    tx.commit();
    return absl::OkStatus();
  }));
  return record;
}

absl::StatusOr<Machine> PgTelemetryStore::GetMachine(const std::string& id) {
  Machine machine;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_prepared(Statements().machine_select, id);
    if (rows.empty()) return NotFound(id);
    machine = MachineAt(rows[0]);
    LoadItems(tx, {&machine});
    return absl::OkStatus();
  }));
  return machine;
}

absl::StatusOr<MachinePage> PgTelemetryStore::ListMachines(const MachineQuery& query) {
  MachinePage page;
  std::optional<std::string> after_time;
  std::optional<std::string> after_seq;
  if (query.after) {
    after_time = Micros(query.after->sort_time);
    after_seq = absl::StrCat(query.after->id);
  }
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    page = {};
    for (const pqxx::row& r :
         tx.exec_prepared(Statements().machine_list, query.line, query.zone, OrNull(after_time),
                          OrNull(after_seq), query.page_size + 1)) {
      page.machines.push_back(MachineAt(r));
    }
    if (page.machines.size() > static_cast<size_t>(query.page_size)) {
      page.machines.pop_back();
      page.more = true;
    }
    std::vector<Machine*> all;
    for (Machine& m : page.machines) all.push_back(&m);
    LoadItems(tx, all);
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<Replayable<Machine>> PgTelemetryStore::UpdateMachine(
    const std::string& id, const ChangeContext& context, const MachineMutator& mutator,
    const ResponseEncoder<Machine>& encode) {
  Replayable<Machine> result;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    result = {};
    PM_ASSIGN_OR_RETURN(std::optional<runtime::PgRequestLog::Entry> seen, Claim(tx, context));
    if (seen) {  // every entry of this service has its response: none were migrated
      result.recorded_response = seen->response.value_or("");
      return absl::OkStatus();
    }
    pqxx::result rows = tx.exec_prepared(Statements().machine_lock, id);
    if (rows.empty()) return NotFound(id);
    Machine current = MachineAt(rows[0]);
    LoadItems(tx, {&current});
    PM_ASSIGN_OR_RETURN(Machine after, mutator(current));
    // The same version: nothing to change, only the answer for a retry and the audit.
    if (after.version != current.version) {
      after.update_time = absl::FromUnixMicros(absl::ToUnixMicros(after.update_time));
      const std::optional<std::string> cycle = CycleMicros(after);
      tx.exec_prepared(Statements().machine_update, id, after.display_name, after.line, after.zone,
                       OrNull(cycle), Micros(after.update_time), after.version);
      std::vector<std::string> kept;
      for (const DataItem& item : after.data_items) kept.push_back(item.id);
      tx.exec_prepared(Statements().items_retire, id, ArrayLiteral(kept),
                       Micros(after.update_time));
      tx.exec_prepared(Statements().items_delete, id);
      WriteItems(tx, after);
      PM_RETURN_IF_ERROR(
          RecordWithdrawnInputs(tx, id, WithdrawnInputs(current, after, after.update_time)));
    }
    Record(tx, context, encode, after);
    WriteAudit(tx, context);
    tx.commit();
    MarkAudited(context);
    result.value = std::move(after);
    return absl::OkStatus();
  }));
  return result;
}

// Reads kIngestCatalog's or kIngestCatalogVersion's rows: the machines whose tracker has
// a change pending into `*pending`, and (kIngestCatalog, `catalog` given) the registered
// machines and data items into `*catalog`. Returns the catalog's version.
int64_t ReadCatalogRows(const PGresult* rows, Catalog* catalog, std::set<std::string>* pending) {
  int64_t version = 0;
  for (int row = 0; row < PQntuples(rows); ++row) {
    if (!PQgetisnull(rows, row, 5)) {
      version = std::stoll(PQgetvalue(rows, row, 5));
      continue;
    }
    const std::string machine = PQgetvalue(rows, row, 0);
    if (PQgetisnull(rows, row, 1)) {
      if (catalog != nullptr) catalog->try_emplace(machine);
      if (PQgetvalue(rows, row, 4)[0] == 't') pending->insert(machine);
      continue;
    }
    if (catalog == nullptr) continue;
    (*catalog)[machine][PQgetvalue(rows, row, 1)] = {
        static_cast<Category>(std::atoi(PQgetvalue(rows, row, 2))),
        std::atoi(PQgetvalue(rows, row, 3))};
  }
  return version;
}

absl::StatusOr<std::vector<BatchOutcome>> PgTelemetryStore::IngestBatches(
    std::vector<Batch>& batches, const BatchJudge& judge, const BatchEventEncoder& encode,
    const IngestAudit& audit) {
  const bool write_audit =
      audit.audit != nullptr && audit.audit->active() && !audit.audit->written();
  const std::array<std::string, runtime::kAuditRowParams> audit_row =
      write_audit ? runtime::StorableAuditRow(audit.audit->Row(audit.now))
                  : std::array<std::string, runtime::kAuditRowParams>{};
  bool audited = false;
  PM_RETURN_IF_ERROR(CheckOneWriter(batches));
  const std::string& writer_id = batches.front().writer_id;
  PM_ASSIGN_OR_RETURN(LibpqPool::Lease lease, ingest_->Acquire());
  PGconn* conn = lease.conn();
  std::vector<absl::Time> new_days;
  bool no_partition = false;
  auto body = [&]() -> absl::StatusOr<std::vector<BatchOutcome>> {
    std::vector<BatchOutcome> outcomes(batches.size());
    // The facts: the machines and the data items the batches name (valid ids only: other
    // text is rejected before anything is looked up).
    MachineIds machines;
    DataItemKeys pairs;
    for (const Batch& batch : batches) {
      for (const Sample& s : batch.samples) {
        if (!runtime::IsCode(s.machine_id)) continue;
        machines.insert(s.machine_id);
        if (IsDataItemId(s.data_item_id)) pairs.emplace(s.machine_id, s.data_item_id);
      }
    }
    std::vector<std::string> pair_machines, pair_items;
    for (const auto& [machine, item] : pairs) {
      pair_machines.push_back(machine);
      pair_items.push_back(item);
    }
    const std::string arrays[] = {
        ArrayLiteral(std::vector<std::string>(machines.begin(), machines.end())),
        ArrayLiteral(pair_machines), ArrayLiteral(pair_items)};
    const std::string batch_count = absl::StrCat(batches.size());
    std::vector<std::string> sequences;
    for (const Batch& batch : batches) sequences.push_back(absl::StrCat(batch.batch_sequence));
    const std::string sequence_array = ArrayLiteral(sequences);
    const std::vector<const char*> catalog_args = {arrays[0].c_str(), arrays[1].c_str(),
                                                   arrays[2].c_str()};
    // The catalog of these ids as this replica remembers it, if it does (valid when the
    // catalog's version read below is the one remembered).
    std::optional<KnownCatalog> known;
    {
      absl::MutexLock lock(&catalog_mu_);
      known = catalog_cache_.Known(machines, pairs);
    }
    // In one round trip: the transaction begins, the writer's row is locked and the
    // batches numbered, its record of their sequences read, and the catalog (or only its
    // version) is read (for duplicates too, then unused: they are rare).
    std::vector<PipelinedStatement> opening = {
        SqlStatement("BEGIN"),
        PreparedStatement(kIngestWriter,
                          {writer_id.c_str(), batch_count.c_str(), batches.front().caller.c_str()}),
        PreparedStatement(kIngestRecords, {writer_id.c_str(), sequence_array.c_str()})};
    if (!machines.empty()) {
      opening.push_back(known ? PreparedStatement(kIngestCatalogVersion, {catalog_args[0]})
                              : PreparedStatement(kIngestCatalog, catalog_args));
    }
    PM_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<LibpqResult>> opened,
                        ExecPipeline(conn, opening));
    const PGresult* writer = opened[1]->get();
    // Which batches are new, duplicates or refused (batch_sequences.h), in order.
    WriterRecord record;
    record.owner = PQgetvalue(writer, 0, 2);
    if (absl::Status owner = JudgeOwner(record, writer_id, batches.front().caller); !owner.ok()) {
      PM_RETURN_IF_ERROR(LibpqExec(conn, "ROLLBACK"));
      outcomes.resize(1);
      outcomes[0].refusal = owner;
      return outcomes;
    }
    record.last_sequence = std::stoull(PQgetvalue(writer, 0, 0));
    record.fenced_through = std::stoull(PQgetvalue(writer, 0, 3));
    const PGresult* recorded = opened[2]->get();
    for (int row = 0; row < PQntuples(recorded); ++row) {
      const uint64_t sequence = std::stoull(PQgetvalue(recorded, row, 0));
      record.fingerprints[sequence] = PQgetvalue(recorded, row, 1);
      record.rejections[sequence] = PQgetvalue(recorded, row, 2);
    }
    const std::vector<int64_t> batch_ids = Int64ArrayOf(PQgetvalue(writer, 0, 1));
    if (batch_ids.size() != batches.size()) {
      return absl::InternalError("the ingest writer statement numbered the wrong count");
    }
    std::vector<size_t> fresh;
    std::vector<std::string> fresh_sequences, fresh_fingerprints;
    for (size_t b = 0; b < batches.size(); ++b) {
      const std::string fingerprint = BatchFingerprint(batches[b].samples);
      absl::StatusOr<bool> duplicate =
          JudgeSequence(record, writer_id, batches[b].batch_sequence, fingerprint);
      if (!duplicate.ok()) {
        outcomes.resize(b + 1);
        outcomes[b].refusal = duplicate.status();
        break;
      }
      if (*duplicate) {
        outcomes[b].duplicate = true;
        // Recorded by an earlier transaction; one of this group's is filled below.
        outcomes[b].verdict.rejected =
            DecodeRejections(record.rejections[batches[b].batch_sequence]);
        continue;
      }
      outcomes[b].batch_id = batch_ids[b];
      fresh.push_back(b);
      fresh_sequences.push_back(absl::StrCat(batches[b].batch_sequence));
      fresh_fingerprints.push_back(fingerprint);
    }
    if (fresh.empty()) {
      PM_RETURN_IF_ERROR(LibpqExec(conn, "ROLLBACK"));
      return outcomes;
    }
    Catalog catalog;
    std::set<std::string> pending;
    if (!machines.empty()) {
      const int64_t version =
          ReadCatalogRows(opened[3]->get(), known ? nullptr : &catalog, &pending);
      if (known && version == known->version) {
        catalog = std::move(known->catalog);
      } else {
        std::unique_ptr<LibpqResult> reread;
        if (known) {  // the catalog changed since it was remembered
          PM_ASSIGN_OR_RETURN(reread, ExecPrepared(conn, kIngestCatalog, catalog_args));
          pending.clear();
        }
        const int64_t read_at =
            ReadCatalogRows(reread ? reread->get() : opened[3]->get(), &catalog, &pending);
        absl::MutexLock lock(&catalog_mu_);
        catalog_cache_.Record(read_at, machines, pairs, catalog);
      }
    }
    const StateItems state_items = StateItemsOf(catalog);
    std::set<absl::Time> days;
    CopyBinaryWriter rows;
    bool any_accepted = false;
    for (size_t b : fresh) {
      Batch& batch = batches[b];  // the judge stores accepted texts in their one spelling
      outcomes[b].verdict = judge(batch.samples, catalog);
      for (int i : outcomes[b].verdict.accepted) {
        days.insert(DayStart(*batch.samples[static_cast<size_t>(i)].time));
      }
      AddCopyRows(batch, outcomes[b].verdict.accepted, outcomes[b].batch_id, rows);
      any_accepted = any_accepted || !outcomes[b].verdict.accepted.empty();
    }
    // Each new batch's rejections, recorded; a copy of it later in the group (rare: a
    // re-send that caught up with its first) gets them from that first copy.
    std::vector<std::string> fresh_rejections;
    for (size_t b : fresh)
      fresh_rejections.push_back(EncodeRejections(outcomes[b].verdict.rejected));
    for (size_t copy = 0; copy < outcomes.size(); ++copy) {
      if (!outcomes[copy].duplicate) continue;
      for (size_t b : fresh) {
        if (b < copy && batches[b].batch_sequence == batches[copy].batch_sequence) {
          outcomes[copy].verdict.rejected = outcomes[b].verdict.rejected;
        }
      }
    }
    if (any_accepted) {
      // Day partitions this replica has not seen yet: created in this transaction.
      {
        absl::MutexLock lock(&days_mu_);
        for (absl::Time day : days) {
          if (days_.count(day) == 0) new_days.push_back(day);
        }
      }
      if (!new_days.empty()) {
        PM_RETURN_IF_ERROR(LibpqExec(conn, kPartitionsLockSql));
        for (absl::Time day : new_days) {
          PM_RETURN_IF_ERROR(LibpqExec(conn, PartitionDdl(day).c_str()));
          PM_RETURN_IF_ERROR(LibpqExec(conn, RollupPartitionDdl(day).c_str()));
        }
      }
      PM_RETURN_IF_ERROR(Copy(conn, rows.Finish(), &no_partition));
      PM_RETURN_IF_ERROR(LockGroupTrackers(conn, batches, fresh, outcomes, state_items, pending));
      // In batch order: a batch's state samples move the trackers the next one finds.
      for (size_t b : fresh) {
        const std::vector<int>& accepted = outcomes[b].verdict.accepted;
        if (accepted.empty()) continue;
        PM_ASSIGN_OR_RETURN(
            outcomes[b].late_state_count,
            AdvanceStates(conn, batches[b], accepted, state_items, &pending, audit));
      }
    }
    // In one round trip: the rows for the rollup job of the batches that stored samples,
    // the group's events, the writer's sequence, COMMIT. With the COPY's two, four round
    // trips for the batches instead of nine a batch (B2: a transaction per message of
    // 100 samples).
    std::vector<PipelinedStatement> closing;
    const std::optional<std::array<std::string, 4>> rollup_rows =
        RollupPendingParameters(batches, fresh, outcomes);
    if (rollup_rows) {
      const std::array<std::string, 4>& r = *rollup_rows;
      closing.push_back(PreparedStatement(
          kIngestRollupPending, {r[0].c_str(), r[1].c_str(), r[2].c_str(), r[3].c_str()}));
    }
    const std::vector<runtime::OutboxEvent> events = GroupEvents(batches, outcomes, encode);
    for (const runtime::OutboxEvent& event : events) {
      closing.push_back(PreparedStatement(kIngestOutbox,
                                          {event.event_id.c_str(), event.payload.data()},
                                          {0, static_cast<int>(event.payload.size())}, {0, 1}));
    }
    const std::string advance_args[] = {
        absl::StrCat(record.last_sequence), ArrayLiteral(fresh_sequences),
        ArrayLiteral(fresh_fingerprints), ArrayLiteral(fresh_rejections)};
    closing.push_back(PreparedStatement(
        kIngestAdvance, {writer_id.c_str(), advance_args[0].c_str(), advance_args[1].c_str(),
                         advance_args[2].c_str(), advance_args[3].c_str()}));
    if (write_audit) {
      std::vector<const char*> values;
      for (const std::string& value : audit_row) values.push_back(value.c_str());
      closing.push_back(PreparedStatement(kIngestAudit, std::move(values)));
    }
    closing.push_back(SqlStatement("COMMIT"));
    PM_RETURN_IF_ERROR(ExecPipeline(conn, closing).status());
    audited = write_audit;
    return outcomes;
  };
  auto attempt = [&] {
    new_days.clear();
    no_partition = false;
    absl::StatusOr<std::vector<BatchOutcome>> out = body();
    // Nothing of the batches stays: roll back (a lost connection rolled back already;
    // the lease closes a connection left in a transaction).
    if (!out.ok() && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
      PQclear(PQexec(conn, "ROLLBACK"));
    }
    if (!out.ok()) out = lease.Explain(out.status());
    return out;
  };
  absl::StatusOr<std::vector<BatchOutcome>> outcomes = attempt();
  if (!outcomes.ok() && no_partition) {
    // A day partition this replica remembered is gone: dropped by another replica's
    // retention, an operator or a restore (outside testing: every batch of that day failed
    // INTERNAL until this replica's next partition round, up to an hour). Forget them all
    // and try once more, creating the days' partitions in the transaction.
    spdlog::warn("telemetry: a sample partition was dropped by someone else; creating it again");
    {
      absl::MutexLock lock(&days_mu_);
      days_.clear();
    }
    outcomes = attempt();
    if (!outcomes.ok() && no_partition) {
      // Still: a table of the day's name is there but no partition, so the day's
      // partition cannot be created (outside testing: every batch of that day failed with
      // SQLSTATE 23514 only). The writers retry; the operator is told which table.
      std::vector<std::string> detached;
      LibpqResult found(PQexec(conn, kDetachedPartitionsSql));
      if (PQresultStatus(found.get()) == PGRES_TUPLES_OK) {
        for (int row = 0; row < PQntuples(found.get()); ++row) {
          detached.emplace_back(PQgetvalue(found.get(), row, 0));
        }
      }
      if (!detached.empty()) LogDetachedPartitions(detached);
      return runtime::DependencyUnavailable(
          "PostgreSQL",
          absl::StrCat("a day of the batch has no partition of telemetry.samples and cannot have "
                       "one: ",
                       detached.empty() ? std::string("a table of its name is in the way")
                                        : absl::StrCat(absl::StrJoin(detached, ", "),
                                                       " exist but are detached")),
          "retry later; nothing of the batch was stored", "cannot store samples of a day");
    }
  }
  if (!outcomes.ok()) return outcomes.status();
  if (audited) audit.audit->MarkWritten();
  if (!new_days.empty()) {
    absl::MutexLock lock(&days_mu_);
    days_.insert(new_days.begin(), new_days.end());
  }
  return outcomes;
}

absl::StatusOr<std::vector<std::string>> PgTelemetryStore::UnknownMachines(
    const std::vector<std::string>& machine_ids) {
  std::vector<std::string> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r :
         tx.exec_prepared(Statements().machines_unknown, ArrayLiteral(machine_ids))) {
      out.push_back(r[0].as<std::string>());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<TelemetryStore::UnknownIds> PgTelemetryStore::UnknownMachinesAndDataItems(
    const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids,
    bool retired_are_known) {
  UnknownIds out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out = UnknownIds();
    for (const pqxx::row& r : tx.exec_prepared(Statements().ids_unknown, ArrayLiteral(machine_ids),
                                               ArrayLiteral(data_item_ids), retired_are_known)) {
      (r[0].as<int>() == 0 ? out.machines : out.data_items).push_back(r[1].as<std::string>());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<TelemetryStore::ItemsNow> PgTelemetryStore::DataItemsNow(
    const std::vector<std::string>& machine_ids) {
  ItemsNow out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out = ItemsNow();
    for (const pqxx::row& r : tx.exec_prepared(Statements().items_now, ArrayLiteral(machine_ids))) {
      if (r[0].as<int>() == 0) {
        out.unknown_machines.push_back(r[1].as<std::string>());
      } else {
        out.items.emplace(r[1].as<std::string>(), r[2].as<std::string>());
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<StoredSample>> PgTelemetryStore::LatestValues(
    const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids) {
  std::vector<StoredSample> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    out.clear();
    tx.exec_prepared(Statements().custom_plans);
    const pqxx::row pending = tx.exec_prepared1(RollupPendingFrom());
    std::optional<std::string> pending_from;
    if (!pending["t0"].is_null()) pending_from = pending["t0"].c_str();
    for (const pqxx::row& r : tx.exec_prepared(Statements().latest, ArrayLiteral(machine_ids),
                                               ArrayLiteral(data_item_ids), OrNull(pending_from))) {
      out.push_back(SampleAt(r));
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<SamplePage> PgTelemetryStore::QuerySamples(const SampleQuery& query) {
  SamplePage page;
  std::optional<std::string> after_time;
  std::optional<std::string> after_key;
  if (query.after) {
    after_time = Micros(query.after->sort_time);
    after_key = absl::StrCat(query.after->id);
  }
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    page = {};
    tx.exec_prepared(Statements().custom_plans);
    for (const pqxx::row& r :
         tx.exec_prepared(Statements().samples, query.machine_id, Micros(query.start_time),
                          Micros(query.end_time), ArrayLiteral(query.data_item_ids),
                          OrNull(after_time), OrNull(after_key), query.page_size + 1)) {
      page.samples.push_back(SampleAt(r));
    }
    if (page.samples.size() > static_cast<size_t>(query.page_size)) {
      page.samples.pop_back();
      page.more = true;
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<std::vector<std::string>> PgTelemetryStore::ListPartitions() {
  std::vector<std::string> names;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    names.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().partitions)) {
      names.push_back(r[0].as<std::string>());
    }
    return absl::OkStatus();
  }));
  return names;
}

absl::StatusOr<std::vector<std::string>> PgTelemetryStore::CreatePartitions(
    const std::vector<absl::Time>& days) {
  std::vector<std::string> created;
  std::vector<std::string> detached;
  PM_RETURN_IF_ERROR(PartitionLockBusy(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    created.clear();
    tx.exec_prepared(Statements().partitions_lock);
    tx.exec(PartitionLockTimeout());  // after the job's own lock, which other replicas hold
    std::set<std::string> existing;
    for (const pqxx::row& r : tx.exec_prepared(Statements().partitions)) {
      existing.insert(r[0].as<std::string>());
    }
    detached.clear();
    for (absl::Time day : days) {
      tx.exec(RollupPartitionDdl(day));  // also for days created before the rollups existed
      if (existing.count(PartitionName(day)) != 0) continue;
      // A table of the day's name that is no partition: CREATE ... IF NOT EXISTS would do
      // nothing and the day be logged as created (outside testing: a detached partition).
      if (tx.exec_params1("SELECT to_regclass($1) IS NOT NULL",
                          absl::StrCat("telemetry.", PartitionName(day)))[0]
              .as<bool>()) {
        detached.push_back(PartitionName(day));
        continue;
      }
      // DDL takes no parameters; the name and bounds are formatted from a day.
      tx.exec(PartitionDdl(day));
      created.push_back(PartitionName(day));
    }
    tx.commit();
    return absl::OkStatus();
  })));
  if (!detached.empty()) LogDetachedPartitions(detached);
  absl::MutexLock lock(&days_mu_);
  days_.insert(days.begin(), days.end());
  return created;
}

absl::StatusOr<std::vector<std::string>> PgTelemetryStore::DropExpiredPartitions(
    absl::Time now, absl::Duration retention) {
  std::vector<std::string> dropped;
  std::vector<absl::Time> dropped_days;
  PM_RETURN_IF_ERROR(PartitionLockBusy(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    dropped.clear();
    dropped_days.clear();
    tx.exec_prepared(Statements().partitions_lock);
    tx.exec(PartitionLockTimeout());
    for (const pqxx::row& r : tx.exec_prepared(Statements().partitions)) {
      const std::string name = r[0].as<std::string>();
      std::optional<absl::Time> day = DayOfPartition(name);
      if (!day || !DayExpired(*day, now, retention)) continue;
      // The name is one of ours (DayOfPartition parsed it back).
      tx.exec(absl::StrCat("DROP TABLE telemetry.", PartitionName(*day)));
      DropRollupsOfDay(tx, *day);
      dropped.push_back(name);
      dropped_days.push_back(*day);
    }
    tx.commit();
    return absl::OkStatus();
  })));
  absl::MutexLock lock(&days_mu_);
  for (absl::Time day : dropped_days) days_.erase(day);
  return dropped;
}

absl::StatusOr<absl::Time> PgTelemetryStore::DatabaseNow() {
  int64_t micros = 0;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::nontransaction tx(conn);
    micros = tx.exec1("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")[0]
                 .as<int64_t>();
    return absl::OkStatus();
  }));
  return absl::FromUnixMicros(micros);
}

absl::StatusOr<int64_t> PgTelemetryStore::DeleteExpiredBatchRecords(absl::Time before) {
  int64_t deleted = 0;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    deleted = static_cast<int64_t>(
        tx.exec_prepared(Statements().batch_records_expire, Micros(before)).affected_rows());
    tx.commit();
    return absl::OkStatus();
  }));
  return deleted;
}

}  // namespace plantmesh::telemetry
