// Schema migrations embedded in the binary (see cmake/EmbedMigrations.cmake), applied at
// start under a PostgreSQL advisory lock so that replicas starting together apply each
// migration exactly once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

struct Migration {
  int version;            // from the file name: 0001_create_defects.sql → 1
  std::string_view name;  // the file name
  std::string_view sql;   // the file's text, run in one transaction
};

// How long a start waits for another replica that holds the migration lock (it may be
// running a long migration) before giving up with DEADLINE_EXCEEDED.
inline constexpr absl::Duration kDefaultMigrationLockWait = absl::Minutes(10);

// Applies, in version order, every migration of `schema` newer than the ones recorded
// in `<schema>.<history_table>` (schema_migrations: the service's own). Creates the schema and that
// table when missing. Holds pg_advisory_lock(hash(schema)) for the duration, waiting at most
// `lock_wait` for it. Runs on its own connection without the request pool's statement and lock
// timeouts: a migration may take as long as it takes (a long one must not fail half-way at start).
absl::Status ApplyMigrations(const std::string& url, std::string_view schema,
                             const std::vector<Migration>& migrations,
                             absl::Duration lock_wait = kDefaultMigrationLockWait,
                             std::string_view history_table = "schema_migrations");

}  // namespace plantmesh::runtime
