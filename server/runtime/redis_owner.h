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
//
// The outbox relay claims it again in every round (RedisClaimCommands), so a Redis
// that came back empty or was flushed while the server runs is claimed at once, and
// one another database's server claimed meanwhile is not published to (the relay
// reports Redis as failing with CheckRedisHolder's error; events wait in PostgreSQL).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/redis_client.h"

namespace plantmesh::runtime {

inline constexpr char kRedisInstallationKey[] = "plantmesh:installation";

// The database's installation id; FAILED_PRECONDITION naming both installations and
// what to do when `redis` holds another database's; the id when it holds this one's,
// was claimed now, or cannot be reached (logged). Errors reading the id from `pool` are
// returned.
absl::StatusOr<std::string> ClaimRedisForDatabase(PgPool& pool, const RedisOptions& redis);

// SET NX of `installation`, then GET: the second reply is the holder's id.
std::vector<std::vector<std::string>> RedisClaimCommands(const std::string& installation);

// OK when `holder` (GET's reply) is `installation`; otherwise the FAILED_PRECONDITION
// above.
absl::Status CheckRedisHolder(const std::string& holder, const std::string& installation,
                              const RedisOptions& redis);

}  // namespace plantmesh::runtime
