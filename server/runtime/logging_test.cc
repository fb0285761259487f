#include "server/runtime/logging.h"

#include <gmock/gmock.h>
#include <google/protobuf/wrappers.pb.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace plantmesh::runtime {
namespace {

TEST(JsonLogLine, CarriesTheFieldsEscaped) {
  LogFields fields;
  fields.Add("service", std::string("plantmesh.defect.v1.DefectService"))
      .Add("method", std::string("CreateDefect"))
      .Add("peer", std::string("spiffe://plantmesh.local/user/\"anna\"\n"))
      .Add("status", std::string("OK"))
      .Add("latency_ms", 1.25)
      .Add("count", int64_t{7});
  const std::string line = JsonLogLine("2024-05-01T12:34:56.123456Z", "info", "plantmesh",
                                       "tab\there, quote \" and \x01 control", &fields);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["time"], "2024-05-01T12:34:56.123456Z");
  EXPECT_EQ(parsed["level"], "info");
  EXPECT_EQ(parsed["logger"], "plantmesh");
  EXPECT_EQ(parsed["message"], "tab\there, quote \" and \x01 control");
  EXPECT_EQ(parsed["peer"], "spiffe://plantmesh.local/user/\"anna\"\n");
  EXPECT_EQ(parsed["method"], "CreateDefect");
  EXPECT_DOUBLE_EQ(parsed["latency_ms"].get<double>(), 1.25);
  EXPECT_EQ(parsed["count"], 7);
  // The standard fields come first, in this order, for people reading the raw lines.
  EXPECT_EQ(line.rfind("{\"time\":", 0), 0u);
}

TEST(JsonLogLine, InvalidUtf8BecomesReplacementCharacters) {
  const std::string line = JsonLogLine("t", "warning", "plantmesh", "bad \xff\xfe bytes", nullptr);
  const nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["message"], "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
}

// Outside testing: a request with a string that is not UTF-8 made protobuf write an
// unformatted "[libprotobuf ERROR ...]" line to stderr, in JSON mode too.
TEST(InitLogging, ProtobufsLinesGoThroughTheLoggerAtDebugLevel) {
  ASSERT_TRUE(InitLogging("info", "json").ok());
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(NewJsonLogFormatter());
  auto logger = std::make_shared<spdlog::logger>("plantmesh", sink);
  spdlog::set_default_logger(logger);  // InitLogging's handler writes to the default logger
  google::protobuf::StringValue value;
  const std::string not_utf8("\x0a\x02\xff\xfe", 4);  // value = two bytes, not UTF-8
  logger->set_level(spdlog::level::info);
  EXPECT_FALSE(value.ParseFromString(not_utf8));
  EXPECT_EQ(out.str(), "") << "a client's bytes are no error of the server's";
  logger->set_level(spdlog::level::debug);
  EXPECT_FALSE(value.ParseFromString(not_utf8));
  const nlohmann::json line = nlohmann::json::parse(out.str());
  EXPECT_EQ(line["level"], "debug");
  EXPECT_NE(line["message"].get<std::string>().find("UTF-8"), std::string::npos) << line;
  ASSERT_TRUE(InitLogging("info", "text").ok());
}

// A logger that writes the text format into `out`.
spdlog::logger TextLogger(std::ostringstream& out) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(NewTextLogFormatter());
  return spdlog::logger("plantmesh", sink);
}

// Outside testing: libpq's "could not connect ...\n\tIs the server running ...\n" split
// one record over three lines of the text log.
TEST(InitLogging, ATextRecordIsOneLineWhateverItsMessageHolds) {
  std::ostringstream out;
  spdlog::logger logger = TextLogger(out);
  logger.warn("cannot connect: {}", "could not connect\n\tIs the server running?\r\n");
  logger.info("plain");
  std::istringstream lines(out.str());
  std::string first;
  std::string second;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  EXPECT_THAT(first, ::testing::MatchesRegex(
                         "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z warning cannot connect: "
                         "could not connect\\\\n\tIs the server running\\?"));
  EXPECT_THAT(second, ::testing::EndsWith(" info plain"));
  std::string rest;
  EXPECT_FALSE(std::getline(lines, rest)) << rest;
}

// Outside testing (sweep 57): gRPC's own log line quoted a grpc-timeout header of escape
// sequences, and `tail -f` on the text log cleared the screen and showed a fake alert.
TEST(InitLogging, ATextRecordWritesControlCharactersAsEscapes) {
  std::ostringstream out;
  spdlog::logger logger = TextLogger(out);
  logger.error("grpc: value={}", "\x1B]0;title\a\x1B[2J\x7F\u009B M\u00FCller\tend");
  // Re-test: a byte that is not UTF-8 (0x9B, an 8-bit CSI) and U+202E were written raw.
  logger.error("grpc: value={}",
               "\x9B"
               "31m \xFF\xFE \u202ERLO \u200B \uFFFE");
  std::istringstream lines(out.str());
  std::string first;
  std::string second;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  EXPECT_THAT(first, ::testing::EndsWith(" error grpc: value=\\u001B]0;title\\u0007\\u001B[2J"
                                         "\\u007F\\u009B M\u00FCller\tend"));
  EXPECT_THAT(second, ::testing::EndsWith(" error grpc: value=\\x9B31m \\xFF\\xFE \\u202ERLO "
                                          "\\u200B \\uFFFE"));
}

TEST(InitLogging, RefusesUnknownFormatAndLevel) {
  EXPECT_EQ(InitLogging("info", "xml").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InitLogging("loud", "text").code(), absl::StatusCode::kInvalidArgument);
}

TEST(InitLogging, JsonFormatWritesFieldsOfTheScope) {
  ASSERT_TRUE(InitLogging("info", "json").ok());
  EXPECT_TRUE(JsonLogging());
  // Same formatter, captured in a stream instead of stderr.
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(NewJsonLogFormatter());
  spdlog::logger logger("plantmesh", sink);
  {
    LogFields fields;
    fields.Add("request_id", std::string("r-1"));
    ScopedLogFields scope(&fields);
    logger.info("with {}", "fields");
  }
  logger.warn("without");
  std::istringstream lines(out.str());
  std::string first;
  std::string second;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  const nlohmann::json a = nlohmann::json::parse(first);
  const nlohmann::json b = nlohmann::json::parse(second);
  EXPECT_EQ(a["message"], "with fields");
  EXPECT_EQ(a["request_id"], "r-1");
  EXPECT_EQ(b["level"], "warning");
  EXPECT_FALSE(b.contains("request_id"));
  // RFC 3339 in UTC with microseconds: 2024-05-01T12:34:56.123456Z
  const std::string time = a["time"];
  ASSERT_EQ(time.size(), 27u) << time;
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time.back(), 'Z');
  ASSERT_TRUE(InitLogging("info", "text").ok());
  EXPECT_FALSE(JsonLogging());
}

}  // namespace
}  // namespace plantmesh::runtime
