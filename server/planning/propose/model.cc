// The mixed-integer program of lot_sizing.h, built here and solved by CBC in the solver
// program (solver_process.h).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "plantmesh/common/status_macros.h"
#include "server/planning/propose/cbc_problem.h"
#include "server/planning/propose/internal.h"
#include "server/planning/propose/solver_process.h"

namespace plantmesh::planning::propose::internal {
namespace {

// One proposal's solve at a time: each keeps a core busy for its whole time limit (the
// service lets one more call wait for it: service_propose.cc, SolveGate).
absl::Mutex solve_mutex;

// Columns and rows, kept until Problem() gives the whole matrix to a CBC run at once
// (CBC copies the matrix for each row added one by one), with the MIP start alongside.
class Builder {
 public:
  // `period`: the period an integer column belongs to (fix-and-optimise frees windows).
  int Column(double lower, double upper, double cost, bool integer, double start, int period = -1) {
    period_.push_back(period);
    lower_.push_back(lower);
    upper_.push_back(upper);
    cost_.push_back(cost);
    integer_.push_back(integer);
    start_.push_back(start);
    if (integer) ++integers_;
    return static_cast<int>(lower_.size()) - 1;
  }
  // Σ coefficient·column sense rhs, with sense 'L' (≤), 'G' (≥) or 'E' (=).
  void Row(const std::vector<std::pair<int, double>>& terms, char sense, double rhs) {
    const int row = static_cast<int>(row_lower_.size());
    for (const auto& [c, v] : terms) entries_.push_back({c, row, v});
    constexpr double kInfinity = std::numeric_limits<double>::infinity();
    row_lower_.push_back(sense == 'L' ? -kInfinity : rhs);
    row_upper_.push_back(sense == 'G' ? kInfinity : rhs);
  }
  void SetStart(int column, double value) { start_[column] = value; }
  double Start(int column) const { return start_[column]; }

  // The model as one CBC run gets it, from `start`, with the columns marked in `fixed`
  // held at their start values.
  CbcProblem Problem(const std::vector<double>& start, const std::vector<bool>& fixed) const {
    std::vector<Entry> entries = entries_;
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.column != b.column ? a.column < b.column : a.row < b.row;
    });
    CbcProblem p;
    p.column_lower = lower_;
    p.column_upper = upper_;
    for (size_t c = 0; c < fixed.size(); ++c) {
      if (fixed[c]) p.column_lower[c] = p.column_upper[c] = start[c];
    }
    p.cost = cost_;
    p.integer.assign(integer_.begin(), integer_.end());
    p.row_lower = row_lower_;
    p.row_upper = row_upper_;
    p.column_starts.assign(lower_.size() + 1, 0);
    for (const Entry& e : entries) {
      ++p.column_starts[e.column + 1];
      p.entry_rows.push_back(e.row);
      p.entry_values.push_back(e.value);
    }
    for (size_t c = 0; c < lower_.size(); ++c) p.column_starts[c + 1] += p.column_starts[c];
    p.start = start;
    return p;
  }
  const std::vector<double>& start() const { return start_; }
  double ObjectiveOf(const std::vector<double>& values) const {
    double objective = 0;
    for (size_t c = 0; c < cost_.size(); ++c) objective += cost_[c] * values[c];
    return objective;
  }
  int integers() const { return integers_; }
  int columns() const { return static_cast<int>(lower_.size()); }
  int rows() const { return static_cast<int>(row_lower_.size()); }
  bool integer(int column) const { return integer_[column]; }
  int period(int column) const { return period_[column]; }

 private:
  struct Entry {
    int column;
    int row;
    double value;
  };
  std::vector<double> lower_, upper_, cost_, start_, row_lower_, row_upper_;
  std::vector<bool> integer_;
  std::vector<int> period_;
  std::vector<Entry> entries_;
  int integers_ = 0;
};

