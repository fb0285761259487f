// Watch*/tail RPCs: a server stream fed by an EventHub subscription, with the ends every
// watch shares. A service's handler returns OpenSharedWatch<Response>(...) with its
// per-event functions (which variant of the response this watcher gets, or skip it; and
// how to build a variant), or OpenWatch<Response>(...) with a per-watcher function (event
// -> response, or skip it); the runtime's reactor pulls from it (streams.h). No thread
// waits for a watcher: the subscription wakes the stream when events or its end arrive,
// and an idle watcher costs its subscription and its call.
//
// A shared watch builds and serializes each variant of each event's response once, for
// every watcher of the process that sends it: a thousand watchers of one event cost one
// serialization, and each writes the same bytes (SharedMessageSource, streams.h). One
// that coalesces sends a watcher the events waiting for it in one response, made of
// the events' parts, each serialized once (SharedWatchResponses::build_part).
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
// a watch takes only the events of its next response, so none is taken and then lost.
#pragma once

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/runtime/event_hub.h"
#include "server/runtime/streams.h"

namespace plantmesh::runtime {

// What a watch makes of one event, on the executor: true with `*response` filled to
// send it, false to skip it (e.g. outside the watch's filter), or an error that ends the
// watch (after the events taken before it). `*response` is empty on entry, unless the
// watch coalesces (WatchOptions): it then holds the parts of the events before this one,
// the function appends this one's and leaves it as it was when it skips the event or
// fails.
template <class Response>
using WatchEventFunction =
    std::function<absl::StatusOr<bool>(const StreamEvent& event, Response* response)>;

struct WatchOptions {
  // 0: one event per response. Otherwise a watcher with several events waiting (its
  // client reads slower than they come) gets them in one response, while their payloads
  // total at most this many bytes (a single event may be larger): the same events in
  // fewer messages, each cost once per message (write, TLS record, HTTP/2 frame), and
  // nothing waits for more to come. A response's cursor is then that of its last event.
  size_t coalesce_payload_bytes = 0;
};

// The part of a watch that does not depend on its response type.
class WatchFeed {
 public:
  explicit WatchFeed(std::unique_ptr<Subscription> subscription);
  ~WatchFeed();  // cancels the subscription

  // Start: the subscription wakes `control` when events or its end arrive.
  void Start(StreamControl control);
  // The next event (kMessage), kPending (Wake follows), or kEnd with `*end`.
  Pull NextEvent(std::shared_ptr<const StreamEvent>* event, absl::Status* end);
  // The same for up to `max_events` events, in order, into `*events` (emptied first);
  // after the first, only while their payloads total at most `max_payload_bytes`. The
  // watch must send (or skip) every one of them: the resume cursor is the last one's.
  Pull NextEvents(size_t max_events, size_t max_payload_bytes,
                  std::vector<std::shared_ptr<const StreamEvent>>* events, absl::Status* end);
  // The stream has no room (a slow client): true with `*end` when the watch ends anyway.
  // `*owed` (not OK: an event that failed after those sent with it) is that end, taken:
  // the feed's own would resume past the events taken with the failed one.
  bool EndWithoutRoom(absl::Status* owed, absl::Status* end);
  // Draining: the next NextEvent or EndWithoutRoom ends the watch. Any thread.
  void OnDrain();
  // Ends the subscription (the call ended, or the per-event function failed). Any thread.
  void Cancel();

 private:
  absl::Status DrainStatus() const;

  std::unique_ptr<Subscription> subscription_;
  std::vector<std::shared_ptr<const StreamEvent>> batch_;  // Poll's, kept for its capacity
  StreamControl control_{nullptr};
  std::atomic<bool> draining_{false};
};

template <class Response>
class WatchSource final : public StreamSource<Response> {
 public:
  WatchSource(std::unique_ptr<Subscription> subscription, WatchEventFunction<Response> on_event,
              WatchOptions options = {})
      : feed_(std::move(subscription)), on_event_(std::move(on_event)), options_(options) {}

