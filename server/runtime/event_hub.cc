// EventHub: readers, fan-out and catch-up (the rules are in event_hub.h).
//
// Trimming: Redis 7.0 records `max-deleted-entry-id` for XDEL only; trimming (XADD
// MAXLEN ~, XTRIM) leaves it at 0-0 but moves `recorded-first-entry-id`, and
// `entries-added` counts every entry ever added. So entries were removed exactly when
// entries-added exceeds the length, and then the oldest cursor that still sees every
// retained entry is the id just before the first retained one.
#include "server/runtime/event_hub.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <thread>
#include <unordered_set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/runtime/redis_client.h"
#include "server/runtime/redis_owner.h"
#include "server/runtime/stream_cursor.h"
#include "server/runtime/stream_page.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

using EventPtr = std::shared_ptr<const StreamEvent>;

// How many of a stream's latest event ids the reader remembers to drop repeats: the
// relay re-sends at most one batch (500 rows), right after the first sending.
constexpr size_t kDedupWindow = 4096;

// Event ids seen recently (the reader's, and a catching-up subscriber's backlog).
class RecentIds {
 public:
  explicit RecentIds(size_t capacity) : capacity_(capacity) {}
  // False when `id` was seen recently.
  bool Insert(const std::string& id) {
    if (!seen_.insert(id).second) return false;
    order_.push_back(id);
    if (order_.size() > capacity_) {
      seen_.erase(order_.front());
      order_.pop_front();
    }
    return true;
  }

 private:
  size_t capacity_;
  std::deque<std::string> order_;
  std::unordered_set<std::string> seen_;
};

// The oldest cursor from which reading yields every entry the stream still holds;
// 0-0 when nothing was ever removed.
StreamId OldestCompleteCursor(const StreamInfo& info) {
  if (!info.exists) return {};
  StreamId oldest;
  if (info.entries_added > info.length) {
    oldest = info.length > 0 ? info.recorded_first_entry_id.Predecessor() : info.last_generated_id;
  }
  // Deleted entries (XDEL) are gaps as well; the runtime never deletes, but a stream
  // touched by hand must not hand out a gap either.
  if (oldest < info.max_deleted_entry_id) oldest = info.max_deleted_entry_id;
  return oldest;
}

EventPtr ToEvent(const std::string& generation, RawStreamEntry& raw, StreamId* id) {
  auto event = std::make_shared<StreamEvent>();
  StreamId::Parse(raw.id, id);
  event->cursor = FormatCursor(generation, *id);
  for (auto& [field, value] : raw.fields) {
    if (field == "event_id") {
      event->event_id = std::move(value);
    } else if (field == "payload") {
      event->payload = std::move(value);
    }
  }
  return event;
}

// A watch opened (or a list's watch_cursor asked for) before the hub first read the stream
// from Redis: UNAVAILABLE DEPENDENCY_UNAVAILABLE (Redis) with its retry delay, as any
// dependency out of reach (outside testing: a plain UNAVAILABLE without a retry delay, and
// screens reconnecting after a restart tried 50 times in 30 s).
absl::Status StreamNotReachedYet(const std::string& key) {
  return DependencyUnavailable(
      "Redis",
      absl::StrCat("the event hub has not read the event stream ", key,
                   " from Redis since the server started"),
      "retry later (a watch or tail resumes from its last cursor; a list's watch_cursor is "
      "empty until then)",
      "is not reached yet");
}

absl::Status GenerationChanged(const std::string& key, const std::string& old_generation,
                               const std::string& generation) {
  std::string description =
      absl::StrCat("the cursor's generation ", old_generation, " is not the event stream ", key,
                   "'s (generation ", generation,
                   "): the stream was reset (Redis lost its data, or the database was restored); "
                   "start again from what the service holds now: a watch lists again and "
                   "watches from the list's watch_cursor, a tail starts without a cursor (its "
                   "first message holds the current values)");
  absl::Status status = absl::FailedPreconditionError(description);
  status = WithPreconditionFailure(std::move(status), "CURSOR", key, description);
  return WithErrorInfo(std::move(status), "CURSOR_GENERATION_CHANGED",
                       {{"generation", generation}, {"cursor_generation", old_generation}});
}

// A cursor whose generation was never this stream's: another watch's cursor.
absl::Status AnotherStreamsCursor(const std::string& key, const std::string& cursor) {
  return WithErrorInfo(
      InvalidField("cursor", absl::StrCat("cursor ", cursor,
                                          " is another watch's, not of the event stream ", key,
                                          ": give a cursor this watch handed out (its events' "
                                          "cursors, or its List response's watch_cursor where "
                                          "it has one)")),
      "CURSOR_OF_ANOTHER_STREAM", {{"stream", key}});
}

// A subscription's end, or a refused Subscribe, while another database holds Redis
// (`claim`: CheckRedisHolder's error). Resumable: nothing of this database's was missed.
absl::Status HeldByOther(const absl::Status& claim, const std::string& cursor) {
  return ResumableUnavailable(
      "REDIS_HELD_BY_ANOTHER_DATABASE",
      absl::StrCat("the server does not read its Redis while another database holds it: ",
                   claim.message()),
      cursor);
}

