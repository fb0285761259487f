// Shared by the optimiser's files: lookups over a validated input.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "server/planning/propose/lot_sizing.h"

namespace plantmesh::planning::propose::internal {

// Indexes of a validated ProposalInput.
struct Index {
  explicit Index(const ProposalInput& input);

  const ProposalInput& input;
  std::map<std::string, int> product;  // id → index in input.products
  // demand[p][t + 1]: units of product p due in period t (t = −1 .. T−1).
  std::vector<std::vector<int64_t>> demand;
  // Changeover minutes on line l from product a to b (product indexes); 0 when unlisted.
  double ChangeoverMinutes(int line, int from, int to) const;
  // The longest changeover into `to` on `line` from any product the line makes.
  double LongestInto(int line, int to) const;

 private:
  // (line id or "", from, to) → minutes.
  std::map<std::tuple<std::string, int, int>, double> changeover_;
};

// Stock and unmet demand of product `p` given its production per period: demand met from
// stock earliest due first (stock on hand covers due_period −1 first).
struct Flow {
  std::vector<double> stock_end;  // per period
  std::vector<int64_t> unmet;     // per period index t + 1 (t = −1 .. T−1)
};
Flow FlowOf(const Index& index, int p, const std::vector<int64_t>& produced);

// What the solver found: units[l][k][t] of line l's k-th product in period t.
struct ModelSolution {
  std::vector<std::vector<std::vector<int64_t>>> units;
  // carried[l][t]: the product (index in input.products) line l starts period t set up
  // for by the model (z), −1 for none.
  std::vector<std::vector<int>> carried;
  SolverReport report;  // objective: the solver's; status, bound, sizes, time
};
// Builds the model of the header and solves it with CBC (serialised process-wide).
absl::StatusOr<ModelSolution> SolveModel(const Index& index);

}  // namespace plantmesh::planning::propose::internal
