#include <cstdio>
#include <cstdlib>

#include "tests/support/test_servers.h"

namespace plantmesh::testing {
namespace {

// Servers shared by every test of one binary. Function-local statics: started on
// first use, destroyed (stopped, directory removed) when the binary exits.
template <typename Server>
Server& StartOrDie(const char* what) {
  static std::unique_ptr<Server> server = [what] {
    absl::StatusOr<std::unique_ptr<Server>> started = Server::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start shared %s: %s\n", what,
                   std::string(started.status().message()).c_str());
      std::abort();
    }
    return *std::move(started);
  }();
  return *server;
}

}  // namespace

PostgresServer& SharedPostgres() { return StartOrDie<PostgresServer>("PostgreSQL"); }
RedisServer& SharedRedis() { return StartOrDie<RedisServer>("Redis"); }

}  // namespace plantmesh::testing
