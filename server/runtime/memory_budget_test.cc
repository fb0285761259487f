#include "server/runtime/memory_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "server/runtime/errors.h"

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

// Outside testing (sweep 45): a full download budget was a bare RESOURCE_EXHAUSTED, which
// a client could not tell from a full connection pool; it names its budget and figures.
TEST(MemoryBudgetTest, ARefusalNamesItsBudget) {
  MemoryBudget budget(100, "download", "download-memory-bytes");
  MemoryBudget::Reservation a = MemoryBudget::Open(&budget);
  ASSERT_TRUE(a.Grow(90).ok());
  const absl::Status refused = a.Grow(20);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(std::string(refused.message()),
            "the server's download memory budget (download-memory-bytes) is in use by other "
            "calls (90 of 100 bytes held, 20 more needed); retry later");
  const ErrorInfoView info = ErrorInfoOf(refused);
  EXPECT_EQ(info.reason, "DOWNLOAD_MEMORY_EXHAUSTED");
  EXPECT_EQ(info.metadata.at("held_bytes"), "90");
  EXPECT_EQ(info.metadata.at("needed_bytes"), "20");
  EXPECT_EQ(info.metadata.at("setting"), "download-memory-bytes");
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
