// How many ProposePlan solves a process admits: one solving (each keeps a core busy for its
// time limit; propose::ProposePlan serialises its solves) and one waiting for it; a third
// call is refused at once with UNAVAILABLE SOLVER_BUSY instead of holding a handler thread
// while it waits (outside testing: 16 waiting calls took every handler thread, and every
// service of the process stalled).
#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace plantmesh::planning {

class SolveGate {
 public:
  static constexpr int kAdmitted = 2;  // solving and waiting

  // True when admitted (then Leave once done); false when kAdmitted are inside.
  bool TryEnter();
  void Leave();

 private:
  absl::Mutex mu_;
  int inside_ ABSL_GUARDED_BY(mu_) = 0;
};

// The process's one gate.
SolveGate& ProposalSolveGate();

}  // namespace plantmesh::planning
