#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/child_process.h"
#include "tests/support/test_servers.h"

namespace plantmesh::testing {
namespace {

// One inline command over a fresh connection to the server's Unix socket (after AUTH
// when `password` is given): the start of its reply, empty when there was none. The socket is in
// the server's own directory: a PONG from its TCP port could come from another test's Redis that
// took the port while this one failed to bind it (Redis binds its TCP port before it creates the
// socket, and exits when it cannot).
std::string Ask(const std::string& socket_path, const std::string& command,
                const std::string& password = "") {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socket_path.copy(address.sun_path, sizeof(address.sun_path) - 1);
  std::string reply;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
    // AUTH in RESP, so that a password may hold blanks and quotes.
    const std::string auth =
        password.empty()
            ? ""
            : absl::StrCat("*2\r\n$4\r\nAUTH\r\n$", password.size(), "\r\n", password, "\r\n");
    const std::string lines = absl::StrCat(auth, command, "\r\n");
    const size_t replies = password.empty() ? 1 : 2;
    if (write(fd, lines.data(), lines.size()) == static_cast<ssize_t>(lines.size())) {
      char buffer[64] = {};
      ssize_t got = 0;
      // Each reply read here is one line.
      while (static_cast<size_t>(std::count(reply.begin(), reply.end(), '\n')) < replies &&
             (got = read(fd, buffer, sizeof(buffer))) > 0) {
        reply.append(buffer, static_cast<size_t>(got));
      }
    }
    if (!password.empty()) {  // AUTH's answer is not the command's
      const size_t first_end = reply.find('\n');
      reply = first_end == std::string::npos ? "" : reply.substr(first_end + 1);
    }
  }
  close(fd);
  return reply;
}

}  // namespace

struct RedisServer::State {
  std::string password;
  std::string dir;
  std::string log_file;
  int port = 0;
  pid_t pid = -1;

  std::string socket_path() const { return dir + "/redis.sock"; }

  std::string Ask(const std::string& command) const {
    return ::plantmesh::testing::Ask(socket_path(), command, password);
  }

  absl::Status Launch() {
    internal::SpawnOptions command = internal::Command(
        {"redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--protected-mode", "no",
         "--loglevel", "warning", "--unixsocket", socket_path()},
        log_file, "");
    if (!password.empty()) command.argv.insert(command.argv.end(), {"--requirepass", password});
    absl::StatusOr<pid_t> spawned = internal::Spawn(command);
    if (!spawned.ok()) return spawned.status();
    pid = *spawned;
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      int exit_code = 0;
      if (internal::HasExited(pid, &exit_code)) {
        pid = -1;
        return absl::UnavailableError(absl::StrCat("redis-server exited with ", exit_code, ":\n",
                                                   internal::ReadFileOrEmpty(log_file)));
      }
      if (Ask("PING").rfind("+PONG", 0) == 0) return absl::OkStatus();
      absl::SleepFor(absl::Milliseconds(20));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("redis-server did not answer PING:\n", internal::ReadFileOrEmpty(log_file)));
  }
};

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(std::string password) {
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->state_ = std::make_unique<State>();
  State& s = *server->state_;
  s.password = std::move(password);
  absl::StatusOr<std::string> dir = internal::MakeTempDir("plantmesh-redis-");
  if (!dir.ok()) return dir.status();
  s.dir = *dir;
  s.log_file = s.dir + "/redis.log";
  absl::Status launched;
  for (int attempt = 0; attempt < 5; ++attempt) {  // the chosen port may be taken meanwhile
    s.port = FreePort();
    launched = s.Launch();
    if (launched.ok()) return server;
    server->Stop();
  }
  return launched;
}

RedisServer::~RedisServer() {
  if (!state_) return;
  Stop();
  std::error_code ignored;
  if (!state_->dir.empty()) std::filesystem::remove_all(state_->dir, ignored);
}

int RedisServer::port() const { return state_->port; }

void RedisServer::Stop() {
  if (state_->pid <= 0) return;
  kill(state_->pid, SIGTERM);
  if (!internal::WaitForExit(state_->pid, absl::Seconds(20)).ok()) {
    internal::SignalGroup(state_->pid, SIGKILL);
    (void)internal::WaitForExit(state_->pid, absl::Seconds(10));
  }
  state_->pid = -1;
}

absl::Status RedisServer::Restart() {
  Stop();
  return state_->Launch();
}

absl::Status RedisServer::Flush() {
  const std::string reply = state_->Ask("FLUSHALL");
  if (reply.rfind("+OK", 0) == 0) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("FLUSHALL answered '", reply, "'"));
}

absl::Status RedisServer::Set(const std::string& key, const std::string& value) {
  const std::string reply = state_->Ask(absl::StrCat("SET ", key, " ", value));
  if (reply.rfind("+OK", 0) == 0) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("SET answered '", reply, "'"));
}

absl::Status RedisServer::ChangePassword(const std::string& password) {
  const std::string reply = state_->Ask(absl::StrCat("CONFIG SET requirepass ", password));
  if (reply.rfind("+OK", 0) != 0) {
    return absl::UnavailableError(absl::StrCat("CONFIG SET requirepass answered '", reply, "'"));
  }
  state_->password = password;
  const std::string killed = state_->Ask("CLIENT KILL TYPE normal");
  if (killed.rfind(":", 0) != 0) {
    return absl::UnavailableError(absl::StrCat("CLIENT KILL answered '", killed, "'"));
  }
  return absl::OkStatus();
}

bool RedisServer::running() const {
  if (state_->pid <= 0) return false;
  int exit_code = 0;
  if (internal::HasExited(state_->pid, &exit_code)) {
    state_->pid = -1;
    return false;
  }
  return true;
}

}  // namespace plantmesh::testing
