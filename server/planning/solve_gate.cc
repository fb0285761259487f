#include "server/planning/solve_gate.h"

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

SolveGate& ProposalSolveGate() {
  static auto* gate = new SolveGate(2);
  return *gate;
}

SolveGate& DemandForecastGate() {
  static auto* gate = new SolveGate(2);
  return *gate;
}

}  // namespace plantmesh::planning
