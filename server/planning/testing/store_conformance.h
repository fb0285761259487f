// The PlanningStore conformance suite, typed over a backend, so that the PostgreSQL
// store and the in-memory fake are held to one definition. Instantiate it once per
// backend in one test file. A backend is default-constructible and has
//   absl::Status SetUp();            // an empty store (schema applied)
//   PlanningStore* store();
//   std::vector<runtime::OutboxEvent> Events();  // events written, oldest first
#pragma once

#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/planning/store.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning::testing {

inline const absl::Time kT0 = absl::FromUnixSeconds(1773133200);  // 2026-03-10 09:00Z

inline ChangeContext Ctx(const std::string& method, const std::string& rid = "",
                         const std::string& payload = "payload") {
  return ChangeContext{{"spiffe://test/user/planner",
                        "plantmesh.planning.v1.PlanningService." + method, rid, payload},
                       kT0,
                       nullptr};
}

inline ShiftPattern ThreeByEight() {
  ShiftPattern p;
  p.id = "3X8";
  p.display_name = "Three shifts";
  p.shifts = {{"A", 360, 840, {{600, 30}}}, {"B", 840, 1320, {}}, {"N", 1320, 360, {{120, 30}}}};
  p.cycle_days = 7;
  p.anchor_date = absl::CivilDay(2026, 3, 2);
  p.rotation = {{0, "A", "CREW-A"}, {1, "N", ""}};
  return p;
}

inline Plan DraftPlan(const std::string& shift_id, int64_t quantity) {
  ShiftInstance shift;
  shift.id = shift_id;
  shift.date = absl::CivilDay(2026, 3, 10);
  shift.start = absl::FromUnixSeconds(1773118800);
  shift.end = shift.start + absl::Hours(8);
  return NewPlan("PACK-1", shift, {{"GRANOLA-500G", quantity, 1}}, "spiffe://test/user/planner",
                 kT0);
}

template <typename Backend>
class PlanningStoreConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status up = backend_.SetUp();
    ASSERT_TRUE(up.ok()) << up;
    store_ = backend_.store();
    ASSERT_TRUE(
        store_->CreateCrew({"CREW-A", "Crew A", "PACKAGING"}, Ctx("CreateCrew"), nullptr).ok());
    ASSERT_TRUE(
        store_->CreateShiftPattern(ThreeByEight(), Ctx("CreateShiftPattern"), nullptr).ok());
    ASSERT_TRUE(store_
                    ->CreateLine({"PACK-1", "Packaging 1", "PLANT-1", "PACKAGING", 1200, "3X8"},
                                 Ctx("CreateLine"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateProduct({"GRANOLA-500G", "Granola", "pcs", {{"PACK-1", 3.0}}, {}},
                                    Ctx("CreateProduct"), nullptr)
                    .ok());
  }
  PlanningStore* store() { return store_; }
  Backend backend_;
  PlanningStore* store_ = nullptr;
};

TYPED_TEST_SUITE_P(PlanningStoreConformanceTest);

TYPED_TEST_P(PlanningStoreConformanceTest, PlantModelRoundTrips) {
  absl::StatusOr<std::optional<ShiftPattern>> pattern = this->store()->FindShiftPattern("3X8");
  ASSERT_TRUE(pattern.ok() && pattern->has_value());
  EXPECT_EQ((*pattern)->shifts.size(), 3u);
  EXPECT_EQ((*pattern)->shifts[2].end_minute, 360);
  EXPECT_EQ((*pattern)->shifts[0].breaks[0].start_minute, 600);
  EXPECT_EQ((*pattern)->anchor_date, absl::CivilDay(2026, 3, 2));
  EXPECT_EQ((*pattern)->rotation[0].crew_id, "CREW-A");
  absl::StatusOr<std::optional<Product>> product = this->store()->FindProduct("GRANOLA-500G");
  ASSERT_TRUE(product.ok() && product->has_value());
  EXPECT_DOUBLE_EQ((*product)->cycle_times[0].ideal_cycle_seconds, 3.0);
  absl::StatusOr<std::vector<Line>> lines = this->store()->ListLines("PACKAGING");
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 1u);
  EXPECT_EQ((*lines)[0].nominal_rate_per_hour, 1200);
  EXPECT_TRUE(this->store()->ListLines("OTHER")->empty());
}

