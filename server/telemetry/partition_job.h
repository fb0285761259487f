// The samples' day partitions over time: at start and then every
// [telemetry] partition-check-seconds, one background thread creates the partitions
// from the oldest retained day to partitions-ahead-days ahead and drops the partitions
// whose every sample is older than retention-days, and deletes the state intervals and
// downtimes that ended more than state-retention-days ago. Each creation and drop is logged.
// Days are judged by PostgreSQL's clock, so that replicas agree whatever their own clocks
// say; a process clock more than kClockSkewWarning off it is logged each round.
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/runtime/failure_log.h"
#include "server/telemetry/config.h"
#include "server/telemetry/pg_store.h"

namespace plantmesh::telemetry {

inline constexpr absl::Duration kClockSkewWarning = absl::Minutes(1);

class PartitionJob {
 public:
  // `store` outlives the job. Runs one round synchronously (a failure is logged and
  // retried by the next round), then starts the thread: a round every
  // partition-check-seconds, or RetryIn() after a round that failed. `now`: this process's
  // clock, compared with PostgreSQL's.
  PartitionJob(PgTelemetryStore* store, const TelemetryConfig& config,
               std::function<absl::Time()> now);
  ~PartitionJob();  // stops and joins the thread

  // One round now: creates what is missing, drops what expired. OK when all worked.
  absl::Status RunOnce();

  // After a failed round, the next one: within a minute, not a whole period (outside
  // testing: a round that failed while PostgreSQL was away was tried again an hour later).
  absl::Duration RetryIn() const;

 private:
  // Rounds until stopped; `last` is the constructor's round, which the first wait follows.
  void Loop(absl::Status last);

  PgTelemetryStore* store_;
  TelemetryConfig config_;
  std::function<absl::Time()> now_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  runtime::FailureLog clock_failures_{"telemetry: reading PostgreSQL's clock"};
  runtime::FailureLog create_failures_{"telemetry: creating sample partitions"};
  runtime::FailureLog drop_failures_{"telemetry: dropping expired sample partitions"};
  runtime::FailureLog state_failures_{"telemetry: deleting expired state intervals and downtimes"};
  runtime::FailureLog record_failures_{"telemetry: deleting expired ingest batch records"};
};

}  // namespace plantmesh::telemetry
