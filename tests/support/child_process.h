// Child processes and scratch directories for the test servers: every child runs in
// its own process group, with stdout/stderr in a log file, and (when spawned from the
// main thread) dies with the test binary even if the binary crashes.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace plantmesh::testing::internal {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the program (absolute or on PATH)
  std::string log_file;           // stdout and stderr are appended here
  std::string run_as_user;        // switch to this user first (only when root)
  std::string stderr_file;        // if set, stderr goes here instead
  std::vector<std::string> env;   // extra NAME=VALUE entries for the child's environment
};

// The common case: a command, its log file, and maybe another user.
SpawnOptions Command(std::vector<std::string> argv, std::string log_file,
                     std::string run_as_user = "");

// Starts the program; the child is the leader of a new process group.
absl::StatusOr<pid_t> Spawn(const SpawnOptions& options);

// The exit code once the child has exited (128 + signal when killed), or
// DEADLINE_EXCEEDED. Reaps the child.
absl::StatusOr<int> WaitForExit(pid_t pid, absl::Duration timeout);

// True when the child has exited (and reaps it, storing the code in *exit_code).
bool HasExited(pid_t pid, int* exit_code);

// Sends `signal` to the child's whole process group.
void SignalGroup(pid_t pid, int signal);

// Runs a program to completion; INTERNAL with the log's contents on a non-zero exit.
absl::Status RunToCompletion(const SpawnOptions& options, absl::Duration timeout);

// A fresh directory /tmp/<prefix>XXXXXX (or under $TMPDIR).
absl::StatusOr<std::string> MakeTempDir(const std::string& prefix);

// Removes a directory and everything in it when it goes out of scope, so that a test's
// temporary directory does not outlive it (CI machines run the suite many times).
class RemoveTreeOnExit {
 public:
  explicit RemoveTreeOnExit(std::string path) : path_(std::move(path)) {}
  ~RemoveTreeOnExit();
  RemoveTreeOnExit(const RemoveTreeOnExit&) = delete;
  RemoveTreeOnExit& operator=(const RemoveTreeOnExit&) = delete;

 private:
  std::string path_;
};

// Whole file, or "" when unreadable.
std::string ReadFileOrEmpty(const std::string& path);

// Writes via a temporary file and rename, so a reader never sees half a file.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

// The first sanitizer report in a process's log (from its first line to the end of
// its "SUMMARY: ...Sanitizer: ..." line, or 8 KiB from a UBSan "runtime error" line
// when there is no summary), or "" when there is none.
std::string SanitizerReport(const std::string& log);

// Whether this runs as root (postgres then needs another user).
bool RunningAsRoot();

// Looks the program up on PATH; "" when missing.
std::string FindOnPath(const std::string& program);

}  // namespace plantmesh::testing::internal
