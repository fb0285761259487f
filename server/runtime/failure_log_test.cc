#include "server/runtime/failure_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>
#include <vector>

#include "server/runtime/logging.h"

namespace plantmesh::runtime {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Outside testing: a job retried every second wrote a warning per retry through a whole
// PostgreSQL outage.
TEST(FailureLogTest, ARunOfFailuresIsLoggedAtItsStartEveryMinuteAndAtItsEnd) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(NewTextLogFormatter());
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("plantmesh", sink));

  absl::Time clock = absl::FromUnixSeconds(1'800'000'000);
  FailureLog log("rolling up", absl::Minutes(1), [&] { return clock; });
  const absl::Status down = absl::UnavailableError("PostgreSQL is unreachable");
  for (int second = 0; second < 150; ++second) {  // 2.5 minutes of failures, one a second
    log.Record(down, absl::Seconds(1));
    clock += absl::Seconds(1);
  }
  EXPECT_EQ(log.failures(), 150);
  log.Record(absl::OkStatus(), absl::Seconds(1));
  log.Succeeded();  // says nothing more
  EXPECT_EQ(log.failures(), 0);
  EXPECT_EQ(log.runs(), 1);
  log.Failed(down, absl::Seconds(1));  // a new run
  EXPECT_EQ(log.runs(), 2);

  spdlog::set_default_logger(previous);
  const std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 5u) << out.str();
  EXPECT_THAT(lines[0], HasSubstr("warning rolling up failed (tried again every 1s"));
  EXPECT_THAT(lines[0], HasSubstr("PostgreSQL is unreachable"));
  EXPECT_THAT(lines[1], HasSubstr("rolling up still fails (61 failures in 1m)"));
  EXPECT_THAT(lines[2], HasSubstr("rolling up still fails (121 failures in 2m)"));
  EXPECT_THAT(lines[3], HasSubstr("info rolling up works again, after 150 failures in 2m30s"));
  EXPECT_THAT(lines[4], HasSubstr("warning rolling up failed"));
}

}  // namespace
}  // namespace plantmesh::runtime
