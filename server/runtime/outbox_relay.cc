// OutboxRelay: moves committed outbox rows to Redis Streams.
//
// One batch = one PostgreSQL transaction: take the stream's publisher lease (a
// transaction-scoped advisory lock; a replica without it skips the source this round),
// check that the stream still continues what the database recorded publishing
// (stream_history.h; a new generation when it does not), read the oldest rows, XADD them
// in one MULTI/EXEC (which also creates the stream's generation key when missing),
// delete them and record the stream's new position, commit. A crash between XADD and COMMIT
// leaves the rows in the outbox and their entries in the stream after the recorded
// position: the next batch finds them there (each entry's event still in the outbox) and
// deletes the rows instead of publishing them again (outside testing: after a kill -9, a
// live tail got whole batches twice, with nothing to tell them by). Consumers still dedup
// by event_id where a delete itself is lost (asynchronous commit, below). While Redis is
// down the rows simply stay in the outbox. Each source has its
// own retry backoff, so a failing one never holds the others back.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/redis_client.h"
#include "server/runtime/redis_owner.h"
#include "server/runtime/stream_cursor.h"
#include "server/runtime/stream_history.h"
#include "server/runtime/stream_page.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

// A batch transaction publishes at most kBatchSize rows, and stops at the row that
// reaches kBatchBytes of payloads: rows range from a few hundred bytes to ~1 MiB (a
// group of telemetry samples), and 500 of those were one 500 MiB MULTI in the relay's
// memory and in Redis, which serves no one else while it runs EXEC.
constexpr int kBatchSize = 500;
constexpr int64_t kBatchBytes = static_cast<int64_t>(kStreamPageBytes);
constexpr auto kPollInterval = std::chrono::milliseconds(200);
// After a round that published, the next one starts no sooner than this after it began,
// however often handlers notify: under load a round (about eight PostgreSQL round trips,
// two to Redis and an asynchronous commit) then carries the rows of many commits instead
// of one or two, and the relay stops competing with the writes it follows for the CPU
// (bench B5). A lone commit after a quiet spell is still relayed at once.
constexpr auto kMinRoundInterval = std::chrono::milliseconds(5);
// Another replica holds a stream's lease: look again soon, the rows just committed here
// may not be in its batch.
constexpr auto kLeaseBusyRetry = std::chrono::milliseconds(20);
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::seconds(2);
// Stop() publishes what is pending, but a shutdown must not hang on a dead Redis.
constexpr auto kDrainLimit = std::chrono::seconds(3);
// How often the relay reads its sources' lag for LastLag (the metrics).
constexpr auto kLagInterval = std::chrono::seconds(1);
// First key of the publisher lease (pg_try_advisory_xact_lock(int, int)); the second is
// hashtext(stream_key). "PMOB".
constexpr int kLeaseClass = 0x504d4f42;

using Clock = std::chrono::steady_clock;

struct Outcome {
  absl::Status status;
  bool redis_failed = false;
  bool lease_busy = false;
  int published = 0;
  bool full = false;  // the batch reached kBatchSize or kBatchBytes: more may be pending
};

// Entries read per page while checking a stream's entries against the outbox: at most
// this many, and about kStreamPageBytes (entries are up to ~1 MiB).
constexpr int kVerifyPage = 500;

