// List then watch, kept in sync: the SDK's informer (in the spirit of Kubernetes'
// client-go informers), for any resource with a paged List carrying `watch_cursor` and
// a Watch* stream whose events carry the resource's revision.
//
// Run() lists every page, hands the full set to on_list (in the list's order: the
// server's, or the order_by the list asked for), then watches from the first
// page's watch_cursor (a change committed after the list is never missed), and keeps
// its cache current:
//   - an event whose revision is not newer than the cached resource's is a duplicate
//     (the list already reflected it, or the relay delivered it twice): dropped;
//   - a resource that no longer matches the filter (it left it, e.g. moved to another
//     zone) is removed (on_remove);
//   - the stream ending with UNAVAILABLE (server draining, a slow watcher cut off, a
//     network cut) resumes from the last cursor (the status' ErrorInfo `cursor` when it
//     names one), with backoff (first_backoff doubling to max_backoff, at least the
//     server's RetryDelay, status.h; a stream that delivered something, or stayed open
//     for max_backoff, starts it again from first_backoff);
//   - FAILED_PRECONDITION (cursor trimmed away, the event stream was reset) lists again
//     (on_list gets the new full set);
//   - any other error ends Run with it.
// A list that fails as a resumable error does (UNAVAILABLE: no server, a refused
// certificate, a network cut) is tried again with backoff; on_retry and Stats() say so
// each time, so that a screen can show it is not current, and why. A list call waits
// for a connection up to its deadline (the source's: ClientOptions::default_deadline,
// 10 s) before it fails: a board started while no server can be reached hears of it
// after that deadline, so give a screen's client a shorter one (e.g. 3 s).
// Handlers run on the thread that called Run. Stop() may be called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/sdk/streams.h"

namespace plantmesh::sdk {

// One page of a List call, reduced to what ListWatch needs.
template <typename Item>
struct ListWatchPage {
  std::vector<Item> items;
  std::string next_page_token;  // empty on the last page
  std::string watch_cursor;     // empty when the server cannot give one (list again later)
};

// One Watch* message, reduced: the resource after the change, its revision, the cursor
// to resume after it, and whether the change took it out of the watch's filter.
template <typename Item>
struct ListWatchChange {
  Item item;
  int64_t revision = 0;
  std::string cursor;
  bool left_filter = false;
};

// How to talk to one resource's List and Watch* methods.
template <typename Item, typename WatchResponse>
struct ListWatchSource {
  // One page from `page_token` ("" = the first).
  std::function<absl::StatusOr<ListWatchPage<Item>>(const std::string& page_token)> list_page;
  // Opens the watch from `cursor`.
  std::function<std::unique_ptr<ReadStream<WatchResponse>>(const std::string& cursor)> watch;
  // The change one Watch* message carries; or, for a watch that asks for several per
  // message, `changes`: all of them, in order (when set, `change` is not used).
  std::function<ListWatchChange<Item>(const WatchResponse&)> change;
  std::function<std::vector<ListWatchChange<Item>>(const WatchResponse&)> changes;
  std::function<std::string(const Item&)> key;
  std::function<int64_t(const Item&)> revision;
  // Whether a resource belongs in the set (the list's filter, for filters the watch
  // cannot apply itself); unset: everything the watch delivers does.
  std::function<bool(const Item&)> matches;
};

template <typename Item>
struct ListWatchHandlers {
  std::function<void(const std::vector<Item>& items)> on_list;  // every (re)list, list order
  std::function<void(const Item& item)> on_upsert;              // new or newer
  std::function<void(const Item& item)> on_remove;              // left the set
  // A list that failed, or a watch stream that ended, and how long until the next try
  // (a list again, or a resume): the set is not current until then.
  std::function<void(const absl::Status& error, absl::Duration retry_in)> on_retry;
};

struct ListWatchOptions {
  absl::Duration first_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
};

// ListWatchStats::remembered_removals at most.
inline constexpr size_t kMaxRememberedRemovals = 4096;

// What a run did so far (for logs, metrics, tests).
struct ListWatchStats {
  int64_t lists = 0;       // complete lists (the first and every relist)
  int64_t resumes = 0;     // watches reopened from a cursor
  int64_t duplicates = 0;  // events dropped by revision
  int64_t events = 0;      // events applied
  // Keys that left the list remembered now, each with the revision it left at, so that
  // an older event delivered again cannot bring it back: at most
  // kMaxRememberedRemovals, the oldest forgotten first (a board that runs for months
  // sees every defect leave once).
  int64_t remembered_removals = 0;
  std::string last_end;         // how the last watch stream ended (StatusLine)
  int64_t list_failures = 0;    // list attempts that failed (each tried again)
  std::string last_list_error;  // the last one's StatusLine; empty once a list succeeded
};

template <typename Item, typename WatchResponse>
class ListWatch {
 public:
  // `clock` (empty: absl::Now) is what a stream's open time is read from: a test's own
  // clock makes it a fact, not a wait.
  explicit ListWatch(ListWatchSource<Item, WatchResponse> source, ListWatchOptions options = {},
                     std::function<absl::Time()> clock = nullptr)
      : source_(std::move(source)), options_(options), clock_(std::move(clock)) {}

