// CBC runs in a program of its own (`plantmesh-cbc-solver`, cbc_solver_main.cc), started
// for each run, so that a run can be stopped at any moment.
//
// CBC checks its time limit only between the steps of its search: its first LP solve of
// a large model alone ran for minutes past a 10 s limit, could not be cancelled, and held
// the solver while the server drained (outside testing). A process can always be killed.
// It is a program started by posix_spawn, not a fork of the server computing on: after
// fork(2) a multithreaded process may call only async-signal-safe functions (POSIX), and
// the CBC run allocates; under AddressSanitizer such a child hung on an allocator lock
// some gRPC thread held at the fork.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace plantmesh::planning::propose::internal {

// The program is CbcSolverProgram()'s (lot_sizing.h).
//
// Runs `program` with `arguments`, `input` as its standard input, and returns what it
// wrote to its standard output once it exited with code 0 — or nullopt when it was
// killed (SIGKILL) because `kill_at` passed or `stop()` (polled every 20 ms, may be
// empty) turned true first. Its standard error is this process's. INTERNAL when it cannot
// be started, exits with another code, or ends by a signal of its own (a crash), naming
// the program and the code or signal.
absl::StatusOr<std::optional<std::string>> RunSolverProgram(
    const std::string& program, const std::vector<std::string>& arguments, const std::string& input,
    absl::Time kill_at, const std::function<bool()>& stop);

}  // namespace plantmesh::planning::propose::internal
