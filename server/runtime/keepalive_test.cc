// The keepalive policy's numbers and the warning a too-frequent pinger leaves in the log
// (the whole path, with a real grpc-js client, is tests/e2e/node_keepalive_test.sh).
#include "server/runtime/keepalive.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace plantmesh::runtime {
namespace {

using ::testing::HasSubstr;

TEST(KeepaliveTest, StrikesOnlyForPingsMoreThanAFifthEarly) {
  EXPECT_EQ(EnforcedPingIntervalMs(5), 4000);
  EXPECT_EQ(EnforcedPingIntervalMs(10), 8000);
}

// Outside testing: any client could fill the server's log, one gRPC core error line per
// call with a malformed header.
TEST(GrpcLogLimiterTest, AtMostAWindowsLinesAreWrittenAndTheRestCounted) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  GrpcLogLimiter limiter;
  const GrpcLogLimiter::Clock::time_point t0{seconds(1'000)};
  int64_t held_back = -1;
  for (int i = 0; i < GrpcLogLimiter::kLinesPerWindow; ++i) {
    EXPECT_TRUE(limiter.Admit(t0 + milliseconds(i), &held_back));
    EXPECT_EQ(held_back, 0);
  }
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(limiter.Admit(t0 + seconds(30), &held_back));
  EXPECT_EQ(held_back, 0);
  // The next window writes again and reports, once, what the last one held back.
  EXPECT_TRUE(limiter.Admit(t0 + GrpcLogLimiter::kWindow, &held_back));
  EXPECT_EQ(held_back, 7);
  EXPECT_TRUE(limiter.Admit(t0 + GrpcLogLimiter::kWindow + seconds(1), &held_back));
  EXPECT_EQ(held_back, 0);
}

TEST(KeepaliveTest, TheGoawayForTooManyPingsNamesThePeerAndThePolicy) {
  // gRPC 1.51's line, and the form of later versions.
  for (const char* line :
       {"ipv4:10.0.0.7:51234: Sending goaway err=UNKNOWN:too_many_pings {http2_error:11, "
        "created_time:\"2026-11-21T06:00:00Z\"}",
        "ipv4:10.0.0.7:51234 SERVER: Sending goaway last_new_stream_id=3 err=UNKNOWN:"
        "too_many_pings {http2_error:11}"}) {
    std::optional<std::string> warning = TooManyPingsWarning(line, 5);
    ASSERT_TRUE(warning.has_value()) << line;
    EXPECT_THAT(*warning, HasSubstr("client ipv4:10.0.0.7:51234 pinged too often"));
    EXPECT_THAT(*warning, HasSubstr("GOAWAY ENHANCE_YOUR_CALM \"too_many_pings\""));
    EXPECT_THAT(*warning, HasSubstr("every 5 s or more slowly (min-ping-seconds"));
    EXPECT_THAT(*warning, HasSubstr("sooner than 4000 ms"));
    EXPECT_THAT(*warning, HasSubstr("after 3 strikes"));
    EXPECT_THAT(*warning, HasSubstr("grpc.keepalive_time_ms >= 5000"));
  }
  // Other GOAWAYs (shutdown, max connection age) and other lines are not about pings.
  EXPECT_EQ(TooManyPingsWarning("ipv4:10.0.0.7:51234: Sending goaway err=UNKNOWN:Server "
                                "shutdown {}",
                                5),
            std::nullopt);
  EXPECT_EQ(TooManyPingsWarning("too_many_pings", 5), std::nullopt);
}

}  // namespace
}  // namespace plantmesh::runtime
