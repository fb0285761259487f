// From the solver's quantities to the proposal: runs sequenced per shift, load and
// changeovers of that sequence, and each shortfall with the reason it was deferred.
#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "plantmesh/common/status_macros.h"
#include "server/planning/propose/internal.h"

namespace plantmesh::planning::propose {
namespace {

using internal::Index;

constexpr double kFullLoadPercent = 99;
constexpr double kExplainShare = 0.02;  // of the time limit, kept for sequencing and explaining

double CycleMinutes(const ProposalLine& line, const std::string& product_id) {
  for (const LineProduct& lp : line.products) {
    if (lp.product_id == product_id) return lp.cycle_seconds / 60;
  }
  return 0;
}

void Measure(const Index& index, int l, int state, ShiftProposal* shift) {
  const ProposalLine& line = index.input.lines[l];
  shift->changeovers = 0;
  shift->changeover_minutes = 0;
  shift->production_minutes = 0;
  int previous = state;
  for (Run& run : shift->runs) {
    const int p = index.product.at(run.product_id);
    run.changeover = previous != p;
    run.changeover_minutes = run.changeover ? index.ChangeoverMinutes(l, previous, p) : 0;
    run.production_minutes = static_cast<double>(run.quantity) * CycleMinutes(line, run.product_id);
    if (run.changeover) ++shift->changeovers;
    shift->changeover_minutes += run.changeover_minutes;
    shift->production_minutes += run.production_minutes;
    previous = p;
  }
  const double used = shift->changeover_minutes + shift->production_minutes;
  shift->load_percent = shift->planned_minutes > 0 ? used / shift->planned_minutes * 100 : 0;
}

// The product line l must end period t set up for: the one the line's next period with
// runs starts with, carried over (the model counted no changeover into it there); −1
// when those runs change over anyway or none follow. Outside testing: the model's
// carried state into an idle next shift is arbitrary, and taken as the shift's last
// run it changed the order with the horizon's length, to 75 minutes of changeovers
// where 15 would do.
int RequiredLast(const Index& index, const internal::ModelSolution& solution, int l, int t) {
  const ProposalLine& line = index.input.lines[l];
  for (int u = t + 1; u < index.input.period_count; ++u) {
    const int carried = solution.carried[l][u];
    bool runs = false;
    bool runs_carried = false;
    for (size_t k = 0; k < line.products.size(); ++k) {
      if (solution.units[l][k][u] <= 0) continue;
      runs = true;
      runs_carried = runs_carried || index.product.at(line.products[k].product_id) == carried;
    }
    if (runs) return runs_carried ? carried : -1;
  }
  return -1;
}

// Up to this many runs between a shift's first and last are ordered by trying every
// order (7! = 5,040); more by nearest changeover.
constexpr size_t kMaxRunsOrderedExactly = 7;

// `middle` (product indexes) in the order with the least changeover minutes from `from`
// through them to `last` (−1: none), ties by product ids in order.
std::vector<int> LeastChangeoverOrder(const Index& index, int l, int from, std::vector<int> middle,
                                      int last) {
  auto by_id = [&](int a, int b) {
    return index.input.products[a].id < index.input.products[b].id;
  };
  std::sort(middle.begin(), middle.end(), by_id);
  auto minutes = [&](const std::vector<int>& order) {
    double total = 0;
    int previous = from;
    for (int p : order) {
      total += index.ChangeoverMinutes(l, previous, p);
      previous = p;
    }
    return last >= 0 ? total + index.ChangeoverMinutes(l, previous, last) : total;
  };
  if (middle.size() <= kMaxRunsOrderedExactly) {
    std::vector<int> best = middle;
    double best_minutes = minutes(middle);
    while (std::next_permutation(middle.begin(), middle.end(), by_id)) {
      const double m = minutes(middle);
      if (m < best_minutes) {
        best = middle;
        best_minutes = m;
      }
    }
    return best;
  }
  std::vector<int> order;
  int current = from;
  std::set<int> left(middle.begin(), middle.end());
  while (!left.empty()) {
    int best = -1;
    double best_minutes = 0;
    for (int p : middle) {
      if (left.count(p) == 0) continue;
      const double m = index.ChangeoverMinutes(l, current, p);
      if (best < 0 || m < best_minutes) {
        best = p;
        best_minutes = m;
      }
    }
    order.push_back(best);
    left.erase(best);
    current = best;
  }
  return order;
}

// The runs of line l in one shift: the carried-over product first, the product the next
// runs of the line start set up for last (RequiredLast), the rest in the order with the
// least changeover minutes. Every changeover lands on a product the model reserved
// changeover time for (lot_sizing.h).
ShiftProposal Sequence(const Index& index, const internal::ModelSolution& solution, int l,
                       const LineShift& shift, int* state) {
  const ProposalLine& line = index.input.lines[l];
  const int t = shift.period;
  ShiftProposal out;
  out.line_id = line.id;
  out.shift_id = shift.shift_id;
  out.period = t;
  out.planned_minutes = shift.planned_minutes;
  std::set<int> made;  // product indexes, ordered as input.products
  std::vector<int64_t> units(index.input.products.size(), 0);
  for (size_t k = 0; k < line.products.size(); ++k) {
    const int64_t q = solution.units[l][k][t];
    if (q <= 0) continue;
    const int p = index.product.at(line.products[k].product_id);
    made.insert(p);
    units[p] = q;
  }
  if (made.empty()) return out;
  const int next = RequiredLast(index, solution, l, t);
  const int last = (made.count(next) > 0) ? next : -1;
  std::vector<int> order;
  if ((made.count(*state) > 0) && *state != last) {
    order.push_back(*state);
    made.erase(*state);
  }
  if (last >= 0) made.erase(last);
  const int from = order.empty() ? *state : order.back();
  for (int p :
       LeastChangeoverOrder(index, l, from, std::vector<int>(made.begin(), made.end()), last)) {
    order.push_back(p);
  }
  if (last >= 0) order.push_back(last);
  for (int p : order) {
    Run run;
    run.product_id = index.input.products[p].id;
    run.quantity = units[p];
    run.sequence = static_cast<int>(out.runs.size()) + 1;
    out.runs.push_back(run);
  }
  Measure(index, l, *state, &out);
  // The model's tolerances could leave a rounding hair over the planned time.
  while (out.planned_minutes > 0 &&
         out.changeover_minutes + out.production_minutes > out.planned_minutes + 1e-9) {
    Run& longest = *std::max_element(out.runs.begin(), out.runs.end(), [](auto& a, auto& b) {
      return a.production_minutes < b.production_minutes;
    });
    if (--longest.quantity == 0) {
      out.runs.erase(out.runs.begin() + (&longest - out.runs.data()));
      for (size_t i = 0; i < out.runs.size(); ++i) out.runs[i].sequence = static_cast<int>(i) + 1;
    }
    Measure(index, l, *state, &out);
    if (out.runs.empty()) break;
  }
  if (!out.runs.empty()) *state = index.product.at(out.runs.back().product_id);
  return out;
}

std::vector<std::vector<int64_t>> ProducedOf(const Index& index,
                                             const std::vector<ShiftProposal>& shifts) {
  std::vector<std::vector<int64_t>> produced(index.input.products.size(),
                                             std::vector<int64_t>(index.input.period_count, 0));
  for (const ShiftProposal& s : shifts) {
    for (const Run& r : s.runs) produced[index.product.at(r.product_id)][s.period] += r.quantity;
  }
  return produced;
}

// Where a shift begins: its line, the product the line starts it set up for (−1: none)
// and whether it is the line's last shift of the horizon.
struct ShiftStart {
  int line = -1;
  int state = -1;
  bool last = false;
};

// Per shift of `shifts` (the same order), as ProposePlan sequenced them.
std::vector<ShiftStart> StartsOf(const Index& index, const std::vector<ShiftProposal>& shifts) {
  const ProposalInput& in = index.input;
  std::vector<ShiftStart> starts(shifts.size());
  for (size_t l = 0; l < in.lines.size(); ++l) {
    std::vector<size_t> own;
    for (size_t i = 0; i < shifts.size(); ++i) {
      if (shifts[i].line_id == in.lines[l].id) own.push_back(i);
    }
    std::stable_sort(own.begin(), own.end(),
                     [&](size_t a, size_t b) { return shifts[a].period < shifts[b].period; });
    const std::string& initial = in.lines[l].initial_product_id;
    int state = initial.empty() ? -1 : index.product.at(initial);
    for (size_t k = 0; k < own.size(); ++k) {
      starts[own[k]] = {static_cast<int>(l), state, k + 1 == own.size()};
      const ShiftProposal& s = shifts[own[k]];
      if (!s.runs.empty()) state = index.product.at(s.runs.back().product_id);
    }
  }
  return starts;
}

// `s` with a run of product p (no units yet) where it adds the least changeover time,
// measured; nullopt when it has a run of p already or no place for one: not after the
// last run unless it is the line's last shift (the next shift starts set up for that
// product), and within kMaxRunsPerShift.
std::optional<ShiftProposal> WithNewRun(const Index& index, const ShiftStart& start,
                                        const ShiftProposal& s, int p) {
  const std::string& id = index.input.products[p].id;
  for (const Run& r : s.runs) {
    if (r.product_id == id) return std::nullopt;
  }
  if (static_cast<int>(s.runs.size()) >= kMaxRunsPerShift) return std::nullopt;
  std::optional<ShiftProposal> best;
  const size_t end = start.last ? s.runs.size() + 1 : s.runs.size();
  for (size_t at = 0; at < end; ++at) {
    ShiftProposal candidate = s;
    Run added;
    added.product_id = id;
    candidate.runs.insert(candidate.runs.begin() + static_cast<std::ptrdiff_t>(at), added);
    for (size_t i = 0; i < candidate.runs.size(); ++i) {
      candidate.runs[i].sequence = static_cast<int>(i) + 1;
    }
    Measure(index, start.line, start.state, &candidate);
    if (!best || candidate.changeover_minutes < best->changeover_minutes ||
        (candidate.changeover_minutes == best->changeover_minutes &&
         candidate.changeovers < best->changeovers)) {
      best = std::move(candidate);
    }
  }
  return best;
}

double FreeMinutes(const ShiftProposal& s) {
  return s.planned_minutes - s.changeover_minutes - s.production_minutes;
}

// Product p's share of the objective (unmet penalty and holding) for `produced`.
double ProductCost(const Index& index, int p, const std::vector<int64_t>& produced) {
  const ProposalInput& in = index.input;
  const internal::Flow flow = internal::FlowOf(index, p, produced);
  double cost = 0;
  for (int64_t u : flow.unmet) {
    cost += static_cast<double>(u) * in.costs.unmet_penalty_per_unit * in.products[p].priority;
  }
  for (double stock : flow.stock_end) cost += stock * in.costs.holding_cost_per_unit;
  return cost;
}

// The model reserves for each changeover the longest one into its product (lot_sizing.h),
// so a sequenced shift can have time free that the model counted as used. That time goes
// to demand the plan leaves unmet, higher priority first, wherever the objective gains:
// more units of a run the shift has, else a new run where it adds the least changeover
// time (WithNewRun). Outside testing: 450 units were left unmet beside 105 free minutes
// of a shift already making them, explained as PRIORITY.
void FillFreedTime(const Index& index, absl::Time deadline, std::vector<ShiftProposal>* shifts) {
  const ProposalInput& in = index.input;
  auto produced = ProducedOf(index, *shifts);
  // The products with demand unmet, higher priority first, with their flows (kept up to
  // date: only they are looked at in each shift).
  std::vector<int> unmet;
  std::vector<internal::Flow> flows(in.products.size());
  for (size_t p = 0; p < in.products.size(); ++p) {
    flows[p] = internal::FlowOf(index, static_cast<int>(p), produced[p]);
    for (int64_t u : flows[p].unmet) {
      if (u > 0) {
        unmet.push_back(static_cast<int>(p));
        break;
      }
    }
  }
  if (unmet.empty()) return;
  std::stable_sort(unmet.begin(), unmet.end(),
                   [&](int a, int b) { return in.products[a].priority > in.products[b].priority; });
  // The shifts' starts stay: a new run never becomes the last of a shift that has a next.
  const std::vector<ShiftStart> starts = StartsOf(index, *shifts);
  std::vector<size_t> order(shifts->size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return (*shifts)[a].period < (*shifts)[b].period; });
  for (size_t i : order) {
    if (absl::Now() > deadline || (in.solver.stop && in.solver.stop())) return;
    ShiftProposal& s = (*shifts)[i];
    const ShiftStart& start = starts[i];
    if (s.planned_minutes <= 0) continue;
    for (int p : unmet) {
      const std::string& id = in.products[p].id;
      const double cycle = CycleMinutes(in.lines[start.line], id);
      if (cycle <= 0 || FreeMinutes(s) < cycle) continue;  // not made here, or no time
      int64_t unmet_from_here = 0;  // unmet[t + 1] is of the demand due in period t
      for (int t = s.period; t < in.period_count; ++t) unmet_from_here += flows[p].unmet[t + 1];
      if (unmet_from_here <= 0) continue;
      std::optional<ShiftProposal> candidate = WithNewRun(index, start, s, p);
      if (!candidate) candidate = s;
      Run* run = nullptr;
      for (Run& r : candidate->runs) {
        if (r.product_id == id) run = &r;
      }
      if (run == nullptr) continue;  // no place for a new run
      const double free = FreeMinutes(*candidate);
      int64_t units = std::min({static_cast<int64_t>(std::floor(free / cycle + 1e-9)),
                                kMaxRunUnits - run->quantity, unmet_from_here});
      while (units > 0 && static_cast<double>(units) * cycle > free + 1e-9) --units;
      if (units <= 0) continue;
      run->quantity += units;
      Measure(index, start.line, start.state, &*candidate);
      std::vector<int64_t> more = produced[p];
      more[s.period] += units;
      const double gain = ProductCost(index, p, produced[p]) - ProductCost(index, p, more) -
                          (candidate->changeovers - s.changeovers) * in.costs.changeover_cost;
      if (gain <= 0) continue;
      s = *std::move(candidate);
      produced[p] = std::move(more);
      flows[p] = internal::FlowOf(index, p, produced[p]);
    }
  }
}

Shortfall Explain(const Index& index, const std::vector<ShiftProposal>& shifts,
                  const std::vector<ShiftStart>& starts, const SolverReport& report, int p, int due,
                  int64_t quantity) {
  const ProposalInput& in = index.input;
  Shortfall out;
  out.product_id = in.products[p].id;
  out.due_period = due;
  out.quantity = quantity;
  std::vector<int> makers;
  std::vector<std::string> names;
  for (size_t l = 0; l < in.lines.size(); ++l) {
    for (const LineProduct& lp : in.lines[l].products) {
      if (lp.product_id == out.product_id) {
        makers.push_back(static_cast<int>(l));
        names.push_back(in.lines[l].id);
      }
    }
  }
  if (due < 0) {
    out.reason = ShortfallReason::kBeforeFirstShift;
    out.explanation =
        absl::StrCat("due before the first shift of the horizon ends and ", "stock on hand (",
                     in.products[p].stock_on_hand, ") does not cover it");
    return out;
  }
  if (makers.empty()) {
    out.reason = ShortfallReason::kNoLine;
    out.explanation = absl::StrCat("no line in the proposal makes ", out.product_id);
    return out;
  }
  // The due period as the plan names it: a shift of that period, a maker's if it has one
  // (outside testing: explanations said "period 4").
  std::string due_shift;
  for (const ShiftProposal& s : shifts) {
    if (s.period != due) continue;
    const bool maker = std::find(names.begin(), names.end(), s.line_id) != names.end();
    if (due_shift.empty() || maker) due_shift = s.shift_id;
    if (maker) break;
  }
  const std::string by = due_shift.empty() ? "the due shift" : absl::StrCat("shift ", due_shift);
  // The shift up to the due period with the most free time on a line that makes it; why
  // each other shift had no room, for the explanation.
  const ShiftProposal* roomiest = nullptr;
  double most_free = 0;
  double longest_planned = 0;
  int shifts_by_due = 0;
  int counted = 0;
  int too_short = 0;
  std::vector<std::string> full;  // "S of L: why", in the order of `shifts`
  for (size_t i = 0; i < shifts.size(); ++i) {
    const ShiftProposal& s = shifts[i];
    if (s.period > due) continue;
    const int l = starts[i].line;
    if (std::find(makers.begin(), makers.end(), l) == makers.end()) continue;
    ++shifts_by_due;
    if (s.planned_minutes <= 0) {
      // Named with the full ones (outside testing: a shift maintenance took whole was
      // left out, and the shortfall read as the other shift's alone).
      full.push_back(absl::StrCat(s.shift_id, " of ", s.line_id,
                                  ": no planned time (maintenance windows, breaks)"));
      continue;
    }
    ++counted;
    longest_planned = std::max(longest_planned, s.planned_minutes);
    const double cycle = CycleMinutes(in.lines[l], out.product_id);
    if (s.planned_minutes < index.LongestInto(l, p) + cycle) ++too_short;
    int64_t made_here = 0;
    for (const Run& r : s.runs) {
      if (r.product_id == out.product_id) made_here += r.quantity;
    }
    const double free = FreeMinutes(s);
    // What a new run of it takes there: the changeovers into it and on to the next run
    // (an empty shift with a next one: the model's reservation, since a run there changes
    // what the next shift starts set up for). Worked out only where a unit would fit.
    auto changeovers_added = [&] {
      const std::optional<ShiftProposal> with_run = WithNewRun(index, starts[i], s, p);
      return with_run ? with_run->changeover_minutes - s.changeover_minutes
                      : index.LongestInto(l, p);
    };
    std::string why;
    if (made_here >= kMaxRunUnits) {
      why = absl::StrCat("holds the most units a run holds (", kMaxRunUnits, ")");
    } else if (made_here == 0 && static_cast<int>(s.runs.size()) >= kMaxRunsPerShift) {
      why = absl::StrCat("holds the most runs a plan holds (", kMaxRunsPerShift, ")");
    } else if (s.load_percent >= kFullLoadPercent) {
      why = absl::StrFormat("full (load %.1f %%)", s.load_percent);
    } else if (free < cycle) {
      why = absl::StrFormat("%.1f min free, less than a unit takes (%.1f min)", free, cycle);
    } else if (const double added = made_here == 0 ? changeovers_added() : 0;
               made_here == 0 && free < added + cycle) {
      why = absl::StrFormat(
          "%.0f min free, less than a run of it takes there: %.0f min of changeovers (into it "
          "and on to the next run) and %.1f min a unit",
          free, added, cycle);
    } else if (free > most_free) {
      roomiest = &s;
      most_free = free;
    }
    if (!why.empty()) full.push_back(absl::StrCat(s.shift_id, " of ", s.line_id, ": ", why));
  }
  if (roomiest == nullptr) {
    out.reason = ShortfallReason::kCapacity;
    const std::string lines = absl::StrJoin(names, ", ");
    if (shifts_by_due == 0) {
      out.explanation = absl::StrCat("no shift of ", lines, " ends by ", by);
    } else if (counted == 0) {
      out.explanation = absl::StrCat("the ", shifts_by_due, " shift(s) of ", lines, " up to ", by,
                                     " have no planned time (maintenance windows, breaks)");
    } else if (too_short == counted) {
      out.explanation = absl::StrFormat(
          "a changeover into it and one unit take longer than any shift of %s up to %s plans "
          "(the longest: %.0f min)",
          lines, by, longest_planned);
    } else {
      // Each shift's reason, the first few (outside testing: one text listed every
      // possible cause, whichever it was).
      constexpr size_t kNamed = 3;
      const size_t more = full.size() > kNamed ? full.size() - kNamed : 0;
      full.resize(std::min(full.size(), kNamed));
      out.explanation = absl::StrCat("no shift of ", lines, " up to ", by,
                                     " has room for it: ", absl::StrJoin(full, "; "),
                                     more > 0 ? absl::StrCat("; and ", more, " more") : "");
    }
    return out;
  }
  out.reason = ShortfallReason::kPriority;
  out.explanation = absl::StrFormat(
      "line %s has %.0f min free in shift %s, but by the objective (unmet units first, then "
      "changeovers, then stock) other products or fewer changeovers come first",
      roomiest->line_id, most_free, roomiest->shift_id);
  if (report.status != SolveStatus::kOptimal) {
    absl::StrAppendFormat(&out.explanation, "; the search stopped early (gap %.2f %%)",
                          report.gap * 100);
  }
  return out;
}

}  // namespace

