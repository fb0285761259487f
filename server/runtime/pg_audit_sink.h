// The PostgreSQL audit sink: records queued in memory and written to audit.audit_log in
// batches by one writer thread.
//
//   PM_RETURN_IF_ERROR(ApplyMigrations(url, "audit", AuditMigrations()));
//   std::unique_ptr<AuditSink> audit = MakePgAuditSink(pool);
#pragma once

#include <memory>
#include <vector>

#include "server/runtime/audit.h"
#include "server/runtime/migrations.h"

namespace plantmesh::runtime {

class PgPool;

// The `audit` schema: audit.audit_log(id, time, identity, roles, method, trace_id,
// status_code, status_message, request jsonb).
const std::vector<Migration>& AuditMigrations();

// `pool` must outlive the sink. Destroying the sink flushes (bounded by a few seconds).
std::unique_ptr<AuditSink> MakePgAuditSink(PgPool* pool);

}  // namespace plantmesh::runtime
