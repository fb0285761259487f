// Domain events: written to a service's outbox table in the same transaction as the
// change, relayed to a Redis Stream by OutboxRelay, read once per process by the
// EventHub (event_hub.h), which fans them out to Watch* handlers. PostgreSQL is the
// system of record; Redis only fans out.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

class PgPool;

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  absl::Duration connect_timeout = absl::Seconds(1);
  absl::Duration command_timeout = absl::Seconds(2);
  // Sent as AUTH on every new connection when not empty: `user` names an ACL user
  // (Redis 6+), empty the default user (requirepass).
  std::string user;
  std::string password;
};

// One outbox table and the stream it feeds. The table layout is fixed (see
// server/runtime/service_tables/, created by the runtime in every service schema):
//   <schema>.outbox(id bigserial primary key, event_id uuid not null unique,
//                   payload bytea not null, created_at timestamptz not null default now())
// Published rows are deleted: the table holds only what is still to be published.
struct OutboxSource {
  std::string schema;      // e.g. "defect"
  std::string stream_key;  // e.g. "plantmesh:defect:events"
  // Entries the stream keeps (XADD MAXLEN ~): older cursors are refused, not skipped.
  int64_t retain = 100000;
  // About the most payload bytes it keeps: entries range from a few hundred bytes to
  // ~1 MiB, so a count alone let a stream of large ones grow to tens of GB (outside
  // testing: 2.6 GB of Redis at 9,000 of 100,000 entries). Each XADD keeps at most
  // retain_bytes / its own payload's size entries (at least one), and `retain` at most.
  int64_t retain_bytes = int64_t{1} << 30;
};

// How far one source's publishing is behind (for metrics).
struct OutboxLag {
  std::string schema;
  std::string stream_key;
  absl::Status status;        // why the figures below were not read now, if they were not
  int64_t pending_rows = 0;   // rows not yet published
  absl::Duration oldest_age;  // age of the oldest unpublished row; zero when none
  // The figures were read: now (status OK), or before a read that failed (OutboxRelay's
  // LastLag keeps the last reading); false: never read.
  bool figures_read = false;
};

// Publishes outbox rows with at-least-once delivery: XADD, then delete the rows.
//
// Order: one publisher per stream at a time. Each batch transaction first takes the
// stream's transaction-scoped advisory lock (pg_try_advisory_xact_lock); a replica that
// does not get it skips that source for this round. The holder publishes in id order.
// Two changes to one aggregate are serialized by its row lock, so the later one's
// outbox row is inserted after the earlier one committed: id order is commit order per
// aggregate, and with one publisher the stream keeps it. (Across aggregates ids need not
// follow commit order; nothing relies on that.)
//
// Stream history: each batch transaction (also when nothing is pending) first compares
// the stream with what the database recorded publishing to it (<schema>.outbox_stream,
// written in the same transaction as the delete). When the stream holds events the
// outbox does not know after that record (the database was restored from a backup), or
// ends before it (Redis went back), the relay starts a new generation: it empties the
// stream and sets a new generation key in one MULTI/EXEC, and logs both positions at
// WARN. Every older cursor is then refused with CURSOR_GENERATION_CHANGED: watchers list
// again, never a silent mix of two histories (stream_history.h).
//
// Isolation: each source is published on its own; a source that fails (its table is
// missing, PostgreSQL refuses it) is logged and retried later while the others go on.
// While Redis is down rows wait in PostgreSQL.
class OutboxRelay {
 public:
  // `installation`: the database's id the relay claims Redis for in every round
  // (redis_owner.h); empty: not claimed.
  OutboxRelay(PgPool* pool, RedisOptions redis, std::vector<OutboxSource> sources,
              std::string installation = "");
  ~OutboxRelay();  // stops the thread
  void Start();
  // Publishes what is pending, then stops (called while draining).
  void Stop();
  // Wakes the relay now (a handler just committed an event); otherwise it polls.
  void Notify();
  // Waits until every source's stream was checked against the database once (each
  // round checks it: see "Stream history" above), or `timeout`; true in the first case.
  // A server waits for this before its event hub starts, so that after a restore from
  // a backup the hub starts in the new generation.
  bool AwaitStreamsChecked(absl::Duration timeout);
  // False while the last attempt to reach Redis failed (health: degraded).
  bool redis_healthy() const;
  // True while the last claim found another database's installation id in Redis
  // (redis_owner.h): what else uses this Redis (the latest-value cache) leaves it alone.
  bool redis_holds_other_database() const;
  // Pending rows and the age of the oldest one, per source, read from PostgreSQL now
  // (one query per source; a source that cannot be read carries its error).
  std::vector<OutboxLag> Lag() const;
  // Lag() as the started relay last read it (about every second; none before its first
  // round): at once, whatever PostgreSQL does. Outside testing: metrics scrapes that
  // read Lag() took 10-20 s each while PostgreSQL was frozen, past Prometheus' 10 s
  // scrape timeout, so every figure of the server went missing then.
  std::vector<OutboxLag> LastLag() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The Redis commands that publish `events` ((event_id, payload) pairs, in order) to
// `source`'s stream: one MULTI/EXEC that first creates the stream's generation key when
// it is missing (SET NX, a fresh random value), then XADDs each event, trimming to
// source.retain, and last GETs the generation (EXEC's reply: SET's, one id per XADD,
// the generation). So no entry ever exists without a generation, and a Redis that lost
// its data gets a new one with its first new entry (see stream_cursor.h).
std::vector<std::vector<std::string>> StreamPublishCommands(
    const OutboxSource& source, const std::vector<std::pair<std::string, std::string>>& events);

}  // namespace plantmesh::runtime