// Below this there is no time for CBC to do anything but overrun.
constexpr double kShortestSolve = 0.05;
// Components up to this many integer columns get the whole time on the whole model.
constexpr int kWholeModelIntegers = 1000;
constexpr double kWholeModelShare = 0.1;  // of a larger component's time
constexpr double kStartShare = 0.25;      // of the time, at most, for the starts
// Fix-and-optimise windows: two days of three shifts, sliding by a day.
constexpr int kWindowPeriods = 4;
constexpr int kWindowStep = 2;
constexpr int kWindowNodes = 2000;  // per window: a work limit besides the time
// A window's own stop (a heuristic step; the whole model's solves and the status use the
// solver options' gaps).
constexpr double kWindowGap = 1e-4;
// CBC stops at its time limit between the steps of its search, a little after it; a run
// still going this long after its limit is inside a step that would run on (an LP solve
// of a large model: minutes), and is killed.
constexpr absl::Duration kKillGrace = absl::Milliseconds(500);

// One CBC solve of the built model from `start`, with the columns marked in `fixed` held
// at their start values, within `seconds`. Killed at `kill_at`, or as soon as `stop()`
// turns true: then no solution and bound 0.
absl::StatusOr<CbcRun> RunCbc(const std::string& program, const Builder& b,
                              const std::vector<double>& start, const std::vector<bool>& fixed,
                              double seconds, double relative_gap, double absolute_gap,
                              std::optional<int> max_nodes, absl::Time kill_at,
                              const std::function<bool()>& stop);

// Whether `objective` is proven within `options`' gaps of the optimum, given `bound`.
bool WithinGap(double objective, double bound, const SolverOptions& options) {
  return objective - bound <=
         std::max(options.relative_gap * std::max(objective, 1e-9), options.absolute_gap) + 1e-9;
}

// What one component's solve adds to the whole.
struct ComponentResult {
  double objective = 0;  // of the plan written into the solution
  double bound = 0;      // a lower bound on the component's optimum
  bool optimal = false;  // proven within the gaps
  bool node_limit = false;
};

