// A combinatorial lower bound on the model's optimum over one component: counts the
// changeovers that every plan needs, which the LP relaxation cannot see (it spreads a
// line's setup state over all its products in fractions).
//
// Notation for the component: lines K (|K| of them), products P; cyc[p] the shortest cycle
// time of p on a line of K (minutes per unit); S'[p] = max(0, stock − demand due at −1)
// what stock leaves for the horizon; R[p](b) = max(0, Σ_{τ=0..b} demand[p][τ] − S'[p]) the
// units of p that production in periods 0..b must bring (R(−1) = 0); Cap(a) the planned
// minutes of K's lines in periods 0..a.
//
// Window claim. Take periods (a, b] and a plan with e units of unforced unmet demand
// (forced: what is due at −1 beyond stock). A product with need[p] = R[p](b) − R[p](a) > 0
// that the plan does not make in (a, b] has, by the end of a, been made ahead
// (X[p](a) ≥ R[p](b) − its unmet units). Production by a takes at most Cap(a) minutes, and
// every product needs R[p](a) − its unmet units of it, so the products skipped satisfy
//   Σ_skipped cyc[p]·need[p] ≤ Cap(a) − Σ_P cyc[p]·R[p](a) + cyc_max·e =: slack.
// The most products that fit (smallest cyc·need first: a cardinality knapsack, where
// greedy is exact) is an upper bound on the skipped ones. Each product made in (a, b]
// needs its line set up: either a changeover into it in (a, b], or the line carried it in
// at a + 1; a line carries one product, so at most |K| products come in for free (for a =
// −1 exactly the initial products, and Cap(−1) = 0). Hence
//   changeovers in (a, b] ≥ #{need > 0} − max skipped − carried in.
// Disjoint windows count disjoint changeovers, so the best sum over a partition of the
// horizon (a DP over window ends) is a lower bound CLB(e) on all changeovers, nonincreasing
// in e.
// Objective. Every term is ≥ 0: unmet ≥ Σ forced·penalty·priority + e·penalty·min
// priority; changeovers ≥ changeover_cost·CLB(e); holding ≥ holding_cost·Σ_t Σ_p
// max(0, S'[p] − Σ_{τ≤t} demand[p][τ]) (stock on hand not yet due cannot leave). The bound
// is the minimum over e of their sum, taken over intervals e ∈ [e_i, e_{i+1}) with CLB at
// e_{i+1} (e_i = 0, 1, 2, 4, …, until the penalty alone exceeds the rest).
// It holds for every plan within capacity with changeovers at most the model's reserved
// times, so for the model's optimum too.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "server/planning/propose/internal.h"

