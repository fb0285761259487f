// The mixed-integer program of lot_sizing.h, built and solved through CBC's C interface.
#include <coin/Cbc_C_Interface.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/planning/propose/internal.h"

namespace plantmesh::planning::propose::internal {
namespace {

// CbcMain1 (behind Cbc_solve) keeps process-wide state: one solve at a time.
absl::Mutex solve_mutex;

struct ModelDeleter {
  void operator()(Cbc_Model* model) const { Cbc_deleteModel(model); }
};

// Columns and rows, with the MIP start (the empty plan) kept alongside.
class Builder {
 public:
  Builder() : model_(Cbc_newModel()) {}
  Cbc_Model* model() { return model_.get(); }

  int Column(double lower, double upper, double cost, bool integer, double start) {
    const int column = Cbc_getNumCols(model_.get());
    Cbc_addCol(model_.get(), "", lower, upper, cost, integer ? 1 : 0, 0, nullptr, nullptr);
    start_.push_back(start);
    if (integer) ++integers_;
    return column;
  }
  // Σ coefficient·column sense rhs, with sense 'L' (≤), 'G' (≥) or 'E' (=).
  void Row(const std::vector<std::pair<int, double>>& terms, char sense, double rhs) {
    std::vector<int> columns;
    std::vector<double> values;
    for (const auto& [c, v] : terms) {
      columns.push_back(c);
      values.push_back(v);
    }
    Cbc_addRow(model_.get(), "", static_cast<int>(columns.size()), columns.data(), values.data(),
               sense, rhs);
  }
  const std::vector<double>& start() const { return start_; }
  int integers() const { return integers_; }

