#include "server/planning/propose/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace plantmesh::planning::propose::internal {
namespace {

constexpr int kPollMillis = 20;

absl::Status SystemError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// The child's whole life: only async-signal-safe calls around `work`, and _exit (no exit
// handlers, no destructors of the parent's objects, no flush of the parent's buffers).
[[noreturn]] void RunChild(int fd, pid_t parent, const std::function<std::string()>& work) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(3);  // the parent died before prctl took effect
  // The parent's handlers (the server's drain on SIGTERM) are not the child's business.
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  const std::string answer = work();
  // Length first: the parent tells a whole answer from one cut short.
  const uint64_t size = answer.size();
  const bool written = WriteAll(fd, reinterpret_cast<const char*>(&size), sizeof size) &&
                       WriteAll(fd, answer.data(), answer.size());
  _exit(written ? 0 : 4);
}

}  // namespace

absl::StatusOr<std::optional<std::string>> RunInChildProcess(
    const std::function<std::string()>& work, absl::Time kill_at,
    const std::function<bool()>& stop) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return SystemError("the solver's pipe");
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child < 0) {
    const absl::Status error = SystemError("starting the solver process");
    close(fds[0]);
    close(fds[1]);
    return error;
  }
  if (child == 0) {
    close(fds[0]);
    RunChild(fds[1], parent, work);
  }
  close(fds[1]);

  std::string received;
  bool killed = false;
  absl::Status read_error;
  char buffer[1 << 16];
  for (;;) {
    if ((stop && stop()) || absl::Now() >= kill_at) {
      kill(child, SIGKILL);
      killed = true;
      break;
    }
    pollfd ready{fds[0], POLLIN, 0};
    const int polled = poll(&ready, 1, kPollMillis);
    if (polled < 0 && errno == EINTR) continue;
    if (polled < 0) {
      read_error = SystemError("waiting for the solver process");
      kill(child, SIGKILL);
      break;
    }
    if (polled == 0) continue;
    const ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      read_error = SystemError("reading the solver process's answer");
      kill(child, SIGKILL);
      break;
    }
    if (n == 0) break;  // the child closed its end: it is exiting
    received.append(buffer, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return SystemError("reaping the solver process");
  }
  if (killed) return std::nullopt;
  if (!read_error.ok()) return read_error;
  if (WIFSIGNALED(status)) {
    return absl::InternalError(absl::StrCat("the solver process ended by signal ", WTERMSIG(status),
                                            " (", strsignal(WTERMSIG(status)), ")"));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("the solver process exited with code ", WEXITSTATUS(status)));
  }
  uint64_t size = 0;
  if (received.size() < sizeof size) {
    return absl::InternalError("the solver process ended without an answer");
  }
  std::memcpy(&size, received.data(), sizeof size);
  if (received.size() - sizeof size != size) {
    return absl::InternalError(absl::StrCat("the solver process's answer is cut short: ",
                                            received.size() - sizeof size, " of ", size, " bytes"));
  }
  return received.substr(sizeof size);
}

}  // namespace plantmesh::planning::propose::internal
