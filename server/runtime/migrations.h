// Schema migrations embedded in the binary (see cmake/EmbedMigrations.cmake), applied at
// start under a PostgreSQL advisory lock so that replicas starting together apply each
// migration exactly once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace plantmesh::runtime {

struct Migration {
  int version;            // from the file name: 0001_create_defects.sql → 1
  std::string_view name;  // the file name
  std::string_view sql;   // the file's text, run in one transaction
};

// Applies, in version order, every migration of `schema` newer than the ones recorded
// in `<schema>.schema_migrations`. Creates the schema and that table when missing.
// Holds pg_advisory_lock(hash(schema)) for the duration.
absl::Status ApplyMigrations(const std::string& url, std::string_view schema,
                             const std::vector<Migration>& migrations);

}  // namespace plantmesh::runtime
