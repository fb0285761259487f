// The handler executor: bounded queue (RESOURCE_EXHAUSTED beyond it), continuations of
// admitted calls never refused for a full queue, shutdown runs what is queued and joins
// every thread.
#include "server/runtime/executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace plantmesh::runtime {
namespace {

using ::testing::HasSubstr;

bool Eventually(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

TEST(ExecutorTest, RunsEveryTaskOnItsThreads) {
  Executor executor(ExecutorOptions{3, 1000, "test"});
  std::atomic<int> ran{0};
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(executor.Submit([&ran] { ++ran; }).ok());
  }
  ASSERT_TRUE(Eventually([&] { return ran.load() == 500; }));
  EXPECT_EQ(executor.threads(), 3);
}

TEST(ExecutorTest, RefusesNewCallsBeyondItsQueueWithResourceExhausted) {
  Executor executor(ExecutorOptions{1, 2, "test"});
  absl::Notification release;
  std::atomic<int> ran{0};
  ASSERT_TRUE(executor.Submit([&] { release.WaitForNotification(); }).ok());
  ASSERT_TRUE(Eventually([&] { return executor.busy() == 1; }));
  ASSERT_TRUE(executor.Submit([&] { ++ran; }).ok());
  ASSERT_TRUE(executor.Submit([&] { ++ran; }).ok());
  EXPECT_EQ(executor.queued(), 2u);

  absl::Status refused = executor.Submit([&] { ++ran; });
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("executor-queue = 2"));

  // The next step of a call already admitted is queued all the same, and does not
  // count against the queue of new calls.
  EXPECT_TRUE(executor.Continue([&] { ++ran; }));
  EXPECT_EQ(executor.queued(), 3u);
  EXPECT_EQ(executor.Submit([&] { ++ran; }).code(), absl::StatusCode::kResourceExhausted);

  release.Notify();
  ASSERT_TRUE(Eventually([&] { return ran.load() == 3; }));
  // Room again once the queue drained.
  EXPECT_TRUE(executor.Submit([&] { ++ran; }).ok());
  ASSERT_TRUE(Eventually([&] { return ran.load() == 4; }));
}

TEST(ExecutorTest, ShutdownRunsWhatIsQueuedThenRefusesEverything) {
  Executor executor(ExecutorOptions{1, 10, "test"});
  absl::Notification release;
  std::atomic<int> ran{0};
  ASSERT_TRUE(executor.Submit([&] { release.WaitForNotification(); }).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(executor.Submit([&] { ++ran; }).ok());
  std::thread stopper([&] { executor.Shutdown(); });
  // Shutdown waits for the running task, then runs the five queued ones.
  ASSERT_TRUE(
      Eventually([&] { return executor.Submit([] {}).code() == absl::StatusCode::kUnavailable; }));
  EXPECT_FALSE(executor.Continue([] {}));
  release.Notify();
  stopper.join();
  EXPECT_EQ(ran.load(), 5);
  executor.Shutdown();  // idempotent
}

}  // namespace
}  // namespace plantmesh::runtime
