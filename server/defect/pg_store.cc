#include "server/defect/pg_store.h"

#include <array>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/sha256.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/uuid.h"
#include "server/runtime/errors.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_statements.h"
#include "server/runtime/text_rules.h"

namespace plantmesh::defect {
namespace {

// A timestamptz column read as microseconds since the epoch (exact: extract() is numeric).
#define PM_US(col) "(extract(epoch from " col ") * 1000000)::int8 AS " col "_us"
// Parameter $n (microseconds since the epoch, or NULL) as a timestamptz.
#define PM_TS(n) "(timestamptz 'epoch' + $" #n "::int8 * interval '1 microsecond')"

#define PM_DEFECT_COLUMNS \
  "id, version, vin, model, zone, station, category_code, severity, description, "         \
  "detected_by, shift, status, reported_by, " PM_US("create_time") ", " PM_US(             \
      "update_time") ", " PM_US("close_time") ", cancel_reason, repair_place_id, "          \
                                              "mechanic_id, assigned_by, " PM_US(           \
                                                  "assign_time") ", repair_started_by, "    \
  PM_US("repair_start_time") ", repair_finished_by, " PM_US(                                \
      "repair_finish_time") ", repair_work_done, repair_labor_minutes, verified_by, " PM_US( \
      "verify_time") ", verify_accepted, rejection_reason"

#define PM_PHOTO_COLUMNS                                                                   \
  "defect_id, photo_no, content_type, size_bytes, sha256, file_name, uploaded_by, " PM_US( \
      "upload_time")

#define PM_LIST_FILTER \
  "FROM defect.defects WHERE (cardinality($1::int[]) = 0 OR status = ANY($1::int[])) "        \
  "AND ($2::text = '' OR zone = $2) AND ($3::text = '' OR vin = $3) "                         \
  "AND ($4::text = '' OR shift = $4) "                                                        \
  "AND ($5::int8 IS NULL OR create_time >= " PM_TS(5) ") "                                    \
  "AND ($6::int8 IS NULL OR create_time < " PM_TS(6) ") "

const runtime::PgRequestLog& RequestLogSql() {
  static const auto* log = new runtime::PgRequestLog("defect");
  return *log;
}

// All of the store's SQL, registered under names qualified by the schema
// (runtime::PgStatements): never a raw statement name at a call site.
struct Sql {
  runtime::PgStatements registry{"defect"};
  const runtime::PgStatement defect_insert = registry.Add(
      "defect_insert",
      "INSERT INTO defect.defects (request_id, request_hash, vin, model, zone, station, "
      "category_code, severity, description, detected_by, shift, status, reported_by, "
      "create_time, update_time, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
      "$11, $12, $13, " PM_TS(14) ", " PM_TS(14) ", 1) RETURNING id");
  const runtime::PgStatement defect_select = registry.Add(
      "defect_select", "SELECT " PM_DEFECT_COLUMNS " FROM defect.defects WHERE id = $1");
  // With the facts a change's rules need, in the same round trip: the assigned
  // mechanic's identity and whether repair place $2 and mechanic $3 exist ('' asks not).
  const runtime::PgStatement defect_lock = registry.Add(
      "defect_lock",
      "SELECT " PM_DEFECT_COLUMNS
      ", (SELECT m.identity FROM defect.mechanics m WHERE m.id = defects.mechanic_id) "
      "AS mechanic_identity, $2::text <> '' AND EXISTS (SELECT 1 FROM defect.repair_places p "
      "WHERE p.id = $2) AS repair_place_exists, $3::text <> '' AND EXISTS (SELECT 1 FROM "
      "defect.mechanics m WHERE m.id = $3) AS mechanic_exists "
      "FROM defect.defects WHERE id = $1 FOR UPDATE");
  const runtime::PgStatement defect_update = registry.Add("defect_update", "UPDATE defect.defects SET version = $2, vin = $3, model = $4, zone = $5, station = $6, "
       "category_code = $7, severity = $8, description = $9, detected_by = $10, shift = $11, "
       "status = $12, update_time = " PM_TS(13) ", close_time = " PM_TS(
           14) ", "
               "cancel_reason = $15, repair_place_id = $16, mechanic_id = $17, assigned_by = $18, "
               "assign_time = " PM_TS(
                   19) ", repair_started_by = $20, "
                       "repair_start_time = " PM_TS(
                           21) ", repair_finished_by = $22, "
                               "repair_finish_time = " PM_TS(
                                   23) ", repair_work_done = $24, "
                                       "repair_labor_minutes = $25, verified_by = $26, verify_time "
                                       "= " PM_TS(27) ", "
                                                      "verify_accepted = $28, rejection_reason = "
                                                      "$29 WHERE id = $1");
  const runtime::PgStatement defect_exists =
      registry.Add("defect_exists", "SELECT 1 FROM defect.defects WHERE id = $1");
  const runtime::PgStatement list_create_desc = registry.Add("list_create_desc", "SELECT " PM_DEFECT_COLUMNS " " PM_LIST_FILTER
                           "AND ($7::int8 IS NULL OR (create_time, id) < (" PM_TS(
                               7) ", $8::int8)) "
                                  "ORDER BY create_time DESC, id DESC LIMIT $9");
  const runtime::PgStatement list_create_asc = registry.Add("list_create_asc", "SELECT " PM_DEFECT_COLUMNS " " PM_LIST_FILTER
                          "AND ($7::int8 IS NULL OR (create_time, id) > (" PM_TS(
                              7) ", $8::int8)) "
                                 "ORDER BY create_time, id LIMIT $9");
  const runtime::PgStatement list_update_desc = registry.Add("list_update_desc", "SELECT " PM_DEFECT_COLUMNS " " PM_LIST_FILTER
                           "AND ($7::int8 IS NULL OR (update_time, id) < (" PM_TS(
                               7) ", $8::int8)) "
                                  "ORDER BY update_time DESC, id DESC LIMIT $9");
  const runtime::PgStatement list_update_asc = registry.Add("list_update_asc", "SELECT " PM_DEFECT_COLUMNS " " PM_LIST_FILTER
                          "AND ($7::int8 IS NULL OR (update_time, id) > (" PM_TS(
                              7) ", $8::int8)) "
                                 "ORDER BY update_time, id LIMIT $9");
  // Plans per call: the optional filters fold away and the keyset uses its index,
  // which a generic plan of these OR-ed conditions could not.
  const runtime::PgStatement custom_plans = registry.Add(
      "custom_plans", "SELECT set_config('plan_cache_mode', 'force_custom_plan', true)");
  const runtime::PgStatement photos_of =
      registry.Add("photos_of", "SELECT " PM_PHOTO_COLUMNS
                                " FROM defect.photos WHERE defect_id = ANY($1::int8[]) "
                                "ORDER BY defect_id, photo_no");
  const runtime::PgStatement photo_meta =
      registry.Add("photo_meta", "SELECT " PM_PHOTO_COLUMNS
                                 " FROM defect.photos WHERE defect_id = $1 AND photo_no = $2");
  const runtime::PgStatement photo_next_no =
      registry.Add("photo_next_no",
                   "SELECT coalesce(max(photo_no), 0) + 1 FROM defect.photos WHERE defect_id = $1");
  const runtime::PgStatement photo_insert = registry.Add(
      "photo_insert",
      "INSERT INTO defect.photos (defect_id, photo_no, content_type, size_bytes, sha256, "
      "file_name, uploaded_by, upload_time, request_id, bytes) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, " PM_TS(8) ", $9, $10)");
  const runtime::PgStatement photo_content = registry.Add(
      "photo_content", "SELECT " PM_PHOTO_COLUMNS
                       ", bytes FROM defect.photos WHERE defect_id = $1 AND photo_no = $2");
  // A report in one statement, run on its own (autocommit: one round trip, and its own
  // transaction): the request log claim with the response (the id was drawn first, so
  // the response is known), the defect, its first history entry, its outbox event and
  // the call's audit row ($25: whether to write it) — or, for a request_id already
  // recorded, nothing but that entry (runtime/pg_request_log.h).
  // clang-format off
  const runtime::PgStatement defect_create = registry.Add("defect_create", absl::StrCat(
      "WITH claimed AS (", RequestLogSql().ClaimWithResponseSql(1), "), "
      "go AS (SELECT 1 FROM claimed UNION ALL SELECT 1 WHERE $3::text = ''), "
      "created AS ("
        "INSERT INTO defect.defects (id, request_id, request_hash, vin, model, zone, station, "
        "category_code, severity, description, detected_by, shift, status, reported_by, "
        "create_time, update_time, version) "
        "SELECT $7::int8, $3, $4, $8::text, $9::text, $10::text, $11::text, $12::text, "
        "$13::int, $14::text, $15::text, $16::text, $17::int, $18::text, "
        PM_TS(19) ", " PM_TS(19) ", 1 FROM go RETURNING id), "
      "entry AS ("
        "INSERT INTO defect.history (defect_id, sequence, change_type, actor, change_time, "
        "changes, comment, request_id) "
        "SELECT id, 1, $20::int, $1, " PM_TS(21) ", $22::jsonb, '', $3 FROM created), "
      "event AS ("
        "INSERT INTO defect.outbox (event_id, payload) "
        "SELECT $23::uuid, $24::bytea FROM created), "
      "audited AS (", runtime::AuditRowSql(26, "created WHERE $25::bool"), ") "
      "SELECT true AS claimed, NULL::text AS payload_sha256, NULL::bytea AS response, "
      "''::text AS resource FROM go "
      "UNION ALL ", RequestLogSql().RecordedEntrySql(1)));
  // clang-format on
  const runtime::PgStatement defect_next_id =
      registry.Add("defect_next_id", "SELECT nextval('defect.defects_id_seq')");
  // The tail of a change in one statement: the history entry, the outbox event, the
  // request log's response ($10..$14, runtime/pg_request_log.h; nothing without a
  // request_id) and the call's audit row ($15: whether to write it). One round trip for
  // what took four (bench B5).
  // clang-format off
  const runtime::PgStatement change_tail = registry.Add("change_tail", absl::StrCat(
      "WITH entry AS ("
        "INSERT INTO defect.history (defect_id, sequence, change_type, actor, change_time, "
        "changes, comment, request_id) "
        "SELECT $1::int8, coalesce(max(sequence), 0) + 1, $2::int, $3::text, " PM_TS(4) ", "
        "$5::jsonb, $6::text, $7::text FROM defect.history WHERE defect_id = $1::int8), "
      "event AS (INSERT INTO defect.outbox (event_id, payload) VALUES ($8::uuid, $9::bytea)), "
      "recorded AS (", RequestLogSql().RecordSql(10), "), "
      "audited AS (", runtime::AuditRowSql(16, "(SELECT WHERE $15::bool) AS audit_on"), ") "
      "SELECT 1"));
  const runtime::PgStatement history_of = registry.Add("history_of",
      "SELECT sequence, change_type, actor, " PM_US("change_time") ", changes::text AS changes, "
      "comment, request_id FROM defect.history WHERE defect_id = $1 AND sequence > $2::int8 "
      "ORDER BY sequence LIMIT $3::int8");
  // clang-format on
  const runtime::PgStatement place_lock =
      registry.Add("place_lock", "SELECT id FROM defect.repair_places WHERE id = $1 FOR UPDATE");
  // $3: the status of a defect in repair (kInRepairStatus).
  const runtime::PgStatement place_occupant = registry.Add(
      "place_occupant",
      "SELECT id FROM defect.defects WHERE repair_place_id = $1 AND status = $3 AND id <> $2 "
      "LIMIT 1");
  const runtime::PgStatement place_insert =
      registry.Add("place_insert",
                   "INSERT INTO defect.repair_places (id, display_name, zone, request_id) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING id");
  const runtime::PgStatement place_find = registry.Add(
      "place_find",
      "SELECT id, display_name, zone, request_id FROM defect.repair_places WHERE id = $1");
  const runtime::PgStatement place_list = registry.Add(
      "place_list",
      "SELECT p.id, p.display_name, p.zone, d.id AS defect_id FROM defect.repair_places p "
      "LEFT JOIN defect.defects d ON d.repair_place_id = p.id AND d.status = $2 "
      "WHERE ($1::text = '' OR p.zone = $1) ORDER BY p.id");
  const runtime::PgStatement crew_insert =
      registry.Add("crew_insert",
                   "INSERT INTO defect.crews (id, display_name, zone, request_id) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING id");
  // A mechanic's crew, share-locked until the mechanic is stored.
  const runtime::PgStatement crew_lock =
      registry.Add("crew_lock", "SELECT 1 FROM defect.crews WHERE id = $1 FOR SHARE");
  const runtime::PgStatement crew_list = registry.Add(
      "crew_list",
      "SELECT id, display_name, zone FROM defect.crews WHERE ($1::text = '' OR zone = $1) "
      "ORDER BY id");
  const runtime::PgStatement crew_find =
      registry.Add("crew_find", "SELECT id, display_name, zone FROM defect.crews WHERE id = $1");
  const runtime::PgStatement mechanic_insert =
      registry.Add("mechanic_insert",
                   "INSERT INTO defect.mechanics (id, display_name, crew_id, identity, request_id) "
                   "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING id");
  const runtime::PgStatement mechanic_identity_lock = registry.Add(
      "mechanic_identity_lock",
      "SELECT pg_advisory_xact_lock(hashtext('defect.mechanics.identity'), hashtext($1))");
  const runtime::PgStatement mechanic_by_identity =
      registry.Add("mechanic_by_identity",
                   "SELECT id FROM defect.mechanics WHERE identity = $1 ORDER BY id LIMIT 1");
  const runtime::PgStatement mechanic_find =
      registry.Add("mechanic_find",
                   "SELECT id, display_name, crew_id, identity, request_id FROM defect.mechanics "
                   "WHERE id = $1");
  const runtime::PgStatement mechanic_list =
      registry.Add("mechanic_list",
                   "SELECT id, display_name, crew_id, identity FROM defect.mechanics "
                   "WHERE ($1::text = '' OR crew_id = $1) ORDER BY id");
  const runtime::PgStatement category_insert =
      registry.Add("category_insert",
                   "INSERT INTO defect.categories (code, title, default_severity, request_id) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING RETURNING code");
  const runtime::PgStatement category_find = registry.Add(
      "category_find",
      "SELECT code, title, default_severity, request_id FROM defect.categories WHERE code = $1");
  const runtime::PgStatement category_list = registry.Add(
      "category_list", "SELECT code, title, default_severity FROM defect.categories ORDER BY code");
};

// Statuses are bound as parameters, never written into SQL: the number is the domain's.
constexpr int kInRepairStatus = static_cast<int>(DefectStatus::kInRepair);

const Sql& Statements() {
  static const auto* sql = new Sql();
  return *sql;
}

std::optional<std::string> Micros(const std::optional<absl::Time>& t) {
  if (!t) return std::nullopt;
  return absl::StrCat(absl::ToUnixMicros(*t));
}
std::string Micros(absl::Time t) { return absl::StrCat(absl::ToUnixMicros(t)); }

// A nullable text parameter.
const char* OrNull(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}

absl::Time TimeAt(const pqxx::field& f) { return absl::FromUnixMicros(f.as<int64_t>()); }
std::optional<absl::Time> OptionalTimeAt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return TimeAt(f);
}
std::string TextAt(const pqxx::field& f) {
  return f.is_null() ? std::string() : f.as<std::string>();
}

Defect DefectFromRow(const pqxx::row& r) {
  Defect d;
  d.id = r["id"].as<int64_t>();
  d.version = r["version"].as<int64_t>();
  d.vin = r["vin"].as<std::string>();
  d.model = r["model"].as<std::string>();
  d.zone = r["zone"].as<std::string>();
  d.station = r["station"].as<std::string>();
  d.category_code = r["category_code"].as<std::string>();
  d.severity = static_cast<Severity>(r["severity"].as<int>());
  d.description = r["description"].as<std::string>();
  d.detected_by = r["detected_by"].as<std::string>();
  d.shift = r["shift"].as<std::string>();
  d.status = static_cast<DefectStatus>(r["status"].as<int>());
  d.reported_by = r["reported_by"].as<std::string>();
  d.create_time = TimeAt(r["create_time_us"]);
  d.update_time = TimeAt(r["update_time_us"]);
  d.close_time = OptionalTimeAt(r["close_time_us"]);
  d.cancel_reason = r["cancel_reason"].as<std::string>();
  if (!r["repair_place_id"].is_null()) {
    d.assignment = Assignment{TextAt(r["repair_place_id"]), TextAt(r["mechanic_id"]),
                              TextAt(r["assigned_by"]), TimeAt(r["assign_time_us"])};
  }
  if (!r["repair_started_by"].is_null()) {
    Repair repair;
    repair.started_by = TextAt(r["repair_started_by"]);
    repair.start_time = TimeAt(r["repair_start_time_us"]);
    repair.finished_by = TextAt(r["repair_finished_by"]);
    repair.finish_time = OptionalTimeAt(r["repair_finish_time_us"]);
    repair.work_done = TextAt(r["repair_work_done"]);
    repair.labor_minutes =
        r["repair_labor_minutes"].is_null() ? 0 : r["repair_labor_minutes"].as<int32_t>();
    d.repair = std::move(repair);
  }
  if (!r["verified_by"].is_null()) {
    Verification v;
    v.verified_by = TextAt(r["verified_by"]);
    v.verify_time = TimeAt(r["verify_time_us"]);
    v.accepted = r["verify_accepted"].as<bool>();
    v.rejection_reason = TextAt(r["rejection_reason"]);
    d.verification = std::move(v);
  }
  return d;
}

Photo PhotoFromRow(const pqxx::row& r) {
  Photo p;
  p.id = r["photo_no"].as<std::string>();
  p.content_type = r["content_type"].as<std::string>();
  p.size_bytes = r["size_bytes"].as<int64_t>();
  p.sha256 = r["sha256"].as<std::string>();
  p.file_name = r["file_name"].as<std::string>();
  p.uploaded_by = r["uploaded_by"].as<std::string>();
  p.upload_time = TimeAt(r["upload_time_us"]);
  return p;
}

// Fills each defect's photos (metadata only) with one query.
void LoadPhotos(pqxx::transaction_base& tx, std::vector<Defect>& defects) {
  if (defects.empty()) return;
  std::map<int64_t, Defect*> by_id;
  std::vector<int64_t> ids;
  for (Defect& d : defects) {
    by_id[d.id] = &d;
    ids.push_back(d.id);
  }
  pqxx::result rows =
      tx.exec_prepared(Statements().photos_of, absl::StrCat("{", absl::StrJoin(ids, ","), "}"));
  for (const pqxx::row& r : rows) {
    by_id[r["defect_id"].as<int64_t>()]->photos.push_back(PhotoFromRow(r));
  }
}

// Reads one defect with its photos; `facts` (non-null) takes the row lock for a change
// and reads the facts `wanted` by its rules (and always the assigned mechanic's identity).
absl::StatusOr<Defect> LoadDefect(pqxx::transaction_base& tx, int64_t id,
                                  DefectFacts* facts = nullptr, const FactsWanted& wanted = {}) {
  pqxx::result rows = facts != nullptr
                          ? tx.exec_prepared(Statements().defect_lock, id, wanted.repair_place_id,
                                             wanted.mechanic_id)
                          : tx.exec_prepared(Statements().defect_select, id);
  if (rows.empty()) return DefectNotFound(id);
  std::vector<Defect> one{DefectFromRow(rows[0])};
  if (facts != nullptr) {
    facts->assigned_mechanic_identity = TextAt(rows[0]["mechanic_identity"]);
    facts->repair_place_exists = rows[0]["repair_place_exists"].as<bool>();
    facts->mechanic_exists = rows[0]["mechanic_exists"].as<bool>();
    if (wanted.repair_place_occupant && one[0].assignment) {
      // The place's row lock first, then a new statement (a new snapshot) reads its
      // occupant: a repair that started there meanwhile has committed and is seen.
      const std::string& place = one[0].assignment->repair_place_id;
      tx.exec_prepared(Statements().place_lock, place);
      pqxx::result occupant =
          tx.exec_prepared(Statements().place_occupant, place, id, kInRepairStatus);
      if (!occupant.empty()) facts->repair_place_occupant = occupant[0][0].as<int64_t>();
    }
  }
  LoadPhotos(tx, one);
  return std::move(one[0]);
}

void WriteDefect(pqxx::transaction_base& tx, const Defect& d) {
  std::optional<std::string> place, mechanic, assigned_by, started_by, finished_by, work_done,
      labor, verified_by, accepted, rejection;
  std::optional<absl::Time> assign_time, start_time, finish_time, verify_time;
  if (d.assignment) {
    place = d.assignment->repair_place_id;
    mechanic = d.assignment->mechanic_id;
    assigned_by = d.assignment->assigned_by;
    assign_time = d.assignment->assign_time;
  }
  if (d.repair) {
    started_by = d.repair->started_by;
    start_time = d.repair->start_time;
    if (!d.repair->finished_by.empty()) finished_by = d.repair->finished_by;
    finish_time = d.repair->finish_time;
    if (d.repair->finish_time) {
      work_done = d.repair->work_done;
      labor = absl::StrCat(d.repair->labor_minutes);
    }
  }
  if (d.verification) {
    verified_by = d.verification->verified_by;
    verify_time = d.verification->verify_time;
    accepted = d.verification->accepted ? "true" : "false";
    rejection = d.verification->rejection_reason;
  }
  std::optional<std::string> close = Micros(d.close_time), assign_us = Micros(assign_time),
                             start_us = Micros(start_time), finish_us = Micros(finish_time),
                             verify_us = Micros(verify_time);
  tx.exec_prepared0(Statements().defect_update, d.id, d.version, d.vin, d.model, d.zone, d.station,
                    d.category_code, static_cast<int>(d.severity), d.description, d.detected_by,
                    d.shift, static_cast<int>(d.status), Micros(d.update_time), OrNull(close),
                    d.cancel_reason, OrNull(place), OrNull(mechanic), OrNull(assigned_by),
                    OrNull(assign_us), OrNull(started_by), OrNull(start_us), OrNull(finished_by),
                    OrNull(finish_us), OrNull(work_done), OrNull(labor), OrNull(verified_by),
                    OrNull(verify_us), OrNull(accepted), OrNull(rejection));
}

// `text` as a JSON string literal, appended to `out`. The text is valid UTF-8 (the
// domain's text rules); quotes, backslashes and control characters are escaped.
void AppendJsonString(std::string* out, const std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xF]);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

