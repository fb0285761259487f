#include "server/runtime/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "plantmesh/common/blank_text.h"
#include "plantmesh/common/time_text.h"
#include "plantmesh/common/unicode_form.h"
#include "plantmesh/common/utf8.h"

namespace plantmesh::runtime {
namespace {

thread_local const LogFields* current_fields = nullptr;
std::atomic<bool> json_logging{false};

// spdlog formats on the thread that logs (synchronous sinks), so the thread's fields
// are those of the line.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string time =
        absl::FormatTime("%E4Y-%m-%dT%H:%M:%E6SZ", absl::FromChrono(msg.time), absl::UTCTimeZone());
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    const std::string line =
        JsonLogLine(time, std::string_view(level.data(), level.size()),
                    std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                    std::string_view(msg.payload.data(), msg.payload.size()), current_fields);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// The message of a text line as one line: a line break inside it (a dependency's error
// text: libpq's "could not connect ...\n\tIs the server running ...") becomes "\n", so
// a collector that reads a record per line keeps it whole (outside testing: 181 broken
// lines in one PostgreSQL outage). Trailing breaks go. What else would change how the
// line displays is written as an escape, as messages write it (errors.h QuoteForMessage):
// the other controls but the tab (C0, DEL, C1) and the invisible, bidirectional and
// unassigned characters as \u001B, a byte that is not UTF-8 as \xFF (outside testing: a
// grpc-timeout header of escape sequences, sent to the probe port, was quoted raw by
// gRPC's own log line: `tail -f` cleared the screen and showed a fake alert; then 0x9B,
// an 8-bit CSI, and U+202E, which showed the rest of the line reversed).
class OneLineMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    std::string escape;
    for (size_t at = 0; at < text.size();) {
      const auto c = static_cast<unsigned char>(text[at]);
      if (c == '\t' || (c >= 0x20 && c < 0x7F)) {
        dest.push_back(static_cast<char>(c));
        ++at;
        continue;
      }
      escape.clear();
      size_t length = 1;
      if (c == '\n') {
        escape = "\\n";
      } else if (c == '\r') {
        escape = "\\r";
      } else if (c < 0x80) {
        common::AppendCodePointEscape(&escape, c);
      } else if (const common::Utf8Char d = common::DecodeUtf8At(text, at);
                 d.code_point == common::kNotUtf8) {
        escape = absl::StrFormat("\\x%02X", c);
      } else if (common::DisplaysEscaped(d.code_point)) {
        common::AppendCodePointEscape(&escape, d.code_point);
        length = d.length;
      } else {
        escape.assign(text.substr(at, d.length));
        length = d.length;
      }
      dest.append(escape.data(), escape.data() + escape.size());
      at += length;
    }
  }
  std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
    return std::make_unique<OneLineMessage>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> NewTextLogFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<OneLineMessage>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %*");
  return formatter;
}

std::string JsonLogLine(std::string_view time_rfc3339, std::string_view level,
                        std::string_view logger, std::string_view message,
                        const LogFields* fields) {
  nlohmann::ordered_json line;
  line["time"] = time_rfc3339;
  line["level"] = level;
  line["logger"] = logger;
  line["message"] = message;
  if (fields != nullptr) {
    for (const auto& [key, value] : fields->fields()) {
      std::visit([&line, &key = key](const auto& v) { line[key] = v; }, value);
    }
  }
  // A log line must never throw: invalid UTF-8 (a client's bytes) becomes U+FFFD.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::unique_ptr<spdlog::formatter> NewJsonLogFormatter() {
  return std::make_unique<JsonFormatter>();
}

ScopedLogFields::ScopedLogFields(const LogFields* fields) : previous_(current_fields) {
  current_fields = fields;
}

ScopedLogFields::~ScopedLogFields() { current_fields = previous_; }

bool JsonLogging() { return json_logging.load(std::memory_order_relaxed); }

namespace {

// Protobuf's own log lines, through the default logger (in its format) instead of
// protobuf's plain-text lines on stderr. Protobuf logs at ERROR what a client caused: a
// string field that is not UTF-8 in a request, which the call already answers
// INVALID_ARGUMENT naming the field (outside testing: each such request wrote an
// unformatted "[libprotobuf ERROR ...]" line, breaking JSON logs, and any client could
// write them at will). So they are debug lines; FATAL stays critical (protobuf aborts).
void LogProtobufMessage(google::protobuf::LogLevel level, const char* filename, int line,
                        const std::string& message) {
  spdlog::default_logger_raw()->log(
      level == google::protobuf::LOGLEVEL_FATAL ? spdlog::level::critical : spdlog::level::debug,
      "protobuf {}:{}: {}", filename, line, message);
}

}  // namespace

absl::Status InitLogging(const std::string& level, const std::string& format) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // from_str maps unknown names to `off`; only "off" itself may mean off.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        "log-level: must be one of trace, debug, info, warn, error, critical, off; got '" + level +
        "'");
  }
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError("log-format: must be text or json; got '" + format + "'");
  }
  auto logger = std::make_shared<spdlog::logger>("plantmesh",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_formatter(NewTextLogFormatter());
  }
  json_logging.store(format == "json", std::memory_order_relaxed);
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  google::protobuf::SetLogHandler(&LogProtobufMessage);
  return absl::OkStatus();
}

namespace {

class LogAuditSink final : public AuditSink {
 public:
  void Record(AuditRecord record) override {
    LogFields fields;
    if (JsonLogging()) {
      fields
          .Add("audit_time",
               absl::FormatTime("%E4Y-%m-%dT%H:%M:%E6SZ", record.time, absl::UTCTimeZone()))
          .Add("peer", record.identity)
          .Add("roles", absl::StrJoin(record.roles, ","))
          .Add("method", record.method)
          .Add("status_code", static_cast<int64_t>(record.status_code))
          .Add("trace_id", record.trace_id);
    }
    ScopedLogFields scope(&fields);
    spdlog::info("audit time={} identity={} roles={} method={} code={} trace={} message={}",
                 Rfc3339Utc(record.time), record.identity, absl::StrJoin(record.roles, ","),
                 record.method, record.status_code, record.trace_id, record.status_message);
  }
  void Flush(absl::Duration) override { spdlog::default_logger()->flush(); }
};

}  // namespace

std::unique_ptr<AuditSink> MakeLogAuditSink() { return std::make_unique<LogAuditSink>(); }

}  // namespace plantmesh::runtime
