// The planning service end to end: plantmesh-server over mTLS with the generated SDK
// client, roles from the contract, the plant's time zone from [planning] time-zone, and a
// shift's story from plan to plan against actual on PostgreSQL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "plantmesh/planning/v1/planning_service.pm_client.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

namespace v1 = ::plantmesh::planning::v1;

class PlanningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MeshOptions options;
    options.server_args = {"--planning.time-zone", "Europe/Berlin"};
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start(std::move(options));
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = mesh->release();
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

  static Mesh* mesh_;
};

Mesh* PlanningTest::mesh_ = nullptr;

TEST_F(PlanningTest, AShiftFromPlanToPlanVsActual) {
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
  v1::CreateLineRequest line;
  line.mutable_line()->set_id("PACK-1");
  line.mutable_line()->set_display_name("Packaging line 1");
  line.mutable_line()->set_site("PLANT-1");
  line.mutable_line()->set_area("PACKAGING");
  line.mutable_line()->set_nominal_rate_per_hour(1200);
  line.mutable_line()->set_shift_pattern_id("2X12");
  ASSERT_TRUE(planner.CreateLine(line).ok());
  v1::CreateProductRequest product;
  product.mutable_product()->set_id("GRANOLA-500G");
  product.mutable_product()->set_display_name("Granola 500 g");
  product.mutable_product()->set_unit("pcs");
  ASSERT_TRUE(planner.CreateProduct(product).ok());

  // The night shift of 24 October is 13 h in Berlin: the clocks go back at 03:00.
  v1::ListShiftsRequest shifts;
  shifts.set_line_id("PACK-1");
  shifts.mutable_start_time()->set_seconds(1792864800);  // 2026-10-24 18:00Z
  shifts.mutable_end_time()->set_seconds(1792872000);    // + 2 h
  absl::StatusOr<v1::ListShiftsResponse> listed = planner.ListShifts(shifts);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->shifts_size(), 1);
  EXPECT_EQ(listed->shifts(0).id(), "2026-10-24/N");
  EXPECT_EQ(listed->shifts(0).planned_seconds(), 13 * 3600);

  v1::CreateProductionPlanRequest create;
  create.mutable_plan()->set_line_id("PACK-1");
  create.mutable_plan()->set_shift_id("2026-10-24/N");
  v1::PlanItem* item = create.mutable_plan()->add_items();
  item->set_product_id("GRANOLA-500G");
  item->set_quantity(10000);
  item->set_sequence(1);
  absl::StatusOr<v1::CreateProductionPlanResponse> created = planner.CreateProductionPlan(create);
  ASSERT_TRUE(created.ok()) << created.status();
  // Only planners (and admins) write plans.
  EXPECT_EQ(Planning("operator").CreateProductionPlan(create).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::PublishProductionPlanRequest publish;
  publish.set_id(created->plan().id());
  ASSERT_TRUE(planner.PublishProductionPlan(publish).ok());

  // The line reports; a retry of the same report (same request_id) counts once.
  v1::RecordOutputRequest output;
  output.mutable_output()->set_line_id("PACK-1");
  output.mutable_output()->set_shift_id("2026-10-24/N");
  output.mutable_output()->set_product_id("GRANOLA-500G");
  output.mutable_output()->set_packaged(9000);
  output.mutable_output()->set_marked(9000);
  output.mutable_output()->set_scrapped(300);
  output.mutable_output()->set_scrap_reason("SHELL-WASTE");
  output.set_request_id("pack-1-night-1");
  sdk::PlanningClient line_terminal = Planning("operator");
  ASSERT_TRUE(line_terminal.RecordOutput(output).ok());
  ASSERT_TRUE(line_terminal.RecordOutput(output).ok());
  EXPECT_EQ(Planning("manager").RecordOutput(output).status().code(),
            absl::StatusCode::kPermissionDenied);

  v1::GetPlanVsActualRequest compare;
  compare.set_from_date("2026-10-24");
  compare.set_to_date("2026-10-24");
  absl::StatusOr<v1::GetPlanVsActualResponse> report = Planning("manager").GetPlanVsActual(compare);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->rows_size(), 1);
  EXPECT_EQ(report->rows(0).planned(), 10000);
  EXPECT_EQ(report->rows(0).actual(), 9000);
  EXPECT_DOUBLE_EQ(report->rows(0).attainment_percent(), 90.0);

  // Written in its own schema; publish and output went to the outbox (or were relayed).
  pqxx::connection conn(mesh_->database_url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM planning.outputs")[0].as<int>(), 1);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM planning.plan_revisions")[0].as<int>(), 1);
}

}  // namespace
}  // namespace plantmesh::e2e