// The history entry's field changes as a JSON array of {field, old_value, new_value},
// written directly: a report has ten of them, and a JSON document built per call to be
// printed once cost more than the rest of the store's own work (bench B5).
std::string ChangesJson(const std::vector<FieldChange>& changes) {
  std::string out = "[";
  for (const FieldChange& c : changes) {
    if (out.size() > 1) out.push_back(',');
    out.append("{\"field\":");
    AppendJsonString(&out, c.field);
    out.append(",\"old_value\":");
    AppendJsonString(&out, c.old_value);
    out.append(",\"new_value\":");
    AppendJsonString(&out, c.new_value);
    out.push_back('}');
  }
  out.push_back(']');
  return out;
}

// The audit parameters of a change's statement: whether to write the call's row, and
// its values (runtime::StorableAuditRow; NULL when there is none).
struct AuditParams {
  bool write = false;
  std::array<std::string, runtime::kAuditRowParams> values;
  std::array<const char*, runtime::kAuditRowParams> pointers{};

  explicit AuditParams(const ChangeContext& context) {
    write = context.audit != nullptr && !context.audit->written();
    if (!write) return;
    values = runtime::StorableAuditRow(context.audit->Row(context.now));
    for (size_t i = 0; i < values.size(); ++i) pointers[i] = values[i].c_str();
  }
  auto params() const { return pqxx::prepare::make_dynamic_params(pointers); }
};