absl::Status Trimmed(const std::string& key, const std::string& cursor, const std::string& oldest) {
  std::string description =
      absl::StrCat("cursor ", cursor,
                   " is older than the oldest retained event and events after it were "
                   "trimmed; list again, or resume from ",
                   oldest, " accepting the gap");
  absl::Status status = absl::FailedPreconditionError(description);
  status = WithPreconditionFailure(std::move(status), "CURSOR", key, description);
  return WithErrorInfo(std::move(status), "CURSOR_EXPIRED", {{"oldest_cursor", oldest}});
}

absl::Status FromTheFuture(const std::string& cursor, const std::string& newest) {
  return WithErrorInfo(
      InvalidField("cursor", absl::StrCat("cursor ", cursor,
                                          " is newer than the newest event; the newest valid "
                                          "cursor is ",
                                          newest)),
      "CURSOR_FROM_FUTURE", {{"newest_cursor", newest}});
}

// Waits `backoff` unless `stopping` turns true; false when stopping.
bool WaitUnlessStopping(absl::Mutex& mu, const bool& stopping, absl::Duration backoff) {
  absl::MutexLock lock(&mu);
  mu.AwaitWithTimeout(absl::Condition(&stopping), backoff);
  return !stopping;
}

absl::Duration NextBackoff(absl::Duration current, const EventHubOptions& options) {
  return current == absl::ZeroDuration() ? options.first_backoff
                                         : std::min(current * 2, options.max_backoff);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Subscription state, shared by the consumer's handle and the hub's threads.

class CatchUpQueue;

// A subscriber's notification, shared: handing it out per event (to a thousand
// subscribers) copies a pointer, not the function and what it holds.
using Notify = std::shared_ptr<const std::function<void()>>;

// Per stream, for metrics (EventHub::Stats).
struct SubscriberCounts {
  std::atomic<int64_t> open{0};
  std::atomic<int64_t> too_slow{0};
};

struct Subscription::State {
  enum class End { kNone, kError, kTooSlow, kStopped, kCancelled };

  // Set at creation.
  std::string stream_key;
  std::string generation;
  size_t capacity = 0;        // live events queued at most
  size_t capacity_bytes = 0;  // and their payloads' bytes at most
  StreamCursor start;
  StreamId until;  // the hub's position when it subscribed: catch-up covers (start, until]
  std::shared_ptr<CatchUpQueue> catch_up;
  std::shared_ptr<SubscriberCounts> counts;  // the stream's
  StreamPageSize catch_up_pages{0, 1};       // set at creation; the catch-up thread's alone

  mutable absl::Mutex mu;
  std::deque<EventPtr> backlog ABSL_GUARDED_BY(mu);  // catch-up events, before `live`
  std::deque<EventPtr> live ABSL_GUARDED_BY(mu);
  size_t live_bytes ABSL_GUARDED_BY(mu) = 0;     // payload bytes in `live`
  bool catching_up ABSL_GUARDED_BY(mu) = false;  // the backlog is not complete yet
  bool resolved ABSL_GUARDED_BY(mu) = false;     // the catch-up thread checked the cursor
  bool catch_up_queued ABSL_GUARDED_BY(mu) = false;
  StreamId fetched_through ABSL_GUARDED_BY(mu);
  bool skip ABSL_GUARDED_BY(mu) = false;  // drop live events up to skip_through
  StreamId skip_through ABSL_GUARDED_BY(mu);
  End end ABSL_GUARDED_BY(mu) = End::kNone;
  absl::Status end_status ABSL_GUARDED_BY(mu);
  std::string cursor ABSL_GUARDED_BY(mu);   // where the subscription started
  EventPtr last_taken ABSL_GUARDED_BY(mu);  // the last event Poll took, if any
  // Repeats within the backlog; the reader already dropped those of the live feed.
  std::unique_ptr<RecentIds> backlog_ids ABSL_GUARDED_BY(mu);
  Notify notify ABSL_GUARDED_BY(mu);
  bool armed ABSL_GUARDED_BY(mu) = false;

  bool HasEvents() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return !backlog.empty() || (!catching_up && !live.empty());
  }
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return HasEvents() || end != End::kNone; }
  bool Ended() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return end != End::kNone; }
  const std::string& ResumeCursor() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return last_taken != nullptr ? last_taken->cursor : cursor;
  }

  // The notification to run (outside the lock) when the consumer waits for one.
  Notify TakeNotify() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!armed || !notify || !Ready()) return nullptr;
    armed = false;
    return notify;
  }

  // The notification of the end: run whether or not the consumer waits, so that one
  // that is not polling (its own client is slow) can end at once (TakeEnd).
  Notify TakeEndNotify() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    armed = false;
    return notify;
  }

  // Ends with an error before (or instead of) anything still queued.
  Notify Fail(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (Ended()) return nullptr;
    backlog.clear();
    live.clear();
    end = End::kError;
    end_status = std::move(status);
    return TakeEndNotify();
  }

  // Ends after what is queued (too slow, hub stopping): the consumer still takes it.
  Notify Finish(End why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (Ended()) return nullptr;
    end = why;
    return TakeEndNotify();
  }

  // A live event from the reader.
  Notify PushLive(const EventPtr& event, const StreamId& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (Ended()) return nullptr;
    if (skip && !(skip_through < id)) return nullptr;
    // Events are shared by every subscriber, but a slow one keeps them alive: counted
    // in bytes too, as one telemetry event holds up to ~1 MiB of samples.
    if (live.size() >= capacity || live_bytes + event->payload.size() > capacity_bytes) {
      counts->too_slow.fetch_add(1, std::memory_order_relaxed);
      return Finish(End::kTooSlow);
    }
    live.push_back(event);
    live_bytes += event->payload.size();
    return TakeNotify();
  }

  void PopLive() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    live_bytes -= live.front()->payload.size();
    live.pop_front();
  }

  absl::Status EndStatus() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    switch (end) {
      case End::kTooSlow:
        return ResumableUnavailable(
            "WATCH_TOO_SLOW",
            absl::StrCat("the watcher fell behind: more than ", capacity, " events or ",
                         capacity_bytes, " bytes of them were waiting for it"),
            ResumeCursor());
      case End::kStopped:
        return WithRetryDelay(
            ResumableUnavailable("SERVER_STOPPING", "the server is stopping", ResumeCursor()),
            kRetryAfterOutage);
      case End::kCancelled:
        return absl::CancelledError("subscription cancelled");
      default:
        return end_status;
    }
  }
};

