// The rules of production planning, free of gRPC, protobuf and SQL: validation of the
// plant model and the shift patterns, the plan lifecycle (DRAFT → PUBLISHED →
// IN_PROGRESS → CLOSED) with revisions and etags, actual output and downtime, and plan
// against actual. Time is always passed in. Violations name the request's field paths.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/planning/calendar.h"
#include "server/runtime/etag.h"

namespace plantmesh::planning {

// ---- plant model ----

struct Line {
  std::string id;
  std::string display_name;
  std::string site;
  std::string area;
  double nominal_rate_per_hour = 0;  // units per hour
  std::string shift_pattern_id;
  int64_t version = 1;  // +1 with every change; the etag is derived from it (kPlanEtag's form)
};

struct LineCycleTime {
  std::string line_id;
  double ideal_cycle_seconds = 0;
  bool operator==(const LineCycleTime& other) const {
    return line_id == other.line_id && ideal_cycle_seconds == other.ideal_cycle_seconds;
  }
};

struct Changeover {
  std::string from_product_id;
  std::string line_id;  // "" = every line
  int32_t duration_minutes = 0;
  bool operator==(const Changeover& other) const {
    return from_product_id == other.from_product_id && line_id == other.line_id &&
           duration_minutes == other.duration_minutes;
  }
};

struct Product {
  std::string id;
  std::string display_name;
  std::string unit;
  std::vector<LineCycleTime> cycle_times;
  std::vector<Changeover> changeovers;
  int64_t version = 1;  // as Line::version
};

struct Crew {
  std::string id;
  std::string display_name;
  std::string area;
};

struct Holiday {
  absl::CivilDay date;
  std::string display_name;
};

struct MaintenanceWindow {
  int64_t id = 0;
  std::string line_id;
  absl::Time start;
  absl::Time end;
  std::string reason;
};

// Paths "line.".
absl::Status ValidateLine(const Line& line);
// Paths "product."; `known_lines` and `known_products` are the ids that exist.
absl::Status ValidateProduct(const Product& product, const std::set<std::string>& known_lines,
                             const std::set<std::string>& known_products);
// Paths "crew.".
absl::Status ValidateCrew(const Crew& crew);
// Paths "maintenance_window."; at most 31 days long.
absl::Status ValidateMaintenance(const MaintenanceWindow& window);

// The fields UpdateLine's and UpdateProduct's update_mask may name. A line's shift
// pattern is not among them: its plans' shift ids and its planned time come from it.
inline constexpr absl::string_view kLineUpdatableFields[] = {"display_name", "site", "area",
                                                             "nominal_rate_per_hour"};
inline constexpr absl::string_view kProductUpdatableFields[] = {"display_name", "unit",
                                                                "cycle_times", "changeovers"};

// What is recorded of one product, as UpdateProduct judges a change by it.
struct ProductRecords {
  // Line id → the ids of the plans not closed whose items name the product (at most
  // kMaxPlansNamed a line, oldest first).
  std::map<std::string, std::vector<int64_t>> open_plans_by_line;
  int64_t plans = 0;        // every plan whose items name it
  int64_t outputs = 0;      // its output records
  int64_t demand_days = 0;  // its days of demand history
};
inline constexpr size_t kMaxPlansNamed = 10;

// A product's change that its records forbid: a line taken out of its cycle times while
// plans not closed run it there (FAILED_PRECONDITION PRODUCT_PLANNED_ON_LINE, metadata
// product_id, line_id, plan_ids: their output and revisions would be refused), or its unit
// changed once plans, output or demand count in it (FAILED_PRECONDITION
// PRODUCT_HAS_RECORDS, metadata product_id, plans, outputs, demand_days: the quantities
// would read in another unit). OK otherwise.
absl::Status CheckProductChange(const Product& current, const Product& after,
                                const ProductRecords& records);

// `current` with the fields of `patch` that `paths` names (paths already checked against
// the updatable fields); version and etag untouched. What an update is validated as.
Line Patched(const Line& current, const Line& patch, const std::vector<std::string>& paths);
Product Patched(const Product& current, const Product& patch,
                const std::vector<std::string>& paths);

// UpdateLine and UpdateProduct on the current, locked value: `etag` as runtime/etag.h says
// (optional; ABORTED ETAG_MISMATCH when stale), then the patched value with version + 1,
// or `current` itself (its version: nothing to write) when it has those values already.
absl::StatusOr<Line> ApplyLineUpdate(const Line& current, const Line& patch,
                                     const std::vector<std::string>& paths, absl::string_view etag);
absl::StatusOr<Product> ApplyProductUpdate(const Product& current, const Product& patch,
                                           const std::vector<std::string>& paths,
                                           absl::string_view etag);

// A shift pattern as sent: times and dates still text.
struct ShiftBreakInput {
  std::string start_time;
  int32_t duration_minutes = 0;
};
struct ShiftDefinitionInput {
  std::string code;
  std::string start_time;
  std::string end_time;
  std::vector<ShiftBreakInput> breaks;
};
struct ShiftPatternInput {
  std::string id;
  std::string display_name;
  std::vector<ShiftDefinitionInput> shifts;
  int32_t cycle_days = 0;
  std::string anchor_date;
  std::vector<RotationEntry> rotation;
};

// Parses and checks a pattern: 1-6 shifts with unique codes of 1-8 characters, times
// `HH:MM`, shifts that do not overlap (by the wall clock, day after day), breaks inside
// their shift and not overlapping, a rotation of 0-56 days whose entries name the
// pattern's shifts and known crews. Paths "shift_pattern.".
absl::StatusOr<ShiftPattern> MakeShiftPattern(const ShiftPatternInput& input,
                                              const std::set<std::string>& known_crews);
// Back to text, as the contract shows it.
ShiftPatternInput InputOf(const ShiftPattern& pattern);

// A time zone name of the system's tzdata ("Europe/Berlin"); INVALID_ARGUMENT naming
// `field` when there is no such zone.
absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name, absl::string_view field);

