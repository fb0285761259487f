#include "server/planning/pg_store.h"

#include <algorithm>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_request_log.h"
#include "server/runtime/pg_statements.h"

namespace plantmesh::planning {
namespace {

using nlohmann::json;

// A timestamptz column read as microseconds since the epoch.
#define PM_US(col) "(extract(epoch from " col ") * 1000000)::int8 AS " col "_us"
// Parameter $n (microseconds since the epoch) as a timestamptz.
#define PM_TS(n) "(timestamptz 'epoch' + $" #n "::int8 * interval '1 microsecond')"

#define PM_PLAN_COLUMNS \
  "id, line_id, shift_id, shift_date::text AS shift_date, " PM_US("shift_start") ", " PM_US( \
      "shift_end") ", items::text AS items, status, revision, revision_reason, created_by, " \
                   PM_US("create_time") ", updated_by, " PM_US("update_time") ", version"

#define PM_OUTPUT_COLUMNS                                                                 \
  "id, line_id, shift_id, shift_date::text AS shift_date, product_id, packaged, marked, " \
  "scrapped, scrap_reason, recorded_by, " PM_US("record_time")

#define PM_DOWNTIME_COLUMNS                                                                \
  "id, line_id, shift_id, shift_date::text AS shift_date, reason_code, duration_minutes, " \
  "comment, recorded_by, " PM_US("record_time")

const runtime::PgRequestLog& RequestLog() {
  static const auto* log = new runtime::PgRequestLog("planning");
  return *log;
}

// All of the store's SQL, registered under names qualified by the schema.
struct Sql {
  runtime::PgStatements registry{"planning"};
  const runtime::PgStatement pattern_insert = registry.Add(
      "pattern_insert",
      "INSERT INTO planning.shift_patterns (id, display_name, definition) VALUES ($1, $2, "
      "$3::jsonb) ON CONFLICT (id) DO NOTHING RETURNING id");
  const runtime::PgStatement pattern_find = registry.Add(
      "pattern_find",
      "SELECT id, display_name, definition::text FROM planning.shift_patterns WHERE id = $1");
  const runtime::PgStatement pattern_list = registry.Add(
      "pattern_list",
      "SELECT id, display_name, definition::text FROM planning.shift_patterns ORDER BY id");
  const runtime::PgStatement line_insert = registry.Add(
      "line_insert",
      "INSERT INTO planning.lines (id, display_name, site, area, nominal_rate_per_hour, "
      "shift_pattern_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING "
      "RETURNING id");
  const runtime::PgStatement line_find =
      registry.Add("line_find",
                   "SELECT id, display_name, site, area, nominal_rate_per_hour, shift_pattern_id, "
                   "version "
                   "FROM planning.lines WHERE id = $1");
  const runtime::PgStatement line_lock =
      registry.Add("line_lock",
                   "SELECT id, display_name, site, area, nominal_rate_per_hour, shift_pattern_id, "
                   "version FROM planning.lines WHERE id = $1 FOR UPDATE");
  const runtime::PgStatement line_update =
      registry.Add("line_update",
                   "UPDATE planning.lines SET display_name = $2, site = $3, area = $4, "
                   "nominal_rate_per_hour = $5, version = $6 WHERE id = $1");
  const runtime::PgStatement line_list =
      registry.Add("line_list",
                   "SELECT id, display_name, site, area, nominal_rate_per_hour, shift_pattern_id, "
                   "version "
                   "FROM planning.lines WHERE ($1::text = '' OR area = $1) ORDER BY id");
  const runtime::PgStatement product_insert = registry.Add(
      "product_insert",
      "INSERT INTO planning.products (id, display_name, unit, cycle_times, changeovers) "
      "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb) ON CONFLICT (id) DO NOTHING RETURNING id");
  const runtime::PgStatement product_find =
      registry.Add("product_find",
                   "SELECT id, display_name, unit, cycle_times::text, changeovers::text, version "
                   "FROM planning.products WHERE id = $1");
  const runtime::PgStatement product_lock =
      registry.Add("product_lock",
                   "SELECT id, display_name, unit, cycle_times::text, changeovers::text, version "
                   "FROM planning.products WHERE id = $1 FOR UPDATE");
  const runtime::PgStatement product_update = registry.Add(
      "product_update",
      "UPDATE planning.products SET display_name = $2, unit = $3, cycle_times = $4::jsonb, "
      "changeovers = $5::jsonb, version = $6 WHERE id = $1");
  // A product's records: plans whose items name it (its open ones by line), output, demand.
  const runtime::PgStatement product_record_counts =
      registry.Add("product_record_counts",
                   "SELECT (SELECT count(*) FROM planning.plans WHERE items @> $1::jsonb), "
                   "(SELECT count(*) FROM planning.outputs WHERE product_id = $2), "
                   "(SELECT count(*) FROM planning.demand WHERE product_id = $2)");
  const runtime::PgStatement product_open_plans = registry.Add(
      "product_open_plans",
      "SELECT line_id, id FROM planning.plans WHERE status <> 4 AND items @> $1::jsonb "
      "ORDER BY line_id, id");
  const runtime::PgStatement products_among =
      registry.Add("products_among",
                   "SELECT id, display_name, unit, cycle_times::text, changeovers::text, version "
                   "FROM planning.products WHERE id = ANY($1::text[]) ORDER BY id");
  const runtime::PgStatement product_list =
      registry.Add("product_list",
                   "SELECT id, display_name, unit, cycle_times::text, changeovers::text, version "
                   "FROM planning.products ORDER BY id");
  const runtime::PgStatement line_ids_among =
      registry.Add("line_ids_among", "SELECT id FROM planning.lines WHERE id = ANY($1::text[])");
  const runtime::PgStatement product_ids_among = registry.Add(
      "product_ids_among", "SELECT id FROM planning.products WHERE id = ANY($1::text[])");
  const runtime::PgStatement crew_ids_among =
      registry.Add("crew_ids_among", "SELECT id FROM planning.crews WHERE id = ANY($1::text[])");
  const runtime::PgStatement product_ids =
      registry.Add("product_ids", "SELECT id FROM planning.products");
  const runtime::PgStatement crew_insert =
      registry.Add("crew_insert",
                   "INSERT INTO planning.crews (id, display_name, area) VALUES ($1, $2, $3) "
                   "ON CONFLICT (id) DO NOTHING RETURNING id");
  const runtime::PgStatement crew_list =
      registry.Add("crew_list", "SELECT id, display_name, area FROM planning.crews ORDER BY id");
  const runtime::PgStatement holiday_insert =
      registry.Add("holiday_insert",
                   "INSERT INTO planning.holidays (date, display_name) VALUES ($1::date, $2) "
                   "ON CONFLICT (date) DO NOTHING RETURNING date");
  // A day's lock (advisory: a day has no row of its own), held to the end of the
  // transaction: shared by every write of a plan, output or downtime of a shift that
  // starts that day, exclusive for declaring the day a holiday. Each is a statement of its
  // own: a read-committed statement sees what committed before it began, so the reads it
  // guards must begin after the lock is held.
  const runtime::PgStatement day_lock_shared =
      registry.Add("day_lock_shared",
                   "SELECT pg_advisory_xact_lock_shared(hashtext('planning.days'), $1::date - date "
                   "'1900-01-01')");
  const runtime::PgStatement day_lock = registry.Add(
      "day_lock",
      "SELECT pg_advisory_xact_lock(hashtext('planning.days'), $1::date - date '1900-01-01')");
  const runtime::PgStatement day_is_holiday =
      registry.Add("day_is_holiday", "SELECT 1 FROM planning.holidays WHERE date = $1::date");
  const runtime::PgStatement day_records =
      registry.Add("day_records",
                   "SELECT (SELECT count(*) FROM planning.plans WHERE shift_date = $1::date), "
                   "(SELECT count(*) FROM planning.outputs WHERE shift_date = $1::date), "
                   "(SELECT count(*) FROM planning.downtimes WHERE shift_date = $1::date)");
  const runtime::PgStatement holiday_delete =
      registry.Add("holiday_delete",
                   "DELETE FROM planning.holidays WHERE date = $1::date "
                   "RETURNING date::text, display_name");
  const runtime::PgStatement holiday_list =
      registry.Add("holiday_list",
                   "SELECT date::text, display_name FROM planning.holidays "
                   "WHERE date BETWEEN $1::date AND $2::date ORDER BY date");
  const runtime::PgStatement maintenance_insert = registry.Add(
      "maintenance_insert",
      "INSERT INTO planning.maintenance_windows (line_id, start_time, end_time, reason) "
      "VALUES ($1, " PM_TS(2) ", " PM_TS(3) ", $4) RETURNING id");
  const runtime::PgStatement maintenance_delete = registry.Add(
      "maintenance_delete",
      "DELETE FROM planning.maintenance_windows WHERE id = $1 RETURNING id, line_id, " PM_US(
          "start_time") ", " PM_US("end_time") ", reason");
  const runtime::PgStatement maintenance_list = registry.Add(
      "maintenance_list",
      "SELECT id, line_id, " PM_US("start_time") ", " PM_US("end_time") ", reason "
      "FROM planning.maintenance_windows WHERE line_id = $1 AND start_time < " PM_TS(3)
      " AND end_time > " PM_TS(2) " ORDER BY start_time, id");
  const runtime::PgStatement plan_insert = registry.Add(
      "plan_insert",
      "INSERT INTO planning.plans (line_id, shift_id, shift_date, shift_start, shift_end, items, "
      "status, revision, revision_reason, created_by, create_time, updated_by, update_time, "
      "version) VALUES ($1, $2, $3::date, " PM_TS(4) ", " PM_TS(5) ", $6::jsonb, $7, $8, $9, "
      "$10, " PM_TS(11) ", $12, " PM_TS(13) ", $14) "
      "ON CONFLICT ON CONSTRAINT plans_one_per_line_shift DO NOTHING RETURNING id");
  const runtime::PgStatement plan_select =
      registry.Add("plan_select", "SELECT " PM_PLAN_COLUMNS " FROM planning.plans WHERE id = $1");
  const runtime::PgStatement plan_lock = registry.Add(
      "plan_lock", "SELECT " PM_PLAN_COLUMNS " FROM planning.plans WHERE id = $1 FOR UPDATE");
  const runtime::PgStatement plan_update = registry.Add(
      "plan_update",
      "UPDATE planning.plans SET items = $2::jsonb, status = $3, revision = $4, "
      "revision_reason = $5, updated_by = $6, update_time = " PM_TS(7) ", version = $8 "
      "WHERE id = $1");
  const runtime::PgStatement plan_list = registry.Add(
      "plan_list",
      "SELECT " PM_PLAN_COLUMNS " FROM planning.plans WHERE ($1::text = '' OR line_id = $1) "
      "AND (cardinality($2::int[]) = 0 OR status = ANY($2::int[])) "
      "AND ($3::date IS NULL OR shift_date >= $3::date) "
      "AND ($4::date IS NULL OR shift_date <= $4::date) "
      "AND ($5::int8 IS NULL OR (shift_start, id) > (" PM_TS(5) ", $6::int8)) "
      "ORDER BY shift_start, id LIMIT $7");
  const runtime::PgStatement plan_of_shift = registry.Add(
      "plan_of_shift", "SELECT id FROM planning.plans WHERE line_id = $1 AND shift_id = $2");
  const runtime::PgStatement plan_exists =
      registry.Add("plan_exists", "SELECT 1 FROM planning.plans WHERE id = $1");
  const runtime::PgStatement revision_insert = registry.Add(
      "revision_insert",
      "INSERT INTO planning.plan_revisions (plan_id, revision, items, reason, revised_by, "
      "revise_time) VALUES ($1, $2, $3::jsonb, $4, $5, " PM_TS(6) ")");
  const runtime::PgStatement revision_list = registry.Add(
      "revision_list",
      "SELECT revision, items::text AS items, reason, revised_by, " PM_US(
          "revise_time") " FROM planning.plan_revisions WHERE plan_id = $1 "
                         "AND revision > $2::int8 ORDER BY revision LIMIT $3::int8");
  const runtime::PgStatement output_insert = registry.Add(
      "output_insert",
      "INSERT INTO planning.outputs (line_id, shift_id, shift_date, product_id, packaged, "
      "marked, scrapped, scrap_reason, recorded_by, record_time) VALUES ($1, $2, $3::date, $4, "
      "$5, $6, $7, $8, $9, " PM_TS(10) ") RETURNING id");
  const runtime::PgStatement downtime_insert = registry.Add(
      "downtime_insert",
      "INSERT INTO planning.downtimes (line_id, shift_id, shift_date, reason_code, "
      "duration_minutes, comment, recorded_by, record_time) VALUES ($1, $2, $3::date, $4, $5, "
      "$6, $7, " PM_TS(8) ") RETURNING id");
  // Taken before downtime_recorded, in a statement of its own: a read-committed statement
  // sees what committed before it began, so the sum must begin after the lock is held.
  const runtime::PgStatement downtime_lock = registry.Add(
      "downtime_lock",
      "SELECT pg_advisory_xact_lock(hashtext('planning.downtimes'), hashtext($1 || '/' || $2))");
  const runtime::PgStatement downtime_recorded =
      registry.Add("downtime_recorded",
                   "SELECT coalesce(sum(duration_minutes), 0)::int8 FROM planning.downtimes "
                   "WHERE line_id = $1 AND shift_id = $2");
  const runtime::PgStatement outbox_insert =
      registry.Add("outbox_insert",
                   "INSERT INTO planning.outbox (event_id, payload) VALUES ($1::uuid, $2::bytea)");
  const runtime::PgStatement actual_plans = registry.Add(
      "actual_plans", "SELECT " PM_PLAN_COLUMNS
                      " FROM planning.plans "
                      "WHERE ($1::text = '' OR line_id = $1) AND shift_date BETWEEN $2::date AND "
                      "$3::date ORDER BY id");
  const runtime::PgStatement actual_outputs = registry.Add(
      "actual_outputs", "SELECT " PM_OUTPUT_COLUMNS
                        " FROM planning.outputs "
                        "WHERE ($1::text = '' OR line_id = $1) AND shift_date BETWEEN $2::date "
                        "AND $3::date ORDER BY id");
  const runtime::PgStatement actual_downtimes = registry.Add(
      "actual_downtimes", "SELECT " PM_DOWNTIME_COLUMNS
                          " FROM planning.downtimes "
                          "WHERE ($1::text = '' OR line_id = $1) AND shift_date BETWEEN "
                          "$2::date AND $3::date ORDER BY id");
};

const Sql& Statements() {
  static const auto* sql = new Sql();
  return *sql;
}

std::string Micros(absl::Time t) { return absl::StrCat(absl::ToUnixMicros(t)); }
absl::Time TimeAt(const pqxx::field& f) { return absl::FromUnixMicros(f.as<int64_t>()); }
absl::CivilDay DayAt(const pqxx::field& f) {
  return ParseDate(f.as<std::string>()).value_or(absl::CivilDay());
}

json ItemsJson(const std::vector<PlanItem>& items) {
  json list = json::array();
  for (const PlanItem& i : items) {
    list.push_back(
        {{"product_id", i.product_id}, {"quantity", i.quantity}, {"sequence", i.sequence}});
  }
  return list;
}

std::vector<PlanItem> ItemsFrom(const std::string& text) {
  std::vector<PlanItem> items;
  json list = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) return items;
  for (const json& i : list) {
    items.push_back({i.value("product_id", ""), i.value("quantity", int64_t{0}),
                     i.value("sequence", int32_t{0})});
  }
  return items;
}

std::string PatternJson(const ShiftPattern& p) {
  json shifts = json::array();
  for (const ShiftDefinition& s : p.shifts) {
    json breaks = json::array();
    for (const ShiftBreak& b : s.breaks) {
      breaks.push_back(
          {{"start_minute", b.start_minute}, {"duration_minutes", b.duration_minutes}});
    }
    shifts.push_back({{"code", s.code},
                      {"start_minute", s.start_minute},
                      {"end_minute", s.end_minute},
                      {"breaks", breaks}});
  }
  json rotation = json::array();
  for (const RotationEntry& e : p.rotation) {
    rotation.push_back({{"day", e.day}, {"shift_code", e.shift_code}, {"crew_id", e.crew_id}});
  }
  return json{{"shifts", shifts},
              {"cycle_days", p.cycle_days},
              {"anchor_date", p.cycle_days > 0 ? FormatDate(p.anchor_date) : ""},
              {"rotation", rotation}}
      .dump();
}

ShiftPattern PatternFrom(const pqxx::row& r) {
  ShiftPattern p;
  p.id = r[0].as<std::string>();
  p.display_name = r[1].as<std::string>();
  json d = json::parse(r[2].as<std::string>(), nullptr, /*allow_exceptions=*/false);
  if (!d.is_object()) return p;
  for (const json& s : d.value("shifts", json::array())) {
    ShiftDefinition def;
    def.code = s.value("code", "");
    def.start_minute = s.value("start_minute", 0);
    def.end_minute = s.value("end_minute", 0);
    for (const json& b : s.value("breaks", json::array())) {
      def.breaks.push_back({b.value("start_minute", 0), b.value("duration_minutes", 0)});
    }
    p.shifts.push_back(std::move(def));
  }
  p.cycle_days = d.value("cycle_days", 0);
  p.anchor_date = ParseDate(d.value("anchor_date", "")).value_or(absl::CivilDay());
  for (const json& e : d.value("rotation", json::array())) {
    p.rotation.push_back({e.value("day", 0), e.value("shift_code", ""), e.value("crew_id", "")});
  }
  return p;
}

Line LineFrom(const pqxx::row& r) {
  return Line{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
              r[3].as<std::string>(), r[4].as<double>(),      r[5].as<std::string>(),
              r[6].as<int64_t>()};
}

Product ProductFrom(const pqxx::row& r) {
  Product p{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(), {}, {},
            r[5].as<int64_t>()};
  json cycles = json::parse(r[3].as<std::string>(), nullptr, false);
  if (cycles.is_array()) {
    for (const json& c : cycles) {
      p.cycle_times.push_back({c.value("line_id", ""), c.value("ideal_cycle_seconds", 0.0)});
    }
  }
  json changeovers = json::parse(r[4].as<std::string>(), nullptr, false);
  if (changeovers.is_array()) {
    for (const json& c : changeovers) {
      p.changeovers.push_back(
          {c.value("from_product_id", ""), c.value("line_id", ""), c.value("duration_minutes", 0)});
    }
  }
  return p;
}

// A product's cycle times and changeovers, as their jsonb columns hold them.
std::string CycleTimesJson(const Product& product) {
  json cycles = json::array();
  for (const LineCycleTime& c : product.cycle_times) {
    cycles.push_back({{"line_id", c.line_id}, {"ideal_cycle_seconds", c.ideal_cycle_seconds}});
  }
  return cycles.dump();
}

std::string ChangeoversJson(const Product& product) {
  json changeovers = json::array();
  for (const Changeover& c : product.changeovers) {
    changeovers.push_back({{"from_product_id", c.from_product_id},
                           {"line_id", c.line_id},
                           {"duration_minutes", c.duration_minutes}});
  }
  return changeovers.dump();
}

MaintenanceWindow MaintenanceWindowFrom(const pqxx::row& r) {
  return {r[0].as<int64_t>(), r[1].as<std::string>(), TimeAt(r[2]), TimeAt(r[3]),
          r[4].as<std::string>()};
}

Plan PlanFrom(const pqxx::row& r) {
  Plan p;
  p.id = r["id"].as<int64_t>();
  p.line_id = r["line_id"].as<std::string>();
  p.shift_id = r["shift_id"].as<std::string>();
  p.shift_date = DayAt(r["shift_date"]);
  p.shift_start = TimeAt(r["shift_start_us"]);
  p.shift_end = TimeAt(r["shift_end_us"]);
  p.items = ItemsFrom(r["items"].as<std::string>());
  p.status = static_cast<PlanStatus>(r["status"].as<int>());
  p.revision = r["revision"].as<int32_t>();
  p.revision_reason = r["revision_reason"].as<std::string>();
  p.created_by = r["created_by"].as<std::string>();
  p.create_time = TimeAt(r["create_time_us"]);
  p.updated_by = r["updated_by"].as<std::string>();
  p.update_time = TimeAt(r["update_time_us"]);
  p.version = r["version"].as<int64_t>();
  return p;
}

OutputRecord OutputFrom(const pqxx::row& r) {
  OutputRecord o;
  o.id = r["id"].as<int64_t>();
  o.line_id = r["line_id"].as<std::string>();
  o.shift_id = r["shift_id"].as<std::string>();
  o.shift_date = DayAt(r["shift_date"]);
  o.product_id = r["product_id"].as<std::string>();
  o.packaged = r["packaged"].as<int64_t>();
  o.marked = r["marked"].as<int64_t>();
  o.scrapped = r["scrapped"].as<int64_t>();
  o.scrap_reason = r["scrap_reason"].as<std::string>();
  o.recorded_by = r["recorded_by"].as<std::string>();
  o.record_time = TimeAt(r["record_time_us"]);
  return o;
}

DowntimeEntry DowntimeFrom(const pqxx::row& r) {
  DowntimeEntry d;
  d.id = r["id"].as<int64_t>();
  d.line_id = r["line_id"].as<std::string>();
  d.shift_id = r["shift_id"].as<std::string>();
  d.shift_date = DayAt(r["shift_date"]);
  d.reason_code = r["reason_code"].as<std::string>();
  d.duration_minutes = r["duration_minutes"].as<int32_t>();
  d.comment = r["comment"].as<std::string>();
  d.recorded_by = r["recorded_by"].as<std::string>();
  d.record_time = TimeAt(r["record_time_us"]);
  return d;
}

void WriteEvent(pqxx::transaction_base& tx, const runtime::OutboxEvent& event) {
  tx.exec_prepared0(Statements().outbox_insert, event.event_id, pqxx::binarystring(event.payload));
}

std::string Keys(const std::vector<PlanStatus>& statuses) {
  std::string out = "{";
  for (size_t i = 0; i < statuses.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", static_cast<int>(statuses[i]));
  }
  return out + "}";
}

// An element of a text[] literal, quoted (product ids are codes, but quote anyway).
void AppendArrayText(std::string* out, absl::string_view text) {
  out->push_back('"');
  for (char c : text) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

// A text[] literal of `texts`.
template <class Texts>
std::string TextArray(const Texts& texts) {
  std::string out = "{";
  for (const std::string& text : texts) {
    if (out.size() > 1) out += ",";
    AppendArrayText(&out, text);
  }
  return out + "}";
}

// The demand section's statements (at the end of this file).
void PrepareDemandStatements(pqxx::connection& conn);

}  // namespace

void PgPlanningStore::PrepareStatements(pqxx::connection& conn) {
  Statements().registry.Prepare(conn);
  PrepareDemandStatements(conn);  // pdemand
  RequestLog().Prepare(conn);
}

const runtime::PgConstraintErrors& PgPlanningStore::ConstraintErrors() {
  static const auto* errors = [] {
    auto* e = new runtime::PgConstraintErrors();
    // Backstops behind the inserts' ON CONFLICT and the handlers' existence checks.
    e->On("lines_shift_pattern_id_fkey",
          runtime::InvalidField("line.shift_pattern_id", "unknown shift pattern"))
        .On("maintenance_windows_line_id_fkey",
            runtime::InvalidField("maintenance_window.line_id", "unknown line"))
        .On("demand_product_id_fkey", runtime::InvalidField("records", "unknown product"))
        .On("outputs_product_id_fkey",
            runtime::InvalidField("output.product_id", "unknown product"))
        .On("plans_one_per_line_shift", runtime::ResourceExists("production plan", ""));
    return e;
  }();
  return *errors;
}

PgPlanningStore::PgPlanningStore(runtime::PgPool* pool) : pool_(pool) {}

absl::Status PgPlanningStore::Run(const std::function<absl::Status(pqxx::connection&)>& body) {
  return pool_->Run(body, ConstraintErrors());
}

template <typename T>
absl::StatusOr<Replayable<T>> PgPlanningStore::Idempotent(
    const ChangeContext& context, const ResponseEncoder<T>& encode,
    const std::function<absl::StatusOr<T>(pqxx::transaction_base&)>& change,
    const std::string& resource) {
  Replayable<T> result;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    result = {};
    if (!context.request.request_id.empty()) {
      PM_ASSIGN_OR_RETURN(std::optional<runtime::PgRequestLog::Entry> seen,
                          RequestLog().Claim(tx, context.request));
      if (seen) {
        result.recorded_response = seen->response.value_or("");
        return absl::OkStatus();
      }
    }
    // An error returns before the commit: the transaction rolls back, nothing is written.
    PM_ASSIGN_OR_RETURN(T stored, change(tx));
    if (!context.request.request_id.empty()) {
      RequestLog().Record(tx, context.request, encode ? encode(stored) : std::string(),
                          resource.empty() ? ChangedResource(stored) : resource);
    }
    const bool audit = context.audit != nullptr && !context.audit->written();
    if (audit) runtime::WriteAuditInTransaction(tx, context.audit->Row(context.now));
    tx.commit();
    if (audit) context.audit->MarkWritten();
    result.value = std::move(stored);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<Replayable<Line>> PgPlanningStore::CreateLine(const Line& line,
                                                             const ChangeContext& context,
                                                             const ResponseEncoder<Line>& encode) {
  return Idempotent<Line>(context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<Line> {
    if (tx.exec_prepared(Statements().pattern_find, line.shift_pattern_id).empty()) {
      return UnknownReference("line.shift_pattern_id", "shift pattern", line.shift_pattern_id);
    }
    if (tx.exec_prepared(Statements().line_insert, line.id, line.display_name, line.site, line.area,
                         line.nominal_rate_per_hour, line.shift_pattern_id)
            .empty()) {
      return runtime::ResourceExists("line", line.id);
    }
    return line;
  });
}

absl::StatusOr<Replayable<Line>> PgPlanningStore::UpdateLine(const std::string& id,
                                                             const ChangeContext& context,
                                                             const Updater<Line>& update,
                                                             const ResponseEncoder<Line>& encode) {
  return Idempotent<Line>(context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<Line> {
    pqxx::result rows = tx.exec_prepared(Statements().line_lock, id);
    if (rows.empty()) return LineNotFound(id);
    const Line current = LineFrom(rows[0]);
    PM_ASSIGN_OR_RETURN(Line after, update(current));
    if (after.version == current.version) return after;  // nothing to change
    tx.exec_prepared0(Statements().line_update, id, after.display_name, after.site, after.area,
                      after.nominal_rate_per_hour, after.version);
    return after;
  });
}

absl::StatusOr<std::optional<Line>> PgPlanningStore::FindLine(const std::string& id) {
  std::optional<Line> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_prepared(Statements().line_find, id);
    out = rows.empty() ? std::nullopt : std::optional<Line>(LineFrom(rows[0]));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<Line>> PgPlanningStore::ListLines(const std::string& area) {
  std::vector<Line> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().line_list, area)) {
      out.push_back(LineFrom(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Replayable<Product>> PgPlanningStore::CreateProduct(
    const Product& product, const ChangeContext& context, const ResponseEncoder<Product>& encode) {
  return Idempotent<Product>(
      context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<Product> {
        if (tx.exec_prepared(Statements().product_insert, product.id, product.display_name,
                             product.unit, CycleTimesJson(product), ChangeoversJson(product))
                .empty()) {
          return runtime::ResourceExists("product", product.id);
        }
        return product;
      });
}

absl::StatusOr<Replayable<Product>> PgPlanningStore::UpdateProduct(
    const std::string& id, const ChangeContext& context, const Updater<Product>& update,
    const ResponseEncoder<Product>& encode) {
  return Idempotent<Product>(
      context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<Product> {
        pqxx::result rows = tx.exec_prepared(Statements().product_lock, id);
        if (rows.empty()) return ProductNotFound(id);
        const Product current = ProductFrom(rows[0]);
        PM_ASSIGN_OR_RETURN(Product after, update(current));
        if (after.version == current.version) return after;  // nothing to change
        tx.exec_prepared0(Statements().product_update, id, after.display_name, after.unit,
                          CycleTimesJson(after), ChangeoversJson(after), after.version);
        return after;
      });
}

absl::StatusOr<std::optional<Product>> PgPlanningStore::FindProduct(const std::string& id) {
  std::optional<Product> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_prepared(Statements().product_find, id);
    out = rows.empty() ? std::nullopt : std::optional<Product>(ProductFrom(rows[0]));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ProductRecords> PgPlanningStore::RecordsOfProduct(const std::string& id) {
  const std::string naming = json::array({{{"product_id", id}}}).dump();
  ProductRecords records;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    records = {};
    const pqxx::row counts = tx.exec_prepared1(Statements().product_record_counts, naming, id);
    records.plans = counts[0].as<int64_t>();
    records.outputs = counts[1].as<int64_t>();
    records.demand_days = counts[2].as<int64_t>();
    for (const pqxx::row& r : tx.exec_prepared(Statements().product_open_plans, naming)) {
      std::vector<int64_t>& open = records.open_plans_by_line[r[0].as<std::string>()];
      if (open.size() < kMaxPlansNamed) open.push_back(r[1].as<int64_t>());
    }
    return absl::OkStatus();
  }));
  return records;
}

absl::StatusOr<std::vector<Product>> PgPlanningStore::FindProducts(
    const std::set<std::string>& ids) {
  std::vector<Product> out;
  if (ids.empty()) return out;
  const std::string array = TextArray(ids);
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().products_among, array)) {
      out.push_back(ProductFrom(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<Product>> PgPlanningStore::ListProducts() {
  std::vector<Product> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().product_list)) {
      out.push_back(ProductFrom(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::set<std::string>> PgPlanningStore::ExistingIds(
    Catalog catalog, const std::set<std::string>& ids) {
  std::set<std::string> out;
  if (ids.empty()) return out;
  const std::string array = TextArray(ids);
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    const runtime::PgStatement& among = catalog == Catalog::kLines ? Statements().line_ids_among
                                        : catalog == Catalog::kProducts
                                            ? Statements().product_ids_among
                                            : Statements().crew_ids_among;
    for (const pqxx::row& r : tx.exec_prepared(among, array)) out.insert(r[0].as<std::string>());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::set<std::string>> PgPlanningStore::ProductIds() {
  std::set<std::string> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().product_ids)) {
      out.insert(r[0].as<std::string>());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Replayable<Crew>> PgPlanningStore::CreateCrew(const Crew& crew,
                                                             const ChangeContext& context,
                                                             const ResponseEncoder<Crew>& encode) {
  return Idempotent<Crew>(context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<Crew> {
    if (tx.exec_prepared(Statements().crew_insert, crew.id, crew.display_name, crew.area).empty()) {
      return runtime::ResourceExists("crew", crew.id);
    }
    return crew;
  });
}

absl::StatusOr<std::vector<Crew>> PgPlanningStore::ListCrews() {
  std::vector<Crew> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().crew_list)) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()});
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Replayable<ShiftPattern>> PgPlanningStore::CreateShiftPattern(
    const ShiftPattern& pattern, const ChangeContext& context,
    const ResponseEncoder<ShiftPattern>& encode) {
  return Idempotent<ShiftPattern>(context, encode,
                                  [&](pqxx::transaction_base& tx) -> absl::StatusOr<ShiftPattern> {
                                    if (tx.exec_prepared(Statements().pattern_insert, pattern.id,
                                                         pattern.display_name, PatternJson(pattern))
                                            .empty()) {
                                      return runtime::ResourceExists("shift pattern", pattern.id);
                                    }
                                    return pattern;
                                  });
}

absl::StatusOr<std::optional<ShiftPattern>> PgPlanningStore::FindShiftPattern(
    const std::string& id) {
  std::optional<ShiftPattern> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_prepared(Statements().pattern_find, id);
    out = rows.empty() ? std::nullopt : std::optional<ShiftPattern>(PatternFrom(rows[0]));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<ShiftPattern>> PgPlanningStore::ListShiftPatterns() {
  std::vector<ShiftPattern> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r : tx.exec_prepared(Statements().pattern_list)) {
      out.push_back(PatternFrom(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Replayable<Holiday>> PgPlanningStore::CreateHoliday(
    const Holiday& holiday, const ChangeContext& context, const ResponseEncoder<Holiday>& encode) {
  const std::string date = FormatDate(holiday.date);
  return Idempotent<Holiday>(
      context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<Holiday> {
        tx.exec_prepared(Statements().day_lock, date);
        const pqxx::row counts = tx.exec_prepared1(Statements().day_records, date);
        const DayRecords records{counts[0].as<int64_t>(), counts[1].as<int64_t>(),
                                 counts[2].as<int64_t>()};
        if (records.Any()) return DayHasProductionRecords(holiday.date, records);
        if (tx.exec_prepared(Statements().holiday_insert, date, holiday.display_name).empty()) {
          return runtime::ResourceExists("holiday", date);
        }
        return holiday;
      });
}

absl::StatusOr<Replayable<Holiday>> PgPlanningStore::DeleteHoliday(
    absl::CivilDay date, const ChangeContext& context, const ResponseEncoder<Holiday>& encode) {
  return Idempotent<Holiday>(
      context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<Holiday> {
        pqxx::result rows = tx.exec_prepared(Statements().holiday_delete, FormatDate(date));
        if (rows.empty()) return HolidayNotFound(date);
        return Holiday{DayAt(rows[0][0]), rows[0][1].as<std::string>()};
      });
}

absl::StatusOr<std::vector<Holiday>> PgPlanningStore::ListHolidays(absl::CivilDay from,
                                                                   absl::CivilDay to) {
  std::vector<Holiday> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r :
         tx.exec_prepared(Statements().holiday_list, FormatDate(from), FormatDate(to))) {
      out.push_back({DayAt(r[0]), r[1].as<std::string>()});
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Replayable<MaintenanceWindow>> PgPlanningStore::CreateMaintenanceWindow(
    const MaintenanceWindow& window, const ChangeContext& context,
    const ResponseEncoder<MaintenanceWindow>& encode) {
  return Idempotent<MaintenanceWindow>(
      context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<MaintenanceWindow> {
        if (tx.exec_prepared(Statements().line_find, window.line_id).empty()) {
          return UnknownReference("maintenance_window.line_id", "line", window.line_id);
        }
        MaintenanceWindow stored = window;
        stored.start = TruncateToMicros(window.start);
        stored.end = TruncateToMicros(window.end);
        stored.id = tx.exec_prepared1(Statements().maintenance_insert, window.line_id,
                                      Micros(stored.start), Micros(stored.end), window.reason)[0]
                        .as<int64_t>();
        return stored;
      });
}

absl::StatusOr<Replayable<MaintenanceWindow>> PgPlanningStore::DeleteMaintenanceWindow(
    int64_t id, const ChangeContext& context, const ResponseEncoder<MaintenanceWindow>& encode) {
  return Idempotent<MaintenanceWindow>(
      context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<MaintenanceWindow> {
        pqxx::result rows = tx.exec_prepared(Statements().maintenance_delete, id);
        if (rows.empty()) return MaintenanceWindowNotFound(id);
        return MaintenanceWindowFrom(rows[0]);
      });
}

absl::StatusOr<std::vector<MaintenanceWindow>> PgPlanningStore::ListMaintenanceWindows(
    const std::string& line_id, absl::Time from, absl::Time to) {
  std::vector<MaintenanceWindow> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r :
         tx.exec_prepared(Statements().maintenance_list, line_id, Micros(from), Micros(to))) {
      out.push_back(MaintenanceWindowFrom(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

namespace {

// Keeps `date` from becoming a holiday until `tx` ends (the day's shared lock), and
// refuses a shift of it when it is one: the service read the calendar before this
// transaction, and CreateHoliday may have committed since.
absl::Status LockWorkedDay(pqxx::transaction_base& tx, absl::CivilDay date,
                           const std::string& shift_id) {
  const std::string day = FormatDate(date);
  tx.exec_prepared(Statements().day_lock_shared, day);
  if (!tx.exec_prepared(Statements().day_is_holiday, day).empty()) {
    return ShiftOnHoliday(shift_id, date);
  }
  return absl::OkStatus();
}

// Inserts `plan` (times truncated to PostgreSQL's microseconds) and returns it as stored,
// with its id; nullopt when its line and shift has a plan already. Its day is locked
// (LockWorkedDay) by the caller.
std::optional<Plan> InsertPlan(pqxx::transaction_base& tx, const Plan& plan) {
  Plan stored = plan;
  stored.create_time = TruncateToMicros(plan.create_time);
  stored.update_time = TruncateToMicros(plan.update_time);
  pqxx::result rows = tx.exec_prepared(
      Statements().plan_insert, plan.line_id, plan.shift_id, FormatDate(plan.shift_date),
      Micros(plan.shift_start), Micros(plan.shift_end), ItemsJson(plan.items).dump(),
      static_cast<int>(plan.status), plan.revision, plan.revision_reason, plan.created_by,
      Micros(stored.create_time), plan.updated_by, Micros(stored.update_time), plan.version);
  if (rows.empty()) return std::nullopt;
  stored.id = rows[0][0].as<int64_t>();
  return stored;
}

}  // namespace

absl::StatusOr<Replayable<Plan>> PgPlanningStore::CreatePlan(const Plan& plan,
                                                             const ChangeContext& context,
                                                             const ResponseEncoder<Plan>& encode) {
  return Idempotent<Plan>(context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<Plan> {
    PM_RETURN_IF_ERROR(LockWorkedDay(tx, plan.shift_date, plan.shift_id));
    std::optional<Plan> stored = InsertPlan(tx, plan);
    if (!stored) {
      // ON CONFLICT waited for a concurrent insert to commit: this statement sees it.
      pqxx::result other =
          tx.exec_prepared(Statements().plan_of_shift, plan.line_id, plan.shift_id);
      return PlanOfShiftExists(other.empty() ? 0 : other[0][0].as<int64_t>(), plan.line_id,
                               plan.shift_id);
    }
    return *std::move(stored);
  });
}

absl::StatusOr<Replayable<std::vector<Plan>>> PgPlanningStore::CreatePlans(
    const std::vector<Plan>& plans, const ChangeContext& context,
    const ResponseEncoder<std::vector<Plan>>& encode) {
  return Idempotent<std::vector<Plan>>(
      context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<std::vector<Plan>> {
        // Every day locked before the first insert, in date order: two calls over the
        // same days never wait for each other in a cycle.
        std::map<absl::CivilDay, const Plan*> days;
        for (const Plan& plan : plans) days.emplace(plan.shift_date, &plan);
        for (const auto& [day, plan] : days) {
          PM_RETURN_IF_ERROR(LockWorkedDay(tx, day, plan->shift_id));
        }
        std::vector<Plan> stored;
        for (const Plan& plan : plans) {
          std::optional<Plan> s = InsertPlan(tx, plan);
          if (!s) {
            // ON CONFLICT waited for a concurrent insert to commit: this statement sees it.
            pqxx::result other =
                tx.exec_prepared(Statements().plan_of_shift, plan.line_id, plan.shift_id);
            return PlanExists(other.empty() ? 0 : other[0][0].as<int64_t>(), plan.line_id,
                              plan.shift_id);
          }
          stored.push_back(*std::move(s));
        }
        return stored;
      });
}

absl::StatusOr<std::optional<std::string>> PgPlanningStore::RecordedResponse(
    const runtime::IdempotencyKey& key) {
  std::optional<std::string> response;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    PM_ASSIGN_OR_RETURN(std::optional<runtime::PgRequestLog::Entry> entry,
                        RequestLog().Find(tx, key));
    response = entry ? entry->response : std::nullopt;
    return absl::OkStatus();
  }));
  return response;
}

absl::StatusOr<Plan> PgPlanningStore::GetPlan(int64_t id) {
  Plan out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_prepared(Statements().plan_select, id);
    if (rows.empty()) return PlanNotFound(id);
    out = PlanFrom(rows[0]);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<PlanPage> PgPlanningStore::ListPlans(const PlanQuery& query) {
  PlanPage page;
  std::optional<std::string> from, to, after_us;
  if (query.from_date) from = FormatDate(*query.from_date);
  if (query.to_date) to = FormatDate(*query.to_date);
  if (query.after) after_us = Micros(query.after->first);
  const int64_t after_id = query.after ? query.after->second : 0;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    page = {};
    pqxx::result rows =
        tx.exec_prepared(Statements().plan_list, query.line_id, Keys(query.statuses),
                         from ? from->c_str() : nullptr, to ? to->c_str() : nullptr,
                         after_us ? after_us->c_str() : nullptr, after_id, query.page_size + 1);
    for (const pqxx::row& r : rows) page.plans.push_back(PlanFrom(r));
    page.more = static_cast<int>(page.plans.size()) > query.page_size;
    if (page.more) page.plans.resize(query.page_size);
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<Replayable<Plan>> PgPlanningStore::MutatePlan(int64_t id,
                                                             const ChangeContext& context,
                                                             const PlanMutator& mutator,
                                                             const EventEncoder<PlanChange>& event,
                                                             const ResponseEncoder<Plan>& encode) {
  return Idempotent<Plan>(context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<Plan> {
    pqxx::result rows = tx.exec_prepared(Statements().plan_lock, id);
    if (rows.empty()) return PlanNotFound(id);
    const Plan current = PlanFrom(rows[0]);
    PM_ASSIGN_OR_RETURN(PlanChange change, mutator(current));
    const Plan& after = change.after;
    if (after.version == current.version) return after;  // nothing to change
    tx.exec_prepared0(Statements().plan_update, id, ItemsJson(after.items).dump(),
                      static_cast<int>(after.status), after.revision, after.revision_reason,
                      after.updated_by, Micros(after.update_time), after.version);
    if (change.revision) {
      const PlanRevision& r = *change.revision;
      tx.exec_prepared0(Statements().revision_insert, id, r.revision, ItemsJson(r.items).dump(),
                        r.reason, r.revised_by, Micros(r.revise_time));
    }
    if (event) WriteEvent(tx, event(change));
    return after;
  });
}

absl::StatusOr<std::vector<PlanRevision>> PgPlanningStore::ListRevisions(int64_t plan_id,
                                                                         int64_t after_revision,
                                                                         size_t limit) {
  std::vector<PlanRevision> out;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    if (tx.exec_prepared(Statements().plan_exists, plan_id).empty()) return PlanNotFound(plan_id);
    for (const pqxx::row& r : tx.exec_prepared(Statements().revision_list, plan_id, after_revision,
                                               static_cast<int64_t>(limit))) {
      out.push_back({r["revision"].as<int32_t>(), ItemsFrom(r["items"].as<std::string>()),
                     r["reason"].as<std::string>(), r["revised_by"].as<std::string>(),
                     TimeAt(r["revise_time_us"])});
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Replayable<OutputRecord>> PgPlanningStore::RecordOutput(
    const OutputRecord& output, const ChangeContext& context,
    const EventEncoder<OutputRecord>& event, const ResponseEncoder<OutputRecord>& encode) {
  return Idempotent<OutputRecord>(
      context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<OutputRecord> {
        PM_RETURN_IF_ERROR(LockWorkedDay(tx, output.shift_date, output.shift_id));
        OutputRecord stored = output;
        stored.record_time = TruncateToMicros(output.record_time);
        stored.id =
            tx.exec_prepared1(Statements().output_insert, output.line_id, output.shift_id,
                              FormatDate(output.shift_date), output.product_id, output.packaged,
                              output.marked, output.scrapped, output.scrap_reason,
                              output.recorded_by, Micros(stored.record_time))[0]
                .as<int64_t>();
        if (event) WriteEvent(tx, event(stored));
        return stored;
      });
}

absl::StatusOr<Replayable<DowntimeEntry>> PgPlanningStore::RecordDowntime(
    const DowntimeEntry& entry, const ChangeContext& context,
    const std::function<absl::Status(int64_t recorded_minutes)>& admit,
    const EventEncoder<DowntimeEntry>& event, const ResponseEncoder<DowntimeEntry>& encode) {
  return Idempotent<DowntimeEntry>(
      context, encode, [&](pqxx::transaction_base& tx) -> absl::StatusOr<DowntimeEntry> {
        PM_RETURN_IF_ERROR(LockWorkedDay(tx, entry.shift_date, entry.shift_id));
        // The line and shift's entries so far, with every other writer of them kept out
        // until this transaction ends (an advisory lock: there is no row to lock yet).
        tx.exec_prepared(Statements().downtime_lock, entry.line_id, entry.shift_id);
        const int64_t recorded =
            tx.exec_prepared1(Statements().downtime_recorded, entry.line_id, entry.shift_id)[0]
                .as<int64_t>();
        PM_RETURN_IF_ERROR(admit(recorded));
        DowntimeEntry stored = entry;
        stored.record_time = TruncateToMicros(entry.record_time);
        stored.id = tx.exec_prepared1(Statements().downtime_insert, entry.line_id, entry.shift_id,
                                      FormatDate(entry.shift_date), entry.reason_code,
                                      entry.duration_minutes, entry.comment, entry.recorded_by,
                                      Micros(stored.record_time))[0]
                        .as<int64_t>();
        if (event) WriteEvent(tx, event(stored));
        return stored;
      });
}

absl::StatusOr<ActualsFacts> PgPlanningStore::ActualsOf(const std::string& line_id,
                                                        absl::CivilDay from, absl::CivilDay to) {
  ActualsFacts facts;
  const std::string f = FormatDate(from), t = FormatDate(to);
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    // One snapshot for the three reads.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    facts = {};
    for (const pqxx::row& r : tx.exec_prepared(Statements().actual_plans, line_id, f, t)) {
      facts.plans.push_back(PlanFrom(r));
    }
    for (const pqxx::row& r : tx.exec_prepared(Statements().actual_outputs, line_id, f, t)) {
      facts.outputs.push_back(OutputFrom(r));
    }
    for (const pqxx::row& r : tx.exec_prepared(Statements().actual_downtimes, line_id, f, t)) {
      facts.downtimes.push_back(DowntimeFrom(r));
    }
    return absl::OkStatus();
  }));
  return facts;
}

// ---- demand (pdemand): daily demand history per product ----
namespace {

struct DemandSql {
  runtime::PgStatements registry{"planning"};
  // Upserts a chunk of records given as three parallel arrays and counts the new rows
  // (xmax = 0: the row version was inserted, not updated).
  const runtime::PgStatement demand_upsert = registry.Add(
      "demand_upsert",
      "WITH up AS (INSERT INTO planning.demand (product_id, day, quantity, update_time) "
      "SELECT p, d, q, " PM_TS(4) " FROM unnest($1::text[], $2::date[], $3::float8[]) AS "
      "t(p, d, q) ON CONFLICT (product_id, day) DO UPDATE SET quantity = EXCLUDED.quantity, "
      "update_time = EXCLUDED.update_time RETURNING (xmax = 0) AS inserted) "
      "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up");
  // The records deleted, and whether the product exists (a product's demand rows and
  // the product itself are read in the same snapshot).
  const runtime::PgStatement demand_delete = registry.Add(
      "demand_delete",
      "WITH gone AS (DELETE FROM planning.demand WHERE product_id = $1 AND day BETWEEN "
      "$2::date AND $3::date RETURNING 1) SELECT (SELECT count(*) FROM gone), "
      "EXISTS (SELECT 1 FROM planning.products WHERE id = $1)");
  // Days as offsets from 1970-01-01: no date text to parse per row.
  const runtime::PgStatement demand_history = registry.Add(
      "demand_history",
      "SELECT d.product_id, (d.day - date '1970-01-01')::int4, d.quantity "
      "FROM (SELECT product_id, max(day) AS last FROM planning.demand "
      "WHERE (cardinality($1::text[]) = 0 OR product_id = ANY($1::text[])) "
      "AND day <= date '1970-01-01' + $3::int4 "
      "GROUP BY product_id) AS p JOIN planning.demand AS d ON d.product_id = p.product_id "
      "AND d.day > p.last - $2::int4 AND d.day <= p.last ORDER BY d.product_id, d.day");
};

const DemandSql& DemandStatements() {
  static const auto* sql = new DemandSql();
  return *sql;
}

// Records per upsert statement: large enough to amortise the round trip, small enough
// to keep each parameter a few hundred kilobytes.
constexpr size_t kDemandChunk = 5000;

void PrepareDemandStatements(pqxx::connection& conn) { DemandStatements().registry.Prepare(conn); }

}  // namespace

absl::StatusOr<Replayable<DemandWriteCounts>> PgPlanningStore::ImportDemand(
    const std::vector<DemandRecord>& records, const ChangeContext& context,
    const ResponseEncoder<DemandWriteCounts>& encode) {
  return Idempotent<DemandWriteCounts>(
      context, encode,
      [&](pqxx::transaction_base& tx) -> absl::StatusOr<DemandWriteCounts> {
        DemandWriteCounts counts;
        const std::string now = Micros(TruncateToMicros(context.now));
        for (size_t begin = 0; begin < records.size(); begin += kDemandChunk) {
          const size_t end = std::min(records.size(), begin + kDemandChunk);
          std::string products = "{", days = "{", quantities = "{";
          for (size_t i = begin; i < end; ++i) {
            const char* comma = i == begin ? "" : ",";
            products += comma;
            AppendArrayText(&products, records[i].product_id);
            absl::StrAppend(&days, comma, FormatDate(records[i].day));
            // 17 significant digits read back as the same double.
            absl::StrAppend(&quantities, comma, absl::StrFormat("%.17g", records[i].quantity));
          }
          products += "}";
          days += "}";
          quantities += "}";
          pqxx::row row =
              tx.exec_prepared1(DemandStatements().demand_upsert, products, days, quantities, now);
          counts.stored += row[0].as<int64_t>();
          counts.replaced += row[1].as<int64_t>();
        }
        return counts;
      },
      DemandResource());
}

absl::StatusOr<Replayable<int64_t>> PgPlanningStore::DeleteDemand(
    const std::string& product_id, absl::CivilDay from, absl::CivilDay to,
    const ChangeContext& context, const ResponseEncoder<int64_t>& encode) {
  return Idempotent<int64_t>(
      context, encode,
      [&](pqxx::transaction_base& tx) -> absl::StatusOr<int64_t> {
        const pqxx::row row = tx.exec_prepared1(DemandStatements().demand_delete, product_id,
                                                FormatDate(from), FormatDate(to));
        if (!row[1].as<bool>()) return UnknownReference("product_id", "product", product_id);
        return row[0].as<int64_t>();
      },
      DemandResource(product_id));
}

absl::StatusOr<std::vector<ProductDemandHistory>> PgPlanningStore::DemandHistory(
    const std::vector<std::string>& product_ids, int days, absl::CivilDay through) {
  std::vector<ProductDemandHistory> out;
  const std::string ids = TextArray(product_ids);
  const absl::CivilDay epoch(1970, 1, 1);
  const auto through_offset = static_cast<int32_t>(through - epoch);
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    out.clear();
    for (const pqxx::row& r :
         tx.exec_prepared(DemandStatements().demand_history, ids, days, through_offset)) {
      const absl::string_view product(r[0].c_str(), r[0].size());
      if (out.empty() || out.back().product_id != product) {
        out.push_back({std::string(product), {}});
      }
      out.back().days.push_back({epoch + r[1].as<int32_t>(), r[2].as<double>()});
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace plantmesh::planning
