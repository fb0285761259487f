// ProposePlan end to end: plantmesh-server over mTLS with the generated SDK client on
// PostgreSQL. Demand history goes in by ImportDemand; the proposal forecasts it, fits
// the lines' calendar capacity (2×12 h in Europe/Berlin: 720 planned minutes a shift) and
// changeover times, meets demand when capacity suffices, reports exactly the shortfall
// when it does not, gives the same plan for the same input, and with create_drafts
// writes drafts that GetProductionPlan returns, once per request_id.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "plantmesh/planning/v1/planning_service.pm_client.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

namespace v1 = ::plantmesh::planning::v1;
using ::testing::HasSubstr;

// 2026-03-10 06:00 in Europe/Berlin (UTC+1): the day shift D of 2026-03-10 starts.
constexpr int64_t kDayShiftOf10th = 1773118800;

class PlanningProposeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MeshOptions options;
    options.server_args = {"--planning.time-zone", "Europe/Berlin",
                           "--planning.propose-time-limit-seconds", "30"};
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start(std::move(options));
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = mesh->release();
    SeedPlant();
  }
  static void TearDownTestSuite() {
    delete mesh_;
    mesh_ = nullptr;
  }

  static sdk::PlanningClient Planning(const std::string& user) {
    absl::StatusOr<sdk::PlanningClient> client =
        sdk::PlanningClient::Connect(mesh_->OptionsFor(user));
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  // Lines PACK-1 (granola at 6 s, muesli at 4 s) and PACK-2 (muesli at 4 s) on 2×12 h
  // without breaks; 30 min to change between the two products; four weeks of history
  // up to 2026-03-09: 5,000 granola and 8,000 muesli a day.
  static void SeedPlant() {
    sdk::PlanningClient planner = Planning("planner");
    v1::CreateShiftPatternRequest pattern;
    v1::ShiftPattern* p = pattern.mutable_shift_pattern();
    p->set_id("2X12");
    p->set_display_name("Two shifts of 12 h");
    for (auto [code, start, end] :
         {std::tuple{"D", "06:00", "18:00"}, std::tuple{"N", "18:00", "06:00"}}) {
      v1::ShiftDefinition* s = p->add_shifts();
      s->set_code(code);
      s->set_start_time(start);
      s->set_end_time(end);
    }
    ASSERT_TRUE(planner.CreateShiftPattern(pattern).ok());
    for (const char* id : {"PACK-1", "PACK-2"}) {
      v1::CreateLineRequest line;
      line.mutable_line()->set_id(id);
      line.mutable_line()->set_display_name(id);
      line.mutable_line()->set_site("PLANT-1");
      line.mutable_line()->set_area("PACKAGING");
      line.mutable_line()->set_nominal_rate_per_hour(900);
      line.mutable_line()->set_shift_pattern_id("2X12");
      ASSERT_TRUE(planner.CreateLine(line).ok());
    }
    v1::CreateProductRequest granola;
    granola.mutable_product()->set_id("GRANOLA-500G");
    granola.mutable_product()->set_display_name("Granola 500 g");
    granola.mutable_product()->set_unit("pcs");
    v1::LineCycleTime* c = granola.mutable_product()->add_cycle_times();
    c->set_line_id("PACK-1");
    c->set_ideal_cycle_seconds(6);
    ASSERT_TRUE(planner.CreateProduct(granola).ok());
    v1::CreateProductRequest muesli;
    muesli.mutable_product()->set_id("MUESLI-1KG");
    muesli.mutable_product()->set_display_name("Muesli 1 kg");
    muesli.mutable_product()->set_unit("pcs");
    for (const char* line : {"PACK-1", "PACK-2"}) {
      c = muesli.mutable_product()->add_cycle_times();
      c->set_line_id(line);
      c->set_ideal_cycle_seconds(4);
    }
    v1::Changeover* from_granola = muesli.mutable_product()->add_changeovers();
    from_granola->set_from_product_id("GRANOLA-500G");
    from_granola->set_duration_minutes(30);
    ASSERT_TRUE(planner.CreateProduct(muesli).ok());
    // Granola's changeover from muesli needs muesli to exist: a second product version
    // is not possible (no update), so the changeover into granola is left at 0.

    auto stream = planner.ImportDemand();
    v1::ImportDemandRequest message;
    message.set_request_id("propose-history");
    message.set_end_of_import(true);
    for (absl::CivilDay day(2026, 2, 10); day <= absl::CivilDay(2026, 3, 9); ++day) {
      for (auto [product, quantity] :
           {std::pair{"GRANOLA-500G", 5000.0}, std::pair{"MUESLI-1KG", 8000.0}}) {
        v1::DemandRecord* r = message.add_records();
        r->set_product_id(product);
        r->set_date(absl::FormatCivilTime(day));
        r->set_quantity(quantity);
      }
    }
    ASSERT_TRUE(stream->Write(message));
    absl::StatusOr<v1::ImportDemandResponse> imported = stream->Finish();
    ASSERT_TRUE(imported.ok()) << imported.status();
    ASSERT_EQ(imported->records_stored(), 2 * 28);
  }

  // The next `shifts` shifts of every line from the day shift of 2026-03-10.
  static v1::ProposePlanRequest Horizon(int shifts) {
    v1::ProposePlanRequest request;
    request.mutable_start_time()->set_seconds(kDayShiftOf10th);
    request.set_shift_count(shifts);
    return request;
  }

  static absl::StatusOr<v1::ProposePlanResponse> Propose(const v1::ProposePlanRequest& request) {
    return Planning("planner").ProposePlan(request,
                                           sdk::CallOptions::WithTimeout(absl::Seconds(60)));
  }

  // No shift needs more time than it plans, and runs take their cycle time.
  static void ExpectWithinCapacity(const v1::ProposePlanResponse& r) {
    for (const v1::ProposedShift& s : r.shifts()) {
      EXPECT_DOUBLE_EQ(s.planned_minutes(), 720) << s.shift_id();
      double minutes = 0;
      for (const v1::ProposedRun& run : s.runs()) {
        minutes += run.changeover_minutes() + run.production_minutes();
      }
      EXPECT_LE(minutes, s.planned_minutes() + 1e-6) << s.line_id() << " " << s.shift_id();
      EXPECT_LE(s.load_percent(), 100 + 1e-6);
    }
  }

  // Units of `product` made by shifts that end at or before `due` (Unix seconds), plus
  // the stock on hand.
  static int64_t AvailableBy(const v1::ProposePlanResponse& r, const std::string& product,
                             int64_t due) {
    int64_t units = 0;
    for (const v1::StockOnHand& s : r.stock_on_hand()) {
      if (s.product_id() == product) units += s.quantity();
    }
    for (const v1::ProposedShift& s : r.shifts()) {
      if (s.end_time().seconds() > due) continue;
      for (const v1::ProposedRun& run : s.runs()) {
        if (run.product_id() == product) units += run.quantity();
      }
    }
    return units;
  }

  static int64_t Plans() {
    pqxx::connection conn(mesh_->database_url());
    pqxx::nontransaction tx(conn);
    return tx.exec1("SELECT count(*) FROM planning.plans")[0].as<int64_t>();
  }

  static Mesh* mesh_;
};

