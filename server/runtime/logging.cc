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
#include "plantmesh/common/time_text.h"

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
// lines in one PostgreSQL outage). Trailing breaks go. The other controls but the tab
// (C0, DEL, C1) are written as \u001B: a terminal that shows the log would run them
// (outside testing: a grpc-timeout header of ESC sequences sent to the probe port, which
// gRPC's own log line quotes, cleared the screen of `tail -f` and printed a fake alert).
class OneLineMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    for (size_t i = 0; i < text.size(); ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      // U+0080-009F in UTF-8: C2 80 to C2 9F.
      const bool c1 = c == 0xC2 && i + 1 < text.size() &&
                      static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                      static_cast<unsigned char>(text[i + 1]) <= 0x9F;
      if (c == '\n') {
        dest.append(std::string_view("\\n"));
      } else if (c == '\r') {
        dest.append(std::string_view("\\r"));
      } else if ((c < 0x20 && c != '\t') || c == 0x7F || c1) {
        const unsigned code = c1 ? static_cast<unsigned char>(text[++i]) : c;
        const std::string escape = absl::StrFormat("\\u%04X", code);
        dest.append(escape.data(), escape.data() + escape.size());
      } else {
        dest.push_back(static_cast<char>(c));
      }
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
          .Add("request_id", record.trace_id);
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