// ---- plans ----

// Numbers match plantmesh.planning.v1.PlanStatus (stored as such).
enum class PlanStatus : int {
  kUnspecified = 0,
  kDraft = 1,
  kPublished = 2,
  kInProgress = 3,
  kClosed = 4,
};
absl::string_view PlanStatusName(PlanStatus status);  // "PUBLISHED"

enum class PlanTransition { kPublish, kStart, kClose };
absl::string_view PlanTransitionName(PlanTransition transition);  // "PublishProductionPlan"

struct PlanItem {
  std::string product_id;
  int64_t quantity = 0;
  int32_t sequence = 0;
  bool operator==(const PlanItem& other) const {
    return product_id == other.product_id && quantity == other.quantity &&
           sequence == other.sequence;
  }
};

struct Plan {
  int64_t id = 0;
  std::string line_id;
  std::string shift_id;
  absl::CivilDay shift_date;
  absl::Time shift_start;
  absl::Time shift_end;
  std::vector<PlanItem> items;  // in sequence order
  PlanStatus status = PlanStatus::kUnspecified;
  int32_t revision = 0;
  std::string revision_reason;
  std::string created_by;
  absl::Time create_time;
  std::string updated_by;
  absl::Time update_time;
  int64_t version = 0;  // +1 with every change; the etag is derived from it
};

struct PlanRevision {
  int32_t revision = 0;
  std::vector<PlanItem> items;
  std::string reason;
  std::string revised_by;
  absl::Time revise_time;
};

// A plan's, a line's and a product's etag: "v" and its version in double quotes, as an
// HTTP entity tag ("\"v3\"").
inline constexpr runtime::EtagForm kPlanEtag{"\"v", "\""};
std::string EtagOf(int64_t version);
// The request field `etag` against the plan's current version, as runtime/etag.h says:
// "" is OK unless `required`, another version ABORTED (ETAG_MISMATCH, current_etag), a
// text of no version INVALID_ARGUMENT.
absl::Status CheckEtag(const Plan& current, absl::string_view given, bool required);

// The most units of a plan's item (and of an output record's quantities), and the most
// items of a plan.
inline constexpr int64_t kMaxQuantity = 10'000'000;
inline constexpr size_t kMaxPlanItems = 200;

// A list over its limit is refused whole, its elements neither judged nor looked up
// (re-test: CreateShiftPattern compared each pair of 20,000 shifts, 43 s of a core,
// before it refused more than 6). INVALID_ARGUMENT naming `prefix`: 1-200 items.
absl::Status CheckItemCount(const std::vector<PlanItem>& items, absl::string_view prefix);
// CheckItemCount, then each item: product known (`known_products`), quantity
// 1-10,000,000, sequence 1-1000 and unique. Paths "<prefix>[i].<field>" (prefix e.g.
// "plan.items", "items").
absl::Status ValidateItems(const std::vector<PlanItem>& items, absl::string_view prefix,
                           const std::set<std::string>& known_products);