// Existence by key: only the ids asked about, only those that exist, whatever their
// characters (a quote or a backslash is one id, never an array literal's syntax).
TYPED_TEST_P(PlanningStoreConformanceTest, ExistingIdsAreTheOnesAskedAboutThatExist) {
  using Catalog = PlanningStore::Catalog;
  ASSERT_TRUE(this->store()
                  ->CreateProduct({"MUESLI-1KG", "Muesli", "pcs", {{"PACK-1", 3.0}}, {}},
                                  Ctx("CreateProduct"), nullptr)
                  .ok());
  EXPECT_THAT(*this->store()->ExistingIds(Catalog::kLines, {"PACK-1", "PACK-9", "GRANOLA-500G"}),
              ::testing::ElementsAre("PACK-1"));
  EXPECT_THAT(*this->store()->ExistingIds(Catalog::kProducts,
                                          {"MUESLI-1KG", "PACK-1", "A\"B", "C\\D", "{}", ""}),
              ::testing::ElementsAre("MUESLI-1KG"));
  EXPECT_TRUE(this->store()->ExistingIds(Catalog::kProducts, {})->empty());
  EXPECT_THAT(*this->store()->ExistingIds(Catalog::kCrews, {"CREW-A", "CREW-B", "PACK-1"}),
              ::testing::ElementsAre("CREW-A"));
  EXPECT_THAT(*this->store()->ProductIds(), ::testing::ElementsAre("GRANOLA-500G", "MUESLI-1KG"));
  absl::StatusOr<std::vector<Product>> products =
      this->store()->FindProducts({"MUESLI-1KG", "PACK-1", "A\"B", "", "GRANOLA-500G"});
  ASSERT_TRUE(products.ok()) << products.status();
  ASSERT_EQ(products->size(), 2u);
  EXPECT_EQ((*products)[0].id, "GRANOLA-500G");
  EXPECT_EQ((*products)[1].id, "MUESLI-1KG");
  EXPECT_EQ((*products)[1].cycle_times[0].line_id, "PACK-1");
  EXPECT_TRUE(this->store()->FindProducts({})->empty());
}

