// Drives a request function from N worker threads for a fixed time or request count,
// after a warm-up, either closed-loop (each worker sends its next request as soon as the
// previous one returns: finds the maximum throughput) or open-loop at a fixed total
// rate (requests are due on a schedule and latency is measured from the due time, so
// a slow server is not hidden by the client waiting for it: no coordinated omission).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/latency_histogram.h"

namespace plantmesh::bench {

struct LoadOptions {
  int workers = 8;
  absl::Duration warmup = absl::Seconds(2);
  // Length of the measured phase; with `requests` set, the most it may take.
  absl::Duration duration = absl::Seconds(10);
  // When > 0, the measured phase ends after this many requests (all workers together).
  int64_t requests = 0;
  // When > 0, open loop: this many requests per second in total, spread evenly over the
  // workers. 0 = closed loop.
  double rate_per_second = 0;
  // Keep a CallRecord of every measured request in LoadResult::calls (e.g. to see
  // when calls fail and succeed again around a server restart).
  bool record_calls = false;
};

// One measured request: wall-clock times, so that they compare with other processes'.
struct CallRecord {
  absl::Time issued;  // when it was sent (open loop: may be after it was due)
  absl::Time ended;
  absl::StatusCode code;
  int worker;
};

// Sends one request and returns its outcome. Each worker owns one and calls it from
// its own thread only.
using RequestFn = std::function<absl::Status()>;
// Builds worker `index`'s request function (on that worker's thread, before the clock
// starts), e.g. opening its channel.
using WorkerFactory = std::function<absl::StatusOr<RequestFn>(int index)>;

struct LoadResult {
  // Latency of the successful requests of the measured phase.
  LatencyHistogram latency;
  int64_t succeeded = 0;
  int64_t failed = 0;
  // Failed requests by absl status code name, and one example message.
  std::map<std::string, int64_t> failures_by_code;
  std::string first_failure;
  // From the start of the measured phase to the last measured completion.
  absl::Duration elapsed;
  // Open loop: requests that were already late when their worker got to them.
  int64_t late_starts = 0;
  // Successful measured requests of each worker, by index.
  std::vector<int64_t> succeeded_by_worker;
  // With LoadOptions::record_calls: every measured request, by issue time.
  std::vector<CallRecord> calls;

  double requests_per_second() const;
  // Jain's fairness index of succeeded_by_worker: 1 when every worker got the same
  // share of the server, 1/N when one worker got everything.
  double worker_fairness() const;
};

// Runs the load. Fails only when a worker cannot be set up; request failures are
// counted in the result.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options, const WorkerFactory& factory);

}  // namespace plantmesh::bench