// The call's audit row in `tx` (one statement of its own), when the context has one.
void WriteAudit(pqxx::transaction_base& tx, const ChangeContext& context) {
  if (context.audit == nullptr || context.audit->written()) return;
  runtime::WriteAuditInTransaction(tx, context.audit->Row(context.now));
}

// After the commit: the call's end writes no second row.
void MarkAudited(const ChangeContext& context) {
  if (context.audit != nullptr) context.audit->MarkWritten();
}

// The change's outbox event, built by the service (opaque here).
absl::StatusOr<runtime::OutboxEvent> EventOf(const ChangeContext& context, ChangeType type,
                                             const Defect* before, const Defect& after,
                                             absl::Time when) {
  if (!context.encode_event) return absl::InternalError("change context without event encoder");
  return context.encode_event(type, before, after, context.actor(), when);
}

// The tail of a change in the caller's transaction, in one statement: the history entry,
// the outbox event, the request log's response (`value` encoded, naming `resource`) and
// the call's audit row. `before`: the defect before the change.
template <typename T>
absl::Status WriteChangeTail(pqxx::transaction_base& tx, const Defect* before, const Defect& after,
                             ChangeType type, const std::vector<FieldChange>& changes,
                             const std::string& comment, const ChangeContext& context,
                             const ResponseEncoder<T>& encode, const T& value,
                             const std::string& resource) {
  const absl::Time when = TruncateToMicros(context.now);
  PM_ASSIGN_OR_RETURN(runtime::OutboxEvent event, EventOf(context, type, before, after, when));
  const bool recorded = !context.request.request_id.empty();
  const AuditParams audit(context);
  tx.exec_prepared(Statements().change_tail, after.id, static_cast<int>(type), context.actor(),
                   Micros(when), ChangesJson(changes), comment, context.request.request_id,
                   event.event_id, pqxx::binarystring(event.payload), context.request.identity,
                   context.request.method, context.request.request_id,
                   pqxx::binarystring(recorded && encode ? encode(value) : std::string()), resource,
                   audit.write, audit.params());
  return absl::OkStatus();
}

