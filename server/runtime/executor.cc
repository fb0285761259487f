#include "server/runtime/executor.h"

#include <pthread.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {

Executor::Executor(ExecutorOptions options) : options_(std::move(options)) {
  pool_.reserve(static_cast<size_t>(options_.threads));
  for (int i = 0; i < options_.threads; ++i) {
    pool_.emplace_back([this] { Work(); });
    // Names show in top -H and /proc/<pid>/task/*/comm (15 characters at most).
    const std::string name = absl::StrCat(options_.name.substr(0, 11), "-", i).substr(0, 15);
    pthread_setname_np(pool_.back().native_handle(), name.c_str());
  }
}

Executor::~Executor() { Shutdown(); }

absl::Status Executor::Submit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return ServerDraining("server is shutting down");
  if (waiting_new_calls_ >= static_cast<size_t>(options_.queue_capacity)) {
    return WithRetryDelay(absl::ResourceExhaustedError(absl::StrCat(
                              "server busy: ", waiting_new_calls_,
                              " calls are already waiting for a handler thread (executor-queue = ",
                              options_.queue_capacity, "); retry later")),
                          kRetryWhenBusy);
  }
  queue_.push_back(Task{std::move(task), true});
  ++waiting_new_calls_;
  return absl::OkStatus();
}

bool Executor::Continue(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  queue_.push_back(Task{std::move(task), false});
  return true;
}

void Executor::Work() {
  while (true) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and everything queued has run
      task = std::move(queue_.front());
      queue_.pop_front();
      if (task.new_call) --waiting_new_calls_;
      ++busy_;
    }
    task.run();
    task.run = nullptr;  // destroy captures before counting the task done
    absl::MutexLock lock(&mu_);
    --busy_;
  }
}

void Executor::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && pool_.empty()) return;
    stopping_ = true;
  }
  for (std::thread& thread : pool_) {
    if (thread.joinable()) thread.join();
  }
  pool_.clear();
}

size_t Executor::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

int Executor::busy() const {
  absl::MutexLock lock(&mu_);
  return busy_;
}

}  // namespace plantmesh::runtime
