#include "server/runtime/redis_owner.h"

#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {

absl::Status ClaimRedisForDatabase(PgPool& pool, const RedisOptions& redis) {
  std::string installation;
  PM_RETURN_IF_ERROR(pool.Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    installation = tx.exec1("SELECT id::text FROM audit.installation")[0].as<std::string>();
    return absl::OkStatus();
  }));
  RedisClient client(redis);
  absl::StatusOr<std::vector<RedisReply>> replies = client.Pipeline(
      {{"SET", kRedisInstallationKey, installation, "NX"}, {"GET", kRedisInstallationKey}});
  if (!replies.ok()) {
    spdlog::warn("Redis at {}:{} not checked for another database's data: {}", redis.host,
                 redis.port, std::string(replies.status().message()));
    return absl::OkStatus();
  }
  const std::string& holder = replies->back().str;
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

}  // namespace plantmesh::runtime
