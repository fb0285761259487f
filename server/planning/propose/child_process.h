// A computation run in a child process, so that it can be stopped at any moment.
//
// CBC checks its time limit only between the steps of its search: its first LP solve
// alone ran for minutes past a 10 s limit, could not be cancelled, and held the solver
// while the server drained (outside testing). A process can always be killed.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace plantmesh::planning::propose::internal {

// Runs `work` in a child process (fork(2)) and returns the bytes it returned, or nullopt
// when the child was killed (SIGKILL) because `kill_at` passed or `stop()` (polled every
// 20 ms) turned true first. The child inherits a copy of the parent's memory: `work`
// reads what the caller built and returns its answer as bytes; it must take no lock and
// use no file, socket or thread of the parent (gRPC's, the pool's): only computation.
// The child dies with the parent (PR_SET_PDEATHSIG) and never runs exit handlers.
// INTERNAL when fork or pipe fail, or the child ended on its own by a signal (a crash)
// or without its whole answer.
absl::StatusOr<std::optional<std::string>> RunInChildProcess(
    const std::function<std::string()>& work, absl::Time kill_at,
    const std::function<bool()>& stop);

}  // namespace plantmesh::planning::propose::internal
