#include "server/planning/propose/solver_process.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/planning/propose/lot_sizing.h"

extern char** environ;

namespace plantmesh::planning::propose {
namespace internal {
namespace {

constexpr int kPollMillis = 20;

absl::Status SystemError(absl::string_view what, int error = errno) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(error)));
}

// A file descriptor closed when it goes out of scope.
class Descriptor {
 public:
  explicit Descriptor(int fd = -1) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() { Close(); }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::filesystem::path Canonical(const std::filesystem::path& path) {
  std::error_code error;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(path, error);
  return error ? path : canonical;
}

// posix_spawn's attributes and file actions, destroyed with it.
struct SpawnSetup {
  SpawnSetup() {
    posix_spawnattr_init(&attributes);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_t actions;
};

}  // namespace

absl::StatusOr<std::optional<std::string>> RunSolverProgram(
    const std::string& program, const std::vector<std::string>& arguments, const std::string& input,
    absl::Time kill_at, const std::function<bool()>& stop) {
  // The input from a file in memory, not a pipe: the program reads it at its own pace
  // while this thread only reads the output, so neither side waits on the other.
  Descriptor in(memfd_create("plantmesh-solver-input", MFD_CLOEXEC));
  if (in.get() < 0) return SystemError("the solver's input file (memfd_create)");
  if (!WriteAll(in.get(), input) || lseek(in.get(), 0, SEEK_SET) != 0) {
    return SystemError("writing the solver's input");
  }
  int pipe_ends[2];
  if (pipe2(pipe_ends, O_CLOEXEC) != 0) return SystemError("the solver's output pipe");
  Descriptor out(pipe_ends[0]);
  Descriptor out_write(pipe_ends[1]);

  SpawnSetup setup;
  posix_spawn_file_actions_adddup2(&setup.actions, in.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, out_write.get(), STDOUT_FILENO);
  // No signal blocked, and the default action for those the server handles (SIGTERM
  // starts its drain, which is not the solver's business).
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&setup.attributes, &none);
  posix_spawnattr_setsigdefault(&setup.attributes, &defaults);
  posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t child = 0;
  const int spawned =
      posix_spawn(&child, program.c_str(), &setup.actions, &setup.attributes, argv.data(), environ);
  out_write.Close();
  in.Close();
  if (spawned != 0) return SystemError(absl::StrCat("starting ", program), spawned);

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
    pollfd ready{out.get(), POLLIN, 0};
    const int polled = poll(&ready, 1, kPollMillis);
    if (polled < 0 && errno == EINTR) continue;
    if (polled < 0) {
      read_error = SystemError("waiting for the solver program");
      kill(child, SIGKILL);
      break;
    }
    if (polled == 0) continue;
    const ssize_t n = read(out.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      read_error = SystemError("reading the solver program's answer");
      kill(child, SIGKILL);
      break;
    }
    if (n == 0) break;  // it closed its output: it is exiting
    received.append(buffer, static_cast<size_t>(n));
  }
  out.Close();
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return SystemError("reaping the solver program");
  }
  if (killed) return std::nullopt;
  if (!read_error.ok()) return read_error;
  if (WIFSIGNALED(status)) {
    return absl::InternalError(absl::StrCat(program, " ended by signal ", WTERMSIG(status), " (",
                                            strsignal(WTERMSIG(status)), ")"));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(program, " exited with code ", WEXITSTATUS(status)));
  }
  return received;
}

}  // namespace internal

absl::StatusOr<std::string> CbcSolverProgram() {
  std::string program;
  if (const char* chosen = std::getenv("PLANTMESH_CBC_SOLVER"); chosen != nullptr && *chosen) {
    program = chosen;
  } else {
    std::error_code error;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (error) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot tell this program's path (/proc/self/exe): ", error.message(),
                       "; set PLANTMESH_CBC_SOLVER to the plantmesh-cbc-solver program"));
    }
    const std::string build_tree = internal::Canonical(PLANTMESH_BUILD_TREE).string() + "/";
    program =
        absl::StartsWith(internal::Canonical(self).string(), build_tree)
            ? std::string(PLANTMESH_CBC_SOLVER_IN_BUILD_TREE)
            : (self.parent_path() / PLANTMESH_CBC_SOLVER_FROM_BINDIR).lexically_normal().string();
  }
  struct stat file {};
  if (stat(program.c_str(), &file) != 0 || !S_ISREG(file.st_mode) ||
      access(program.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CBC solver program ", program,
                     " is not an executable file (ProposePlan runs CBC in it; the "
                     "plantmesh-server package installs it, PLANTMESH_CBC_SOLVER names another)"));
  }
  return program;
}

}  // namespace plantmesh::planning::propose
