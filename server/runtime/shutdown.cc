#include "server/runtime/shutdown.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <unordered_set>

#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

std::atomic<bool> draining{false};

struct Listeners {
  absl::Mutex mu;
  std::unordered_set<DrainListener*> set ABSL_GUARDED_BY(mu);
  bool window_over ABSL_GUARDED_BY(mu) = false;
};

Listeners& Registry() {
  static Listeners* listeners = new Listeners();  // never destroyed: used until exit
  return *listeners;
}

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  // Blocked too, to be taken by sigwait and ignored: its default action ends the process
  // at once (no drain, calls cut), and operators send it to "reload" and a closing
  // terminal sends it (outside testing).
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

bool Draining() { return draining.load(std::memory_order_acquire); }

void BeginDraining() {
  Listeners& registry = Registry();
  absl::MutexLock lock(&registry.mu);
  if (draining.exchange(true, std::memory_order_acq_rel)) return;
  for (DrainListener* listener : registry.set) listener->OnDrainStart();
}

void EndDrainWindow() {
  Listeners& registry = Registry();
  absl::MutexLock lock(&registry.mu);
  registry.window_over = true;
  for (DrainListener* listener : registry.set) listener->OnDrainDeadline();
}

void ResetDrainingForTesting() {
  Listeners& registry = Registry();
  absl::MutexLock lock(&registry.mu);
  registry.window_over = false;
  draining.store(false, std::memory_order_release);
}

void AddDrainListener(DrainListener* listener) {
  Listeners& registry = Registry();
  absl::MutexLock lock(&registry.mu);
  registry.set.insert(listener);
  if (draining.load(std::memory_order_acquire)) listener->OnDrainStart();
  if (registry.window_over) listener->OnDrainDeadline();
}

void RemoveDrainListener(DrainListener* listener) {
  Listeners& registry = Registry();
  absl::MutexLock lock(&registry.mu);
  registry.set.erase(listener);
}

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

namespace {

struct Failure {
  absl::Mutex mu;
  std::string reason ABSL_GUARDED_BY(mu);
};

Failure& StopFailureState() {
  static Failure* failure = new Failure();  // never destroyed: read until exit
  return *failure;
}

}  // namespace

void StopForFailure(const std::string& reason) {
  Failure& failure = StopFailureState();
  {
    absl::MutexLock lock(&failure.mu);
    if (!failure.reason.empty()) return;
    failure.reason = reason;
  }
  spdlog::critical("{}: stopping (exit 1) so that the supervisor starts the server again", reason);
  // Taken by WaitForTerminationSignal's sigwait: every thread blocks SIGTERM.
  kill(getpid(), SIGTERM);
}

std::string StopFailure() {
  Failure& failure = StopFailureState();
  absl::MutexLock lock(&failure.mu);
  return failure.reason;
}

int WaitForTerminationSignal() {
  sigset_t set = TerminationSignals();
  while (true) {
    int signal_number = 0;
    if (sigwait(&set, &signal_number) != 0) continue;
    if (signal_number != SIGHUP) return signal_number;
    spdlog::warn(
        "SIGHUP ignored: the server re-reads its certificates and role bindings by itself "
        "(tls-reload-seconds, role-bindings-reload-seconds); SIGTERM drains and stops it");
  }
}

}  // namespace plantmesh::runtime