// Product id → the lines it has a cycle time on → its ideal cycle seconds there.
using ProductLines = std::map<std::string, std::map<std::string, double>>;
// Each item's product is made on `line_id` when the plant model says where it is made:
// INVALID_ARGUMENT naming "<prefix>[i].product_id" for a product with cycle times on other
// lines only (outside testing: a plan of 10,000,000 of a product its line cannot make,
// 347 days of an 8-hour shift, was taken and published). A product with no cycle time at
// all is taken (a plant that does not model its rates still plans); products `lines_of`
// does not hold are left to ValidateItems.
// The same rule for one product's output, downtime or the like on `line_id`, naming `field`
// (outside testing: output of a product its line has no cycle time for was stored, where
// a plan of it was refused).
absl::Status CheckMadeOnLine(const Product& product, const std::string& line_id,
                             const std::string& field);
absl::Status CheckItemsMadeOnLine(const std::vector<PlanItem>& items, absl::string_view prefix,
                                  const std::string& line_id, const ProductLines& lines_of);
// The items at their ideal cycle times on `line_id` fit the shift's planned time
// (`planned`: shift less breaks and maintenance; ISO 22400's planned busy time): the
// ideal cycle time is the fastest a unit is made, so a plan that needs more cannot be
// met whatever the order (changeovers not counted). INVALID_ARGUMENT naming
// "<prefix>[i].quantity" of the item, in running (sequence) order, at which the sum passes
// the planned time (outside testing: 9,000,000 units, 543 times the shift's capacity, were
// planned and published). Items without a cycle time on the line take no time here.
absl::Status CheckItemsFitShift(const std::vector<PlanItem>& items, absl::string_view prefix,
                                const std::string& line_id, const ProductLines& lines_of,
                                const std::string& shift_id, absl::Duration planned);
// The same rule for a plan about to be published, against the shift's planned time now
// (a maintenance window or a slower cycle time may have come since its items were
// written; outside testing: a plan of 450 min was published into a shift that planned
// 330): FAILED_PRECONDITION PLAN_EXCEEDS_SHIFT (metadata plan_id, shift_id, item: the
// index in the plan's items, needed_minutes, planned_minutes).
absl::Status CheckPlanFitsShift(const Plan& plan, const ProductLines& lines_of,
                                absl::Duration planned);
// Sorted by sequence.
std::vector<PlanItem> Sequenced(std::vector<PlanItem> items);

// A new draft (id 0, version 1, revision 0) for `shift` of the line's calendar.
Plan NewPlan(const std::string& line_id, const ShiftInstance& shift, std::vector<PlanItem> items,
             absl::string_view actor, absl::Time now);

// The status a transition leads to, or FAILED_PRECONDITION (ErrorInfo
// ILLEGAL_TRANSITION, metadata current_status and transition).
absl::StatusOr<PlanStatus> NextStatus(PlanStatus from, PlanTransition transition);

// What a change of a plan produces: the plan after it, and the revision it makes (on
// publish and revise).
struct PlanChange {
  Plan after;
  std::optional<PlanRevision> revision;
};

// DRAFT only (FAILED_PRECONDITION PLAN_PUBLISHED otherwise): the items replaced in place;
// the plan as it is (its version) when it has those items already.
absl::StatusOr<PlanChange> UpdateDraft(const Plan& current, std::vector<PlanItem> items,
                                       absl::string_view actor, absl::Time now);
// PUBLISHED or IN_PROGRESS (FAILED_PRECONDITION PLAN_NOT_PUBLISHED for a draft,
// ILLEGAL_TRANSITION when closed): a new revision with `reason` (required); the plan as
// it is when it has those items already.
absl::StatusOr<PlanChange> Revise(const Plan& current, std::vector<PlanItem> items,
                                  absl::string_view reason, absl::string_view actor,
                                  absl::Time now);
// Publish (revision 1, reason "published"), start or close; start and close are
// FAILED_PRECONDITION SHIFT_NOT_STARTED before the plan's shift begins.
absl::StatusOr<PlanChange> Move(const Plan& current, PlanTransition transition,
                                absl::string_view actor, absl::Time now);