std::shared_ptr<const void> StreamEvent::Derived(
    uintptr_t key, int variant, absl::FunctionRef<std::shared_ptr<const void>()> make) const {
  absl::MutexLock lock(&derived_mu_);
  for (const DerivedValue& derived : derived_) {
    if (derived.key == key && derived.variant == variant) return derived.value;
  }
  derived_.push_back(DerivedValue{key, variant, make()});
  return derived_.back().value;
}

// ---------------------------------------------------------------------------------------
// The catch-up thread: checks cursors and pages older events to subscribers.

class CatchUpQueue {
 public:
  explicit CatchUpQueue(const EventHubOptions& options) : options_(options) {}

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  void Add(std::shared_ptr<Subscription::State> state) {
    absl::MutexLock lock(&mu_);
    jobs_.push_back(std::move(state));
  }

 private:
  using StatePtr = std::shared_ptr<Subscription::State>;

  void Loop() {
    RedisClient redis(options_.redis);
    absl::Duration backoff;
    for (;;) {
      StatePtr job;
      {
        absl::MutexLock lock(&mu_);
        auto has_work = [this] { return stopping_ || !jobs_.empty(); };
        mu_.Await(absl::Condition(&has_work));
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      if (Process(redis, job)) {
        backoff = absl::ZeroDuration();
        continue;
      }
      // Redis is away: the job waits, and so does everyone behind it (they need Redis too).
      {
        absl::MutexLock lock(&mu_);
        jobs_.push_front(std::move(job));
      }
      backoff = NextBackoff(backoff, options_);
      if (!WaitUnlessStopping(mu_, stopping_, backoff)) return;
    }
  }

  static void Run(const Notify& notify) {
    if (notify) (*notify)();
  }

  // One step for `state`: check its cursor, or fetch one page. False when Redis failed
  // (retry later).
  bool Process(RedisClient& redis, const StatePtr& state) {
    const std::string& key = state->stream_key;
    bool resolved;
    StreamId after;
    {
      absl::MutexLock lock(&state->mu);
      if (state->Ended()) return true;
      resolved = state->resolved;
      after = state->fetched_through;
    }
    if (!resolved) return Resolve(redis, state);

    const bool from_oldest = state->start.kind == StreamCursor::Kind::kStart && after == StreamId{};
    const std::string start = after == StreamId{} ? "-" : absl::StrCat("(", after.ToString());
    const int page = state->catch_up_pages.Count();
    absl::StatusOr<std::vector<absl::StatusOr<RedisReply>>> replies = redis.PipelineEach(
        {{"XRANGE", key, start, state->until.ToString(), "COUNT", absl::StrCat(page)},
         {"XINFO", "STREAM", key},
         {"GET", GenerationKey(key)}});
    if (!replies.ok()) return false;
    if (!(*replies)[0].ok()) return FailWith(state, (*replies)[0].status());
    absl::StatusOr<std::vector<RawStreamEntry>> raw = ParseXRangeReply(*(*replies)[0]);
    absl::StatusOr<StreamInfo> info = ParseXInfoStreamReply((*replies)[1]);
    if (!raw.ok()) return FailWith(state, raw.status());
    if (!info.ok()) return FailWith(state, info.status());
    state->catch_up_pages.Observe(*raw);
    if (!(*replies)[2].ok()) return FailWith(state, (*replies)[2].status());
    if ((*replies)[2]->str != state->generation) {
      return FailWith(state, GenerationChanged(key, state->generation, (*replies)[2]->str));
    }
    // Checked after the read: the first retained id only grows, so if `after` is not
    // behind it now, nothing after `after` was gone when XRANGE ran either.
    const StreamId oldest = OldestCompleteCursor(*info);
    if (!from_oldest && after < oldest) {
      return FailWith(state, Trimmed(key, FormatCursor(state->generation, after),
                                     FormatCursor(state->generation, oldest)));
    }
    std::vector<EventPtr> events;
    StreamId last = after;
    for (RawStreamEntry& entry : *raw) events.push_back(ToEvent(state->generation, entry, &last));
    Notify notify;
    bool again = false;
    {
      absl::MutexLock lock(&state->mu);
      if (state->Ended()) return true;
      for (EventPtr& event : events) state->backlog.push_back(std::move(event));
      state->fetched_through = last;
      const bool done = static_cast<int>(raw->size()) < page || !(last < state->until);
      if (done) {
        state->catching_up = false;
        state->catch_up_queued = false;
      } else if (state->backlog.size() < static_cast<size_t>(page)) {
        again = true;  // stays queued
      } else {
        state->catch_up_queued = false;  // Poll asks for more once the backlog is taken
      }
      notify = state->TakeNotify();
    }
    if (again) Add(state);
    Run(notify);
    return true;
  }

  bool Resolve(RedisClient& redis, const StatePtr& state) {
    const std::string& key = state->stream_key;
    absl::StatusOr<std::vector<absl::StatusOr<RedisReply>>> replies =
        redis.PipelineEach({{"GET", GenerationKey(key)}, {"XINFO", "STREAM", key}});
    if (!replies.ok()) return false;
    if (!(*replies)[0].ok()) return FailWith(state, (*replies)[0].status());
    if ((*replies)[0]->str != state->generation) {
      return FailWith(state, GenerationChanged(key, state->generation, (*replies)[0]->str));
    }
    absl::StatusOr<StreamInfo> info = ParseXInfoStreamReply((*replies)[1]);
    if (!info.ok()) return FailWith(state, info.status());

    StreamId after;
    bool live_now = false;
    if (state->start.kind == StreamCursor::Kind::kAfter) {
      const StreamId& id = state->start.id;
      if (info->last_generated_id < id) {
        return FailWith(state,
                        FromTheFuture(FormatCursor(state->generation, id),
                                      FormatCursor(state->generation, info->last_generated_id)));
      }
      const StreamId oldest = OldestCompleteCursor(*info);
      if (id < oldest) {
        return FailWith(state, Trimmed(key, FormatCursor(state->generation, id),
                                       FormatCursor(state->generation, oldest)));
      }
      after = id;
      // At or past the hub's position when it subscribed (the hub may lag Redis): the
      // live feed alone serves it, minus what it already has.
      live_now = !(id < state->until);
    } else {
      live_now = state->until == StreamId{};  // nothing was there to catch up on
    }
    Notify notify;
    {
      absl::MutexLock lock(&state->mu);
      if (state->Ended()) return true;
      state->resolved = true;
      state->fetched_through = after;
      if (live_now) {
        state->skip = state->until < after;
        state->skip_through = after;
        // Live events the hub read between Subscribe and this check may be at or before
        // the cursor too (the hub lagged Redis): the subscriber has those already.
        while (!state->live.empty()) {
          absl::StatusOr<StreamCursor> queued = StreamCursor::Parse(state->live.front()->cursor);
          if (!queued.ok() || after < queued->id) break;
          state->PopLive();
        }
        state->catching_up = false;
        state->catch_up_queued = false;
      }
      notify = state->TakeNotify();
    }
    if (!live_now) Add(state);
    Run(notify);
    return true;
  }

  // Ends `state` with `status`; a step that completed (true).
  bool FailWith(const StatePtr& state, absl::Status status) {
    Notify notify;
    {
      absl::MutexLock lock(&state->mu);
      notify = state->Fail(std::move(status));
    }
    Run(notify);
    return true;
  }

  const EventHubOptions& options_;
  absl::Mutex mu_;
  std::deque<StatePtr> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------
// Subscription handle.

Subscription::Subscription(std::shared_ptr<State> state) : state_(std::move(state)) {
  state_->counts->open.fetch_add(1, std::memory_order_relaxed);
}

Subscription::~Subscription() {
  Cancel();
  state_->counts->open.fetch_sub(1, std::memory_order_relaxed);
}

absl::Status Subscription::Poll(std::vector<std::shared_ptr<const StreamEvent>>* out,
                                size_t max_events, size_t max_payload_bytes) {
  bool ask_more = false;
  absl::Status status;
  {
    absl::MutexLock lock(&state_->mu);
    State& s = *state_;
    size_t taken = 0;
    size_t payload_bytes = 0;
    bool full = false;
    auto take = [&](std::deque<EventPtr>& from,
                    RecentIds* seen) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
      while (!full && taken < max_events && !from.empty()) {
        const size_t size = from.front()->payload.size();
        if (taken > 0 &&
            (payload_bytes >= max_payload_bytes || size > max_payload_bytes - payload_bytes)) {
          full = true;  // also for the live events after this backlog
          break;
        }
        EventPtr event = from.front();
        if (&from == &s.live) {
          s.PopLive();
        } else {
          from.pop_front();
        }
        s.last_taken = event;
        if (seen != nullptr && !seen->Insert(event->event_id)) continue;  // re-sent
        out->push_back(std::move(event));
        ++taken;
        payload_bytes += size;
      }
    };
    if (!s.backlog.empty()) {
      if (s.backlog_ids == nullptr) s.backlog_ids = std::make_unique<RecentIds>(kDedupWindow);
      take(s.backlog, s.backlog_ids.get());
    }
    if (!s.catching_up) {
      // Repeats are dropped until the catch-up's last page is all taken (a watch that
      // takes one event at a time takes it over several polls).
      if (s.backlog.empty()) s.backlog_ids.reset();
      take(s.live, nullptr);
    }
    if (s.catching_up && s.backlog.empty() && s.resolved && !s.catch_up_queued && !s.Ended()) {
      s.catch_up_queued = true;
      ask_more = true;
    }
    if (taken == 0) {
      if (s.Ended() && !s.HasEvents()) {
        status = s.EndStatus();
      } else {
        s.armed = true;
      }
    }
  }
  if (ask_more) state_->catch_up->Add(state_);
  return status;
}

bool Subscription::WaitUntil(absl::Time deadline) {
  absl::MutexLock lock(&state_->mu);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) { return state_->Ready(); };
  return state_->mu.AwaitWithDeadline(absl::Condition(&ready), deadline);
}

