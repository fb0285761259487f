// plantctl's exit codes, the same for every command (the --help footer, main.cc, lists
// them for users).
#pragma once

#include "absl/status/status.h"

namespace plantmesh::cli {

inline constexpr int kExitLocalFailure = 1;  // files, TLS setup
inline constexpr int kExitUsage = 2;
inline constexpr int kExitStatusBase = 10;    // + the call's gRPC status code
inline constexpr int kExitInterrupted = 130;  // Ctrl-C: 128 + SIGINT, as shells report it

// 0 for OK, else kExitStatusBase + the status code (13 for INVALID_ARGUMENT).
inline int ExitCodeFor(const absl::Status& status) {
  return status.ok() ? 0 : kExitStatusBase + static_cast<int>(status.code());
}

}  // namespace plantmesh::cli
