// The defect lifecycle over mTLS through the SDK: report → assign → start → finish →
// reject → start → finish → accept, with history, the four-eyes rule and illegal moves.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/shared_mesh_test.h"

namespace plantmesh::e2e {
namespace {

using defect::v1::ChangeType;
using defect::v1::Defect;
using ::testing::HasSubstr;

std::string Identity(const std::string& user) {
  return absl::StrCat("spiffe://", testing::TestPki::kTrustDomain, "/user/", user);
}

class LifecycleTest : public SharedMeshTest {
 protected:
  Defect Report(const std::string& vin) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(vin);
    absl::StatusOr<defect::v1::CreateDefectResponse> created =
        mesh_->Defects("otto").CreateDefect(request);
    EXPECT_TRUE(created.ok()) << Describe(created.status());
    return created.ok() ? created->defect() : Defect();
  }
};

TEST_F(LifecycleTest, FullLifecycleIsRecordedWithActors) {
  sdk::DefectClient anna = mesh_->Defects("anna");
  sdk::DefectClient mike = mesh_->Defects("mike");
  sdk::DefectClient quinn = mesh_->Defects("quinn");

  Defect reported = Report("VIN-LIFECYCLE-1");
  ASSERT_FALSE(reported.id().empty());
  EXPECT_EQ(reported.status(), defect::v1::DEFECT_STATUS_REPORTED);
  EXPECT_EQ(reported.reported_by(), Identity("otto"));
  EXPECT_FALSE(reported.etag().empty());

  defect::v1::AssignDefectRequest assign;
  assign.set_id(reported.id());
  assign.set_repair_place_id("RP-01");
  assign.set_mechanic_id("M-107");
  assign.set_etag(reported.etag());
  auto assigned = anna.AssignDefect(assign);
  ASSERT_TRUE(assigned.ok()) << Describe(assigned.status());
  EXPECT_EQ(assigned->defect().status(), defect::v1::DEFECT_STATUS_ASSIGNED);
  EXPECT_EQ(assigned->defect().assignment().assigned_by(), Identity("anna"));

  auto start_and_finish = [&](const std::string& work) {
    defect::v1::StartRepairRequest start;
    start.set_id(reported.id());
    auto started = mike.StartRepair(start);
    ASSERT_TRUE(started.ok()) << Describe(started.status());
    EXPECT_EQ(started->defect().status(), defect::v1::DEFECT_STATUS_IN_REPAIR);
    defect::v1::FinishRepairRequest finish;
    finish.set_id(reported.id());
    finish.set_work_done(work);
    finish.set_labor_minutes(25);
    auto finished = mike.FinishRepair(finish);
    ASSERT_TRUE(finished.ok()) << Describe(finished.status());
    EXPECT_EQ(finished->defect().status(), defect::v1::DEFECT_STATUS_REPAIRED);
    EXPECT_EQ(finished->defect().repair().finished_by(), Identity("mike"));
  };
  start_and_finish("Polished");

  defect::v1::VerifyRepairRequest reject;
  reject.set_id(reported.id());
  reject.set_decision(defect::v1::QC_DECISION_REJECT);
  reject.set_reason("Scratch still visible under the lamp");
  auto rejected = quinn.VerifyRepair(reject);
  ASSERT_TRUE(rejected.ok()) << Describe(rejected.status());
  EXPECT_EQ(rejected->defect().status(), defect::v1::DEFECT_STATUS_REOPENED);
  EXPECT_FALSE(rejected->defect().verification().accepted());

  start_and_finish("Repainted the panel");

  defect::v1::VerifyRepairRequest accept;
  accept.set_id(reported.id());
  accept.set_decision(defect::v1::QC_DECISION_ACCEPT);
  auto accepted = quinn.VerifyRepair(accept);
  ASSERT_TRUE(accepted.ok()) << Describe(accepted.status());
  EXPECT_EQ(accepted->defect().status(), defect::v1::DEFECT_STATUS_CLOSED);
  EXPECT_TRUE(accepted->defect().has_close_time());

  defect::v1::GetDefectHistoryRequest history_request;
  history_request.set_id(reported.id());
  auto history = mesh_->Defects("otto").GetDefectHistory(history_request);
  ASSERT_TRUE(history.ok()) << Describe(history.status());
  std::vector<std::pair<ChangeType, std::string>> steps;
  for (const defect::v1::HistoryEntry& entry : history->entries()) {
    steps.emplace_back(entry.change_type(), entry.actor());
  }
  std::vector<std::pair<ChangeType, std::string>> expected = {
      {defect::v1::CHANGE_TYPE_REPORTED, Identity("otto")},
      {defect::v1::CHANGE_TYPE_ASSIGNED, Identity("anna")},
      {defect::v1::CHANGE_TYPE_REPAIR_STARTED, Identity("mike")},
      {defect::v1::CHANGE_TYPE_REPAIR_FINISHED, Identity("mike")},
      {defect::v1::CHANGE_TYPE_REPAIR_REJECTED, Identity("quinn")},
      {defect::v1::CHANGE_TYPE_REPAIR_STARTED, Identity("mike")},
      {defect::v1::CHANGE_TYPE_REPAIR_FINISHED, Identity("mike")},
      {defect::v1::CHANGE_TYPE_REPAIR_ACCEPTED, Identity("quinn")},
  };
  EXPECT_EQ(steps, expected);
  for (int i = 0; i < history->entries_size(); ++i) {
    EXPECT_EQ(history->entries(i).sequence(), i + 1);
  }
  ASSERT_EQ(history->entries_size(), 8);
  EXPECT_EQ(history->entries(4).comment(), "Scratch still visible under the lamp");
}

TEST_F(LifecycleTest, VerifierWhoFinishedTheRepairIsRefused) {
  sdk::DefectClient ops = mesh_->Defects("ops");  // admin: may repair and verify
  Defect reported = Report("VIN-FOUR-EYES");
  defect::v1::AssignDefectRequest assign;
  assign.set_id(reported.id());
  assign.set_repair_place_id("RP-02");
  assign.set_mechanic_id("M-107");
  ASSERT_TRUE(ops.AssignDefect(assign).ok());
  defect::v1::StartRepairRequest start;
  start.set_id(reported.id());
  ASSERT_TRUE(ops.StartRepair(start).ok());
  defect::v1::FinishRepairRequest finish;
  finish.set_id(reported.id());
  finish.set_work_done("Polished");
  finish.set_labor_minutes(10);
  ASSERT_TRUE(ops.FinishRepair(finish).ok());

  defect::v1::VerifyRepairRequest verify;
  verify.set_id(reported.id());
  verify.set_decision(defect::v1::QC_DECISION_ACCEPT);
  auto refused = ops.VerifyRepair(verify);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied)
      << Describe(refused.status());
  EXPECT_EQ(sdk::ErrorReason(refused.status()), "FOUR_EYES_REQUIRED");

