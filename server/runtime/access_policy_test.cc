#include "server/runtime/access_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plantmesh/defect/v1/defect_service.pb.h"
#include "plantmesh/system/v1/system_service.pb.h"

namespace plantmesh::runtime {
namespace {

using ::testing::ElementsAre;

constexpr char kDefectService[] = "plantmesh.defect.v1.DefectService";
constexpr char kSystemService[] = "plantmesh.system.v1.SystemService";

class AccessPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Link the contracts' descriptors into this binary.
    ASSERT_NE(defect::v1::AssignDefectRequest::descriptor(), nullptr);
    ASSERT_NE(system::v1::WhoAmIRequest::descriptor(), nullptr);
    absl::StatusOr<AccessPolicy> policy =
        AccessPolicy::FromServices({kDefectService, kSystemService});
    ASSERT_TRUE(policy.ok()) << policy.status();
    policy_ = *std::move(policy);
  }
  AccessPolicy policy_;
};

TEST_F(AccessPolicyTest, ReadsRolesFromTheDefectContract) {
  const MethodAccess* assign = policy_.Find("plantmesh.defect.v1.DefectService.AssignDefect");
  ASSERT_NE(assign, nullptr);
  EXPECT_TRUE(assign->declared);
  EXPECT_THAT(assign->roles, ElementsAre("foreman", "admin"));
  EXPECT_EQ(assign->roles_text, "foreman, admin");
  EXPECT_EQ(assign->display_name, "DefectService.AssignDefect");
  EXPECT_TRUE(assign->mutating);
  EXPECT_TRUE(assign->Allows({"foreman"}));
  EXPECT_TRUE(assign->Allows({"operator", "admin"}));
  EXPECT_FALSE(assign->Allows({"operator", "mechanic"}));
  EXPECT_FALSE(assign->Allows({}));
}

TEST_F(AccessPolicyTest, ReadsAreNotMutating) {
  const MethodAccess* get = policy_.Find("plantmesh.defect.v1.DefectService.GetDefect");
  ASSERT_NE(get, nullptr);
  EXPECT_FALSE(get->mutating);
  const MethodAccess* watch = policy_.Find("plantmesh.defect.v1.DefectService.WatchDefects");
  ASSERT_NE(watch, nullptr);
  EXPECT_FALSE(watch->mutating);
  const MethodAccess* upload = policy_.Find("plantmesh.defect.v1.DefectService.UploadDefectPhoto");
  ASSERT_NE(upload, nullptr);
  EXPECT_TRUE(upload->mutating);
}

TEST_F(AccessPolicyTest, EveryDefectMethodDeclaresAccess) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(kDefectService);
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const MethodAccess* access = policy_.Find(service->method(i)->full_name());
    ASSERT_NE(access, nullptr) << service->method(i)->full_name();
    EXPECT_TRUE(access->declared) << access->full_name;
    EXPECT_TRUE(access->any_authenticated || !access->roles.empty()) << access->full_name;
  }
}

TEST_F(AccessPolicyTest, WhoAmIIsForAnyAuthenticatedIdentity) {
  const MethodAccess* who = policy_.Find("plantmesh.system.v1.SystemService.WhoAmI");
  ASSERT_NE(who, nullptr);
  EXPECT_TRUE(who->any_authenticated);
  EXPECT_TRUE(who->Allows({}));
  EXPECT_FALSE(who->mutating);
}

TEST_F(AccessPolicyTest, UnknownMethodsAndServices) {
  EXPECT_EQ(policy_.Find("plantmesh.defect.v1.DefectService.DropTables"), nullptr);
  EXPECT_EQ(AccessPolicy::FromServices({"plantmesh.nope.v1.NopeService"}).status().code(),
            absl::StatusCode::kNotFound);
  MethodAccess undeclared;
  EXPECT_FALSE(undeclared.Allows({"admin"}));
}

}  // namespace
}  // namespace plantmesh::runtime
