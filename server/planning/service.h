// The gRPC handlers of plantmesh.planning.v1.PlanningService. Thin: validate, convert
// proto ↔ domain, call the domain and the store, return. Authorization, audit, the
// contract's text and required-field rules and the status mapping happen around them in
// the generated base (CallPolicy).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "plantmesh/planning/v1/planning_service.pm_server.h"
#include "server/planning/calendar.h"
#include "server/planning/proposal.h"
#include "server/planning/store.h"
#include "server/runtime/service_module.h"

namespace plantmesh::planning {

class PlanningServiceImpl : public v1::PlanningServiceBase {
 public:
  // `store` and everything `deps` points to outlive the service. The plant's time zone
  // is `[planning] time-zone` (deps.service_config; UTC without one).
  PlanningServiceImpl(const runtime::ServiceDeps& deps, PlanningStore* store);

 protected:
  absl::Status HandleCreateLine(runtime::CallContext& call, const v1::CreateLineRequest& request,
                                v1::CreateLineResponse* response) override;
  absl::Status HandleGetLine(runtime::CallContext& call, const v1::GetLineRequest& request,
                             v1::GetLineResponse* response) override;
  absl::Status HandleListLines(runtime::CallContext& call, const v1::ListLinesRequest& request,
                               v1::ListLinesResponse* response) override;
  absl::Status HandleUpdateLine(runtime::CallContext& call, const v1::UpdateLineRequest& request,
                                v1::UpdateLineResponse* response) override;
  absl::Status HandleCreateProduct(runtime::CallContext& call,
                                   const v1::CreateProductRequest& request,
                                   v1::CreateProductResponse* response) override;
  absl::Status HandleGetProduct(runtime::CallContext& call, const v1::GetProductRequest& request,
                                v1::GetProductResponse* response) override;
  absl::Status HandleUpdateProduct(runtime::CallContext& call,
                                   const v1::UpdateProductRequest& request,
                                   v1::UpdateProductResponse* response) override;
  absl::Status HandleListProducts(runtime::CallContext& call,
                                  const v1::ListProductsRequest& request,
                                  v1::ListProductsResponse* response) override;
  absl::Status HandleCreateCrew(runtime::CallContext& call, const v1::CreateCrewRequest& request,
                                v1::CreateCrewResponse* response) override;
  absl::Status HandleListCrews(runtime::CallContext& call, const v1::ListCrewsRequest& request,
                               v1::ListCrewsResponse* response) override;
  absl::Status HandleCreateShiftPattern(runtime::CallContext& call,
                                        const v1::CreateShiftPatternRequest& request,
                                        v1::CreateShiftPatternResponse* response) override;
  absl::Status HandleListShiftPatterns(runtime::CallContext& call,
                                       const v1::ListShiftPatternsRequest& request,
                                       v1::ListShiftPatternsResponse* response) override;
  absl::Status HandleCreateHoliday(runtime::CallContext& call,
                                   const v1::CreateHolidayRequest& request,
                                   v1::CreateHolidayResponse* response) override;
  absl::Status HandleListHolidays(runtime::CallContext& call,
                                  const v1::ListHolidaysRequest& request,
                                  v1::ListHolidaysResponse* response) override;
  absl::Status HandleDeleteHoliday(runtime::CallContext& call,
                                   const v1::DeleteHolidayRequest& request,
                                   v1::DeleteHolidayResponse* response) override;
  absl::Status HandleCreateMaintenanceWindow(
      runtime::CallContext& call, const v1::CreateMaintenanceWindowRequest& request,
      v1::CreateMaintenanceWindowResponse* response) override;
  absl::Status HandleListMaintenanceWindows(runtime::CallContext& call,
                                            const v1::ListMaintenanceWindowsRequest& request,
                                            v1::ListMaintenanceWindowsResponse* response) override;
  absl::Status HandleDeleteMaintenanceWindow(
      runtime::CallContext& call, const v1::DeleteMaintenanceWindowRequest& request,
      v1::DeleteMaintenanceWindowResponse* response) override;
  absl::Status HandleGetPlannedTime(runtime::CallContext& call,
                                    const v1::GetPlannedTimeRequest& request,
                                    v1::GetPlannedTimeResponse* response) override;
  absl::Status HandleGetShiftAt(runtime::CallContext& call, const v1::GetShiftAtRequest& request,
                                v1::GetShiftAtResponse* response) override;
  absl::Status HandleListShifts(runtime::CallContext& call, const v1::ListShiftsRequest& request,
                                v1::ListShiftsResponse* response) override;
  absl::Status HandleCreateProductionPlan(runtime::CallContext& call,
                                          const v1::CreateProductionPlanRequest& request,
                                          v1::CreateProductionPlanResponse* response) override;
  absl::Status HandleGetProductionPlan(runtime::CallContext& call,
                                       const v1::GetProductionPlanRequest& request,
                                       v1::GetProductionPlanResponse* response) override;
  absl::Status HandleListProductionPlans(runtime::CallContext& call,
                                         const v1::ListProductionPlansRequest& request,
                                         v1::ListProductionPlansResponse* response) override;
  absl::Status HandleUpdateProductionPlan(runtime::CallContext& call,
                                          const v1::UpdateProductionPlanRequest& request,
                                          v1::UpdateProductionPlanResponse* response) override;
  absl::Status HandleReviseProductionPlan(runtime::CallContext& call,
                                          const v1::ReviseProductionPlanRequest& request,
                                          v1::ReviseProductionPlanResponse* response) override;
  absl::Status HandlePublishProductionPlan(runtime::CallContext& call,
                                           const v1::PublishProductionPlanRequest& request,
                                           v1::PublishProductionPlanResponse* response) override;
  absl::Status HandleStartProductionPlan(runtime::CallContext& call,
                                         const v1::StartProductionPlanRequest& request,
                                         v1::StartProductionPlanResponse* response) override;
  absl::Status HandleCloseProductionPlan(runtime::CallContext& call,
                                         const v1::CloseProductionPlanRequest& request,
                                         v1::CloseProductionPlanResponse* response) override;
  absl::Status HandleListPlanRevisions(runtime::CallContext& call,
                                       const v1::ListPlanRevisionsRequest& request,
                                       v1::ListPlanRevisionsResponse* response) override;
  absl::Status HandleRecordOutput(runtime::CallContext& call,
                                  const v1::RecordOutputRequest& request,
                                  v1::RecordOutputResponse* response) override;
  absl::Status HandleRecordDowntime(runtime::CallContext& call,
                                    const v1::RecordDowntimeRequest& request,
                                    v1::RecordDowntimeResponse* response) override;
  absl::Status HandleGetPlanVsActual(runtime::CallContext& call,
                                     const v1::GetPlanVsActualRequest& request,
                                     v1::GetPlanVsActualResponse* response) override;
  // ---- demand (pdemand): service_demand.cc.
  absl::StatusOr<std::unique_ptr<ImportDemandSink>> HandleImportDemand(
      runtime::CallContext& call) override;
  absl::Status HandleDeleteDemand(runtime::CallContext& call,
                                  const v1::DeleteDemandRequest& request,
                                  v1::DeleteDemandResponse* response) override;
  absl::Status HandleForecastDemand(runtime::CallContext& call,
                                    const v1::ForecastDemandRequest& request,
                                    v1::ForecastDemandResponse* response) override;
  // ---- end demand (pdemand).
  // ---- proposal (ppropose): service_propose.cc.
  absl::Status HandleProposePlan(runtime::CallContext& call, const v1::ProposePlanRequest& request,
                                 v1::ProposePlanResponse* response) override;
  // ---- end proposal (ppropose).

