// One Redis serves one PlantMesh database. Its event streams, their generations and the
// telemetry latest-value cache carry no database in their keys, so two databases on one
// Redis (staging and production, two plants) read each other's events and values
// (outside testing: GetLatestValues answered the other database's value, watchers got
// its defects, and each relay reset the other's stream generation on every write).
//
// At start the server claims the Redis for its database's installation id
// (audit.installation, made once by the audit migrations and kept by pg_dump and
// pg_restore): `SET plantmesh:installation <id> NX`. A Redis that holds another id is
// refused, and the server does not start. A Redis that cannot be reached is not judged
// (the server starts degraded, as without Redis); an empty one is claimed.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/redis_client.h"

namespace plantmesh::runtime {

inline constexpr char kRedisInstallationKey[] = "plantmesh:installation";

// FAILED_PRECONDITION naming both installations and what to do when `redis` holds
// another database's; OK when it holds this one's, was claimed now, or cannot be reached
// (logged). Errors reading the id from `pool` are returned.
absl::Status ClaimRedisForDatabase(PgPool& pool, const RedisOptions& redis);

}  // namespace plantmesh::runtime
