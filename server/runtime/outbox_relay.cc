// OutboxRelay: moves committed outbox rows to Redis Streams.
//
// One batch = one PostgreSQL transaction: take the stream's publisher lease (a
// transaction-scoped advisory lock; a replica without it skips the source this round),
// read the oldest rows, XADD them in one MULTI/EXEC (which also creates the stream's
// generation key when missing), delete them, commit. A crash between XADD and COMMIT
// publishes the rows again later: delivery is at least once and consumers dedup by
// event_id. While Redis is down the rows simply stay in the outbox. Each source has its
// own retry backoff, so a failing one never holds the others back.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/redis_client.h"
#include "server/runtime/stream_cursor.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

constexpr int kBatchSize = 500;
constexpr auto kPollInterval = std::chrono::milliseconds(200);
// Another replica holds a stream's lease: look again soon, the rows just committed here
// may not be in its batch.
constexpr auto kLeaseBusyRetry = std::chrono::milliseconds(20);
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::seconds(2);
// Stop() publishes what is pending, but a shutdown must not hang on a dead Redis.
constexpr auto kDrainLimit = std::chrono::seconds(3);
// First key of the publisher lease (pg_try_advisory_xact_lock(int, int)); the second is
// hashtext(stream_key). "PMOB".
constexpr int kLeaseClass = 0x504d4f42;

using Clock = std::chrono::steady_clock;

struct Outcome {
  absl::Status status;
  bool redis_failed = false;
  bool lease_busy = false;
  int published = 0;
};

// A source and its retry state (relay thread only).
struct SourceState {
  OutboxSource source;
  std::chrono::milliseconds backoff{0};
  Clock::time_point retry_at{};
  bool failing = false;
};

// What one round over the sources found.
struct Round {
  absl::Status status;  // the first failure, if any
  bool lease_busy = false;
  int published = 0;
  Clock::time_point next_retry = Clock::time_point::max();
};

}  // namespace

std::vector<std::vector<std::string>> StreamPublishCommands(
    const OutboxSource& source, const std::vector<std::pair<std::string, std::string>>& events) {
  std::vector<std::vector<std::string>> commands;
  commands.reserve(events.size() + 3);
  commands.push_back({"MULTI"});
  commands.push_back({"SET", GenerationKey(source.stream_key), NewStreamGeneration(), "NX"});
  const std::string retain = std::to_string(source.retain);
  for (const auto& [event_id, payload] : events) {
    commands.push_back({"XADD", source.stream_key, "MAXLEN", "~", retain, "*", "event_id", event_id,
                        "payload", payload});
  }
  commands.push_back({"EXEC"});
  return commands;
}

struct OutboxRelay::State {
  State(PgPool* pool, RedisOptions redis_options, std::vector<OutboxSource> sources_in)
      : pool(pool), redis(std::move(redis_options)), source_list(std::move(sources_in)) {
    for (const OutboxSource& source : source_list) sources.push_back({source});
  }