// Builds the model of lot_sizing.h over one component and solves it within `seconds`,
// starting from `start`; writes the plan's units and carried states into `solution`.
absl::StatusOr<ComponentResult> SolveComponent(const Index& index, const Component& component,
                                               const std::vector<std::vector<double>>& minutes,
                                               const StartPlan& start, double combinatorial_bound,
                                               double seconds, ModelSolution* solution) {
  const ProposalInput& in = index.input;
  const int periods = in.period_count;
  const int products = static_cast<int>(in.products.size());
  const Costs& costs = in.costs;
  std::string program = in.solver.program;
  if (program.empty()) {
    PM_ASSIGN_OR_RETURN(program, CbcSolverProgram());
  }
  Builder b;

  // Demand due in periods ≥ t, per product: no run needs to be larger.
  std::vector<std::vector<double>> to_come(products, std::vector<double>(periods + 1, 0));
  for (int p : component.products) {
    for (int t = periods - 1; t >= 0; --t) {
      to_come[p][t] = to_come[p][t + 1] + static_cast<double>(index.demand[p][t + 1]);
    }
  }

  // Stock and unmet demand: s[p][t + 1], u[p][t + 1] (t = −1 .. T−1; s[−1] is what stock on
  // hand leaves after the demand due before the horizon), started at the start plan's.
  std::vector<std::vector<int>> s(products), u(products);
  std::vector<std::vector<std::vector<std::pair<int, double>>>> balance(
      products, std::vector<std::vector<std::pair<int, double>>>(periods + 1));
  std::vector<std::vector<int64_t>> produced(products, std::vector<int64_t>(periods, 0));
  for (int l : component.lines) {
    for (size_t k = 0; k < in.lines[l].products.size(); ++k) {
      const int p = index.product.at(in.lines[l].products[k].product_id);
      for (int t = 0; t < periods; ++t) produced[p][t] += start.units[l][k][t];
    }
  }
  for (int p : component.products) {
    const Flow flow = FlowOf(index, p, produced[p]);
    const double penalty = costs.unmet_penalty_per_unit * in.products[p].priority;
    for (int t = -1; t < periods; ++t) {
      const double due = static_cast<double>(index.demand[p][t + 1]);
      u[p].push_back(b.Column(0, due, penalty, false, static_cast<double>(flow.unmet[t + 1])));
      const double stock = t >= 0 ? flow.stock_end[t]
                                  : static_cast<double>(in.products[p].stock_on_hand -
                                                        index.demand[p][0] + flow.unmet[0]);
      s[p].push_back(b.Column(0, std::numeric_limits<double>::infinity(),
                              t >= 0 ? costs.holding_cost_per_unit : 0, false, stock));
    }
  }

  // Per line: x, y for each (product, shift), z for each (product, period).
  std::vector<std::vector<std::vector<int>>> x(in.lines.size()), zs(in.lines.size());
  // Per line and period with setups: n = Σ y, the count of setups (its column, and theirs).
  std::vector<std::pair<int, std::vector<int>>> setup_counts;
  for (int l : component.lines) {
    const ProposalLine& line = in.lines[l];
    const int made = static_cast<int>(line.products.size());
    x[l].assign(made, std::vector<int>(periods, -1));
    std::vector<std::vector<int>> y(made, std::vector<int>(periods, -1));
    std::vector<std::vector<int>>& z = zs[l];
    z.assign(made, std::vector<int>(periods, -1));
    const std::vector<double>& capacity = minutes[l];
    for (int k = 0; k < made; ++k) {
      const int p = index.product.at(line.products[k].product_id);
      const bool initial = line.products[k].product_id == line.initial_product_id;
      for (int t = 0; t < periods; ++t) {
        const double start_state = initial ? 1 : 0;
        const double carried = start.carried[l][t] == p ? 1 : 0;
        z[k][t] = t == 0 ? b.Column(start_state, start_state, 0, true, start_state, t)
                         : b.Column(0, 1, 0, true, carried, t);
        if (capacity[t] <= 0) continue;
        const double big_m =
            std::min({std::floor(capacity[t] * 60 / line.products[k].cycle_seconds + 1e-9),
                      to_come[p][t], static_cast<double>(kMaxRunUnits)});
        if (big_m < 1) continue;
        x[l][k][t] = b.Column(0, big_m, 0, true, static_cast<double>(start.units[l][k][t]), t);
        y[k][t] = b.Column(0, 1, costs.changeover_cost, true, start.changed[l][k][t] ? 1 : 0, t);
        b.Row({{x[l][k][t], 1}, {y[k][t], -big_m}, {z[k][t], -big_m}}, 'L', 0);
        b.Row({{y[k][t], 1}, {x[l][k][t], -1}}, 'L', 0);
        balance[p][t + 1].push_back({x[l][k][t], 1});
      }
    }
    for (int t = 0; t < periods; ++t) {
      std::vector<std::pair<int, double>> one_state, setups, load;
      for (int k = 0; k < made; ++k) {
        one_state.push_back({z[k][t], 1});
        if (y[k][t] < 0) continue;
        const int p = index.product.at(line.products[k].product_id);
        setups.push_back({y[k][t], 1});
        load.push_back({x[l][k][t], line.products[k].cycle_seconds / 60});
        load.push_back({y[k][t], index.LongestInto(l, p)});
      }
      b.Row(one_state, 'L', 1);
      if (!load.empty()) b.Row(load, 'L', capacity[t]);
      if (setups.size() >= kMaxRunsPerShift) b.Row(setups, 'L', kMaxRunsPerShift - 1);
      if (t + 1 == periods) continue;
      // The count of setups as a column of its own, so that each product's last-run row
      // below holds 3 terms instead of all the line's setups: a line of P products had P²
      // terms a period (one line of 500 products over 100 shifts: 25 million).
      int count = -1;
      if (!setups.empty()) {
        std::vector<int> columns;
        std::vector<std::pair<int, double>> definition;
        double start_count = 0;
        for (const auto& term : setups) {
          columns.push_back(term.first);
          definition.push_back({term.first, -1});
          start_count += b.start()[static_cast<size_t>(term.first)];
        }
        count = b.Column(0, static_cast<double>(setups.size()), 0, false, start_count);
        definition.push_back({count, 1});
        b.Row(definition, 'E', 0);
        setup_counts.push_back({count, std::move(columns)});
      }
      for (int k = 0; k < made; ++k) {
        // carry-over: z[t+1] ≤ y[t] + z[t]
        std::vector<std::pair<int, double>> carry = {{z[k][t + 1], 1}, {z[k][t], -1}};
        if (y[k][t] >= 0) carry.push_back({y[k][t], -1});
        b.Row(carry, 'L', 0);
        // last run: n[t] + P·z[t+1] − P·y[t] ≤ P, n[t] = Σ y[t]
        if (setups.empty()) continue;
        const double big = static_cast<double>(setups.size());
        std::vector<std::pair<int, double>> last = {{count, 1}, {z[k][t + 1], big}};
        if (y[k][t] >= 0) last.push_back({y[k][t], -big});
        b.Row(last, 'L', big);
      }
    }
  }

  // Balance: s[t−1] + Σ x + u = demand + s[t]; before the horizon, stock on hand for s[t−1].
  for (int p : component.products) {
    for (int t = -1; t < periods; ++t) {
      std::vector<std::pair<int, double>> row = balance[p][t + 1];
      row.push_back({u[p][t + 1], 1});
      row.push_back({s[p][t + 1], -1});
      double rhs = static_cast<double>(index.demand[p][t + 1]);
      if (t >= 0) {
        row.push_back({s[p][t], 1});
      } else {
        rhs -= static_cast<double>(in.products[p].stock_on_hand);
      }
      b.Row(row, 'E', rhs);
    }
  }

  solution->report.variables += b.columns();
  solution->report.constraints += b.rows();
  solution->report.integer_variables += b.integers();

  // Whole units, and stock and unmet as they follow from them: what CBC returns can sit a
  // tolerance off integers, and a start or a fixed column must be exact.
  auto repair = [&](std::vector<double> values) {
    std::vector<std::vector<int64_t>> made(products, std::vector<int64_t>(periods, 0));
    for (int c = 0; c < b.columns(); ++c) {
      if (b.integer(c)) values[c] = std::round(values[c]);
    }
    for (const auto& [count, columns] : setup_counts) {
      values[count] = 0;
      for (int column : columns) values[count] += values[column];
    }
    for (int l : component.lines) {
      for (size_t k = 0; k < x[l].size(); ++k) {
        const int p = index.product.at(in.lines[l].products[k].product_id);
        for (int t = 0; t < periods; ++t) {
          if (x[l][k][t] >= 0) made[p][t] += std::llround(values[x[l][k][t]]);
        }
      }
    }
    for (int p : component.products) {
      const Flow flow = FlowOf(index, p, made[p]);
      for (int t = -1; t < periods; ++t) {
        values[u[p][t + 1]] = static_cast<double>(flow.unmet[t + 1]);
        values[s[p][t + 1]] = t >= 0 ? flow.stock_end[t]
                                     : static_cast<double>(in.products[p].stock_on_hand -
                                                           index.demand[p][0] + flow.unmet[0]);
      }
    }
    return values;
  };

  ComponentResult result;
  std::vector<double> incumbent = repair(b.start());
  result.objective = b.ObjectiveOf(incumbent);
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  const std::function<bool()>& stop = in.solver.stop;
  auto left = [&] { return stop && stop() ? 0.0 : absl::ToDoubleSeconds(end - absl::Now()); };
  // A run given `share` seconds is killed kKillGrace after them, and never later than that
  // after the component's own end.
  auto kill_at = [&](double share) {
    return std::min(absl::Now() + absl::Seconds(share), end) + kKillGrace;
  };
  auto take = [&](const CbcRun& run) {
    if (!run.values.empty()) {
      std::vector<double> values = repair(run.values);
      const double objective = b.ObjectiveOf(values);
      if (objective < result.objective - 1e-6) {
        incumbent = std::move(values);
        result.objective = objective;
        return true;
      }
    }
    return false;
  };
  // The whole model first: on small components CBC proves the optimum; on large ones it
  // gets a share of the time, for its bound and its heuristics, and fix-and-optimise the
  // rest (CBC's branch-and-bound does not improve a good start there in seconds).
  const bool small = b.integers() <= kWholeModelIntegers;
  if (left() >= kShortestSolve) {
    const double share = small ? left() : left() * kWholeModelShare;
    PM_ASSIGN_OR_RETURN(CbcRun whole,
                        RunCbc(program, b, incumbent, {}, share, in.solver.relative_gap,
                               in.solver.absolute_gap, in.solver.max_nodes, kill_at(share), stop));
    result.bound = std::max(result.bound, whole.bound);
    result.optimal = whole.optimal;
    result.node_limit = whole.node_limit;
    take(whole);
    if (whole.optimal) result.bound = std::max(result.bound, result.objective);
  }
  // Fix-and-optimise: every integer column outside a window of periods fixed at the
  // incumbent, the window searched by CBC from the incumbent; windows slide forward, passes
  // repeat until one improves nothing or the time is up. Time left after that goes to the
  // whole model again, for its bound.
  auto within = [&] {
    return WithinGap(result.objective, std::max(result.bound, combinatorial_bound), in.solver);
  };
  if (!small && !result.optimal && !within() && periods > kWindowPeriods) {
    const int windows = (periods - kWindowPeriods + kWindowStep - 1) / kWindowStep + 1;
    bool improved = true;
    while (improved && !within() && left() >= kShortestSolve) {
      improved = false;
      for (int w = 0; w < windows && left() >= kShortestSolve; ++w) {
        const int first = std::min(w * kWindowStep, periods - kWindowPeriods);
        const int last = first + kWindowPeriods - 1;
        std::vector<bool> fixed(b.columns(), false);
        for (int c = 0; c < b.columns(); ++c) {
          fixed[c] = b.integer(c) && (b.period(c) < first || b.period(c) > last);
        }
        const double share = std::max(kShortestSolve, left() / static_cast<double>(windows - w));
        PM_ASSIGN_OR_RETURN(CbcRun run, RunCbc(program, b, incumbent, fixed, share, kWindowGap, 0,
                                               kWindowNodes, kill_at(share), stop));
        improved = take(run) || improved;
      }
    }
    if (!within() && left() >= kShortestSolve) {
      const double share = left();
      PM_ASSIGN_OR_RETURN(
          CbcRun whole, RunCbc(program, b, incumbent, {}, share, in.solver.relative_gap,
                               in.solver.absolute_gap, in.solver.max_nodes, kill_at(share), stop));
      result.bound = std::max(result.bound, whole.bound);
      result.node_limit = whole.node_limit;
      take(whole);
      result.optimal = whole.optimal;
      if (whole.optimal) result.bound = std::max(result.bound, result.objective);
    }
  }
  const double* values = incumbent.data();
  for (int l : component.lines) {
    for (size_t k = 0; k < x[l].size(); ++k) {
      const int p = index.product.at(in.lines[l].products[k].product_id);
      for (int t = 0; t < periods; ++t) {
        if (values[zs[l][k][t]] > 0.5) solution->carried[l][t] = p;
        if (x[l][k][t] >= 0) {
          solution->units[l][k][t] = std::llround(std::max(0.0, values[x[l][k][t]]));
        }
      }
    }
  }
  return result;
}