// The form of a UUID as PostgreSQL prints it; anything else cannot be an outbox row's.
bool IsUuidText(const std::string& text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// What a batch transaction reads once it holds the lease, in one round trip: the
// recorded position and the oldest rows (at most `limit`, up to the one that reaches
// `limit_bytes` of payloads), as of one snapshot.
struct Pending {
  PublishedPosition recorded;
  std::vector<std::string> ids;
  std::vector<std::pair<std::string, std::string>> events;  // (event_id, payload)
  bool full = false;                                        // a limit cut the rows short
};

Pending ReadPending(pqxx::work& tx, const std::string& positions, const std::string& table,
                    const std::string& stream_key, int limit, int64_t limit_bytes) {
  // One row per outbox row, each with the position; a single row of NULLs for the
  // outbox when it is empty, so that the position is read either way. A row is taken
  // while the rows before it hold less than limit_bytes (octet_length reads a stored
  // payload's size without fetching it), so the first always is.
  pqxx::result rows = tx.exec_params(
      "SELECT p.generation, p.last_id, o.id, o.event_id::text, o.payload, o.through_bytes "
      "FROM (SELECT) AS one LEFT JOIN " +
          positions +
          " AS p ON p.stream_key = $1 "
          "LEFT JOIN LATERAL (SELECT id, event_id, payload, through_bytes FROM "
          "(SELECT id, event_id, payload, sum(octet_length(payload)) OVER (ORDER BY id) AS "
          "through_bytes FROM " +
          table +
          " ORDER BY id LIMIT $2) AS w WHERE through_bytes - octet_length(payload) < $3) AS o "
          "ON true ORDER BY o.id",
      stream_key, limit, limit_bytes);
  Pending pending;
  if (!rows.empty() && !rows[0][0].is_null()) {
    pending.recorded.generation = rows[0][0].as<std::string>();
    pending.recorded.recorded =
        StreamId::Parse(rows[0][1].as<std::string>(), &pending.recorded.last_id);
  }
  for (const pqxx::row& row : rows) {
    if (row[2].is_null()) continue;
    pending.ids.push_back(row[2].c_str());
    pending.events.emplace_back(row[3].c_str(), pqxx::binarystring(row[4]).str());
    // The row that reached the bytes may be the last pending one: then the next batch
    // finds nothing, which costs one round trip.
    pending.full = pending.full || row[5].as<int64_t>() >= limit_bytes;
  }
  pending.full = pending.full || static_cast<int>(pending.ids.size()) == limit;
  return pending;
}

// Records `position` and, in the same statement, deletes the published rows `ids`.
void WritePosition(pqxx::work& tx, const std::string& positions, const std::string& table,
                   const std::string& stream_key, const PublishedPosition& position,
                   const std::vector<std::string>& ids) {
  tx.exec_params("WITH published AS (DELETE FROM " + table +
                     " WHERE id = ANY($4::bigint[])) INSERT INTO " + positions +
                     " (stream_key, generation, last_id) VALUES ($1, $2, $3) "
                     "ON CONFLICT (stream_key) DO UPDATE SET generation = EXCLUDED.generation, "
                     "last_id = EXCLUDED.last_id, update_time = now()",
                 stream_key, position.generation, position.last_id.ToString(),
                 absl::StrCat("{", absl::StrJoin(ids, ","), "}"));
}

// A source and its retry state (relay thread only).
struct SourceState {
  OutboxSource source;
  std::chrono::milliseconds backoff{0};
  Clock::time_point retry_at{};
  bool failing = false;
  bool redis_failing = false;  // its last attempt failed at Redis (down, or refusing writes)
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
  commands.reserve(events.size() + 4);
  commands.push_back({"MULTI"});
  commands.push_back(
      {"SET", GenerationKey(source.stream_key), NewStreamGeneration(source.stream_key), "NX"});
  for (const auto& [event_id, payload] : events) {
    const int64_t fit =
        source.retain_bytes / std::max<int64_t>(1, static_cast<int64_t>(payload.size()));
    const std::string retain = std::to_string(std::clamp<int64_t>(fit, 1, source.retain));
    commands.push_back({"XADD", source.stream_key, "MAXLEN", "~", retain, "*", "event_id", event_id,
                        "payload", payload});
  }
  // The generation the entries went to, for the relay's record.
  commands.push_back({"GET", GenerationKey(source.stream_key)});
  commands.push_back({"EXEC"});
  return commands;
}

// How far each id sequence of a schema moves when its stream shows that the database may
// be older than what clients were told: more ids than a plant hands out between a backup
// and its restore (a defect, plan or record each), few enough to stay readable.
constexpr int64_t kIdsSkippedAfterRestore = 1000000;

struct OutboxRelay::State {
  State(PgPool* pool, RedisOptions redis_options_in, std::vector<OutboxSource> sources_in,
        std::string installation_in)
      : pool(pool),
        redis_options(redis_options_in),
        redis(std::move(redis_options_in)),
        installation(std::move(installation_in)),
        source_list(std::move(sources_in)) {
    for (const OutboxSource& source : source_list) sources.push_back({source});
    checked.assign(source_list.size(), false);
  }

  // Publishes up to kBatchSize rows of `source` in one transaction, after checking the
  // stream against the database's record of it.
  Outcome PublishBatch(const OutboxSource& source) {
    Outcome outcome;
    outcome.status = pool->Run([&](pqxx::connection& conn) -> absl::Status {
      outcome = Outcome{};  // Run may retry the body
      const std::string schema = conn.quote_name(source.schema);
      const std::string table = schema + ".outbox";
      const std::string positions = schema + ".outbox_stream";
      pqxx::work tx(conn);
      // One publisher per stream at a time keeps the stream in id order (see the header);
      // it also makes the check below and a new generation one replica's decision.
      // Removing published rows need not wait for the WAL flush (set in the same round
      // trip): if a crash loses the delete, the rows are published again and consumers
      // drop them by event_id. This keeps the relay from doubling the fsyncs of the
      // writes it follows (bench B5).
      if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock($1, hashtext($2)), "
                           "set_config('synchronous_commit', 'off', true)",
                           kLeaseClass, source.stream_key)[0]
               .as<bool>()) {
        outcome.lease_busy = true;
        return absl::OkStatus();
      }
      // Read after the lock is held: the position the previous holder committed.
      Pending pending =
          ReadPending(tx, positions, table, source.stream_key, kBatchSize, kBatchBytes);
      const PublishedPosition& recorded = pending.recorded;
      std::vector<std::string> published_unrecorded;
      absl::StatusOr<PublishedPosition> checked =
          CheckStream(tx, table, source, recorded, &published_unrecorded);
      if (!checked.ok()) {
        outcome.redis_failed = true;
        return checked.status();
      }
      PublishedPosition position = *std::move(checked);
      if (!published_unrecorded.empty()) {
        // Their rows go with the position below; what is left of the batch is new.
        const std::set<std::string> published(published_unrecorded.begin(),
                                              published_unrecorded.end());
        tx.exec_params("DELETE FROM " + table + " WHERE event_id = ANY($1::uuid[])",
                       absl::StrCat("{", absl::StrJoin(published_unrecorded, ","), "}"));
        Pending rest;
        rest.recorded = pending.recorded;
        rest.full = pending.full;
        for (size_t i = 0; i < pending.events.size(); ++i) {
          if (published.count(pending.events[i].first) > 0) continue;
          rest.ids.push_back(pending.ids[i]);
          rest.events.push_back(std::move(pending.events[i]));
        }
        spdlog::info(
            "outbox relay: {}: {} event(s) a batch had published before it could commit "
            "(a crash, a lost connection) were recorded as published, not published again",
            source.schema, published_unrecorded.size());
        outcome.full = true;  // look again at once: the rows after them may be many
        pending = std::move(rest);
        position.recorded = true;
      }

      if (!pending.events.empty()) {
        absl::StatusOr<std::vector<RedisReply>> replies =
            redis.Pipeline(StreamPublishCommands(source, pending.events));
        if (!replies.ok()) {
          outcome.redis_failed = true;
          return replies.status();  // the transaction rolls back: rows stay unpublished
        }
        // EXEC's reply holds each command's (SET NX, the XADDs, GET); an XADD refused
        // inside it is an element.
        const std::vector<RedisReply>& results = replies->back().elements;
        for (const RedisReply& reply : results) {
          if (reply.type == RedisReply::Type::kError) {
            outcome.redis_failed = true;
            return absl::InternalError(absl::StrCat("redis: ", reply.str));
          }
        }
        if (results.size() != pending.events.size() + 2 ||
            !StreamId::Parse(results[results.size() - 2].str, &position.last_id)) {
          return absl::InternalError("redis: unexpected reply to the stream's MULTI/EXEC");
        }
        position.generation = results.back().str;
        position.recorded = true;
        outcome.published = static_cast<int>(pending.events.size());
        outcome.full = outcome.full || pending.full;
      }
      // Published rows always move the position (XADD's id), so they go with it.
      if (position.recorded &&
          (!(position == recorded) || !pending.ids.empty() || !published_unrecorded.empty())) {
        WritePosition(tx, positions, table, source.stream_key, position, pending.ids);
      }
      tx.commit();
      return absl::OkStatus();
    });
    return outcome;
  }

  // Where the stream stands, once it is known to continue what `recorded` says
  // (stream_history.h): when it holds events the database does not know, starts a new
  // generation first. `*published_unrecorded` receives the event ids of entries after
  // the recorded position whose rows are still in the outbox (a batch that published and
  // did not commit). Errors are Redis's.
  absl::StatusOr<PublishedPosition> CheckStream(pqxx::work& tx, const std::string& table,
                                                const OutboxSource& source,
                                                const PublishedPosition& recorded,
                                                std::vector<std::string>* published_unrecorded) {
    const std::string generation_key = GenerationKey(source.stream_key);
    // The claim first (redis_owner.h): a Redis flushed while the server runs is claimed
    // again at once, and one another database claimed meanwhile is not written to.
    std::vector<std::vector<std::string>> reads;
    if (!installation.empty()) reads = RedisClaimCommands(installation);
    const size_t claim = reads.size();
    reads.push_back({"GET", generation_key});
    reads.push_back({"XINFO", "STREAM", source.stream_key});
    PM_ASSIGN_OR_RETURN(std::vector<absl::StatusOr<RedisReply>> replies, redis.PipelineEach(reads));
    if (claim > 0) {
      // SET's own error first: a Redis that refuses writes (maxmemory, a replica) holds
      // no key, which is not another database's.
      PM_RETURN_IF_ERROR(replies[0].status());
      PM_RETURN_IF_ERROR(replies[claim - 1].status());
      absl::Status holder = CheckRedisHolder(replies[claim - 1]->str, installation, redis_options);
      redis_foreign.store(!holder.ok(), std::memory_order_release);
      PM_RETURN_IF_ERROR(holder);
    }
    PM_RETURN_IF_ERROR(replies[claim].status());
    PM_ASSIGN_OR_RETURN(StreamInfo info, ParseXInfoStreamReply(replies[claim + 1]));
    const std::string generation = replies[claim]->str;  // "" when missing (nil)
    StreamComparison comparison = CompareStream(recorded, generation, info);
    if (comparison.kind == StreamComparison::Kind::kVerifyAfter) {
      PM_ASSIGN_OR_RETURN(
          std::string unknown,
          FirstUnknownEntry(tx, table, source.stream_key, comparison.after, published_unrecorded));
      if (!unknown.empty()) {
        published_unrecorded->clear();
        comparison.kind = StreamComparison::Kind::kDiverged;
        comparison.why = UnknownEntriesWhy(recorded, generation, info.last_generated_id, unknown);
      }
    }
    PublishedPosition position;
    position.generation = generation;
    position.last_id = info.exists ? info.last_generated_id : StreamId{};
    position.recorded = !generation.empty();
    if (comparison.kind != StreamComparison::Kind::kDiverged) return position;

    // The entries are removed, not the key: ids keep growing, so no later entry reuses
    // the id of a cursor handed out before, and the hub's position stays valid. XSETID
    // then makes the emptied stream look new (no entries ever added, none deleted), so
    // that the hub does not take the removed entries for a trimmed gap in the new
    // generation (event_hub.cc, OldestCompleteCursor).
    position.generation = NewStreamGeneration(source.stream_key);
    position.recorded = true;
    std::vector<std::vector<std::string>> commands = {{"MULTI"},
                                                      {"SET", generation_key, position.generation}};
    if (info.exists) {
      commands.push_back({"XTRIM", source.stream_key, "MAXLEN", "0"});
      commands.push_back({"XSETID", source.stream_key, info.last_generated_id.ToString(),
                          "ENTRIESADDED", "0", "MAXDELETEDID", "0-0"});
    }
    commands.push_back({"EXEC"});
    PM_ASSIGN_OR_RETURN(std::vector<RedisReply> reset, redis.Pipeline(commands));
    for (const RedisReply& reply : reset.back().elements) {
      if (reply.type == RedisReply::Type::kError) {
        return absl::InternalError(absl::StrCat("redis: ", reply.str));
      }
    }
    spdlog::warn(
        "outbox relay: {}: the event stream {} does not continue what the database recorded: "
        "{}; started generation {} (was {}): watchers with older cursors are told to list again",
        source.schema, source.stream_key, comparison.why, position.generation,
        generation.empty() ? std::string("none") : generation);
    SkipIdsHandedOutAfterBackup(tx, source.schema);
    return position;
  }

  // A stream that does not continue the database's record (a restored database, most
  // often) means ids may have been handed out that the database no longer knows, and
  // clients may still hold them with their etags (an MES's tables, an open form). Each
  // sequence of the schema moves kIdsSkippedAfterRestore ahead, so that no new record takes
  // such an id and a change sent to it is NOT_FOUND instead of landing on another record
  // (outside testing: after the runbook's restore, defect 24 with etag v1 cancelled
  // another vehicle's defect). Sequences are not transactional: the move stays even if
  // this round rolls back, and a second move only widens the gap. A role that may not
  // move them (sequences owned by another) is logged with what to do, and publishing goes
  // on: a savepoint keeps the round's transaction usable.
  void SkipIdsHandedOutAfterBackup(pqxx::work& tx, const std::string& schema) {
    try {
      pqxx::subtransaction savepoint(tx, "skip_ids");
      const pqxx::result moved = savepoint.exec_params(
          "SELECT string_agg(format('%s %s', sequencename, next), ', ' ORDER BY sequencename) "
          "FROM (SELECT sequencename, "
          "setval(format('%I.%I', schemaname, sequencename)::regclass, "
          "COALESCE(last_value, start_value - 1) + $2) + 1 AS next "
          "FROM pg_sequences WHERE schemaname = $1) AS moved",
          schema, kIdsSkippedAfterRestore);
      savepoint.commit();
      if (!moved[0][0].is_null()) {
        spdlog::warn(
            "outbox relay: {}: the database may be older than what clients were told: new ids "
            "start past those that may have been handed out since (next {})",
            schema, moved[0][0].as<std::string>());
      }
    } catch (const pqxx::sql_error& e) {
      spdlog::error(
          "outbox relay: {}: the database may be older than what clients were told, and its "
          "id sequences could not be moved ahead ({}): ids handed out since may be handed out "
          "again; move them as docs/runbook.md (Restore, step 6) says",
          schema, e.what());
    }
  }

  // The first entry after `after` whose event the outbox does not hold, as
  // "event <event_id> at <id>"; "" when every one is there (an unfinished batch), whose
  // event ids are then added to `*in_outbox_ids`.
  absl::StatusOr<std::string> FirstUnknownEntry(pqxx::work& tx, const std::string& table,
                                                const std::string& stream_key, StreamId after,
                                                std::vector<std::string>* in_outbox_ids) {
    StreamPageSize page_size(kStreamPageBytes, kVerifyPage);
    for (;;) {
      const int page = page_size.Count();
      PM_ASSIGN_OR_RETURN(RedisReply reply,
                          redis.Command({"XRANGE", stream_key, absl::StrCat("(", after.ToString()),
                                         "+", "COUNT", absl::StrCat(page)}));
      PM_ASSIGN_OR_RETURN(std::vector<RawStreamEntry> entries, ParseXRangeReply(reply));
      if (entries.empty()) return std::string();
      page_size.Observe(entries);
      std::vector<std::string> event_ids;
      for (const RawStreamEntry& entry : entries) {
        std::string event_id;
        for (const auto& [field, value] : entry.fields) {
          if (field == "event_id") event_id = value;
        }
        if (!IsUuidText(event_id)) return absl::StrCat("event \"", event_id, "\" at ", entry.id);
        event_ids.push_back(std::move(event_id));
      }
      pqxx::result known = tx.exec_params(
          "SELECT event_id::text FROM " + table + " WHERE event_id = ANY($1::uuid[])",
          absl::StrCat("{", absl::StrJoin(event_ids, ","), "}"));
      std::set<std::string> in_outbox;
      for (const pqxx::row& row : known) in_outbox.insert(row[0].c_str());
      for (size_t i = 0; i < entries.size(); ++i) {
        if (in_outbox.count(event_ids[i]) == 0) {
          return absl::StrCat("event ", event_ids[i], " at ", entries[i].id);
        }
      }
      in_outbox_ids->insert(in_outbox_ids->end(), event_ids.begin(), event_ids.end());
      if (static_cast<int>(entries.size()) < page) return std::string();
      StreamId::Parse(entries.back().id, &after);
    }
  }

  // Publishes what is pending in every source that is not waiting out a backoff (all of
  // them when `all`).
  Round PublishPending(bool all) {
    Round round;
    const Clock::time_point now = Clock::now();
    for (size_t index = 0; index < sources.size(); ++index) {
      SourceState& state = sources[index];
      if (!all && state.retry_at > now) {
        round.next_retry = std::min(round.next_retry, state.retry_at);
        continue;
      }
      absl::Status failed;
      bool had_lease = false;
      int64_t published_now = 0;
      for (;;) {
        Outcome outcome = PublishBatch(state.source);
        published_now += outcome.published;
        had_lease = had_lease || (outcome.status.ok() && !outcome.lease_busy);
        if (!outcome.status.ok()) {
          // A PostgreSQL failure says nothing about Redis.
          if (outcome.redis_failed) SetHealthy(false, outcome.status);
          state.redis_failing = outcome.redis_failed;
          failed = outcome.status;
          break;
        }
        if (outcome.published > 0) SetHealthy(true, absl::OkStatus());
        round.published += outcome.published;
        round.lease_busy = round.lease_busy || outcome.lease_busy;
        if (!outcome.full) break;
      }
      if (failed.ok()) {
        // Recovered when what failed worked: Redis once events went out again, PostgreSQL
        // once the lease and the rows were read. A round with nothing to publish, or
        // another replica's lease, proves nothing of Redis (re-test: "publishing again"
        // alternated with "failed" every 0.1 s while no event was published).
        const bool recovered = published_now > 0 || (had_lease && !state.redis_failing);
        state.redis_failing = false;  // health's PING decides while nothing is published
        if (had_lease) MarkChecked(index);
        if (state.failing && recovered) {
          spdlog::info("outbox relay: {} publishing again", state.source.schema);
        }
        if (recovered) state.failing = false;
        state.backoff = std::chrono::milliseconds(0);
        state.retry_at = {};
        continue;
      }
      if (!state.failing) {
        spdlog::warn("outbox relay: {} failed, retrying with backoff (other sources go on): {}",
                     state.source.schema, StatusForLog(failed));
      }
      state.failing = true;
      state.backoff = std::min<std::chrono::milliseconds>(
          state.backoff.count() == 0 ? kFirstBackoff : state.backoff * 2, kMaxBackoff);
      state.retry_at = Clock::now() + state.backoff;
      round.next_retry = std::min(round.next_retry, state.retry_at);
      if (round.status.ok()) round.status = failed;
    }
    // Nothing to publish: still find out whether Redis is there, for health — unless a
    // source waits out a failure at Redis: a Redis that answers PING may refuse writes
    // (maxmemory reached with noeviction, a read-only replica), and health said SERVING
    // while no event was published (outside testing). Its next publish decides.
    const bool waiting_on_redis = std::any_of(sources.begin(), sources.end(),
                                              [](const SourceState& s) { return s.redis_failing; });
    if (round.status.ok() && round.published == 0 && !waiting_on_redis) {
      absl::StatusOr<RedisReply> pong = redis.Command({"PING"});
      SetHealthy(pong.ok(), pong.status());
    }
    return round;
  }

  // Source `index`'s stream was checked against the database once (by this relay).
  void MarkChecked(size_t index) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (checked[index]) return;
      checked[index] = true;
    }
    wake.notify_all();
  }

  bool AwaitChecked(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu);
    return wake.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] {
      return std::all_of(checked.begin(), checked.end(), [](bool c) { return c; });
    });
  }

  void SetHealthy(bool healthy, const absl::Status& why) {
    // Refused credentials are said once, whenever they come: Redis that went away and came
    // back with another password (outside testing) is told apart from an outage.
    if (healthy) {
      auth_refusal_logged = false;
    } else if (IsRedisAuthRefused(why) && !auth_refusal_logged.exchange(true)) {
      spdlog::error(
          "outbox relay: Redis refuses this server's credentials; events wait in PostgreSQL "
          "until it takes them (a changed password is read at restart: redis-password-file, "
          "redis-user): {}",
          StatusForLog(why));
    }
    if (redis_healthy.exchange(healthy) != healthy) {
      if (healthy) {
        spdlog::info("outbox relay: Redis reachable again, publishing");
      } else {
        spdlog::warn(
            "outbox relay: Redis unreachable or refusing writes, events wait in "
            "PostgreSQL: {}",
            StatusForLog(why));
      }
    }
  }

  void Loop() {
    Clock::duration wait{0};
    Clock::time_point earliest{};  // no round before this, unless polling or retrying
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu);
        wake.wait_for(lock, wait, [&] { return stopping || notified; });
        // Notified too soon after a round that published: gather more commits first.
        // `notified` stays set meanwhile, so that Notify() does not wake this thread for
        // each of them.
        if (notified && Clock::now() < earliest) {
          wake.wait_until(lock, earliest, [&] { return stopping; });
        }
        notified = false;
        if (stopping) break;
      }
      const Clock::time_point started = Clock::now();
      Round round = PublishPending(/*all=*/false);
      if (started - lag_read_at >= kLagInterval) {
        std::vector<OutboxLag> lags = Lag();
        std::lock_guard<std::mutex> lock(lag_mu);
        for (OutboxLag& lag : lags) {
          if (lag.status.ok()) continue;
          spdlog::debug("outbox relay: lag of {} unknown: {}", lag.schema,
                        StatusForLog(lag.status));
          // A source not read now keeps its last reading (re-test: with PostgreSQL down
          // the series vanished, and an alert on them cleared with nothing published).
          for (const OutboxLag& before : last_lag) {
            if (before.figures_read && before.schema == lag.schema &&
                before.stream_key == lag.stream_key) {
              lag.pending_rows = before.pending_rows;
              lag.oldest_age = before.oldest_age;
              lag.figures_read = true;
            }
          }
        }
        last_lag = std::move(lags);
        lag_read_at = started;
      }
      earliest = round.published > 0 ? started + kMinRoundInterval : Clock::time_point{};
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
        lag.figures_read = true;
        return absl::OkStatus();
      });
      lags.push_back(std::move(lag));
    }
    return lags;
  }

  PgPool* pool;
  const RedisOptions redis_options;
  RedisClient redis;                            // used by the relay thread only
  const std::string installation;               // claimed in every round; empty: not claimed
  const std::vector<OutboxSource> source_list;  // read by any thread (Lag)
  std::vector<SourceState> sources;             // relay thread only
  std::atomic<bool> redis_healthy{true};
  std::atomic<bool> auth_refusal_logged{false};
  std::atomic<bool> redis_foreign{false};  // the claim found another database's id
  // Lag() as the relay thread last read it (kLagInterval apart): what a metrics scrape
  // reads, so that it never waits on PostgreSQL.
  mutable std::mutex lag_mu;
  std::vector<OutboxLag> last_lag;  // guarded by lag_mu
  Clock::time_point lag_read_at{};  // relay thread only

  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  bool notified = false;
  std::vector<bool> checked;  // per source: its stream was checked once
  std::thread thread;
};

OutboxRelay::OutboxRelay(PgPool* pool, RedisOptions redis, std::vector<OutboxSource> sources,
                         std::string installation)
    : state_(std::make_unique<State>(pool, std::move(redis), std::move(sources),
                                     std::move(installation))) {}

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
    // Already notified: the relay wakes for it anyway (a handler's commit costs no
    // thread wake-up when a round is already due).
    if (state_->notified) return;
    state_->notified = true;
  }
  state_->wake.notify_all();
}

bool OutboxRelay::AwaitStreamsChecked(absl::Duration timeout) {
  return state_->AwaitChecked(timeout);
}

bool OutboxRelay::redis_healthy() const { return state_->redis_healthy.load(); }

bool OutboxRelay::redis_holds_other_database() const {
  return state_->redis_foreign.load(std::memory_order_acquire);
}

std::vector<OutboxLag> OutboxRelay::Lag() const { return state_->Lag(); }

std::vector<OutboxLag> OutboxRelay::LastLag() const {
  std::lock_guard<std::mutex> lock(state_->lag_mu);
  return state_->last_lag;
}

}  // namespace plantmesh::runtime
