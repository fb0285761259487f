#include "server/telemetry/state_settle_job.h"

#include <algorithm>
#include <utility>

#include "spdlog/spdlog.h"

namespace plantmesh::telemetry {

StateSettleJob::StateSettleJob(TelemetryStore* store, absl::Duration settle_after,
                               absl::Duration reorder_window, std::function<absl::Time()> now)
    : store_(store),
      settle_after_(settle_after),
      reorder_window_(reorder_window),
      now_(std::move(now)) {
  thread_ = std::thread([this] { Loop(); });
}

StateSettleJob::~StateSettleJob() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void StateSettleJob::Loop() {
  const absl::Duration period = std::max(settle_after_ / 2, absl::Seconds(1));
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped), period)) return;
    }
    const absl::Time now = now_();
    absl::StatusOr<int> settled =
        store_->SettlePendingStates(now - settle_after_, now - reorder_window_);
    failures_.Record(settled.status(), period);
    if (settled.ok() && *settled > 0) {
      spdlog::debug("telemetry: settled the state of {} machines by the clock", *settled);
    }
  }
}

}  // namespace plantmesh::telemetry
