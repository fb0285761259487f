// The tables the runtime keeps in every service's schema (server/runtime/service_tables/):
// the outbox (OutboxRelay) and the request log (request_id idempotency). A service's own
// migrations never paste their DDL.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/runtime/migrations.h"

namespace plantmesh::runtime {

// Applies the runtime's migrations for `schema` (recorded in
// `<schema>.runtime_migrations`, apart from the service's own versions), after the
// service's migrations, under the same advisory lock.
absl::Status ApplyServiceTables(const std::string& url, std::string_view schema,
                                absl::Duration lock_wait = kDefaultMigrationLockWait);

}  // namespace plantmesh::runtime