void Subscription::SetNotify(std::function<void()> notify) {
  Notify now;
  {
    absl::MutexLock lock(&state_->mu);
    state_->notify = std::make_shared<const std::function<void()>>(std::move(notify));
    state_->armed = true;
    now = state_->TakeNotify();
  }
  if (now) (*now)();
}

absl::Status Subscription::TakeEnd() {
  absl::MutexLock lock(&state_->mu);
  State& s = *state_;
  if (!s.Ended() || s.end == State::End::kCancelled) return absl::OkStatus();
  s.backlog.clear();
  s.live.clear();
  return s.EndStatus();
}

std::string Subscription::cursor() const {
  absl::MutexLock lock(&state_->mu);
  return state_->ResumeCursor();
}

void Subscription::Cancel() {
  absl::MutexLock lock(&state_->mu);
  state_->notify = nullptr;  // its owner is done with it, ended or not
  if (state_->Ended()) return;
  state_->backlog.clear();
  state_->live.clear();
  state_->end = State::End::kCancelled;
}

// ---------------------------------------------------------------------------------------
// The hub.

namespace {

struct Stream {
  std::string key;
  mutable absl::Mutex mu;
  std::string generation ABSL_GUARDED_BY(mu);  // empty until Redis was first reached
  StreamId position ABSL_GUARDED_BY(mu);       // the last entry read
  bool connected ABSL_GUARDED_BY(mu) = false;
  // Said once until connected again (SetDisconnected).
  bool auth_refusal_logged ABSL_GUARDED_BY(mu) = false;
  // Not OK while Redis holds another database's claim: why nothing is read.
  absl::Status held_by_other ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<Subscription::State>> subscribers ABSL_GUARDED_BY(mu);
  std::thread reader;
  const std::shared_ptr<SubscriberCounts> counts = std::make_shared<SubscriberCounts>();
};

}  // namespace

