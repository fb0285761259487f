#include <cmath>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/planning/propose/lot_sizing.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning::propose {
namespace {

constexpr int64_t kMaxUnits = 1'000'000'000;

bool Finite(double v) { return std::isfinite(v); }

}  // namespace

absl::Status ValidateInput(const ProposalInput& input) {
  runtime::Violations v;
  if (input.period_count < 1 || input.period_count > kMaxPeriods) {
    v.Add("period_count", absl::StrCat("must be 1-", kMaxPeriods));
  }
  std::set<std::string> products;
  for (size_t i = 0; i < input.products.size(); ++i) {
    const ProposalProduct& p = input.products[i];
    const std::string at = absl::StrCat("products[", i, "]");
    if (p.id.empty()) v.Add(at + ".id", "required");
    if (!products.insert(p.id).second) v.Add(at + ".id", "duplicate product '" + p.id + "'");
    if (p.stock_on_hand < 0 || p.stock_on_hand > kMaxUnits) {
      v.Add(at + ".stock_on_hand", "must be 0-1000000000 units");
    }
    if (!Finite(p.priority) || p.priority <= 0 || p.priority > 1000) {
      v.Add(at + ".priority", "must be above 0 and at most 1000");
    }
  }
  auto known = [&](const std::string& id, const std::string& field) {
    if (id.empty()) {
      v.Add(field, "required");
    } else if (!(products.count(id) > 0)) {
      v.Add(field, "unknown product '" + id + "'");
    }
  };
  if (input.lines.empty()) v.Add("lines", "at least one line is required");
  std::set<std::string> lines;
  for (size_t i = 0; i < input.lines.size(); ++i) {
    const ProposalLine& line = input.lines[i];
    const std::string at = absl::StrCat("lines[", i, "]");
    if (line.id.empty()) v.Add(at + ".id", "required");
    if (!lines.insert(line.id).second) v.Add(at + ".id", "duplicate line '" + line.id + "'");
    if (line.products.empty()) v.Add(at + ".products", "at least one product is required");
    std::set<std::string> made;
    for (size_t k = 0; k < line.products.size(); ++k) {
      const LineProduct& lp = line.products[k];
      const std::string pat = absl::StrCat(at, ".products[", k, "]");
      known(lp.product_id, pat + ".product_id");
      if (!made.insert(lp.product_id).second) v.Add(pat + ".product_id", "duplicate product");
      if (!Finite(lp.cycle_seconds) || lp.cycle_seconds <= 0 || lp.cycle_seconds > 86400) {
        v.Add(pat + ".cycle_seconds", "must be above 0 and at most 86400 seconds");
      }
    }
    std::set<int> periods;
    std::set<std::string> ids;
    for (size_t k = 0; k < line.shifts.size(); ++k) {
      const LineShift& s = line.shifts[k];
      const std::string sat = absl::StrCat(at, ".shifts[", k, "]");
      if (s.shift_id.empty()) v.Add(sat + ".shift_id", "required");
      if (!ids.insert(s.shift_id).second) v.Add(sat + ".shift_id", "duplicate shift");
      if (s.period < 0 || s.period >= input.period_count) {
        v.Add(sat + ".period", "must be 0 to period_count - 1");
      } else if (!periods.insert(s.period).second) {
        v.Add(sat + ".period", "two shifts of the line in one period");
      }
      if (!Finite(s.planned_minutes) || s.planned_minutes < 0 ||
          s.planned_minutes > kMaxShiftMinutes) {
        v.Add(sat + ".planned_minutes", absl::StrCat("must be 0-", kMaxShiftMinutes, " minutes"));
      }
    }
    if (!line.initial_product_id.empty() && !(made.count(line.initial_product_id) > 0)) {
      v.Add(at + ".initial_product_id", "not a product the line makes");
    }
  }
  for (size_t i = 0; i < input.changeovers.size(); ++i) {
    const ChangeoverTime& c = input.changeovers[i];
    const std::string at = absl::StrCat("changeovers[", i, "]");
    if (!c.line_id.empty() && !(lines.count(c.line_id) > 0)) {
      v.Add(at + ".line_id", "unknown line '" + c.line_id + "'");
    }
    known(c.from_product_id, at + ".from_product_id");
    known(c.to_product_id, at + ".to_product_id");
    if (!Finite(c.minutes) || c.minutes < 0 || c.minutes > 1440) {
      v.Add(at + ".minutes", "must be 0-1440 minutes");
    }
  }
  for (size_t i = 0; i < input.demand.size(); ++i) {
    const Demand& d = input.demand[i];
    const std::string at = absl::StrCat("demand[", i, "]");
    known(d.product_id, at + ".product_id");
    if (d.due_period < -1 || d.due_period >= input.period_count) {
      v.Add(at + ".due_period", "must be -1 to period_count - 1");
    }
    if (d.quantity < 1 || d.quantity > kMaxUnits) {
      v.Add(at + ".quantity", "must be 1-1000000000 units");
    }
  }
  const Costs& c = input.costs;
  if (!Finite(c.unmet_penalty_per_unit) || c.unmet_penalty_per_unit <= 0) {
    v.Add("costs.unmet_penalty_per_unit", "must be above 0");
  }
  if (!Finite(c.changeover_cost) || c.changeover_cost < 0) {
    v.Add("costs.changeover_cost", "must be 0 or more");
  }
  if (!Finite(c.holding_cost_per_unit) || c.holding_cost_per_unit < 0) {
    v.Add("costs.holding_cost_per_unit", "must be 0 or more");
  }
  const SolverOptions& s = input.solver;
  if (s.time_limit <= absl::ZeroDuration() || s.time_limit > absl::Hours(1)) {
    v.Add("solver.time_limit", "must be above 0 and at most 1 hour");
  }
  if (!Finite(s.relative_gap) || s.relative_gap < 0 || s.relative_gap > 1) {
    v.Add("solver.relative_gap", "must be 0-1");
  }
  if (s.max_nodes && *s.max_nodes < 0) v.Add("solver.max_nodes", "must be 0 or more");
  return v.ToStatus();
}

absl::string_view ShortfallReasonName(ShortfallReason reason) {
  switch (reason) {
    case ShortfallReason::kNoLine:
      return "NO_LINE";
    case ShortfallReason::kBeforeFirstShift:
      return "BEFORE_FIRST_SHIFT";
    case ShortfallReason::kCapacity:
      return "CAPACITY";
    case ShortfallReason::kPriority:
      return "PRIORITY";
  }
  return "UNKNOWN";
}

absl::string_view SolveStatusName(SolveStatus status) {
  switch (status) {
    case SolveStatus::kOptimal:
      return "OPTIMAL";
    case SolveStatus::kTimeLimit:
      return "TIME_LIMIT";
    case SolveStatus::kNodeLimit:
      return "NODE_LIMIT";
  }
  return "UNKNOWN";
}

}  // namespace plantmesh::planning::propose
