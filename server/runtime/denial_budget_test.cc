#include "server/runtime/denial_budget.h"

#include <gtest/gtest.h>

#include <string>

namespace plantmesh::runtime {
namespace {

TEST(DenialBudgetTest, ABurstThenTheRateAndTheUntoldAreToldByTheNextWritten) {
  DenialBudget budget(/*per_second=*/10, /*burst=*/3);
  const absl::Time t0 = absl::FromUnixSeconds(1780000000);
  int64_t untold = -1;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(budget.Admit("spiffe://plantmesh.local/device/nobody", t0, &untold)) << i;
    EXPECT_EQ(untold, 0);
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(budget.Admit("spiffe://plantmesh.local/device/nobody", t0, &untold)) << i;
  }
  // Another identity has its own budget.
  EXPECT_TRUE(budget.Admit("spiffe://plantmesh.local/user/anna", t0, &untold));
  EXPECT_EQ(untold, 0);
  // 100 ms later one more is written, and it tells of the 5 that were not.
  EXPECT_FALSE(
      budget.Admit("spiffe://plantmesh.local/device/nobody", t0 + absl::Milliseconds(50), &untold));
  EXPECT_TRUE(budget.Admit("spiffe://plantmesh.local/device/nobody", t0 + absl::Milliseconds(100),
                           &untold));
  EXPECT_EQ(untold, 6);
  // A quiet second refills the burst, not more.
  const absl::Time later = t0 + absl::Seconds(10);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(budget.Admit("spiffe://plantmesh.local/device/nobody", later, &untold)) << i;
    EXPECT_EQ(untold, 0);
  }
  EXPECT_FALSE(budget.Admit("spiffe://plantmesh.local/device/nobody", later, &untold));
}

TEST(DenialBudgetTest, AClockThatGoesBackRefillsNothing) {
  DenialBudget budget(10, 1);
  const absl::Time t0 = absl::FromUnixSeconds(1780000000);
  int64_t untold = 0;
  EXPECT_TRUE(budget.Admit("a", t0, &untold));
  EXPECT_FALSE(budget.Admit("a", t0 - absl::Seconds(5), &untold));
  EXPECT_FALSE(budget.Admit("a", t0, &untold));
  EXPECT_TRUE(budget.Admit("a", t0 + absl::Milliseconds(100), &untold));
  EXPECT_EQ(untold, 2);
}

}  // namespace
}  // namespace plantmesh::runtime
