// CBC's solve of a CbcProblem, through its C interface: run by the solver program only.
#include <coin/Cbc_C_Interface.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/planning/propose/cbc_problem.h"

namespace plantmesh::planning::propose::internal {
namespace {

struct ModelDeleter {
  void operator()(Cbc_Model* model) const { Cbc_deleteModel(model); }
};

}  // namespace

absl::StatusOr<CbcRun> SolveWithCbc(const CbcProblem& p) {
  std::unique_ptr<Cbc_Model, ModelDeleter> owned(Cbc_newModel());
  Cbc_Model* model = owned.get();
  const int columns = static_cast<int>(p.column_lower.size());
  const std::vector<CoinBigIndex> starts(p.column_starts.begin(), p.column_starts.end());
  // The whole matrix at once: adding rows one by one costs a copy each.
  Cbc_loadProblem(model, columns, static_cast<int>(p.row_lower.size()), starts.data(),
                  p.entry_rows.data(), p.entry_values.data(), p.column_lower.data(),
                  p.column_upper.data(), p.cost.data(), p.row_lower.data(), p.row_upper.data());
  for (int c = 0; c < columns; ++c) {
    if (p.integer[c] != 0) Cbc_setInteger(model, c);
  }
  Cbc_setObjSense(model, 1);
  std::vector<int> all(p.start.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  Cbc_setMIPStartI(model, static_cast<int>(all.size()), all.data(), p.start.data());
  Cbc_setLogLevel(model, 0);
  Cbc_setParameter(model, "log", "0");
  Cbc_setParameter(model, "threads", "0");
  Cbc_setParameter(model, "timeMode", "elapsed");  // the limit is wall-clock time
  // CBC 2.10's preprocessing crashes in CglPreProcess::postProcess when the time limit
  // stops the search (seen here under load); without it the stop is clean.
  Cbc_setParameter(model, "preprocess", "off");
  Cbc_setParameter(model, "randomSeed", "1234567");
  Cbc_setParameter(model, "randomCbcSeed", "1234567");
  Cbc_setParameter(model, "sec", absl::StrCat(p.seconds).c_str());
  Cbc_setParameter(model, "ratioGap", absl::StrCat(p.relative_gap).c_str());
  Cbc_setParameter(model, "allowableGap", absl::StrCat(p.absolute_gap).c_str());
  if (p.max_nodes >= 0) Cbc_setParameter(model, "maxNodes", absl::StrCat(p.max_nodes).c_str());
  const int rc = Cbc_solve(model);
  const double* values = Cbc_bestSolution(model);
  if (values == nullptr && Cbc_status(model) != 1) {
    return absl::InternalError(
        absl::StrCat("the solver failed (status ", Cbc_status(model), ", return code ", rc, ")"));
  }
  CbcRun run;
  if (values != nullptr) run.values.assign(values, values + columns);
  // Every cost is ≥ 0, so 0 bounds the objective when the search proved nothing better.
  run.bound = std::max(0.0, Cbc_getBestPossibleObjValue(model));
  const int secondary = Cbc_secondaryStatus(model);
  run.optimal = Cbc_isProvenOptimal(model) || secondary == 0 || secondary == 2;
  run.node_limit = secondary == 3;
  if (Cbc_isProvenOptimal(model) && values != nullptr) {
    run.bound = std::max(run.bound, Cbc_getObjValue(model));
  }
  return run;
}

}  // namespace plantmesh::planning::propose::internal
