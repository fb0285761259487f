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
//
// A store may instead fold both steps into the statements of its change, to save round
// trips: ClaimWithResponseSql in the one statement of a change whose response is known
// before it runs (e.g. a create whose id was drawn first), read with ClaimOutcome; or
// RecordSql in the statement that writes the change's tail.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/runtime/idempotency.h"
#include "server/runtime/pg_pool.h"

namespace pqxx {
class result;
class transaction_base;
}  // namespace pqxx

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
  // Whether a call with `key` (its identity, method and request_id) has committed, for a
  // check that must not refuse a retry before its transaction (a full defect's photo
  // upload). Reads only.
  absl::StatusOr<bool> Recorded(pqxx::transaction_base& tx, const IdempotencyKey& key) const;
  // What a committed call with `key` recorded, without claiming: nullopt when none (or
  // no request_id); REQUEST_ID_REUSED when its payload differs. For a call that would
  // spend much before its transaction (ProposePlan's solve) only to be told so. Reads only.
  absl::StatusOr<std::optional<Entry>> Find(pqxx::transaction_base& tx,
                                            const IdempotencyKey& key) const;
  // Step 2: what retries get back; `resource` names what the change changed.
  void Record(pqxx::transaction_base& tx, const IdempotencyKey& key, const std::string& response,
              const std::string& resource) const;

  // Steps 1 and 2 in one, for a data-modifying CTE: an INSERT that claims the key
  // ($first identity, +1 method, +2 request_id, +3 payload_sha256) with its response
  // (+4, bytea) and resource (+5), RETURNING 1 when this statement claimed it; it does
  // nothing when the request_id is "".
  std::string ClaimWithResponseSql(int first) const;
  // A query of the recorded entry of key $first..$first+2, with the columns ClaimOutcome
  // reads: claimed (false), payload_sha256, response, resource. The statement's result
  // is `SELECT true, NULL, NULL, '' FROM <the claim CTE> UNION ALL <this>`: a statement
  // does not see its own CTE's insert, so at most one branch answers.
  std::string RecordedEntrySql(int first) const;
  // What such a statement's `rows` say, as Claim answers: nullopt when it claimed the
  // key; the recorded entry of an earlier call (REQUEST_ID_REUSED when the payload
  // differs); when neither answered (a concurrent call committed the key while the
  // insert waited), the entry read afresh in `tx`.
  absl::StatusOr<std::optional<Entry>> ClaimOutcome(pqxx::transaction_base& tx,
                                                    const IdempotencyKey& key,
                                                    const pqxx::result& rows) const;
  // Step 2 as SQL (for a CTE): $first..$first+2 the key, +3 the response (bytea), +4 the
  // resource; matches nothing when the request_id is "".
  std::string RecordSql(int first) const;

 private:
  // Claim's reading of a claim's or a find's rows.
  absl::StatusOr<std::optional<Entry>> Outcome(pqxx::transaction_base& tx,
                                               const IdempotencyKey& key, pqxx::result rows) const;

  std::string schema_;
  std::string claim_;  // statement names
  std::string find_;
  std::string record_;
};

}  // namespace plantmesh::runtime