struct EventHub::Impl {
  Impl(EventHubOptions options_in, std::vector<std::string> keys)
      : options(std::move(options_in)), catch_up(std::make_shared<CatchUpQueue>(options)) {
    for (std::string& key : keys) {
      auto stream = std::make_unique<Stream>();
      stream->key = std::move(key);
      streams.push_back(std::move(stream));
    }
  }

  Stream* Find(const std::string& key) const {
    for (const auto& stream : streams) {
      if (stream->key == key) return stream.get();
    }
    return nullptr;
  }

  // Forgets the subscriptions of `stream` that ended.
  static void DropEndedLocked(Stream& stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stream.mu) {
    auto& subs = stream.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [](const std::shared_ptr<Subscription::State>& sub) {
                                absl::MutexLock sub_lock(&sub->mu);
                                return sub->Ended();
                              }),
               subs.end());
  }

  // Applies `fn` to every subscriber of `stream` (lock held), drops the ended ones and
  // runs the notifications after unlocking.
  template <typename Fn>
  void ForEachSubscriber(Stream& stream, Fn fn) {
    std::vector<Notify> notifications;
    {
      absl::MutexLock lock(&stream.mu);
      auto& subs = stream.subscribers;
      for (const auto& sub : subs) {
        absl::MutexLock sub_lock(&sub->mu);
        if (Notify notify = fn(*sub)) notifications.push_back(std::move(notify));
      }
      DropEndedLocked(stream);
    }
    for (const auto& notify : notifications) (*notify)();
  }

  // After (re)connecting: learns the generation and, the first time, the position.
  void Sync(Stream& stream, const std::string& generation, const StreamInfo& info) {
    std::string old_generation;
    {
      absl::MutexLock lock(&stream.mu);
      stream.connected = true;
      stream.auth_refusal_logged = false;
      if (stream.generation == generation) return;
      old_generation = stream.generation;
      stream.generation = generation;
      // The first sync starts at the current end; after a reset, everything before the
      // position stays reachable from "0".
      stream.position = info.last_generated_id;
    }
    if (old_generation.empty()) {
      spdlog::info("event hub: {} at generation {}, position {}", stream.key, generation,
                   info.last_generated_id.ToString());
      return;
    }
    spdlog::warn("event hub: {} was reset (generation {} -> {}); its watchers must list again",
                 stream.key, old_generation, generation);
    const absl::Status reset = GenerationChanged(stream.key, old_generation, generation);
    ForEachSubscriber(stream, [&](Subscription::State& sub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sub.mu) {
      return sub.generation == generation ? nullptr : sub.Fail(reset);
    });
  }

  // Also forgets the subscriptions that ended, once per attempt to reconnect: clients that
  // watch again and again while Redis is down would otherwise pile up in the hub until
  // its next read (outside review: ~1 KB a call for as long as the outage lasts).
  void SetDisconnected(Stream& stream, const absl::Status& why) {
    absl::MutexLock lock(&stream.mu);
    if (stream.connected) {
      spdlog::warn("event hub: lost Redis for {}; watchers stay and resume when it returns: {}",
                   stream.key, StatusForLog(why));
    }
    if (IsRedisAuthRefused(why) && !stream.auth_refusal_logged) {
      spdlog::error(
          "event hub: Redis refuses this server's credentials for {}; watchers wait (a changed "
          "password is read at restart: redis-password-file, redis-user): {}",
          stream.key, StatusForLog(why));
      stream.auth_refusal_logged = true;
    }
    stream.connected = false;
    DropEndedLocked(stream);
  }

  // Claims Redis for this database, as the relay does (redis_owner.h). OK when it is
  // this database's (or no installation is set); FAILED_PRECONDITION when another
  // database holds it; Redis's own error otherwise.
  absl::Status Claim(RedisClient& redis) {
    if (options.installation.empty()) return absl::OkStatus();
    PM_ASSIGN_OR_RETURN(std::vector<absl::StatusOr<RedisReply>> replies,
                        redis.PipelineEach(RedisClaimCommands(options.installation)));
    PM_RETURN_IF_ERROR(replies[0].status());  // a Redis refusing writes holds no claim
    PM_RETURN_IF_ERROR(replies[1].status());
    return CheckRedisHolder(replies[1]->str, options.installation, options.redis);
  }

  // Another database holds Redis: ends every subscriber (each may resume where it
  // stopped once Redis is this database's again) and refuses new ones until then.
  void SetHeldByOther(Stream& stream, const absl::Status& why) {
    {
      absl::MutexLock lock(&stream.mu);
      if (stream.held_by_other.ok()) {
        spdlog::error("event hub: not reading {}: {}", stream.key, StatusForLog(why));
      }
      stream.held_by_other = why;
      stream.connected = false;
    }
    ForEachSubscriber(stream, [&](Subscription::State& sub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sub.mu) {
      return sub.Fail(HeldByOther(why, sub.ResumeCursor()));
    });
  }

  void ReadLoop(Stream& stream) {
    RedisClient redis(options.redis);
    const std::string generation_key = GenerationKey(stream.key);
    absl::Duration backoff;
    bool synced = false;
    // The ids of the stream's latest events (of generation seen_generation), to drop what
    // the relay re-sends; filled from Redis first, so that a re-sent batch is recognised
    // even right after this reader started.
    std::unique_ptr<RecentIds> seen;
    std::string seen_generation;
    StreamPageSize read_size(options.read_bytes, options.read_batch);
    const int64_t block_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(options.block));
    while (!Stopping()) {
      if (backoff > absl::ZeroDuration() && !WaitUnlessStopping(mu, stopping, backoff)) return;
      // The generation key is created here too (SET NX), so that even a stream nobody
      // published to yet has one; the relay's first XADD keeps whichever came first.
      if (!synced) {
        // The claim first, in a round trip of its own: nothing is written to (or read
        // from) a Redis that holds another database's.
        const absl::Status claim = Claim(redis);
        if (!claim.ok()) {
          if (claim.code() == absl::StatusCode::kFailedPrecondition) {
            SetHeldByOther(stream, claim);
          } else {
            SetDisconnected(stream, claim);
            redis.Disconnect();
          }
          backoff = NextBackoff(backoff, options);
          continue;
        }
        {
          absl::MutexLock lock(&stream.mu);
          if (!stream.held_by_other.ok()) {
            spdlog::info("event hub: {}: Redis holds this database's claim again", stream.key);
          }
          stream.held_by_other = absl::OkStatus();
        }
        auto replies =
            redis.PipelineEach({{"SET", generation_key, NewStreamGeneration(stream.key), "NX"},
                                {"GET", generation_key},
                                {"XINFO", "STREAM", stream.key}});
        absl::Status failed = replies.ok() ? (*replies)[1].status() : replies.status();
        absl::StatusOr<StreamInfo> info =
            failed.ok() ? ParseXInfoStreamReply((*replies)[2]) : failed;
        if (!info.ok()) {
          SetDisconnected(stream, info.status());
          redis.Disconnect();
          backoff = NextBackoff(backoff, options);
          continue;
        }
        Sync(stream, (*replies)[1]->str, *info);
        synced = true;
      }
      std::string generation;
      StreamId position;
      {
        absl::MutexLock lock(&stream.mu);
        generation = stream.generation;
        position = stream.position;
      }
      if (seen == nullptr || seen_generation != generation) {
        absl::StatusOr<std::unique_ptr<RecentIds>> latest =
            LatestIds(redis, stream.key, position, options.read_bytes);
        if (!latest.ok()) {
          SetDisconnected(stream, latest.status());
          redis.Disconnect();
          synced = false;
          backoff = NextBackoff(backoff, options);
          continue;
        }
        seen = *std::move(latest);
        seen_generation = generation;
      }
      // GET before XREAD on one connection: a Redis that restarts in between breaks
      // the connection, so entries read are of the generation read. GET again after it:
      // the relay starts a new generation in place (after a restore of the database),
      // and entries read across that are dropped. XINFO after XREAD: if nothing after
      // `position` is trimmed now, nothing was when XREAD ran (the first retained id
      // only grows). The claim is read first and again last: entries read while another
      // database held Redis are dropped, and a generation key gone (a flushed Redis) is
      // made again by the sync, after its claim.
      auto replies =
          redis.PipelineEach({{"GET", kRedisInstallationKey},
                              {"GET", generation_key},
                              {"XREAD", "COUNT", absl::StrCat(read_size.Count()), "BLOCK",
                               absl::StrCat(block_ms), "STREAMS", stream.key, position.ToString()},
                              {"XINFO", "STREAM", stream.key},
                              {"GET", generation_key},
                              {"GET", kRedisInstallationKey}},
                             options.block);
      absl::Status failed = !replies.ok()         ? replies.status()
                            : !(*replies)[0].ok() ? (*replies)[0].status()
                            : !(*replies)[1].ok() ? (*replies)[1].status()
                            : !(*replies)[2].ok() ? (*replies)[2].status()
                                                  : absl::OkStatus();
      if (!failed.ok()) {
        SetDisconnected(stream, failed);
        redis.Disconnect();
        synced = false;
        backoff = NextBackoff(backoff, options);
        continue;
      }
      backoff = absl::ZeroDuration();
      const bool claim_changed =
          !options.installation.empty() &&
          ((*replies)[0]->str != options.installation || !(*replies)[5].ok() ||
           (*replies)[5]->str != options.installation);
      if (claim_changed || (*replies)[1]->str != generation ||
          ((*replies)[4].ok() && (*replies)[4]->str != generation)) {
        synced = false;  // re-sync claims Redis and reads the new generation's position
        continue;
      }
      absl::StatusOr<std::vector<RawStreamEntry>> raw = ParseXReadReply(*(*replies)[2]);
      if (!raw.ok()) {
        spdlog::error("event hub: {}: {}", stream.key, StatusForLog(raw.status()));
        backoff = NextBackoff(backoff, options);
        continue;
      }
      read_size.Observe(*raw);
      absl::StatusOr<StreamInfo> info = ParseXInfoStreamReply((*replies)[3]);
      if (info.ok() && position < OldestCompleteCursor(*info)) {
        // The hub fell behind the stream's trimming (events-retain too small for the
        // rate): its subscribers may have missed events. Never a silent gap.
        const absl::Status trimmed = Trimmed(stream.key, FormatCursor(generation, position),
                                             FormatCursor(generation, OldestCompleteCursor(*info)));
        spdlog::error("event hub: {}", std::string(trimmed.message()));
        ForEachSubscriber(stream, [&](Subscription::State& sub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                      sub.mu) { return sub.Fail(trimmed); });
      }
      if (raw->empty()) {
        // Nothing to publish: the subscriptions that ended meanwhile are forgotten here,
        // or a quiet stream would hold each until its next event (outside review: a
        // client refused in a loop for a cursor from the future grew the hub by ~1 KB a
        // call on a quiet night, the subscriber metric at 0).
        absl::MutexLock lock(&stream.mu);
        DropEndedLocked(stream);
        continue;
      }
      std::vector<std::pair<EventPtr, StreamId>> events;
      events.reserve(raw->size());
      StreamId last_read;
      for (RawStreamEntry& entry : *raw) {
        EventPtr event = ToEvent(generation, entry, &last_read);
        if (!seen->Insert(event->event_id)) continue;  // re-sent by the relay
        events.emplace_back(std::move(event), last_read);
      }
      Publish(stream, events, last_read);
    }
  }

  // The ids of the last kDedupWindow entries of `key` up to `through`, read newest first
  // in pages of about `page_bytes` of which only the ids are kept: one read of them all
  // held the payloads too (outside testing: 4,096 entries of 1 MiB each, 5 GB of memory
  // at start, and an XREVRANGE that stalled Redis for every service).
  static absl::StatusOr<std::unique_ptr<RecentIds>> LatestIds(RedisClient& redis,
                                                              const std::string& key,
                                                              const StreamId& through,
                                                              size_t page_bytes) {
    StreamPageSize page_size(page_bytes, static_cast<int>(kDedupWindow));
    std::vector<std::string> newest_first;
    std::string from = through.ToString();
    while (newest_first.size() < kDedupWindow) {
      const int count =
          std::min(page_size.Count(), static_cast<int>(kDedupWindow - newest_first.size()));
      PM_ASSIGN_OR_RETURN(RedisReply reply, redis.Command({"XREVRANGE", key, from, "-", "COUNT",
                                                           absl::StrCat(count)}));
      PM_ASSIGN_OR_RETURN(std::vector<RawStreamEntry> entries, ParseXRangeReply(reply));
      page_size.Observe(entries);
      for (const RawStreamEntry& entry : entries) {
        for (const auto& [field, value] : entry.fields) {
          if (field == "event_id") newest_first.push_back(value);
        }
      }
      if (static_cast<int>(entries.size()) < count) break;  // the stream's first entry
      from = absl::StrCat("(", entries.back().id);
    }
    auto ids = std::make_unique<RecentIds>(kDedupWindow);
    for (auto id = newest_first.rbegin(); id != newest_first.rend(); ++id) ids->Insert(*id);
    return ids;
  }

  // Hands `events` to every subscriber; `last_read` is the last entry read (the reader
  // continues after it, whether or not it was a repeat).
  void Publish(Stream& stream, const std::vector<std::pair<EventPtr, StreamId>>& events,
               const StreamId& last_read) {
    std::vector<Notify> notifications;
    {
      absl::MutexLock lock(&stream.mu);
      stream.position = last_read;
      auto& subs = stream.subscribers;
      for (const auto& sub : subs) {
        absl::MutexLock sub_lock(&sub->mu);
        for (const auto& [event, id] : events) {
          if (Notify notify = sub->PushLive(event, id)) {
            notifications.push_back(std::move(notify));
          }
        }
      }
      DropEndedLocked(stream);
    }
    for (const auto& notify : notifications) (*notify)();
  }

  bool Stopping() {
    absl::MutexLock lock(&mu);
    return stopping;
  }

  EventHubOptions options;
  std::shared_ptr<CatchUpQueue> catch_up;
  std::vector<std::unique_ptr<Stream>> streams;
  absl::Mutex mu;
  bool started ABSL_GUARDED_BY(mu) = false;
  bool stopping ABSL_GUARDED_BY(mu) = false;
};