  void Start(StreamControl control) override {
    control_ = control;
    feed_.Start(std::move(control));
  }

  Pull Next(Response* message, absl::Status* end) override {
    // Skipped events cost no write; after this many in one go, let other calls run.
    constexpr size_t kMaxEventsPerNext = 256;
    const bool coalesce = options_.coalesce_payload_bytes > 0;
    message->Clear();
    if (!failed_.ok()) {
      feed_.Cancel();
      *end = std::exchange(failed_, absl::OkStatus());
      return Pull::kEnd;
    }
    for (size_t taken = 0; taken < kMaxEventsPerNext;) {
      const Pull pulled =
          coalesce
              ? feed_.NextEvents(kMaxEventsPerNext, options_.coalesce_payload_bytes, &events_, end)
              : feed_.NextEvents(1, SIZE_MAX, &events_, end);
      if (pulled != Pull::kMessage) return pulled;
      taken += events_.size();
      bool filled = false;
      for (const std::shared_ptr<const StreamEvent>& event : events_) {
        if (!coalesce) message->Clear();
        absl::StatusOr<bool> send = on_event_(*event, message);
        if (!send.ok()) {
          events_.clear();
          if (filled) {
            failed_ = send.status();  // the events taken before it go first
            return Pull::kMessage;
          }
          feed_.Cancel();
          *end = send.status();
          return Pull::kEnd;
        }
        filled = filled || *send;
      }
      events_.clear();  // the response holds what it needs; the events may go
      if (filled) return Pull::kMessage;
    }
    control_.Wake();
    return Pull::kPending;
  }

  bool EndWithoutRoom(absl::Status* end) override { return feed_.EndWithoutRoom(&failed_, end); }
  void OnDrain() override { feed_.OnDrain(); }
  void OnCallEnd() override { feed_.Cancel(); }

 private:
  WatchFeed feed_;
  WatchEventFunction<Response> on_event_;
  const WatchOptions options_;
  std::vector<std::shared_ptr<const StreamEvent>> events_;  // NextEvents', kept for capacity
  absl::Status failed_;  // the end owed once the events before the failing one went
  StreamControl control_{nullptr};
};

// What a shared watch sends for one event. `select` runs per watcher, `build` once per
// event and variant for every watcher of the process.
template <class Response>
struct SharedWatchResponses {
  // A plain function that fills a response from an event's variant: what it builds
  // depends on nothing but its arguments, and its address names the responses it built
  // (StreamEvent::Derived), so watches of one stream with the same function share them.
  using BuildFunction = absl::Status (*)(const StreamEvent& event, int variant, Response* response);

  // Which variant of `event`'s response this watcher sends (>= 0, e.g. whether the
  // change moved the resource into or out of its filter), kSkipEvent to skip the event
  // (outside its filter), or an error that ends the watch. On the executor.
  std::function<absl::StatusOr<int>(const StreamEvent& event)> select;
  // Fills variant `variant` of `event`'s response (`*response` is empty on entry), or an
  // error that ends every watch that selects it.
  BuildFunction build = nullptr;