TYPED_TEST_P(PlanningStoreConformanceTest, TakenIdsAndUnknownReferences) {
  const absl::Status taken =
      this->store()->CreateCrew({"CREW-A", "again", "X"}, Ctx("CreateCrew"), nullptr).status();
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(runtime::ErrorInfoOf(taken).reason, "RESOURCE_EXISTS");
  EXPECT_EQ(runtime::ErrorInfoOf(taken).metadata["resource_type"], "crew");
  EXPECT_EQ(runtime::ErrorInfoOf(taken).metadata["id"], "CREW-A");
  absl::Status unknown =
      this->store()
          ->CreateLine({"PACK-2", "Packaging 2", "PLANT-1", "PACKAGING", 10, "NOPE"},
                       Ctx("CreateLine"), nullptr)
          .status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(this->store()->FindLine("PACK-2")->has_value());
  MaintenanceWindow window{0, "NOPE", kT0, kT0 + absl::Hours(1), "CIP"};
  EXPECT_EQ(this->store()
                ->CreateMaintenanceWindow(window, Ctx("CreateMaintenanceWindow"), nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TYPED_TEST_P(PlanningStoreConformanceTest, HolidaysAndMaintenanceByRange) {
  ASSERT_TRUE(this->store()
                  ->CreateHoliday({absl::CivilDay(2026, 12, 25), "Christmas"}, Ctx("CreateHoliday"),
                                  nullptr)
                  .ok());
  EXPECT_EQ(
      this->store()
          ->CreateHoliday({absl::CivilDay(2026, 12, 25), "Again"}, Ctx("CreateHoliday"), nullptr)
          .status()
          .code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(this->store()
                ->ListHolidays(absl::CivilDay(2026, 12, 24), absl::CivilDay(2026, 12, 26))
                ->size(),
            1u);
  EXPECT_TRUE(this->store()
                  ->ListHolidays(absl::CivilDay(2026, 12, 26), absl::CivilDay(2026, 12, 31))
                  ->empty());
  MaintenanceWindow window{0, "PACK-1", kT0, kT0 + absl::Hours(2), "CIP cleaning"};
  absl::StatusOr<Replayable<MaintenanceWindow>> created =
      this->store()->CreateMaintenanceWindow(window, Ctx("CreateMaintenanceWindow"), nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_GT(created->value->id, 0);
  // Overlap, not containment: a range touching only its end sees nothing.
  EXPECT_EQ(this->store()
                ->ListMaintenanceWindows("PACK-1", kT0 + absl::Hours(1), kT0 + absl::Hours(5))
                ->size(),
            1u);
  EXPECT_TRUE(this->store()
                  ->ListMaintenanceWindows("PACK-1", kT0 + absl::Hours(2), kT0 + absl::Hours(5))
                  ->empty());
}

// An update locks the line or product, writes what the updater returns under its version,
// and writes nothing when the updater keeps the version or fails; a retry is answered.
TYPED_TEST_P(PlanningStoreConformanceTest, LinesAndProductsUpdateUnderTheirVersion) {
  ASSERT_TRUE(this->store()
                  ->CreateProduct({"MUESLI-1KG", "Muesli", "pcs", {{"PACK-1", 4.0}}, {}},
                                  Ctx("CreateProduct"), nullptr)
                  .ok());
  int calls = 0;
  auto add_changeover = [&](const Product& current) -> absl::StatusOr<Product> {
    ++calls;
    Product after = current;
    after.changeovers = {{"MUESLI-1KG", "PACK-1", 25}};
    after.version = current.version + 1;
    return after;
  };
  auto encode = [](const Product& p) { return p.id + "@" + std::to_string(p.version); };
  absl::StatusOr<Replayable<Product>> updated = this->store()->UpdateProduct(
      "GRANOLA-500G", Ctx("UpdateProduct", "rid-1"), add_changeover, encode);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->value->version, 2);
  absl::StatusOr<std::optional<Product>> read = this->store()->FindProduct("GRANOLA-500G");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->version, 2);
  EXPECT_EQ((*read)->changeovers, (std::vector<Changeover>{{"MUESLI-1KG", "PACK-1", 25}}));
  EXPECT_EQ((*read)->cycle_times, (std::vector<LineCycleTime>{{"PACK-1", 3.0}}));
  // The retry is answered from the request log; the updater does not run again.
  updated = this->store()->UpdateProduct("GRANOLA-500G", Ctx("UpdateProduct", "rid-1"),
                                         add_changeover, encode);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->recorded_response, std::optional<std::string>("GRANOLA-500G@2"));
  EXPECT_EQ(calls, 1);
  // Kept version: nothing written; a failing updater: nothing written.
  auto rename_keeping_version = [](const Product& current) -> absl::StatusOr<Product> {
    Product after = current;
    after.display_name = "not written";
    return after;
  };
  ASSERT_TRUE(
      this->store()
          ->UpdateProduct("GRANOLA-500G", Ctx("UpdateProduct"), rename_keeping_version, nullptr)
          .ok());
  auto refuse = [](const Product&) -> absl::StatusOr<Product> {
    return absl::AbortedError("stale");
  };
  EXPECT_EQ(
      this->store()->UpdateProduct("GRANOLA-500G", Ctx("UpdateProduct"), refuse, nullptr).status(),
      absl::AbortedError("stale"));
  EXPECT_EQ((*this->store()->FindProduct("GRANOLA-500G"))->display_name, "Granola");
  EXPECT_EQ(
      this->store()->UpdateProduct("NOPE", Ctx("UpdateProduct"), add_changeover, nullptr).status(),
      ProductNotFound("NOPE"));

  auto faster = [](const Line& current) -> absl::StatusOr<Line> {
    Line after = current;
    after.nominal_rate_per_hour = 1500;
    after.version = current.version + 1;
    return after;
  };
  absl::StatusOr<Replayable<Line>> line =
      this->store()->UpdateLine("PACK-1", Ctx("UpdateLine"), faster, nullptr);
  ASSERT_TRUE(line.ok()) << line.status();
  absl::StatusOr<std::optional<Line>> read_line = this->store()->FindLine("PACK-1");
  ASSERT_TRUE(read_line.ok() && read_line->has_value());
  EXPECT_EQ((*read_line)->nominal_rate_per_hour, 1500);
  EXPECT_EQ((*read_line)->version, 2);
  EXPECT_EQ((*read_line)->shift_pattern_id, "3X8");
  EXPECT_EQ(this->store()->UpdateLine("NOPE", Ctx("UpdateLine"), faster, nullptr).status(),
            LineNotFound("NOPE"));
}

// UpdateProduct's facts: the plans naming a product (the open ones by line) and its
// output and demand; a product id inside another's items is not a match.
TYPED_TEST_P(PlanningStoreConformanceTest, RecordsOfAProductAreCounted) {
  absl::StatusOr<ProductRecords> none = this->store()->RecordsOfProduct("GRANOLA-500G");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->plans, 0);
  EXPECT_TRUE(none->open_plans_by_line.empty());
  absl::StatusOr<Replayable<Plan>> created = this->store()->CreatePlan(
      DraftPlan("2026-03-10/A", 100), Ctx("CreateProductionPlan"), nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  absl::StatusOr<ProductRecords> records = this->store()->RecordsOfProduct("GRANOLA-500G");
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(records->plans, 1);
  EXPECT_EQ(records->outputs, 0);
  EXPECT_EQ(records->demand_days, 0);
  EXPECT_EQ(records->open_plans_by_line,
            (std::map<std::string, std::vector<int64_t>>{{"PACK-1", {created->value->id}}}));
  EXPECT_EQ(this->store()->RecordsOfProduct("GRANOLA")->plans, 0);
}

TYPED_TEST_P(PlanningStoreConformanceTest, HolidaysAndMaintenanceWindowsAreDeleted) {
  const absl::CivilDay christmas(2026, 12, 25);
  ASSERT_TRUE(
      this->store()->CreateHoliday({christmas, "Christmas"}, Ctx("CreateHoliday"), nullptr).ok());
  absl::StatusOr<Replayable<Holiday>> deleted =
      this->store()->DeleteHoliday(christmas, Ctx("DeleteHoliday", "rid-h"), nullptr);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->value->display_name, "Christmas");
  EXPECT_TRUE(this->store()->ListHolidays(christmas, christmas)->empty());
  // The retry is answered; without a request_id, the second delete finds none.
  EXPECT_TRUE(this->store()->DeleteHoliday(christmas, Ctx("DeleteHoliday", "rid-h"), nullptr).ok());
  EXPECT_EQ(this->store()->DeleteHoliday(christmas, Ctx("DeleteHoliday"), nullptr).status(),
            HolidayNotFound(christmas));

  MaintenanceWindow window{0, "PACK-1", kT0, kT0 + absl::Hours(2), "CIP cleaning"};
  absl::StatusOr<Replayable<MaintenanceWindow>> created =
      this->store()->CreateMaintenanceWindow(window, Ctx("CreateMaintenanceWindow"), nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t id = created->value->id;
  absl::StatusOr<Replayable<MaintenanceWindow>> gone =
      this->store()->DeleteMaintenanceWindow(id, Ctx("DeleteMaintenanceWindow"), nullptr);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(gone->value->id, id);
  EXPECT_EQ(gone->value->line_id, "PACK-1");
  EXPECT_EQ(gone->value->start, kT0);
  EXPECT_EQ(gone->value->reason, "CIP cleaning");
  EXPECT_TRUE(this->store()->ListMaintenanceWindows("PACK-1", kT0, kT0 + absl::Hours(5))->empty());
  EXPECT_EQ(
      this->store()->DeleteMaintenanceWindow(id, Ctx("DeleteMaintenanceWindow"), nullptr).status(),
      MaintenanceWindowNotFound(id));
}

TYPED_TEST_P(PlanningStoreConformanceTest, PlansMutateWithRevisionsAndEvents) {
  absl::StatusOr<Replayable<Plan>> created = this->store()->CreatePlan(
      DraftPlan("2026-03-10/A", 100), Ctx("CreateProductionPlan"), nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t id = created->value->id;
  // The plan that is there, by the id a Get takes (outside testing: "LINE SHIFT" was named).
  const absl::Status taken =
      this->store()
          ->CreatePlan(DraftPlan("2026-03-10/A", 5), Ctx("CreateProductionPlan"), nullptr)
          .status();
  const absl::Status expected =
      PlanOfShiftExists(id, DraftPlan("2026-03-10/A", 5).line_id, "2026-03-10/A");
  EXPECT_EQ(taken.code(), expected.code());
  EXPECT_EQ(taken.message(), expected.message());
  EXPECT_EQ(runtime::ErrorInfoOf(taken).metadata, runtime::ErrorInfoOf(expected).metadata);
  EXPECT_EQ(runtime::ErrorInfoOf(taken).metadata["id"], absl::StrCat(id));
  auto publish = [](const Plan& current) {
    return Move(current, PlanTransition::kPublish, "spiffe://test/user/planner", kT0);
  };
  auto event = [](const PlanChange& change) {
    return runtime::OutboxEvent{"7c9e6679-7425-40de-944b-e07fc1f90ae7", "test",
                                change.after.shift_id};
  };
  absl::StatusOr<Replayable<Plan>> published =
      this->store()->MutatePlan(id, Ctx("PublishProductionPlan"), publish, event, nullptr);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->value->status, PlanStatus::kPublished);
  // A rule's error aborts the change: nothing written, no event.
  EXPECT_EQ(this->store()
                ->MutatePlan(id, Ctx("PublishProductionPlan"), publish, event, nullptr)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<Plan> read = this->store()->GetPlan(id);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->version, 2);
  EXPECT_EQ(read->revision, 1);
  EXPECT_EQ(read->items, (std::vector<PlanItem>{{"GRANOLA-500G", 100, 1}}));
  EXPECT_EQ(read->shift_date, absl::CivilDay(2026, 3, 10));
  absl::StatusOr<std::vector<PlanRevision>> revisions = this->store()->ListRevisions(id, 0, 1000);
  ASSERT_TRUE(revisions.ok());
  ASSERT_EQ(revisions->size(), 1u);
  EXPECT_EQ((*revisions)[0].reason, "published");
  EXPECT_EQ(this->backend_.Events().size(), 1u);
  const absl::Status absent = this->store()->GetPlan(id + 1000).status();
  EXPECT_EQ(absent.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runtime::ErrorInfoOf(absent).reason, "PLAN_NOT_FOUND");
  EXPECT_EQ(runtime::ErrorInfoOf(absent).metadata["plan_id"], absl::StrCat(id + 1000));
  EXPECT_EQ(this->store()->ListRevisions(id + 1000, 0, 1000).status().code(),
            absl::StatusCode::kNotFound);
  // A page: after a number, at most a limit; any number, as a page token may carry it
  // (outside testing: one beyond the column's int range was INTERNAL).
  EXPECT_TRUE(this->store()->ListRevisions(id, 1, 10)->empty());
  EXPECT_TRUE(this->store()->ListRevisions(id, std::numeric_limits<int64_t>::max(), 10)->empty());
  EXPECT_EQ(this->store()->ListRevisions(id, std::numeric_limits<int64_t>::min(), 10)->size(), 1u);
  EXPECT_TRUE(this->store()->ListRevisions(id, 0, 0)->empty());
  EXPECT_EQ(this->store()->ListRevisions(id, 0, 1)->size(), 1u);
}

TYPED_TEST_P(PlanningStoreConformanceTest, RecordsAreIdempotentByRequestId) {
  OutputRecord output;
  output.line_id = "PACK-1";
  output.shift_id = "2026-03-10/A";
  output.shift_date = absl::CivilDay(2026, 3, 10);
  output.product_id = "GRANOLA-500G";
  output.packaged = 500;
  output.scrapped = 20;
  output.scrap_reason = "SHELL-WASTE";
  output.recorded_by = "spiffe://test/user/op";
  output.record_time = kT0;
  ResponseEncoder<OutputRecord> encode = [](const OutputRecord& o) { return absl::StrCat(o.id); };
  absl::StatusOr<Replayable<OutputRecord>> first =
      this->store()->RecordOutput(output, Ctx("RecordOutput", "r1"), nullptr, encode);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<Replayable<OutputRecord>> retry =
      this->store()->RecordOutput(output, Ctx("RecordOutput", "r1"), nullptr, encode);
  ASSERT_TRUE(retry.ok());
  ASSERT_TRUE(retry->recorded_response.has_value());
  EXPECT_EQ(*retry->recorded_response, absl::StrCat(first->value->id));
  // The reuse names what the first call made, as every service's does (outside testing:
  // planning's named none).
  const absl::Status reused =
      this->store()
          ->RecordOutput(output, Ctx("RecordOutput", "r1", "other"), nullptr, encode)
          .status();
  EXPECT_EQ(reused.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(runtime::ErrorInfoOf(reused).reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(runtime::ErrorInfoOf(reused).metadata["resource"],
            absl::StrCat("outputs/", first->value->id));
  DowntimeEntry stop;
  stop.line_id = "PACK-1";
  stop.shift_id = "2026-03-10/A";
  stop.shift_date = absl::CivilDay(2026, 3, 10);
  stop.reason_code = "BREAKDOWN";
  stop.duration_minutes = 30;
  stop.recorded_by = "spiffe://test/user/op";
  stop.record_time = kT0;
  std::vector<int64_t> seen;  // the minutes recorded before each entry, as `admit` saw them
  auto admit = [&seen](int64_t recorded) {
    seen.push_back(recorded);
    return recorded >= 40 ? absl::FailedPreconditionError("full") : absl::OkStatus();
  };
  ASSERT_TRUE(this->store()
                  ->RecordDowntime(stop, Ctx("RecordDowntime", "d1"), admit, nullptr, nullptr)
                  .ok());
  stop.duration_minutes = 15;
  ASSERT_TRUE(this->store()
                  ->RecordDowntime(stop, Ctx("RecordDowntime", "d2"), admit, nullptr, nullptr)
                  .ok());
  // Refused by `admit`: nothing written, the request_id not taken.
  EXPECT_EQ(this->store()
                ->RecordDowntime(stop, Ctx("RecordDowntime", "d3"), admit, nullptr, nullptr)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 30, 45}));
  stop.shift_id = "2026-03-10/B";  // another shift counts apart
  ASSERT_TRUE(this->store()
                  ->RecordDowntime(stop, Ctx("RecordDowntime", "d3"), admit, nullptr, nullptr)
                  .ok());
  EXPECT_EQ(seen.back(), 0);
  absl::StatusOr<ActualsFacts> facts =
      this->store()->ActualsOf("PACK-1", absl::CivilDay(2026, 3, 10), absl::CivilDay(2026, 3, 10));
  ASSERT_TRUE(facts.ok());
  ASSERT_EQ(facts->outputs.size(), 1u);
  EXPECT_EQ(facts->outputs[0].scrapped, 20);
  EXPECT_EQ(facts->outputs[0].scrap_reason, "SHELL-WASTE");
  EXPECT_EQ(facts->outputs[0].record_time, kT0);
  ASSERT_EQ(facts->downtimes.size(), 3u);
  EXPECT_EQ(facts->downtimes[0].duration_minutes, 30);
  EXPECT_TRUE(this->store()
                  ->ActualsOf("PACK-1", absl::CivilDay(2026, 3, 11), absl::CivilDay(2026, 3, 12))
                  ->outputs.empty());
}

TYPED_TEST_P(PlanningStoreConformanceTest, ListPlansPagesInShiftOrder) {
  for (const char* shift : {"2026-03-10/B", "2026-03-10/A", "2026-03-11/A"}) {
    Plan plan = DraftPlan(shift, 10);
    plan.shift_start += std::string(shift) == "2026-03-10/B" ? absl::Hours(8) : absl::Hours(0);
    if (std::string(shift) == "2026-03-11/A") {
      plan.shift_date = absl::CivilDay(2026, 3, 11);
      plan.shift_start += absl::Hours(24);
    }
    ASSERT_TRUE(this->store()->CreatePlan(plan, Ctx("CreateProductionPlan"), nullptr).ok());
  }
  PlanQuery query;
  query.page_size = 2;
  absl::StatusOr<PlanPage> page = this->store()->ListPlans(query);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->plans.size(), 2u);
  EXPECT_TRUE(page->more);
  EXPECT_EQ(page->plans[0].shift_id, "2026-03-10/A");
  EXPECT_EQ(page->plans[1].shift_id, "2026-03-10/B");
  query.after = std::make_pair(page->plans[1].shift_start, page->plans[1].id);
  page = this->store()->ListPlans(query);
  ASSERT_EQ(page->plans.size(), 1u);
  EXPECT_FALSE(page->more);
  EXPECT_EQ(page->plans[0].shift_id, "2026-03-11/A");
  PlanQuery dated;
  dated.from_date = absl::CivilDay(2026, 3, 11);
  EXPECT_EQ(this->store()->ListPlans(dated)->plans.size(), 1u);
  PlanQuery published;
  published.statuses = {PlanStatus::kPublished};
  EXPECT_TRUE(this->store()->ListPlans(published)->plans.empty());
}

// ProposePlan's drafts: all in one transaction, or none when one shift has a plan.
TYPED_TEST_P(PlanningStoreConformanceTest, CreatePlansWritesAllOrNothing) {
  ResponseEncoder<std::vector<Plan>> encode = [](const std::vector<Plan>& plans) {
    std::string ids;
    for (const Plan& p : plans) absl::StrAppend(&ids, p.id, ",");
    return ids;
  };
  const std::vector<Plan> two = {DraftPlan("2026-03-10/A", 100), DraftPlan("2026-03-10/B", 50)};
  absl::StatusOr<Replayable<std::vector<Plan>>> first =
      this->store()->CreatePlans(two, Ctx("ProposePlan", "p1"), encode);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->value->size(), 2u);
  const std::vector<Plan>& stored = *first->value;
  EXPECT_NE(stored[0].id, stored[1].id);
  absl::StatusOr<Plan> read = this->store()->GetPlan(stored[1].id);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->shift_id, "2026-03-10/B");
  EXPECT_EQ(read->status, PlanStatus::kDraft);
  EXPECT_EQ(read->items, (std::vector<PlanItem>{{"GRANOLA-500G", 50, 1}}));
  // A retry answers the first response and writes nothing; another payload is refused.
  absl::StatusOr<Replayable<std::vector<Plan>>> retry =
      this->store()->CreatePlans(two, Ctx("ProposePlan", "p1"), encode);
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->recorded_response.has_value());
  EXPECT_EQ(*retry->recorded_response, absl::StrCat(stored[0].id, ",", stored[1].id, ","));
  EXPECT_EQ(
      this->store()->CreatePlans(two, Ctx("ProposePlan", "p1", "other"), encode).status().code(),
      absl::StatusCode::kAlreadyExists);
  // Read without a change (ProposePlan asks before its solve): the same three answers.
  absl::StatusOr<std::optional<std::string>> recorded =
      this->store()->RecordedResponse(Ctx("ProposePlan", "p1").request);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(recorded->value_or("none"), *retry->recorded_response);
  EXPECT_EQ(
      this->store()->RecordedResponse(Ctx("ProposePlan", "p1", "other").request).status().code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(this->store()->RecordedResponse(Ctx("ProposePlan", "p9").request).value(),
            std::nullopt);
  EXPECT_EQ(this->store()->RecordedResponse(Ctx("ProposePlan").request).value(), std::nullopt);
  // One shift with a plan: FAILED_PRECONDITION naming it, and the other is not written.
  absl::StatusOr<Replayable<std::vector<Plan>>> clash = this->store()->CreatePlans(
      {DraftPlan("2026-03-11/A", 10), DraftPlan("2026-03-10/B", 10)}, Ctx("ProposePlan"), encode);
  ASSERT_EQ(clash.status().code(), absl::StatusCode::kFailedPrecondition) << clash.status();
  const runtime::ErrorInfoView info = runtime::ErrorInfoOf(clash.status());
  EXPECT_EQ(info.reason, "PLAN_EXISTS");
  EXPECT_EQ(info.metadata.at("plan_id"), absl::StrCat(stored[1].id));
  EXPECT_EQ(info.metadata.at("shift_id"), "2026-03-10/B");
  PlanQuery all;
  EXPECT_EQ(this->store()->ListPlans(all)->plans.size(), 2u);
  // None at all: nothing but the request's own record.
  absl::StatusOr<Replayable<std::vector<Plan>>> none =
      this->store()->CreatePlans({}, Ctx("ProposePlan", "p2"), encode);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->value->empty());
}