absl::StatusOr<CbcRun> RunCbc(const std::string& program, const Builder& b,
                              const std::vector<double>& start, const std::vector<bool>& fixed,
                              double seconds, double relative_gap, double absolute_gap,
                              std::optional<int> max_nodes, absl::Time kill_at,
                              const std::function<bool()>& stop) {
  CbcProblem problem = b.Problem(start, fixed);
  problem.seconds = seconds;
  problem.relative_gap = relative_gap;
  problem.absolute_gap = absolute_gap;
  problem.max_nodes = max_nodes.value_or(-1);
  // In a program of its own, which can be killed (solver_process.h); CBC's process-wide
  // state stays there too.
  PM_ASSIGN_OR_RETURN(std::optional<std::string> answer,
                      RunSolverProgram(program, {absl::StrCat("--parent-pid=", getpid())},
                                       EncodeProblem(problem), kill_at, stop));
  // Killed before it answered: it found nothing the caller can use; the bound stays 0.
  if (!answer) return CbcRun{};
  return DecodeRun(*answer);
}

}  // namespace

absl::StatusOr<ModelSolution> SolveModel(const Index& index, absl::Time deadline) {
  const ProposalInput& in = index.input;
  const absl::Time begin = absl::Now();
  ModelSolution solution;
  solution.units.resize(in.lines.size());
  for (size_t l = 0; l < in.lines.size(); ++l) {
    solution.units[l].assign(in.lines[l].products.size(), std::vector<int64_t>(in.period_count, 0));
  }
  solution.carried.assign(in.lines.size(), std::vector<int>(in.period_count, -1));
  const std::vector<std::vector<double>> minutes = PlannedMinutes(index);
  const std::vector<Component> components = ComponentsOf(index);

  // The starts and the combinatorial bounds first: cheap, and they tell where the search
  // has something to gain (a component whose start meets its bound needs no search).
  std::vector<StartPlan> starts;
  std::vector<double> bounds;
  double work = 0;  // Σ size over components with a gap: the time is shared by it
  std::vector<double> sizes;
  for (size_t i = 0; i < components.size(); ++i) {
    const Component& c = components[i];
    // The starts take at most a quarter of the time; CBC needs the rest.
    const absl::Time now = absl::Now();
    starts.push_back(HeuristicStart(
        index, c,
        now + (deadline - now) * kStartShare / static_cast<double>(components.size() - i)));
    bounds.push_back(CombinatorialBound(index, c));
    double size = 0;
    for (int l : c.lines) size += static_cast<double>(in.lines[l].products.size());
    const bool open = !WithinGap(starts.back().objective, bounds.back(), in.solver);
    sizes.push_back(open ? size : 0);
    work += sizes.back();
  }

  absl::MutexLock lock(&solve_mutex);
  bool all_optimal = true, node_limit = false;
  double objective = 0, bound = 0;
  for (size_t i = 0; i < components.size(); ++i) {
    const double left = std::max(0.0, absl::ToDoubleSeconds(deadline - absl::Now()));
    const double seconds = sizes[i] > 0 ? left * sizes[i] / work : 0;
    work -= sizes[i];
    PM_ASSIGN_OR_RETURN(ComponentResult r, SolveComponent(index, components[i], minutes, starts[i],
                                                          bounds[i], seconds, &solution));
    objective += r.objective;
    const double component_bound = std::min(r.objective, std::max(r.bound, bounds[i]));
    bound += component_bound;
    all_optimal = all_optimal && (r.optimal || WithinGap(r.objective, component_bound, in.solver));
    node_limit = node_limit || r.node_limit;
  }
  // Products no line makes: their demand beyond stock is unmet whatever the plan.
  std::vector<bool> covered(in.products.size(), false);
  for (const Component& c : components) {
    for (int p : c.products) covered[p] = true;
  }
  for (size_t p = 0; p < in.products.size(); ++p) {
    if (covered[p]) continue;
    const Flow flow = FlowOf(index, static_cast<int>(p), std::vector<int64_t>(in.period_count, 0));
    double cost = 0;
    for (int64_t u : flow.unmet) {
      cost += static_cast<double>(u) * in.costs.unmet_penalty_per_unit * in.products[p].priority;
    }
    for (double st : flow.stock_end) cost += st * in.costs.holding_cost_per_unit;
    objective += cost;
    bound += cost;
    solution.report.start_objective += cost;
    solution.report.combinatorial_bound += cost;
  }
  solution.report.components = static_cast<int>(components.size());
  for (size_t i = 0; i < components.size(); ++i) {
    solution.report.start_objective += starts[i].objective;
    solution.report.combinatorial_bound += bounds[i];
  }
  solution.report.objective = objective;
  solution.report.best_bound = bound;
  solution.report.status = all_optimal  ? SolveStatus::kOptimal
                           : node_limit ? SolveStatus::kNodeLimit
                                        : SolveStatus::kTimeLimit;
  solution.report.solve_time = absl::Now() - begin;
  return solution;
}

}  // namespace plantmesh::planning::propose::internal
