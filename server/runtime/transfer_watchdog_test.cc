#include "server/runtime/transfer_watchdog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "tests/support/poll.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::PollUntil;

TEST(TransferWatchdogTest, ATransferThatStopsMovingIsCancelledOnce) {
  TransferWatchdog watchdog(absl::Milliseconds(200));
  std::atomic<int> cancels{0};
  std::unique_ptr<TransferWatchdog::Watch> stalled =
      watchdog.Start("upload of a test photo", [&] { ++cancels; });
  ASSERT_TRUE(PollUntil([&] { return cancels.load() == 1; }, absl::Seconds(20)));
  // Once (its call is ending): a watch started now is cancelled by later rounds, which
  // leave the first alone.
  std::atomic<int> later{0};
  std::unique_ptr<TransferWatchdog::Watch> marker = watchdog.Start("later", [&] { ++later; });
  ASSERT_TRUE(PollUntil([&] { return later.load() == 1; }, absl::Seconds(20)));
  EXPECT_EQ(cancels.load(), 1);
}

TEST(TransferWatchdogTest, ATransferThatMovesIsLeftAloneAndAnEndedOneIsForgotten) {
  TransferWatchdog watchdog(absl::Milliseconds(300));
  std::atomic<int> moving_cancels{0};
  std::atomic<int> ended_cancels{0};
  std::unique_ptr<TransferWatchdog::Watch> moving =
      watchdog.Start("download that moves", [&] { ++moving_cancels; });
  watchdog.Start("download that ended at once", [&] { ++ended_cancels; }).reset();
  // A second stalled one tells when the watchdog has looked past the idle timeout.
  std::atomic<int> stalled_cancels{0};
  std::unique_ptr<TransferWatchdog::Watch> stalled =
      watchdog.Start("stalled", [&] { ++stalled_cancels; });
  ASSERT_TRUE(PollUntil(
      [&] {
        moving->Moved();
        return stalled_cancels.load() == 1;
      },
      absl::Seconds(20)));
  EXPECT_EQ(moving_cancels.load(), 0);
  EXPECT_EQ(ended_cancels.load(), 0);
}

TEST(TransferWatchdogTest, ZeroIdleTimeoutWatchesNothing) {
  TransferWatchdog watchdog(absl::ZeroDuration());
  bool cancelled = false;
  std::unique_ptr<TransferWatchdog::Watch> watch =
      watchdog.Start("never cancelled", [&] { cancelled = true; });
  watch.reset();
  EXPECT_FALSE(cancelled);
}

}  // namespace
}  // namespace plantmesh::runtime
