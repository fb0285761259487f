#include "cli/signal_canceller.h"

#include <signal.h>

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

}  // namespace

SignalCanceller::SignalCanceller() {
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

void SignalCanceller::Wait() {
  sigset_t set = HandledSignals();
  while (true) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    if (signal == SIGUSR1 && stopping_) return;
    if (signal != SIGINT && signal != SIGTERM) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    // Nothing to stop cleanly: the shell convention.
    if (call_ == nullptr && !stopper_) std::_Exit(130);
    interrupted_ = true;
    if (call_ != nullptr) call_->TryCancel();
    // Under the lock, so that the stopper's owner, once SetStopper(nullptr) returned,
    // may destroy what it refers to. (Stoppers take no lock that is held while
    // SetCall or SetStopper is called.)
    if (stopper_) stopper_();
  }
}

}  // namespace plantmesh::cli
