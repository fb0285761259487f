// EventStreamReader: cursors over a Redis Stream that never skip silently.
//
// Redis 7.0 records `max-deleted-entry-id` for XDEL only; trimming (XADD MAXLEN ~,
// XTRIM) leaves it at 0-0. What trimming does move is `recorded-first-entry-id`: every
// entry older than it is gone. So the oldest cursor that still sees every retained
// entry is the id just before the first retained one, and a cursor older than that
// may have missed entries: it is refused, never silently advanced.
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/runtime/errors.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/redis_client.h"
#include "server/runtime/status_macros.h"

namespace plantmesh::runtime {
namespace {

// The oldest cursor from which reading yields every entry the stream still holds.
StreamId OldestCompleteCursor(const StreamInfo& info) {
  if (!info.exists) return {};
  StreamId oldest;
  if (info.length > 0) {
    oldest = info.recorded_first_entry_id.Predecessor();
  } else if (info.entries_added > 0) {
    oldest = info.last_generated_id;  // everything ever added was trimmed
  }
  // Deleted entries (XDEL) are gaps as well; the runtime never deletes, but a stream
  // touched by hand must not hand out a gap either.
  if (oldest < info.max_deleted_entry_id) oldest = info.max_deleted_entry_id;
  return oldest;
}

}  // namespace

struct EventStreamReader::State {
  State(RedisOptions options, std::string key) : redis(std::move(options)), key(std::move(key)) {}

  // OK when reading after `cursor` misses nothing; FAILED_PRECONDITION otherwise.
  absl::Status CheckNotTrimmed(const StreamId& cursor) {
    PM_ASSIGN_OR_RETURN(StreamInfo info, redis.XInfoStream(key));
    StreamId oldest = OldestCompleteCursor(info);
    // "0-0" asks for everything retained: there is nothing older to miss.
    if (cursor == StreamId{} || !(cursor < oldest)) return absl::OkStatus();
    std::string description = absl::StrCat("cursor ", cursor.ToString(),
                                           " is older than the oldest retained event; resume from ",
                                           oldest.ToString(), " (events in between were trimmed)");
    absl::Status status = absl::FailedPreconditionError(description);
    status = WithPreconditionFailure(std::move(status), "CURSOR", key, description);
    return WithErrorInfo(std::move(status), "CURSOR_EXPIRED",
                         {{"oldest_cursor", oldest.ToString()}});
  }

  RedisClient redis;
  std::string key;
};

EventStreamReader::EventStreamReader(RedisOptions redis, std::string stream_key)
    : state_(std::make_unique<State>(std::move(redis), std::move(stream_key))) {}

EventStreamReader::~EventStreamReader() = default;

absl::StatusOr<std::string> EventStreamReader::Resolve(const std::string& cursor) {
  if (cursor.empty()) {
    PM_ASSIGN_OR_RETURN(StreamInfo info, state_->redis.XInfoStream(state_->key));
    return info.last_generated_id.ToString();
  }
  if (cursor == "0") return StreamId{}.ToString();
  StreamId id;
  if (!StreamId::Parse(cursor, &id)) {
    return InvalidField("cursor", absl::StrCat(QuoteForMessage(cursor),
                                               " is not a stream cursor: expected <ms>-<seq>, "
                                               "\"0\" (from the beginning) or empty (new events)"));
  }
  PM_RETURN_IF_ERROR(state_->CheckNotTrimmed(id));
  return id.ToString();
}

absl::StatusOr<std::vector<StreamEntry>> EventStreamReader::ReadAfter(const std::string& cursor,
                                                                      absl::Duration block,
                                                                      int max_count) {
  StreamId after;
  if (!StreamId::Parse(cursor, &after)) {
    return InvalidField("cursor", absl::StrCat(QuoteForMessage(cursor), " is not a stream cursor"));
  }
  PM_ASSIGN_OR_RETURN(std::vector<RawStreamEntry> raw,
                      state_->redis.XRead(state_->key, after.ToString(), max_count, block));
  if (raw.empty()) return std::vector<StreamEntry>{};
  // Checked after the read: the first retained id only grows, so if the cursor is not
  // behind it now, nothing after the cursor was gone when XREAD ran either.
  PM_RETURN_IF_ERROR(state_->CheckNotTrimmed(after));
  std::vector<StreamEntry> entries;
  entries.reserve(raw.size());
  for (RawStreamEntry& r : raw) {
    StreamEntry entry;
    entry.cursor = std::move(r.id);
    for (auto& [field, value] : r.fields) {
      if (field == "event_id") {
        entry.event_id = std::move(value);
      } else if (field == "payload") {
        entry.payload = std::move(value);
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace plantmesh::runtime