  // Several events in one response (optional: with `build_part` set and
  // max_events_per_response above 1). A watcher with events waiting — its client reads
  // slower than they come, or the server is busy — gets up to max_events_per_response
  // of them in one response, while their payloads total at most max_payload_bytes (a
  // single event may be larger); nothing waits for more to come. The same events in
  // fewer messages, each cost once per message (write, TLS record, HTTP/2 frame, the
  // client's read).
  // `build_part` appends an event's part to `*response` and sets nothing but repeated
  // fields: protobuf appends the repeated fields of concatenated messages, so the
  // response of several events is the concatenation of their parts' serializations,
  // each part built and serialized once for every watcher of the process.
  BuildFunction build_part = nullptr;
  size_t max_events_per_response = 1;
  size_t max_payload_bytes = size_t{1} << 20;
};
inline constexpr int kSkipEvent = -1;

namespace internal {

// One event's response (or part of one), serialized once (or why it could not be).
struct SerializedResponse {
  absl::Status status;
  grpc::ByteBuffer bytes;
  std::vector<grpc::Slice> slices;  // `bytes`' slices, for parts (shared, not copied)
};

}  // namespace internal

template <class Response>
class SharedWatchSource final : public StreamSource<Response>, public SharedMessageSource {
 public:
  SharedWatchSource(std::unique_ptr<Subscription> subscription,
                    SharedWatchResponses<Response> responses)
      : feed_(std::move(subscription)),
        responses_(std::move(responses)),
        coalesce_(responses_.build_part != nullptr && responses_.max_events_per_response > 1) {}

  void Start(StreamControl control) override {
    control_ = control;
    feed_.Start(std::move(control));
  }

  // Typed: this watcher's own copy of the response (the reactor asks NextShared instead).
  Pull Next(Response* message, absl::Status* end) override {
    const Pull pulled = NextSelected(end);
    if (pulled != Pull::kMessage) return pulled;
    message->Clear();
    if (!coalesce_) {
      absl::Status built =
          responses_.build(*selected_.front().event, selected_.front().variant, message);
      selected_.clear();
      return built.ok() ? Pull::kMessage : Fail(std::move(built), end);
    }
    Response part;
    for (size_t i = 0; i < selected_.size(); ++i) {
      part.Clear();
      absl::Status built = responses_.build_part(*selected_[i].event, selected_[i].variant, &part);
      if (!built.ok()) {
        if (i == 0) return Fail(std::move(built), end);
        failed_ = std::move(built);  // the parts before it go first
        break;
      }
      message->MergeFrom(part);
    }
    selected_.clear();
    return Pull::kMessage;
  }

  Pull NextShared(std::shared_ptr<const grpc::ByteBuffer>* bytes, absl::Status* end) override {
    const Pull pulled = NextSelected(end);
    if (pulled != Pull::kMessage) return pulled;
    if (!coalesce_) {
      std::shared_ptr<const internal::SerializedResponse> serialized =
          Serialized(selected_.front(), responses_.build, /*part=*/false);
      selected_.clear();
      if (!serialized->status.ok()) return Fail(serialized->status, end);
      *bytes = std::shared_ptr<const grpc::ByteBuffer>(serialized, &serialized->bytes);
      return Pull::kMessage;
    }
    slices_.clear();
    for (size_t i = 0; i < selected_.size(); ++i) {
      std::shared_ptr<const internal::SerializedResponse> part =
          Serialized(selected_[i], responses_.build_part, /*part=*/true);
      if (!part->status.ok()) {
        if (i == 0) return Fail(part->status, end);
        failed_ = part->status;  // the parts before it go first
        break;
      }
      slices_.insert(slices_.end(), part->slices.begin(), part->slices.end());
    }
    selected_.clear();
    *bytes = std::make_shared<const grpc::ByteBuffer>(slices_.data(), slices_.size());
    slices_.clear();
    return Pull::kMessage;
  }

  bool EndWithoutRoom(absl::Status* end) override { return feed_.EndWithoutRoom(&failed_, end); }
  void OnDrain() override { feed_.OnDrain(); }
  void OnCallEnd() override { feed_.Cancel(); }

 private:
  struct Selected {
    std::shared_ptr<const StreamEvent> event;
    int variant = 0;
  };

