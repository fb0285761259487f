#include "server/runtime/testing/memory_request_log.h"

#include <utility>

namespace plantmesh::runtime::testing {

absl::StatusOr<std::optional<MemoryRequestLog::Entry>> MemoryRequestLog::Claim(
    const IdempotencyKey& key) const {
  if (key.request_id.empty()) return std::nullopt;
  auto it = entries_.find(Key{key.identity, key.method, key.request_id});
  if (it == entries_.end()) return std::nullopt;
  if (it->second.payload_sha256 != key.payload_sha256) {
    return RequestIdReused(key, it->second.entry.resource);
  }
  return it->second.entry;
}

void MemoryRequestLog::Record(const IdempotencyKey& key, std::string response,
                              std::string resource) {
  if (key.request_id.empty()) return;
  entries_.insert_or_assign(
      Key{key.identity, key.method, key.request_id},
      Recorded{key.payload_sha256, Entry{std::move(response), std::move(resource)}});
}

}  // namespace plantmesh::runtime::testing
