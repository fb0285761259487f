// The planning service's repository: what the handlers need from storage, independent
// of the database. Every change writes its request log entry, its outbox event (when it
// has one) and the call's audit row (when the context carries one) in the same
// transaction as the change itself.
//
// Idempotency, for every create/record/mutate: with a request_id (context.request), the
// first call's change and its encoded response are recorded in the same transaction; a
// retry by the same caller of the same method with the same payload returns that
// response (recorded_response) and changes nothing; a different payload is
// ALREADY_EXISTS REQUEST_ID_REUSED (runtime/idempotency.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/planning/calendar.h"
#include "server/planning/demand.h"
#include "server/planning/domain.h"
#include "server/runtime/audit.h"
#include "server/runtime/idempotency.h"
#include "server/runtime/outbox_event.h"

namespace plantmesh::planning {

template <typename T>
using Replayable = runtime::Replayable<T>;
template <typename T>
using ResponseEncoder = runtime::ResponseEncoder<T>;
// The outbox event of a change, built once the store knows the stored value (its id);
// the store writes it as opaque bytes. Null: the change has no event.
template <typename T>
using EventEncoder = std::function<runtime::OutboxEvent(const T&)>;

// The caller and request of a change (request.identity is the actor).
struct ChangeContext {
  runtime::IdempotencyKey request;
  absl::Time now;
  // The call's audit row, written with the change and marked written once it committed;
  // nullptr: not audited with the change.
  runtime::ChangeAudit* audit = nullptr;
  const std::string& actor() const { return request.identity; }
};

// Computes a line's or a product's update from the current, locked one (etag, mask). An
// error aborts the transaction; a result with the current version writes nothing.
template <typename T>
using Updater = std::function<absl::StatusOr<T>(const T& current)>;

// Computes a plan's change from the current, locked plan (etag, lifecycle rules). An
// error aborts the transaction: nothing is written.
using PlanMutator = std::function<absl::StatusOr<PlanChange>(const Plan& current)>;

struct PlanQuery {
  std::string line_id;               // "" = every line
  std::vector<PlanStatus> statuses;  // empty = all
  std::optional<absl::CivilDay> from_date;
  std::optional<absl::CivilDay> to_date;
  int page_size = 100;
  // Keyset: plans after (shift_start, id) in (shift_start, id) order.
  std::optional<std::pair<absl::Time, int64_t>> after;
};

struct PlanPage {
  std::vector<Plan> plans;
  bool more = false;
};

// What plan against actual is computed from: plans, output and downtime of the shifts
// that start on the dates of a range (and one line, or all).
struct ActualsFacts {
  std::vector<Plan> plans;
  std::vector<OutputRecord> outputs;
  std::vector<DowntimeEntry> downtimes;
};

class PlanningStore {
 public:
  virtual ~PlanningStore() = default;

  // ---- plant model. An id that is taken is ALREADY_EXISTS (ErrorInfo RESOURCE_EXISTS).
  // A line's shift pattern must exist: INVALID_ARGUMENT line.shift_pattern_id otherwise.
  virtual absl::StatusOr<Replayable<Line>> CreateLine(const Line& line,
                                                      const ChangeContext& context,
                                                      const ResponseEncoder<Line>& encode) = 0;
  // Locks the line (the product), applies `update` and writes what it returns. NOT_FOUND
  // (LineNotFound, ProductNotFound) when absent.
  virtual absl::StatusOr<Replayable<Line>> UpdateLine(const std::string& id,
                                                      const ChangeContext& context,
                                                      const Updater<Line>& update,
                                                      const ResponseEncoder<Line>& encode) = 0;
  virtual absl::StatusOr<std::optional<Line>> FindLine(const std::string& id) = 0;
  // By id; "" = every area.
  virtual absl::StatusOr<std::vector<Line>> ListLines(const std::string& area) = 0;
  virtual absl::StatusOr<Replayable<Product>> CreateProduct(
      const Product& product, const ChangeContext& context,
      const ResponseEncoder<Product>& encode) = 0;
  virtual absl::StatusOr<Replayable<Product>> UpdateProduct(
      const std::string& id, const ChangeContext& context, const Updater<Product>& update,
      const ResponseEncoder<Product>& encode) = 0;
  virtual absl::StatusOr<std::optional<Product>> FindProduct(const std::string& id) = 0;
  // What is recorded of the product (CheckProductChange's facts).
  virtual absl::StatusOr<ProductRecords> RecordsOfProduct(const std::string& id) = 0;
  // Of `ids`, the products that exist, by id, in one read (a plan names up to hundreds).
  virtual absl::StatusOr<std::vector<Product>> FindProducts(const std::set<std::string>& ids) = 0;
  virtual absl::StatusOr<std::vector<Product>> ListProducts() = 0;
  // Of `ids`, those that name a line, a product or a crew: a check by key costs what it
  // names, not the catalog (outside testing: CreateProduct read every line and product,
  // 200 ms a call with 7,300 lines and 260 products of 300 changeovers).
  enum class Catalog { kLines, kProducts, kCrews };
  virtual absl::StatusOr<std::set<std::string>> ExistingIds(Catalog catalog,
                                                            const std::set<std::string>& ids) = 0;
  // Every product's id, and nothing else of it (a demand import checks each record's).
  virtual absl::StatusOr<std::set<std::string>> ProductIds() = 0;
  virtual absl::StatusOr<Replayable<Crew>> CreateCrew(const Crew& crew,
                                                      const ChangeContext& context,
                                                      const ResponseEncoder<Crew>& encode) = 0;
  virtual absl::StatusOr<std::vector<Crew>> ListCrews() = 0;

