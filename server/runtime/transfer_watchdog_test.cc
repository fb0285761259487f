#include "server/runtime/transfer_watchdog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "tests/support/poll.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::PollUntil;

TEST(TransferWatchdogTest, ATransferThatStopsMovingIsCancelledUntilItsCallEnds) {
  TransferWatchdog watchdog(absl::Milliseconds(200));
  std::atomic<int> cancels{0};
  std::unique_ptr<TransferWatchdog::Watch> stalled =
      watchdog.Start("upload of a test photo", [&] { ++cancels; });
  // Again while the call has not ended (its end may wait on a busy step)...
  ASSERT_TRUE(PollUntil([&] { return cancels.load() >= 2; }, absl::Seconds(20)));
  // ...and no more once it has: a watch started now is cancelled by later rounds.
  // (One thread calls them all, round after round: once the marker was cancelled, no call
  // for the ended one is still under way.)
  stalled.reset();
  std::atomic<int> later{0};
  std::unique_ptr<TransferWatchdog::Watch> marker = watchdog.Start("later", [&] { ++later; });
  ASSERT_TRUE(PollUntil([&] { return later.load() >= 1; }, absl::Seconds(20)));
  const int after_end = cancels.load();
  ASSERT_TRUE(PollUntil([&] { return later.load() >= 3; }, absl::Seconds(20)));
  EXPECT_EQ(cancels.load(), after_end);
}

TEST(TransferWatchdogTest, ATransferThatMovesIsLeftAloneAndAnEndedOneIsForgotten) {
  // The moving transfer moves every few milliseconds from this thread: the idle timeout
  // is long beside any stall a busy machine or a sanitizer gives the thread.
  TransferWatchdog watchdog(absl::Seconds(2));
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
        return stalled_cancels.load() >= 1;
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
