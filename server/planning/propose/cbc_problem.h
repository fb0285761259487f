// One CBC run as data: the mixed-integer program the server builds (model.cc) and the
// answer the solver program (cbc_solver_main.cc) sends back, each as bytes for the pipe
// between the two processes (solver_process.h says why they are two).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace plantmesh::planning::propose::internal {

// min Σ cost·x subject to row_lower ≤ A·x ≤ row_upper, column_lower ≤ x ≤ column_upper,
// x integer where `integer`; ±infinity for an open side. A is column-major: column c's
// entries are [column_starts[c], column_starts[c + 1]) of entry_rows/entry_values.
struct CbcProblem {
  std::vector<double> column_lower, column_upper, cost;
  std::vector<uint8_t> integer;  // 1: an integer column
  std::vector<double> row_lower, row_upper;
  std::vector<int64_t> column_starts;  // columns + 1 entries, the first 0
  std::vector<int32_t> entry_rows;
  std::vector<double> entry_values;
  std::vector<double> start;  // the MIP start, one value per column
  double seconds = 0;         // CBC's own time limit (wall clock), > 0
  double relative_gap = 0;    // stop when proven within it, 0-1
  double absolute_gap = 0;    // or within this many objective units
  int64_t max_nodes = -1;     // a branch-and-bound node limit; −1: none
};

// What a run found.
struct CbcRun {
  std::vector<double> values;  // one per column; empty: no solution
  double bound = 0;            // a lower bound on the optimum (every cost is ≥ 0)
  bool optimal = false;        // proven within relative_gap or absolute_gap
  bool node_limit = false;     // stopped by max_nodes
};

// The bytes of each, for the solver program's standard input and output. Both ends are
// built from this file; the leading tag tells a stale solver program from a current one.
// Decoding is INTERNAL on bytes that do not parse as a whole (a cut-short answer, another
// version); an answer encoded from an error decodes to that error (INTERNAL).
std::string EncodeProblem(const CbcProblem& problem);
absl::StatusOr<CbcProblem> DecodeProblem(const std::string& bytes);
std::string EncodeRun(const absl::StatusOr<CbcRun>& run);
absl::StatusOr<CbcRun> DecodeRun(const std::string& bytes);

// The solve itself (cbc_solve.cc, linked into the solver program only: CBC's driver keeps
// process-wide state and cannot be stopped inside an LP solve).
absl::StatusOr<CbcRun> SolveWithCbc(const CbcProblem& problem);

}  // namespace plantmesh::planning::propose::internal
