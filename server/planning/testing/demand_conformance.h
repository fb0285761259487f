// The demand part of the PlanningStore conformance suite (ImportDemand, DeleteDemand,
// DemandHistory), on the same backends and set-up as store_conformance.h.
#pragma once

#include <string>
#include <vector>

#include "server/planning/testing/store_conformance.h"

namespace plantmesh::planning::testing {

template <typename Backend>
class DemandStoreConformanceTest : public PlanningStoreConformanceTest<Backend> {
 protected:
  void CreateMuesli() {
    ASSERT_TRUE(this->store()
                    ->CreateProduct({"MUESLI-1KG", "Muesli", "pcs", {{"PACK-1", 4.0}}, {}},
                                    Ctx("CreateProduct", "muesli"), nullptr)
                    .ok());
  }
  std::vector<ProductDemandHistory> History(const std::vector<std::string>& ids = {},
                                            int days = 100000,
                                            absl::CivilDay through = kLastPlantDay) {
    absl::StatusOr<std::vector<ProductDemandHistory>> history =
        this->store()->DemandHistory(ids, days, through);
    EXPECT_TRUE(history.ok()) << history.status();
    return history.ok() ? *history : std::vector<ProductDemandHistory>{};
  }
};

TYPED_TEST_SUITE_P(DemandStoreConformanceTest);

TYPED_TEST_P(DemandStoreConformanceTest, ImportStoresThenReplacesByProductAndDay) {
  this->CreateMuesli();
  const absl::CivilDay d0(2025, 1, 6);
  std::vector<DemandRecord> records = {
      {"MUESLI-1KG", d0 + 1, 7.5}, {"GRANOLA-500G", d0, 10.25}, {"GRANOLA-500G", d0 + 1, 0.0}};
  absl::StatusOr<Replayable<DemandWriteCounts>> first =
      this->store()->ImportDemand(records, Ctx("ImportDemand"), nullptr);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->value->stored, 3);
  EXPECT_EQ(first->value->replaced, 0);

  records = {{"GRANOLA-500G", d0, 11.0}, {"GRANOLA-500G", d0 + 2, 3.0}};
  absl::StatusOr<Replayable<DemandWriteCounts>> second =
      this->store()->ImportDemand(records, Ctx("ImportDemand"), nullptr);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->value->stored, 1);
  EXPECT_EQ(second->value->replaced, 1);

  std::vector<ProductDemandHistory> all = this->History();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].product_id, "GRANOLA-500G");
  ASSERT_EQ(all[0].days.size(), 3u);
  EXPECT_EQ(all[0].days[0].day, d0);
  EXPECT_EQ(all[0].days[0].quantity, 11.0);
  EXPECT_EQ(all[0].days[1].quantity, 0.0);
  EXPECT_EQ(all[0].days[2].day, d0 + 2);
  EXPECT_EQ(all[1].product_id, "MUESLI-1KG");
  ASSERT_EQ(all[1].days.size(), 1u);
  EXPECT_EQ(all[1].days[0].quantity, 7.5);

  std::vector<ProductDemandHistory> one = this->History({"MUESLI-1KG"});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].product_id, "MUESLI-1KG");
}

TYPED_TEST_P(DemandStoreConformanceTest, ImportIsIdempotentByRequestId) {
  const std::vector<DemandRecord> records = {{"GRANOLA-500G", absl::CivilDay(2025, 1, 6), 4.0}};
  auto encode = [](const DemandWriteCounts& c) {
    return absl::StrCat("stored=", c.stored, " replaced=", c.replaced);
  };
  absl::StatusOr<Replayable<DemandWriteCounts>> first =
      this->store()->ImportDemand(records, Ctx("ImportDemand", "imp-1", "p1"), encode);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->value->stored, 1);
  absl::StatusOr<Replayable<DemandWriteCounts>> retry =
      this->store()->ImportDemand(records, Ctx("ImportDemand", "imp-1", "p1"), encode);
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->recorded_response.has_value());
  EXPECT_EQ(*retry->recorded_response, "stored=1 replaced=0");
  absl::StatusOr<Replayable<DemandWriteCounts>> reused =
      this->store()->ImportDemand(records, Ctx("ImportDemand", "imp-1", "p2"), encode);
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists) << reused.status();
  // Named as every reuse is (outside testing: planning's demand calls named nothing).
  EXPECT_EQ(runtime::ErrorInfoOf(reused.status()).metadata["resource"], "demand");
}

