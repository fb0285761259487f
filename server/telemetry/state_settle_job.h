// Settles machine state changes that no later sample settles (states.h, SettleBatch):
// every [telemetry] state-settle-seconds / 2, the trackers whose change is older than
// state-settle-seconds by the server's clock are moved past it, so a stop reported by
// an adapter that then stays silent (EXECUTION only on change) is a downtime to list and
// give a reason to within 1.5 × state-settle-seconds, not at the machine's next sample.
// Likewise the observations a tracker holds for the reorder window (state-reorder-seconds)
// are placed once the clock passes them by the window, and settled a round later.
// Replicas may run it together: the trackers are locked, a settled one is not pending.
// A failed round is logged and retried at the next one.
#pragma once

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/runtime/failure_log.h"
#include "server/telemetry/store.h"

namespace plantmesh::telemetry {

class StateSettleJob {
 public:
  // `store` outlives the job. Starts the thread.
  StateSettleJob(TelemetryStore* store, absl::Duration settle_after, absl::Duration reorder_window,
                 std::function<absl::Time()> now);
  ~StateSettleJob();  // stops and joins the thread (a running round finishes first)

 private:
  void Loop();

  TelemetryStore* store_;
  const absl::Duration settle_after_;
  const absl::Duration reorder_window_;
  const std::function<absl::Time()> now_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  runtime::FailureLog failures_{"telemetry: settling machine states"};
};

}  // namespace plantmesh::telemetry
