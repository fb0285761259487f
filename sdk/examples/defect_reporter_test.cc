// Unit test of the example's integrator code (defect_reporter.h) on the SDK's generated
// mock connections (PlantMesh::sdk_mocks): no server, no network. The mocks see each
// request as the code built it.
#include "defect_reporter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "plantmesh/defect/v1/defect_service.pm_mock.h"
#include "plantmesh/system/v1/system_service.pm_mock.h"

namespace plantmesh_examples {
namespace {

namespace dv1 = plantmesh::defect::v1;
using plantmesh::sdk::DefectClient;
using plantmesh::sdk::SystemClient;
using plantmesh::sdk::mocks::MockDefectConnection;
using plantmesh::sdk::mocks::MockSystemConnection;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Property;
using ::testing::Return;
using ::testing::StrictMock;

plantmesh::system::v1::WhoAmIResponse Me(const std::string& user,
                                         std::initializer_list<const char*> roles) {
  plantmesh::system::v1::WhoAmIResponse me;
  me.set_identity("spiffe://plant.local/user/" + user);
  for (const char* role : roles) me.add_roles(role);
  return me;
}

dv1::ListDefectCategoriesResponse Catalog(std::initializer_list<const char*> codes) {
  dv1::ListDefectCategoriesResponse catalog;
  for (const char* code : codes) catalog.add_categories()->set_code(code);
  return catalog;
}

class DefectReporterTest : public ::testing::Test {
 protected:
  // StrictMock: any call the test did not expect fails it (e.g. a create the role
  // check should have prevented).
  std::shared_ptr<StrictMock<MockSystemConnection>> system_ =
      std::make_shared<StrictMock<MockSystemConnection>>();
  std::shared_ptr<StrictMock<MockDefectConnection>> defects_ =
      std::make_shared<StrictMock<MockDefectConnection>>();
  DefectReporter reporter_{SystemClient(system_), DefectClient(defects_)};
};

TEST_F(DefectReporterTest, AnIdentityWithoutAReportingRoleIsToldWhichRolesWouldDo) {
  EXPECT_CALL(*system_, WhoAmI).WillOnce(Return(Me("nobody", {"mechanic"})));
  const absl::Status status = reporter_.CheckRoles();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("needs one of the roles operator, foreman, qc_engineer, admin, "
                        "integrator; spiffe://plant.local/user/nobody has only mechanic"));
}

TEST_F(DefectReporterTest, AForemanReportsIntoAnExistingCategoryWithoutCreatingIt) {
  EXPECT_CALL(*system_, WhoAmI).WillOnce(Return(Me("anna", {"foreman"})));
  EXPECT_CALL(*defects_, ListDefectCategories).WillOnce(Return(Catalog({"DENT", "PAINT-SCRATCH"})));
  dv1::CreateDefectResponse created;
  created.mutable_defect()->set_id("17");
  created.mutable_defect()->set_status(dv1::DEFECT_STATUS_REPORTED);
  EXPECT_CALL(*defects_,
              CreateDefect(Property(&dv1::CreateDefectRequest::defect,
                                    Property(&dv1::Defect::category_code, "PAINT-SCRATCH")),
                           _))
      .WillOnce(Return(created));

  ASSERT_TRUE(reporter_.CheckRoles().ok());
  ASSERT_TRUE(reporter_.EnsureCategory("PAINT-SCRATCH").ok());
  DefectReport report;
  report.category = "PAINT-SCRATCH";
  absl::StatusOr<dv1::Defect> defect = reporter_.Report(report);
  ASSERT_TRUE(defect.ok()) << defect.status();
  EXPECT_EQ(defect->id(), "17");
}

TEST_F(DefectReporterTest, AForemanIsToldWhoMayCreateAMissingCategory) {
  EXPECT_CALL(*system_, WhoAmI).WillOnce(Return(Me("anna", {"foreman"})));
  EXPECT_CALL(*defects_, ListDefectCategories).WillOnce(Return(Catalog({"DENT"})));
  ASSERT_TRUE(reporter_.CheckRoles().ok());
  const absl::Status status = reporter_.EnsureCategory("PAINT-SCRATCH");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("PAINT-SCRATCH does not exist, and creating it needs the role "
                        "qc_engineer or admin"));
}

TEST_F(DefectReporterTest, AnAdminCreatesAMissingCategoryAndAConcurrentCreateIsFine) {
  EXPECT_CALL(*system_, WhoAmI).WillOnce(Return(Me("ops", {"admin"})));
  EXPECT_CALL(*defects_, ListDefectCategories).WillRepeatedly(Return(Catalog({})));
  EXPECT_CALL(*defects_,
              CreateDefectCategory(Property(&dv1::CreateDefectCategoryRequest::category,
                                            Property(&dv1::DefectCategory::code, "PAINT-SCRATCH")),
                                   _))
      .WillOnce(Return(dv1::CreateDefectCategoryResponse()))
      .WillOnce(Return(absl::AlreadyExistsError("category PAINT-SCRATCH")));
  ASSERT_TRUE(reporter_.CheckRoles().ok());
  EXPECT_TRUE(reporter_.EnsureCategory("PAINT-SCRATCH").ok());
  EXPECT_TRUE(reporter_.EnsureCategory("PAINT-SCRATCH").ok());
}

TEST_F(DefectReporterTest, CountByStatusReadsEveryPage) {
  dv1::ListDefectsResponse first;
  first.add_defects()->set_status(dv1::DEFECT_STATUS_REPORTED);
  first.add_defects()->set_status(dv1::DEFECT_STATUS_REPORTED);
  first.set_next_page_token("page-2");
  dv1::ListDefectsResponse second;
  second.add_defects()->set_status(dv1::DEFECT_STATUS_CANCELLED);
  EXPECT_CALL(*defects_, ListDefects(Property(&dv1::ListDefectsRequest::page_token, ""), _))
      .WillOnce(Return(first));
  EXPECT_CALL(*defects_, ListDefects(Property(&dv1::ListDefectsRequest::page_token, "page-2"), _))
      .WillOnce(Return(second));
  absl::StatusOr<std::map<std::string, int>> counts = reporter_.CountByStatus("PAINT");
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ((*counts)["DEFECT_STATUS_REPORTED"], 2);
  EXPECT_EQ((*counts)["DEFECT_STATUS_CANCELLED"], 1);
}

TEST_F(DefectReporterTest, AServerErrorReachesTheCallerUnchanged) {
  EXPECT_CALL(*system_, WhoAmI).WillOnce(Return(absl::UnavailableError("connection refused")));
  EXPECT_EQ(reporter_.CheckRoles().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace plantmesh_examples
