// EventHub: one per process. Reads each event stream from Redis once and fans it out in
// memory to every subscriber (Watch* handlers, tails, other services' consumers).
//
// Threads and connections: one reader thread per stream, each with its own Redis
// connection blocked in XREAD (reconnecting with backoff), and one catch-up thread with
// one more connection that checks new subscribers' cursors and pages older events to
// them (XRANGE). No subscriber ever touches Redis or blocks a hub thread.
//
// Subscriptions: each has a bounded queue of live events. A subscriber whose queue
// overflows (it reads slower than events arrive) is ended with UNAVAILABLE, ErrorInfo
// reason WATCH_TOO_SLOW and metadata `cursor` (where to resume); the others are not
// slowed. A subscriber that starts from an older cursor is attached to the live feed at
// once (events after the hub's position L) and gets (cursor, L] from XRANGE first: no
// gap, no duplicate between the two.
//
// Cursor rules (text forms in stream_cursor.h; errors arrive as the subscription's end
// status, before any event):
//   ""   the current end: events published from now on.
//   "0"  the oldest retained event.
//   newer than the newest event: INVALID_ARGUMENT naming `cursor`, ErrorInfo
//        CURSOR_FROM_FUTURE with metadata newest_cursor (also in the message).
//   older than the oldest retained event: starts at the oldest when nothing was ever
//        trimmed from the stream; FAILED_PRECONDITION, ErrorInfo CURSOR_EXPIRED with
//        oldest_cursor, only when events after the cursor were really trimmed.
//   of another generation (Redis lost or replaced its data since, or the database was
//        restored from a backup: see OutboxRelay): FAILED_PRECONDITION,
//        ErrorInfo CURSOR_GENERATION_CHANGED with metadata generation: list again.
//   When the hub sees the generation change under live subscribers, they end with the
//   same FAILED_PRECONDITION.
// A Redis that holds another database's claim (redis_owner.h; checked in every read,
// when EventHubOptions::installation is set) is not read: its subscribers end with
// UNAVAILABLE, ErrorInfo reason REDIS_HELD_BY_ANOTHER_DATABASE and metadata `cursor`,
// and Subscribe answers the same UNAVAILABLE, until the claim is this database's again.
// Events are deduplicated by event_id (the relay delivers at least once, a re-sent
// batch right after the first): the reader drops an event whose id was among the last
// 4,096 events of the stream, for every subscriber at once, and a subscriber
// catching up drops repeats within its backlog.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/stream_page.h"

namespace plantmesh::runtime {

// One event as read from a stream; shared by every subscriber that receives it.
struct StreamEvent {
  std::string cursor;    // "<generation>.<ms>-<seq>": resume after this event
  std::string event_id;  // the outbox event_id (dedup key)
  std::string payload;   // the serialized event, as written to the outbox

  // The payload parsed as `Message`, once for every subscriber that asks (a thousand
  // watchers of one stream then cost one parse per event, not a thousand). Null when the
  // payload is not a valid `Message`, or when an earlier caller asked for another type:
  // the readers of one stream agree on its event type.
  template <class Message>
  const Message* Decoded() const {
    absl::call_once(decode_once_, [this] {
      auto message = std::make_unique<Message>();
      if (message->ParseFromString(payload)) {
        decoded_type_ = &Message::default_instance();
        decoded_ = std::move(message);
      }
    });
    if (decoded_type_ != &Message::default_instance()) return nullptr;
    return static_cast<const Message*>(decoded_.get());
  }

  // A value made from this event once for every subscriber that asks with the same
  // `key` and `variant` (a watch's serialized response: watch.h): `make` runs on the
  // first ask, under the event's lock (later askers of any key wait for it), and every
  // ask gets its result. `key` names what `make` makes (e.g. the address of the function
  // it calls): askers with one key must make the same thing. Any thread.
  std::shared_ptr<const void> Derived(uintptr_t key, int variant,
                                      absl::FunctionRef<std::shared_ptr<const void>()> make) const;

 private:
  mutable absl::once_flag decode_once_;
  mutable const void* decoded_type_ = nullptr;
  mutable std::unique_ptr<google::protobuf::MessageLite> decoded_;