  // Lists, watches and resumes until Stop() (then OK) or an error that listing again
  // cannot fix (returned).
  absl::Status Run(const ListWatchHandlers<Item>& handlers) {
    absl::Duration backoff;
    std::string cursor;
    bool need_list = true;
    while (!stopped_.load()) {
      if (backoff > absl::ZeroDuration() && !Sleep(backoff)) break;
      if (need_list) {
        absl::StatusOr<std::string> listed = List(handlers);
        if (!listed.ok()) {
          // Stop() cancelled it: not a failure (outside testing: Ctrl-C was told as one).
          if (stopped_.load()) break;
          if (!WatchEndIsResumable(listed.status())) return listed.status();
          {
            absl::MutexLock lock(&stats_mu_);
            ++stats_.list_failures;
            stats_.last_list_error = StatusLine(listed.status());
          }
          backoff = Next(backoff, listed.status());
          if (handlers.on_retry) handlers.on_retry(listed.status(), backoff);
          continue;
        }
        cursor = *listed;
        need_list = false;
      }
      std::unique_ptr<ReadStream<WatchResponse>> stream = source_.watch(cursor);
      if (stream == nullptr) {
        // A mock connection without an action for the Watch method (outside testing: the
        // test process ended with SIGSEGV, no message).
        return absl::FailedPreconditionError(
            "the watch source opened no stream (null; a mock connection without an action "
            "for the Watch method?)");
      }
      {
        std::lock_guard<std::mutex> lock(stream_mu_);
        stream_ = stream.get();
      }
      if (stopped_.load()) stream->Cancel();
      const absl::Time opened = Now();
      WatchResponse response;
      bool received = false;
      while (stream->Next(&response)) {
        received = true;
        if (source_.changes) {
          for (const ListWatchChange<Item>& change : source_.changes(response)) {
            cursor = change.cursor;
            Apply(change, handlers);
          }
        } else {
          ListWatchChange<Item> change = source_.change(response);
          cursor = change.cursor;
          Apply(change, handlers);
        }
      }
      absl::Status ended = stream->Finish();
      {
        std::lock_guard<std::mutex> lock(stream_mu_);
        stream_ = nullptr;
      }
      if (stopped_.load()) break;
      {
        absl::MutexLock lock(&stats_mu_);
        stats_.last_end = StatusLine(ended);
      }
      // A stream that delivered, or stayed open for max_backoff, was a working one: the
      // next failure starts the backoff again (outside testing: a quiet board's waits grew
      // to 3.2 s over six server restarts, each after a healthy stream).
      if (received || Now() - opened >= options_.max_backoff) backoff = absl::ZeroDuration();
      if (ended.code() == absl::StatusCode::kFailedPrecondition) {
        need_list = true;  // the cursor can no longer be served: list again
        backoff = Next(backoff, ended);
        if (handlers.on_retry) handlers.on_retry(ended, backoff);
        continue;
      }
      // A CANCELLED is not ours: Stop sets stopped_ before it cancels.
      if (!WatchEndIsResumable(ended)) return ended;
      const std::string named = ErrorMetadata(ended, "cursor");
      if (!named.empty()) cursor = named;
      {
        absl::MutexLock lock(&stats_mu_);
        ++stats_.resumes;
      }
      backoff = Next(backoff, ended);
      if (handlers.on_retry) handlers.on_retry(ended, backoff);
    }
    return absl::OkStatus();
  }

  // Ends Run from any thread (it returns OK).
  void Stop() {
    stopped_ = true;
    { absl::MutexLock lock(&sleep_mu_); }
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (stream_ != nullptr) stream_->Cancel();
  }

  // The current set, by key.
  std::map<std::string, Item> Items() const {
    absl::MutexLock lock(&cache_mu_);
    return cache_;
  }

  ListWatchStats Stats() const {
    absl::MutexLock lock(&stats_mu_);
    return stats_;
  }

 private:
  absl::Time Now() const { return clock_ ? clock_() : absl::Now(); }

  // The wait after `backoff` once `failure` happened: doubled up to max_backoff, and at
  // least the delay the server asked for (RetryDelay: a draining server, a full queue).
  absl::Duration Next(absl::Duration backoff, const absl::Status& failure) const {
    const absl::Duration grown = backoff == absl::ZeroDuration()
                                     ? options_.first_backoff
                                     : std::min(backoff * 2, options_.max_backoff);
    return std::max(grown, RetryDelay(failure).value_or(absl::ZeroDuration()));
  }

  // Waits `duration` unless stopped; false when stopped.
  bool Sleep(absl::Duration duration) {
    absl::MutexLock lock(&sleep_mu_);
    auto stopped = [this] { return stopped_.load(); };
    sleep_mu_.AwaitWithTimeout(absl::Condition(&stopped), duration);
    return !stopped_.load();
  }

