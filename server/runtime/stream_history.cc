#include "server/runtime/stream_history.h"

#include "absl/strings/str_cat.h"
#include "server/runtime/stream_cursor.h"

namespace plantmesh::runtime {

bool EntriesRemovedAfter(const StreamInfo& info, const StreamId& after) {
  if (!info.exists) return false;
  // Trimming leaves max-deleted-entry-id alone but moves the first entry; entries-added
  // counts every entry ever added (see event_hub.cc).
  if (info.entries_added > info.length) {
    const StreamId oldest_complete =
        info.length > 0 ? info.recorded_first_entry_id.Predecessor() : info.last_generated_id;
    if (after < oldest_complete) return true;
  }
  return after < info.max_deleted_entry_id;
}

StreamComparison CompareStream(const PublishedPosition& recorded, absl::string_view generation,
                               const StreamInfo& info) {
  StreamComparison result;
  const StreamId last = info.exists ? info.last_generated_id : StreamId{};
  const bool same_generation =
      recorded.recorded && !generation.empty() && generation == recorded.generation;
  if (same_generation && last < recorded.last_id) {
    result.kind = StreamComparison::Kind::kDiverged;
    result.why = absl::StrCat("Redis went back: the stream's last id is ", last.ToString(),
                              ", the database recorded publishing up to ",
                              recorded.last_id.ToString(), " in generation ", generation);
    return result;
  }
  // Of another generation (or none), the database covers none of the stream's entries.
  const StreamId covered = same_generation ? recorded.last_id : StreamId{};
  if (!(covered < last)) return result;
  if (EntriesRemovedAfter(info, covered)) {
    result.kind = StreamComparison::Kind::kDiverged;
    result.why = absl::StrCat("the stream holds entries up to ", last.ToString(),
                              " and some after ", covered.ToString(),
                              " (what the database covers) were trimmed, so they cannot be "
                              "checked against the outbox");
    return result;
  }
  result.kind = StreamComparison::Kind::kVerifyAfter;
  result.after = covered;
  return result;
}

std::string UnknownEntriesWhy(const PublishedPosition& recorded, absl::string_view generation,
                              const StreamId& last, absl::string_view unknown) {
  if (!recorded.recorded) {
    return absl::StrCat("the stream holds entries up to ", last.ToString(),
                        " but the database recorded publishing none, and ", unknown,
                        " is not in its outbox: the database is new or was restored from a "
                        "backup, or another installation published to this Redis");
  }
  if (generation != recorded.generation) {
    return absl::StrCat("the stream is of generation ",
                        generation.empty() ? absl::string_view("none") : generation,
                        " with entries up to ", last.ToString(),
                        ", not of the generation the database recorded publishing to (",
                        FormatCursor(recorded.generation, recorded.last_id), "), and ", unknown,
                        " is not in its outbox: Redis was replaced, or restored from an older "
                        "snapshot");
  }
  return absl::StrCat("the stream holds entries up to ", last.ToString(),
                      ", beyond what the database recorded publishing (",
                      FormatCursor(recorded.generation, recorded.last_id), "), and ", unknown,
                      " is not in its outbox: the database was restored from a backup taken "
                      "before they were published");
}

}  // namespace plantmesh::runtime
