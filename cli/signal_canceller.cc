#include "cli/signal_canceller.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <utility>

#include "grpcpp/client_context.h"

namespace plantmesh::cli {
namespace {

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);  // our own wake-up at exit
  return set;
}

// SIGUSR2 wakes a thread blocked in read(): a handler that does nothing, installed without
// SA_RESTART, so that the read fails with EINTR instead of going on.
void InstallReadInterrupter() {
  struct sigaction action = {};
  action.sa_handler = [](int) {};
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGUSR2, &action, nullptr);
}

}  // namespace

SignalCanceller::SignalCanceller() {
  InstallReadInterrupter();
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A shell without job control starts background commands with SIGINT ignored, and an
  // ignored signal never reaches sigwait: take it back (it stays blocked, so it is safe).
  std::signal(SIGINT, SIG_DFL);
  thread_ = std::thread([this] { Wait(); });
}

SignalCanceller::~SignalCanceller() {
  stopping_ = true;
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

void SignalCanceller::SetCall(grpc::ClientContext* context) {
  std::lock_guard<std::mutex> lock(mutex_);
  call_ = context;
}

void SignalCanceller::SetStopper(std::function<void()> stop) {
  std::lock_guard<std::mutex> lock(mutex_);
  stopper_ = std::move(stop);
}

void SignalCanceller::SetBlockingReader(bool reading) {
  std::lock_guard<std::mutex> lock(mutex_);
  has_reader_ = reading;
  if (reading) reader_ = pthread_self();
}

void SignalCanceller::Wait() {
  sigset_t set = HandledSignals();
  while (true) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    if (signal == SIGUSR1 && stopping_) return;
    if (signal != SIGINT && signal != SIGTERM) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    // Nothing to stop cleanly: the shell convention. A second signal ends plantctl too:
    // the clean stop asked by the first has not come (outside testing: a command blocked
    // opening a named pipe ignored Ctrl-C and SIGTERM until killed).
    if ((call_ == nullptr && !stopper_) || interrupted_) {
      // Said as every stopped command says it (re-test: `telemetry tail` stopped while
      // looking its machines up exited 130 without a word).
      constexpr char kInterrupted[] = "plantctl: interrupted\n";
      if (write(STDERR_FILENO, kInterrupted, sizeof(kInterrupted) - 1) < 0) {
        // nothing more to say it with
      }
      std::_Exit(130);
    }
    interrupted_ = true;
    if (call_ != nullptr) call_->TryCancel();
    // Under the lock, so that the stopper's owner, once SetStopper(nullptr) returned,
    // may destroy what it refers to. (Stoppers take no lock that is held while
    // SetCall or SetStopper is called.)
    if (stopper_) stopper_();
    if (has_reader_) pthread_kill(reader_, SIGUSR2);
  }
}

}  // namespace plantmesh::cli