EventHub::EventHub(EventHubOptions options, std::vector<std::string> stream_keys)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(stream_keys))) {}

EventHub::~EventHub() { Stop(); }

void EventHub::Start() {
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->started || impl_->stopping) return;
    impl_->started = true;
  }
  impl_->catch_up->Start();
  for (auto& stream : impl_->streams) {
    Stream* s = stream.get();
    s->reader = std::thread([this, s] { impl_->ReadLoop(*s); });
  }
}

void EventHub::Stop() {
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  for (auto& stream : impl_->streams) {
    if (stream->reader.joinable()) stream->reader.join();
  }
  impl_->catch_up->Stop();
  for (auto& stream : impl_->streams) {
    impl_->ForEachSubscriber(*stream,
                             [](Subscription::State& sub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sub.mu) {
                               return sub.Finish(Subscription::State::End::kStopped);
                             });
  }
}

bool EventHub::AwaitConnected(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  for (const auto& stream : impl_->streams) {
    absl::MutexLock lock(&stream->mu);
    auto synced = [&stream]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stream->mu) {
      return !stream->generation.empty();
    };
    if (!stream->mu.AwaitWithDeadline(absl::Condition(&synced), deadline)) return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<Subscription>> EventHub::Subscribe(const std::string& stream_key,
                                                                  const std::string& cursor) {
  absl::StatusOr<StreamCursor> parsed = StreamCursor::Parse(cursor);
  if (!parsed.ok()) return parsed.status();
  Stream* stream = impl_->Find(stream_key);
  if (stream == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("no event stream ", stream_key));
  }
  auto state = std::make_shared<Subscription::State>();
  state->stream_key = stream_key;
  state->capacity = std::max<size_t>(1, impl_->options.queue_capacity);
  state->capacity_bytes = std::max<size_t>(1, impl_->options.queue_bytes);
  state->catch_up_pages = StreamPageSize(impl_->options.read_bytes, impl_->options.catch_up_page);
  state->start = *parsed;
  state->catch_up = impl_->catch_up;
  state->counts = stream->counts;
  bool queue_catch_up = false;
  {
    absl::MutexLock lock(&stream->mu);
    if (stream->generation.empty()) return StreamNotReachedYet(stream_key);
    if (!stream->held_by_other.ok()) return HeldByOther(stream->held_by_other, cursor);
    if (!parsed->generation.empty() && parsed->generation != stream->generation) {
      // Outside testing: a cursor of another watch was "generation changed", which tells
      // a client to list again, and its retry met the same cursor. Told apart where the
      // stream's generation carries its tag (made since tags exist).
      if (IsGenerationOfStream(stream->generation, stream_key) &&
          !IsGenerationOfStream(parsed->generation, stream_key)) {
        return AnotherStreamsCursor(stream_key, cursor);
      }
      return GenerationChanged(stream_key, parsed->generation, stream->generation);
    }
    state->generation = stream->generation;
    state->until = stream->position;
    absl::MutexLock sub_lock(&state->mu);
    switch (parsed->kind) {
      case StreamCursor::Kind::kEnd:
        state->cursor = FormatCursor(state->generation, stream->position);
        break;
      case StreamCursor::Kind::kStart:
        state->cursor = "0";
        break;
      case StreamCursor::Kind::kAfter:
        state->cursor = FormatCursor(state->generation, parsed->id);
        break;
    }
    const bool live_now =
        parsed->kind == StreamCursor::Kind::kEnd ||
        (parsed->kind == StreamCursor::Kind::kAfter && parsed->id == stream->position);
    if (live_now) {
      state->resolved = true;
    } else {
      state->catching_up = true;
      state->catch_up_queued = true;
      queue_catch_up = true;
    }
    stream->subscribers.push_back(state);
  }
  if (queue_catch_up) impl_->catch_up->Add(state);
  return std::make_unique<Subscription>(std::move(state));
}

