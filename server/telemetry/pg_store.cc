#include "server/telemetry/pg_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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
#include "server/telemetry/rollups.h"
#include "server/telemetry/tracker_state_codec.h"

namespace plantmesh::telemetry {
namespace {

// A timestamptz column read as microseconds since the epoch (exact: extract() is numeric).
#define PM_US(col) "(extract(epoch from " col ") * 1000000)::int8 AS " col "_us"
// Parameter $n (microseconds since the epoch, or NULL) as a timestamptz.
#define PM_TS(n) "(timestamptz 'epoch' + $" #n "::int8 * interval '1 microsecond')"

#define PM_MACHINE_COLUMNS                                                                    \
  "id, seq, display_name, line, zone, ideal_cycle_time_us, " PM_US("create_time") ", " PM_US( \
      "update_time") ", version"

// A sample's columns of table alias `t`, as stored.
#define PM_SAMPLE_COLUMNS_OF(t)                                                                   \
  t ".machine_id, " t ".data_item_id, " t ".time, " t ".sample_key, " t ".kind, " t ".number, " t \
    ".text, " t ".condition_level, " t ".native_code, " t ".message, " t ".source_sequence"
#define PM_SAMPLE_COLUMNS \
  "machine_id, data_item_id, " PM_US("time") ", sample_key, kind, number, text, "          \
                                             "condition_level, native_code, message, "     \
                                             "source_sequence"

#define PM_DOWNTIME_COLUMNS \
  "id, machine_id, state, " PM_US("start_time") ", " PM_US("end_time") ", reason_code, "     \
                                                 "comment, reason_set_by, " PM_US(           \
                                                     "reason_set_time")

const runtime::PgRequestLog& RequestLog() {
  static const auto* log = new runtime::PgRequestLog("telemetry");
  return *log;
}

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
  const runtime::PgStatement items_of = registry.Add(
      "items_of",
      "SELECT d.machine_id, d.id, d.name, d.category, d.type, d.units, d.native_units FROM "
      "(SELECT DISTINCT id FROM unnest($1::text[]) AS x(id)) m "
      "JOIN telemetry.data_items d ON d.machine_id = m.id ORDER BY d.machine_id, d.position");
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
  // has (kind 1), each in the order given. The machines are joined, not matched with
  // `= ANY($1)` (see kIngestCatalog).
  const runtime::PgStatement ids_unknown = registry.Add(
      "ids_unknown",
      "SELECT 0 AS kind, x.id, x.n FROM unnest($1::text[]) WITH ORDINALITY AS x(id, n) "
      "WHERE NOT EXISTS (SELECT 1 FROM telemetry.machines m WHERE m.id = x.id) "
      "UNION ALL SELECT 1, y.id, y.n FROM unnest($2::text[]) WITH ORDINALITY AS y(id, n) "
      "WHERE NOT EXISTS (SELECT 1 FROM unnest($1::text[]) AS m(id) JOIN telemetry.data_items d "
      "ON d.machine_id = m.id AND d.id = y.id) ORDER BY 1, 3");
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
  // since the oldest pending sample's time (their (machine_id, time) index, the older
  // partitions pruned when the query runs): a superset whose rolled-up rows are no newer
  // than latest_values. Only data items registered now: UpdateMachine replaces the
  // items but leaves their rows (a batch judged against the old items may still store
  // one after it), so the EXISTS, not a delete, keeps a removed item out. Bytewise order
  // (COLLATE "C"), the order GetLatestValues pages in whatever the database's collation.
  const runtime::PgStatement latest = registry.Add(
      "latest",
      "WITH m AS (SELECT DISTINCT id FROM unnest($1::text[]) AS x(id)), c AS ("
      "SELECT " PM_SAMPLE_COLUMNS_OF("l") " FROM m JOIN telemetry.latest_values l "
      "ON l.machine_id = m.id UNION ALL "
      "SELECT " PM_SAMPLE_COLUMNS_OF("s") " FROM m JOIN telemetry.samples s "
      "ON s.machine_id = m.id AND s.time >= (SELECT min(min_time) FROM telemetry.rollup_pending)) "
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
constexpr char kIngestOutbox[] = "telemetry.ingest_outbox";
constexpr char kIngestAdvance[] = "telemetry.ingest_advance";
constexpr char kIngestRecords[] = "telemetry.ingest_records";
constexpr char kPartitionsLockSql[] =
    "SELECT pg_advisory_xact_lock(hashtext('telemetry.samples partitions'))";
constexpr char kCopySql[] =
    "COPY telemetry.samples (machine_id, data_item_id, time, sample_key, kind, number, text, "
    "condition_level, native_code, message, source_sequence) FROM STDIN WITH (FORMAT binary)";

std::vector<std::pair<std::string, std::string>> IngestStatements() {
  return {
      // Locks the writer's row (created at 0 on its first batch, owned by the caller $3;
      // one without an owner adopts $3: migration 0010) and numbers $2 batches.
      {kIngestWriter,
       "INSERT INTO telemetry.ingest_writers AS w (writer_id, last_batch_sequence, owner) "
       "VALUES ($1, 0, $3) ON CONFLICT (writer_id) DO UPDATE SET owner = coalesce(w.owner, "
       "excluded.owner) RETURNING w.last_batch_sequence, (SELECT "
       "array_agg(nextval('telemetry.sample_batches')) FROM generate_series(1, $2::int4)), "
       "w.owner"},
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

const char* OrNull(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}

std::string MachineResource(const std::string& id) { return absl::StrCat("machines/", id); }

void WriteAudit(pqxx::transaction_base& tx, const ChangeContext& context) {
  if (context.audit == nullptr || context.audit->written()) return;
  runtime::WriteAuditInTransaction(tx, context.audit->Row(context.now));
}

void MarkAudited(const ChangeContext& context) {
  if (context.audit != nullptr) context.audit->MarkWritten();
}

void Record(pqxx::transaction_base& tx, const ChangeContext& context,
            const ResponseEncoder<Machine>& encode, const Machine& value) {
  if (context.request.request_id.empty()) return;
  RequestLog().Record(tx, context.request, encode ? encode(value) : std::string(),
                      MachineResource(value.id));
}

absl::StatusOr<std::optional<runtime::PgRequestLog::Entry>> Claim(pqxx::transaction_base& tx,
                                                                  const ChangeContext& context) {
  if (context.request.request_id.empty()) return std::nullopt;
  return RequestLog().Claim(tx, context.request);
}

absl::Status NotFound(const std::string& id) { return MachineNotFound(id); }

// ---- libpq, for the ingest transaction ----

// A result that clears itself.
class Result {
 public:
  explicit Result(PGresult* result) : result_(result) {}
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result() { PQclear(result_); }
  PGresult* get() const { return result_; }

 private:
  PGresult* result_;
};

// Runs prepared statement `name` with text parameters (nullptr: NULL; `binary` marks
// parameters passed as raw bytes with their `lengths`).
absl::StatusOr<std::unique_ptr<Result>> ExecPrepared(PGconn* conn, const char* name,
                                                     const std::vector<const char*>& values,
                                                     const std::vector<int>& lengths = {},
                                                     const std::vector<int>& binary = {}) {
  auto result = std::make_unique<Result>(PQexecPrepared(
      conn, name, static_cast<int>(values.size()), values.data(),
      lengths.empty() ? nullptr : lengths.data(), binary.empty() ? nullptr : binary.data(), 0));
  const ExecStatusType status = PQresultStatus(result->get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return LibpqError(conn, result->get(), name);
  }
  return result;
}

// One statement of ExecPipeline: a prepared statement (`prepared`, its name) or SQL text
// (`sql`), with ExecPrepared's parameters.
struct PipelinedStatement {
  const char* prepared = nullptr;
  const char* sql = nullptr;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> binary;
};
PipelinedStatement SqlStatement(const char* sql) {
  PipelinedStatement statement;
  statement.sql = sql;
  return statement;
}
PipelinedStatement PreparedStatement(const char* name, std::vector<const char*> values,
                                     std::vector<int> lengths = {}, std::vector<int> binary = {}) {
  PipelinedStatement statement;
  statement.prepared = name;
  statement.values = std::move(values);
  statement.lengths = std::move(lengths);
  statement.binary = std::move(binary);
  return statement;
}

// Sends `statements` at once and reads their results after (libpq's pipeline mode): one
// round trip instead of one each, for statements that do not depend on each other's
// results. Each one's result in order, or the first failure (as ExecPrepared's): the
// server skips what follows it up to the pipeline's end, and a transaction open in it is
// then aborted (the caller rolls back). The connection leaves pipeline mode either way,
// unless it broke (LibpqPool closes it).
absl::StatusOr<std::vector<std::unique_ptr<Result>>> ExecPipeline(
    PGconn* conn, const std::vector<PipelinedStatement>& statements) {
  auto name = [&](size_t i) {
    return statements[i].prepared != nullptr ? statements[i].prepared : statements[i].sql;
  };
  if (PQenterPipelineMode(conn) != 1) return LibpqError(conn, nullptr, "pipeline");
  for (size_t i = 0; i < statements.size(); ++i) {
    const PipelinedStatement& st = statements[i];
    const int count = static_cast<int>(st.values.size());
    const int* lengths = st.lengths.empty() ? nullptr : st.lengths.data();
    const int* binary = st.binary.empty() ? nullptr : st.binary.data();
    const int sent =
        st.prepared != nullptr
            ? PQsendQueryPrepared(conn, st.prepared, count, st.values.data(), lengths, binary, 0)
            : PQsendQueryParams(conn, st.sql, count, nullptr, st.values.data(), lengths, binary, 0);
    if (sent != 1) return LibpqError(conn, nullptr, name(i));
  }
  if (PQpipelineSync(conn) != 1) return LibpqError(conn, nullptr, "pipeline");
  // Each statement's result, then a null; after the last, the sync's result.
  std::vector<std::unique_ptr<Result>> results(statements.size());
  absl::Status first_failure;
  size_t index = 0;
  for (;;) {
    PGresult* raw = PQgetResult(conn);
    if (raw == nullptr) {
      if (index >= statements.size()) {  // a broken connection: no sync will come
        return first_failure.ok() ? LibpqError(conn, nullptr, "pipeline") : first_failure;
      }
      ++index;
      continue;
    }
    auto result = std::make_unique<Result>(raw);
    const ExecStatusType status = PQresultStatus(raw);
    if (status == PGRES_PIPELINE_SYNC) break;
    if (index >= statements.size()) {
      if (first_failure.ok()) first_failure = LibpqError(conn, raw, "pipeline");
      continue;
    }
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && first_failure.ok()) {
      // PGRES_PIPELINE_ABORTED: skipped after a failure, which comes first.
      first_failure = LibpqError(conn, raw, name(index));
    }
    results[index] = std::move(result);
  }
  if (PQexitPipelineMode(conn) != 1 && first_failure.ok()) {
    first_failure = LibpqError(conn, nullptr, "pipeline");
  }
  if (!first_failure.ok()) return first_failure;
  return results;
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

absl::Status Copy(PGconn* conn, const std::string& rows) {
  {
    Result started(PQexec(conn, kCopySql));
    if (PQresultStatus(started.get()) != PGRES_COPY_IN) {
      return LibpqError(conn, started.get(), "COPY telemetry.samples");
    }
  }
  if (PQputCopyData(conn, rows.data(), static_cast<int>(rows.size())) != 1 ||
      PQputCopyEnd(conn, nullptr) != 1) {
    return LibpqError(conn, nullptr, "COPY telemetry.samples");
  }
  Result done(PQgetResult(conn));
  absl::Status status = PQresultStatus(done.get()) == PGRES_COMMAND_OK
                            ? absl::OkStatus()
                            : LibpqError(conn, done.get(), "COPY telemetry.samples");
  // Drain: libpq ends a command with a null result.
  while (PGresult* more = PQgetResult(conn)) PQclear(more);
  return status;
}

// ==== Machine states (states.h): SQL of the trackers, intervals and downtimes ====

// The reads, on the libpqxx pool.
struct StateSql {
  runtime::PgStatements registry{"telemetry"};
  const runtime::PgStatement machine_exists =
      registry.Add("state_machine_exists", "SELECT 1 FROM telemetry.machines WHERE id = $1");
  // Retention (DropExpiredStates): what ended before $1.
  const runtime::PgStatement intervals_expire = registry.Add(
      "state_intervals_expire", "DELETE FROM telemetry.state_intervals WHERE end_time < " PM_TS(1));
  const runtime::PgStatement downtimes_expire = registry.Add(
      "state_downtimes_expire",
      "DELETE FROM telemetry.downtimes WHERE end_time IS NOT NULL AND end_time < " PM_TS(1));
  // Closed intervals overlapping [$2, $3) after start $4, oldest first, at most $5 (NULL:
  // all). The first candidate is the last interval starting at or before $2 (intervals
  // of a machine never overlap), so the scan starts there, not at the machine's first.
  const runtime::PgStatement intervals = registry.Add(
      "state_intervals",
      "SELECT state, " PM_US("start_time") ", " PM_US("end_time") " "
      "FROM telemetry.state_intervals WHERE machine_id = $1 "
      "AND start_time >= coalesce((SELECT max(start_time) FROM telemetry.state_intervals "
      "WHERE machine_id = $1 AND start_time <= " PM_TS(2) "), '-infinity') "
      "AND start_time < " PM_TS(3) " AND end_time > " PM_TS(2) " "
      "AND ($4::int8 IS NULL OR start_time > " PM_TS(4) ") "
      "ORDER BY start_time LIMIT $5");
  const runtime::PgStatement tracker = registry.Add(
      "state_tracker", "SELECT state FROM telemetry.machine_trackers WHERE machine_id = $1");
  // UpdateMachine's withdrawals (RecordWithdrawnInputs).
  const runtime::PgStatement tracker_lock =
      registry.Add("state_tracker_lock",
                   "SELECT state FROM telemetry.machine_trackers WHERE machine_id = $1 "
                   "AND state IS NOT NULL FOR UPDATE");
  const runtime::PgStatement tracker_record =
      registry.Add("state_tracker_record",
                   "UPDATE telemetry.machine_trackers SET state = $2, pending = true, "
                   "update_time = now() WHERE machine_id = $1");
  const runtime::PgStatement part_count_items = registry.Add(
      "state_part_count_items",
      "SELECT id FROM telemetry.data_items WHERE machine_id = $1 AND type = $2 ORDER BY id");
  // Samples of the PART_COUNT items in [$3, $4) after (time, sample_key) ($5, $6) if $5
  // is set, at most $7 (a page: the index on (machine_id, time) is entered at the later
  // of $3 and $5), and per item the newest count before $3 (a number: Unavailable and text
  // do not make a baseline).
  const runtime::PgStatement part_counts = registry.Add(
      "state_part_counts",
      "SELECT data_item_id, " PM_US("time") ", kind, number, text, sample_key "
      "FROM telemetry.samples WHERE machine_id = $1 AND data_item_id = ANY($2::text[]) "
      "AND time >= coalesce(" PM_TS(5) ", " PM_TS(3) ") AND time < " PM_TS(4) " "
      "AND ($5::int8 IS NULL OR (time, sample_key) > (" PM_TS(5) ", $6::int8)) "
      "ORDER BY time, sample_key LIMIT $7");
  // One item's numbers and texts before $3, newest first, before (time, sample_key) ($4,
  // $5) if $4 is set, at most $6: where its baseline is looked for (IsPartCount decides,
  // text included, as in the range).
  const runtime::PgStatement part_count_baseline = registry.Add(
      "state_part_count_baseline",
      "SELECT data_item_id, " PM_US("time") ", kind, number, text, sample_key "
      "FROM telemetry.samples WHERE machine_id = $1 AND data_item_id = $2 "
      "AND time < " PM_TS(3) " AND time <= coalesce(" PM_TS(4) ", " PM_TS(3) ") "
      "AND kind IN (1, 2) AND ($4::int8 IS NULL OR (time, sample_key) < (" PM_TS(4) ", $5::int8)) "
      "ORDER BY time DESC, sample_key DESC LIMIT $6");
  const runtime::PgStatement downtimes = registry.Add(
      "state_downtimes",
      "SELECT " PM_DOWNTIME_COLUMNS " FROM telemetry.downtimes "
      "WHERE ($1::text = '' OR machine_id = $1) "
      "AND ($2::int8 IS NULL OR start_time >= " PM_TS(2) ") "
      "AND ($3::int8 IS NULL OR start_time < " PM_TS(3) ") "
      "AND (NOT $4::bool OR reason_code = '') "
      "AND ($5::int8 IS NULL OR (start_time, id) < (" PM_TS(5) ", $6::int8)) "
      "ORDER BY start_time DESC, id DESC LIMIT $7");
  const runtime::PgStatement downtime_lock =
      registry.Add("state_downtime_lock", "SELECT " PM_DOWNTIME_COLUMNS
                                          " FROM telemetry.downtimes WHERE id = $1 FOR UPDATE");
  const runtime::PgStatement downtime_reason = registry.Add(
      "state_downtime_reason",
      "UPDATE telemetry.downtimes SET reason_code = $2, comment = $3, reason_set_by = $4, "
      "reason_set_time = " PM_TS(5) " WHERE id = $1");
  const runtime::PgStatement outbox = registry.Add(
      "state_outbox", "INSERT INTO telemetry.outbox (event_id, payload) VALUES ($1::uuid, $2)");
};

const StateSql& StateStatements() {
  static const auto* sql = new StateSql();
  return *sql;
}

// The ingest side, on the libpq connections (prepared by these names).
constexpr char kStateLock[] = "telemetry.state_lock";
constexpr char kStateSave[] = "telemetry.state_save";
constexpr char kStateIntervalsInsert[] = "telemetry.state_intervals_insert";
constexpr char kStateDowntimesUpsert[] = "telemetry.state_downtimes_upsert";
constexpr char kStatePendingMachines[] = "telemetry.state_pending_machines";
constexpr char kStateLockFree[] = "telemetry.state_lock_free";

std::vector<std::pair<std::string, std::string>> StateIngestStatements() {
  return {
      // Locks the trackers of the batch's machines in id order (no deadlock between
      // batches), creating the missing ones; their state NULL: a new tracker.
      {kStateLock,
       "INSERT INTO telemetry.machine_trackers AS t (machine_id) "
       "SELECT m FROM unnest($1::text[]) AS m ORDER BY m "
       "ON CONFLICT (machine_id) DO UPDATE SET machine_id = excluded.machine_id "
       "RETURNING t.machine_id, t.state"},
      // Candidates for SettlePendingStates (a few per round: a machine is pending from
      // a state change until time moves past it).
      {kStatePendingMachines,
       "SELECT machine_id FROM telemetry.machine_trackers WHERE pending ORDER BY machine_id "
       "LIMIT 1000"},
      // kStateLock for SettlePendingStates: only the trackers no batch holds (that batch
      // moves its tracker anyway), so a round never waits for ingest nor deadlocks with
      // a group that locks its machines batch after batch.
      {kStateLockFree,
       "SELECT t.machine_id, t.state FROM telemetry.machine_trackers t "
       "WHERE t.machine_id = ANY($1::text[]) AND t.pending ORDER BY t.machine_id "
       "FOR UPDATE SKIP LOCKED"},
      {kStateSave,
       "UPDATE telemetry.machine_trackers AS t SET state = u.s, pending = u.p, "
       "update_time = now() FROM unnest($1::text[], $2::text[], $3::bool[]) AS u(m, s, p) "
       "WHERE t.machine_id = u.m"},
      // An interval is settled once; a second write of the same start cannot happen (the
      // tracker is locked and moves forward only) and would be left as it is.
      {kStateIntervalsInsert,
       "INSERT INTO telemetry.state_intervals (machine_id, state, start_time, end_time) "
       "SELECT u.m, u.s, timestamptz 'epoch' + u.a * interval '1 microsecond', "
       "timestamptz 'epoch' + u.b * interval '1 microsecond' "
       "FROM unnest($1::text[], $2::int2[], $3::int8[], $4::int8[]) AS u(m, s, a, b) "
       "ON CONFLICT (machine_id, start_time) DO NOTHING"},
      // Each downtime the batch changed, in its state after the batch; returns the ids
      // and reasons the events carry.
      {kStateDowntimesUpsert,
       "INSERT INTO telemetry.downtimes AS d (machine_id, state, start_time, end_time) "
       "SELECT u.m, u.s, timestamptz 'epoch' + u.a * interval '1 microsecond', "
       "timestamptz 'epoch' + u.b * interval '1 microsecond' "
       "FROM unnest($1::text[], $2::int2[], $3::int8[], $4::int8[]) AS u(m, s, a, b) "
       "ON CONFLICT (machine_id, start_time) DO UPDATE SET state = excluded.state, "
       "end_time = excluded.end_time RETURNING " PM_DOWNTIME_COLUMNS},
  };
}

Downtime DowntimeAt(const pqxx::row& r) {
  Downtime d;
  d.id = r["id"].as<int64_t>();
  d.machine_id = r["machine_id"].as<std::string>();
  d.state = static_cast<MachineState>(r["state"].as<int>());
  d.start = absl::FromUnixMicros(r["start_time_us"].as<int64_t>());
  if (!r["end_time_us"].is_null()) d.end = absl::FromUnixMicros(r["end_time_us"].as<int64_t>());
  d.reason_code = r["reason_code"].as<std::string>();
  d.comment = r["comment"].as<std::string>();
  d.reason_set_by = r["reason_set_by"].as<std::string>();
  if (!r["reason_set_time_us"].is_null()) {
    d.reason_set_time = absl::FromUnixMicros(r["reason_set_time_us"].as<int64_t>());
  }
  return d;
}

// The same from a libpq result (PM_DOWNTIME_COLUMNS' order).
Downtime DowntimeAt(PGresult* result, int row) {
  auto text = [&](int col) { return std::string(PQgetvalue(result, row, col)); };
  auto time = [&](int col) -> std::optional<absl::Time> {
    if (PQgetisnull(result, row, col)) return std::nullopt;
    return absl::FromUnixMicros(std::stoll(text(col)));
  };
  Downtime d;
  d.id = std::stoll(text(0));
  d.machine_id = text(1);
  d.state = static_cast<MachineState>(std::stoi(text(2)));
  d.start = *time(3);
  d.end = time(4);
  d.reason_code = text(5);
  d.comment = text(6);
  d.reason_set_by = text(7);
  d.reason_set_time = time(8);
  return d;
}

// A tracker row's state as stored (tracker_state_codec.h); INTERNAL when it cannot be read.
absl::StatusOr<TrackerState> DecodeStoredTracker(absl::string_view machine_id,
                                                 absl::string_view text) {
  absl::StatusOr<TrackerState> state = DecodeTrackerState(text);
  if (!state.ok()) {
    return absl::InternalError(absl::StrCat("the stored tracker of machine ", machine_id,
                                            " cannot be read: ", state.status().message()));
  }
  return state;
}

// Moves the trackers of `moved`'s machines, in the caller's transaction: lock and read
// them (one statement), advance, write the trackers, closed intervals and downtimes (one
// statement each, skipped when empty) and one outbox event per downtime change. With
// `settle_before`, `moved` names candidates: each one no other transaction holds is
// locked and moved by SettleBatch, or left as it is. Counts the trackers moved.
absl::StatusOr<int> AdvanceMachines(PGconn* conn, std::map<std::string, MachineBatch> moved,
                                    std::set<std::string>* pending,
                                    std::optional<absl::Time> settle_before) {
  if (moved.empty()) return 0;
  std::vector<std::string> machines;
  for (const auto& entry : moved) machines.push_back(entry.first);
  std::string machine_array = ArrayLiteral(machines);
  PM_ASSIGN_OR_RETURN(
      std::unique_ptr<Result> locked,
      ExecPrepared(conn, settle_before ? kStateLockFree : kStateLock, {machine_array.c_str()}));
  std::map<std::string, TrackerState> trackers;
  for (int row = 0; row < PQntuples(locked->get()); ++row) {
    TrackerState& state = trackers[PQgetvalue(locked->get(), row, 0)];
    if (PQgetisnull(locked->get(), row, 1)) continue;
    PM_ASSIGN_OR_RETURN(state, DecodeStoredTracker(PQgetvalue(locked->get(), row, 0),
                                                   PQgetvalue(locked->get(), row, 1)));
  }
  if (settle_before) {
    machines.clear();
    for (auto& [machine, batch] : moved) {
      auto tracker = trackers.find(machine);
      if (tracker == trackers.end()) continue;  // held by a batch
      std::optional<MachineBatch> settle = SettleBatch(tracker->second, *settle_before);
      if (!settle) continue;
      batch = *std::move(settle);
      machines.push_back(machine);
    }
    if (machines.empty()) return 0;
    machine_array = ArrayLiteral(machines);
  }
  std::vector<std::optional<std::string>> saved, saved_pending;
  std::vector<std::optional<std::string>> i_machine, i_state, i_start, i_end;
  std::vector<std::optional<std::string>> d_machine, d_state, d_start, d_end;
  std::vector<std::pair<std::string, DowntimeEvent>> events;
  for (const std::string& machine : machines) {
    StateChanges changes;
    const TrackerState after = AdvanceTracker(trackers[machine], moved.at(machine), &changes);
    saved.push_back(EncodeTrackerState(after));
    // The next batch of the same transaction sees the tracker as this one left it.
    if (TrackerPending(after)) {
      pending->insert(machine);
      saved_pending.push_back("t");
    } else {
      pending->erase(machine);
      saved_pending.push_back("f");
    }
    for (const StateInterval& i : changes.closed_intervals) {
      i_machine.push_back(machine);
      i_state.push_back(absl::StrCat(static_cast<int>(i.state)));
      i_start.push_back(Micros(i.start));
      i_end.push_back(Micros(i.end));
    }
    for (const Downtime& d : DowntimesAfter(machine, changes.downtime_events)) {
      d_machine.push_back(machine);
      d_state.push_back(absl::StrCat(static_cast<int>(d.state)));
      d_start.push_back(Micros(d.start));
      d_end.push_back(d.end ? std::optional<std::string>(Micros(*d.end)) : std::nullopt);
    }
    for (const DowntimeEvent& e : changes.downtime_events) events.emplace_back(machine, e);
  }
  const std::string save_args[] = {machine_array, ArrayLiteral(saved), ArrayLiteral(saved_pending)};
  PM_RETURN_IF_ERROR(
      ExecPrepared(conn, kStateSave,
                   {save_args[0].c_str(), save_args[1].c_str(), save_args[2].c_str()})
          .status());
  if (!i_machine.empty()) {
    const std::string args[] = {ArrayLiteral(i_machine), ArrayLiteral(i_state),
                                ArrayLiteral(i_start), ArrayLiteral(i_end)};
    PM_RETURN_IF_ERROR(
        ExecPrepared(conn, kStateIntervalsInsert,
                     {args[0].c_str(), args[1].c_str(), args[2].c_str(), args[3].c_str()})
            .status());
  }
  if (d_machine.empty()) return static_cast<int>(machines.size());
  const std::string args[] = {ArrayLiteral(d_machine), ArrayLiteral(d_state), ArrayLiteral(d_start),
                              ArrayLiteral(d_end)};
  PM_ASSIGN_OR_RETURN(
      std::unique_ptr<Result> upserted,
      ExecPrepared(conn, kStateDowntimesUpsert,
                   {args[0].c_str(), args[1].c_str(), args[2].c_str(), args[3].c_str()}));
  std::map<std::pair<std::string, absl::Time>, Downtime> stored;
  for (int row = 0; row < PQntuples(upserted->get()); ++row) {
    Downtime d = DowntimeAt(upserted->get(), row);
    stored[{d.machine_id, d.start}] = d;
  }
  // One event per change, showing the downtime as that change left it.
  for (const auto& [machine, e] : events) {
    auto it = stored.find({machine, e.start});
    if (it == stored.end()) return absl::InternalError("a changed downtime was not stored");
    Downtime at_event = it->second;
    at_event.state = e.state;
    if (e.change != DowntimeChange::kEnded) at_event.end.reset();
    const runtime::OutboxEvent event =
        DowntimeOutboxEvent(at_event, static_cast<int>(e.change), e.change_time);
    const std::vector<int> lengths = {0, static_cast<int>(event.payload.size())};
    PM_RETURN_IF_ERROR(ExecPrepared(conn, kIngestOutbox,
                                    {event.event_id.c_str(), event.payload.data()}, lengths, {0, 1})
                           .status());
  }
  return static_cast<int>(machines.size());
}

// Moves the trackers of the machines the batch touches (MachineBatches), in the batch's
// transaction. A batch without state samples of machines with nothing pending costs
// nothing here.
absl::Status AdvanceStates(PGconn* conn, const Batch& batch, const std::vector<int>& accepted,
                           const StateItems& items, std::set<std::string>* pending) {
  return AdvanceMachines(conn, MachineBatches(batch.samples, accepted, items, *pending), pending,
                         std::nullopt)
      .status();
}

// Locks, in id order and at once, the trackers a group's batches will move one batch
// after another: locked batch by batch, two writers' groups naming the same machines in
// another order would deadlock, and PostgreSQL would abort one of them. A superset, in
// one pass over the samples (AdvanceStates works out each batch's exact set after): a
// machine moves in a batch with a state sample of it, or with any sample of it once a
// change may be pending (before the group, or after a state sample in an earlier batch).
absl::Status LockGroupTrackers(PGconn* conn, const std::vector<Batch>& batches,
                               const std::vector<size_t>& fresh,
                               const std::vector<BatchOutcome>& outcomes, const StateItems& items,
                               std::set<std::string> pending) {
  if (items.empty() && pending.empty()) return absl::OkStatus();
  std::set<std::string> machines;
  int batches_moving = 0;
  for (size_t b : fresh) {
    bool moving = false;
    for (int i : outcomes[b].verdict.accepted) {
      const Sample& s = batches[b].samples[static_cast<size_t>(i)];
      auto machine = items.find(s.machine_id);
      if (machine != items.end() && machine->second.count(s.data_item_id) != 0) {
        pending.insert(s.machine_id);
      }
      if (pending.count(s.machine_id) == 0) continue;
      machines.insert(s.machine_id);
      moving = true;
    }
    batches_moving += moving ? 1 : 0;
  }
  // One batch locks its own trackers in id order.
  if (batches_moving < 2) return absl::OkStatus();
  const std::string machine_array =
      ArrayLiteral(std::vector<std::string>(machines.begin(), machines.end()));
  return ExecPrepared(conn, kStateLock, {machine_array.c_str()}).status();
}

// ==== end of machine states ====

// ---- Rollups and aggregates (QueryAggregates): ingest side ----
// The batch's transaction records the batch as not rolled up yet; the rollup job
// (RollUpPending below) aggregates its rows and moves the latest values forward later
// (why: migrations 0005_rollups_by_job.sql and 0006_latest_values_by_job.sql).

constexpr char kIngestRollupPending[] = "telemetry.ingest_rollup_pending";

std::vector<std::pair<std::string, std::string>> RollupIngestStatements() {
  return {{kIngestRollupPending,
           "INSERT INTO telemetry.rollup_pending (batch, samples, min_time, max_time) "
           "VALUES ($1, $2, " PM_TS(3) ", " PM_TS(4) ")"}};
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

// The parameters of kIngestRollupPending, which records batch `batch_id` as pending for
// the rollup job (rollups and latest values): its accepted samples (at least one; each
// has a time, the judge saw to it), how many and the range of their times.
std::array<std::string, 4> RollupPendingRow(const Batch& batch, const std::vector<int>& accepted,
                                            int64_t batch_id) {
  int64_t min_us = std::numeric_limits<int64_t>::max();
  int64_t max_us = std::numeric_limits<int64_t>::min();
  for (int i : accepted) {
    const int64_t us = absl::ToUnixMicros(*batch.samples[static_cast<size_t>(i)].time);
    min_us = std::min(min_us, us);
    max_us = std::max(max_us, us);
  }
  return {absl::StrCat(batch_id), absl::StrCat(accepted.size()), absl::StrCat(min_us),
          absl::StrCat(max_us)};
}

// ---- end of the rollups' ingest side ----

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

// With the day's samples partition: its minute cells (their partition) and hour cells.
void DropRollupsOfDay(pqxx::transaction_base& tx, absl::Time day) {
  tx.exec(absl::StrCat("DROP TABLE IF EXISTS telemetry.", RollupPartitionName(day)));
  tx.exec_prepared(AggregateStatements().hours_delete_day, Micros(day),
                   Micros(day + absl::Hours(24)));
}

// ---- end of the rollups' query side ----

}  // namespace

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
  AggregateStatements().registry.Prepare(conn);
  StateStatements().registry.Prepare(conn);
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
      return runtime::WithErrorInfo(
          absl::AlreadyExistsError(absl::StrCat("machine ", machine.id, " is registered already")),
          "MACHINE_EXISTS", {{"machine_id", machine.id}});
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

namespace {

// Records the state inputs an update withdrew in the machine's tracker, in the update's
// transaction; the tracker's next move applies them (states.h): a batch of the machine (it
// is pending now) or the next StateSettleJob round. The machine's row is locked before its
// tracker, and ingest locks trackers only, so the two never deadlock.
absl::Status RecordWithdrawnInputs(pqxx::work& tx, const std::string& machine_id,
                                   const std::vector<InputWithdrawal>& withdrawn) {
  if (withdrawn.empty()) return absl::OkStatus();
  pqxx::result rows = tx.exec_prepared(StateStatements().tracker_lock, machine_id);
  if (rows.empty()) return absl::OkStatus();  // no state sample yet: nothing to withdraw
  PM_ASSIGN_OR_RETURN(TrackerState state,
                      DecodeStoredTracker(machine_id, rows[0][0].as<std::string>()));
  RecordWithdrawals(&state, withdrawn);
  tx.exec_prepared(StateStatements().tracker_record, machine_id, EncodeTrackerState(state));
  return absl::OkStatus();
}

}  // namespace

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
    after.update_time = absl::FromUnixMicros(absl::ToUnixMicros(after.update_time));
    const std::optional<std::string> cycle = CycleMicros(after);
    tx.exec_prepared(Statements().machine_update, id, after.display_name, after.line, after.zone,
                     OrNull(cycle), Micros(after.update_time), after.version);
    tx.exec_prepared(Statements().items_delete, id);
    WriteItems(tx, after);
    PM_RETURN_IF_ERROR(
        RecordWithdrawnInputs(tx, id, WithdrawnInputs(current, after, after.update_time)));
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
    const std::vector<Batch>& batches, const BatchJudge& judge, const BatchEventEncoder& encode) {
  PM_RETURN_IF_ERROR(CheckOneWriter(batches));
  const std::string& writer_id = batches.front().writer_id;
  PM_ASSIGN_OR_RETURN(LibpqPool::Lease lease, ingest_->Acquire());
  PGconn* conn = lease.conn();
  std::vector<absl::Time> new_days;
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
    PM_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Result>> opened, ExecPipeline(conn, opening));
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
        std::unique_ptr<Result> reread;
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
      const Batch& batch = batches[b];
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
      PM_RETURN_IF_ERROR(Copy(conn, rows.Finish()));
      PM_RETURN_IF_ERROR(LockGroupTrackers(conn, batches, fresh, outcomes, state_items, pending));
      // In batch order: a batch's state samples move the trackers the next one finds.
      for (size_t b : fresh) {
        const std::vector<int>& accepted = outcomes[b].verdict.accepted;
        if (accepted.empty()) continue;
        PM_RETURN_IF_ERROR(AdvanceStates(conn, batches[b], accepted, state_items, &pending));
      }
    }
    // In one round trip: each batch's row for the rollup job (when it stored samples),
    // the group's events, the writer's sequence, COMMIT. With the COPY's two, four round
    // trips for the batches instead of nine a batch (B2: a transaction per message of
    // 100 samples).
    std::vector<PipelinedStatement> closing;
    std::vector<std::array<std::string, 4>> pending_rows;
    pending_rows.reserve(fresh.size());  // the statements point into them
    for (size_t b : fresh) {
      const std::vector<int>& accepted = outcomes[b].verdict.accepted;
      if (accepted.empty()) continue;
      const std::array<std::string, 4>& row =
          pending_rows.emplace_back(RollupPendingRow(batches[b], accepted, outcomes[b].batch_id));
      closing.push_back(PreparedStatement(
          kIngestRollupPending, {row[0].c_str(), row[1].c_str(), row[2].c_str(), row[3].c_str()}));
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
    closing.push_back(SqlStatement("COMMIT"));
    PM_RETURN_IF_ERROR(ExecPipeline(conn, closing).status());
    return outcomes;
  };
  absl::StatusOr<std::vector<BatchOutcome>> outcomes = body();
  if (!outcomes.ok()) {
    // Nothing of the batches stays: roll back (a lost connection rolled back already;
    // the lease closes a connection left in a transaction).
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
      PQclear(PQexec(conn, "ROLLBACK"));
    }
    return outcomes.status();
  }
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
    const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids) {
  UnknownIds out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out = UnknownIds();
    for (const pqxx::row& r : tx.exec_prepared(Statements().ids_unknown, ArrayLiteral(machine_ids),
                                               ArrayLiteral(data_item_ids))) {
      (r[0].as<int>() == 0 ? out.machines : out.data_items).push_back(r[1].as<std::string>());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<StoredSample>> PgTelemetryStore::LatestValues(
    const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids) {
  std::vector<StoredSample> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().latest, ArrayLiteral(machine_ids),
                                               ArrayLiteral(data_item_ids))) {
      out.push_back(SampleAt(r));
    }
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
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    created.clear();
    tx.exec_prepared(Statements().partitions_lock);
    std::set<std::string> existing;
    for (const pqxx::row& r : tx.exec_prepared(Statements().partitions)) {
      existing.insert(r[0].as<std::string>());
    }
    for (absl::Time day : days) {
      tx.exec(RollupPartitionDdl(day));  // also for days created before the rollups existed
      if (existing.count(PartitionName(day)) != 0) continue;
      // DDL takes no parameters; the name and bounds are formatted from a day.
      tx.exec(PartitionDdl(day));
      created.push_back(PartitionName(day));
    }
    tx.commit();
    return absl::OkStatus();
  }));
  absl::MutexLock lock(&days_mu_);
  days_.insert(days.begin(), days.end());
  return created;
}

