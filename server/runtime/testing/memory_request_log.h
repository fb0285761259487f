// The in-memory twin of PgRequestLog (pg_request_log.h) for a service's fake store: the
// same request_id contract (idempotency.h) without a database. A fake takes the same two
// steps inside its change:
//   1. Claim(key) before the change: nullopt for a new call (or one without request_id),
//      the recorded entry for a retry, ALREADY_EXISTS REQUEST_ID_REUSED for the same key
//      with another payload.
//   2. Record(key, response, resource) once the change has succeeded.
// A change that fails never reaches step 2, so it records nothing and its retry is
// evaluated afresh, as a rolled-back transaction leaves PostgreSQL.
//
// Not synchronized: the fake holds the lock that covers its whole change from step 1 to
// step 2. That lock is what makes a claim atomic with its change (PostgreSQL's row lock
// on the key does the same): a concurrent call with the same key then sees the recorded
// entry, never a second change.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "server/runtime/idempotency.h"

namespace plantmesh::runtime::testing {

class MemoryRequestLog {
 public:
  // What the first call with a key recorded (every entry has its response: there are no
  // migrated entries in memory).
  struct Entry {
    std::string response;  // serialized, given back byte for byte
    std::string resource;  // what the call changed, e.g. defects/42
  };

  // Step 1.
  absl::StatusOr<std::optional<Entry>> Claim(const IdempotencyKey& key) const;
  // Whether a call with `key` (identity, method, request_id) was recorded.
  bool IsRecorded(const IdempotencyKey& key) const {
    return !key.request_id.empty() &&
           entries_.count(Key{key.identity, key.method, key.request_id}) > 0;
  }
  // Step 2 (no-op without a request_id).
  void Record(const IdempotencyKey& key, std::string response, std::string resource);

  // Recorded calls (the rows PostgreSQL's <schema>.request_log would hold).
  size_t size() const { return entries_.size(); }

 private:
  struct Recorded {
    std::string payload_sha256;
    Entry entry;
  };
  // (identity, method, request_id): the table's primary key.
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<Key, Recorded> entries_;
};

}  // namespace plantmesh::runtime::testing
