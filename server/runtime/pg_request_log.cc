#include "server/runtime/pg_request_log.h"

#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/str_cat.h"

namespace plantmesh::runtime {
namespace {

PgRequestLog::Entry EntryOf(const pqxx::row& row) {
  PgRequestLog::Entry entry;
  if (!row["response"].is_null()) entry.response = pqxx::binarystring(row["response"]).str();
  entry.resource = row["resource"].as<std::string>();
  return entry;
}

}  // namespace

PgRequestLog::PgRequestLog(std::string schema)
    : schema_(std::move(schema)),
      claim_(absl::StrCat("request_log_claim:", schema_)),
      find_(absl::StrCat("request_log_find:", schema_)),
      record_(absl::StrCat("request_log_record:", schema_)) {}

void PgRequestLog::Prepare(pqxx::connection& conn) const {
  const std::string table = absl::StrCat(conn.quote_name(schema_), ".request_log");
  // One round trip for the common cases: the CTE claims a new key; a key already
  // committed before this statement began is read by the second branch (a statement does
  // not see its own CTE's insert, so exactly one branch answers). A key committed by a
  // concurrent call while the insert waited for it shows in neither: find_ reads it
  // with a fresh snapshot.
  conn.prepare(claim_,
               absl::StrCat("WITH claimed AS (INSERT INTO ", table,
                            " (identity, method, request_id, payload_sha256) VALUES ($1, $2, $3, "
                            "$4) ON CONFLICT DO NOTHING RETURNING 1) "
                            "SELECT true AS claimed, NULL::text AS payload_sha256, "
                            "NULL::bytea AS response, ''::text AS resource FROM claimed "
                            "UNION ALL SELECT false, payload_sha256, response, resource FROM ",
                            table, " WHERE identity = $1 AND method = $2 AND request_id = $3"));
  conn.prepare(find_, absl::StrCat("SELECT payload_sha256, response, resource FROM ", table,
                                   " WHERE identity = $1 AND method = $2 AND request_id = $3"));
  conn.prepare(record_, absl::StrCat("UPDATE ", table,
                                     " SET response = $4, resource = $5 WHERE identity = $1 "
                                     "AND method = $2 AND request_id = $3"));
}

absl::StatusOr<std::optional<PgRequestLog::Entry>> PgRequestLog::Claim(
    pqxx::transaction_base& tx, const IdempotencyKey& key) const {
  return Outcome(
      tx, key,
      tx.exec_prepared(claim_, key.identity, key.method, key.request_id, key.payload_sha256));
}

absl::StatusOr<bool> PgRequestLog::Recorded(pqxx::transaction_base& tx,
                                            const IdempotencyKey& key) const {
  if (key.request_id.empty()) return false;
  return !tx.exec_prepared(find_, key.identity, key.method, key.request_id).empty();
}

absl::StatusOr<std::optional<PgRequestLog::Entry>> PgRequestLog::Find(
    pqxx::transaction_base& tx, const IdempotencyKey& key) const {
  if (key.request_id.empty()) return std::nullopt;
  pqxx::result rows = tx.exec_prepared(find_, key.identity, key.method, key.request_id);
  if (rows.empty()) return std::nullopt;
  return Outcome(tx, key, std::move(rows));
}

absl::StatusOr<std::optional<PgRequestLog::Entry>> PgRequestLog::ClaimOutcome(
    pqxx::transaction_base& tx, const IdempotencyKey& key, const pqxx::result& rows) const {
  return Outcome(tx, key, rows);
}

absl::StatusOr<std::optional<PgRequestLog::Entry>> PgRequestLog::Outcome(pqxx::transaction_base& tx,
                                                                         const IdempotencyKey& key,
                                                                         pqxx::result rows) const {
  if (rows.empty()) rows = tx.exec_prepared(find_, key.identity, key.method, key.request_id);
  if (rows.empty()) {
    // Claimed and released between the two statements (the first call rolled back and
    // another claimed it anew, also to roll back): rare; the client may retry.
    return absl::AbortedError(
        absl::StrCat("request_id ", key.request_id, " is being used by a concurrent call; retry"));
  }
  const pqxx::row& row = rows[0];
  if (rows.columns() == 4 && row["claimed"].as<bool>()) return std::nullopt;
  Entry entry = EntryOf(row);
  if (!row["payload_sha256"].is_null() &&
      row["payload_sha256"].as<std::string>() != key.payload_sha256) {
    return RequestIdReused(key, entry.resource);
  }
  return entry;
}

std::string PgRequestLog::ClaimWithResponseSql(int first) const {
  auto p = [first](int i) { return absl::StrCat("$", first + i); };
  return absl::StrCat("INSERT INTO ", schema_,
                      ".request_log (identity, method, request_id, payload_sha256, response, "
                      "resource) SELECT ",
                      p(0), "::text, ", p(1), "::text, ", p(2), "::text, ", p(3), "::text, ", p(4),
                      "::bytea, ", p(5), "::text WHERE ", p(2),
                      "::text <> '' ON CONFLICT DO NOTHING RETURNING 1");
}

std::string PgRequestLog::RecordedEntrySql(int first) const {
  auto p = [first](int i) { return absl::StrCat("$", first + i); };
  return absl::StrCat("SELECT false AS claimed, payload_sha256, response, resource FROM ", schema_,
                      ".request_log WHERE identity = ", p(0), "::text AND method = ", p(1),
                      "::text AND request_id = ", p(2), "::text AND ", p(2), "::text <> ''");
}

std::string PgRequestLog::RecordSql(int first) const {
  auto p = [first](int i) { return absl::StrCat("$", first + i); };
  return absl::StrCat("UPDATE ", schema_, ".request_log SET response = ", p(3),
                      "::bytea, resource = ", p(4), "::text WHERE identity = ", p(0),
                      "::text AND method = ", p(1), "::text AND request_id = ", p(2), "::text");
}

void PgRequestLog::Record(pqxx::transaction_base& tx, const IdempotencyKey& key,
                          const std::string& response, const std::string& resource) const {
  tx.exec_prepared0(record_, key.identity, key.method, key.request_id, pqxx::binarystring(response),
                    resource);
}

}  // namespace plantmesh::runtime
