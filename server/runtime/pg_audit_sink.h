// audit.audit_log in PostgreSQL: the sink (records queued in memory and written in
// batches by one writer thread) and the row a store writes inside a change's own
// transaction (ChangeAudit, audit.h). Both store a record through StorableAuditRow, so
// no value a client sends can make a row unstorable on either path.
//
//   PM_RETURN_IF_ERROR(ApplyMigrations(url, "audit", AuditMigrations()));
//   std::unique_ptr<AuditSink> audit = MakePgAuditSink(pool);
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/runtime/audit.h"
#include "server/runtime/migrations.h"

namespace pqxx {
class transaction_base;
}

namespace plantmesh::runtime {

class PgPool;

// The parameter values of one audit row, in AuditRowSql's order: time, identity, roles
// (array literal), method, trace_id, status_code, status_message, request. Every text is
// valid UTF-8 without NUL (invalid bytes become U+FFFD, NULs are dropped), the request is
// valid JSON that jsonb accepts (text that is not JSON is kept as a JSON string, U+0000
// escapes are dropped) of at most 8 KiB ({"truncated":true,"bytes":N,"prefix":"..."}
// when longer), the status message at most 1 KiB.
inline constexpr int kAuditRowParams = 8;
std::array<std::string, kAuditRowParams> StorableAuditRow(const AuditRecord& record);

// SQL that inserts one audit row from parameters $first .. $first+7 (StorableAuditRow's
// values), one row for each row of `from` (a table expression, e.g. a CTE's name), or
// exactly one when `from` is empty: for a store that writes the row in the statement of
// its change (a data-modifying CTE), so that the row costs no round trip of its own.
std::string AuditRowSql(int first, std::string_view from = {});

// Inserts `record` inside the caller's transaction (one statement).
void WriteAuditInTransaction(pqxx::transaction_base& tx, const AuditRecord& record);

// The `audit` schema: audit.audit_log(id, time, identity, roles, method, trace_id,
// status_code, status_message, request jsonb).
const std::vector<Migration>& AuditMigrations();

// `pool` must outlive the sink. Destroying the sink flushes (bounded by a few seconds).
std::unique_ptr<AuditSink> MakePgAuditSink(PgPool* pool);

}  // namespace plantmesh::runtime