std::vector<FieldChange> ParseChanges(const std::string& json_text) {
  std::vector<FieldChange> changes;
  nlohmann::json list = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) return changes;
  for (const auto& c : list) {
    changes.push_back({c.value("field", ""), c.value("old_value", ""), c.value("new_value", "")});
  }
  return changes;
}

const runtime::PgRequestLog& RequestLog() { return RequestLogSql(); }

std::string DefectResource(int64_t id) { return absl::StrCat("defects/", id); }

// The defect a migrated request log entry names ("defects/<id>"), as it is now.
absl::StatusOr<int64_t> DefectIdOf(const std::string& resource) {
  int64_t id = 0;
  absl::string_view text = resource;
  if (!absl::ConsumePrefix(&text, "defects/") || !absl::SimpleAtoi(text, &id)) {
    return absl::InternalError(absl::StrCat("request log names no defect: ", resource));
  }
  return id;
}

// Claims context.request in `tx` (no-op without a request_id). Returns the recorded
// entry of an earlier call with the same key, nullopt for a new call.
absl::StatusOr<std::optional<runtime::PgRequestLog::Entry>> Claim(pqxx::transaction_base& tx,
                                                                  const ChangeContext& context) {
  if (context.request.request_id.empty()) return std::nullopt;
  return RequestLog().Claim(tx, context.request);
}