  // The events of this watcher's next response, with their variants, into selected_:
  // one, or when coalescing all that wait (within the limits); skipped events cost no
  // write. Every event taken is sent or skipped: the resume cursor is the last one's.
  // An event that cannot be selected or built ends the watch with its error, after the
  // events taken before it (failed_ holds that end until they went).
  Pull NextSelected(absl::Status* end) {
    selected_.clear();
    if (!failed_.ok()) return Fail(std::exchange(failed_, absl::OkStatus()), end);
    // After this many events skipped in one go, let other calls run.
    constexpr size_t kMaxTakenPerNext = 256;
    for (size_t taken = 0; taken < kMaxTakenPerNext;) {
      const Pull pulled = coalesce_ ? feed_.NextEvents(responses_.max_events_per_response,
                                                       responses_.max_payload_bytes, &events_, end)
                                    : feed_.NextEvents(1, SIZE_MAX, &events_, end);
      if (pulled != Pull::kMessage) return pulled;
      taken += events_.size();
      for (std::shared_ptr<const StreamEvent>& event : events_) {
        absl::StatusOr<int> variant = responses_.select(*event);
        if (!variant.ok()) {
          events_.clear();
          if (selected_.empty()) return Fail(variant.status(), end);
          failed_ = variant.status();
          return Pull::kMessage;
        }
        if (*variant >= 0) selected_.push_back(Selected{std::move(event), *variant});
      }
      events_.clear();
      if (!selected_.empty()) return Pull::kMessage;
    }
    control_.Wake();
    return Pull::kPending;
  }

  // `selected`'s response (or `part` of one, with its slices) built by `build`,
  // serialized once for the process.
  static std::shared_ptr<const internal::SerializedResponse> Serialized(
      const Selected& selected, typename SharedWatchResponses<Response>::BuildFunction build,
      bool part) {
    const StreamEvent& event = *selected.event;
    return std::static_pointer_cast<const internal::SerializedResponse>(
        event.Derived(reinterpret_cast<uintptr_t>(build), selected.variant, [&] {
          auto made = std::make_shared<internal::SerializedResponse>();
          Response response;
          made->status = build(event, selected.variant, &response);
          if (made->status.ok()) {
            bool own_buffer = false;
            grpc::Status status =
                grpc::SerializationTraits<Response>::Serialize(response, &made->bytes, &own_buffer);
            if (status.ok() && part) status = made->bytes.Dump(&made->slices);
            if (!status.ok()) {
              made->status = absl::InternalError(absl::StrCat(
                  "the watch's response could not be serialized: ", status.error_message()));
            }
          }
          return std::shared_ptr<const void>(std::move(made));
        }));
  }

  Pull Fail(absl::Status status, absl::Status* end) {
    selected_.clear();
    feed_.Cancel();
    *end = std::move(status);
    return Pull::kEnd;
  }

  WatchFeed feed_;
  const SharedWatchResponses<Response> responses_;
  const bool coalesce_;
  StreamControl control_{nullptr};
  absl::Status failed_;  // the end owed once the events before the failing one went
  // Kept between calls for their capacity.
  std::vector<std::shared_ptr<const StreamEvent>> events_;
  std::vector<Selected> selected_;
  std::vector<grpc::Slice> slices_;
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
    WatchEventFunction<Response> on_event, WatchOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Subscription>> subscription =
      SubscribeForWatch(hub, stream_key, cursor);
  if (!subscription.ok()) return subscription.status();
  return std::make_unique<WatchSource<Response>>(*std::move(subscription), std::move(on_event),
                                                 options);
}

// OpenWatch with responses shared by every watcher that selects the same variant.
template <class Response>
absl::StatusOr<std::unique_ptr<StreamSource<Response>>> OpenSharedWatch(
    EventHub* hub, const std::string& stream_key, const std::string& cursor,
    SharedWatchResponses<Response> responses) {
  absl::StatusOr<std::unique_ptr<Subscription>> subscription =
      SubscribeForWatch(hub, stream_key, cursor);
  if (!subscription.ok()) return subscription.status();
  return std::make_unique<SharedWatchSource<Response>>(*std::move(subscription),
                                                       std::move(responses));
}

}  // namespace plantmesh::runtime
