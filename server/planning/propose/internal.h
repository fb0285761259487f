// Shared by the optimiser's files: lookups over a validated input.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/planning/propose/lot_sizing.h"

namespace plantmesh::planning::propose::internal {

// Indexes of a validated ProposalInput.
struct Index {
  explicit Index(const ProposalInput& input);

  const ProposalInput& input;
  absl::flat_hash_map<std::string, int> product;  // id → index in input.products
  // demand[p][t + 1]: units of product p due in period t (t = −1 .. T−1).
  std::vector<std::vector<int64_t>> demand;
  // Changeover minutes on line l from product a to b (product indexes); 0 when unlisted
  // and from −1 (the line's first setup from nothing).
  double ChangeoverMinutes(int line, int from, int to) const;
  // The longest changeover into `to`, one of the line's products, from any other product
  // the line makes (0 when none is listed).
  double LongestInto(int line, int to) const { return longest_into_[line][to]; }

 private:
  // (line index, or −1 for every line; from, to) → minutes.
  absl::flat_hash_map<std::tuple<int, int, int>, double> changeover_;
  // longest_into_[l][p]: LongestInto, worked out once. It is asked for every product of
  // every line in every period, and took each product's changeovers from every other
  // (outside testing: 1,000 products on one line ran 50 s past the time limit in it).
  std::vector<std::vector<double>> longest_into_;
};

// Stock and unmet demand of product `p` given its production per period: demand met from
// stock earliest due first (stock on hand covers due_period −1 first).
struct Flow {
  std::vector<double> stock_end;  // per period
  std::vector<int64_t> unmet;     // per period index t + 1 (t = −1 .. T−1)
};
Flow FlowOf(const Index& index, int p, const std::vector<int64_t>& produced);

// Lines linked by the products they make, with those products: the model splits into one
// independent problem per component (no row spans two), so the optimum and the bound of
// the whole are the sums over components. Products no line makes are in none.
struct Component {
  std::vector<int> lines;     // indexes in input.lines, ascending
  std::vector<int> products;  // indexes in input.products, ascending
};
std::vector<Component> ComponentsOf(const Index& index);

// A plan of one component as the model holds it, for the MIP start: units[l][k][t] (all
// lines, untouched outside the component), changed[l][k][t] (a changeover into the line's
// k-th product in t), carried[l][t] (product index the line starts t set up for, −1).
struct StartPlan {
  std::vector<std::vector<std::vector<int64_t>>> units;
  std::vector<std::vector<std::vector<bool>>> changed;
  std::vector<std::vector<int>> carried;
  double objective = 0;  // by the model's objective, over the component
};
// The component's shift capacity: minutes[l][t], −1 where line l has no shift in t.
std::vector<std::vector<double>> PlannedMinutes(const Index& index);
// A forward "earliest run-out" heuristic (start.cc): every line keeps its product while
// that product is needed within a cover horizon, then changes over to the product of the
// line that runs out first; the best of a grid of rules by the model's objective, trying
// rules until `stop` or input.solver.stop() (at least one). Feasible for the model
// (capacity with the reserved changeover times, run sizes).
StartPlan HeuristicStart(const Index& index, const Component& component,
                         absl::Time stop = absl::InfiniteFuture());

// A lower bound on the model's optimum over one component (bound.cc says what and why).
double CombinatorialBound(const Index& index, const Component& component);

// What the solver found: units[l][k][t] of line l's k-th product in period t.
struct ModelSolution {
  std::vector<std::vector<std::vector<int64_t>>> units;
  // carried[l][t]: the product (index in input.products) line l starts period t set up
  // for by the model (z), −1 for none.
  std::vector<std::vector<int>> carried;
  SolverReport report;  // objective: the solver's; status, bound, sizes, time
};
// Builds the model of the header per component and solves it with CBC (one solve at a
// time in the process, each CBC run a solver program of its own), all by `deadline`,
// or until input.solver.stop() says so.
absl::StatusOr<ModelSolution> SolveModel(const Index& index, absl::Time deadline);

}  // namespace plantmesh::planning::propose::internal
