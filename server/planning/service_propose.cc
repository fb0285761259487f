// ProposePlan: the request checked against the plant model, the horizon's shifts from
// the lines' calendars, its demand from the request or the service's forecast, the
// lot-sizing solve (propose/lot_sizing.h) and, with create_drafts, the proposal stored as
// draft plans in one transaction. The handler runs on the runtime's executor, as every
// handler does; the solve blocks it up to the time limit.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "plantmesh/common/status_macros.h"
#include "server/planning/config.h"
#include "server/planning/convert.h"
#include "server/planning/demand.h"
#include "server/planning/domain.h"
#include "server/planning/proposal.h"
#include "server/planning/propose/lot_sizing.h"
#include "server/planning/service.h"
#include "server/planning/solve_gate.h"
#include "server/runtime/errors.h"
#include "server/runtime/executor.h"
#include "server/runtime/page_fit.h"
#include "server/runtime/replay_answer.h"

namespace plantmesh::planning {

// A proposed shift becomes a draft plan: the model's limits are the plan's.
static_assert(propose::kMaxRunUnits == kMaxQuantity &&
              propose::kMaxRunsPerShift == static_cast<int>(kMaxPlanItems));
namespace {

constexpr int kMaxProposeLines = 100;
constexpr int kMaxProposeProducts = 1000;
constexpr int kMaxProposeShifts = 100;
constexpr int kMaxProposeDemandRecords = 100'000;
constexpr int64_t kMaxUnits = 1'000'000'000;
constexpr absl::Duration kMaxProposeRange = absl::Hours(24 * 31);
// How far ahead a shift_count horizon looks for the lines' shifts: 93 days, and up to a
// year for a line that has fewer worked shifts in them (one shift a week, long holidays).
// A line with fewer still is refused, naming shift_count (outside testing: a Mondays-only
// line asked for 20 shifts got 14 without a word).
constexpr absl::Duration kShiftSearchRange = absl::Hours(24 * 93);
constexpr absl::Duration kLongShiftSearchRange = absl::Hours(24 * 366);
// Time kept for the answer when the call's deadline bounds the solve.
constexpr absl::Duration kAnswerReserve = absl::Milliseconds(500);
// The most (line, product, shift) triples a proposal plans: the model, and the memory of its
// solve, grow with them (outside testing: 20 lines × 200 products × 100 shifts took 5 GB).
// The time limit holds whatever the size (a CBC run still going past it is killed,
// propose/solver_process.h), but a model above this bound would rarely get past its start
// plan in that time.
constexpr int64_t kMaxProposeLineProductShifts = 50'000;

v1::ShortfallReason ReasonToProto(propose::ShortfallReason reason) {
  switch (reason) {
    case propose::ShortfallReason::kNoLine:
      return v1::SHORTFALL_REASON_NO_LINE;
    case propose::ShortfallReason::kBeforeFirstShift:
      return v1::SHORTFALL_REASON_BEFORE_FIRST_SHIFT;
    case propose::ShortfallReason::kCapacity:
      return v1::SHORTFALL_REASON_CAPACITY;
    case propose::ShortfallReason::kPriority:
      return v1::SHORTFALL_REASON_PRIORITY;
  }
  return v1::SHORTFALL_REASON_UNSPECIFIED;
}

v1::SolveStatus StatusToProto(propose::SolveStatus status) {
  switch (status) {
    case propose::SolveStatus::kOptimal:
      return v1::SOLVE_STATUS_OPTIMAL;
    case propose::SolveStatus::kTimeLimit:
      return v1::SOLVE_STATUS_TIME_LIMIT;
    case propose::SolveStatus::kNodeLimit:
      return v1::SOLVE_STATUS_NODE_LIMIT;
  }
  return v1::SOLVE_STATUS_UNSPECIFIED;
}

// Whether `id` names one of `known`; if not, a violation of `field`: "required" when it
// says nothing (runtime::RequireText), else "unknown <kind> '<id>'" (outside testing: an
// empty demand record's product was "unknown product ''" here and "required" in
// ImportDemand).
bool IsKnownId(runtime::Violations& v, std::string field, absl::string_view kind,
               const std::string& id, const std::set<std::string>& known) {
  if (known.count(id) > 0) return true;
  if (!runtime::RequireText(v, field, id)) return false;
  v.Add(std::move(field), absl::StrCat("unknown ", kind, " ", runtime::QuoteForMessage(id)));
  return false;
}

// Ids given at most `max` times, each once and known; violations name `field[i]`.
void CheckIds(const google::protobuf::RepeatedPtrField<std::string>& ids, const std::string& field,
              int max, const std::set<std::string>& known, absl::string_view kind,
              runtime::Violations& v) {
  if (ids.size() > max) {
    v.Add(field, absl::StrCat("at most ", max, " ids"));
    return;
  }
  std::set<std::string> seen;
  for (int i = 0; i < ids.size(); ++i) {
    const std::string at = absl::StrCat(field, "[", i, "]");
    if (IsKnownId(v, at, kind, ids[i], known) && !seen.insert(ids[i]).second) {
      v.Add(at, "given twice");
    }
  }
}

// A demand record's quantity as a request may give it: finite, 0 to kMaxUnits.
bool IsDemandQuantity(double quantity) {
  return std::isfinite(quantity) && quantity >= 0 && quantity <= static_cast<double>(kMaxUnits);
}

// What the request's demand records and stock say alone (dates, quantities), beside the
// request's other fields: one answer names every wrong field (outside testing: a demand
// record of -1 was named only after time_limit_seconds or a stock quantity was fixed).
void CheckQuantities(const v1::ProposePlanRequest& request, runtime::Violations& v) {
  for (int i = 0; i < request.demand_size(); ++i) {
    const v1::DemandRecord& r = request.demand(i);
    const std::string at = absl::StrCat("demand[", i, "]");
    if (!ParseDate(r.date())) v.Add(at + ".date", DateViolation(r.date()));
    // As ImportDemand says it (outside testing: NaN was told "must be 0-1000000000").
    if (!std::isfinite(r.quantity())) {
      v.Add(at + ".quantity", "must be finite");
    } else if (!IsDemandQuantity(r.quantity())) {
      v.Add(at + ".quantity", "must be 0-1000000000");
    }
  }
  for (int i = 0; i < request.stock_on_hand_size(); ++i) {
    const int64_t quantity = request.stock_on_hand(i).quantity();
    if (quantity < 0 || quantity > kMaxUnits) {
      v.Add(absl::StrCat("stock_on_hand[", i, "].quantity"), "must be 0-1000000000");
    }
  }
}

// The request's demand records against the plant model: whole units by product and day.
std::map<std::pair<std::string, absl::CivilDay>, int64_t> RequestDemand(
    const v1::ProposePlanRequest& request, const std::set<std::string>& known,
    const std::set<std::string>& named, runtime::Violations& v) {
  std::map<std::pair<std::string, absl::CivilDay>, int64_t> out;
  if (request.demand_size() > kMaxProposeDemandRecords) return out;  // refused as too many
  for (int i = 0; i < request.demand_size(); ++i) {
    const v1::DemandRecord& r = request.demand(i);
    const std::string at = absl::StrCat("demand[", i, "]");
    if (IsKnownId(v, at + ".product_id", "product", r.product_id(), known) && !named.empty() &&
        named.count(r.product_id()) == 0) {
      v.Add(at + ".product_id", "not among product_ids");
    }
    // (A record CheckQuantities refused is not counted.)
    const std::optional<absl::CivilDay> day = ParseDate(r.date());
    if (day && IsDemandQuantity(r.quantity()) &&
        !out.emplace(std::make_pair(r.product_id(), *day), std::llround(r.quantity())).second) {
      v.Add(at + ".date", "a second record for this product and day");
    }
  }
  return out;
}

void ShortfallToProto(const propose::Shortfall& s, absl::Time due, v1::UnmetDemand* out) {
  out->set_product_id(s.product_id);
  ToProto(due, out->mutable_due_time());
  out->set_quantity(s.quantity);
  out->set_reason(ReasonToProto(s.reason));
  out->set_explanation(s.explanation);
}

// A day's demand as a proposal takes it: whole units within 0..kMaxDemandQuantity. A
// forecast's trend may run past what any history held (and history stored before the
// import's bound may hold more): what a request could not ask for is planned at the
// bound, never refused as the service's own fault nor wrapped around.
int64_t PlannableDemand(double quantity) {
  if (!(quantity > 0)) return 0;  // NaN too
  return std::llround(std::min(quantity, kMaxDemandQuantity));
}

}  // namespace

absl::StatusOr<std::vector<DayDemand>> PlanningServiceImpl::ForecastHorizonDemand(
    const runtime::CallContext& call, const std::vector<std::string>& named,
    const std::vector<absl::CivilDay>& days, std::map<std::string, std::string>* not_forecast) {
  std::vector<DayDemand> out;
  // Records dated after the horizon play no part (a record dated years ahead once made
  // every horizon day "history" of 0, and left nothing before it to forecast from).
  const absl::CivilDay through = days.empty() ? kLastPlantDay : days.back();
  PM_ASSIGN_OR_RETURN(std::vector<ProductDemandHistory> histories,
                      store_->DemandHistory(named, forecast::kMaxHistoryDays, through));
  for (const std::string& id : named) {
    const bool has = std::any_of(histories.begin(), histories.end(),
                                 [&](const ProductDemandHistory& h) { return h.product_id == id; });
    if (!has) {
      return DemandHistoryInsufficient(
          id, " has no demand history to forecast: import some, or give demand");
    }
  }
  if (days.empty()) return out;
  // A horizon day with an imported record takes it as it is; every other day takes the
  // forecast of the history before the horizon's first day, and before today: a record
  // from today on is demand to come, and as history it ended the series there, the days
  // before it counted as zero demand (outside testing: one order two weeks ahead made a
  // product's forecast 0 and nothing was planned).
  const absl::CivilDay history_until = std::min(days.front(), PlantToday());
  std::vector<ProductDemandHistory> to_forecast;
  std::map<std::string, std::set<absl::CivilDay>> to_forecast_days;
  int horizon_days = 0;
  for (const ProductDemandHistory& h : histories) {
    std::map<absl::CivilDay, double> by_day;
    for (const forecast::DemandObservation& o : h.days) by_day[o.day] = o.quantity;
    std::set<absl::CivilDay> missing;
    for (absl::CivilDay day : days) {
      auto it = by_day.find(day);
      if (it == by_day.end()) {
        missing.insert(day);
      } else {
        out.push_back({h.product_id, day, PlannableDemand(it->second), DemandOrigin::kHistory});
      }
    }
    if (missing.empty()) continue;
    ProductDemandHistory before{h.product_id, {}};
    for (const forecast::DemandObservation& o : h.days) {
      if (o.day < history_until) before.days.push_back(o);
    }
    if (before.days.empty()) {
      // With every product, one without history before the horizon has its imported days
      // planned and is named (outside testing: a firm order, its only record, was left
      // out without a word); a named product must be forecast.
      if (named.empty()) {
        (*not_forecast)[h.product_id] =
            absl::StrCat("no demand history before ", FormatDate(history_until),
                         history_until == days.front() ? " (the horizon's first day)" : " (today)",
                         " to forecast from");
        continue;
      }
      return DemandHistoryInsufficient(
          h.product_id,
          absl::StrCat(" has no demand history before ",
                       history_until == days.front() ? "the horizon's first day, " : "today, ",
                       FormatDate(history_until),
                       ", to forecast its days without imported demand (the first: ",
                       FormatDate(*missing.begin()), "): import history, or give demand"));
    }
    const absl::CivilDay history_end = before.days.back().day;
    const int64_t needed = *missing.rbegin() - history_end;
    if (needed > forecast::kMaxHorizonDays) {
      // With every product, a history that stopped long ago: the same.
      if (named.empty()) {
        (*not_forecast)[h.product_id] =
            absl::StrCat("its demand history ends on ", FormatDate(history_end), ", more than ",
                         forecast::kMaxHorizonDays, " days before the horizon's last day");
        continue;
      }
      return DemandHistoryInsufficient(
          h.product_id, absl::StrCat(": its demand history ends on ", FormatDate(history_end),
                                     ", more than ", forecast::kMaxHorizonDays,
                                     " days before the horizon's last day: import newer demand"));
    }
    horizon_days = std::max(horizon_days, static_cast<int>(needed));
    to_forecast_days[h.product_id] = std::move(missing);
    to_forecast.push_back(std::move(before));
  }
  if (to_forecast.empty()) return out;
  forecast::ForecastOptions options;
  options.horizon_days = horizon_days;
  runtime::Executor* executor = deps_.executor;
  std::function<void(std::function<void()>)> spawn;
  if (executor != nullptr) {
    spawn = [executor](std::function<void()> task) { executor->Continue(std::move(task)); };
  }
  const int helpers = std::clamp(static_cast<int>(std::thread::hardware_concurrency()) - 1, 0, 7);
  std::vector<ProductForecastResult> results =
      ForecastProducts(to_forecast, options, spawn, helpers, [&call] { return call.Cancelled(); });
  if (call.Cancelled()) return absl::CancelledError("proposal cancelled");
  for (const ProductForecastResult& result : results) {
    if (!result.forecast.ok()) {
      // As ForecastDemand: a named product must be forecast; with every product, one
      // that cannot be (under a week of history): the same.
      const absl::Status& why = result.forecast.status();
      if (!absl::IsFailedPrecondition(why)) return why;
      if (!named.empty()) {
        return DemandHistoryInsufficient(result.product_id, absl::StrCat(": ", why.message()));
      }
      (*not_forecast)[result.product_id] = std::string(why.message());
      continue;
    }
    const std::set<absl::CivilDay>& wanted = to_forecast_days.at(result.product_id);
    for (const forecast::ForecastDay& d : result.forecast->days) {
      if (wanted.count(d.day) == 0) continue;
      out.push_back(
          {result.product_id, d.day, PlannableDemand(d.quantity), DemandOrigin::kForecast});
    }
  }
  return out;
}

absl::Status PlanningServiceImpl::HandleProposePlan(runtime::CallContext& call,
                                                    const v1::ProposePlanRequest& request,
                                                    v1::ProposePlanResponse* response) {
  // ---- the request alone.
  runtime::Violations v;
  const absl::Time start = FromProto(request.start_time());
  if (!request.has_start_time()) {
    v.Add("start_time", "required");
  } else if (!InPlantRange(start)) {
    v.Add("start_time", kTimeRule);
  }
  const bool by_count = request.shift_count() != 0;
  const bool by_end = request.has_end_time();
  if (by_count == by_end) {
    v.Add("shift_count", "set exactly one of shift_count and end_time");
  } else if (by_count && (request.shift_count() < 1 || request.shift_count() > kMaxProposeShifts)) {
    v.Add("shift_count", absl::StrCat("must be 1-", kMaxProposeShifts));
  }
  const absl::Time end = by_end ? FromProto(request.end_time()) : start + kShiftSearchRange;
  if (by_end && !InPlantRange(end)) {
    v.Add("end_time", kTimeRule);
  } else if (by_end && request.has_start_time()) {
    if (end <= start) {
      v.Add("end_time", "must be after start_time");
    } else if (end - start > kMaxProposeRange) {
      v.Add("end_time", "at most 31 days after start_time");
    }
  }
  const int64_t max_limit = absl::ToInt64Seconds(propose_time_limit_);
  if (request.time_limit_seconds() < 0 || request.time_limit_seconds() > max_limit) {
    v.Add("time_limit_seconds",
          absl::StrCat("must be 0-", max_limit,
                       " (the server's [planning] propose-time-limit-seconds); 0: that limit"));
  }
  if (request.demand_size() > kMaxProposeDemandRecords) {
    v.Add("demand", absl::StrCat("at most ", kMaxProposeDemandRecords, " records"));
  } else {
    CheckQuantities(request, v);
  }

  // ---- against the plant model, in the same answer as the request's own faults. (Before
  // a retry is answered: lines and products are never deleted, so what passed here for the
  // first call passes for its retry.)
  PM_ASSIGN_OR_RETURN(std::vector<Line> all_lines, store_->ListLines(""));
  PM_ASSIGN_OR_RETURN(std::vector<Product> all_products, store_->ListProducts());
  std::set<std::string> line_ids, product_ids;
  for (const Line& l : all_lines) line_ids.insert(l.id);
  for (const Product& p : all_products) product_ids.insert(p.id);
  CheckIds(request.line_ids(), "line_ids", kMaxProposeLines, line_ids, "line", v);
  CheckIds(request.product_ids(), "product_ids", kMaxProposeProducts, product_ids, "product", v);
  std::map<std::string, int64_t> stock;
  for (int i = 0; i < request.stock_on_hand_size(); ++i) {
    const v1::StockOnHand& s = request.stock_on_hand(i);
    const std::string at = absl::StrCat("stock_on_hand[", i, "]");
    if (IsKnownId(v, at + ".product_id", "product", s.product_id(), product_ids) &&
        !stock.emplace(s.product_id(), s.quantity()).second) {
      v.Add(at + ".product_id", "given twice");
    }
  }
  const std::set<std::string> named(request.product_ids().begin(), request.product_ids().end());
  const auto given_demand = RequestDemand(request, product_ids, named, v);
  PM_RETURN_IF_ERROR(v.ToStatus());

  // ---- a retry of a call that stored its drafts: the first answer (or REQUEST_ID_REUSED)
  // at once, before the calendar and the products' times have moved on and before the
  // solver, which may be busy (outside testing: such a retry was refused SOLVER_BUSY while others
  // solved).
  if (request.create_drafts()) {
    PM_ASSIGN_OR_RETURN(std::optional<std::string> recorded,
                        store_->RecordedResponse(runtime::IdempotencyKeyOf(call, request)));
    if (recorded) {
      return runtime::Answer(Replayable<std::vector<Plan>>{std::nullopt, std::move(recorded)},
                             response, [](const std::vector<Plan>&) {});
    }
  }

  // ---- the horizon's shifts, line by line (by id).
  ProposalFacts facts;
  facts.zone = zone_;
  facts.start_time = start;
  const std::set<std::string> chosen(request.line_ids().begin(), request.line_ids().end());
  // Lines that can make any product to plan: their next shift after the horizon bounds
  // the days it covers (proposal.h).
  std::set<std::string> makers;
  for (const Product& p : all_products) {
    if (!named.empty() && named.count(p.id) == 0) continue;
    for (const LineCycleTime& c : p.cycle_times) makers.insert(c.line_id);
  }
  // How far each line's shifts are looked for: a shift_count horizon first looks 93 days
  // ahead, then a year for a line with fewer shifts in them.
  const std::vector<absl::Time> look_tos =
      by_end ? std::vector<absl::Time>{end + kShiftSearchRange / 3}
             : std::vector<absl::Time>{start + kShiftSearchRange, start + kLongShiftSearchRange};
  absl::Time cover = absl::InfiniteFuture();  // the first shift after a maker's horizon
  runtime::Violations too_few;                // lines with fewer worked shifts than shift_count
  for (const Line& line : all_lines) {
    if (!chosen.empty() && chosen.count(line.id) == 0) continue;
    facts.lines.push_back(line);
    for (const absl::Time look_to : look_tos) {
      PM_ASSIGN_OR_RETURN(LineCalendar calendar, CalendarOf(line.id, "line_ids", start, look_to));
      std::vector<HorizonShift> shifts;
      bool ended = false;         // the horizon ended before look_to
      bool calendar_end = false;  // ... at the plant calendar's last day
      for (const ShiftInstance& shift : calendar.ShiftsIn(start, look_to)) {
        // (A shift whose hours the clocks skip is not worked: the calendar leaves it out.)
        if (shift.start < start) continue;
        // A shift dated after the calendar's last day ends the horizon: no plan can be
        // made, recorded or read for it (outside testing: drafts for 9991-01-01 were
        // stored, and every other method refused their shift).
        const int taken = static_cast<int>(shifts.size());
        calendar_end = shift.date > kLastPlantDay;
        if ((by_end && shift.end > end) || (by_count && taken == request.shift_count()) ||
            calendar_end) {
          if (makers.count(line.id) > 0) cover = std::min(cover, shift.end);
          ended = true;
          break;
        }
        shifts.push_back({line.id, shift, calendar.PlannedTimeOf(shift)});
      }
      // The calendar has no shift past its last day: the horizon ends there too.
      if (!ended && absl::ToCivilDay(look_to, zone_) > kLastPlantDay) {
        ended = calendar_end = true;
      }
      // All shift_count shifts, and none after them before look_to: the next one ends
      // after look_to (re-test: exactly the shifts a year holds was refused as too few).
      if (!ended && by_count && static_cast<int>(shifts.size()) == request.shift_count()) {
        if (makers.count(line.id) > 0) cover = std::min(cover, look_to);
        ended = true;
      }
      if (ended || look_to == look_tos.back()) {
        // Fewer than asked for: refused, never cut without a word (outside testing: a
        // Mondays-only line's 20 shifts were 14), also at the calendar's last day.
        if (by_count && static_cast<int>(shifts.size()) < request.shift_count() &&
            !shifts.empty() && makers.count(line.id) > 0) {
          too_few.Add("shift_count",
                      absl::StrCat("line ", line.id, " has ", shifts.size(), " worked shifts ",
                                   calendar_end ? absl::StrCat("before the plant calendar's end (",
                                                               FormatDate(kLastPlantDay), ")")
                                                : "in the 366 days from start_time",
                                   ", fewer than ", request.shift_count(), ": ask for at most ",
                                   shifts.size(), calendar_end ? "" : ", or give end_time"));
        }
        facts.shifts.insert(facts.shifts.end(), shifts.begin(), shifts.end());
        break;
      }
    }
  }
  PM_RETURN_IF_ERROR(too_few.ToStatus());
  if (cover == absl::InfiniteFuture()) cover = look_tos.front();
  if (call.Cancelled()) return absl::CancelledError("proposal cancelled");

  // ---- admitted before the forecast and the model, which cost as much as the solve
  // (solve_gate.h): a busy server refuses at once, not after forecasting.
  const GateAdmission admission(ProposalSolveGate());
  PM_RETURN_IF_ERROR(admission.status());

  // ---- the demand of the horizon's days.
  const std::vector<absl::CivilDay> days = DemandDays(zone_, start, cover);
  const std::set<absl::CivilDay> horizon_days(days.begin(), days.end());
  // Given demand the horizon does not plan for is said in the answer (outside testing: a
  // night shift's next-day delivery, left out by the horizon rule, answered OPTIMAL with
  // empty runs and no unmet demand, as if there were none).
  std::vector<DayDemand> outside_horizon;
  std::map<std::string, std::string> not_forecast;  // product -> why
  if (request.demand_size() > 0) {
    for (const auto& [key, quantity] : given_demand) {
      const DayDemand day{key.first, key.second, quantity, DemandOrigin::kRequest};
      if (horizon_days.count(key.second) > 0) {
        facts.demand.push_back(day);
      } else if (quantity > 0) {  // 0 units left out leave nothing out
        outside_horizon.push_back(day);
      }
    }
  } else {
    PM_ASSIGN_OR_RETURN(
        facts.demand,
        ForecastHorizonDemand(call, std::vector<std::string>(named.begin(), named.end()), days,
                              &not_forecast));
  }
  std::set<std::string> planned = named;
  if (planned.empty()) {
    for (const DayDemand& d : facts.demand) {
      if (d.quantity > 0) planned.insert(d.product_id);
    }
    if (planned.empty()) {
      // Which way the horizon missed the demand says what to change (outside testing:
      // demand before the first day was told a longer horizon plans for it; none does).
      std::map<std::string, std::string> metadata;
      std::string horizon;
      if (!days.empty()) {
        metadata = {{"horizon_first_day", FormatDate(days.front())},
                    {"horizon_last_day", FormatDate(days.back())}};
        horizon =
            absl::StrCat(" (", FormatDate(days.front()), " to ", FormatDate(days.back()), ")");
      }
      std::string outside;
      if (!outside_horizon.empty()) {
        const DayDemand& example = outside_horizon.front();
        const bool before = !days.empty() && example.day < days.front();
        // After it: a longer horizon where one may be asked for, else a later start
        // (re-test: shift_count 100 was told to ask for more).
        std::string after;
        if ((by_count && request.shift_count() < kMaxProposeShifts) ||
            (by_end && end - start < kMaxProposeRange)) {
          // Whether the lines' calendars let a longer horizon reach it is not known here
          // (re-test: a line's 53 shifts a year were its most, and "a longer horizon" could
          // not be asked for): a later start_time always does.
          after = absl::StrCat(
              "a later start_time plans for it, or a longer horizon if the "
              "lines work shifts up to that day (shift_count, at most ",
              kMaxProposeShifts,
              " shifts a line within 366 days; end_time, at most 31 days "
              "after start_time)");
        } else if (by_count) {
          after = absl::StrCat("a later start_time plans for it (", kMaxProposeShifts,
                               " shifts a line is the longest horizon)");
        } else {
          after = absl::StrCat("a later start_time (or shift_count, up to ", kMaxProposeShifts,
                               " shifts a line) plans for it");
        }
        outside = absl::StrCat(
            " (the demand given is dated on days this horizon does not plan for, e.g. ",
            example.product_id, " on ", FormatDate(example.day),
            before ? ", before its first day: an earlier start_time plans for it)"
                   : absl::StrCat(": ", after, ")"));
      }
      return runtime::WithErrorInfo(
          absl::FailedPreconditionError(absl::StrCat("no product has demand in the horizon's days",
                                                     horizon, ": nothing to propose", outside)),
          "NO_DEMAND_IN_HORIZON", metadata);
    }
  }
  for (const Product& p : all_products) {
    if (planned.count(p.id) > 0) facts.products.push_back(p);
  }
  facts.demand.erase(
      std::remove_if(facts.demand.begin(), facts.demand.end(),
                     [&](const DayDemand& d) { return planned.count(d.product_id) == 0; }),
      facts.demand.end());
  std::sort(facts.demand.begin(), facts.demand.end(), [](const DayDemand& a, const DayDemand& b) {
    return std::tie(a.product_id, a.day) < std::tie(b.product_id, b.day);
  });
  for (const auto& [id, quantity] : stock) {
    if (planned.count(id) > 0) facts.stock_on_hand[id] = quantity;
  }

  // ---- the solve, within the time limit and the call's deadline.
  absl::Duration limit = request.time_limit_seconds() > 0
                             ? absl::Seconds(request.time_limit_seconds())
                             : propose_time_limit_;
  const absl::Duration left = call.TimeLeft() - kAnswerReserve;
  if (left < limit) limit = std::max(left, absl::Milliseconds(100));
  PM_ASSIGN_OR_RETURN(ProposalModel model, BuildProposalModel(facts, limit));
  int64_t triples = 0;
  for (const propose::ProposalLine& line : model.input.lines) {
    triples += static_cast<int64_t>(line.products.size() * line.shifts.size());
  }
  // Outside testing: nine lines of staggered 4x6 h shifts over a month ended at 1,116
  // different times, and the model's own check refused it as INTERNAL.
  if (model.input.period_count > propose::kMaxPeriods) {
    const std::string why =
        absl::StrCat("the chosen lines' shifts end at ", model.input.period_count,
                     " different times in the horizon, more than ", propose::kMaxPeriods,
                     ": plan fewer shifts or lines at a time");
    v.Add(by_count ? "shift_count" : "end_time", why);
    v.Add("line_ids", why);
    return v.ToStatus();
  }
  if (triples > kMaxProposeLineProductShifts) {
    const std::string why = absl::StrCat(
        "the proposal would plan ", triples, " (line, product, shift) combinations, more than ",
        kMaxProposeLineProductShifts, ": plan fewer shifts, products or lines at a time");
    v.Add(by_count ? "shift_count" : "end_time", why);
    v.Add("product_ids", why);
    v.Add("line_ids", why);
    return v.ToStatus();
  }
  // An install without the solver program is this server's fault, not the caller's.
  if (!solver_program_.ok()) return absl::InternalError(solver_program_.status().message());
  model.input.solver.program = *solver_program_;
  // A cancelled call, or the end of the drain window, stops the solver at once (the slot
  // is free again within 20 ms) instead of at the time limit.
  model.input.solver.stop = [&call] { return call.Cancelled(); };
  absl::StatusOr<propose::Proposal> solved = propose::ProposePlan(model.input);
  if (call.Cancelled()) return absl::CancelledError("proposal cancelled");
  if (!solved.ok()) {
    // The input was checked above: a refusal here (or a solver program gone missing) is
    // this service's fault, not the caller's.
    return absl::InternalError(absl::StrCat(
        absl::IsInvalidArgument(solved.status()) ? "the proposal's model was refused: " : "",
        solved.status().message()));
  }
  const propose::Proposal& proposal = *solved;

  // ---- the answer.
  auto due_time = [&](int period) {
    return period < 0 ? start : model.period_ends[static_cast<size_t>(period)];
  };
  std::vector<std::pair<int, std::vector<PlanItem>>> drafts;  // response shift index, items
  // What each line makes, each line's shifts and the shortfalls by due period: each
  // shift's deferred list is found in time of its own size, not by scanning every
  // shortfall and every product of the line for every shift (500 products over 100
  // shifts left 12,500 shortfalls in outside testing).
  std::set<std::pair<std::string, std::string>> line_makes;  // (line, product)
  for (const propose::ProposalLine& l : model.input.lines) {
    for (const propose::LineProduct& lp : l.products) line_makes.insert({l.id, lp.product_id});
  }
  std::map<std::string, std::set<int>> line_periods;
  for (const propose::ShiftProposal& s : proposal.shifts) line_periods[s.line_id].insert(s.period);
  std::map<int, std::vector<const propose::Shortfall*>> shortfalls_due;
  for (const propose::Shortfall& f : proposal.shortfalls)
    shortfalls_due[f.due_period].push_back(&f);
  for (const propose::ShiftProposal& s : proposal.shifts) {
    auto at = model.shift_at.find({s.line_id, s.period});
    if (at == model.shift_at.end())
      return absl::InternalError("a proposed shift is not in the horizon");
    const ShiftInstance& instance = at->second->shift;
    v1::ProposedShift* out = response->add_shifts();
    out->set_line_id(s.line_id);
    out->set_shift_id(s.shift_id);
    ToProto(instance.start, out->mutable_start_time());
    ToProto(instance.end, out->mutable_end_time());
    out->set_planned_minutes(s.planned_minutes);
    std::vector<PlanItem> items;
    for (const propose::Run& r : s.runs) {
      v1::ProposedRun* run = out->add_runs();
      run->set_product_id(r.product_id);
      run->set_quantity(r.quantity);
      run->set_sequence(r.sequence);
      run->set_changeover_minutes(r.changeover_minutes);
      run->set_production_minutes(r.production_minutes);
      run->set_changeover(r.changeover);
      items.push_back({r.product_id, r.quantity, r.sequence});
    }
    out->set_changeovers(s.changeovers);
    out->set_changeover_minutes(s.changeover_minutes);
    out->set_production_minutes(s.production_minutes);
    out->set_load_percent(s.load_percent);
    // Deferred: shortfalls due by this shift's end, and after the line's shift before it,
    // of products the line makes.
    const std::set<int>& periods = line_periods.at(s.line_id);
    auto before = periods.lower_bound(s.period);
    const int previous = before == periods.begin() ? -1 : *std::prev(before);
    for (auto due = shortfalls_due.upper_bound(previous);
         due != shortfalls_due.end() && due->first <= s.period; ++due) {
      for (const propose::Shortfall* f : due->second) {
        if (line_makes.count({s.line_id, f->product_id}) == 0) continue;
        ShortfallToProto(*f, due_time(f->due_period), out->add_deferred());
      }
    }
    if (!items.empty()) drafts.push_back({response->shifts_size() - 1, std::move(items)});
  }
  for (const propose::Shortfall& f : proposal.shortfalls) {
    ShortfallToProto(f, due_time(f.due_period), response->add_unmet_demand());
  }
  for (const DayDemand& d : facts.demand) {
    v1::PlannedDemand* out = response->add_demand();
    out->set_product_id(d.product_id);
    out->set_date(FormatDate(d.day));
    out->set_quantity(d.quantity);
    out->set_source(static_cast<v1::DemandSource>(d.origin));
    ToProto(due_time(DuePeriod(model.period_ends, zone_, d.day)), out->mutable_due_time());
  }
  for (const Product& p : facts.products) {
    v1::StockOnHand* out = response->add_stock_on_hand();
    out->set_product_id(p.id);
    auto it = facts.stock_on_hand.find(p.id);
    out->set_quantity(it == facts.stock_on_hand.end() ? 0 : it->second);
  }
  for (const DayDemand& d : outside_horizon) {  // given_demand's order: product, then day
    v1::DemandRecord* out = response->add_demand_outside_horizon();
    out->set_product_id(d.product_id);
    out->set_date(FormatDate(d.day));
    out->set_quantity(static_cast<double>(d.quantity));
  }
  for (const auto& [product_id, why] : not_forecast) {
    v1::ProductNotForecast* out = response->add_not_forecast();
    out->set_product_id(product_id);
    out->set_reason(why);
  }
  const propose::SolverReport& r = proposal.solver;
  v1::SolverReport* report = response->mutable_solver();
  report->set_status(StatusToProto(r.status));
  report->set_objective(r.objective);
  report->set_best_bound(r.best_bound);
  report->set_gap(r.gap);
  report->set_solve_seconds(absl::ToDoubleSeconds(r.solve_time));
  report->set_time_limit_seconds(absl::ToDoubleSeconds(limit));
  report->set_variables(r.variables);
  report->set_integer_variables(r.integer_variables);
  report->set_constraints(r.constraints);

  // The answer must fit one message, checked before any draft is written: past the send
  // limit the call would store them and then fail (outside testing: 26 drafts stored and
  // audited, RESOURCE_EXHAUSTED answered, and every retry of the request_id replayed the
  // error, so the client never learnt the drafts' ids). The shifts' deferred lists, which
  // repeat unmet_demand's entries, go first (outside testing: 500 products over 100
  // shifts answered 6.9 MB, refused after a 10 s solve; 12,500 shortfalls, each twice).
  // Each draft adds its id twice.
  constexpr size_t kDraftIdBytes = 2 * (2 + 1 + 19) + 1;  // tags, lengths, digits, growth
  const size_t draft_bytes = request.create_drafts() ? drafts.size() * kDraftIdBytes : 0;
  const size_t max_bytes = runtime::MaxSendBytes(deps_.config);
  size_t answer_bytes = response->ByteSizeLong() + draft_bytes;
  if (answer_bytes > max_bytes) {
    for (v1::ProposedShift& shift : *response->mutable_shifts()) shift.clear_deferred();
    response->set_deferred_omitted(true);
    answer_bytes = response->ByteSizeLong() + draft_bytes;
  }
  if (answer_bytes > max_bytes) return runtime::ResponseTooLarge(answer_bytes, max_bytes);
  if (!request.create_drafts()) return absl::OkStatus();

  // ---- the drafts, in one transaction with the audit row and the request log.
  const ChangeContext context = Context(call, request);
  std::vector<Plan> plans;
  for (const auto& [index, items] : drafts) {
    const v1::ProposedShift& s = response->shifts(index);
    // The model keeps a shift's runs within a plan's limits (asserted above); a draft it
    // cannot hold is this server's fault.
    if (absl::Status plan = ValidateItems(items, "runs", product_ids); !plan.ok()) {
      return absl::InternalError(absl::StrCat("the proposal for shift ", s.shift_id(), " of line ",
                                              s.line_id(),
                                              " is no production plan: ", plan.ToString()));
    }
    const ShiftInstance& instance =
        model.shift_at.at({s.line_id(), proposal.shifts[index].period})->shift;
    plans.push_back(NewPlan(s.line_id(), instance, items, call.identity, context.now));
  }
  auto fill = [drafts](const std::vector<Plan>& stored, v1::ProposePlanResponse* out) {
    for (size_t i = 0; i < stored.size() && i < drafts.size(); ++i) {
      const std::string id = absl::StrCat(stored[i].id);
      out->mutable_shifts(drafts[i].first)->set_draft_plan_id(id);
      out->add_draft_plan_ids(id);
    }
  };
  const v1::ProposePlanResponse proposed = *response;
  PM_ASSIGN_OR_RETURN(Replayable<std::vector<Plan>> answer,
                      store_->CreatePlans(plans, context, [&](const std::vector<Plan>& stored) {
                        v1::ProposePlanResponse out = proposed;
                        fill(stored, &out);
                        return out.SerializeAsString();
                      }));
  return runtime::Answer(answer, response,
                         [&](const std::vector<Plan>& stored) { fill(stored, response); });
}

}  // namespace plantmesh::planning