namespace plantmesh::planning::propose::internal {
namespace {

// Windows longer than this add nothing in practice and would make the DP quadratic in
// long horizons.
constexpr int kMaxWindow = 42;

struct ComponentData {
  int periods = 0;
  std::vector<int> products;           // component's product indexes
  std::vector<double> cyc;             // per component product
  std::vector<std::vector<double>> r;  // r[i][b + 1] = R[p](b)
  std::vector<double> cap;             // cap[a + 1] = Cap(a)
  std::vector<bool> initial;           // per component product: some line starts on it
  int lines = 0;
  double changeover_minutes = 0;  // the least time the model reserves for a changeover
};

// Changeovers every plan of the component needs in (a, b] with `extra` minutes beyond
// what capacity leaves.
int WindowBound(const ComponentData& c, int a, int b, double extra) {
  double slack = extra;
  if (a >= 0) {
    slack += c.cap[a + 1];
    for (size_t i = 0; i < c.products.size(); ++i) slack -= c.cyc[i] * c.r[i][a + 1];
  }
  std::vector<double> weights;
  for (size_t i = 0; i < c.products.size(); ++i) {
    const double need = c.r[i][b + 1] - c.r[i][a + 1];
    if (need <= 1e-9) continue;
    if (a < 0 && c.initial[i]) continue;  // the line starts set up for it
    weights.push_back(c.cyc[i] * need);
  }
  std::sort(weights.begin(), weights.end());
  int skipped = 0;
  for (double w : weights) {
    if (w > slack + 1e-9) break;
    slack -= w;
    ++skipped;
  }
  const int carried = a < 0 ? 0 : c.lines;
  return std::max(0, static_cast<int>(weights.size()) - skipped - carried);
}

int ChangeoverCountBound(const ComponentData& c, double extra) {
  // best[b + 1]: the most changeovers proven in periods 0..b.
  std::vector<int> best(c.periods + 1, 0);
  for (int b = 0; b < c.periods; ++b) {
    best[b + 1] = best[b];
    for (int a = std::max(-1, b - kMaxWindow); a < b; ++a) {
      // The changeovers proven up to a took their time out of Cap(a).
      const double taken = c.changeover_minutes * best[a + 1];
      best[b + 1] = std::max(best[b + 1], best[a + 1] + WindowBound(c, a, b, extra - taken));
    }
  }
  return best[c.periods];
}

}  // namespace

double CombinatorialBound(const Index& index, const Component& component) {
  const ProposalInput& in = index.input;
  const Costs& costs = in.costs;
  ComponentData c;
  c.periods = in.period_count;
  c.products = component.products;
  c.lines = static_cast<int>(component.lines.size());
  const std::vector<std::vector<double>> minutes = PlannedMinutes(index);
  c.changeover_minutes = std::numeric_limits<double>::infinity();
  for (int l : component.lines) {
    for (const LineProduct& lp : in.lines[l].products) {
      c.changeover_minutes =
          std::min(c.changeover_minutes, index.LongestInto(l, index.product.at(lp.product_id)));
    }
  }
  c.cap.assign(c.periods + 1, 0);
  for (int t = 0; t < c.periods; ++t) {
    c.cap[t + 1] = c.cap[t];
    for (int l : component.lines) c.cap[t + 1] += std::max(0.0, minutes[l][t]);
  }
  double constant = 0, min_penalty = std::numeric_limits<double>::infinity(), cyc_max = 0;
  for (int p : c.products) {
    double cyc = std::numeric_limits<double>::infinity();
    bool initial = false;
    for (int l : component.lines) {
      for (const LineProduct& lp : in.lines[l].products) {
        if (index.product.at(lp.product_id) == p) cyc = std::min(cyc, lp.cycle_seconds / 60);
      }
      initial = initial || (!in.lines[l].initial_product_id.empty() &&
                            index.product.at(in.lines[l].initial_product_id) == p);
    }
    c.cyc.push_back(cyc);
    c.initial.push_back(initial);
    cyc_max = std::max(cyc_max, cyc);
    const double penalty = costs.unmet_penalty_per_unit * in.products[p].priority;
    min_penalty = std::min(min_penalty, penalty);
    const double before = static_cast<double>(index.demand[p][0]);
    const double stock = static_cast<double>(in.products[p].stock_on_hand);
    constant += penalty * std::max(0.0, before - stock);
    double left = std::max(0.0, stock - before), due = 0;
    std::vector<double> r(c.periods + 1, 0);
    for (int t = 0; t < c.periods; ++t) {
      due += static_cast<double>(index.demand[p][t + 1]);
      r[t + 1] = std::max(0.0, due - left);
      constant += costs.holding_cost_per_unit * std::max(0.0, left - due);
    }
    c.r.push_back(std::move(r));
  }
  if (c.products.empty()) return constant;
  // min over e of penalty·e + changeover_cost·CLB(e), by intervals [e_i, e_{i+1}).
  const double at_zero = costs.changeover_cost * ChangeoverCountBound(c, 0);
  double best = std::numeric_limits<double>::infinity();
  double lower = 0, upper = 1;
  while (true) {
    const double clb = costs.changeover_cost * ChangeoverCountBound(c, cyc_max * upper);
    best = std::min(best, min_penalty * lower + clb);
    if (min_penalty * upper >= at_zero || clb == 0) {
      best = std::min(best, min_penalty * upper);  // e ≥ upper: the penalty alone
      break;
    }
    lower = upper;
    upper *= 2;
  }
  return constant + best;
}

}  // namespace plantmesh::planning::propose::internal
