#include "server/planning/solve_gate.h"

#include "absl/strings/str_cat.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning {

bool SolveGate::TryEnter() {
  absl::MutexLock lock(&mu_);
  if (inside_ >= admitted_) return false;
  ++inside_;
  return true;
}

void SolveGate::Leave() {
  absl::MutexLock lock(&mu_);
  --inside_;
}

absl::Status SolveGate::Refusal() const {
  // A solve or a forecast takes seconds: asked again sooner, the gate is still full.
  return runtime::WithRetryDelay(
      runtime::WithErrorInfo(absl::UnavailableError(refusal_), reason_, {}), absl::Seconds(2));
}

SolveGate& ProposalSolveGate() {
  static auto* gate = new SolveGate(
      2, "SOLVER_BUSY",
      "the solver is busy with another proposal and one more waits for it: retry in a few "
      "seconds");
  return *gate;
}

SolveGate& DemandForecastGate() {
  static auto* gate = new SolveGate(
      2, "FORECAST_BUSY", "the server is forecasting for 2 other calls: retry in a few seconds");
  return *gate;
}

}  // namespace plantmesh::planning
