// OutboxRelay: moves committed outbox rows to Redis Streams.
//
// One batch = one PostgreSQL transaction: lock the oldest rows (SKIP LOCKED keeps
// replicas apart), XADD them in one pipeline, delete them, commit. A crash between XADD
// and COMMIT publishes the rows again later: delivery is at least once and consumers
// dedup by event_id. While Redis is down the rows simply stay in the outbox.
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
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

constexpr int kBatchSize = 500;
constexpr auto kPollInterval = std::chrono::milliseconds(200);
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::seconds(2);
// Stop() publishes what is pending, but a shutdown must not hang on a dead Redis.
constexpr auto kDrainLimit = std::chrono::seconds(3);

struct Outcome {
  absl::Status status;
  bool redis_failed = false;
  int published = 0;
};

}  // namespace

struct OutboxRelay::State {
  State(PgPool* pool, RedisOptions redis_options, std::vector<OutboxSource> sources)
      : pool(pool), redis(std::move(redis_options)), sources(std::move(sources)) {}

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
      pqxx::result rows =
          tx.exec("SELECT id, event_id::text, payload FROM " + table + " ORDER BY id LIMIT " +
                  std::to_string(kBatchSize) + " FOR UPDATE SKIP LOCKED");
      if (rows.empty()) return absl::OkStatus();
      std::vector<std::vector<std::string>> commands;
      std::vector<std::string> ids;
      commands.reserve(rows.size());
      ids.reserve(rows.size());
      const std::string retain = std::to_string(source.retain);
      for (const pqxx::row& row : rows) {
        ids.push_back(row[0].c_str());
        pqxx::binarystring payload(row[2]);
        commands.push_back({"XADD", source.stream_key, "MAXLEN", "~", retain, "*", "event_id",
                            row[1].c_str(), "payload", payload.str()});
      }
      absl::StatusOr<std::vector<RedisReply>> replies = redis.Pipeline(commands);
      if (!replies.ok()) {
        outcome.redis_failed = true;
        return replies.status();  // the transaction rolls back: rows stay unpublished
      }
      tx.exec_params("DELETE FROM " + table + " WHERE id = ANY($1::bigint[])",
                     absl::StrCat("{", absl::StrJoin(ids, ","), "}"));
      tx.commit();
      outcome.published = static_cast<int>(rows.size());
      return absl::OkStatus();
    });
    return outcome;
  }

  // Publishes everything pending in every source. OK when all of it went out.
  absl::Status PublishPending() {
    int total = 0;
    for (const OutboxSource& source : sources) {
      for (;;) {
        Outcome outcome = PublishBatch(source);
        if (!outcome.status.ok()) {
          // A PostgreSQL failure says nothing about Redis.
          if (outcome.redis_failed) SetHealthy(false, outcome.status);
          return outcome.status;
        }
        total += outcome.published;
        if (outcome.published < kBatchSize) break;
      }
    }
    if (total > 0) {
      SetHealthy(true, absl::OkStatus());
      return absl::OkStatus();
    }
    // Nothing to publish: still find out whether Redis is there, for health.
    absl::StatusOr<RedisReply> pong = redis.Command({"PING"});
    SetHealthy(pong.ok(), pong.status());
    return pong.status();
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
    std::chrono::milliseconds backoff{0};
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu);
        if (backoff.count() > 0) {
          // After a failure only Stop() cuts the wait short: Notify() must not turn
          // an outage into a busy retry loop.
          wake.wait_for(lock, backoff, [&] { return stopping; });
        } else {
          wake.wait_for(lock, kPollInterval, [&] { return stopping || notified; });
        }
        notified = false;
        if (stopping) break;
      }
      if (PublishPending().ok()) {
        backoff = std::chrono::milliseconds(0);
      } else {
        backoff = std::min<std::chrono::milliseconds>(
            backoff.count() == 0 ? kFirstBackoff : backoff * 2, kMaxBackoff);
      }
    }
    Drain();
  }

  void Drain() {
    auto deadline = std::chrono::steady_clock::now() + kDrainLimit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (PublishPending().ok()) return;
      std::this_thread::sleep_for(kFirstBackoff);
    }
    spdlog::warn("outbox relay: stopped with events still unpublished; the next start sends them");
  }

  PgPool* pool;
  RedisClient redis;  // used by the relay thread only
  std::vector<OutboxSource> sources;
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

}  // namespace plantmesh::runtime
