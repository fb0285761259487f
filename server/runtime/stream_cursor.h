// Watch cursors: where a subscriber of an event stream resumes, and which generation of
// the stream it belongs to.
//
// Text forms a client may send (WatchDefectsRequest.cursor and every other Watch*/tail
// cursor):
//   ""                    the current end of the stream: only events published from now on
//   "0"                   the oldest retained event
//   "<gen>.<ms>-<seq>"    after the entry <ms>-<seq> of generation <gen> (what the server
//                         hands out: events' cursors, List responses' watch_cursor)
//   "<ms>-<seq>"          the same in the current generation (bare Redis stream ids, for
//                         clients and tests that predate generations)
// <gen> is 16 lowercase hex digits: 4 that name the stream (a hash of its key, so that a
// cursor of another watch is told apart from one of a reset stream) and 12 chosen at
// random when the stream's generation key is created (atomically with the first XADD, see
// StreamPublishCommands). A Redis that came back empty, or was replaced, has a new
// generation, and every older cursor is refused. Generations made before the stream tag
// (all 16 digits random) stay valid.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/runtime/redis_client.h"

namespace plantmesh::runtime {

struct StreamCursor {
  enum class Kind {
    kEnd,    // "": the stream's current end
    kStart,  // "0": the oldest retained entry
    kAfter,  // after `id`
  };
  Kind kind = Kind::kEnd;
  std::string generation;  // empty: the current generation
  StreamId id;             // kAfter only

  // INVALID_ARGUMENT naming `field` for anything but the forms above.
  static absl::StatusOr<StreamCursor> Parse(absl::string_view text,
                                            absl::string_view field = "cursor");
};

// "<generation>.<ms>-<seq>": the form the server hands out.
std::string FormatCursor(absl::string_view generation, const StreamId& id);

// UNAVAILABLE that a client resumes from: `message` plus "; resume with cursor <cursor>",
// ErrorInfo `reason` with metadata {"cursor": cursor}.
absl::Status ResumableUnavailable(absl::string_view reason, absl::string_view message,
                                  const std::string& cursor);

// A new generation of `stream_key`'s stream: its 4-digit tag and 12 random digits.
std::string NewStreamGeneration(absl::string_view stream_key);

// Whether `generation` carries `stream_key`'s tag. False for every generation of another
// stream made since tags exist (and for 65,535 in 65,536 older, untagged ones).
bool IsGenerationOfStream(absl::string_view generation, absl::string_view stream_key);

// The Redis key holding the generation of `stream_key`.
std::string GenerationKey(absl::string_view stream_key);

}  // namespace plantmesh::runtime
