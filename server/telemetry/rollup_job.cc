#include "server/telemetry/rollup_job.h"

#include "spdlog/spdlog.h"

namespace plantmesh::telemetry {

RollupJob::RollupJob(PgTelemetryStore* store, absl::Duration interval)
    : store_(store), interval_(interval) {
  thread_ = std::thread([this] { Loop(); });
}

RollupJob::~RollupJob() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int64_t> RollupJob::RunUntilIdle() { return RunRounds(/*until_idle=*/true); }

absl::StatusOr<int64_t> RollupJob::RunRounds(bool until_idle) {
  int64_t batches = 0;
  while (true) {
    absl::StatusOr<PgTelemetryStore::RollupRound> round = store_->RollUpPending(kRoundSamples);
    if (!round.ok()) return round.status();
    batches += round->batches;
    const bool more =
        until_idle ? !round->busy && round->batches > 0 : round->samples >= kRoundSamples;
    if (!more || Stopping()) return batches;
  }
}

bool RollupJob::Stopping() {
  absl::MutexLock lock(&mu_);
  return stop_;
}

void RollupJob::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped), interval_)) return;
    }
    // Round after round while they come back full (a backlog); otherwise the next
    // interval's batches wait for the next round: the fewer rounds, the fewer times a
    // cell is rewritten.
    failures_.Record(RunRounds(/*until_idle=*/false).status(), interval_);
  }
}

}  // namespace plantmesh::telemetry
