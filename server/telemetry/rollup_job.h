// The rollups' background job (why a job: migrations 0005_rollups_by_job.sql and
// 0006_latest_values_by_job.sql): one thread that rolls up the batches ingest committed
// since its last round and moves the latest values forward to them, every
// [telemetry] rollup-interval-ms, and round after round while a round comes back full
// (a backlog after an outage or a replay). Replicas share the work through the store's
// lock: one round at a time in the whole deployment. A failed round is logged and
// retried at the next interval; nothing is lost, the batches stay pending.
#pragma once

#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/runtime/failure_log.h"
#include "server/telemetry/pg_store.h"

namespace plantmesh::telemetry {

class RollupJob {
 public:
  // Samples one round takes at most (whole batches; at least one): a round is
  // one transaction, a fraction of a second at this size, well inside the pool's
  // statement timeout.
  static constexpr int64_t kRoundSamples = 200'000;

  // `store` outlives the job. Starts the thread.
  RollupJob(PgTelemetryStore* store, absl::Duration interval);
  ~RollupJob();  // stops and joins the thread (a running round finishes first)

  // Rounds until nothing is pending (or another replica holds the lock): the batches
  // rolled up. Tests call it to make the rollups complete now.
  absl::StatusOr<int64_t> RunUntilIdle();

 private:
  void Loop();
  // Rounds until one comes back empty or busy (until_idle) or until one is not full
  // (the thread's rounds); the batches rolled up.
  absl::StatusOr<int64_t> RunRounds(bool until_idle);
  bool Stopping();

  PgTelemetryStore* store_;
  absl::Duration interval_;
  runtime::FailureLog failures_{"telemetry: rolling up ingested samples"};
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace plantmesh::telemetry