  bool Matches(const Item& item) const { return !source_.matches || source_.matches(item); }

  // Every page; replaces the cache. The first page's watch_cursor.
  absl::StatusOr<std::string> List(const ListWatchHandlers<Item>& handlers) {
    std::map<std::string, Item> fresh;
    // The keys in the order the list gave them: on_list hands the items in the server's
    // order (outside testing: by key text, "1, 12, 2", and --order_by lost). A key that
    // comes again on a later page (it moved while the pages were read) keeps its first
    // place and takes the later item.
    std::vector<std::string> order;
    std::string token;
    std::string cursor;
    bool first = true;
    do {
      absl::StatusOr<ListWatchPage<Item>> page = source_.list_page(token);
      if (!page.ok()) return page.status();
      if (first) {
        // Later pages are newer snapshots: the first page's cursor covers them all.
        if (page->watch_cursor.empty()) {
          return absl::UnavailableError("the list carries no watch_cursor (event stream away)");
        }
        cursor = page->watch_cursor;
        first = false;
      }
      for (Item& item : page->items) {
        if (!Matches(item)) continue;
        std::string key = source_.key(item);
        auto [it, added] = fresh.insert_or_assign(key, std::move(item));
        if (added) order.push_back(std::move(key));
      }
      token = page->next_page_token;
    } while (!token.empty());
    std::vector<Item> items;
    items.reserve(fresh.size());
    for (const std::string& key : order) items.push_back(fresh.at(key));
    {
      absl::MutexLock lock(&cache_mu_);
      cache_ = std::move(fresh);
      removed_.clear();
      removed_order_.clear();
    }
    {
      absl::MutexLock lock(&stats_mu_);
      ++stats_.lists;
      stats_.last_list_error.clear();
      stats_.remembered_removals = 0;
    }
    if (handlers.on_list) handlers.on_list(items);
    return cursor;
  }

  void Apply(const ListWatchChange<Item>& change, const ListWatchHandlers<Item>& handlers) {
    const std::string key = source_.key(change.item);
    bool duplicate = false;
    bool removed = false;
    bool upserted = false;
    size_t remembered = 0;
    {
      absl::MutexLock lock(&cache_mu_);
      auto it = cache_.find(key);
      auto gone = removed_.find(key);
      const int64_t known = it != cache_.end()       ? source_.revision(it->second)
                            : gone != removed_.end() ? gone->second.revision
                                                     : 0;
      if (change.revision <= known) {
        duplicate = true;
      } else if (change.left_filter || !Matches(change.item)) {
        if (it != cache_.end()) {
          cache_.erase(it);
          removed = true;
        }
        // Remembered so that an older event delivered again cannot bring it back. Such
        // an event comes back only around a resume (its cursor is past what was applied),
        // so the last kMaxRememberedRemovals keys are plenty.
        // A key already remembered keeps its place in the order (it left earlier).
        auto [entry, added] = removed_.try_emplace(key, Removal{change.revision, 0});
        entry->second.revision = change.revision;
        if (added) {
          entry->second.order = ++removals_;
          removed_order_.emplace_back(key, removals_);
        }
        while (removed_order_.size() > kMaxRememberedRemovals) {
          // Only the entry the order names: a key that came back and left again since
          // is remembered under its later place.
          auto oldest = removed_.find(removed_order_.front().first);
          if (oldest != removed_.end() && oldest->second.order == removed_order_.front().second) {
            removed_.erase(oldest);
          }
          removed_order_.pop_front();
        }
      } else {
        cache_[key] = change.item;
        removed_.erase(key);
        upserted = true;
      }
      remembered = removed_.size();
    }
    {
      absl::MutexLock lock(&stats_mu_);
      stats_.remembered_removals = static_cast<int64_t>(remembered);
      if (duplicate) ++stats_.duplicates;
      if (removed || upserted) ++stats_.events;
    }
    if (removed && handlers.on_remove) handlers.on_remove(change.item);
    if (upserted && handlers.on_upsert) handlers.on_upsert(change.item);
  }

  ListWatchSource<Item, WatchResponse> source_;
  ListWatchOptions options_;
  std::function<absl::Time()> clock_;
  std::atomic<bool> stopped_{false};
  absl::Mutex sleep_mu_;
  std::mutex stream_mu_;
  ReadStream<WatchResponse>* stream_ = nullptr;  // the open watch, for Stop
  mutable absl::Mutex cache_mu_;
  std::map<std::string, Item> cache_;
  struct Removal {
    int64_t revision = 0;  // it left at
    uint64_t order = 0;    // its place in removed_order_
  };
  std::map<std::string, Removal> removed_;  // since the last list
  // (key, place) as keys left, oldest first; a key that came back (upserted: erased from
  // removed_) leaves a stale entry, skipped when it reaches the front.
  std::deque<std::pair<std::string, uint64_t>> removed_order_;
  uint64_t removals_ = 0;
  mutable absl::Mutex stats_mu_;
  ListWatchStats stats_;
};

}  // namespace plantmesh::sdk
