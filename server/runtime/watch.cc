#include "server/runtime/watch.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "server/runtime/stream_cursor.h"

namespace plantmesh::runtime {

WatchFeed::WatchFeed(std::unique_ptr<Subscription> subscription)
    : subscription_(std::move(subscription)) {}

WatchFeed::~WatchFeed() { Cancel(); }

void WatchFeed::Start(StreamControl control) {
  control_ = control;
  subscription_->SetNotify([control = std::move(control)] { control.Wake(); });
}

Pull WatchFeed::NextEvent(std::shared_ptr<const StreamEvent>* event, absl::Status* end) {
  const Pull pulled = NextEvents(1, SIZE_MAX, &batch_, end);
  if (pulled == Pull::kMessage) {
    *event = std::move(batch_.front());
    batch_.clear();
  }
  return pulled;
}

Pull WatchFeed::NextEvents(size_t max_events, size_t max_payload_bytes,
                           std::vector<std::shared_ptr<const StreamEvent>>* events,
                           absl::Status* end) {
  events->clear();
  if (draining_.load()) {
    *end = DrainStatus();
    Cancel();
    return Pull::kEnd;
  }
  // Only what the watch sends (or skips) in its next response: the subscription's
  // cursor is then always that of the last event this watch sent or skipped, which is
  // what every resume cursor must be.
  absl::Status status = subscription_->Poll(events, max_events, max_payload_bytes);
  if (!events->empty()) return Pull::kMessage;
  if (!status.ok()) {
    *end = std::move(status);
    return Pull::kEnd;
  }
  return Pull::kPending;  // Poll armed the notification
}

bool WatchFeed::EndWithoutRoom(absl::Status* owed, absl::Status* end) {
  if (!owed->ok()) {
    *end = std::exchange(*owed, absl::OkStatus());
    Cancel();
    return true;
  }
  if (draining_.load()) {
    *end = DrainStatus();
    Cancel();
    return true;
  }
  absl::Status ended = subscription_->TakeEnd();
  if (ended.ok()) return false;
  *end = std::move(ended);
  return true;
}

void WatchFeed::OnDrain() {
  draining_.store(true);
  control_.Wake();
}

void WatchFeed::Cancel() {
  if (subscription_ != nullptr) subscription_->Cancel();
}

absl::Status WatchFeed::DrainStatus() const {
  return WithRetryDelay(
      ResumableUnavailable("SERVER_DRAINING", "the server is draining", subscription_->cursor()),
      kRetryAfterOutage);
}

absl::StatusOr<std::unique_ptr<Subscription>> SubscribeForWatch(EventHub* hub,
                                                                const std::string& stream_key,
                                                                const std::string& cursor) {
  if (hub == nullptr) return absl::UnavailableError("this server publishes no events");
  return hub->Subscribe(stream_key, cursor);
}

}  // namespace plantmesh::runtime
