// Logging: spdlog to stderr (stdout is reserved for the one `LISTENING host:port` line
// that process supervisors and tests read), as text for a terminal or as JSON lines for
// services and containers (log-format).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "server/runtime/audit.h"

namespace spdlog {
class formatter;
}

namespace plantmesh::runtime {

// Installs the default logger writing to stderr at `level` (trace, debug, info, warn,
// error, critical, off) in `format`:
//   text  "2024-05-01T12:34:56.123456Z info rpc ... code=OK latency_ms=1.2 ...", one line
//         per record (a line break in the message is written "\n")
//   json  one object per line: {"time":"2024-05-01T12:34:56.123456Z" (RFC 3339, UTC),
//         "level":"info", "logger":"plantmesh", "message":"...", then the fields of the
//         line's LogFields (a call's: service, method, peer, peer_address, trace_id,
//         status, request_id, latency_ms, error_id)}. Values are JSON-escaped; bytes that are not
//         UTF-8 become U+FFFD.
// INVALID_ARGUMENT naming log-level or log-format for another value.
absl::Status InitLogging(const std::string& level, const std::string& format = "text");

// Whether the default logger writes JSON (InitLogging's format): callers skip
// collecting fields that only JSON lines carry.
bool JsonLogging();

// Structured fields of the log lines a thread writes while a ScopedLogFields holds
// them: keys and values of the JSON line (text lines carry the same facts in their
// message).
class LogFields {
 public:
  using Value = std::variant<std::string, int64_t, double>;
  LogFields& Add(std::string key, std::string value) {
    fields_.emplace_back(std::move(key), Value(std::move(value)));
    return *this;
  }
  LogFields& Add(std::string key, int64_t value) {
    fields_.emplace_back(std::move(key), Value(value));
    return *this;
  }
  LogFields& Add(std::string key, double value) {
    fields_.emplace_back(std::move(key), Value(value));
    return *this;
  }
  const std::vector<std::pair<std::string, Value>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, Value>> fields_;
};

// Attaches `fields` (not owned) to the log lines this thread writes until destroyed.
class ScopedLogFields {
 public:
  explicit ScopedLogFields(const LogFields* fields);
  ~ScopedLogFields();
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

 private:
  const LogFields* previous_;
};

// The JSON line (without the newline) of a log record, as the json format writes it.
// For tests of the format.
std::string JsonLogLine(std::string_view time_rfc3339, std::string_view level,
                        std::string_view logger, std::string_view message, const LogFields* fields);

// The formatters of the json and text formats, for a sink of one's own (tests). A text
// line is one line whatever its message holds (line breaks written as "\n").
std::unique_ptr<spdlog::formatter> NewJsonLogFormatter();
std::unique_ptr<spdlog::formatter> NewTextLogFormatter();

// An audit sink that writes each record as a log line (logger "audit"), for a server
// that hosts no service with a database (only SystemService): denials still leave a
// trace.
std::unique_ptr<AuditSink> MakeLogAuditSink();

}  // namespace plantmesh::runtime
