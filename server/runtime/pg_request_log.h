// The PostgreSQL side of request_id idempotency (idempotency.h): the table
// <schema>.request_log (DDL: service_tables/0001_outbox_and_request_log.sql) and the two steps a
// store takes inside the transaction of an idempotent change:
//   1. Claim(key) before the change. A first call claims the key (a concurrent call with
//      the same key waits on it until the first commits or rolls back); a retry gets the
//      recorded entry back and the store answers with it, changing nothing; the same key
//      with another payload is ALREADY_EXISTS REQUEST_ID_REUSED.
//   2. Record(key, response) after the change, before the commit.
// A change that fails rolls its claim back with it, so only committed changes are
// recorded, and a retry of a failed call is evaluated afresh.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/runtime/idempotency.h"
#include "server/runtime/pg_pool.h"

namespace pqxx {
class transaction_base;
}

namespace plantmesh::runtime {

class PgRequestLog {
 public:
  // What the first call with a key recorded.
  struct Entry {
    std::optional<std::string> response;  // nullopt: a migrated row without one
    std::string resource;
  };

  explicit PgRequestLog(std::string schema);

  // Registers the named statements (named "request_log_*:<schema>", so services on one
  // pool do not collide) on a connection; for PgPoolOptions::on_connect.
  void Prepare(pqxx::connection& conn) const;

  // Step 1. nullopt: the key is new and now claimed by this transaction.
  absl::StatusOr<std::optional<Entry>> Claim(pqxx::transaction_base& tx,
                                             const IdempotencyKey& key) const;
  // Step 2: what retries get back; `resource` names what the change changed.
  void Record(pqxx::transaction_base& tx, const IdempotencyKey& key, const std::string& response,
              const std::string& resource) const;

 private:
  std::string schema_;
  std::string claim_;  // statement names
  std::string find_;
  std::string record_;
};

}  // namespace plantmesh::runtime
