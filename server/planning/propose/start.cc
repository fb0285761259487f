// The MIP start: a forward "earliest run-out" simulation per component, the way a
// planner fills a board. Lines keep their product while it is needed within a cover
// horizon (long runs, few changeovers), then change over to the product of the line that
// runs out first. A handful of cover horizons are tried and the best plan by the model's
// objective kept; every one is feasible for the model, so CBC starts from it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/time/clock.h"
#include "server/planning/propose/internal.h"

namespace plantmesh::planning::propose::internal {
namespace {

struct Rule {
  int cover = 0;       // periods of demand ahead a run covers before the line moves on
  int urgent = -1;     // leave a run for a product that runs out within this many periods
  bool ahead = false;  // with nothing due within the cover, make what runs out first
  double fit = 0;      // > 0: a line takes up a product only if its cycle time is within
                       // this factor of the product's fastest line (unless it is urgent)
};

StartPlan Simulate(const Index& index, const Component& component,
                   const std::vector<std::vector<double>>& minutes, Rule rule) {
  const ProposalInput& in = index.input;
  const int periods = in.period_count;
  const int products = static_cast<int>(in.products.size());
  StartPlan plan;
  plan.units.resize(in.lines.size());
  plan.changed.resize(in.lines.size());
  plan.carried.assign(in.lines.size(), std::vector<int>(periods, -1));
  std::vector<int> state(in.lines.size(), -1);
  std::vector<std::vector<int>> product_of(in.lines.size());  // [l][k] → product index
  for (int l : component.lines) {
    const ProposalLine& line = in.lines[l];
    plan.units[l].assign(line.products.size(), std::vector<int64_t>(periods, 0));
    plan.changed[l].assign(line.products.size(), std::vector<bool>(periods, false));
    for (const LineProduct& lp : line.products)
      product_of[l].push_back(index.product.at(lp.product_id));
    if (!line.initial_product_id.empty()) state[l] = index.product.at(line.initial_product_id);
  }
  // Stock left for the horizon after demand due before it; demand to come from each t.
  std::vector<int64_t> stock(products, 0);
  std::vector<std::vector<int64_t>> to_come(products, std::vector<int64_t>(periods + 1, 0));
  for (int p : component.products) {
    stock[p] = std::max<int64_t>(0, in.products[p].stock_on_hand - index.demand[p][0]);
    for (int t = periods - 1; t >= 0; --t)
      to_come[p][t] = to_come[p][t + 1] + index.demand[p][t + 1];
  }
  std::vector<int64_t> planned(products, 0);
  std::vector<int> runouts(products, periods);
  std::vector<double> fastest(products, std::numeric_limits<double>::infinity());
  for (int l : component.lines) {
    for (size_t k = 0; k < in.lines[l].products.size(); ++k) {
      double& f = fastest[product_of[l][k]];
      f = std::min(f, in.lines[l].products[k].cycle_seconds);
    }
  }
  for (int t = 0; t < periods; ++t) {
    for (int p : component.products) planned[p] = 0;
    // Units of p still to make in t for demand due in t .. t + cover; the first period
    // in which p runs short (periods when none).
    auto short_of = [&](int p) {
      const int end = std::min(periods, t + rule.cover + 1);
      return to_come[p][t] - to_come[p][end] - stock[p] - planned[p];
    };
    // The first period in which p runs short, kept per product (it changes only when p
    // is planned).
    auto compute_runout = [&](int p) {
      int64_t have = stock[p] + planned[p];
      for (int tau = t; tau < periods; ++tau) {
        have -= index.demand[p][tau + 1];
        if (have < 0) return tau;
      }
      return periods;
    };
    for (int p : component.products) runouts[p] = compute_runout(p);
    auto runout = [&](int p) { return runouts[p]; };
    for (int l : component.lines) {
      plan.carried[l][t] = state[l];
      const double capacity = minutes[l][t];
      if (capacity <= 0) continue;
      const ProposalLine& line = in.lines[l];
      const int made = static_cast<int>(line.products.size());
      std::vector<bool> ran(made, false);
      double used = 0;
      int changeovers = 0;  // at most kMaxRunsPerShift − 1, as in the model
      while (true) {
        int k = -1;  // the product the line makes next
        for (int j = 0; j < made; ++j) {
          if (product_of[l][j] == state[l] && !ran[j] && short_of(state[l]) > 0) k = j;
        }
        int earliest = -1;
        for (int j = 0; j < made; ++j) {
          if (ran[j] || j == k) continue;
          const int p = product_of[l][j];
          if (short_of(p) <= 0 && !(rule.ahead && runout(p) < periods)) continue;
          if (rule.fit > 0 && line.products[j].cycle_seconds > rule.fit * fastest[p] &&
              runout(p) > t + std::max(0, rule.urgent)) {
            continue;
          }
          if (earliest < 0 || runout(p) < runout(product_of[l][earliest])) earliest = j;
        }
        if (k >= 0 && rule.urgent >= 0 && earliest >= 0 &&
            runout(product_of[l][earliest]) <= t + rule.urgent &&
            runout(product_of[l][earliest]) < runout(state[l])) {
          k = -1;
        }
        if (k < 0) {
          if (earliest < 0 || changeovers == kMaxRunsPerShift - 1) break;
          const int p = product_of[l][earliest];
          const double setup = index.LongestInto(l, p);
          if (used + setup + line.products[earliest].cycle_seconds / 60 > capacity + 1e-9) break;
          used += setup;
          ++changeovers;
          plan.changed[l][earliest][t] = true;
          state[l] = p;
          k = earliest;
        }
        ran[k] = true;
        const int p = product_of[l][k];
        const double cycle = line.products[k].cycle_seconds / 60;
        const int64_t room = static_cast<int64_t>(std::floor((capacity - used) / cycle + 1e-9));
        int64_t want = short_of(p);
        if (rule.ahead && want <= 0) {
          // Ahead of the cover: one more due period's worth.
          const int until = std::min(periods, runout(p) + 1);
          want = to_come[p][t] - to_come[p][until] - stock[p] - planned[p];
        }
        const int64_t amount = std::min({room, want, to_come[p][t], kMaxRunUnits});
        if (amount <= 0) {
          if (plan.changed[l][k][t]) {
            // Cannot happen (room for a unit was checked); keep the model's y ≤ x anyway.
            plan.changed[l][k][t] = false;
          }
          break;
        }
        plan.units[l][k][t] = amount;
        used += static_cast<double>(amount) * cycle;
        planned[p] += amount;
        runouts[p] = compute_runout(p);
      }
    }
    for (int p : component.products) {
      stock[p] += planned[p];
      stock[p] -= std::min(stock[p], index.demand[p][t + 1]);
    }
  }
  // The model's objective over the component.
  std::vector<std::vector<int64_t>> produced(products, std::vector<int64_t>(periods, 0));
  for (int l : component.lines) {
    for (size_t k = 0; k < plan.units[l].size(); ++k) {
      for (int t = 0; t < periods; ++t) {
        produced[product_of[l][k]][t] += plan.units[l][k][t];
        if (plan.changed[l][k][t]) plan.objective += in.costs.changeover_cost;
      }
    }
  }
  for (int p : component.products) {
    const Flow flow = FlowOf(index, p, produced[p]);
    for (int64_t u : flow.unmet) {
      plan.objective +=
          static_cast<double>(u) * in.costs.unmet_penalty_per_unit * in.products[p].priority;
    }
    for (double s : flow.stock_end) plan.objective += s * in.costs.holding_cost_per_unit;
  }
  return plan;
}

}  // namespace

StartPlan HeuristicStart(const Index& index, const Component& component, absl::Time stop) {
  const std::vector<std::vector<double>> minutes = PlannedMinutes(index);
  const int periods = index.input.period_count;
  // First the rules that, added one by one, did most for the bench's scenario at 50-110 %
  // demand (no one rule is good everywhere: some leave demand short where others do not);
  // with little time only the first ones run (always the first). Then the rest of the grid.
  std::vector<Rule> rules;
  auto add = [&](int cover, int urgent, double fit) {
    const Rule rule{std::min(cover, periods), urgent, false, fit};
    for (const Rule& r : rules) {
      if (r.cover == rule.cover && r.urgent == rule.urgent && r.fit == rule.fit) return;
    }
    rules.push_back(rule);
  };
  add(6, 1, 1.25);
  add(3, 0, 1.25);
  add(21, 1, 1.1);
  add(12, 1, 1.25);
  add(9, 0, 1.25);
  add(21, 0, 1.25);
  add(6, 0, 1.25);
  add(3, 0, 1.1);
  add(21, -1, 1.1);
  add(15, 1, 1.25);
  add(12, 0, 1.1);
  add(9, -1, 1.25);
  for (double fit : {1.1, 1.25, 0.0, 1.5}) {
    for (int urgent : {0, 1, -1, 2}) {
      for (int cover : {21, 12, 9, 15, 6, 3}) add(cover, urgent, fit);
    }
  }
  StartPlan best;
  best.objective = std::numeric_limits<double>::infinity();
  for (const Rule& rule : rules) {
    StartPlan plan = Simulate(index, component, minutes, rule);
    if (plan.objective < best.objective - 1e-9) best = std::move(plan);
    if (absl::Now() > stop || (index.input.solver.stop && index.input.solver.stop())) break;
  }
  return best;
}

}  // namespace plantmesh::planning::propose::internal