// Records the answer to context.request (no-op without a request_id): `value` encoded.
template <typename T>
void Record(pqxx::transaction_base& tx, const ChangeContext& context,
            const ResponseEncoder<T>& encode, const T& value, const std::string& resource) {
  if (context.request.request_id.empty()) return;
  RequestLog().Record(tx, context.request, encode ? encode(value) : std::string(), resource);
}

}  // namespace

void PgDefectStore::PrepareStatements(pqxx::connection& conn) {
  Statements().registry.Prepare(conn);
  RequestLog().Prepare(conn);
}

const runtime::PgConstraintErrors& PgDefectStore::ConstraintErrors() {
  static const auto* errors = [] {
    auto* e = new runtime::PgConstraintErrors();
    // The backstop behind StartRepair's place lock and occupant check.
    e->On("defects_one_repair_per_place_idx",
          runtime::WithErrorInfo(absl::FailedPreconditionError(
                                     "repair place is busy: another defect is in repair there"),
                                 "REPAIR_PLACE_BUSY"))
        .On("repair_places_pkey", runtime::ResourceExists("repair place", ""))
        .On("crews_pkey", runtime::ResourceExists("crew", ""))
        .On("mechanics_pkey", runtime::ResourceExists("mechanic", ""))
        .On("categories_pkey", runtime::ResourceExists("defect category", ""))
        .On("mechanics_crew_id_fkey", runtime::InvalidField("mechanic.crew_id", "unknown crew"));
    return e;
  }();
  return *errors;
}

PgDefectStore::PgDefectStore(runtime::PgPool* pool) : pool_(pool) {}

absl::Status PgDefectStore::Run(const std::function<absl::Status(pqxx::connection&)>& body) {
  return pool_->Run(body, ConstraintErrors());
}

