#include "server/planning/service.h"

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/planning/config.h"
#include "server/planning/convert.h"
#include "server/planning/domain.h"
#include "server/planning/propose/lot_sizing.h"
#include "server/runtime/errors.h"
#include "server/runtime/idempotency.h"
#include "server/runtime/key_pages.h"
#include "server/runtime/page_fit.h"
#include "server/runtime/page_token.h"
#include "server/runtime/replay_answer.h"

namespace plantmesh::planning {
namespace {

constexpr absl::Duration kMaxPlannedTimeRange = absl::Hours(24 * 366);
constexpr absl::Duration kMaxShiftListRange = absl::Hours(24 * 93);

using runtime::Answer;
using runtime::EncoderOf;

// Creates with `create(context, encode)` and answers with the created value in `out`.
template <typename Response, typename T, typename Setter, typename Create>
absl::Status CreateAndAnswer(const ChangeContext& context, Response* response, Setter set,
                             Create create) {
  auto fill = [set](const T& value, Response* r) { set(value, r); };
  PM_ASSIGN_OR_RETURN(Replayable<T> answer, create(context, EncoderOf<Response, T>(fill)));
  return Answer(answer, response, [&](const T& value) { fill(value, response); });
}

// An update's request before anything is read: the id set, the mask naming fields of
// `updatable` each once, the etag (optional) of the form the service hands out. The
// mask's paths, or INVALID_ARGUMENT naming every field at fault.
absl::StatusOr<std::vector<std::string>> CheckUpdate(const std::string& id,
                                                     absl::string_view id_field,
                                                     const google::protobuf::FieldMask& mask,
                                                     absl::Span<const absl::string_view> updatable,
                                                     const std::string& etag) {
  std::vector<std::string> paths(mask.paths().begin(), mask.paths().end());
  runtime::Violations v;
  if (id.empty()) v.Add(std::string(id_field), "required");
  runtime::CheckUpdatePaths(v, paths, updatable);
  kPlanEtag.CheckForm(v, "etag", etag, /*required=*/false);
  PM_RETURN_IF_ERROR(v.ToStatus());
  return paths;
}

// Lists whose order means nothing, put in the order they are kept in: a plan's items by
// sequence, a product's cycle times by line and changeovers by product and line. A
// request is keyed (request_id) and stored so: a retry listing them in another order is
// the same call, and a resend of the same values no change (outside testing:
// REQUEST_ID_REUSED for a plan's items reordered; a product's two cycle times sent in turns
// made a new etag each time).
void SortBySequence(google::protobuf::RepeatedPtrField<v1::PlanItem>* items) {
  std::stable_sort(items->begin(), items->end(), [](const v1::PlanItem& a, const v1::PlanItem& b) {
    return a.sequence() < b.sequence();
  });
}

void SortProductLists(v1::Product* product) {
  std::stable_sort(product->mutable_cycle_times()->begin(), product->mutable_cycle_times()->end(),
                   [](const v1::LineCycleTime& a, const v1::LineCycleTime& b) {
                     return a.line_id() < b.line_id();
                   });
  std::stable_sort(product->mutable_changeovers()->begin(), product->mutable_changeovers()->end(),
                   [](const v1::Changeover& a, const v1::Changeover& b) {
                     return std::tie(a.from_product_id(), a.line_id()) <
                            std::tie(b.from_product_id(), b.line_id());
                   });
}

std::string PlansFingerprint(const v1::ListProductionPlansRequest& request) {
  std::vector<int> statuses(request.statuses().begin(), request.statuses().end());
  std::sort(statuses.begin(), statuses.end());
  std::string joined;
  for (int s : statuses) absl::StrAppend(&joined, joined.empty() ? "" : ",", s);
  return runtime::FilterFingerprint()
      .AddText(request.line_id())
      .AddRaw(joined)
      .AddText(request.from_date())
      .AddText(request.to_date())
      .Hex();
}

}  // namespace

PlanningServiceImpl::PlanningServiceImpl(const runtime::ServiceDeps& deps, PlanningStore* store)
    : v1::PlanningServiceBase(deps.call_policy, deps.executor),
      deps_(deps),
      store_(store),
      zone_(absl::UTCTimeZone()),
      solver_program_(propose::CbcSolverProgram()) {
  const auto* config = dynamic_cast<const PlanningConfig*>(deps.service_config);
  // CheckConfig refused a zone that does not exist before the service was built.
  if (config != nullptr) {
    absl::StatusOr<absl::TimeZone> zone = LoadZone(config->time_zone, "planning.time-zone");
    if (zone.ok()) zone_ = *zone;
    propose_time_limit_ = absl::Seconds(config->propose_time_limit_seconds);
  }
}

ChangeContext PlanningServiceImpl::Context(runtime::CallContext& call,
                                           const google::protobuf::Message& request) const {
  return ChangeContext{runtime::IdempotencyKeyOf(call, request), deps_.now(),
                       call.AuditOfChange(request)};
}

void PlanningServiceImpl::EventsCommitted() {
  if (deps_.relay != nullptr) deps_.relay->Notify();
}

absl::Status PlanningServiceImpl::CheckLineFilter(const std::string& line_id,
                                                  const std::string& field) {
  if (line_id.empty()) return absl::OkStatus();
  PM_ASSIGN_OR_RETURN(std::optional<Line> line, store_->FindLine(line_id));
  return line ? absl::OkStatus() : UnknownReference(field, "line", line_id);
}

absl::StatusOr<LineCalendar> PlanningServiceImpl::CalendarOf(const std::string& line_id,
                                                             const std::string& field,
                                                             absl::Time from, absl::Time to) {
  if (line_id.empty()) return runtime::InvalidField(field, "required");
  PM_ASSIGN_OR_RETURN(std::optional<Line> line, store_->FindLine(line_id));
  if (!line) return UnknownReference(field, "line", line_id);
  PM_ASSIGN_OR_RETURN(std::optional<ShiftPattern> pattern,
                      store_->FindShiftPattern(line->shift_pattern_id));
  if (!pattern) return absl::InternalError("a line names a shift pattern that does not exist");
  // Shifts reach two local days before `from` (calendar.cc): so do the facts.
  const absl::CivilDay first = absl::ToCivilDay(from, zone_) - 2;
  const absl::CivilDay last = absl::ToCivilDay(to, zone_) + 1;
  PM_ASSIGN_OR_RETURN(std::vector<Holiday> holidays, store_->ListHolidays(first, last));
  PM_ASSIGN_OR_RETURN(
      std::vector<MaintenanceWindow> windows,
      store_->ListMaintenanceWindows(line_id, from - absl::Hours(50), to + absl::Hours(50)));
  std::set<absl::CivilDay> days;
  for (const Holiday& h : holidays) days.insert(h.date);
  std::vector<Interval> maintenance;
  for (const MaintenanceWindow& w : windows) maintenance.push_back({w.start, w.end});
  return LineCalendar(zone_, *std::move(pattern), std::move(days), std::move(maintenance));
}

absl::StatusOr<ShiftInstance> PlanningServiceImpl::WorkedShift(const std::string& line_id,
                                                               const std::string& line_field,
                                                               const std::string& shift_id,
                                                               const std::string& shift_field,
                                                               absl::Duration* planned) {
  std::optional<ShiftKey> key = ParseShiftId(shift_id);
  if (!key) return runtime::InvalidField(shift_field, ShiftIdViolation(shift_id));
  const absl::Time around = absl::FromCivil(key->date, zone_);
  PM_ASSIGN_OR_RETURN(LineCalendar calendar,
                      CalendarOf(line_id, line_field, around, around + absl::Hours(24)));
  std::optional<ShiftInstance> shift = calendar.ShiftById(shift_id);
  if (!shift) {
    // The cause that applies (outside testing: the message listed all five).
    return runtime::InvalidField(shift_field, absl::StrCat("not a worked shift of line ", line_id,
                                                           ": ", calendar.WhyNotWorked(shift_id)));
  }
  if (planned != nullptr) *planned = calendar.PlannedTimeOf(*shift);
  return *std::move(shift);
}

std::optional<absl::Duration> PlanningServiceImpl::PlannedTimeOf(const Plan& plan) {
  absl::Duration planned;
  if (!WorkedShift(plan.line_id, "line_id", plan.shift_id, "shift_id", &planned).ok()) {
    return std::nullopt;
  }
  return planned;
}

absl::Status PlanningServiceImpl::CheckItemsFitPlansShift(int64_t plan_id,
                                                          const std::vector<PlanItem>& items,
                                                          absl::string_view prefix,
                                                          const ProductLines& lines_of) {
  PM_ASSIGN_OR_RETURN(Plan plan, store_->GetPlan(plan_id));
  const std::optional<absl::Duration> planned = PlannedTimeOf(plan);
  if (!planned) return absl::OkStatus();
  return CheckItemsFitShift(items, prefix, plan.line_id, lines_of, plan.shift_id, *planned);
}

absl::Status PlanningServiceImpl::CheckPlanStillFitsShift(int64_t plan_id) {
  PM_ASSIGN_OR_RETURN(Plan plan, store_->GetPlan(plan_id));
  // A plan released already is answered by the transition (a retry's recorded answer, or
  // ILLEGAL_TRANSITION), whatever its shift plans now.
  if (plan.status != PlanStatus::kDraft) return absl::OkStatus();
  const std::optional<absl::Duration> planned = PlannedTimeOf(plan);
  if (!planned) return absl::OkStatus();
  PM_ASSIGN_OR_RETURN(ProductLines lines_of, ProductLinesOf(plan.items));
  return CheckPlanFitsShift(plan, lines_of, *planned);
}

absl::StatusOr<ProductLines> PlanningServiceImpl::ProductLinesOf(
    const std::vector<PlanItem>& items) {
  std::set<std::string> named;
  for (const PlanItem& item : items) named.insert(item.product_id);
  PM_ASSIGN_OR_RETURN(std::vector<Product> products, store_->FindProducts(named));
  ProductLines lines_of;
  for (const Product& product : products) {
    std::map<std::string, double>& lines = lines_of[product.id];
    for (const LineCycleTime& c : product.cycle_times) lines[c.line_id] = c.ideal_cycle_seconds;
  }
  return lines_of;
}

namespace {

std::set<std::string> KnownProducts(const ProductLines& lines_of) {
  std::set<std::string> known;
  for (const auto& [id, lines] : lines_of) known.insert(id);
  return known;
}

}  // namespace

absl::StatusOr<ProductLines> PlanningServiceImpl::CheckItems(const std::vector<PlanItem>& items,
                                                             absl::string_view prefix,
                                                             runtime::Violations& v) {
  if (absl::Status count = CheckItemCount(items, prefix); !count.ok()) {
    PM_RETURN_IF_ERROR(v.Take(count));
    return ProductLines{};
  }
  PM_ASSIGN_OR_RETURN(ProductLines lines_of, ProductLinesOf(items));
  PM_RETURN_IF_ERROR(v.Take(ValidateItems(items, prefix, KnownProducts(lines_of))));
  return lines_of;
}

// ---- plant model ----

absl::Status PlanningServiceImpl::HandleCreateLine(runtime::CallContext& call,
                                                   const v1::CreateLineRequest& request,
                                                   v1::CreateLineResponse* response) {
  const Line line = FromProto(request.line());
  runtime::Violations v;
  PM_RETURN_IF_ERROR(v.Take(ValidateLine(line)));
  // Refused anyway: its shift pattern is named too when there is none such (the store
  // checks it in the transaction otherwise; outside testing: a bad rate hid it).
  if (!v.empty() && !line.shift_pattern_id.empty()) {
    PM_ASSIGN_OR_RETURN(std::optional<ShiftPattern> pattern,
                        store_->FindShiftPattern(line.shift_pattern_id));
    if (!pattern) {
      PM_RETURN_IF_ERROR(v.Take(
          UnknownReference("line.shift_pattern_id", "shift pattern", line.shift_pattern_id)));
    }
  }
  PM_RETURN_IF_ERROR(v.ToStatus());
  return CreateAndAnswer<v1::CreateLineResponse, Line>(
      Context(call, request), response,
      [](const Line& l, v1::CreateLineResponse* r) { ToProto(l, r->mutable_line()); },
      [&](const ChangeContext& c, const ResponseEncoder<Line>& e) {
        return store_->CreateLine(line, c, e);
      });
}

absl::Status PlanningServiceImpl::HandleGetLine(runtime::CallContext& call,
                                                const v1::GetLineRequest& request,
                                                v1::GetLineResponse* response) {
  PM_ASSIGN_OR_RETURN(std::optional<Line> line, store_->FindLine(request.id()));
  if (!line) return LineNotFound(request.id());
  ToProto(*line, response->mutable_line());
  return absl::OkStatus();
}

absl::Status PlanningServiceImpl::HandleListLines(runtime::CallContext& call,
                                                  const v1::ListLinesRequest& request,
                                                  v1::ListLinesResponse* response) {
  return runtime::ServeWholeListPage(
      request, "ListLines", runtime::FilterFingerprint().AddText(request.area()), deps_.config,
      [&] { return store_->ListLines(request.area()); }, &Line::id, response,
      response->mutable_lines());
}

absl::Status PlanningServiceImpl::HandleUpdateLine(runtime::CallContext& call,
                                                   const v1::UpdateLineRequest& request,
                                                   v1::UpdateLineResponse* response) {
  PM_ASSIGN_OR_RETURN(const std::vector<std::string> paths,
                      CheckUpdate(request.line().id(), "line.id", request.update_mask(),
                                  kLineUpdatableFields, request.etag()));
  const Line patch = FromProto(request.line());
  // The fields the mask leaves out are the line's own: the values it would have are checked.
  PM_ASSIGN_OR_RETURN(std::optional<Line> current, store_->FindLine(patch.id));
  if (!current) return LineNotFound(patch.id);
  PM_RETURN_IF_ERROR(ValidateLine(Patched(*current, patch, paths)));
  return CreateAndAnswer<v1::UpdateLineResponse, Line>(
      Context(call, request), response,
      [](const Line& l, v1::UpdateLineResponse* r) { ToProto(l, r->mutable_line()); },
      [&](const ChangeContext& c, const ResponseEncoder<Line>& e) {
        return store_->UpdateLine(
            patch.id, c,
            [&](const Line& locked) {
              return ApplyLineUpdate(locked, patch, paths, request.etag());
            },
            e);
      });
}

absl::Status PlanningServiceImpl::HandleCreateProduct(runtime::CallContext& call,
                                                      const v1::CreateProductRequest& request,
                                                      v1::CreateProductResponse* response) {
  // Judged as sent, so a refusal's index names the element the caller sent (re-test: it
  // named the kept order's); kept in order after.
  PM_RETURN_IF_ERROR(CheckProduct(FromProto(request.product())));
  v1::CreateProductRequest kept = request;
  SortProductLists(kept.mutable_product());
  const Product product = FromProto(kept.product());
  return CreateAndAnswer<v1::CreateProductResponse, Product>(
      Context(call, kept), response,
      [](const Product& p, v1::CreateProductResponse* r) { ToProto(p, r->mutable_product()); },
      [&](const ChangeContext& c, const ResponseEncoder<Product>& e) {
        return store_->CreateProduct(product, c, e);
      });
}

absl::Status PlanningServiceImpl::CheckProduct(const Product& product) {
  // Read before the change's transaction: lines and products are never deleted (the
  // contract has no such method), so a line or product seen here still exists at commit.
  std::set<std::string> named_lines, named_products;
  for (const LineCycleTime& c : product.cycle_times) named_lines.insert(c.line_id);
  for (const Changeover& c : product.changeovers) {
    if (!c.line_id.empty()) named_lines.insert(c.line_id);
    named_products.insert(c.from_product_id);
  }
  PM_ASSIGN_OR_RETURN(std::set<std::string> line_ids,
                      store_->ExistingIds(PlanningStore::Catalog::kLines, named_lines));
  PM_ASSIGN_OR_RETURN(std::set<std::string> product_ids,
                      store_->ExistingIds(PlanningStore::Catalog::kProducts, named_products));
  return ValidateProduct(product, line_ids, product_ids);
}

absl::Status PlanningServiceImpl::HandleUpdateProduct(runtime::CallContext& call,
                                                      const v1::UpdateProductRequest& request,
                                                      v1::UpdateProductResponse* response) {
  PM_ASSIGN_OR_RETURN(const std::vector<std::string> paths,
                      CheckUpdate(request.product().id(), "product.id", request.update_mask(),
                                  kProductUpdatableFields, request.etag()));
  PM_ASSIGN_OR_RETURN(std::optional<Product> current, store_->FindProduct(request.product().id()));
  if (!current) return ProductNotFound(request.product().id());
  // Judged as sent (a refusal's index names the element sent), kept in order after.
  PM_RETURN_IF_ERROR(CheckProduct(Patched(*current, FromProto(request.product()), paths)));
  v1::UpdateProductRequest kept = request;
  SortProductLists(kept.mutable_product());
  const Product patch = FromProto(kept.product());
  const Product after = Patched(*current, patch, paths);
  // Records decide what may no longer change (read before the change: a plan created
  // meanwhile is not seen).
  if (std::count(paths.begin(), paths.end(), "cycle_times") > 0 ||
      std::count(paths.begin(), paths.end(), "unit") > 0) {
    PM_ASSIGN_OR_RETURN(ProductRecords records, store_->RecordsOfProduct(patch.id));
    PM_RETURN_IF_ERROR(CheckProductChange(*current, after, records));
  }
  return CreateAndAnswer<v1::UpdateProductResponse, Product>(
      Context(call, kept), response,
      [](const Product& p, v1::UpdateProductResponse* r) { ToProto(p, r->mutable_product()); },
      [&](const ChangeContext& c, const ResponseEncoder<Product>& e) {
        return store_->UpdateProduct(
            patch.id, c,
            [&](const Product& locked) {
              return ApplyProductUpdate(locked, patch, paths, request.etag());
            },
            e);
      });
}

absl::Status PlanningServiceImpl::HandleGetProduct(runtime::CallContext& call,
                                                   const v1::GetProductRequest& request,
                                                   v1::GetProductResponse* response) {
  PM_ASSIGN_OR_RETURN(std::optional<Product> product, store_->FindProduct(request.id()));
  if (!product) return ProductNotFound(request.id());
  ToProto(*product, response->mutable_product());
  return absl::OkStatus();
}

absl::Status PlanningServiceImpl::HandleListProducts(runtime::CallContext& call,
                                                     const v1::ListProductsRequest& request,
                                                     v1::ListProductsResponse* response) {
  return runtime::ServeWholeListPage(
      request, "ListProducts", runtime::FilterFingerprint(), deps_.config,
      [&] { return store_->ListProducts(); }, &Product::id, response, response->mutable_products());
}

absl::Status PlanningServiceImpl::HandleCreateCrew(runtime::CallContext& call,
                                                   const v1::CreateCrewRequest& request,
                                                   v1::CreateCrewResponse* response) {
  const Crew crew = FromProto(request.crew());
  PM_RETURN_IF_ERROR(ValidateCrew(crew));
  return CreateAndAnswer<v1::CreateCrewResponse, Crew>(
      Context(call, request), response,
      [](const Crew& c, v1::CreateCrewResponse* r) { ToProto(c, r->mutable_crew()); },
      [&](const ChangeContext& c, const ResponseEncoder<Crew>& e) {
        return store_->CreateCrew(crew, c, e);
      });
}

absl::Status PlanningServiceImpl::HandleListCrews(runtime::CallContext& call,
                                                  const v1::ListCrewsRequest& request,
                                                  v1::ListCrewsResponse* response) {
  return runtime::ServeWholeListPage(
      request, "ListCrews", runtime::FilterFingerprint(), deps_.config,
      [&] { return store_->ListCrews(); }, &Crew::id, response, response->mutable_crews());
}

// ---- calendar ----

absl::Status PlanningServiceImpl::HandleCreateShiftPattern(
    runtime::CallContext& call, const v1::CreateShiftPatternRequest& request,
    v1::CreateShiftPatternResponse* response) {
  const ShiftPatternInput input = FromProto(request.shift_pattern());
  std::set<std::string> named_crews;
  for (const RotationEntry& entry : input.rotation) {
    if (!entry.crew_id.empty()) named_crews.insert(entry.crew_id);
  }
  PM_ASSIGN_OR_RETURN(std::set<std::string> crew_ids,
                      store_->ExistingIds(PlanningStore::Catalog::kCrews, named_crews));
  PM_ASSIGN_OR_RETURN(ShiftPattern pattern, MakeShiftPattern(input, crew_ids));
  return CreateAndAnswer<v1::CreateShiftPatternResponse, ShiftPattern>(
      Context(call, request), response,
      [](const ShiftPattern& p, v1::CreateShiftPatternResponse* r) {
        ToProto(p, r->mutable_shift_pattern());
      },
      [&](const ChangeContext& c, const ResponseEncoder<ShiftPattern>& e) {
        return store_->CreateShiftPattern(pattern, c, e);
      });
}

absl::Status PlanningServiceImpl::HandleListShiftPatterns(
    runtime::CallContext& call, const v1::ListShiftPatternsRequest& request,
    v1::ListShiftPatternsResponse* response) {
  return runtime::ServeWholeListPage(
      request, "ListShiftPatterns", runtime::FilterFingerprint(), deps_.config,
      [&] { return store_->ListShiftPatterns(); }, &ShiftPattern::id, response,
      response->mutable_shift_patterns());
}

absl::Status PlanningServiceImpl::HandleCreateHoliday(runtime::CallContext& call,
                                                      const v1::CreateHolidayRequest& request,
                                                      v1::CreateHolidayResponse* response) {
  runtime::Violations v;
  std::optional<absl::CivilDay> date = ParseDate(request.holiday().date());
  if (!date) v.Add("holiday.date", DateViolation(request.holiday().date()));
  if (request.holiday().display_name().empty()) v.Add("holiday.display_name", "required");
  PM_RETURN_IF_ERROR(v.ToStatus());
  const Holiday holiday{*date, request.holiday().display_name()};
  return CreateAndAnswer<v1::CreateHolidayResponse, Holiday>(
      Context(call, request), response,
      [](const Holiday& h, v1::CreateHolidayResponse* r) { ToProto(h, r->mutable_holiday()); },
      [&](const ChangeContext& c, const ResponseEncoder<Holiday>& e) {
        return store_->CreateHoliday(holiday, c, e);
      });
}

absl::Status PlanningServiceImpl::HandleListHolidays(runtime::CallContext& call,
                                                     const v1::ListHolidaysRequest& request,
                                                     v1::ListHolidaysResponse* response) {
  PM_ASSIGN_OR_RETURN(DateRange range, MakeDateRange(request.from_date(), request.to_date(), 3660,
                                                     "from_date", "to_date"));
  PM_ASSIGN_OR_RETURN(std::vector<Holiday> holidays, store_->ListHolidays(range.from, range.to));
  for (const Holiday& h : holidays) ToProto(h, response->add_holidays());
  return absl::OkStatus();
}

absl::Status PlanningServiceImpl::HandleDeleteHoliday(runtime::CallContext& call,
                                                      const v1::DeleteHolidayRequest& request,
                                                      v1::DeleteHolidayResponse* response) {
  std::optional<absl::CivilDay> date = ParseDate(request.date());
  if (!date) return runtime::InvalidField("date", DateViolation(request.date()));
  return CreateAndAnswer<v1::DeleteHolidayResponse, Holiday>(
      Context(call, request), response,
      [](const Holiday& h, v1::DeleteHolidayResponse* r) { ToProto(h, r->mutable_holiday()); },
      [&](const ChangeContext& c, const ResponseEncoder<Holiday>& e) {
        return store_->DeleteHoliday(*date, c, e);
      });
}

absl::Status PlanningServiceImpl::HandleCreateMaintenanceWindow(
    runtime::CallContext& call, const v1::CreateMaintenanceWindowRequest& request,
    v1::CreateMaintenanceWindowResponse* response) {
  const MaintenanceWindow window = FromProto(request.maintenance_window());
  PM_RETURN_IF_ERROR(ValidateMaintenance(window));
  return CreateAndAnswer<v1::CreateMaintenanceWindowResponse, MaintenanceWindow>(
      Context(call, request), response,
      [](const MaintenanceWindow& w, v1::CreateMaintenanceWindowResponse* r) {
        ToProto(w, r->mutable_maintenance_window());
      },
      [&](const ChangeContext& c, const ResponseEncoder<MaintenanceWindow>& e) {
        return store_->CreateMaintenanceWindow(window, c, e);
      });
}

absl::Status PlanningServiceImpl::HandleListMaintenanceWindows(
    runtime::CallContext& call, const v1::ListMaintenanceWindowsRequest& request,
    v1::ListMaintenanceWindowsResponse* response) {
  const absl::Time from = FromProto(request.start_time());
  const absl::Time to = FromProto(request.end_time());
  runtime::Violations v;
  PM_RETURN_IF_ERROR(v.Take(CheckTimeRange(from, to, kMaxPlannedTimeRange)));
  PM_RETURN_IF_ERROR(v.Take(CheckLineFilter(request.line_id(), "line_id")));
  return runtime::ServeWholeListPage(
      request, "ListMaintenanceWindows",
      runtime::FilterFingerprint().AddText(request.line_id()).AddTime(from).AddTime(to),
      deps_.config, [&] { return store_->ListMaintenanceWindows(request.line_id(), from, to); },
      [](const MaintenanceWindow& w) {
        return absl::StrCat(runtime::OrderedNumberKey(absl::ToUnixMicros(w.start)),
                            runtime::OrderedNumberKey(w.id));
      },
      response, response->mutable_maintenance_windows(), v.ToStatus());
}

absl::Status PlanningServiceImpl::HandleDeleteMaintenanceWindow(
    runtime::CallContext& call, const v1::DeleteMaintenanceWindowRequest& request,
    v1::DeleteMaintenanceWindowResponse* response) {
  PM_ASSIGN_OR_RETURN(int64_t id, ParseId(request.id(), "id"));
  return CreateAndAnswer<v1::DeleteMaintenanceWindowResponse, MaintenanceWindow>(
      Context(call, request), response,
      [](const MaintenanceWindow& w, v1::DeleteMaintenanceWindowResponse* r) {
        ToProto(w, r->mutable_maintenance_window());
      },
      [&](const ChangeContext& c, const ResponseEncoder<MaintenanceWindow>& e) {
        return store_->DeleteMaintenanceWindow(id, c, e);
      });
}

absl::Status PlanningServiceImpl::HandleGetPlannedTime(runtime::CallContext& call,
                                                       const v1::GetPlannedTimeRequest& request,
                                                       v1::GetPlannedTimeResponse* response) {
  const absl::Time from = FromProto(request.start_time());
  const absl::Time to = FromProto(request.end_time());
  PM_RETURN_IF_ERROR(CheckTimeRange(from, to, kMaxPlannedTimeRange));
  PM_ASSIGN_OR_RETURN(LineCalendar calendar, CalendarOf(request.line_id(), "line_id", from, to));
  const PlannedTime t = calendar.PlannedTimeIn(from, to);
  // Whole seconds that add up, each shift's as ListShifts gives it (PlannedTime).
  response->set_shift_seconds(absl::ToInt64Seconds(t.shift));
  response->set_break_seconds(absl::ToInt64Seconds(t.breaks));
  response->set_maintenance_seconds(absl::ToInt64Seconds(t.maintenance));
  response->set_planned_seconds(absl::ToInt64Seconds(t.planned));
  response->set_shift_count(t.shift_count);
  return absl::OkStatus();
}

absl::Status PlanningServiceImpl::HandleGetShiftAt(runtime::CallContext& call,
                                                   const v1::GetShiftAtRequest& request,
                                                   v1::GetShiftAtResponse* response) {
  if (!request.has_time()) return runtime::InvalidField("time", "required");
  const absl::Time t = FromProto(request.time());
  if (!InPlantRange(t)) return runtime::InvalidField("time", kTimeRule);
  PM_ASSIGN_OR_RETURN(LineCalendar calendar,
                      CalendarOf(request.line_id(), "line_id", t, t + absl::Seconds(1)));
  std::optional<ShiftInstance> shift = calendar.ShiftAt(t);
  if (!shift) {
    return runtime::WithErrorInfo(
        absl::NotFoundError(
            absl::StrCat("no shift of line ", request.line_id(), " is running at that time")),
        "NO_SHIFT", {{"line_id", request.line_id()}});
  }
  ToProto(*shift, calendar.PlannedTimeOf(*shift), response->mutable_shift());
  return absl::OkStatus();
}

absl::Status PlanningServiceImpl::HandleListShifts(runtime::CallContext& call,
                                                   const v1::ListShiftsRequest& request,
                                                   v1::ListShiftsResponse* response) {
  const absl::Time from = FromProto(request.start_time());
  const absl::Time to = FromProto(request.end_time());
  PM_RETURN_IF_ERROR(CheckTimeRange(from, to, kMaxShiftListRange));
  PM_ASSIGN_OR_RETURN(LineCalendar calendar, CalendarOf(request.line_id(), "line_id", from, to));
  for (const ShiftInstance& shift : calendar.ShiftsIn(from, to)) {
    ToProto(shift, calendar.PlannedTimeOf(shift), response->add_shifts());
  }
  return absl::OkStatus();
}

// ---- plans ----

absl::Status PlanningServiceImpl::HandleCreateProductionPlan(
    runtime::CallContext& call, const v1::CreateProductionPlanRequest& request,
    v1::CreateProductionPlanResponse* response) {
  const v1::ProductionPlan& in = request.plan();
  // Every wrong field of the request in one answer, before the calendar is read.
  runtime::Violations v;
  if (!in.id().empty() || in.status() != v1::PLAN_STATUS_UNSPECIFIED || in.revision() != 0 ||
      !in.etag().empty()) {
    v.Add("plan", "output-only fields (id, status, revision, etag) must be empty on create");
  }
  if (!ParseShiftId(in.shift_id())) v.Add("plan.shift_id", ShiftIdViolation(in.shift_id()));
  std::vector<PlanItem> items = FromProto(in.items());
  PM_ASSIGN_OR_RETURN(ProductLines lines_of, CheckItems(items, "plan.items", v));
  PM_RETURN_IF_ERROR(v.ToStatus());
  absl::Duration planned;
  PM_ASSIGN_OR_RETURN(ShiftInstance shift, WorkedShift(in.line_id(), "plan.line_id", in.shift_id(),
                                                       "plan.shift_id", &planned));
  PM_RETURN_IF_ERROR(CheckItemsMadeOnLine(items, "plan.items", in.line_id(), lines_of));
  PM_RETURN_IF_ERROR(
      CheckItemsFitShift(items, "plan.items", in.line_id(), lines_of, in.shift_id(), planned));
  v1::CreateProductionPlanRequest kept = request;
  SortBySequence(kept.mutable_plan()->mutable_items());
  const ChangeContext context = Context(call, kept);
  const Plan draft = NewPlan(in.line_id(), shift, std::move(items), call.identity, context.now);
  return CreateAndAnswer<v1::CreateProductionPlanResponse, Plan>(
      context, response,
      [](const Plan& p, v1::CreateProductionPlanResponse* r) { ToProto(p, r->mutable_plan()); },
      [&](const ChangeContext& c, const ResponseEncoder<Plan>& e) {
        return store_->CreatePlan(draft, c, e);
      });
}

absl::Status PlanningServiceImpl::HandleGetProductionPlan(
    runtime::CallContext& call, const v1::GetProductionPlanRequest& request,
    v1::GetProductionPlanResponse* response) {
  PM_ASSIGN_OR_RETURN(int64_t id, ParseId(request.id(), "id"));
  PM_ASSIGN_OR_RETURN(Plan plan, store_->GetPlan(id));
  ToProto(plan, response->mutable_plan());
  return absl::OkStatus();
}

absl::Status PlanningServiceImpl::HandleListProductionPlans(
    runtime::CallContext& call, const v1::ListProductionPlansRequest& request,
    v1::ListProductionPlansResponse* response) {
  runtime::Violations v;
  PlanQuery query;
  query.line_id = request.line_id();
  for (int i = 0; i < request.statuses_size(); ++i) {
    const int s = request.statuses(i);
    if (s < 1 || s > 4) {
      // The element, as every violation names it (outside testing: 0 named the list).
      v.Add(absl::StrCat("statuses[", i, "]"), absl::StrCat("unknown plan status ", s));
    } else {
      query.statuses.push_back(static_cast<PlanStatus>(s));
    }
  }
  if (!request.from_date().empty()) {
    query.from_date = ParseDate(request.from_date());
    if (!query.from_date) v.Add("from_date", DateViolation(request.from_date()));
  }
  if (!request.to_date().empty()) {
    query.to_date = ParseDate(request.to_date());
    if (!query.to_date) v.Add("to_date", DateViolation(request.to_date()));
  }
  if (query.from_date && query.to_date && *query.to_date < *query.from_date) {
    v.Add("to_date", "must not be before from_date");  // as every date range of planning
  }
  query.page_size = runtime::PageSizeOr(v, request.page_size(), 100, 1000);
  const std::string fingerprint = PlansFingerprint(request);
  if (!request.page_token().empty()) {
    std::optional<runtime::PageCursor> cursor =
        runtime::DecodePageToken(request.page_token(), fingerprint, "ListProductionPlans", v);
    if (cursor) query.after = std::make_pair(cursor->sort_time, cursor->id);
  }
  PM_RETURN_IF_ERROR(v.ToStatus());
  PM_RETURN_IF_ERROR(CheckLineFilter(request.line_id(), "line_id"));
  PM_ASSIGN_OR_RETURN(PlanPage page, store_->ListPlans(query));
  for (const Plan& plan : page.plans) ToProto(plan, response->add_plans());
  runtime::EndPage(response, response->mutable_plans(), page.plans.size(), page.more, deps_.config,
                   [&](size_t i) {
                     return runtime::EncodePageToken({page.plans[i].shift_start, page.plans[i].id},
                                                     fingerprint, "ListProductionPlans");
                   });
  return absl::OkStatus();
}

absl::Status PlanningServiceImpl::HandleUpdateProductionPlan(
    runtime::CallContext& call, const v1::UpdateProductionPlanRequest& request,
    v1::UpdateProductionPlanResponse* response) {
  runtime::Violations v;
  const absl::StatusOr<int64_t> parsed_id = ParseId(request.id(), "id");
  PM_RETURN_IF_ERROR(v.Take(parsed_id.status()));
  kPlanEtag.CheckForm(v, "etag", request.etag(), /*required=*/true);
  std::vector<PlanItem> items = FromProto(request.items());
  PM_ASSIGN_OR_RETURN(ProductLines lines_of, CheckItems(items, "items", v));
  PM_RETURN_IF_ERROR(v.ToStatus());
  const int64_t id = *parsed_id;
  PM_RETURN_IF_ERROR(CheckItemsFitPlansShift(id, items, "items", lines_of));
  v1::UpdateProductionPlanRequest kept = request;
  SortBySequence(kept.mutable_items());
  const ChangeContext context = Context(call, kept);
  auto fill = [](const Plan& p, v1::UpdateProductionPlanResponse* r) {
    ToProto(p, r->mutable_plan());
  };
  PM_ASSIGN_OR_RETURN(
      Replayable<Plan> answer,
      store_->MutatePlan(
          id, context,
          [&](const Plan& current) -> absl::StatusOr<PlanChange> {
            PM_RETURN_IF_ERROR(CheckEtag(current, request.etag(), /*required=*/true));
            PM_RETURN_IF_ERROR(CheckItemsMadeOnLine(items, "items", current.line_id, lines_of));
            return UpdateDraft(current, items, context.actor(), context.now);
          },
          nullptr, EncoderOf<v1::UpdateProductionPlanResponse, Plan>(fill)));
  return Answer(answer, response, [&](const Plan& p) { fill(p, response); });
}

absl::Status PlanningServiceImpl::HandleReviseProductionPlan(
    runtime::CallContext& call, const v1::ReviseProductionPlanRequest& request,
    v1::ReviseProductionPlanResponse* response) {
  runtime::Violations v;
  const absl::StatusOr<int64_t> parsed_id = ParseId(request.id(), "id");
  PM_RETURN_IF_ERROR(v.Take(parsed_id.status()));
  kPlanEtag.CheckForm(v, "etag", request.etag(), /*required=*/true);
  if (request.reason().empty()) v.Add("reason", "required: say why the plan changes");
  std::vector<PlanItem> items = FromProto(request.items());
  PM_ASSIGN_OR_RETURN(ProductLines lines_of, CheckItems(items, "items", v));
  PM_RETURN_IF_ERROR(v.ToStatus());
  const int64_t id = *parsed_id;
  PM_RETURN_IF_ERROR(CheckItemsFitPlansShift(id, items, "items", lines_of));
  v1::ReviseProductionPlanRequest kept = request;
  SortBySequence(kept.mutable_items());
  const ChangeContext context = Context(call, kept);
  auto fill = [](const Plan& p, v1::ReviseProductionPlanResponse* r) {
    ToProto(p, r->mutable_plan());
  };
  const absl::Time when = TruncateToMicros(context.now);
  PM_ASSIGN_OR_RETURN(
      Replayable<Plan> answer,
      store_->MutatePlan(
          id, context,
          [&](const Plan& current) -> absl::StatusOr<PlanChange> {
            PM_RETURN_IF_ERROR(CheckEtag(current, request.etag(), /*required=*/true));
            PM_RETURN_IF_ERROR(CheckItemsMadeOnLine(items, "items", current.line_id, lines_of));
            return Revise(current, items, request.reason(), context.actor(), context.now);
          },
          [when](const PlanChange& change) { return PlanRevisedEvent(change, when); },
          EncoderOf<v1::ReviseProductionPlanResponse, Plan>(fill)));
  EventsCommitted();
  return Answer(answer, response, [&](const Plan& p) { fill(p, response); });
}

absl::Status PlanningServiceImpl::Move(runtime::CallContext& call,
                                       const google::protobuf::Message& request,
                                       const std::string& id_text, const std::string& etag,
                                       PlanTransition transition,
                                       google::protobuf::Message* response,
                                       v1::ProductionPlan* out) {
  runtime::Violations v;
  const absl::StatusOr<int64_t> parsed_id = ParseId(id_text, "id");
  PM_RETURN_IF_ERROR(v.Take(parsed_id.status()));
  kPlanEtag.CheckForm(v, "etag", etag, /*required=*/false);
  PM_RETURN_IF_ERROR(v.ToStatus());
  const int64_t id = *parsed_id;
  // Before the transaction, as the items' own check is (a draft changes only by calls that
  // check it again).
  if (transition == PlanTransition::kPublish) PM_RETURN_IF_ERROR(CheckPlanStillFitsShift(id));
  const ChangeContext context = Context(call, request);
  const absl::Time when = TruncateToMicros(context.now);
  // `out` is part of `response`: the recorded answer is the whole response.
  const ResponseEncoder<Plan> encode = [&](const Plan& after) {
    ToProto(after, out);
    return response->SerializeAsString();
  };
  PM_ASSIGN_OR_RETURN(Replayable<Plan> answer,
                      store_->MutatePlan(
                          id, context,
                          [&](const Plan& current) -> absl::StatusOr<PlanChange> {
                            PM_RETURN_IF_ERROR(CheckEtag(current, etag, /*required=*/false));
                            return planning::Move(current, transition, context.actor(),
                                                  context.now);
                          },
                          [when, transition](const PlanChange& change) {
                            return PlanEvent(change, transition, when);
                          },
                          encode));
  EventsCommitted();
  return Answer(answer, response, [&](const Plan& p) {
    out->Clear();
    ToProto(p, out);
  });
}

absl::Status PlanningServiceImpl::HandlePublishProductionPlan(
    runtime::CallContext& call, const v1::PublishProductionPlanRequest& request,
    v1::PublishProductionPlanResponse* response) {
  return Move(call, request, request.id(), request.etag(), PlanTransition::kPublish, response,
              response->mutable_plan());
}

absl::Status PlanningServiceImpl::HandleStartProductionPlan(
    runtime::CallContext& call, const v1::StartProductionPlanRequest& request,
    v1::StartProductionPlanResponse* response) {
  return Move(call, request, request.id(), request.etag(), PlanTransition::kStart, response,
              response->mutable_plan());
}

absl::Status PlanningServiceImpl::HandleCloseProductionPlan(
    runtime::CallContext& call, const v1::CloseProductionPlanRequest& request,
    v1::CloseProductionPlanResponse* response) {
  return Move(call, request, request.id(), request.etag(), PlanTransition::kClose, response,
              response->mutable_plan());
}

absl::Status PlanningServiceImpl::HandleListPlanRevisions(
    runtime::CallContext& call, const v1::ListPlanRevisionsRequest& request,
    v1::ListPlanRevisionsResponse* response) {
  const absl::StatusOr<int64_t> id = ParseId(request.id(), "id");
  return runtime::ServeNumberedPage(
      request, "ListPlanRevisions",
      runtime::FilterFingerprint().AddRaw(id.ok() ? absl::StrCat(*id) : request.id()), deps_.config,
      [&](int64_t after, size_t limit) { return store_->ListRevisions(*id, after, limit); },
      [](const PlanRevision& r) { return r.revision; }, response, response->mutable_revisions(),
      id.status());
}

// ---- actuals ----

absl::Status PlanningServiceImpl::HandleRecordOutput(runtime::CallContext& call,
                                                     const v1::RecordOutputRequest& request,
                                                     v1::RecordOutputResponse* response) {
  if (request.request_id().empty()) {
    return runtime::InvalidField("request_id", "required: it makes a retry record nothing twice");
  }
  OutputRecord output = FromProto(request.output());
  PM_RETURN_IF_ERROR(ValidateOutput(output));
  PM_ASSIGN_OR_RETURN(ShiftInstance shift, WorkedShift(output.line_id, "output.line_id",
                                                       output.shift_id, "output.shift_id"));
  PM_RETURN_IF_ERROR(RequireShiftStarted(shift, deps_.now(), "output.shift_id"));
  PM_ASSIGN_OR_RETURN(std::optional<Product> product, store_->FindProduct(output.product_id));
  if (!product) return UnknownReference("output.product_id", "product", output.product_id);
  PM_RETURN_IF_ERROR(CheckMadeOnLine(*product, output.line_id, "output.product_id"));
  const ChangeContext context = Context(call, request);
  output.shift_date = shift.date;
  output.recorded_by = call.identity;
  output.record_time = context.now;
  auto fill = [](const OutputRecord& o, v1::RecordOutputResponse* r) {
    ToProto(o, r->mutable_output());
  };
  PM_ASSIGN_OR_RETURN(
      Replayable<OutputRecord> answer,
      store_->RecordOutput(output, context, &OutputEvent,
                           EncoderOf<v1::RecordOutputResponse, OutputRecord>(fill)));
  EventsCommitted();
  return Answer(answer, response, [&](const OutputRecord& o) { fill(o, response); });
}

absl::Status PlanningServiceImpl::HandleRecordDowntime(runtime::CallContext& call,
                                                       const v1::RecordDowntimeRequest& request,
                                                       v1::RecordDowntimeResponse* response) {
  if (request.request_id().empty()) {
    return runtime::InvalidField("request_id", "required: it makes a retry record nothing twice");
  }
  DowntimeEntry entry = FromProto(request.downtime());
  // What the request says alone, every wrong field at once; its duration's upper bound
  // (the shift's length) once the shift is read.
  runtime::Violations v;
  if (!ParseShiftId(entry.shift_id)) v.Add("downtime.shift_id", ShiftIdViolation(entry.shift_id));
  if (entry.duration_minutes < 1) {
    v.Add("downtime.duration_minutes", "must be 1 or more (at most the shift's length)");
  }
  PM_RETURN_IF_ERROR(v.ToStatus());
  PM_ASSIGN_OR_RETURN(ShiftInstance shift, WorkedShift(entry.line_id, "downtime.line_id",
                                                       entry.shift_id, "downtime.shift_id"));
  PM_RETURN_IF_ERROR(ValidateDowntime(entry, shift));
  PM_RETURN_IF_ERROR(RequireShiftStarted(shift, deps_.now(), "downtime.shift_id"));
  const ChangeContext context = Context(call, request);
  entry.shift_date = shift.date;
  entry.recorded_by = call.identity;
  entry.record_time = context.now;
  auto fill = [](const DowntimeEntry& d, v1::RecordDowntimeResponse* r) {
    ToProto(d, r->mutable_downtime());
  };
  PM_ASSIGN_OR_RETURN(
      Replayable<DowntimeEntry> answer,
      store_->RecordDowntime(
          entry, context,
          [&](int64_t recorded) { return AdmitDowntime(entry, shift, recorded, context.now); },
          &DowntimeEvent, EncoderOf<v1::RecordDowntimeResponse, DowntimeEntry>(fill)));
  EventsCommitted();
  return Answer(answer, response, [&](const DowntimeEntry& d) { fill(d, response); });
}

absl::Status PlanningServiceImpl::HandleGetPlanVsActual(runtime::CallContext& call,
                                                        const v1::GetPlanVsActualRequest& request,
                                                        v1::GetPlanVsActualResponse* response) {
  PM_ASSIGN_OR_RETURN(DateRange range, MakeDateRange(request.from_date(), request.to_date(), 92,
                                                     "from_date", "to_date"));
  PM_RETURN_IF_ERROR(CheckLineFilter(request.line_id(), "line_id"));
  PM_ASSIGN_OR_RETURN(ActualsFacts facts,
                      store_->ActualsOf(request.line_id(), range.from, range.to));
  PM_ASSIGN_OR_RETURN(std::vector<Line> lines, store_->ListLines(""));
  PM_ASSIGN_OR_RETURN(std::vector<ShiftPattern> patterns, store_->ListShiftPatterns());
  const PlanVsActual result = ComparePlanToActual(facts.plans, facts.outputs, facts.downtimes,
                                                  ShiftStartsOf(lines, patterns));
  for (const PlanVsActualRow& r : result.rows) {
    v1::PlanVsActualRow* row = response->add_rows();
    row->set_line_id(r.line_id);
    row->set_shift_id(r.shift_id);
    row->set_product_id(r.product_id);
    row->set_planned(r.planned);
    row->set_actual(r.actual);
    row->set_marked(r.marked);
    row->set_scrapped(r.scrapped);
    row->set_attainment_percent(r.attainment_percent);
    row->set_scrap_percent(r.scrap_percent);
  }
  for (const ShiftDowntime& d : result.downtimes) {
    v1::ShiftDowntime* out = response->add_downtimes();
    out->set_line_id(d.line_id);
    out->set_shift_id(d.shift_id);
    out->set_downtime_minutes(d.minutes);
    for (const auto& [reason, minutes] : d.by_reason) {
      v1::ReasonMinutes* r = out->add_by_reason();
      r->set_reason_code(reason);
      r->set_minutes(minutes);
    }
  }
  return absl::OkStatus();
}

}  // namespace plantmesh::planning
