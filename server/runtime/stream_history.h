// Whether a Redis stream still continues the history PostgreSQL recorded for it.
//
// The relay records, in the transaction that deletes the rows it published, the
// stream's generation and the last entry id it added (<schema>.outbox_stream). Redis
// and PostgreSQL can then disagree in three ways:
//   - Redis lost its data (came back empty, or was replaced): another generation, or
//     none yet. The stream's next generation starts with the next publish (see
//     StreamPublishCommands); nothing to do here unless it already holds entries the
//     database does not know (below).
//   - Redis went back in time (restarted from an older snapshot, a replica promoted
//     before it caught up): the same generation, but its last id is before the record.
//     Cursors handed out since point at entries that are gone: a new generation.
//   - PostgreSQL went back in time (restored from a backup): the same generation, and
//     entries after the record that describe changes the restored database never had.
//     A new generation, so that no cursor mixes the two histories.
// Entries after the record are also what an unfinished batch leaves (XADD done, the
// transaction deleting its rows rolled back or lost with a crash): those events are
// still in the outbox, so the relay checks each such entry's event_id against it before
// it calls the stream diverged.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "server/runtime/redis_client.h"

namespace plantmesh::runtime {

// A row of <schema>.outbox_stream: what the relay last published to one stream.
struct PublishedPosition {
  bool recorded = false;   // false: no row (a new database, or one from before the table)
  std::string generation;  // 16 hex digits
  StreamId last_id;        // the stream's last id when it was recorded
  friend bool operator==(const PublishedPosition& a, const PublishedPosition& b) {
    return a.recorded == b.recorded && a.generation == b.generation && a.last_id == b.last_id;
  }
};

struct StreamComparison {
  enum class Kind {
    kAgrees,       // the stream holds nothing after what the record covers
    kVerifyAfter,  // entries after `after` must each still be in the outbox
    kDiverged,     // the stream holds history the database does not: start a new generation
  };
  Kind kind = Kind::kAgrees;
  StreamId after;   // kVerifyAfter: the last entry the database is known to cover
  std::string why;  // kDiverged: for the log
};

// Compares the record with Redis: `generation` is the stream's generation key ("" when
// missing), `info` its XINFO STREAM.
StreamComparison CompareStream(const PublishedPosition& recorded, absl::string_view generation,
                               const StreamInfo& info);

// Whether entries after `after` were removed from the stream (trimmed or deleted), so
// that they can no longer be checked.
bool EntriesRemovedAfter(const StreamInfo& info, const StreamId& after);

// Why the stream holds an entry (`unknown`: "event <id> at <entry id>") the outbox does
// not, for the log: which side went back, told by the generations (outside testing: a
// Redis restored from an older snapshot was reported as entries "after" the recorded
// position, and the database as restored from a backup).
std::string UnknownEntriesWhy(const PublishedPosition& recorded, absl::string_view generation,
                              const StreamId& last, absl::string_view unknown);

}  // namespace plantmesh::runtime