inline Plan PlanOn(absl::CivilDay day, const std::string& code) {
  Plan plan = DraftPlan(absl::StrCat(FormatDate(day), "/", code), 10);
  plan.shift_date = day;
  return plan;
}

// Outside testing: a holiday was declared on a day with plans and actuals, which its
// shifts then stranded as not worked. A day with any of them cannot become a holiday, and
// none is written for a shift of a holiday, whichever comes first.
TYPED_TEST_P(PlanningStoreConformanceTest, AHolidayAndTheRecordsOfItsDayExcludeEachOther) {
  PlanningStore& store = *this->store();
  const absl::CivilDay planned(2026, 3, 10), produced(2026, 3, 12), stopped(2026, 3, 13),
      free(2026, 3, 11);
  ASSERT_TRUE(store.CreatePlan(PlanOn(planned, "A"), Ctx("CreateProductionPlan"), nullptr).ok());
  OutputRecord output;
  output.line_id = "PACK-1";
  output.shift_id = "2026-03-12/A";
  output.shift_date = produced;
  output.product_id = "GRANOLA-500G";
  output.packaged = 5;
  output.recorded_by = "spiffe://test/user/op";
  output.record_time = kT0;
  ASSERT_TRUE(store.RecordOutput(output, Ctx("RecordOutput", "o1"), nullptr, nullptr).ok());
  DowntimeEntry stop;
  stop.line_id = "PACK-1";
  stop.shift_id = "2026-03-13/A";
  stop.shift_date = stopped;
  stop.reason_code = "BREAKDOWN";
  stop.duration_minutes = 30;
  stop.recorded_by = "spiffe://test/user/op";
  stop.record_time = kT0;
  auto admit = [](int64_t) { return absl::OkStatus(); };
  ASSERT_TRUE(
      store.RecordDowntime(stop, Ctx("RecordDowntime", "d1"), admit, nullptr, nullptr).ok());
  for (const auto& [day, plans, outputs, downtimes] :
       {std::tuple{planned, "1", "0", "0"}, std::tuple{produced, "0", "1", "0"},
        std::tuple{stopped, "0", "0", "1"}}) {
    absl::StatusOr<Replayable<Holiday>> refused =
        store.CreateHoliday({day, "Closed"}, Ctx("CreateHoliday"), nullptr);
    ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
    const runtime::ErrorInfoView info = runtime::ErrorInfoOf(refused.status());
    EXPECT_EQ(info.reason, "DAY_HAS_PRODUCTION_RECORDS");
    EXPECT_EQ(info.metadata.at("date"), FormatDate(day));
    EXPECT_EQ(info.metadata.at("plans"), plans);
    EXPECT_EQ(info.metadata.at("outputs"), outputs);
    EXPECT_EQ(info.metadata.at("downtimes"), downtimes);
  }
  EXPECT_TRUE(store.ListHolidays(planned, stopped)->empty());

  ASSERT_TRUE(store.CreateHoliday({free, "Closed"}, Ctx("CreateHoliday"), nullptr).ok());
  auto expect_not_worked = [](const absl::Status& status) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    EXPECT_EQ(runtime::ErrorInfoOf(status).reason, "SHIFT_NOT_WORKED") << status;
  };
  expect_not_worked(
      store.CreatePlan(PlanOn(free, "A"), Ctx("CreateProductionPlan"), nullptr).status());
  expect_not_worked(
      store.CreatePlans({PlanOn(stopped, "B"), PlanOn(free, "B")}, Ctx("ProposePlan"), nullptr)
          .status());
  output.shift_id = "2026-03-11/A";
  output.shift_date = free;
  expect_not_worked(
      store.RecordOutput(output, Ctx("RecordOutput", "o2"), nullptr, nullptr).status());
  stop.shift_id = "2026-03-11/A";
  stop.shift_date = free;
  expect_not_worked(
      store.RecordDowntime(stop, Ctx("RecordDowntime", "d2"), admit, nullptr, nullptr).status());
  // Nothing of those was written, the plan of the other day included.
  absl::StatusOr<ActualsFacts> facts = store.ActualsOf("PACK-1", planned, stopped);
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_EQ(facts->plans.size(), 1u);
  EXPECT_EQ(facts->outputs.size(), 1u);
  EXPECT_EQ(facts->downtimes.size(), 1u);
}

