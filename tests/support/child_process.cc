#include "tests/support/child_process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace plantmesh::testing::internal {
namespace {

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

bool OnMainThread() { return static_cast<pid_t>(syscall(SYS_gettid)) == getpid(); }

}  // namespace

bool RunningAsRoot() { return geteuid() == 0; }

SpawnOptions Command(std::vector<std::string> argv, std::string log_file, std::string run_as_user) {
  SpawnOptions options;
  options.argv = std::move(argv);
  options.log_file = std::move(log_file);
  options.run_as_user = std::move(run_as_user);
  return options;
}

std::string FindOnPath(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir, "/", program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

absl::StatusOr<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("Spawn: empty argv");
  std::string program = FindOnPath(options.argv[0]);
  if (program.empty()) {
    return absl::NotFoundError(absl::StrCat("program not found: ", options.argv[0]));
  }
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed (the test binary has threads).
  std::vector<char*> argv;
  for (const std::string& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  bool switch_user = !options.run_as_user.empty() && RunningAsRoot();
  uid_t uid = 0;
  gid_t gid = 0;
  if (switch_user) {
    struct passwd* pw = getpwnam(options.run_as_user.c_str());
    if (pw == nullptr) {
      return absl::NotFoundError(absl::StrCat("no such user: ", options.run_as_user));
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  int log_fd = open(options.log_file.empty() ? "/dev/null" : options.log_file.c_str(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("open ", options.log_file, ": ", strerror(errno)));
  }
  int err_fd = options.stderr_file.empty() ? -1
                                           : open(options.stderr_file.c_str(),
                                                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  // The environment is built before fork too.
  // options.env first, and the inherited entries it names left out: the first
  // entry of a name wins, and only one is kept.
  std::vector<std::string> env_storage;
  for (const std::string& entry : options.env) {
    std::string name = entry.substr(0, entry.find('='));
    bool seen = false;
    for (const std::string& kept : env_storage) seen = seen || kept.rfind(name + "=", 0) == 0;
    if (!seen) env_storage.push_back(entry);
  }
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const std::string& kept : env_storage) {
      overridden = overridden || kept.rfind(name + "=", 0) == 0;
    }
    if (!overridden) env_storage.push_back(entry);
  }
  std::vector<char*> envp;
  for (std::string& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);
  // A child of the main thread dies with the test binary; the parent-death signal is
  // tied to the spawning thread, so children of other threads rely on destructors.
  bool die_with_parent = OnMainThread();
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    close(null_fd);
    if (err_fd >= 0) close(err_fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(err_fd >= 0 ? err_fd : log_fd, STDERR_FILENO);
    if (switch_user) {
      if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
    }
    // Set after the user switch: a credential change clears it.
    if (die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(125);
    }
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);  // the test may have blocked signals
    execve(program.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so SignalGroup works at once
  close(log_fd);
  close(null_fd);
  if (err_fd >= 0) close(err_fd);
  return pid;
}

bool HasExited(pid_t pid, int* exit_code) {
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid) {
    if (exit_code != nullptr) *exit_code = ExitCodeOf(status);
    return true;
  }
  if (r < 0 && errno == ECHILD) {
    if (exit_code != nullptr) *exit_code = -1;
    return true;
  }
  return false;
}

absl::StatusOr<int> WaitForExit(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  // Polling: waitpid has no timeout and SIGCHLD belongs to the test binary.
  absl::Duration step = absl::Milliseconds(1);
  while (true) {
    int code = 0;
    if (HasExited(pid, &code)) return code;
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", pid, " still running after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(step);
    step = std::min(step * 2, absl::Milliseconds(50));
  }
}

void SignalGroup(pid_t pid, int signal) {
  if (pid > 0) kill(-pid, signal);
}

absl::Status RunToCompletion(const SpawnOptions& options, absl::Duration timeout) {
  absl::StatusOr<pid_t> pid = Spawn(options);
  if (!pid.ok()) return pid.status();
  absl::StatusOr<int> code = WaitForExit(*pid, timeout);
  if (!code.ok()) {
    SignalGroup(*pid, SIGKILL);
    (void)WaitForExit(*pid, absl::Seconds(10));
    return code.status();
  }
  if (*code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(options.argv, " "), " exited with ",
                                            *code, ":\n", ReadFileOrEmpty(options.log_file)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MakeTempDir(const std::string& prefix) {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/", prefix, "XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern, ": ", strerror(errno)));
  }
  return std::string(buffer.data());
}

RemoveTreeOnExit::~RemoveTreeOnExit() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string SanitizerReport(const std::string& log) {
  // Every report of ASan, LSan, UBSan and TSan ends with "SUMMARY: <Tool>Sanitizer: ..."
  // (print_summary is on by default) and starts with one of the lines below.
  size_t end = std::string::npos;
  for (size_t at = log.find("SUMMARY: "); at != std::string::npos;
       at = log.find("SUMMARY: ", at + 1)) {
    size_t tool_end = log.find_first_of(" \n", at + 9);
    if (tool_end == std::string::npos) break;
    if (absl::EndsWith(log.substr(at + 9, tool_end - at - 9), "Sanitizer:")) {
      end = log.find('\n', at);
      if (end == std::string::npos) end = log.size();
      break;
    }
  }
  if (end == std::string::npos) {
    // UBSan prints its SUMMARY line only with print_summary=1 (scripts/test-sanitizers
    // sets it); without, its "file:line:col: runtime error: ..." line starts the report.
    size_t at = log.find(": runtime error: ");
    if (at == std::string::npos) return "";
    size_t line_start = log.rfind('\n', at);
    size_t begin = line_start == std::string::npos ? 0 : line_start + 1;
    return log.substr(begin, 8192);
  }
  size_t begin = std::string::npos;
  for (const char* start : {"==ERROR: ", "WARNING: ThreadSanitizer", "runtime error: "}) {
    size_t at = log.find(start);
    if (at < end) begin = std::min(begin, at);
  }
  if (begin == std::string::npos) begin = end > 8192 ? end - 8192 : 0;
  size_t line_start = log.rfind('\n', begin);
  begin = line_start == std::string::npos ? 0 : line_start + 1;
  return log.substr(begin, end - begin);
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  std::string temporary = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << contents;
    if (!out.good()) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", temporary, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace plantmesh::testing::internal
