// How often a Redis server ran a command (INFO commandstats): tests that must show how a
// reader talks to Redis (pages of a stream, batches of a relay) count its commands.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/runtime/redis_client.h"

namespace plantmesh::testing {

// The calls of `command` (lowercase, e.g. "xrevrange") since the server started; 0 when
// it never ran, -1 when Redis could not say.
inline int64_t CallsOf(runtime::RedisClient& redis, const std::string& command) {
  absl::StatusOr<runtime::RedisReply> info = redis.Command({"INFO", "commandstats"});
  if (!info.ok()) return -1;
  const std::string key = absl::StrCat("cmdstat_", command, ":calls=");
  const size_t at = info->str.find(key);
  if (at == std::string::npos) return 0;
  return std::stoll(info->str.substr(at + key.size()));
}

}  // namespace plantmesh::testing
