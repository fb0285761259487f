#include "server/runtime/transfer_watchdog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/runtime/call_context.h"

namespace plantmesh::runtime {
namespace {

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TransferWatchdog::Watch::Watch(TransferWatchdog* watchdog, std::string what,
                               std::function<void()> cancel)
    : watchdog_(watchdog),
      what_(std::move(what)),
      cancel_(std::move(cancel)),
      moved_ns_(SteadyNanos()) {}

TransferWatchdog::Watch::~Watch() {
  absl::MutexLock lock(&watchdog_->mu_);
  watchdog_->watches_.erase(this);
}

void TransferWatchdog::Watch::Moved() { moved_ns_.store(SteadyNanos(), std::memory_order_relaxed); }

TransferWatchdog::TransferWatchdog(absl::Duration idle_timeout) : idle_timeout_(idle_timeout) {
  if (idle_timeout_ > absl::ZeroDuration()) thread_ = std::thread([this] { Run(); });
}

TransferWatchdog::~TransferWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<TransferWatchdog::Watch> TransferWatchdog::Start(std::string what,
                                                                 std::function<void()> cancel) {
  std::unique_ptr<Watch> watch(new Watch(this, std::move(what), std::move(cancel)));
  absl::MutexLock lock(&mu_);
  watches_.insert(watch.get());
  return watch;
}

void TransferWatchdog::Run() {
  // Looked at four times per idle_timeout (at most once a second): a transfer is
  // cancelled between 1 and 1.25 idle_timeouts after it last moved.
  const absl::Duration period = std::min(idle_timeout_ / 4, absl::Seconds(1));
  const int64_t idle_ns = absl::ToInt64Nanoseconds(idle_timeout_);
  while (true) {
    std::vector<std::pair<std::string, std::function<void()>>> stalled;
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) return;
      const int64_t now = SteadyNanos();
      for (Watch* watch : watches_) {
        if (now - watch->moved_ns_.load(std::memory_order_relaxed) < idle_ns) continue;
        // Again in every round until its call has ended (and destroyed the Watch): an
        // end asked for while the call was busy may wait for what the client never does
        // (outside testing: 1 of 25 stalled downloads stayed open).
        stalled.push_back({watch->cancelled_ ? "" : watch->what_, watch->cancel_});
        watch->cancelled_ = true;
      }
    }
    // Outside the lock: ending a call may destroy its Watch (which takes the lock). The
    // copies stay callable after the call ended.
    for (const auto& [what, cancel] : stalled) {
      if (!what.empty()) {
        spdlog::warn(
            "{} moved no chunk for {}: ended (transfer-idle-seconds), giving back its "
            "memory",
            what, absl::FormatDuration(idle_timeout_));
      }
      cancel();
    }
  }
}

std::unique_ptr<TransferWatchdog::Watch> WatchTransfer(TransferWatchdog* watchdog,
                                                       const CallContext& call,
                                                       TransferDirection direction,
                                                       std::string what) {
  if (watchdog == nullptr || !call.end_stream) return nullptr;
  const std::string idle = absl::FormatDuration(watchdog->idle_timeout());
  absl::Status ended =
      direction == TransferDirection::kUpload
          ? absl::DeadlineExceededError(
                absl::StrCat("the client sent nothing for ", idle,
                             " (the server's transfer-idle-seconds), and the upload was ended; "
                             "send it again"))
          : absl::CancelledError(
                absl::StrCat("the client read no chunk of the download for ", idle,
                             " (the server's transfer-idle-seconds), and the download was ended"));
  return watchdog->Start(std::move(what),
                         [end = call.end_stream, ended = std::move(ended)] { end(ended); });
}

}  // namespace plantmesh::runtime