// Parses a decimal id (plans, records); INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<int64_t> ParseId(absl::string_view text, absl::string_view field);

// ---- actual output and downtime ----

struct OutputRecord {
  int64_t id = 0;
  std::string line_id;
  std::string shift_id;
  absl::CivilDay shift_date;
  std::string product_id;
  int64_t packaged = 0;
  int64_t marked = 0;
  int64_t scrapped = 0;
  std::string scrap_reason;
  std::string recorded_by;
  absl::Time record_time;
};

struct DowntimeEntry {
  int64_t id = 0;
  std::string line_id;
  std::string shift_id;
  absl::CivilDay shift_date;
  std::string reason_code;
  int32_t duration_minutes = 0;
  std::string comment;
  std::string recorded_by;
  absl::Time record_time;
};

// Quantities 0-10,000,000, at least one above 0; scrap_reason required with scrap and
// refused without. Paths "output.".
absl::Status ValidateOutput(const OutputRecord& output);
// duration 1 to the shift's length in minutes (a shift of no length, inside the hour the
// clocks skip, takes none: "downtime.shift_id"); reason code required. Paths "downtime.".
absl::Status ValidateDowntime(const DowntimeEntry& entry, const ShiftInstance& shift);
// Actuals are of shifts that have begun: FAILED_PRECONDITION (ErrorInfo
// SHIFT_NOT_STARTED with the shift id) for one that starts after `now`, naming
// `field` (outside testing: output of 2099-01-01/A was taken and then compared with plans).
absl::Status RequireShiftStarted(const ShiftInstance& shift, absl::Time now,
                                 std::string_view field);
// A shift's downtime entries add up to at most the minutes it has run by `now` (its length
// once it has ended; a begun minute counts): FAILED_PRECONDITION (ErrorInfo
// DOWNTIME_EXCEEDS_SHIFT, metadata shift_id, recorded_minutes, shift_minutes,
// elapsed_minutes) when `entry` would take those `recorded` already past it (outside
// testing: two entries of 480 minutes in a 480-minute shift; 1,440 minutes in a shift
// that had run 8).
absl::Status AdmitDowntime(const DowntimeEntry& entry, const ShiftInstance& shift,
                           int64_t recorded_minutes, absl::Time now);

// ---- plan against actual ----

struct PlanVsActualRow {
  std::string line_id;
  std::string shift_id;
  std::string product_id;
  int64_t planned = 0;
  int64_t actual = 0;  // packaged
  int64_t marked = 0;
  int64_t scrapped = 0;
  double attainment_percent = 0;  // actual / planned × 100; 0 when planned is 0
  double scrap_percent = 0;       // scrapped / (actual + scrapped) × 100; 0 when none
};

struct ShiftDowntime {
  std::string line_id;
  std::string shift_id;
  int64_t minutes = 0;
  std::vector<std::pair<std::string, int64_t>> by_reason;  // by reason code
};

struct PlanVsActual {
  std::vector<PlanVsActualRow> rows;     // by line, shift, product
  std::vector<ShiftDowntime> downtimes;  // by line, shift
};

// The minute after local midnight at which the shift `code` of line `line_id` starts, by
// its pattern; nullopt when the line or code is not known.
using ShiftStartMinute =
    std::function<std::optional<int>(const std::string& line_id, const std::string& code)>;

// ShiftStartMinute of `lines`, each by its pattern among `patterns`.
ShiftStartMinute ShiftStartsOf(const std::vector<Line>& lines,
                               const std::vector<ShiftPattern>& patterns);

// Draft plans count as unplanned (nothing has been released to the line). Shifts are in
// time order: by date, then by the minute they start (`start_minute`; unknown ones after
// the known, by code): a day's F 06:00, S 14:00, N 22:00 in that order, which their codes
// would not give (outside testing).
PlanVsActual ComparePlanToActual(const std::vector<Plan>& plans,
                                 const std::vector<OutputRecord>& outputs,
                                 const std::vector<DowntimeEntry>& downtimes,
                                 const ShiftStartMinute& start_minute);

// A local date range `from`..`to` (inclusive) of at most `max_days` days; violations
// name `from_field` / `to_field`.
struct DateRange {
  absl::CivilDay from;
  absl::CivilDay to;
};
absl::StatusOr<DateRange> MakeDateRange(absl::string_view from, absl::string_view to, int max_days,
                                        absl::string_view from_field, absl::string_view to_field);