 private:
  ChangeContext Context(runtime::CallContext& call, const google::protobuf::Message& request) const;
  // A line filter ("" = every line) names a line that exists: INVALID_ARGUMENT naming
  // `field` otherwise, as where a line is required (outside testing: an unknown line_id
  // answered an empty list, which reads as "nothing planned").
  absl::Status CheckLineFilter(const std::string& line_id, const std::string& field);
  // The calendar of `line_id` (which must exist: INVALID_ARGUMENT naming `field`
  // otherwise) with holidays and maintenance around [from, to).
  absl::StatusOr<LineCalendar> CalendarOf(const std::string& line_id, const std::string& field,
                                          absl::Time from, absl::Time to);
  // Every rule of a product, the lines and products it names included (they must exist).
  absl::Status CheckProduct(const Product& product);
  // The worked shift `shift_id` of `line_id`; INVALID_ARGUMENT naming the fields otherwise.
  // `planned` (when not null): its planned time (shift less breaks and maintenance).
  absl::StatusOr<ShiftInstance> WorkedShift(const std::string& line_id,
                                            const std::string& line_field,
                                            const std::string& shift_id,
                                            const std::string& shift_field,
                                            absl::Duration* planned = nullptr);
  // A plan's items fit its shift (CheckItemsFitShift), for an update or revision: the
  // plan's line and shift read first (they never change). A shift no longer worked (a
  // holiday declared since) is not checked.
  absl::Status CheckItemsFitPlansShift(int64_t plan_id, const std::vector<PlanItem>& items,
                                       absl::string_view prefix, const ProductLines& lines_of);
  // The planned time of the plan's shift; nullopt when the shift is no longer worked (the
  // items are not judged then: the plan's own rules refuse it).
  std::optional<absl::Duration> PlannedTimeOf(const Plan& plan);
  // CheckPlanFitsShift for plan `plan_id` as stored (before it is published).
  absl::Status CheckPlanStillFitsShift(int64_t plan_id);
  // The products `items` name that exist, with the lines each has a cycle time on.
  absl::StatusOr<ProductLines> ProductLinesOf(const std::vector<PlanItem>& items);
  // The items' own checks (their count, then each item's product known, quantity and
  // sequence: ValidateItems) into `v`, with the request's other fields; ProductLinesOf
  // them (none when the count is refused).
  absl::StatusOr<ProductLines> CheckItems(const std::vector<PlanItem>& items,
                                          absl::string_view prefix, runtime::Violations& v);
  // A plan's lifecycle move (publish, start, close).
  absl::Status Move(runtime::CallContext& call, const google::protobuf::Message& request,
                    const std::string& id, const std::string& etag, PlanTransition transition,
                    google::protobuf::Message* response, v1::ProductionPlan* out);
  void EventsCommitted();
  // Today in the plant's time zone, by the service's clock: demand history is what is
  // dated before it; a record from it on is demand to come.
  absl::CivilDay PlantToday() const;
  // ProposePlan's demand from the history of `named` products (empty: every product
  // with history) for `days` (in order): imported days as they are, the others the
  // forecast of the history before the first of `days` and before today; other records
  // play no part (ppropose). With every product, one whose other days cannot be forecast
  // keeps its imported days and is put in `*not_forecast` with why. CANCELLED once `call`
  // is (asked before each product's forecast).
  absl::StatusOr<std::vector<DayDemand>> ForecastHorizonDemand(
      const runtime::CallContext& call, const std::vector<std::string>& named,
      const std::vector<absl::CivilDay>& days, std::map<std::string, std::string>* not_forecast);
  // One ImportDemand stream (pdemand).
  class DemandImportSink;

  runtime::ServiceDeps deps_;
  PlanningStore* store_;
  absl::TimeZone zone_;
  absl::Duration propose_time_limit_ = absl::Seconds(10);  // [planning] propose-time-limit-seconds
  // ProposePlan's solver program, looked up once when the service is built (CheckConfig
  // refused to start without it), so no call reads the environment.
  absl::StatusOr<std::string> solver_program_;
};

}  // namespace plantmesh::planning
