// plantmesh-cbc-solver: one CBC run for plantmesh-server's ProposePlan (solver_process.h
// says why a program of its own). Reads a CbcProblem (cbc_problem.h) on standard input,
// writes its CbcRun on standard output, exits 0; the server kills it when the call's
// time is up. Not for people: its input is binary and changes with each version.
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "server/planning/propose/cbc_problem.h"

namespace {

using plantmesh::planning::propose::internal::DecodeProblem;
using plantmesh::planning::propose::internal::EncodeRun;
using plantmesh::planning::propose::internal::SolveWithCbc;

constexpr absl::string_view kParentFlag = "--parent-pid=";

bool ReadAll(int fd, std::string* out) {
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out->append(buffer, static_cast<size_t>(n));
  }
}

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

}  // namespace

int main(int argc, char** argv) {
  pid_t parent = 0;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    int value = 0;
    if (absl::ConsumePrefix(&arg, kParentFlag) && absl::SimpleAtoi(arg, &value)) {
      parent = value;
      continue;
    }
    std::fprintf(stderr,
                 "usage: %s [--parent-pid=PID] < problem > run\n"
                 "plantmesh-server's CBC solver (ProposePlan): it reads one problem in its own\n"
                 "binary format on standard input and writes what CBC found on standard output.\n"
                 "With --parent-pid it dies with that process.\n",
                 argv[0]);
    return 2;
  }
  if (parent != 0) {
    // Dies with the server, even one killed with SIGKILL; it may already be gone.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) return 3;
  }
  std::string input;
  if (!ReadAll(STDIN_FILENO, &input)) {
    std::perror("plantmesh-cbc-solver: reading the problem");
    return 4;
  }
  auto problem = DecodeProblem(input);
  const std::string answer = EncodeRun(problem.ok() ? SolveWithCbc(*problem) : problem.status());
  if (!WriteAll(STDOUT_FILENO, answer)) {
    std::perror("plantmesh-cbc-solver: writing the answer");
    return 4;
  }
  return 0;
}
