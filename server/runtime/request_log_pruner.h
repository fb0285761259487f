// Expiry of the request log (pg_request_log.h): a request_id is remembered for
// `request-id-retention-days`, then its entry is deleted, and a call that reuses the id
// after that is a new call. Without it the table of every service grows by one row per
// change forever. The retention must be longer than any client retries a call: the
// SDK retries for seconds, an adapter that buffers through an outage for hours or days,
// hence a default of 30 days.
//
// One background thread per process deletes, at start and then every `period`, the
// entries older than the retention from each hosted service's `<schema>.request_log`, at
// most `batch_rows` per statement (short transactions, no long lock on the table) and
// under a transaction-scoped advisory lock per schema (replicas do not delete the same
// rows at once; one that finds the lock taken skips that schema this round). What it
// deleted is logged; a failure is logged and retried next round.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/runtime/failure_log.h"
#include "server/runtime/pg_pool.h"

namespace plantmesh::runtime {

struct RequestLogPrunerOptions {
  absl::Duration retention = absl::Hours(24 * 30);  // request-id-retention-days
  absl::Duration period = absl::Hours(1);
  int64_t batch_rows = 10000;
};

class RequestLogPruner {
 public:
  // `pool` outlives the pruner; `schemas`: the hosted services' schemas.
  RequestLogPruner(PgPool* pool, std::vector<std::string> schemas, RequestLogPrunerOptions options);
  ~RequestLogPruner();  // Stop()

  // Runs a round at once and then every period, on a thread of its own (a first round
  // with much to delete does not hold up the start).
  void Start();
  void Stop();

  // One round now: the entries deleted over all schemas (first failure: its status,
  // after the other schemas were tried).
  absl::StatusOr<int64_t> RunOnce();

 private:
  absl::StatusOr<int64_t> Prune(const std::string& schema);
  void Loop();

  PgPool* pool_;
  std::vector<std::string> schemas_;
  std::deque<FailureLog> failures_;  // per schema
  RequestLogPrunerOptions options_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace plantmesh::runtime