TYPED_TEST_P(DemandStoreConformanceTest, UnknownProductWritesNothing) {
  const std::vector<DemandRecord> records = {{"GRANOLA-500G", absl::CivilDay(2025, 1, 6), 4.0},
                                             {"NO-SUCH", absl::CivilDay(2025, 1, 6), 1.0}};
  absl::StatusOr<Replayable<DemandWriteCounts>> imported =
      this->store()->ImportDemand(records, Ctx("ImportDemand"), nullptr);
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument) << imported.status();
  EXPECT_TRUE(this->History().empty());
}

TYPED_TEST_P(DemandStoreConformanceTest, DeleteTakesBackTheRangeOfOneProductOnly) {
  this->CreateMuesli();
  const absl::CivilDay d0(2025, 1, 6);
  std::vector<DemandRecord> records;
  for (int i = 0; i < 10; ++i) {
    records.push_back({"GRANOLA-500G", d0 + i, 1.0 + i});
    records.push_back({"MUESLI-1KG", d0 + i, 2.0});
  }
  records.push_back({"GRANOLA-500G", absl::CivilDay(2125, 1, 6), 9.0});  // a typo's year
  ASSERT_TRUE(this->store()->ImportDemand(records, Ctx("ImportDemand"), nullptr).ok());
  auto encode = [](const int64_t& deleted) { return absl::StrCat("deleted=", deleted); };

  absl::StatusOr<Replayable<int64_t>> typo = this->store()->DeleteDemand(
      "GRANOLA-500G", absl::CivilDay(2125, 1, 6), absl::CivilDay(2125, 1, 6),
      Ctx("DeleteDemand", "del-1", "p1"), encode);
  ASSERT_TRUE(typo.ok()) << typo.status();
  EXPECT_EQ(*typo->value, 1);
  absl::StatusOr<Replayable<int64_t>> middle =
      this->store()->DeleteDemand("GRANOLA-500G", d0 + 3, d0 + 5, Ctx("DeleteDemand"), encode);
  ASSERT_TRUE(middle.ok()) << middle.status();
  EXPECT_EQ(*middle->value, 3);
  absl::StatusOr<Replayable<int64_t>> none =
      this->store()->DeleteDemand("GRANOLA-500G", d0 + 3, d0 + 5, Ctx("DeleteDemand"), encode);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none->value, 0);

  std::vector<ProductDemandHistory> all = this->History();
  ASSERT_EQ(all.size(), 2u);
  ASSERT_EQ(all[0].days.size(), 7u);  // d0 .. d0 + 2 and d0 + 6 .. d0 + 9
  EXPECT_EQ(all[0].days[2].day, d0 + 2);
  EXPECT_EQ(all[0].days[3].day, d0 + 6);
  EXPECT_EQ(all[0].days.back().day, d0 + 9);
  EXPECT_EQ(all[1].days.size(), 10u);  // MUESLI untouched

  // A retry returns the first answer and deletes nothing more.
  ASSERT_TRUE(this->store()
                  ->ImportDemand({{"GRANOLA-500G", absl::CivilDay(2125, 1, 6), 9.0}},
                                 Ctx("ImportDemand"), nullptr)
                  .ok());
  absl::StatusOr<Replayable<int64_t>> retry = this->store()->DeleteDemand(
      "GRANOLA-500G", absl::CivilDay(2125, 1, 6), absl::CivilDay(2125, 1, 6),
      Ctx("DeleteDemand", "del-1", "p1"), encode);
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->recorded_response.has_value());
  EXPECT_EQ(*retry->recorded_response, "deleted=1");
  EXPECT_EQ(this->History({"GRANOLA-500G"})[0].days.back().day, absl::CivilDay(2125, 1, 6));
  const absl::Status delete_reused =
      this->store()
          ->DeleteDemand("GRANOLA-500G", absl::CivilDay(2125, 1, 6), absl::CivilDay(2125, 1, 7),
                         Ctx("DeleteDemand", "del-1", "p2"), encode)
          .status();
  EXPECT_EQ(runtime::ErrorInfoOf(delete_reused).metadata["resource"],
            "products/GRANOLA-500G/demand")
      << delete_reused;

  absl::StatusOr<Replayable<int64_t>> unknown =
      this->store()->DeleteDemand("NO-SUCH", d0, d0 + 9, Ctx("DeleteDemand"), encode);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument) << unknown.status();
  EXPECT_THAT(std::string(unknown.status().message()), ::testing::HasSubstr("product_id"));
}

