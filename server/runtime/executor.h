// The bounded executor every handler runs on: a fixed pool of threads and a bounded
// queue of calls waiting to start. gRPC's own threads only run reactors (reading,
// writing, finishing); anything that may block — PostgreSQL, Redis, a handler — runs
// here, so a slow dependency can hold at most `threads` threads and `queue_capacity`
// waiting calls, and is refused beyond that (RESOURCE_EXHAUSTED) instead of growing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace plantmesh::runtime {

struct ExecutorOptions {
  int threads = 16;               // >= 1: handlers running at once
  int queue_capacity = 1024;      // >= 1: calls waiting to start before new ones are refused
  std::string name = "executor";  // thread name prefix (at most 11 characters are kept)
};

class Executor {
 public:
  // Starts options.threads threads.
  explicit Executor(ExecutorOptions options);
  ~Executor();  // Shutdown()
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues the start of a new call. RESOURCE_EXHAUSTED (message naming executor-queue)
  // when queue_capacity tasks are already waiting; UNAVAILABLE after Shutdown began.
  // `task` is destroyed unrun when refused.
  absl::Status Submit(std::function<void()> task);

  // Queues the next step of a call already admitted (the next message of a stream, its
  // final step). Never refused for a full queue: every call keeps at most one step
  // queued, so these tasks are bounded by the calls in flight, and refusing one would
  // fail a call the server already accepted. False (task destroyed unrun) after Shutdown
  // began — the server stops before its executor, so no admitted call sees that.
  bool Continue(std::function<void()> task);

  // Refuses new tasks, runs every task already queued, joins all threads. Idempotent. Call after
  // the gRPC server has stopped.
  void Shutdown();

  // Tasks waiting to run; tasks running; threads of the pool.
  size_t queued() const;
  int busy() const;
  int threads() const { return options_.threads; }

 private:
  void Work();

  const ExecutorOptions options_;
  mutable absl::Mutex mu_;
  struct Task {
    std::function<void()> run;
    bool new_call;  // queued by Submit (counted against queue_capacity)
  };
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  size_t waiting_new_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> pool_;
};

}  // namespace plantmesh::runtime