absl::StatusOr<Replayable<Defect>> PgDefectStore::CreateDefect(
    const Defect& defect, const ChangeContext& context, const ResponseEncoder<Defect>& encode) {
  Replayable<Defect> result;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    // Two round trips, each its own implicit transaction: the id first (a sequence is
    // not transactional anyway; a replay or a refused insert leaves a gap, as a rolled
    // back insert always did), so that the response and the event are known before the
    // one statement that writes the whole report (defect_create).
    pqxx::nontransaction tx(conn);
    result = {};
    Defect created = defect;
    created.id = tx.exec_prepared1(Statements().defect_next_id)[0].as<int64_t>();
    created.version = 1;
    const absl::Time when = TruncateToMicros(context.now);
    PM_ASSIGN_OR_RETURN(runtime::OutboxEvent event,
                        EventOf(context, ChangeType::kReported, nullptr, created, when));
    const std::string& request_id = context.request.request_id;
    const std::string response = !request_id.empty() && encode ? encode(created) : std::string();
    const AuditParams audit(context);
    pqxx::result rows = tx.exec_prepared(
        Statements().defect_create, context.request.identity, context.request.method, request_id,
        context.request.payload_sha256, pqxx::binarystring(response), DefectResource(created.id),
        created.id, defect.vin, defect.model, defect.zone, defect.station, defect.category_code,
        static_cast<int>(defect.severity), defect.description, defect.detected_by, defect.shift,
        static_cast<int>(defect.status), defect.reported_by, Micros(defect.create_time),
        static_cast<int>(ChangeType::kReported), Micros(when), ChangesJson(Diff(Defect{}, created)),
        event.event_id, pqxx::binarystring(event.payload), audit.write, audit.params());
    PM_ASSIGN_OR_RETURN(std::optional<runtime::PgRequestLog::Entry> seen,
                        RequestLog().ClaimOutcome(tx, context.request, rows));
    if (seen) return Replay(tx, *seen, &result);
    MarkAudited(context);
    result.value = std::move(created);
    return absl::OkStatus();
  }));
  return result;
}

// A retry of a defect change: the recorded response, or (a migrated entry) the defect.
absl::Status PgDefectStore::Replay(pqxx::transaction_base& tx,
                                   const runtime::PgRequestLog::Entry& entry,
                                   Replayable<Defect>* result) {
  if (entry.response) {
    result->recorded_response = *entry.response;
    return absl::OkStatus();
  }
  PM_ASSIGN_OR_RETURN(int64_t id, DefectIdOf(entry.resource));
  PM_ASSIGN_OR_RETURN(result->value, LoadDefect(tx, id));
  return absl::OkStatus();
}

absl::StatusOr<Defect> PgDefectStore::GetDefect(int64_t id) {
  Defect result;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    PM_ASSIGN_OR_RETURN(result, LoadDefect(tx, id));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<bool> PgDefectStore::IsRequestRecorded(const runtime::IdempotencyKey& key) {
  bool recorded = false;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    PM_ASSIGN_OR_RETURN(recorded, RequestLog().Recorded(tx, key));
    return absl::OkStatus();
  }));
  return recorded;
}

absl::StatusOr<ListPage> PgDefectStore::ListDefects(const ListQuery& query) {
  const runtime::PgStatement* statement = &Statements().list_create_desc;
  switch (query.order) {
    case ListOrder::kCreateTimeDesc:
      statement = &Statements().list_create_desc;
      break;
    case ListOrder::kCreateTime:
      statement = &Statements().list_create_asc;
      break;
    case ListOrder::kUpdateTimeDesc:
      statement = &Statements().list_update_desc;
      break;
    case ListOrder::kUpdateTime:
      statement = &Statements().list_update_asc;
      break;
  }
  std::vector<int> statuses;
  for (DefectStatus s : query.filter.statuses) statuses.push_back(static_cast<int>(s));
  const std::string statuses_text = absl::StrCat("{", absl::StrJoin(statuses, ","), "}");
  const std::optional<std::string> from = Micros(query.filter.create_time_from);
  const std::optional<std::string> to = Micros(query.filter.create_time_to);
  std::optional<std::string> after_time;
  int64_t after_id = 0;
  if (query.after) {
    after_time = Micros(query.after->sort_time);
    after_id = query.after->id;
  }
  ListPage page;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    page = ListPage{};
    tx.exec_prepared(Statements().custom_plans);
    // One more than the page: whether another page follows.
    pqxx::result rows = tx.exec_prepared(
        *statement, statuses_text, query.filter.zone, query.filter.vin, query.filter.shift,
        OrNull(from), OrNull(to), OrNull(after_time), after_id, query.page_size + 1);
    for (const pqxx::row& r : rows) {
      if (static_cast<int>(page.defects.size()) == query.page_size) {
        page.more = true;
        break;
      }
      page.defects.push_back(DefectFromRow(r));
    }
    LoadPhotos(tx, page.defects);
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<Replayable<Defect>> PgDefectStore::MutateDefect(
    int64_t id, const ChangeContext& context, const FactsWanted& wanted, const Mutator& mutator,
    const ResponseEncoder<Defect>& encode) {
  Replayable<Defect> result;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    result = {};
    // The key first: a retry is answered without reading (or locking) the defect.
    PM_ASSIGN_OR_RETURN(std::optional<runtime::PgRequestLog::Entry> seen, Claim(tx, context));
    if (seen) return Replay(tx, *seen, &result);
    DefectFacts facts;
    PM_ASSIGN_OR_RETURN(Defect current, LoadDefect(tx, id, &facts, wanted));
    PM_ASSIGN_OR_RETURN(Mutation mutation, mutator(current, facts));
    Defect& after = mutation.after;

    std::vector<FieldChange> changes = Diff(current, after);
    if (changes.empty()) {
      // Nothing to change, nothing to record but the answer, for a retry, and the audit.
      Record(tx, context, encode, current, DefectResource(id));
      WriteAudit(tx, context);
      tx.commit();
      MarkAudited(context);
      result.value = std::move(current);
      return absl::OkStatus();
    }
    after.id = id;
    after.version = current.version + 1;
    WriteDefect(tx, after);
    PM_RETURN_IF_ERROR(WriteChangeTail(tx, &current, after, mutation.change_type, changes,
                                       mutation.comment, context, encode, after,
                                       DefectResource(id)));
    tx.commit();
    MarkAudited(context);
    result.value = std::move(after);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<std::vector<HistoryEntry>> PgDefectStore::GetHistory(int64_t id,
                                                                    int64_t after_sequence,
                                                                    size_t limit) {
  std::vector<HistoryEntry> entries;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    entries.clear();
    if (tx.exec_prepared(Statements().defect_exists, id).empty()) return DefectNotFound(id);
    for (const pqxx::row& r : tx.exec_prepared(Statements().history_of, id, after_sequence,
                                               static_cast<int64_t>(limit))) {
      HistoryEntry e;
      e.sequence = r["sequence"].as<int64_t>();
      e.change_type = static_cast<ChangeType>(r["change_type"].as<int>());
      e.actor = r["actor"].as<std::string>();
      e.change_time = TimeAt(r["change_time_us"]);
      e.changes = ParseChanges(r["changes"].as<std::string>());
      e.comment = r["comment"].as<std::string>();
      e.request_id = r["request_id"].as<std::string>();
      entries.push_back(std::move(e));
    }
    return absl::OkStatus();
  }));
  return entries;
}