  struct DerivedValue {
    uintptr_t key;
    int variant;
    std::shared_ptr<const void> value;
  };
  mutable absl::Mutex derived_mu_;
  // A few entries (one per response variant a watch sends): a vector, searched in order.
  mutable std::vector<DerivedValue> derived_ ABSL_GUARDED_BY(derived_mu_);
};

struct EventHubOptions {
  RedisOptions redis;
  // This database's installation id (redis_owner.h): the readers claim Redis for it and
  // read nothing from a Redis another database holds. Empty: no claim checked (tests).
  std::string installation;
  // Live events queued per subscriber before it is ended as too slow, and their payload
  // bytes (an event is up to ~1 MiB).
  size_t queue_capacity = 1024;
  size_t queue_bytes = size_t{128} << 20;
  // Longest XREAD BLOCK; also how soon Stop() returns.
  absl::Duration block = absl::Milliseconds(500);
  int read_batch = 512;     // most entries per XREAD
  int catch_up_page = 256;  // most entries per XRANGE page of a catching-up subscriber
  // About the bytes of one Redis reply (an XREAD, a catch-up page, a page of the ids the
  // reader learns at start): fewer entries are asked for when they are large
  // (stream_page.h).
  size_t read_bytes = kStreamPageBytes;
  absl::Duration first_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
};

// The consumer side of one subscription. Thread-safe; usually one consumer thread (or a
// reactor) polls while hub threads feed it.
class Subscription {
 public:
  struct State;
  explicit Subscription(std::shared_ptr<State> state);
  ~Subscription();  // Cancel()
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Moves up to `max_events` events, in stream order, into `out`; after the first, only
  // while their payloads total at most `max_payload_bytes` (the first is taken whatever
  // its size). OK (with zero or more events) while the subscription lasts; its end
  // status once it ended and every event queued before the end was taken.
  absl::Status Poll(std::vector<std::shared_ptr<const StreamEvent>>* out, size_t max_events,
                    size_t max_payload_bytes = SIZE_MAX);

  // Blocks until Poll has something to return (events or the end) or `deadline`
  // passes; true in the first case. For synchronous handlers, which wake up before
  // the deadline to check whether their call was cancelled.
  bool WaitUntil(absl::Time deadline);

  // Registers `notify`, called once each time the subscription goes from "Poll has
  // nothing" to "Poll has something" (events or the end) after Poll last returned no
  // events — at once if it already has something — and once when the subscription
  // ends, even while the consumer is not waiting (it may be busy with its own client:
  // see TakeEnd). For callback reactors: notify, then Poll from the reactor. Called on
  // a hub thread or the caller's; must not block and must not call Poll, TakeEnd or
  // Cancel itself (schedule them).
  void SetNotify(std::function<void()> notify);

  // For a consumer that cannot take more now (its own client reads slowly) but should
  // not wait to learn of the end: once the subscription ended (other than by Cancel),
  // drops whatever is still queued and returns the end status, whose resume cursor is
  // then that of the last event Poll returned. OK while the subscription lasts.
  absl::Status TakeEnd();

  // Where to resume to miss nothing after the events Poll returned so far: the last
  // one's cursor, or the subscription's start ("0" stays "0"; "" becomes the
  // stream's position when it subscribed).
  std::string cursor() const;

  // Ends the subscription from the consumer side; the hub drops it. Idempotent.
  void Cancel();

 private:
  std::shared_ptr<State> state_;
};

// One stream's figures, for metrics.
struct EventHubStreamStats {
  std::string stream_key;
  int64_t subscribers = 0;  // subscriptions open now (Subscription objects alive)
  // Subscriptions the stream's reader still holds: the open ones, and those that ended
  // (cancelled, refused, too slow) since its last read (at most `block` ago when idle).
  int64_t held = 0;
  int64_t ended_too_slow = 0;  // subscriptions ended for falling behind, since start
  bool connected = false;      // its reader is connected to Redis now
};

class EventHub {
 public:
  // `stream_keys`: the streams it may serve (one reader each, started by Start).
  EventHub(EventHubOptions options, std::vector<std::string> stream_keys);
  ~EventHub();  // Stop()
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  void Start();
  // Waits until every stream's reader has reached Redis once, or `timeout`; true in the
  // first case. (Until then Subscribe and CurrentCursor answer UNAVAILABLE.)
  bool AwaitConnected(absl::Duration timeout) const;
  // Ends every subscription with UNAVAILABLE (resume cursor in ErrorInfo metadata
  // `cursor`) and stops the threads.
  void Stop();

  // Subscribes to `stream_key` from `cursor` (rules above). INVALID_ARGUMENT for a
  // malformed cursor or an unknown stream; UNAVAILABLE while the hub has never reached
  // Redis; FAILED_PRECONDITION at once for a cursor of an older generation. Every other
  // cursor error arrives as the subscription's end status.
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(const std::string& stream_key,
                                                          const std::string& cursor);

  // The hub's position in `stream_key` as a cursor: every event published to Redis
  // after this call returns is after it. Read it before a List's database snapshot and
  // it is a safe watch_cursor for that list. UNAVAILABLE while the hub has never reached
  // Redis.
  absl::StatusOr<std::string> CurrentCursor(const std::string& stream_key) const;

  // Whether the reader of `stream_key` is connected to Redis now.
  bool connected(const std::string& stream_key) const;

  // Per stream, in the order given to the constructor.
  std::vector<EventHubStreamStats> Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plantmesh::runtime