double ObjectiveOf(const ProposalInput& input, const std::vector<ShiftProposal>& shifts) {
  const Index index(input);
  const auto produced = ProducedOf(index, shifts);
  double objective = 0;
  for (size_t p = 0; p < input.products.size(); ++p) {
    objective += ProductCost(index, static_cast<int>(p), produced[p]);
  }
  for (const ShiftProposal& s : shifts) objective += s.changeovers * input.costs.changeover_cost;
  return objective;
}

absl::StatusOr<Proposal> ProposePlan(const ProposalInput& input) {
  // The time limit covers the whole call: validation, the model, the search, the sequencing
  // and the explanation; the last two take milliseconds, so they keep a small share.
  const absl::Time begin = absl::Now();
  PM_RETURN_IF_ERROR(ValidateInput(input));
  const Index index(input);
  const absl::Duration reserve =
      std::min(absl::Milliseconds(200), input.solver.time_limit * kExplainShare);
  PM_ASSIGN_OR_RETURN(internal::ModelSolution solution,
                      internal::SolveModel(index, begin + input.solver.time_limit - reserve));
  Proposal proposal;
  for (size_t l = 0; l < input.lines.size(); ++l) {
    std::vector<LineShift> shifts = input.lines[l].shifts;
    std::sort(shifts.begin(), shifts.end(),
              [](const LineShift& a, const LineShift& b) { return a.period < b.period; });
    int state = input.lines[l].initial_product_id.empty()
                    ? -1
                    : index.product.at(input.lines[l].initial_product_id);
    for (const LineShift& shift : shifts) {
      proposal.shifts.push_back(Sequence(index, solution, static_cast<int>(l), shift, &state));
    }
  }
  FillFreedTime(index, begin + input.solver.time_limit, &proposal.shifts);
  proposal.solver = solution.report;
  proposal.solver.objective = ObjectiveOf(input, proposal.shifts);
  proposal.solver.best_bound = std::min(proposal.solver.best_bound, proposal.solver.objective);
  const double scale = std::max(std::abs(proposal.solver.objective), 1e-9);
  proposal.solver.gap =
      std::max(0.0, (proposal.solver.objective - proposal.solver.best_bound) / scale);
  if (proposal.solver.gap < 1e-9) proposal.solver.gap = 0;

  const auto produced = ProducedOf(index, proposal.shifts);
  std::vector<int> by_id(input.products.size());
  for (size_t p = 0; p < by_id.size(); ++p) by_id[p] = static_cast<int>(p);
  std::sort(by_id.begin(), by_id.end(),
            [&](int a, int b) { return input.products[a].id < input.products[b].id; });
  const std::vector<ShiftStart> starts = StartsOf(index, proposal.shifts);
  for (int p : by_id) {
    const internal::Flow flow = internal::FlowOf(index, p, produced[p]);
    for (int t = -1; t < input.period_count; ++t) {
      if (flow.unmet[t + 1] > 0) {
        proposal.shortfalls.push_back(
            Explain(index, proposal.shifts, starts, proposal.solver, p, t, flow.unmet[t + 1]));
      }
    }
  }
  return proposal;
}

}  // namespace plantmesh::planning::propose
