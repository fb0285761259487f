// ConnectionHistory's throttle for resetting gRPC's reconnect backoff while calls wait
// (the behaviour end to end: e2e.restart).
#include "plantmesh/sdk/internal/connection.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace plantmesh::sdk::internal {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kInterval = absl::Milliseconds(250);

TEST(ConnectionHistoryTest, FirstWaitingCallResetsTheBackoff) {
  ConnectionHistory history;
  EXPECT_TRUE(history.ClaimBackoffReset(kStart, kInterval));
}

TEST(ConnectionHistoryTest, AtMostOneResetPerInterval) {
  ConnectionHistory history;
  ASSERT_TRUE(history.ClaimBackoffReset(kStart, kInterval));
  EXPECT_FALSE(history.ClaimBackoffReset(kStart, kInterval));
  EXPECT_FALSE(history.ClaimBackoffReset(kStart + absl::Milliseconds(249), kInterval));
  EXPECT_TRUE(history.ClaimBackoffReset(kStart + kInterval, kInterval));
  EXPECT_FALSE(history.ClaimBackoffReset(kStart + absl::Milliseconds(400), kInterval));
  EXPECT_TRUE(history.ClaimBackoffReset(kStart + absl::Seconds(10), kInterval));
}

TEST(ConnectionHistoryTest, ConcurrentCallersClaimOneReset) {
  ConnectionHistory history;
  std::atomic<int> claimed{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) claimed += history.ClaimBackoffReset(kStart, kInterval);
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(claimed.load(), 1);
}

}  // namespace
}  // namespace plantmesh::sdk::internal
