// Real servers for tests: PostgreSQL 15 and Redis 7 from Debian's packages, started on
// free loopback ports in a temporary directory, and plantmesh-server as a child
// process with a dev PKI. No mocks stand in for any of them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace plantmesh::testing {

// A free TCP port on 127.0.0.1 (bound and released).
int FreePort();

// A throwaway PostgreSQL cluster (initdb as user postgres when running as root).
class PostgresServer {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start();
  ~PostgresServer();  // pg_ctl stop -m immediate, directory removed
  int port() const;
  // A new, empty database; returns its libpq URL.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);
  // URL of the default "postgres" database.
  std::string admin_url() const;

 private:
  PostgresServer() = default;
  struct State;
  std::unique_ptr<State> state_;
};

// A throwaway redis-server (no persistence); with a password, it wants AUTH
// (requirepass) and the helpers below send it.
class RedisServer {
 public:
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(std::string password = "");
  ~RedisServer();
  int port() const;
  void Stop();             // SIGTERM, waits for exit
  absl::Status Restart();  // same port
  absl::Status Flush();    // FLUSHALL: every key of every database gone
  // SET of a key and a value without spaces or quotes (one inline command).
  absl::Status Set(const std::string& key, const std::string& value);
  // A new password (CONFIG SET requirepass, no blanks or quotes), every client's
  // connection closed, as an operator's rotation does; the helpers use it from then on.
  absl::Status ChangePassword(const std::string& password);
  bool running() const;

 private:
  RedisServer() = default;
  struct State;
  std::unique_ptr<State> state_;
};

// Shared per test binary (started on first use, stopped at exit).
PostgresServer& SharedPostgres();
RedisServer& SharedRedis();

// A dev PKI in a temporary directory (CA, server certificate for 127.0.0.1/localhost,
// and client certificates on demand), plus a role-binding file.
class TestPki {
 public:
  // Trust domain of every identity this PKI issues (the server's default too).
  static constexpr char kTrustDomain[] = "plantmesh.local";

  static absl::StatusOr<std::unique_ptr<TestPki>> Create();
  ~TestPki();
  std::string dir() const;
  std::string ca_dir() const;  // ca.crt and ca.key, for pki::Issue with custom options
  std::string ca_file() const;
  std::string server_cert() const;
  std::string server_key() const;
  std::string role_bindings_file() const;
  struct Client {
    std::string cert_file;
    std::string key_file;
    std::string identity;
  };
  // Issues another server certificate for 127.0.0.1/localhost, into <dir>/<dir_name>
  // (a rotation's new pair: a client's is no server's).
  absl::StatusOr<Client> IssueServer(const std::string& dir_name);
  // Issues user certificate <name> and binds it to `roles` in the role-binding file.
  absl::StatusOr<Client> IssueClient(const std::string& name,
                                     const std::vector<std::string>& roles);
  // Issues a client certificate <name> whose only URI SAN is `uri`, verbatim (no
  // checks: for testing how the server treats malformed identities). Not bound to roles.
  // `key_usage` not empty: that keyUsage instead (openssl.cnf syntax, e.g.
  // "digitalSignature,keyCertSign"); `certificate_authority`: a CA's certificate
  // (basicConstraints CA:TRUE). Both as a client must not present them. `issuer` given
  // (a CA's certificate of this function): signed by it, not by the mesh's CA, and the
  // certificate file holds the chain (the certificate, then the issuer's).
  absl::StatusOr<Client> IssueClientWithUri(const std::string& name, const std::string& uri,
                                            const std::string& key_usage = "",
                                            bool certificate_authority = false,
                                            const Client* issuer = nullptr);
  // Adds {"identity_prefix": prefix, "roles": roles} to the role-binding file.
  absl::Status BindIdentityPrefix(const std::string& prefix, const std::vector<std::string>& roles);
  // An identity bound to no role, issued at Create: ServerProcess asks the health
  // service with it.
  Client probe_client() const;

 private:
  TestPki() = default;
  struct State;
  std::unique_ptr<State> state_;
};

// plantmesh-server as a child process (path from PLANTMESH_SERVER_BIN, set by CMake).
class ServerProcess {
 public:
  struct Options {
    std::vector<std::string> services = {"all"};
    // Port to listen on (127.0.0.1); 0: a free one. A restart on the same port (e.g.
    // after Kill) passes the previous port().
    int port = 0;
    // The server binary; empty = plantmesh-server (PLANTMESH_SERVER_BIN).
    std::string binary;
    std::string postgres_url;
    int redis_port = 0;
    const TestPki* pki = nullptr;  // nullptr: --insecure
    // Replace the PKI's server files (e.g. paths through a symlink, for rotation).
    std::string tls_cert_override;
    std::string tls_key_override;
    std::string tls_ca_override;
    std::vector<std::string> extra_args;
    // > 0: the server runs with this open-file limit, soft and hard (RLIMIT_NOFILE).
    int open_file_limit = 0;
  };
  // Starts and waits until it prints "LISTENING <host>:<port>" and its health
  // service answers SERVING (30 s; the error carries the command line and the log).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const Options& options);
  // SIGKILL if still running. A sanitizer report in the log (sanitizer builds) then
  // fails the running gtest test or suite, or is printed outside of gtest; see
  // SanitizerReportSeen.
  ~ServerProcess();
  int port() const;
  // When Start saw the LISTENING line (polled every 2 ms, so at most a few ms after the
  // server was accepting connections): the moment a restarted server is back.
  absl::Time listening_since() const;
  std::string endpoint() const;  // "127.0.0.1:<port>"
  // SIGTERM and wait; returns the exit code.
  int Terminate();
  void Kill();  // SIGKILL
  bool running() const;
  // The server's process id (e.g. to read /proc/<pid>/status); -1 once it exited.
  int pid() const;
  std::string log() const;  // stderr/stdout captured so far
  // Whether any server of this process had a sanitizer report in its log when it was
  // destroyed (for programs outside gtest, e.g. e2e_live_server's exit code).
  static bool SanitizerReportSeen();

 private:
  ServerProcess() = default;
  void FailOnSanitizerReport();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace plantmesh::testing
