// A background task's failures in the log: the first of a run as a warning, then at most
// one line every `every` while the failures go on (with their count), and one line when
// the task works again. Outside testing: the rollup and state-settling jobs wrote a
// warning per retry, about 6,000 lines an hour of a PostgreSQL outage, while the other
// services said it twice (down, back).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

class FailureLog {
 public:
  // `task` completes "… failed", e.g. "telemetry: rolling up ingested samples".
  explicit FailureLog(std::string task, absl::Duration every = absl::Minutes(1),
                      std::function<absl::Time()> now = absl::Now);

  // A failed attempt, tried again in `retry_in`.
  void Failed(const absl::Status& status, absl::Duration retry_in);
  // A successful attempt.
  void Succeeded();
  // An attempt's outcome: Succeeded when `status` is OK, else Failed.
  void Record(const absl::Status& status, absl::Duration retry_in);

  // Failures of the current run (0 once the task works).
  int64_t failures() const;
  // Runs of failures begun so far (each logged at its start).
  int64_t runs() const;

 private:
  const std::string task_;
  const absl::Duration every_;
  const std::function<absl::Time()> now_;
  mutable absl::Mutex mu_;
  int64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t runs_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time first_ ABSL_GUARDED_BY(mu_);
  absl::Time logged_ ABSL_GUARDED_BY(mu_);
};

}  // namespace plantmesh::runtime
