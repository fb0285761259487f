// Ends transfers that stop moving. An upload whose client sends no chunk, or a download
// whose client reads none, holds its share of upload-memory-bytes / download-memory-bytes
// for as long as its connection lives (keepalives keep an idle one open), and every other
// transfer is refused RESOURCE_EXHAUSTED meanwhile (outside testing: 30 stalled uploads of
// 9 MiB refused everyone else's photos for as long as their client stayed connected). A
// transfer that has not moved for `idle_timeout` (config transfer-idle-seconds) is ended
// (WatchTransfer), and its call gives its memory back.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

class TransferWatchdog {
 public:
  // One transfer being watched, until it is destroyed (when its call ends).
  class Watch {
   public:
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    // A chunk came in or went out.
    void Moved();

   private:
    friend class TransferWatchdog;
    Watch(TransferWatchdog* watchdog, std::string what, std::function<void()> cancel);
    TransferWatchdog* watchdog_;
    const std::string what_;
    const std::function<void()> cancel_;
    std::atomic<int64_t> moved_ns_;  // steady clock
    bool cancelled_ = false;         // once (for the log); guarded by watchdog_->mu_
  };

  // `idle_timeout` zero: nothing is ever cancelled (and no thread runs).
  explicit TransferWatchdog(absl::Duration idle_timeout);
  ~TransferWatchdog();  // after every Watch taken from it
  TransferWatchdog(const TransferWatchdog&) = delete;
  TransferWatchdog& operator=(const TransferWatchdog&) = delete;

  // Watches a transfer, e.g. "upload of a photo of defect 42" (for the log), from now.
  // `cancel` ends its call; it is called on the watchdog's thread (not under its lock: it
  // may destroy the Watch), in every round from the transfer's idle_timeout on until the
  // Watch is gone, also just after; it must not block, and may be called again.
  std::unique_ptr<Watch> Start(std::string what, std::function<void()> cancel);

  absl::Duration idle_timeout() const { return idle_timeout_; }

 private:
  void Run();

  const absl::Duration idle_timeout_;
  absl::Mutex mu_;
  absl::flat_hash_set<Watch*> watches_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

struct CallContext;

enum class TransferDirection { kUpload, kDownload };

// Watches the transfer of a stream call: ended, when it stops moving
// (CallContext::end_stream). An upload with DEADLINE_EXCEEDED "the client sent nothing for
// 1m (the server's transfer-idle-seconds), and the upload was ended; send it again"; a download
// with CANCELLED, which is what its client gets (its status cannot pass the chunks it does
// not read; outside testing: the log said DEADLINE_EXCEEDED and "send it again"). Null
// without a watchdog (or for a unary call): nothing to call Moved on.
std::unique_ptr<TransferWatchdog::Watch> WatchTransfer(TransferWatchdog* watchdog,
                                                       const CallContext& call,
                                                       TransferDirection direction,
                                                       std::string what);

}  // namespace plantmesh::runtime