 private:
  std::unique_ptr<Cbc_Model, ModelDeleter> model_;
  std::vector<double> start_;
  int integers_ = 0;
};

}  // namespace

absl::StatusOr<ModelSolution> SolveModel(const Index& index) {
  const ProposalInput& in = index.input;
  const int periods = in.period_count;
  const int products = static_cast<int>(in.products.size());
  const Costs& costs = in.costs;
  Builder b;

  // Demand due in periods ≥ t, per product: no run needs to be larger.
  std::vector<std::vector<double>> to_come(products, std::vector<double>(periods + 1, 0));
  for (int p = 0; p < products; ++p) {
    for (int t = periods - 1; t >= 0; --t) {
      to_come[p][t] = to_come[p][t + 1] + static_cast<double>(index.demand[p][t + 1]);
    }
  }

  // Stock and unmet demand: s[p][t + 1], u[p][t + 1] (t = −1 .. T−1; s[−1] is what stock on
  // hand leaves after the demand due before the horizon), started at the empty plan.
  std::vector<std::vector<int>> s(products), u(products);
  std::vector<std::vector<std::vector<std::pair<int, double>>>> balance(
      products, std::vector<std::vector<std::pair<int, double>>>(periods + 1));
  for (int p = 0; p < products; ++p) {
    const Flow empty = FlowOf(index, p, std::vector<int64_t>(periods, 0));
    const double penalty = costs.unmet_penalty_per_unit * in.products[p].priority;
    for (int t = -1; t < periods; ++t) {
      const double due = static_cast<double>(index.demand[p][t + 1]);
      u[p].push_back(b.Column(0, due, penalty, false, static_cast<double>(empty.unmet[t + 1])));
      const double stock = t >= 0 ? empty.stock_end[t]
                                  : static_cast<double>(in.products[p].stock_on_hand -
                                                        index.demand[p][0] + empty.unmet[0]);
      s[p].push_back(b.Column(0, std::numeric_limits<double>::infinity(),
                              t >= 0 ? costs.holding_cost_per_unit : 0, false, stock));
    }
  }

  // Per line: x, y for each (product, shift), z for each (product, period).
  ModelSolution solution;
  solution.units.resize(in.lines.size());
  solution.carried.assign(in.lines.size(), std::vector<int>(periods, -1));
  std::vector<std::vector<std::vector<int>>> x(in.lines.size());
  std::vector<std::vector<std::vector<int>>> zs(in.lines.size());
  for (size_t l = 0; l < in.lines.size(); ++l) {
    const ProposalLine& line = in.lines[l];
    const int made = static_cast<int>(line.products.size());
    solution.units[l].assign(made, std::vector<int64_t>(periods, 0));
    x[l].assign(made, std::vector<int>(periods, -1));
    std::vector<std::vector<int>> y(made, std::vector<int>(periods, -1));
    std::vector<std::vector<int>> z(made, std::vector<int>(periods, -1));
    std::vector<double> capacity(periods, -1);
    for (const LineShift& shift : line.shifts) capacity[shift.period] = shift.planned_minutes;
    for (int k = 0; k < made; ++k) {
      const int p = index.product.at(line.products[k].product_id);
      const bool initial = line.products[k].product_id == line.initial_product_id;
      for (int t = 0; t < periods; ++t) {
        const double start_state = initial ? 1 : 0;
        z[k][t] = t == 0 ? b.Column(start_state, start_state, 0, true, start_state)
                         : b.Column(0, 1, 0, true, start_state);
        if (capacity[t] <= 0) continue;
        const double big_m = std::min(
            std::floor(capacity[t] * 60 / line.products[k].cycle_seconds + 1e-9), to_come[p][t]);
        if (big_m < 1) continue;
        x[l][k][t] = b.Column(0, big_m, 0, true, 0);
        y[k][t] = b.Column(0, 1, costs.changeover_cost, true, 0);
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
        load.push_back({y[k][t], index.LongestInto(static_cast<int>(l), p)});
      }
      b.Row(one_state, 'L', 1);
      if (t == 0) zs[l] = z;
      if (!load.empty()) b.Row(load, 'L', capacity[t]);
      if (t + 1 == periods) continue;
      for (int k = 0; k < made; ++k) {
        // carry-over: z[t+1] ≤ y[t] + z[t]
        std::vector<std::pair<int, double>> carry = {{z[k][t + 1], 1}, {z[k][t], -1}};
        if (y[k][t] >= 0) carry.push_back({y[k][t], -1});
        b.Row(carry, 'L', 0);
        // last run: Σ y[t] + P·z[t+1] − P·y[t] ≤ P
        if (setups.empty()) continue;
        const double big = static_cast<double>(setups.size());
        std::vector<std::pair<int, double>> last = setups;
        last.push_back({z[k][t + 1], big});
        if (y[k][t] >= 0) {
          for (auto& term : last) {
            if (term.first == y[k][t]) term.second -= big;
          }
        }
        b.Row(last, 'L', big);
      }
    }
  }

  // Balance: s[t−1] + Σ x + u = demand + s[t]; before the horizon, stock on hand for s[t−1].
  for (int p = 0; p < products; ++p) {
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

  Cbc_Model* model = b.model();
  Cbc_setObjSense(model, 1);
  solution.report.variables = Cbc_getNumCols(model);
  solution.report.constraints = Cbc_getNumRows(model);
  solution.report.integer_variables = b.integers();
  std::vector<int> all(b.start().size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  Cbc_setMIPStartI(model, static_cast<int>(all.size()), all.data(), b.start().data());

  const absl::Time begin = absl::Now();
  absl::MutexLock lock(&solve_mutex);
  const double seconds =
      std::max(0.05, absl::ToDoubleSeconds(in.solver.time_limit - (absl::Now() - begin)));
  Cbc_setLogLevel(model, 0);
  Cbc_setParameter(model, "log", "0");
  Cbc_setParameter(model, "threads", "0");
  Cbc_setParameter(model, "timeMode", "elapsed");  // the limit is wall-clock time
  Cbc_setParameter(model, "randomSeed", "1234567");
  Cbc_setParameter(model, "randomCbcSeed", "1234567");
  Cbc_setParameter(model, "sec", absl::StrCat(seconds).c_str());
  Cbc_setParameter(model, "ratioGap", absl::StrCat(in.solver.relative_gap).c_str());
  if (in.solver.max_nodes) {
    Cbc_setParameter(model, "maxNodes", absl::StrCat(*in.solver.max_nodes).c_str());
  }
  const int rc = Cbc_solve(model);
  solution.report.solve_time = absl::Now() - begin;
  const double* values = Cbc_bestSolution(model);
  const int secondary = Cbc_secondaryStatus(model);
  if (values == nullptr && Cbc_status(model) != 1) {
    return absl::InternalError(
        absl::StrCat("the solver failed (status ", Cbc_status(model), ", return code ", rc, ")"));
  }
  // Every cost is ≥ 0, so 0 bounds the objective when the search proved nothing better.
  solution.report.best_bound = std::max(0.0, Cbc_getBestPossibleObjValue(model));
  if (values == nullptr) {
    // Stopped (time or nodes) before taking up the MIP start: the empty plan is the best
    // plan known.
    values = b.start().data();
    solution.report.objective = std::numeric_limits<double>::infinity();
  } else {
    solution.report.objective = Cbc_getObjValue(model);
    if (Cbc_isProvenOptimal(model)) solution.report.best_bound = solution.report.objective;
  }
  solution.report.status = Cbc_isProvenOptimal(model) || secondary == 0 || secondary == 2
                               ? SolveStatus::kOptimal
                           : secondary == 3 ? SolveStatus::kNodeLimit
                                            : SolveStatus::kTimeLimit;
  for (size_t l = 0; l < in.lines.size(); ++l) {
    for (size_t k = 0; k < x[l].size(); ++k) {
      const int p = index.product.at(in.lines[l].products[k].product_id);
      for (int t = 0; t < periods; ++t) {
        if (values[zs[l][k][t]] > 0.5) solution.carried[l][t] = p;
        if (x[l][k][t] >= 0) {
          solution.units[l][k][t] = std::llround(std::max(0.0, values[x[l][k][t]]));
        }
      }
    }
  }
  return solution;
}

}  // namespace plantmesh::planning::propose::internal
