#include "server/runtime/memory_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

namespace plantmesh::runtime {
namespace {

TEST(MemoryBudgetTest, ChargesUpToTheCapacityAndReleasesOnDestruction) {
  MemoryBudget budget(100);
  {
    MemoryBudget::Reservation a = MemoryBudget::Open(&budget);
    MemoryBudget::Reservation b = MemoryBudget::Open(&budget);
    EXPECT_TRUE(a.Grow(60).ok());
    EXPECT_EQ(budget.used(), 60);
    absl::Status refused = b.Grow(41);
    EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
    EXPECT_EQ(b.bytes(), 0);  // nothing charged by a refused growth
    EXPECT_EQ(budget.used(), 60);
    EXPECT_TRUE(b.Grow(40).ok());
    EXPECT_EQ(budget.used(), 100);
    EXPECT_FALSE(a.Grow(1).ok());
    MemoryBudget::Reservation moved = std::move(a);
    EXPECT_EQ(moved.bytes(), 60);
    EXPECT_EQ(budget.used(), 100);  // moving does not release
    moved.Reset();
    EXPECT_EQ(budget.used(), 40);
  }
  EXPECT_EQ(budget.used(), 0);
}

TEST(MemoryBudgetTest, NoBudgetMeansNoLimit) {
  MemoryBudget::Reservation unlimited = MemoryBudget::Open(nullptr);
  EXPECT_TRUE(unlimited.Grow(int64_t{1} << 40).ok());
  EXPECT_FALSE(unlimited.Grow(-1).ok());
}

TEST(MemoryBudgetTest, ConcurrentChargesNeverExceedTheCapacity) {
  MemoryBudget budget(1000);
  std::atomic<int64_t> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        MemoryBudget::Reservation r = MemoryBudget::Open(&budget);
        for (int j = 0; j < 5; ++j) {
          if (!r.Grow(50).ok()) break;
          int64_t used = budget.used();
          int64_t seen = peak.load();
          while (used > seen && !peak.compare_exchange_weak(seen, used)) {
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(peak.load(), 1000);
  EXPECT_EQ(budget.used(), 0);
}

}  // namespace
}  // namespace plantmesh::runtime
