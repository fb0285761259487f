// Domain events: written to a service's outbox table in the same transaction as the
// change, relayed to a Redis Stream by OutboxRelay, read back by Watch* handlers with
// EventStreamReader. PostgreSQL is the system of record; Redis only fans out.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
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
};

// One outbox table and the stream it feeds. The table layout is fixed (see
// server/runtime/outbox.sql, created by each service's migrations):
//   <schema>.outbox(id bigserial primary key, event_id uuid not null unique,
//                   payload bytea not null, created_at timestamptz not null default now())
// Published rows are deleted: the table holds only what is still to be published.
struct OutboxSource {
  std::string schema;      // e.g. "defect"
  std::string stream_key;  // e.g. "plantmesh:defect:events"
  // Entries the stream keeps (XADD MAXLEN ~): older cursors are refused, not skipped.
  int64_t retain = 100000;
};

// Publishes outbox rows, oldest first, with at-least-once delivery: XADD, then delete
// the rows. Several replicas may run it; SELECT ... FOR UPDATE SKIP
// LOCKED keeps them off each other's rows. While Redis is down rows wait in PostgreSQL.
class OutboxRelay {
 public:
  OutboxRelay(PgPool* pool, RedisOptions redis, std::vector<OutboxSource> sources);
  ~OutboxRelay();  // stops the thread
  void Start();
  // Publishes what is pending, then stops (called while draining).
  void Stop();
  // Wakes the relay now (a handler just committed an event); otherwise it polls.
  void Notify();
  // False while the last attempt to reach Redis failed (health: degraded).
  bool redis_healthy() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct StreamEntry {
  std::string cursor;    // the Redis stream entry id, e.g. "1732212345678-0"
  std::string event_id;  // the outbox event_id (dedup key)
  std::string payload;   // the serialized event, as written to the outbox
};

// Reads one stream from a cursor. One instance per watcher (owns its connection).
class EventStreamReader {
 public:
  EventStreamReader(RedisOptions redis, std::string stream_key);
  ~EventStreamReader();

  // Resolves the client's cursor: "" → the stream's last id (only new events),
  // "0" → the beginning. FAILED_PRECONDITION (with a PreconditionFailure detail and
  // ErrorInfo metadata "oldest_cursor") when entries after `cursor` were already
  // trimmed; INVALID_ARGUMENT for a malformed cursor; UNAVAILABLE if Redis is down.
  absl::StatusOr<std::string> Resolve(const std::string& cursor);

  // Entries after `cursor`, waiting up to `block` for at least one (XREAD BLOCK).
  // Empty on timeout. UNAVAILABLE when Redis is unreachable (caller retries).
  absl::StatusOr<std::vector<StreamEntry>> ReadAfter(const std::string& cursor,
                                                     absl::Duration block, int max_count);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace plantmesh::runtime