// [start, end) of at most `max` length; violations name start_time / end_time.
absl::Status CheckTimeRange(absl::Time start, absl::Time end, absl::Duration max);

// ---- what both stores record ----

// The resource a change made or changed, as a reused request_id's refusal names it
// (REQUEST_ID_REUSED metadata `resource`, as the defect and telemetry services name
// theirs): "<collection>/<id>" in the contract's collection names; empty for a change
// of no one resource (several plans, demand records).
std::string ChangedResource(const Line& line);
std::string ChangedResource(const Product& product);
std::string ChangedResource(const Crew& crew);
std::string ChangedResource(const ShiftPattern& pattern);
std::string ChangedResource(const Holiday& holiday);
std::string ChangedResource(const MaintenanceWindow& window);
std::string ChangedResource(const Plan& plan);
std::string ChangedResource(const OutputRecord& output);
std::string ChangedResource(const DowntimeEntry& downtime);
template <typename T>
std::string ChangedResource(const T& /*several or none*/) {
  return "";
}
// Demand is no resource of its own: a product's ("products/GRANOLA-500G/demand"), or, for
// an import over many products, the collection ("demand").
std::string DemandResource(const std::string& product_id = "");

// ---- errors both stores answer with ----

// FAILED_PRECONDITION: line `line_id` has plan `plan_id` for `shift_id` already
// (ErrorInfo PLAN_EXISTS, metadata plan_id, line_id, shift_id).
absl::Status PlanExists(int64_t plan_id, absl::string_view line_id, absl::string_view shift_id);
// CreateProductionPlan's: a plan of that line and shift exists already, ALREADY_EXISTS
// "production plan 7 already exists for line PACK-1 and shift 2026-12-06/C" with ErrorInfo
// RESOURCE_EXISTS (resource_type, id: the plan's, to Get or Update; line_id, shift_id).
// Outside testing: the id named was "PACK-1 2026-12-06/C", which no Get takes.
absl::Status PlanOfShiftExists(int64_t plan_id, absl::string_view line_id,
                               absl::string_view shift_id);
// NOT_FOUND "production plan <id> not found" (ErrorInfo PLAN_NOT_FOUND, metadata plan_id).
absl::Status PlanNotFound(int64_t id);
// NOT_FOUND LINE_NOT_FOUND (line_id), PRODUCT_NOT_FOUND (product_id), HOLIDAY_NOT_FOUND
// (date), MAINTENANCE_WINDOW_NOT_FOUND (maintenance_window_id).
absl::Status LineNotFound(absl::string_view id);
absl::Status ProductNotFound(absl::string_view id);
absl::Status HolidayNotFound(absl::CivilDay date);
absl::Status MaintenanceWindowNotFound(int64_t id);
// FAILED_PRECONDITION "product <id><what>": its demand history does not allow a forecast
// (none, none before a horizon, too short), with ErrorInfo DEMAND_HISTORY_INSUFFICIENT
// (metadata product_id) and a PreconditionFailure (type DEMAND_HISTORY, subject the
// product) saying `what`. ForecastDemand and ProposePlan answer it alike.
absl::Status DemandHistoryInsufficient(const std::string& product_id, const std::string& what);
// What is recorded for the shifts that start on one date: a holiday declared then would
// make them shifts that are not worked, their plans and actuals stranded.
struct DayRecords {
  int64_t plans = 0;
  int64_t outputs = 0;
  int64_t downtimes = 0;
  bool Any() const { return plans + outputs + downtimes > 0; }
};
// FAILED_PRECONDITION: `date` cannot become a holiday (ErrorInfo DAY_HAS_PRODUCTION_RECORDS,
// metadata date, plans, outputs, downtimes).
absl::Status DayHasProductionRecords(absl::CivilDay date, const DayRecords& records);
// FAILED_PRECONDITION: `shift_id` starts on `date`, declared a holiday after the calendar
// was read for this call (ErrorInfo SHIFT_NOT_WORKED, metadata shift_id, date).
absl::Status ShiftOnHoliday(absl::string_view shift_id, absl::CivilDay date);
// INVALID_ARGUMENT naming `field`: "unknown <kind> '<id>'".
absl::Status UnknownReference(std::string field, absl::string_view kind, absl::string_view id);

// Micros precision: what PostgreSQL keeps.
absl::Time TruncateToMicros(absl::Time t);

}  // namespace plantmesh::planning