Mesh* PlanningProposeTest::mesh_ = nullptr;

TEST_F(PlanningProposeTest, MeetsForecastDemandWithinCapacity) {
  // Six shifts: the 10th, 11th and 12th (the night of the 12th ends on the 13th).
  absl::StatusOr<v1::ProposePlanResponse> r = Propose(Horizon(6));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->shifts_size(), 12);  // 2 lines × 6 shifts
  EXPECT_EQ(r->shifts(0).line_id(), "PACK-1");
  EXPECT_EQ(r->shifts(0).shift_id(), "2026-03-10/D");
  EXPECT_EQ(r->shifts(11).shift_id(), "2026-03-12/N");
  ASSERT_EQ(r->demand_size(), 6);
  std::map<std::string, int64_t> total;
  for (const v1::PlannedDemand& d : r->demand()) {
    EXPECT_EQ(d.source(), v1::DEMAND_SOURCE_FORECAST);
    EXPECT_EQ(d.quantity(), d.product_id() == "GRANOLA-500G" ? 5000 : 8000) << d.date();
    // Cumulative demand due by then is available by then.
    total[d.product_id()] += d.quantity();
    EXPECT_GE(AvailableBy(*r, d.product_id(), d.due_time().seconds()), total[d.product_id()])
        << d.product_id() << " " << d.date();
  }
  EXPECT_EQ(r->unmet_demand_size(), 0);
  ExpectWithinCapacity(*r);
  EXPECT_EQ(r->solver().status(), v1::SOLVE_STATUS_OPTIMAL) << r->solver().DebugString();
  EXPECT_DOUBLE_EQ(r->solver().time_limit_seconds(), 30);
  EXPECT_TRUE(r->draft_plan_ids().empty());

  // The same input gives the same plan.
  absl::StatusOr<v1::ProposePlanResponse> again = Propose(Horizon(6));
  ASSERT_TRUE(again.ok()) << again.status();
  v1::ProposePlanResponse a = *r, b = *again;
  a.mutable_solver()->clear_solve_seconds();
  b.mutable_solver()->clear_solve_seconds();
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
}