absl::StatusOr<std::string> EventHub::CurrentCursor(const std::string& stream_key) const {
  Stream* stream = impl_->Find(stream_key);
  if (stream == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("no event stream ", stream_key));
  }
  absl::MutexLock lock(&stream->mu);
  if (stream->generation.empty()) return StreamNotReachedYet(stream_key);
  return FormatCursor(stream->generation, stream->position);
}

bool EventHub::connected(const std::string& stream_key) const {
  Stream* stream = impl_->Find(stream_key);
  if (stream == nullptr) return false;
  absl::MutexLock lock(&stream->mu);
  return stream->connected;
}

std::vector<EventHubStreamStats> EventHub::Stats() const {
  std::vector<EventHubStreamStats> stats;
  for (const auto& stream : impl_->streams) {
    EventHubStreamStats entry;
    entry.stream_key = stream->key;
    entry.subscribers = stream->counts->open.load(std::memory_order_relaxed);
    entry.ended_too_slow = stream->counts->too_slow.load(std::memory_order_relaxed);
    {
      absl::MutexLock lock(&stream->mu);
      entry.connected = stream->connected;
      entry.held = static_cast<int64_t>(stream->subscribers.size());
    }
    stats.push_back(std::move(entry));
  }
  return stats;
}

}  // namespace plantmesh::runtime
