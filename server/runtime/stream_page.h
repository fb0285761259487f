// How many entries of a Redis stream to ask for in one command so that the reply holds
// about a byte budget, whatever the entries' size. Redis bounds XREAD and XRANGE by
// count only, and a stream's entries range from a few hundred bytes (a defect's event)
// to about 1 MiB (a group of telemetry samples): counts chosen for the small ones made
// the large ones' replies hundreds of MiB (outside testing: a telemetry restart read its
// last 4,096 entries, 2.6 GB, in one XREVRANGE: 5 GB of memory, and Redis stalled for
// every service).
//
// The size of the next entries is guessed from the largest entry of the last reply,
// halving while they are smaller, so a stream whose entries grow overshoots the budget
// for one reply at most. Not thread-safe: one per reader.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "server/runtime/redis_client.h"

namespace plantmesh::runtime {

// The bytes an entry takes in a reply, near enough: its id, field names and values.
inline size_t StreamEntryBytes(const RawStreamEntry& entry) {
  size_t bytes = entry.id.size();
  for (const auto& [field, value] : entry.fields) bytes += field.size() + value.size();
  return bytes;
}

// About what one Redis reply of stream entries, or one relay batch, holds: a few thousand
// small events, a few telemetry groups.
inline constexpr size_t kStreamPageBytes = size_t{8} << 20;

class StreamPageSize {
 public:
  // Before any reply an entry is taken to be this large (the largest events' size), so a
  // first read never asks for more than the budget holds of them.
  static constexpr size_t kFirstGuessBytes = size_t{1} << 20;
  static constexpr size_t kSmallestGuessBytes = 256;

  // `budget_bytes` > 0: about what one reply may hold; `max_count` >= 1: entries per
  // command whatever their size.
  StreamPageSize(size_t budget_bytes, int max_count)
      : budget_bytes_(budget_bytes), max_count_(std::max(1, max_count)) {}

  // Entries to ask for: 1..max_count.
  int Count() const {
    const size_t fit = budget_bytes_ / entry_bytes_;
    return static_cast<int>(std::clamp<size_t>(fit, 1, static_cast<size_t>(max_count_)));
  }

  // Learns from a reply's entries; an empty reply teaches nothing.
  void Observe(const std::vector<RawStreamEntry>& entries) {
    if (entries.empty()) return;
    size_t largest = 0;
    for (const RawStreamEntry& entry : entries)
      largest = std::max(largest, StreamEntryBytes(entry));
    entry_bytes_ = std::max({largest, entry_bytes_ / 2, kSmallestGuessBytes});
  }

 private:
  size_t budget_bytes_;
  int max_count_;
  size_t entry_bytes_ = kFirstGuessBytes;
};

}  // namespace plantmesh::runtime