TEST_F(PlanningProposeTest, ReportsExactlyTheShortfall) {
  // Granola only on PACK-1: one day shift of 720 min at 6 s makes 7,200 by 18:00. With
  // 1,000 in stock, 10,000 due on the 10th leaves 1,800 unmet for lack of capacity.
  v1::ProposePlanRequest request = Horizon(2);
  request.add_product_ids("GRANOLA-500G");
  v1::DemandRecord* d = request.add_demand();
  d->set_product_id("GRANOLA-500G");
  d->set_date("2026-03-10");
  d->set_quantity(10000);
  v1::StockOnHand* stock = request.add_stock_on_hand();
  stock->set_product_id("GRANOLA-500G");
  stock->set_quantity(1000);
  absl::StatusOr<v1::ProposePlanResponse> r = Propose(request);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->unmet_demand_size(), 1) << r->DebugString();
  const v1::UnmetDemand& unmet = r->unmet_demand(0);
  EXPECT_EQ(unmet.quantity(), 1800);
  EXPECT_EQ(unmet.reason(), v1::SHORTFALL_REASON_CAPACITY);
  EXPECT_EQ(unmet.due_time().seconds(), kDayShiftOf10th + 12 * 3600);
  EXPECT_THAT(unmet.explanation(), HasSubstr("PACK-1"));
  EXPECT_EQ(AvailableBy(*r, "GRANOLA-500G", unmet.due_time().seconds()), 10000 - 1800);
  // PACK-2 makes no granola: it is left out of the proposal.
  for (const v1::ProposedShift& s : r->shifts()) EXPECT_EQ(s.line_id(), "PACK-1");
  EXPECT_DOUBLE_EQ(r->shifts(0).load_percent(), 100);
  ASSERT_EQ(r->shifts(0).deferred_size(), 1);
  EXPECT_EQ(r->shifts(0).deferred(0).quantity(), 1800);
  ExpectWithinCapacity(*r);
}

TEST_F(PlanningProposeTest, CreatesDraftsOncePerRequestId) {
  v1::ProposePlanRequest request = Horizon(2);
  request.set_create_drafts(true);
  request.set_request_id("e2e-propose-drafts");
  const int64_t before = Plans();
  absl::StatusOr<v1::ProposePlanResponse> first = Propose(request);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->draft_plan_ids().empty());
  EXPECT_EQ(Plans(), before + first->draft_plan_ids_size());
  sdk::PlanningClient planner = Planning("planner");
  for (const v1::ProposedShift& s : first->shifts()) {
    if (s.runs().empty()) continue;
    v1::GetProductionPlanRequest get;
    get.set_id(s.draft_plan_id());
    absl::StatusOr<v1::GetProductionPlanResponse> plan = planner.GetProductionPlan(get);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->plan().status(), v1::PLAN_STATUS_DRAFT);
    EXPECT_EQ(plan->plan().line_id(), s.line_id());
    EXPECT_EQ(plan->plan().shift_id(), s.shift_id());
    ASSERT_EQ(plan->plan().items_size(), s.runs_size());
    for (int i = 0; i < s.runs_size(); ++i) {
      EXPECT_EQ(plan->plan().items(i).product_id(), s.runs(i).product_id());
      EXPECT_EQ(plan->plan().items(i).quantity(), s.runs(i).quantity());
      EXPECT_EQ(plan->plan().items(i).sequence(), s.runs(i).sequence());
    }
  }

  // The retry replays the first answer and writes nothing.
  absl::StatusOr<v1::ProposePlanResponse> retry = Propose(request);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->SerializeAsString(), first->SerializeAsString());
  EXPECT_EQ(Plans(), before + first->draft_plan_ids_size());

  // Another payload with the same request_id.
  v1::ProposePlanRequest other = request;
  other.set_shift_count(4);
  absl::StatusOr<v1::ProposePlanResponse> reused = Propose(other);
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists) << reused.status();
  EXPECT_EQ(sdk::ErrorReason(reused.status()), "REQUEST_ID_REUSED");

  // A new request over shifts that have drafts: refused naming a plan, nothing written.
  other.set_request_id("e2e-propose-drafts-2");
  absl::StatusOr<v1::ProposePlanResponse> clash = Propose(other);
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kFailedPrecondition) << clash.status();
  EXPECT_EQ(sdk::ErrorReason(clash.status()), "PLAN_EXISTS");
  EXPECT_EQ(Plans(), before + first->draft_plan_ids_size());

  // Only planners and admins propose.
  EXPECT_EQ(Planning("operator").ProposePlan(Horizon(2)).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(PlanningProposeTest, BadInputNamesTheField) {
  v1::ProposePlanRequest request = Horizon(2);
  request.set_time_limit_seconds(31);  // above the server's 30
  absl::StatusOr<v1::ProposePlanResponse> r = Propose(request);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(sdk::FieldViolations(r.status()).size(), 1u);
  EXPECT_EQ(sdk::FieldViolations(r.status())[0].field, "time_limit_seconds");
  request = Horizon(2);
  request.add_line_ids("PACK-9");
  r = Propose(request);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sdk::FieldViolations(r.status())[0].field, "line_ids[0]");
}

}  // namespace
}  // namespace plantmesh::e2e