absl::StatusOr<Replayable<Photo>> PgDefectStore::AddPhoto(const NewPhoto& photo,
                                                          const ChangeContext& context,
                                                          const ResponseEncoder<Photo>& encode) {
  Replayable<Photo> result;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    result = {};
    PM_ASSIGN_OR_RETURN(std::optional<runtime::PgRequestLog::Entry> seen, Claim(tx, context));
    if (seen) {
      if (seen->response) {
        result.recorded_response = *seen->response;
        return absl::OkStatus();
      }
      // A migrated entry: defects/<id>/photos/<no>.
      std::vector<std::string> parts = absl::StrSplit(seen->resource, '/');
      int64_t defect_id = 0;
      int photo_no = 0;
      if (parts.size() != 4 || !absl::SimpleAtoi(parts[1], &defect_id) ||
          !absl::SimpleAtoi(parts[3], &photo_no)) {
        return absl::InternalError(absl::StrCat("request log names no photo: ", seen->resource));
      }
      result.value = PhotoFromRow(tx.exec_prepared1(Statements().photo_meta, defect_id, photo_no));
      return absl::OkStatus();
    }
    DefectFacts locked;  // the lock is what matters here
    PM_ASSIGN_OR_RETURN(Defect current, LoadDefect(tx, photo.defect_id, &locked));
    PM_RETURN_IF_ERROR(CheckTakesPhoto(current));
    const int photo_no =
        tx.exec_prepared1(Statements().photo_next_no, photo.defect_id)[0].as<int>();
    Photo stored;
    stored.id = absl::StrCat(photo_no);
    stored.content_type = photo.content_type;
    stored.size_bytes = photo.size_bytes;
    stored.sha256 = photo.sha256;
    stored.file_name = photo.file_name;
    stored.uploaded_by = context.actor();
    stored.upload_time = TruncateToMicros(context.now);
    tx.exec_prepared0(Statements().photo_insert, photo.defect_id, photo_no, stored.content_type,
                      stored.size_bytes, stored.sha256, stored.file_name, stored.uploaded_by,
                      Micros(stored.upload_time), context.request.request_id,
                      pqxx::binarystring(photo.bytes));
    PM_ASSIGN_OR_RETURN(Defect after, defect::AddPhoto(current, stored, context.now));
    after.version = current.version + 1;
    WriteDefect(tx, after);
    PM_RETURN_IF_ERROR(WriteChangeTail(
        tx, &current, after, ChangeType::kPhotoAdded, Diff(current, after), "", context, encode,
        stored, absl::StrCat(DefectResource(photo.defect_id), "/photos/", photo_no)));
    tx.commit();
    MarkAudited(context);
    result.value = std::move(stored);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<PhotoContent> PgDefectStore::GetPhoto(int64_t defect_id,
                                                     const std::string& photo_id) {
  PM_ASSIGN_OR_RETURN(const int64_t number, ParsePhotoId(photo_id));
  // A number beyond the stored numbers' width (int4) names no photo: 0, which none has.
  const int photo_no = number > INT32_MAX ? 0 : static_cast<int>(number);
  PhotoContent content;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_prepared(Statements().photo_content, defect_id, photo_no);
    if (rows.empty()) {
      if (tx.exec_prepared(Statements().defect_exists, defect_id).empty())
        return DefectNotFound(defect_id);
      return PhotoNotFound(defect_id, photo_id);
    }
    content.photo = PhotoFromRow(rows[0]);
    content.bytes = pqxx::binarystring(rows[0]["bytes"]).str();
    return absl::OkStatus();
  }));
  return content;
}

absl::StatusOr<std::optional<DefectCategory>> PgDefectStore::FindCategory(const std::string& code) {
  {
    absl::MutexLock lock(&categories_mu_);
    if (auto it = categories_.find(code); it != categories_.end()) return it->second;
  }
  std::optional<DefectCategory> found;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_prepared(Statements().category_find, code);
    if (rows.empty()) return absl::OkStatus();
    found = DefectCategory{rows[0]["code"].as<std::string>(), rows[0]["title"].as<std::string>(),
                           static_cast<Severity>(rows[0]["default_severity"].as<int>())};
    return absl::OkStatus();
  }));
  if (found) {
    absl::MutexLock lock(&categories_mu_);
    categories_.emplace(code, *found);
  }
  return found;
}

