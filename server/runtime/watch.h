// Watch*/tail RPCs: a server stream fed by an EventHub subscription, with the ends every
// watch shares. A service's handler returns OpenWatch<Response>(...) with its own
// per-event function (event -> response, or skip it); the runtime's reactor pulls from
// it (streams.h). No thread waits for a watcher: the subscription wakes the stream when
// events or its end arrive, and an idle watcher costs its subscription and its call.
//
// How a watch ends:
//   - the subscription ends: its status (cursor errors, WATCH_TOO_SLOW, a reset stream,
//     SERVER_STOPPING; rules in event_hub.h). A watcher that fell behind because its
//     client stopped reading is ended at once (its subscription freed), not when the
//     client reads again: it gets what was already written to it, then the status;
//   - the per-event function fails: that status (e.g. DATA_LOSS for an event it cannot
//     read);
//   - the server drains: UNAVAILABLE with ErrorInfo SERVER_DRAINING and metadata
//     `cursor`, that of the last event this watch took (sent or skipped), to resume on
//     another replica;
//   - the client leaves, or its deadline passes: the runtime cancels the subscription.
// Every resume cursor is that of the last event the watch took from its subscription:
// events are taken one at a time, so none is taken and then lost.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/runtime/event_hub.h"
#include "server/runtime/streams.h"

namespace plantmesh::runtime {

// What a watch makes of one event, on the executor: true with `*response` filled to
// send it, false to skip it (e.g. outside the watch's filter), or an error that ends the
// watch. `*response` is empty on entry.
template <class Response>
using WatchEventFunction =
    std::function<absl::StatusOr<bool>(const StreamEvent& event, Response* response)>;

// The part of a watch that does not depend on its response type.
class WatchFeed {
 public:
  explicit WatchFeed(std::unique_ptr<Subscription> subscription);
  ~WatchFeed();  // cancels the subscription

  // Start: the subscription wakes `control` when events or its end arrive.
  void Start(StreamControl control);
  // The next event (kMessage), kPending (Wake follows), or kEnd with `*end`.
  Pull NextEvent(std::shared_ptr<const StreamEvent>* event, absl::Status* end);
  // The stream has no room (a slow client): true with `*end` when the watch ends anyway.
  bool EndWithoutRoom(absl::Status* end);
  // Draining: the next NextEvent or EndWithoutRoom ends the watch. Any thread.
  void OnDrain();
  // Ends the subscription (the call ended, or the per-event function failed). Any thread.
  void Cancel();

 private:
  absl::Status DrainStatus() const;

  std::unique_ptr<Subscription> subscription_;
  StreamControl control_{nullptr};
  std::atomic<bool> draining_{false};
};

template <class Response>
class WatchSource final : public StreamSource<Response> {
 public:
  WatchSource(std::unique_ptr<Subscription> subscription, WatchEventFunction<Response> on_event)
      : feed_(std::move(subscription)), on_event_(std::move(on_event)) {}

  void Start(StreamControl control) override {
    control_ = control;
    feed_.Start(std::move(control));
  }

  Pull Next(Response* message, absl::Status* end) override {
    // Skipped events cost no write; after this many in one go, let other calls run.
    constexpr int kMaxSkippedPerNext = 256;
    for (int skipped = 0; skipped < kMaxSkippedPerNext; ++skipped) {
      std::shared_ptr<const StreamEvent> event;
      const Pull pulled = feed_.NextEvent(&event, end);
      if (pulled != Pull::kMessage) return pulled;
      message->Clear();
      absl::StatusOr<bool> send = on_event_(*event, message);
      if (!send.ok()) {
        feed_.Cancel();
        *end = send.status();
        return Pull::kEnd;
      }
      if (*send) return Pull::kMessage;
    }
    control_.Wake();
    return Pull::kPending;
  }

  bool EndWithoutRoom(absl::Status* end) override { return feed_.EndWithoutRoom(end); }
  void OnDrain() override { feed_.OnDrain(); }
  void OnCallEnd() override { feed_.Cancel(); }

 private:
  WatchFeed feed_;
  WatchEventFunction<Response> on_event_;
  StreamControl control_{nullptr};
};

// Subscribes to `stream_key` from `cursor` (rules in event_hub.h) and returns the
// watch's source. INVALID_ARGUMENT for a malformed cursor, FAILED_PRECONDITION for one of
// an older generation, UNAVAILABLE when `hub` is null (the server publishes no events)
// or has not reached Redis yet; other cursor errors end the stream before any event.
absl::StatusOr<std::unique_ptr<Subscription>> SubscribeForWatch(EventHub* hub,
                                                                const std::string& stream_key,
                                                                const std::string& cursor);

template <class Response>
absl::StatusOr<std::unique_ptr<StreamSource<Response>>> OpenWatch(
    EventHub* hub, const std::string& stream_key, const std::string& cursor,
    WatchEventFunction<Response> on_event) {
  absl::StatusOr<std::unique_ptr<Subscription>> subscription =
      SubscribeForWatch(hub, stream_key, cursor);
  if (!subscription.ok()) return subscription.status();
  return std::make_unique<WatchSource<Response>>(*std::move(subscription), std::move(on_event));
}

}  // namespace plantmesh::runtime