absl::StatusOr<std::vector<std::string>> PgTelemetryStore::DropExpiredPartitions(
    absl::Time now, absl::Duration retention) {
  std::vector<std::string> dropped;
  std::vector<absl::Time> dropped_days;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    dropped.clear();
    dropped_days.clear();
    tx.exec_prepared(Statements().partitions_lock);
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
  }));
  absl::MutexLock lock(&days_mu_);
  for (absl::Time day : dropped_days) days_.erase(day);
  return dropped;
}

absl::StatusOr<PgTelemetryStore::ExpiredStates> PgTelemetryStore::DropExpiredStates(
    absl::Time now, absl::Duration retention) {
  ExpiredStates deleted;
  const std::string before = Micros(now - retention);
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    // One replica at a time, as the partitions' drop.
    tx.exec_prepared(Statements().partitions_lock);
    deleted.intervals = static_cast<int64_t>(
        tx.exec_prepared(StateStatements().intervals_expire, before).affected_rows());
    deleted.downtimes = static_cast<int64_t>(
        tx.exec_prepared(StateStatements().downtimes_expire, before).affected_rows());
    tx.commit();
    return absl::OkStatus();
  }));
  return deleted;
}

absl::StatusOr<int> PgTelemetryStore::SettlePendingStates(absl::Time before) {
  PM_ASSIGN_OR_RETURN(LibpqPool::Lease lease, ingest_->Acquire());
  PGconn* conn = lease.conn();
  auto body = [&]() -> absl::StatusOr<int> {
    PM_RETURN_IF_ERROR(LibpqExec(conn, "BEGIN"));
    PM_ASSIGN_OR_RETURN(std::unique_ptr<Result> candidates,
                        ExecPrepared(conn, kStatePendingMachines, {}));
    std::map<std::string, MachineBatch> moved;
    for (int row = 0; row < PQntuples(candidates->get()); ++row) {
      moved.try_emplace(PQgetvalue(candidates->get(), row, 0));
    }
    std::set<std::string> pending;
    PM_ASSIGN_OR_RETURN(int settled, AdvanceMachines(conn, std::move(moved), &pending, before));
    PM_RETURN_IF_ERROR(LibpqExec(conn, "COMMIT"));
    return settled;
  };
  absl::StatusOr<int> settled = body();
  if (!settled.ok() && PQstatus(conn) == CONNECTION_OK &&
      PQtransactionStatus(conn) != PQTRANS_IDLE) {
    PQclear(PQexec(conn, "ROLLBACK"));
  }
  return settled;
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

// ==== Machine states (states.h) ====

absl::StatusOr<TimelineFacts> PgTelemetryStore::StateTimeline(const std::string& machine_id,
                                                              absl::Time start, absl::Time end,
                                                              std::optional<absl::Time> after_start,
                                                              int limit) {
  TimelineFacts facts;
  const std::optional<std::string> after =
      after_start ? std::optional<std::string>(Micros(*after_start)) : std::nullopt;
  const std::optional<std::string> rows =
      limit > 0 ? std::optional<std::string>(absl::StrCat(limit)) : std::nullopt;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    // One snapshot: a batch settling an interval between the two reads would otherwise
    // show it twice or not at all.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    facts = {};
    if (tx.exec_prepared(StateStatements().machine_exists, machine_id).empty()) {
      return NotFound(machine_id);
    }
    for (const pqxx::row& r :
         tx.exec_prepared(StateStatements().intervals, machine_id, Micros(start), Micros(end),
                          OrNull(after), OrNull(rows))) {
      facts.closed.push_back({static_cast<MachineState>(r["state"].as<int>()),
                              absl::FromUnixMicros(r["start_time_us"].as<int64_t>()),
                              absl::FromUnixMicros(r["end_time_us"].as<int64_t>())});
    }
    pqxx::result tracker = tx.exec_prepared(StateStatements().tracker, machine_id);
    if (!tracker.empty() && !tracker[0][0].is_null()) {
      PM_ASSIGN_OR_RETURN(facts.tracker,
                          DecodeStoredTracker(machine_id, tracker[0][0].as<std::string>()));
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return facts;
}

absl::Status PgTelemetryStore::PartCountObservations(const std::string& machine_id,
                                                     absl::Time start, absl::Time end,
                                                     const PartCountVisitor& visit) {
  // Pages of this many rows: a year of a counter sampled every second is 31.6 million.
  constexpr int kPageRows = 10000;
  bool visited = false;
  auto visit_once = [&](const std::string& item, const PartCountObservation& o) {
    visited = true;
    visit(item, o);
  };
  return Run([&](pqxx::connection& conn) -> absl::Status {
    // The pool re-runs a body whose connection broke; what was streamed cannot be taken
    // back, so the caller retries the whole read (UNAVAILABLE is retried by the SDK).
    if (visited) return absl::UnavailableError("reading part counts was interrupted; retry");
    // One snapshot for the baselines and every page.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    if (tx.exec_prepared(StateStatements().machine_exists, machine_id).empty()) {
      return NotFound(machine_id);
    }
    std::vector<std::string> items;
    for (const pqxx::row& r :
         tx.exec_prepared(StateStatements().part_count_items, machine_id, kTypePartCount)) {
      items.push_back(r[0].as<std::string>());
    }
    if (items.empty()) return absl::OkStatus();
    // Plans per call: only the range's partitions are planned.
    tx.exec_prepared(Statements().custom_plans);
    auto observation = [](const pqxx::row& r) {
      Sample s;
      s.time = absl::FromUnixMicros(r["time_us"].as<int64_t>());
      s.kind = static_cast<ValueKind>(r["kind"].as<int>());
      if (!r["number"].is_null()) s.number = r["number"].as<double>();
      s.text = TextAt(r["text"]);
      return PartCountObservationOf(s);
    };
    // Each item's baseline: its newest count before the range, looked for a few rows at a
    // time (the newest row is a count but for text that is none, or a negative number).
    constexpr int kBaselineRows = 100;
    for (const std::string& item : items) {
      std::optional<std::string> before_time, before_key;
      for (bool found = false; !found;) {
        const pqxx::result rows =
            tx.exec_prepared(StateStatements().part_count_baseline, machine_id, item, Micros(start),
                             OrNull(before_time), OrNull(before_key), kBaselineRows);
        for (const pqxx::row& r : rows) {
          std::optional<PartCountObservation> o = observation(r);
          if (o && IsPartCount(*o)) {
            visit_once(item, *o);
            found = true;
            break;
          }
        }
        if (rows.size() < static_cast<size_t>(kBaselineRows)) break;
        before_time = rows.back()["time_us"].as<std::string>();
        before_key = rows.back()["sample_key"].as<std::string>();
      }
    }
    const std::string item_array = ArrayLiteral(items);
    std::optional<std::string> after_time, after_key;
    for (;;) {
      const pqxx::result page =
          tx.exec_prepared(StateStatements().part_counts, machine_id, item_array, Micros(start),
                           Micros(end), OrNull(after_time), OrNull(after_key), kPageRows);
      for (const pqxx::row& r : page) {
        if (std::optional<PartCountObservation> o = observation(r)) {
          visit_once(r["data_item_id"].as<std::string>(), *o);
        }
      }
      if (page.size() < static_cast<size_t>(kPageRows)) break;
      after_time = page.back()["time_us"].as<std::string>();
      after_key = page.back()["sample_key"].as<std::string>();
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<DowntimePage> PgTelemetryStore::ListDowntimes(const DowntimeQuery& query) {
  DowntimePage page;
  auto micros = [](const std::optional<absl::Time>& t) {
    return t ? std::optional<std::string>(Micros(*t)) : std::nullopt;
  };
  const std::optional<std::string> start = micros(query.start_time);
  const std::optional<std::string> end = micros(query.end_time);
  std::optional<std::string> after_time;
  std::optional<std::string> after_id;
  if (query.after) {
    after_time = Micros(query.after->sort_time);
    after_id = absl::StrCat(query.after->id);
  }
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    page = {};
    for (const pqxx::row& r : tx.exec_prepared(
             StateStatements().downtimes, query.machine_id, OrNull(start), OrNull(end),
             query.without_reason, OrNull(after_time), OrNull(after_id), query.page_size + 1)) {
      page.downtimes.push_back(DowntimeAt(r));
    }
    if (page.downtimes.size() > static_cast<size_t>(query.page_size)) {
      page.downtimes.pop_back();
      page.more = true;
    }
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<Replayable<Downtime>> PgTelemetryStore::SetDowntimeReason(
    int64_t id, const DowntimeReason& reason, const ChangeContext& context,
    const ResponseEncoder<Downtime>& encode) {
  Replayable<Downtime> result;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    result = {};
    PM_ASSIGN_OR_RETURN(std::optional<runtime::PgRequestLog::Entry> seen, Claim(tx, context));
    if (seen) {
      result.recorded_response = seen->response.value_or("");
      return absl::OkStatus();
    }
    pqxx::result rows = tx.exec_prepared(StateStatements().downtime_lock, id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no downtime ", id));
    const Downtime after =
        WithReason(DowntimeAt(rows[0]), reason, context.request.identity, context.now);
    tx.exec_prepared(StateStatements().downtime_reason, id, after.reason_code, after.comment,
                     after.reason_set_by, Micros(*after.reason_set_time));
    const runtime::OutboxEvent event =
        DowntimeOutboxEvent(after, kDowntimeReasonSet, *after.reason_set_time);
    tx.exec_prepared(StateStatements().outbox, event.event_id, pqxx::binarystring(event.payload));
    if (!context.request.request_id.empty()) {
      RequestLog().Record(tx, context.request, encode ? encode(after) : std::string(),
                          absl::StrCat("downtimes/", id));
    }
    WriteAudit(tx, context);
    tx.commit();
    MarkAudited(context);
    result.value = after;
    return absl::OkStatus();
  }));
  return result;
}

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
    tx.exec_prepared(Statements().custom_plans);
    const AggregateSql& sql = AggregateStatements();
    const pqxx::row pending = tx.exec_prepared1(sql.rollup_pending_from);
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
    tx.exec_prepared(Statements().custom_plans);
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
