#include "server/runtime/shutdown.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>

namespace plantmesh::runtime {
namespace {

std::atomic<bool> draining{false};

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

bool Draining() { return draining.load(std::memory_order_relaxed); }
void BeginDraining() { draining.store(true, std::memory_order_relaxed); }
void ResetDrainingForTesting() { draining.store(false, std::memory_order_relaxed); }

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set = TerminationSignals();
  int signal_number = 0;
  while (sigwait(&set, &signal_number) != 0) {
  }
  return signal_number;
}

}  // namespace plantmesh::runtime
