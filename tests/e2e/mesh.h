// One PlantMesh for an end-to-end test: a database of its own on the shared
// PostgreSQL, Redis, a dev PKI with a user per role, and plantmesh-server as a child
// process over mTLS. Clients are the SDK's, bound to a user.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "plantmesh/defect/v1/defect_service.pm_client.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/system/v1/system_service.pm_client.h"
#include "tests/support/test_servers.h"

namespace plantmesh::e2e {

// Every role of the contract (contract::AllRoles, by name). A user named after each role
// holds only it.
extern const std::vector<std::string> kAllRoles;

// Named users of the stories: anna (foreman), mike (mechanic), quinn (qc_engineer),
// otto (operator), ops (admin), ivan (integrator); "nobody" holds no role.
extern const std::map<std::string, std::vector<std::string>> kStoryUsers;

struct MeshOptions {
  // Passed to plantmesh-server after the generated flags (e.g. --events-retain 5).
  std::vector<std::string> server_args;
  // Redis to use; nullptr: the binary's SharedRedis().
  testing::RedisServer* redis = nullptr;
  // Last word on the server's options (e.g. TLS files through a symlink).
  std::function<void(testing::ServerProcess::Options&)> customize;
};

class Mesh {
 public:
  // Creates the database, the PKI and its users, and starts the server.
  static absl::StatusOr<std::unique_ptr<Mesh>> Start(MeshOptions options = {});

  testing::TestPki& pki() { return *pki_; }
  testing::ServerProcess& server() { return *server_; }
  const std::string& database_url() const { return database_url_; }
  std::string endpoint() const { return server_->endpoint(); }

  // Stops the server (SIGTERM) and starts it again on the same database; the port
  // changes. Extra arguments replace MeshOptions::server_args when given.
  absl::Status RestartServer();
  // Stops the server (SIGTERM) and leaves it stopped (e.g. while its database is
  // restored); StartServer starts it again on the same database (another port).
  absl::Status StopServer();
  absl::Status StartServer() { return StartServer(0); }
  // Kills the server (SIGKILL: a crash, no drain) and starts it again on the same
  // port and database, so that connected clients must reconnect to the same address.
  // Returns once the new server answers its health check; server().listening_since()
  // is then when it was back (accepting connections). `while_down`, if given, runs
  // between the kill and the new start and returns when the outage may end (it waits
  // for a condition, e.g. for the clients to have failed for a while).
  absl::Status KillAndRestartServerOnSamePort(const std::function<void()>& while_down = nullptr);
  // Stops the server (SIGTERM: it drains) and starts it again on the same port and
  // database; returns once the new server answers its health check.
  absl::Status DrainAndRestartServerOnSamePort();

  // Client options for `user` (one of kStoryUsers or a role name).
  sdk::ClientOptions OptionsFor(const std::string& user) const;
  sdk::DefectClient Defects(const std::string& user) const;
  sdk::SystemClient System(const std::string& user) const;

  // The gRPC health status of `service` ("" = the whole server), as its enum name
  // (SERVING, NOT_SERVING, ...), asked as `user`.
  absl::StatusOr<std::string> Health(const std::string& service,
                                     const std::string& user = "ops") const;

  // Issues another user bound to `roles` (the server reloads role bindings itself).
  absl::StatusOr<testing::TestPki::Client> AddUser(const std::string& name,
                                                   const std::vector<std::string>& roles);

  // Reference data every story needs: category PAINT-SCRATCH (MINOR), crew CREW-A in
  // zone PAINT, repair places RP-01 and RP-02, mechanic M-107 in CREW-A. Created by
  // the admin "ops"; idempotent.
  absl::Status SeedReferenceData();

 private:
  Mesh() = default;
  absl::Status StartServer(int port);

  MeshOptions options_;
  std::unique_ptr<testing::TestPki> pki_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::string database_url_;
  std::map<std::string, testing::TestPki::Client> users_;
};

// A complete, valid report for a unit `vin` in zone PAINT (category PAINT-SCRATCH).
defect::v1::Defect SampleDefect(const std::string& vin);

// "CODE: message" of a status, for assertion messages.
std::string Describe(const absl::Status& status);

// The number of threads of process `pid` now (/proc/<pid>/status), or -1.
int ThreadsOf(int pid);

}  // namespace plantmesh::e2e
