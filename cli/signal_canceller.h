// Ctrl-C (SIGINT) and SIGTERM cancel the call in progress instead of killing plantctl,
// so a watch stops cleanly. The signals are blocked in every thread (construct this
// before gRPC starts its threads) and taken by one thread with sigwait.
#pragma once

#include <pthread.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

namespace grpc {
class ClientContext;
}

namespace plantmesh::cli {

class SignalCanceller {
 public:
  SignalCanceller();
  ~SignalCanceller();
  SignalCanceller(const SignalCanceller&) = delete;
  SignalCanceller& operator=(const SignalCanceller&) = delete;

  // The call to cancel on a signal; nullptr when none is running.
  void SetCall(grpc::ClientContext* context);
  // Also called on a signal (after the call is cancelled); with one set, a signal
  // between calls stops the command cleanly instead of exiting with 130. It runs
  // under the canceller's lock: it must not call SetCall or SetStopper.
  void SetStopper(std::function<void()> stop);
  const std::atomic<bool>& interrupted() const { return interrupted_; }
  // The calling thread blocks reading standard input (an import or ingest of "-"): a
  // signal also interrupts that read (EINTR: the stream reads as failed), or Ctrl-C would
  // wait for the next line. false: it no longer reads.
  void SetBlockingReader(bool reading);

 private:
  void Wait();

  std::mutex mutex_;
  grpc::ClientContext* call_ = nullptr;
  std::function<void()> stopper_;
  bool has_reader_ = false;
  pthread_t reader_{};
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace plantmesh::cli
