// Checks the driver's bookkeeping (counts, phases, failures, rate schedule). It never
// asserts speed: only counts and bounds that hold on any machine.
#include "bench/load_driver.h"

#include <atomic>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace plantmesh::bench {
namespace {

WorkerFactory Counting(std::atomic<int64_t>* calls, absl::Status outcome = absl::OkStatus()) {
  return [calls, outcome](int) -> absl::StatusOr<RequestFn> {
    return RequestFn([calls, outcome] {
      calls->fetch_add(1);
      return outcome;
    });
  };
}

TEST(LoadDriverTest, StopsAfterTheRequestedCount) {
  std::atomic<int64_t> calls{0};
  LoadOptions options;
  options.workers = 4;
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Seconds(60);  // upper bound only
  options.requests = 1000;
  absl::StatusOr<LoadResult> result = RunLoad(options, Counting(&calls));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->succeeded, 1000);
  EXPECT_EQ(result->failed, 0);
  EXPECT_EQ(result->latency.count(), 1000);
  EXPECT_EQ(calls.load(), 1000);
  EXPECT_GT(result->requests_per_second(), 0);
  ASSERT_EQ(result->succeeded_by_worker.size(), 4u);
  int64_t sum = 0;
  for (int64_t n : result->succeeded_by_worker) sum += n;
  EXPECT_EQ(sum, 1000);
  EXPECT_GT(result->worker_fairness(), 0.0);
  EXPECT_LE(result->worker_fairness(), 1.0 + 1e-9);
}

TEST(LoadDriverTest, WarmupRequestsAreNotMeasured) {
  std::atomic<int64_t> calls{0};
  LoadOptions options;
  options.workers = 2;
  options.warmup = absl::Milliseconds(50);
  options.duration = absl::Seconds(60);
  options.requests = 10;
  auto slow = [&calls](int) -> absl::StatusOr<RequestFn> {
    return RequestFn([&calls] {
      calls.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return absl::OkStatus();
    });
  };
  absl::StatusOr<LoadResult> result = RunLoad(options, slow);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->succeeded, 10);
  EXPECT_GT(calls.load(), 10);  // the warm-up ran too
}

TEST(LoadDriverTest, CountsFailuresByCode) {
  std::atomic<int64_t> calls{0};
  LoadOptions options;
  options.workers = 3;
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Seconds(60);
  options.requests = 30;
  absl::StatusOr<LoadResult> result =
      RunLoad(options, Counting(&calls, absl::UnavailableError("server gone")));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->succeeded, 0);
  EXPECT_EQ(result->failed, 30);
  EXPECT_EQ(result->failures_by_code.at("UNAVAILABLE"), 30);
  EXPECT_NE(result->first_failure.find("server gone"), std::string::npos);
  EXPECT_EQ(result->latency.count(), 0);
}

TEST(LoadDriverTest, RecordsEveryMeasuredCallWhenAsked) {
  std::atomic<int64_t> calls{0};
  LoadOptions options;
  options.workers = 3;
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Seconds(60);
  options.requests = 30;
  options.record_calls = true;
  const absl::Time before = absl::Now();
  absl::StatusOr<LoadResult> result =
      RunLoad(options, Counting(&calls, absl::UnavailableError("server gone")));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->calls.size(), 30u);
  for (size_t i = 0; i < result->calls.size(); ++i) {
    const CallRecord& call = result->calls[i];
    EXPECT_EQ(call.code, absl::StatusCode::kUnavailable);
    EXPECT_LE(before, call.issued);
    EXPECT_LE(call.issued, call.ended);
    EXPECT_GE(call.worker, 0);
    EXPECT_LT(call.worker, 3);
    if (i > 0) {
      EXPECT_LE(result->calls[i - 1].issued, call.issued) << "not by issue time";
    }
  }
  options.record_calls = false;
  result = RunLoad(options, Counting(&calls));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->calls.empty());
}

TEST(LoadDriverTest, DurationBoundsAClosedLoop) {
  std::atomic<int64_t> calls{0};
  LoadOptions options;
  options.workers = 2;
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Milliseconds(100);
  absl::StatusOr<LoadResult> result = RunLoad(options, Counting(&calls));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_GT(result->succeeded, 0);
  EXPECT_GE(result->elapsed, absl::ZeroDuration());
}

TEST(LoadDriverTest, OpenLoopIssuesNoMoreThanTheScheduleAllows) {
  std::atomic<int64_t> calls{0};
  LoadOptions options;
  options.workers = 4;
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Milliseconds(500);
  options.rate_per_second = 200;  // 100 due in the window
  absl::StatusOr<LoadResult> result = RunLoad(options, Counting(&calls));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LE(result->succeeded, 104);  // each worker's slots, rounded per worker
  EXPECT_GT(result->succeeded, 0);
}

TEST(LoadDriverTest, EveryWorkerIsBuiltOnceWithItsIndex) {
  absl::Mutex mu;
  std::set<int> built;
  LoadOptions options;
  options.workers = 5;
  options.warmup = absl::ZeroDuration();
  options.requests = 5;
  auto factory = [&](int index) -> absl::StatusOr<RequestFn> {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(built.insert(index).second);
    return RequestFn([] { return absl::OkStatus(); });
  };
  ASSERT_TRUE(RunLoad(options, factory).ok());
  EXPECT_EQ(built, (std::set<int>{0, 1, 2, 3, 4}));
}

TEST(LoadDriverTest, ASetupFailureAbortsTheRun) {
  std::atomic<int64_t> calls{0};
  LoadOptions options;
  options.workers = 3;
  options.requests = 10;
  auto factory = [&calls](int index) -> absl::StatusOr<RequestFn> {
    if (index == 1) return absl::UnauthenticatedError("certificate refused");
    return RequestFn([&calls] {
      calls.fetch_add(1);
      return absl::OkStatus();
    });
  };
  absl::StatusOr<LoadResult> result = RunLoad(options, factory);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(calls.load(), 0);
}

TEST(LoadDriverTest, FairnessIndexIsOneForEqualSharesAndOneOverNForOneWorker) {
  LoadResult equal;
  equal.succeeded_by_worker = {10, 10, 10, 10};
  EXPECT_DOUBLE_EQ(equal.worker_fairness(), 1.0);
  LoadResult starved;
  starved.succeeded_by_worker = {40, 0, 0, 0};
  EXPECT_DOUBLE_EQ(starved.worker_fairness(), 0.25);
  LoadResult none;
  EXPECT_DOUBLE_EQ(none.worker_fairness(), 0.0);
}

TEST(LoadDriverTest, RejectsBadOptions) {
  std::atomic<int64_t> calls{0};
  LoadOptions options;
  options.workers = 0;
  EXPECT_EQ(RunLoad(options, Counting(&calls)).status().code(), absl::StatusCode::kInvalidArgument);
  options.workers = 1;
  options.duration = absl::ZeroDuration();
  EXPECT_EQ(RunLoad(options, Counting(&calls)).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace plantmesh::bench