  // ---- calendar.
  virtual absl::StatusOr<Replayable<ShiftPattern>> CreateShiftPattern(
      const ShiftPattern& pattern, const ChangeContext& context,
      const ResponseEncoder<ShiftPattern>& encode) = 0;
  virtual absl::StatusOr<std::optional<ShiftPattern>> FindShiftPattern(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<ShiftPattern>> ListShiftPatterns() = 0;
  // A date that has a holiday is ALREADY_EXISTS; one with plans, output or downtime of its
  // shifts is DayHasProductionRecords. The writes of those below refuse a shift of a day
  // that is a holiday by then (ShiftOnHoliday): one of the two calls waits for the other.
  virtual absl::StatusOr<Replayable<Holiday>> CreateHoliday(
      const Holiday& holiday, const ChangeContext& context,
      const ResponseEncoder<Holiday>& encode) = 0;
  // Deletes the holiday of `date` and returns it; NOT_FOUND (HolidayNotFound) when none.
  virtual absl::StatusOr<Replayable<Holiday>> DeleteHoliday(
      absl::CivilDay date, const ChangeContext& context,
      const ResponseEncoder<Holiday>& encode) = 0;
  // Oldest first, from..to inclusive.
  virtual absl::StatusOr<std::vector<Holiday>> ListHolidays(absl::CivilDay from,
                                                            absl::CivilDay to) = 0;
  // Assigns the id; the line must exist (INVALID_ARGUMENT maintenance_window.line_id).
  virtual absl::StatusOr<Replayable<MaintenanceWindow>> CreateMaintenanceWindow(
      const MaintenanceWindow& window, const ChangeContext& context,
      const ResponseEncoder<MaintenanceWindow>& encode) = 0;
  // Deletes the window and returns it; NOT_FOUND (MaintenanceWindowNotFound) when none.
  virtual absl::StatusOr<Replayable<MaintenanceWindow>> DeleteMaintenanceWindow(
      int64_t id, const ChangeContext& context,
      const ResponseEncoder<MaintenanceWindow>& encode) = 0;
  // Those overlapping [from, to), by start.
  virtual absl::StatusOr<std::vector<MaintenanceWindow>> ListMaintenanceWindows(
      const std::string& line_id, absl::Time from, absl::Time to) = 0;

  // ---- plans.
  // Stores a new draft; a plan for the same (line, shift) is ALREADY_EXISTS.
  virtual absl::StatusOr<Replayable<Plan>> CreatePlan(const Plan& plan,
                                                      const ChangeContext& context,
                                                      const ResponseEncoder<Plan>& encode) = 0;
  // Stores new drafts (ProposePlan's, any number, none allowed) in one transaction, ids
  // in the order given; a (line, shift) that has a plan already is FAILED_PRECONDITION
  // (PlanExists) and nothing is written.
  virtual absl::StatusOr<Replayable<std::vector<Plan>>> CreatePlans(
      const std::vector<Plan>& plans, const ChangeContext& context,
      const ResponseEncoder<std::vector<Plan>>& encode) = 0;
  // The response a committed call with `key` recorded (read only, nothing claimed):
  // nullopt when there is none; ALREADY_EXISTS REQUEST_ID_REUSED when the payload differs.
  // ProposePlan asks before its solve, so that a retry is answered at once, also while the
  // solver is busy (outside testing: a retry was refused SOLVER_BUSY).
  virtual absl::StatusOr<std::optional<std::string>> RecordedResponse(
      const runtime::IdempotencyKey& key) = 0;
  // NOT_FOUND when absent.
  virtual absl::StatusOr<Plan> GetPlan(int64_t id) = 0;
  virtual absl::StatusOr<PlanPage> ListPlans(const PlanQuery& query) = 0;
  // Locks the plan, applies `mutator` and writes the plan after it, the revision it
  // makes and `event` of the plan after (when not null). NOT_FOUND when absent.
  virtual absl::StatusOr<Replayable<Plan>> MutatePlan(int64_t id, const ChangeContext& context,
                                                      const PlanMutator& mutator,
                                                      const EventEncoder<PlanChange>& event,
                                                      const ResponseEncoder<Plan>& encode) = 0;
  // The revisions after number `after_revision` (0: from the first), oldest first, at
  // most `limit`: a page reads what it answers. NOT_FOUND when the plan is absent.
  virtual absl::StatusOr<std::vector<PlanRevision>> ListRevisions(int64_t plan_id,
                                                                  int64_t after_revision,
                                                                  size_t limit) = 0;

  // ---- actuals. The store assigns the id; the event is of the stored record.
  virtual absl::StatusOr<Replayable<OutputRecord>> RecordOutput(
      const OutputRecord& output, const ChangeContext& context,
      const EventEncoder<OutputRecord>& event, const ResponseEncoder<OutputRecord>& encode) = 0;
  // `admit` decides with the minutes of downtime already recorded for the entry's line
  // and shift, read while no other RecordDowntime of that line and shift can add to them;
  // its error is returned and nothing is written.
  virtual absl::StatusOr<Replayable<DowntimeEntry>> RecordDowntime(
      const DowntimeEntry& entry, const ChangeContext& context,
      const std::function<absl::Status(int64_t recorded_minutes)>& admit,
      const EventEncoder<DowntimeEntry>& event, const ResponseEncoder<DowntimeEntry>& encode) = 0;
  // Plans, output and downtime of shifts dated from..to (inclusive); line "" = all.
  virtual absl::StatusOr<ActualsFacts> ActualsOf(const std::string& line_id, absl::CivilDay from,
                                                 absl::CivilDay to) = 0;

  // ---- demand (pdemand).
  // Writes `records` (one per product and day, products that exist) in one transaction:
  // a record replaces the stored demand of its product and day. Returns how many were
  // new and how many replaced; a retry returns the first answer and writes nothing.
  virtual absl::StatusOr<Replayable<DemandWriteCounts>> ImportDemand(
      const std::vector<DemandRecord>& records, const ChangeContext& context,
      const ResponseEncoder<DemandWriteCounts>& encode) = 0;
  // Deletes the demand of `product_id` dated `from`..`to` (inclusive) and returns how
  // many records went; UnknownReference naming product_id when the product does not
  // exist. A retry returns the first answer and deletes nothing.
  virtual absl::StatusOr<Replayable<int64_t>> DeleteDemand(
      const std::string& product_id, absl::CivilDay from, absl::CivilDay to,
      const ChangeContext& context, const ResponseEncoder<int64_t>& encode) = 0;
  // The demand history of `product_ids` (empty: every product that has some), ordered
  // by product id, days in date order; a product without history is left out. Only
  // records dated on or before `through` (kLastPlantDay: all), and of those each
  // product's latest `days` days (counted back from its last one, which is included):
  // a forecast uses no more, and reading all cost what was ever imported (outside
  // testing: 1,000,000 days of one product, 0.58 s and 55 MB a ForecastDemand call).
  // `through` anchors the window on what precedes a horizon: counted back from a record
  // dated years ahead, the window held none of the history before it (outside testing:
  // one record dated 9990-12-31 left ProposePlan nothing to forecast from).
  virtual absl::StatusOr<std::vector<ProductDemandHistory>> DemandHistory(
      const std::vector<std::string>& product_ids, int days, absl::CivilDay through) = 0;
  // ---- end demand (pdemand).
};

}  // namespace plantmesh::planning
