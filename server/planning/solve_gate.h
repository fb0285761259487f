// How many of the planning service's heavy calls a process admits at once: ProposePlan's
// solves (one solving — each keeps a core busy for its time limit; propose::ProposePlan
// serialises its solves — and one waiting for it) and ForecastDemand's forecasts (one per
// core of this reference machine; each reads the products' whole history and forecasts
// them on executor threads). A call beyond is refused at once with UNAVAILABLE
// (SOLVER_BUSY, FORECAST_BUSY: retry in a few seconds) before it reads or computes
// anything, instead of holding a handler thread and memory while it waits (outside
// testing: 16 waiting proposals took every handler thread and every service of the
// process stalled; 16 legal forecasts of 1,000 products each took 35 s, 1.2 GB and
// starved a ListLines into DEADLINE_EXCEEDED; refused proposals forecast first and were
// refused after 16 s).
#pragma once

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace plantmesh::planning {

class SolveGate {
 public:
  // `reason` (ErrorInfo) and `refusal` (the message) of the UNAVAILABLE a call beyond
  // `admitted` gets.
  SolveGate(int admitted, std::string reason, std::string refusal)
      : admitted_(admitted), reason_(std::move(reason)), refusal_(std::move(refusal)) {}

  // How many it admits at once.
  int admitted() const { return admitted_; }
  // What a call it does not admit is answered.
  absl::Status Refusal() const;
  // True when admitted (then Leave once done); false when admitted() are inside.
  bool TryEnter();
  void Leave();

 private:
  const int admitted_;
  const std::string reason_;
  const std::string refusal_;
  absl::Mutex mu_;
  int inside_ ABSL_GUARDED_BY(mu_) = 0;
};

// A place in a gate for one call, left when it goes out of scope (every return path).
class GateAdmission {
 public:
  // Admitted when the gate had room (then `admitted()`).
  explicit GateAdmission(SolveGate& gate) : gate_(gate), admitted_(gate.TryEnter()) {}
  GateAdmission(const GateAdmission&) = delete;
  GateAdmission& operator=(const GateAdmission&) = delete;
  ~GateAdmission() {
    if (admitted_) gate_.Leave();
  }
  bool admitted() const { return admitted_; }
  // OK when admitted, else the gate's Refusal.
  absl::Status status() const { return admitted_ ? absl::OkStatus() : gate_.Refusal(); }

 private:
  SolveGate& gate_;
  const bool admitted_;
};

// The process's gates: ProposePlan's (2: solving and waiting) and ForecastDemand's (2).
SolveGate& ProposalSolveGate();
SolveGate& DemandForecastGate();

}  // namespace plantmesh::planning