absl::StatusOr<Replayable<DefectCategory>> PgDefectStore::CreateCategory(
    const DefectCategory& category, const ChangeContext& context,
    const ResponseEncoder<DefectCategory>& encode) {
  return CreateResource<DefectCategory>(
      context, encode, category, absl::StrCat("categories/", category.code),
      [&](pqxx::transaction_base& tx) -> absl::Status {
        if (tx.exec_prepared(Statements().category_insert, category.code, category.title,
                             static_cast<int>(category.default_severity),
                             context.request.request_id)
                .empty()) {
          return runtime::ResourceExists("defect category", category.code);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<DefectCategory>> PgDefectStore::ListCategories() {
  std::vector<DefectCategory> out;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().category_list)) {
      out.push_back({r["code"].as<std::string>(), r["title"].as<std::string>(),
                     static_cast<Severity>(r["default_severity"].as<int>())});
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Replayable<RepairPlace>> PgDefectStore::CreateRepairPlace(
    const RepairPlace& place, const ChangeContext& context,
    const ResponseEncoder<RepairPlace>& encode) {
  RepairPlace created = place;
  created.busy = false;
  created.current_defect_id.clear();
  return CreateResource<RepairPlace>(
      context, encode, created, absl::StrCat("repairPlaces/", place.id),
      [&](pqxx::transaction_base& tx) -> absl::Status {
        if (tx.exec_prepared(Statements().place_insert, place.id, place.display_name, place.zone,
                             context.request.request_id)
                .empty()) {
          return runtime::ResourceExists("repair place", place.id);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<RepairPlace>> PgDefectStore::ListRepairPlaces(const std::string& zone) {
  std::vector<RepairPlace> out;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().place_list, zone, kInRepairStatus)) {
      RepairPlace p;
      p.id = r["id"].as<std::string>();
      p.display_name = r["display_name"].as<std::string>();
      p.zone = r["zone"].as<std::string>();
      p.busy = !r["defect_id"].is_null();
      p.current_defect_id = TextAt(r["defect_id"]);
      out.push_back(std::move(p));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Replayable<Crew>> PgDefectStore::CreateCrew(const Crew& crew,
                                                           const ChangeContext& context,
                                                           const ResponseEncoder<Crew>& encode) {
  return CreateResource<Crew>(
      context, encode, crew, absl::StrCat("crews/", crew.id),
      [&](pqxx::transaction_base& tx) -> absl::Status {
        if (tx.exec_prepared(Statements().crew_insert, crew.id, crew.display_name, crew.zone,
                             context.request.request_id)
                .empty()) {
          return runtime::ResourceExists("crew", crew.id);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<Crew>> PgDefectStore::ListCrews(const std::string& zone) {
  std::vector<Crew> out;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().crew_list, zone)) {
      out.push_back({r["id"].as<std::string>(), r["display_name"].as<std::string>(),
                     r["zone"].as<std::string>()});
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::optional<Crew>> PgDefectStore::FindCrew(const std::string& id) {
  std::optional<Crew> found;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_prepared(Statements().crew_find, id);
    found.reset();
    if (!rows.empty()) {
      found = Crew{rows[0]["id"].as<std::string>(), rows[0]["display_name"].as<std::string>(),
                   rows[0]["zone"].as<std::string>()};
    }
    return absl::OkStatus();
  }));
  return found;
}

absl::StatusOr<Replayable<Mechanic>> PgDefectStore::CreateMechanic(
    const Mechanic& mechanic, const ChangeContext& context, const ResponseEncoder<Mechanic>& encode,
    const MechanicRule& rule) {
  return CreateResource<Mechanic>(
      context, encode, mechanic, absl::StrCat("mechanics/", mechanic.id),
      [&](pqxx::transaction_base& tx) -> absl::Status {
        MechanicFacts facts;
        facts.crew_exists = !tx.exec_prepared(Statements().crew_lock, mechanic.crew_id).empty();
        if (!mechanic.identity.empty()) {
          // Creates of one identity one at a time, so two cannot both find it free.
          tx.exec_prepared(Statements().mechanic_identity_lock, mechanic.identity);
          pqxx::result holder =
              tx.exec_prepared(Statements().mechanic_by_identity, mechanic.identity);
          if (!holder.empty()) facts.identity_holder = holder[0][0].as<std::string>();
        }
        PM_RETURN_IF_ERROR(rule(facts));
        if (tx.exec_prepared(Statements().mechanic_insert, mechanic.id, mechanic.display_name,
                             mechanic.crew_id, mechanic.identity, context.request.request_id)
                .empty()) {
          return runtime::ResourceExists("mechanic", mechanic.id);
        }
        return absl::OkStatus();
      });
}

template <typename T>
absl::StatusOr<Replayable<T>> PgDefectStore::CreateResource(
    const ChangeContext& context, const ResponseEncoder<T>& encode, const T& created,
    const std::string& resource,
    const std::function<absl::Status(pqxx::transaction_base&)>& insert) {
  Replayable<T> result;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    result = {};
    PM_ASSIGN_OR_RETURN(std::optional<runtime::PgRequestLog::Entry> seen, Claim(tx, context));
    // Every entry of a resource create has its response: none were migrated.
    if (seen) {
      result.recorded_response = seen->response.value_or("");
      return absl::OkStatus();
    }
    PM_RETURN_IF_ERROR(insert(tx));
    Record(tx, context, encode, created, resource);
    WriteAudit(tx, context);
    tx.commit();
    MarkAudited(context);
    result.value = created;
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<std::vector<Mechanic>> PgDefectStore::ListMechanics(const std::string& crew_id) {
  std::vector<Mechanic> out;
  PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().mechanic_list, crew_id)) {
      out.push_back({r["id"].as<std::string>(), r["display_name"].as<std::string>(),
                     r["crew_id"].as<std::string>(), r["identity"].as<std::string>()});
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace plantmesh::defect
