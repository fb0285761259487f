// What only the fake has: its hooks for handler tests. Everything the two stores share
// is in the conformance suite (store_conformance.h).
#include "server/defect/testing/fake_store.h"

#include "gtest/gtest.h"
#include "server/defect/testing/store_test_helpers.h"

namespace plantmesh::defect::testing {
namespace {

TEST(FakeDefectStoreTest, FailNextCallFailsExactlyTheNextCallAndChangesNothing) {
  FakeDefectStore store;
  ASSERT_TRUE(store
                  .CreateCategory({"PAINT-SCRATCH", "Paint scratch", Severity::kMinor},
                                  Ctx("ops", "CreateDefectCategory"), nullptr)
                  .ok());
  store.FailNextCall(absl::UnavailableError("PostgreSQL connection lost"));
  absl::StatusOr<Replayable<Defect>> failed =
      store.CreateDefect(Draft("VIN-1"), Ctx("op", "CreateDefect", "r1"), EncodeDefect);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store.Events().empty());
  EXPECT_EQ(store.RequestLogSize(), 0u);
  // The retry is a call of its own, and the first defect gets id 1: nothing was used up.
  absl::StatusOr<Defect> created =
      ValueOf(store.CreateDefect(Draft("VIN-1"), Ctx("op", "CreateDefect", "r1"), EncodeDefect));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->id, 1);
  EXPECT_EQ(store.RequestLogSize(), 1u);

  store.FailNextCall(absl::InternalError("boom"));
  EXPECT_EQ(store.GetDefect(1).status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(store.GetDefect(1).ok());
}

TEST(FakeDefectStoreTest, TakeEventsHandsOverEachEventOnce) {
  FakeDefectStore store;
  ASSERT_TRUE(store
                  .CreateCategory({"PAINT-SCRATCH", "Paint scratch", Severity::kMinor},
                                  Ctx("ops", "CreateDefectCategory"), nullptr)
                  .ok());
  ASSERT_TRUE(store.CreateDefect(Draft("VIN-1"), Ctx("op", "CreateDefect"), EncodeDefect).ok());
  ASSERT_TRUE(store.CreateDefect(Draft("VIN-2"), Ctx("op", "CreateDefect"), EncodeDefect).ok());
  std::vector<OutboxEvent> taken = store.TakeEvents();
  ASSERT_EQ(taken.size(), 2u);
  v1::DefectEvent second;
  ASSERT_TRUE(second.ParseFromString(taken[1].payload));
  EXPECT_EQ(second.defect().vin(), "VIN-2");
  EXPECT_TRUE(store.TakeEvents().empty());
  ASSERT_TRUE(store.CreateDefect(Draft("VIN-3"), Ctx("op", "CreateDefect"), EncodeDefect).ok());
  EXPECT_EQ(store.Events().size(), 1u);
}

}  // namespace
}  // namespace plantmesh::defect::testing