// Declaring holidays while plans of the same days are written, from two threads: each day
// ends with one or the other, never both (PostgreSQL: the day's advisory lock).
TYPED_TEST_P(PlanningStoreConformanceTest, HolidaysAndPlansRacingForADayNeverBothWin) {
  PlanningStore& store = *this->store();
  constexpr int kDays = 24;
  const absl::CivilDay first(2026, 4, 1);
  // The same order: the two keep meeting on the same days (without the lock, both won
  // some day in each of three runs).
  std::thread holidays([&] {
    for (int d = 0; d < kDays; ++d) {
      (void)store.CreateHoliday({first + d, "Closed"}, Ctx("CreateHoliday"), nullptr);
    }
  });
  for (int d = 0; d < kDays; ++d) {
    (void)store.CreatePlan(PlanOn(first + d, "A"), Ctx("CreateProductionPlan"), nullptr);
  }
  holidays.join();
  absl::StatusOr<std::vector<Holiday>> declared = store.ListHolidays(first, first + kDays);
  absl::StatusOr<ActualsFacts> facts = store.ActualsOf("PACK-1", first, first + kDays);
  ASSERT_TRUE(declared.ok() && facts.ok());
  std::set<absl::CivilDay> holiday_days, plan_days;
  for (const Holiday& h : *declared) holiday_days.insert(h.date);
  for (const Plan& p : facts->plans) plan_days.insert(p.shift_date);
  for (int d = 0; d < kDays; ++d) {
    EXPECT_NE(holiday_days.count(first + d), plan_days.count(first + d)) << first + d;
  }
}

REGISTER_TYPED_TEST_SUITE_P(PlanningStoreConformanceTest, PlantModelRoundTrips,
                            ExistingIdsAreTheOnesAskedAboutThatExist, TakenIdsAndUnknownReferences,
                            HolidaysAndMaintenanceByRange, LinesAndProductsUpdateUnderTheirVersion,
                            HolidaysAndMaintenanceWindowsAreDeleted, RecordsOfAProductAreCounted,
                            PlansMutateWithRevisionsAndEvents, RecordsAreIdempotentByRequestId,
                            ListPlansPagesInShiftOrder, CreatePlansWritesAllOrNothing,
                            AHolidayAndTheRecordsOfItsDayExcludeEachOther,
                            HolidaysAndPlansRacingForADayNeverBothWin);

}  // namespace plantmesh::planning::testing
