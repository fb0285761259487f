// PlanningStore in memory, for handler tests without servers, held to the same
// conformance suite as the PostgreSQL store (testing/store_conformance.h). One lock over
// each whole change makes a request_id claim atomic with it, as PostgreSQL's row lock does.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/planning/store.h"
#include "server/runtime/testing/memory_request_log.h"

namespace plantmesh::planning::testing {

class FakePlanningStore : public PlanningStore {
 public:
  // The outbox events written, oldest first.
  std::vector<runtime::OutboxEvent> Events() const;
  // Audit rows written with changes, oldest first.
  std::vector<runtime::AuditRecord> AuditRows() const;

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
  // Claims the request, runs `change` (which returns the stored value) and records its
  // answer and audit row; a retry gets the recorded answer.
  template <typename T, typename Change>
  absl::StatusOr<Replayable<T>> Idempotent(const ChangeContext& context,
                                           const ResponseEncoder<T>& encode, Change change,
                                           const std::string& resource = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ShiftOnHoliday when `date` is a holiday.
  absl::Status WorkedDay(absl::CivilDay date, const std::string& shift_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Line> lines_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Product> products_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Crew> crews_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ShiftPattern> patterns_ ABSL_GUARDED_BY(mu_);
  std::map<absl::CivilDay, Holiday> holidays_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, MaintenanceWindow> maintenance_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, Plan> plans_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::vector<PlanRevision>> revisions_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, OutputRecord> outputs_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, DowntimeEntry> downtimes_ ABSL_GUARDED_BY(mu_);
  // (product, day) → quantity (pdemand).
  std::map<std::pair<std::string, absl::CivilDay>, double> demand_ ABSL_GUARDED_BY(mu_);
  int64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;  // one sequence for every kind: ids differ anyway
  std::vector<runtime::OutboxEvent> events_ ABSL_GUARDED_BY(mu_);
  std::vector<runtime::AuditRecord> audit_rows_ ABSL_GUARDED_BY(mu_);
  runtime::testing::MemoryRequestLog request_log_ ABSL_GUARDED_BY(mu_);
};

}  // namespace plantmesh::planning::testing