  // Someone else may, and the defect was left as it was.
  auto accepted = mesh_->Defects("quinn").VerifyRepair(verify);
  ASSERT_TRUE(accepted.ok()) << Describe(accepted.status());
  EXPECT_EQ(accepted->defect().status(), defect::v1::DEFECT_STATUS_CLOSED);
}

TEST_F(LifecycleTest, IllegalTransitionNamesTheCurrentStatus) {
  Defect reported = Report("VIN-ILLEGAL");
  defect::v1::FinishRepairRequest finish;
  finish.set_id(reported.id());
  finish.set_work_done("Nothing yet");
  finish.set_labor_minutes(5);
  auto refused = mesh_->Defects("mike").FinishRepair(finish);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
      << Describe(refused.status());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("REPORTED"));
  EXPECT_EQ(sdk::ErrorReason(refused.status()), "ILLEGAL_TRANSITION");
  EXPECT_THAT(sdk::ErrorMetadata(refused.status(), "current_status"), HasSubstr("REPORTED"));

  defect::v1::GetDefectRequest get;
  get.set_id(reported.id());
  auto unchanged = mesh_->Defects("otto").GetDefect(get);
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->defect().status(), defect::v1::DEFECT_STATUS_REPORTED);
  EXPECT_EQ(unchanged->defect().etag(), reported.etag());
}

TEST_F(LifecycleTest, WhoAmIReportsIdentityAndRoles) {
  auto me = mesh_->System("anna").WhoAmI(system::v1::WhoAmIRequest());
  ASSERT_TRUE(me.ok()) << Describe(me.status());
  EXPECT_EQ(me->identity(), Identity("anna"));
  EXPECT_THAT(me->roles(), ::testing::ElementsAre("foreman"));
  EXPECT_THAT(me->services(), ::testing::Contains("plantmesh.defect.v1.DefectService"));
}

}  // namespace
}  // namespace plantmesh::e2e
