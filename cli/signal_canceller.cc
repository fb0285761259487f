#include "cli/signal_canceller.h"

#include <signal.h>

#include <csignal>
#include <cstdlib>

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

void SignalCanceller::Wait() {
  sigset_t set = HandledSignals();
  while (true) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    if (signal == SIGUSR1 && stopping_) return;
    if (signal != SIGINT && signal != SIGTERM) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    if (call_ == nullptr) std::_Exit(130);  // nothing to stop cleanly: the shell convention
    interrupted_ = true;
    call_->TryCancel();
  }
}

}  // namespace plantmesh::cli