  // Publishes up to kBatchSize rows of `source` in one transaction.
  Outcome PublishBatch(const OutboxSource& source) {
    Outcome outcome;
    outcome.status = pool->Run([&](pqxx::connection& conn) -> absl::Status {
      outcome = Outcome{};  // Run may retry the body
      const std::string table = conn.quote_name(source.schema) + ".outbox";
      pqxx::work tx(conn);
      // Removing published rows need not wait for the WAL flush: if a crash loses the
      // delete, the rows are published again and consumers drop them by event_id. This
      // keeps the relay from doubling the fsyncs of the writes it follows (bench B5).
      tx.exec("SET LOCAL synchronous_commit = off");
      // One publisher per stream at a time keeps the stream in id order (see the header).
      if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock($1, hashtext($2))", kLeaseClass,
                           source.stream_key)[0]
               .as<bool>()) {
        outcome.lease_busy = true;
        return absl::OkStatus();
      }
      pqxx::result rows = tx.exec("SELECT id, event_id::text, payload FROM " + table +
                                  " ORDER BY id LIMIT " + std::to_string(kBatchSize));
      if (rows.empty()) return absl::OkStatus();
      std::vector<std::pair<std::string, std::string>> events;
      std::vector<std::string> ids;
      events.reserve(rows.size());
      ids.reserve(rows.size());
      for (const pqxx::row& row : rows) {
        ids.push_back(row[0].c_str());
        events.emplace_back(row[1].c_str(), pqxx::binarystring(row[2]).str());
      }
      absl::StatusOr<std::vector<RedisReply>> replies =
          redis.Pipeline(StreamPublishCommands(source, events));
      if (!replies.ok()) {
        outcome.redis_failed = true;
        return replies.status();  // the transaction rolls back: rows stay unpublished
      }
      // EXEC's reply holds each command's; an XADD refused inside it is an element.
      for (const RedisReply& reply : replies->back().elements) {
        if (reply.type == RedisReply::Type::kError) {
          return absl::InternalError(absl::StrCat("redis: ", reply.str));
        }
      }
      tx.exec_params("DELETE FROM " + table + " WHERE id = ANY($1::bigint[])",
                     absl::StrCat("{", absl::StrJoin(ids, ","), "}"));
      tx.commit();
      outcome.published = static_cast<int>(rows.size());
      return absl::OkStatus();
    });
    return outcome;
  }

  // Publishes what is pending in every source that is not waiting out a backoff (all of
  // them when `all`).
  Round PublishPending(bool all) {
    Round round;
    const Clock::time_point now = Clock::now();
    for (SourceState& state : sources) {
      if (!all && state.retry_at > now) {
        round.next_retry = std::min(round.next_retry, state.retry_at);
        continue;
      }
      absl::Status failed;
      for (;;) {
        Outcome outcome = PublishBatch(state.source);
        if (!outcome.status.ok()) {
          // A PostgreSQL failure says nothing about Redis.
          if (outcome.redis_failed) SetHealthy(false, outcome.status);
          failed = outcome.status;
          break;
        }
        if (outcome.published > 0) SetHealthy(true, absl::OkStatus());
        round.published += outcome.published;
        round.lease_busy = round.lease_busy || outcome.lease_busy;
        if (outcome.published < kBatchSize) break;
      }
      if (failed.ok()) {
        if (state.failing) spdlog::info("outbox relay: {} publishing again", state.source.schema);
        state.failing = false;
        state.backoff = std::chrono::milliseconds(0);
        state.retry_at = {};
        continue;
      }
      if (!state.failing) {
        spdlog::warn("outbox relay: {} failed, retrying with backoff (other sources go on): {}",
                     state.source.schema, failed.ToString());
      }
      state.failing = true;
      state.backoff = std::min<std::chrono::milliseconds>(
          state.backoff.count() == 0 ? kFirstBackoff : state.backoff * 2, kMaxBackoff);
      state.retry_at = Clock::now() + state.backoff;
      round.next_retry = std::min(round.next_retry, state.retry_at);
      if (round.status.ok()) round.status = failed;
    }
    if (round.status.ok() && round.published == 0) {
      // Nothing to publish: still find out whether Redis is there, for health.
      absl::StatusOr<RedisReply> pong = redis.Command({"PING"});
      SetHealthy(pong.ok(), pong.status());
    }
    return round;
  }

  void SetHealthy(bool healthy, const absl::Status& why) {
    if (redis_healthy.exchange(healthy) != healthy) {
      if (healthy) {
        spdlog::info("outbox relay: Redis reachable again, publishing");
      } else {
        spdlog::warn("outbox relay: Redis unreachable, events wait in PostgreSQL: {}",
                     why.ToString());
      }
    }
  }

  void Loop() {
    Clock::duration wait{0};
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu);
        wake.wait_for(lock, wait, [&] { return stopping || notified; });
        notified = false;
        if (stopping) break;
      }
      Round round = PublishPending(/*all=*/false);
      wait = kPollInterval;
      if (round.lease_busy) wait = kLeaseBusyRetry;
      if (round.next_retry != Clock::time_point::max()) {
        wait = std::min<Clock::duration>(
            wait, std::max<Clock::duration>(round.next_retry - Clock::now(), {}));
      }
    }
    Drain();
  }

  void Drain() {
    auto deadline = Clock::now() + kDrainLimit;
    while (Clock::now() < deadline) {
      Round round = PublishPending(/*all=*/true);
      if (round.status.ok()) return;
      std::this_thread::sleep_for(kFirstBackoff);
    }
    spdlog::warn("outbox relay: stopped with events still unpublished; the next start sends them");
  }

  std::vector<OutboxLag> Lag() const {
    std::vector<OutboxLag> lags;
    for (const OutboxSource& source : source_list) {
      OutboxLag lag;
      lag.schema = source.schema;
      lag.stream_key = source.stream_key;
      lag.status = pool->Run([&](pqxx::connection& conn) -> absl::Status {
        pqxx::read_transaction tx(conn);
        pqxx::row row = tx.exec1(
            "SELECT count(*), coalesce((extract(epoch from clock_timestamp() - min(created_at)) "
            "* 1000000)::int8, 0) FROM " +
            conn.quote_name(source.schema) + ".outbox");
        lag.pending_rows = row[0].as<int64_t>();
        lag.oldest_age = absl::Microseconds(std::max<int64_t>(0, row[1].as<int64_t>()));
        return absl::OkStatus();
      });
      lags.push_back(std::move(lag));
    }
    return lags;
  }

  PgPool* pool;
  RedisClient redis;                            // used by the relay thread only
  const std::vector<OutboxSource> source_list;  // read by any thread (Lag)
  std::vector<SourceState> sources;             // relay thread only
  std::atomic<bool> redis_healthy{true};

  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  bool notified = false;
  std::thread thread;
};

OutboxRelay::OutboxRelay(PgPool* pool, RedisOptions redis, std::vector<OutboxSource> sources)
    : state_(std::make_unique<State>(pool, std::move(redis), std::move(sources))) {}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->thread.joinable() || state_->stopping) return;
  state_->thread = std::thread([state = state_.get()] { state->Loop(); });
}

void OutboxRelay::Stop() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

void OutboxRelay::Notify() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->notified = true;
  }
  state_->wake.notify_all();
}

bool OutboxRelay::redis_healthy() const { return state_->redis_healthy.load(); }

std::vector<OutboxLag> OutboxRelay::Lag() const { return state_->Lag(); }

}  // namespace plantmesh::runtime
