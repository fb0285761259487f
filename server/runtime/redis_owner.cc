#include "server/runtime/redis_owner.h"

#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/redis_client.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {

std::vector<std::vector<std::string>> RedisClaimCommands(const std::string& installation) {
  return {{"SET", kRedisInstallationKey, installation, "NX"}, {"GET", kRedisInstallationKey}};
}

absl::Status CheckRedisHolder(const std::string& holder, const std::string& installation,
                              const RedisOptions& redis) {
  if (holder == installation) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("Redis at ", redis.host, ":", redis.port,
                   " holds the events and caches of another PlantMesh database (installation ",
                   holder, "; this database is installation ", installation,
                   "): one Redis serves one database. Give this database a Redis of its own; "
                   "if the other database is gone for good, empty that Redis (FLUSHALL) or "
                   "delete its key ",
                   kRedisInstallationKey));
}

absl::StatusOr<std::string> ClaimRedisForDatabase(PgPool& pool, const RedisOptions& redis) {
  std::string installation;
  PM_RETURN_IF_ERROR(pool.Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    installation = tx.exec1("SELECT id::text FROM audit.installation")[0].as<std::string>();
    return absl::OkStatus();
  }));
  RedisClient client(redis);
  absl::StatusOr<std::vector<RedisReply>> replies =
      client.Pipeline(RedisClaimCommands(installation));
  // Credentials Redis refuses stay refused (the password file is read at start); a Redis
  // out of reach may come, and the relay and hub wait for it.
  if (IsRedisAuthRefused(replies.status())) return replies.status();
  if (!replies.ok()) {
    spdlog::warn("Redis at {}:{} not checked for another database's data: {}", redis.host,
                 redis.port, std::string(replies.status().message()));
    return installation;
  }
  PM_RETURN_IF_ERROR(CheckRedisHolder(replies->back().str, installation, redis));
  return installation;
}

}  // namespace plantmesh::runtime
