#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/support/child_process.h"
#include "tests/support/test_servers.h"

namespace plantmesh::testing {
namespace {

using internal::SpawnOptions;

constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin/";
constexpr char kPgUser[] = "postgres";

std::string PgTool(const char* name) { return absl::StrCat(kPgBin, name); }

// postgres refuses to run as root: the cluster belongs to user postgres then.
std::string ClusterUser() { return internal::RunningAsRoot() ? kPgUser : ""; }

absl::Status GiveToClusterUser(const std::string& dir) {
  if (!internal::RunningAsRoot()) return absl::OkStatus();
  struct passwd* pw = getpwnam(kPgUser);
  if (pw == nullptr) return absl::NotFoundError("user postgres does not exist");
  if (chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", dir, " failed"));
  }
  return absl::OkStatus();
}

}  // namespace

struct PostgresServer::State {
  std::string dir;
  std::string log_file;
  int port = 0;
  pid_t postmaster = -1;
};

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->state_ = std::make_unique<State>();
  State& s = *server->state_;
  absl::StatusOr<std::string> dir = internal::MakeTempDir("plantmesh-pg-");
  if (!dir.ok()) return dir.status();
  s.dir = *dir;
  s.log_file = s.dir + "/postgres.log";
  if (absl::Status owned = GiveToClusterUser(s.dir); !owned.ok()) return owned;

  std::string data = s.dir + "/data";
  absl::Status initialized = internal::RunToCompletion(
      internal::Command({PgTool("initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E",
                         "UTF8", "--no-locale", "--no-sync"},
                        s.dir + "/initdb.log", ClusterUser()),
      absl::Seconds(120));
  if (!initialized.ok()) return initialized;

  // The port is free when chosen but may be taken before postgres binds: retry.
  std::string last_log;
  for (int attempt = 0; attempt < 5; ++attempt) {
    s.port = FreePort();
    absl::StatusOr<pid_t> pid = internal::Spawn(internal::Command(
        {PgTool("postgres"), "-D", data, "-p", std::to_string(s.port), "-k", s.dir, "-c",
         "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off", "-c",
         "max_connections=300", "-c", "shared_buffers=32MB"},
        s.log_file, ClusterUser()));
    if (!pid.ok()) return pid.status();
    s.postmaster = *pid;
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      int exit_code = 0;
      if (internal::HasExited(s.postmaster, &exit_code)) {
        s.postmaster = -1;
        break;
      }
      // Asked through the Unix socket in this cluster's own directory: on 127.0.0.1 the
      // answer could come from another test's cluster that took the port while this one
      // failed to bind it (postgres binds TCP before it creates the socket, and exits
      // when it cannot).
      absl::Status ready = internal::RunToCompletion(
          internal::Command({PgTool("pg_isready"), "-q", "-h", s.dir, "-p", std::to_string(s.port),
                             "-U", "postgres", "-d", "postgres"},
                            "", ""),
          absl::Seconds(10));
      if (ready.ok()) return server;
      absl::SleepFor(absl::Milliseconds(50));
    }
    last_log = internal::ReadFileOrEmpty(s.log_file);
    if (s.postmaster > 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("postgres did not become ready on port ", s.port, ":\n", last_log));
    }
  }
  return absl::InternalError(absl::StrCat("postgres did not start:\n", last_log));
}

PostgresServer::~PostgresServer() {
  if (!state_) return;
  if (state_->postmaster > 0) {
    // Immediate shutdown (what `pg_ctl stop -m immediate` sends): nothing to keep.
    kill(state_->postmaster, SIGQUIT);
    if (!internal::WaitForExit(state_->postmaster, absl::Seconds(20)).ok()) {
      internal::SignalGroup(state_->postmaster, SIGKILL);
      (void)internal::WaitForExit(state_->postmaster, absl::Seconds(10));
    }
  }
  std::error_code ignored;
  if (!state_->dir.empty()) std::filesystem::remove_all(state_->dir, ignored);
}

int PostgresServer::port() const { return state_->port; }

std::string PostgresServer::admin_url() const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", state_->port, "/postgres");
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase(const std::string& name) {
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) {
      return absl::InvalidArgumentError(absl::StrCat("database name must be [A-Za-z0-9_]: ", name));
    }
  }
  try {
    pqxx::connection connection(admin_url());
    pqxx::nontransaction work(connection);
    work.exec0("CREATE DATABASE \"" + name + "\"");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("CREATE DATABASE ", name, ": ", e.what()));
  }
  return absl::StrCat("postgresql://postgres@127.0.0.1:", state_->port, "/", name);
}

}  // namespace plantmesh::testing
