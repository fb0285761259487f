// plantctl's exit codes, the same for every command (the --help footer, main.cc, lists
// them for users).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace plantmesh::cli {

inline constexpr int kExitLocalFailure = 1;  // files, TLS setup
inline constexpr int kExitUsage = 2;
inline constexpr int kExitStatusBase = 10;    // + the call's gRPC status code
inline constexpr int kExitInterrupted = 130;  // Ctrl-C: 128 + SIGINT, as shells report it

// What marks a status as this machine's failure, not the call's (LocalFailure), and as
// the user's input disagreeing with itself before any call (UsageFailure).
inline constexpr char kLocalFailureUrl[] = "type.plantmesh.dev/plantctl.LocalFailure";
inline constexpr char kUsageFailureUrl[] = "type.plantmesh.dev/plantctl.UsageFailure";

inline absl::Status Marked(absl::Status status, const char* url) {
  status.SetPayload(url, absl::Cord());
  return status;
}

// A failure on this machine, such as a data file that cannot be read or written: exit
// kExitLocalFailure, described as "plantctl: <message>", never as a gRPC status (outside
// testing: a --to-file that could not be written was "INTERNAL", exit 23, which reads as
// the server's fault).
inline absl::Status LocalFailure(absl::string_view message) {
  return Marked(absl::FailedPreconditionError(message), kLocalFailureUrl);
}
inline bool IsLocalFailure(const absl::Status& status) {
  return status.GetPayload(kLocalFailureUrl).has_value();
}

// Flags or files that disagree, found before anything was sent: exit kExitUsage, as a
// flag CLI11 refuses (outside testing: a --metadata.sha256 that is not the --from-file's
// exited 13, which reads as the server's refusal).
inline absl::Status UsageFailure(absl::string_view message) {
  return Marked(absl::InvalidArgumentError(message), kUsageFailureUrl);
}
inline bool IsUsageFailure(const absl::Status& status) {
  return status.GetPayload(kUsageFailureUrl).has_value();
}

// A failed call whose change may have been made all the same: it failed on the way
// (DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED) or in the server (UNKNOWN, INTERNAL), so its
// request_id is what a retry needs. Any other code refused what the request asks.
inline bool OutcomeUnknown(absl::StatusCode code) {
  return code == absl::StatusCode::kDeadlineExceeded || code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kCancelled || code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kInternal;
}

// 0 for OK, kExitLocalFailure for a LocalFailure, kExitUsage for a UsageFailure, else
// kExitStatusBase + the status code (13 for INVALID_ARGUMENT).
inline int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return 0;
  if (IsLocalFailure(status)) return kExitLocalFailure;
  if (IsUsageFailure(status)) return kExitUsage;
  return kExitStatusBase + static_cast<int>(status.code());
}

}  // namespace plantmesh::cli
