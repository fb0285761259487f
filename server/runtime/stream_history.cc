#include "server/runtime/stream_history.h"

#include "absl/strings/str_cat.h"

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

}  // namespace plantmesh::runtime
