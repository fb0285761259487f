// PlanningStore on PostgreSQL (schema `planning`, libpqxx 6.4). The only file of the
// service that speaks SQL: named prepared statements, parameters always.
#pragma once

#include <functional>
#include <set>
#include <string>

#include "server/planning/store.h"
#include "server/runtime/pg_pool.h"

namespace pqxx {
class transaction_base;
}  // namespace pqxx

namespace plantmesh::planning {

class PgPlanningStore : public PlanningStore {
 public:
  // `pool` outlives the store and runs PrepareStatements on each new connection.
  explicit PgPlanningStore(runtime::PgPool* pool);

  // Registers the store's named statements on a connection.
  static void PrepareStatements(pqxx::connection& conn);
  // What the schema's constraints mean: violations map to these, by constraint name.
  static const runtime::PgConstraintErrors& ConstraintErrors();

  absl::StatusOr<Replayable<Line>> CreateLine(const Line& line, const ChangeContext& context,
                                              const ResponseEncoder<Line>& encode) override;
  absl::StatusOr<Replayable<Line>> UpdateLine(const std::string& id, const ChangeContext& context,
                                              const Updater<Line>& update,
                                              const ResponseEncoder<Line>& encode) override;
  absl::StatusOr<std::optional<Line>> FindLine(const std::string& id) override;
  absl::StatusOr<std::vector<Line>> ListLines(const std::string& area) override;
  absl::StatusOr<Replayable<Product>> CreateProduct(
      const Product& product, const ChangeContext& context,
      const ResponseEncoder<Product>& encode) override;
  absl::StatusOr<Replayable<Product>> UpdateProduct(
      const std::string& id, const ChangeContext& context, const Updater<Product>& update,
      const ResponseEncoder<Product>& encode) override;
  absl::StatusOr<std::optional<Product>> FindProduct(const std::string& id) override;
  absl::StatusOr<ProductRecords> RecordsOfProduct(const std::string& id) override;
  absl::StatusOr<std::vector<Product>> FindProducts(const std::set<std::string>& ids) override;
  absl::StatusOr<std::vector<Product>> ListProducts() override;
  absl::StatusOr<std::set<std::string>> ExistingIds(Catalog catalog,
                                                    const std::set<std::string>& ids) override;
  absl::StatusOr<std::set<std::string>> ProductIds() override;
  absl::StatusOr<Replayable<Crew>> CreateCrew(const Crew& crew, const ChangeContext& context,
                                              const ResponseEncoder<Crew>& encode) override;
  absl::StatusOr<std::vector<Crew>> ListCrews() override;
  absl::StatusOr<Replayable<ShiftPattern>> CreateShiftPattern(
      const ShiftPattern& pattern, const ChangeContext& context,
      const ResponseEncoder<ShiftPattern>& encode) override;
  absl::StatusOr<std::optional<ShiftPattern>> FindShiftPattern(const std::string& id) override;
  absl::StatusOr<std::vector<ShiftPattern>> ListShiftPatterns() override;
  absl::StatusOr<Replayable<Holiday>> CreateHoliday(
      const Holiday& holiday, const ChangeContext& context,
      const ResponseEncoder<Holiday>& encode) override;
  absl::StatusOr<Replayable<Holiday>> DeleteHoliday(
      absl::CivilDay date, const ChangeContext& context,
      const ResponseEncoder<Holiday>& encode) override;
  absl::StatusOr<std::vector<Holiday>> ListHolidays(absl::CivilDay from,
                                                    absl::CivilDay to) override;
  absl::StatusOr<Replayable<MaintenanceWindow>> CreateMaintenanceWindow(
      const MaintenanceWindow& window, const ChangeContext& context,
      const ResponseEncoder<MaintenanceWindow>& encode) override;
  absl::StatusOr<Replayable<MaintenanceWindow>> DeleteMaintenanceWindow(
      int64_t id, const ChangeContext& context,
      const ResponseEncoder<MaintenanceWindow>& encode) override;
  absl::StatusOr<std::vector<MaintenanceWindow>> ListMaintenanceWindows(const std::string& line_id,
                                                                        absl::Time from,
                                                                        absl::Time to) override;
  absl::StatusOr<std::optional<std::string>> RecordedResponse(
      const runtime::IdempotencyKey& key) override;
  absl::StatusOr<Replayable<std::vector<Plan>>> CreatePlans(
      const std::vector<Plan>& plans, const ChangeContext& context,
      const ResponseEncoder<std::vector<Plan>>& encode) override;
  absl::StatusOr<Replayable<Plan>> CreatePlan(const Plan& plan, const ChangeContext& context,
                                              const ResponseEncoder<Plan>& encode) override;
  absl::StatusOr<Plan> GetPlan(int64_t id) override;
  absl::StatusOr<PlanPage> ListPlans(const PlanQuery& query) override;
  absl::StatusOr<Replayable<Plan>> MutatePlan(int64_t id, const ChangeContext& context,
                                              const PlanMutator& mutator,
                                              const EventEncoder<PlanChange>& event,
                                              const ResponseEncoder<Plan>& encode) override;
  absl::StatusOr<std::vector<PlanRevision>> ListRevisions(int64_t plan_id, int64_t after_revision,
                                                          size_t limit) override;
  absl::StatusOr<Replayable<OutputRecord>> RecordOutput(
      const OutputRecord& output, const ChangeContext& context,
      const EventEncoder<OutputRecord>& event,
      const ResponseEncoder<OutputRecord>& encode) override;
  absl::StatusOr<Replayable<DowntimeEntry>> RecordDowntime(
      const DowntimeEntry& entry, const ChangeContext& context,
      const std::function<absl::Status(int64_t recorded_minutes)>& admit,
      const EventEncoder<DowntimeEntry>& event,
      const ResponseEncoder<DowntimeEntry>& encode) override;
  absl::StatusOr<ActualsFacts> ActualsOf(const std::string& line_id, absl::CivilDay from,
                                         absl::CivilDay to) override;
  // ---- demand (pdemand).
  absl::StatusOr<Replayable<DemandWriteCounts>> ImportDemand(
      const std::vector<DemandRecord>& records, const ChangeContext& context,
      const ResponseEncoder<DemandWriteCounts>& encode) override;
  absl::StatusOr<Replayable<int64_t>> DeleteDemand(const std::string& product_id,
                                                   absl::CivilDay from, absl::CivilDay to,
                                                   const ChangeContext& context,
                                                   const ResponseEncoder<int64_t>& encode) override;
  absl::StatusOr<std::vector<ProductDemandHistory>> DemandHistory(
      const std::vector<std::string>& product_ids, int days, absl::CivilDay through) override;
  // ---- end demand (pdemand).

 private:
  // One idempotent change in a transaction: claim, `change` (returns the stored value),
  // record, audit, commit. A retry gets the recorded response. `resource`: what the change
  // changed, for a change of no one resource (ChangedResource is empty for it).
  template <typename T>
  absl::StatusOr<Replayable<T>> Idempotent(
      const ChangeContext& context, const ResponseEncoder<T>& encode,
      const std::function<absl::StatusOr<T>(pqxx::transaction_base&)>& change,
      const std::string& resource = "");
  absl::Status Run(const std::function<absl::Status(pqxx::connection&)>& body);

  runtime::PgPool* pool_;
};

}  // namespace plantmesh::planning
