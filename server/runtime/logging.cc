#include "server/runtime/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

absl::Status InitLogging(const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // from_str maps unknown names to `off`; only "off" itself may mean off.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        "log-level: must be one of trace, debug, info, warn, error, critical, off; got '" + level +
        "'");
  }
  auto logger = std::make_shared<spdlog::logger>("plantmesh",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

namespace {

class LogAuditSink final : public AuditSink {
 public:
  void Record(AuditRecord record) override {
    spdlog::info("audit time={} identity={} roles={} method={} code={} trace={} message={}",
                 absl::FormatTime(record.time), record.identity, absl::StrJoin(record.roles, ","),
                 record.method, record.status_code, record.trace_id, record.status_message);
  }
  void Flush(absl::Duration) override { spdlog::default_logger()->flush(); }
};

}  // namespace

std::unique_ptr<AuditSink> MakeLogAuditSink() { return std::make_unique<LogAuditSink>(); }

}  // namespace plantmesh::runtime