TYPED_TEST_P(DemandStoreConformanceTest, LargeImportSpansChunks) {
  this->CreateMuesli();
  std::vector<DemandRecord> records;
  const absl::CivilDay d0(2015, 1, 1);
  for (int i = 0; i < 6000; ++i) {
    records.push_back({"GRANOLA-500G", d0 + i, static_cast<double>(i % 97)});
    records.push_back({"MUESLI-1KG", d0 + i, 0.1 * i});
  }
  absl::StatusOr<Replayable<DemandWriteCounts>> imported =
      this->store()->ImportDemand(records, Ctx("ImportDemand"), nullptr);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->value->stored, 12000);
  std::vector<ProductDemandHistory> all = this->History();
  ASSERT_EQ(all.size(), 2u);
  ASSERT_EQ(all[1].days.size(), 6000u);
  EXPECT_EQ(all[1].days[5999].day, d0 + 5999);
  EXPECT_EQ(all[1].days[5999].quantity, 0.1 * 5999);  // exact: the double round-trips

  // Each product's latest days only, counted back from its own last day.
  ASSERT_TRUE(this->store()
                  ->ImportDemand({{"GRANOLA-500G", d0 + 7000, 1.0}}, Ctx("ImportDemand"), nullptr)
                  .ok());
  std::vector<ProductDemandHistory> recent = this->History({}, 1500);
  ASSERT_EQ(recent.size(), 2u);
  ASSERT_EQ(recent[0].days.size(), 500u);  // d0 + 5501 .. d0 + 5999, and d0 + 7000
  EXPECT_EQ(recent[0].days.front().day, d0 + 5501);
  EXPECT_EQ(recent[0].days.back().day, d0 + 7000);
  ASSERT_EQ(recent[1].days.size(), 1500u);
  EXPECT_EQ(recent[1].days.front().day, d0 + 4500);

  // Counted back from the last day on or before `through`: the record dated long after
  // the rest (d0 + 7000) is not where GRANOLA's window starts from.
  std::vector<ProductDemandHistory> before = this->History({"GRANOLA-500G"}, 1500, d0 + 6500);
  ASSERT_EQ(before.size(), 1u);
  ASSERT_EQ(before[0].days.size(), 1500u);
  EXPECT_EQ(before[0].days.front().day, d0 + 4500);
  EXPECT_EQ(before[0].days.back().day, d0 + 5999);
  EXPECT_TRUE(this->History({"GRANOLA-500G"}, 1500, d0 - 1).empty());
}

REGISTER_TYPED_TEST_SUITE_P(DemandStoreConformanceTest, ImportStoresThenReplacesByProductAndDay,
                            ImportIsIdempotentByRequestId, UnknownProductWritesNothing,
                            DeleteTakesBackTheRangeOfOneProductOnly, LargeImportSpansChunks);

}  // namespace plantmesh::planning::testing
