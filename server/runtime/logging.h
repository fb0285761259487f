// Logging: spdlog to stderr (stdout is reserved for the one `LISTENING host:port` line
// that process supervisors and tests read).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "server/runtime/audit.h"

namespace plantmesh::runtime {

// Installs the default logger writing to stderr at `level` (trace, debug, info, warn,
// error, critical, off). INVALID_ARGUMENT for another level name.
absl::Status InitLogging(const std::string& level);

// An audit sink that writes each record as a log line (logger "audit"), for a server
// that hosts no service with a database (only SystemService): denials still leave a
// trace.
std::unique_ptr<AuditSink> MakeLogAuditSink();

}  // namespace plantmesh::runtime
