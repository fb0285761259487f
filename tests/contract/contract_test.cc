// Rules of our contracts that buf lint cannot check, read from the compiled
// descriptors: every method says who may call it and whether it is safe to retry,
// names only known roles, and a retry-safe write carries what makes it safe.
#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "plantmesh/api/v1/annotations.pb.h"
#include "plantmesh/sdk/internal/contracts.h"

namespace plantmesh {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::MethodOptions;
using google::protobuf::ServiceDescriptor;

const std::vector<std::string> kKnownRoles = {"operator", "mechanic", "foreman", "qc_engineer",
                                              "planner",  "manager",  "admin",   "integrator"};

std::vector<const ServiceDescriptor*> AllServices() {
  std::vector<const ServiceDescriptor*> services;
  for (const google::protobuf::FileDescriptor* file : sdk::internal::ContractFiles()) {
    for (int s = 0; s < file->service_count(); ++s) services.push_back(file->service(s));
  }
  return services;
}

std::vector<const MethodDescriptor*> AllMethods() {
  std::vector<const MethodDescriptor*> methods;
  for (const ServiceDescriptor* service : AllServices()) {
    for (int m = 0; m < service->method_count(); ++m) methods.push_back(service->method(m));
  }
  return methods;
}

TEST(ContractTest, ServicesAreFound) {
  EXPECT_EQ(AllServices().size(), 2u);
  EXPECT_GT(AllMethods().size(), 15u);
}

TEST(ContractTest, EveryMethodDeclaresAccessAndRetrySafety) {
  for (const MethodDescriptor* method : AllMethods()) {
    SCOPED_TRACE(method->full_name());
    ASSERT_TRUE(method->options().HasExtension(api::v1::access));
    const api::v1::AccessRule& rule = method->options().GetExtension(api::v1::access);
    EXPECT_TRUE(rule.any_authenticated() || rule.roles_size() > 0);
    EXPECT_NE(method->options().idempotency_level(), MethodOptions::IDEMPOTENCY_UNKNOWN);
  }
}

TEST(ContractTest, RolesAreTheEightKnownOnesWithoutDuplicates) {
  for (const MethodDescriptor* method : AllMethods()) {
    SCOPED_TRACE(method->full_name());
    const auto& roles = method->options().GetExtension(api::v1::access).roles();
    std::vector<std::string> seen;
    for (const std::string& role : roles) {
      EXPECT_NE(std::find(kKnownRoles.begin(), kKnownRoles.end(), role), kKnownRoles.end())
          << "unknown role " << role;
      EXPECT_EQ(std::find(seen.begin(), seen.end(), role), seen.end()) << "duplicate " << role;
      seen.push_back(role);
    }
  }
}

TEST(ContractTest, RetrySafeWritesCarryARequestIdOrEtag) {
  for (const MethodDescriptor* method : AllMethods()) {
    if (method->options().idempotency_level() != MethodOptions::IDEMPOTENT) continue;
    SCOPED_TRACE(method->full_name());
    const google::protobuf::Descriptor* request = method->input_type();
    bool has_key = request->FindFieldByName("request_id") != nullptr ||
                   request->FindFieldByName("etag") != nullptr;
    // A client stream carries it in its first message (e.g. metadata.request_id).
    for (int f = 0; f < request->field_count() && !has_key; ++f) {
      const FieldDescriptor* field = request->field(f);
      if (field->message_type() != nullptr) {
        has_key = field->message_type()->FindFieldByName("request_id") != nullptr;
      }
    }
    EXPECT_TRUE(has_key) << "IDEMPOTENT but nothing makes a retry safe";
  }
}

TEST(ContractTest, ReadsHaveNoSideEffectsAndNoRequestId) {
  for (const MethodDescriptor* method : AllMethods()) {
    const std::string& name = method->name();
    bool read = name.rfind("Get", 0) == 0 || name.rfind("List", 0) == 0 ||
                name.rfind("Watch", 0) == 0 || name.rfind("Download", 0) == 0 || name == "WhoAmI";
    if (!read) continue;
    SCOPED_TRACE(method->full_name());
    EXPECT_EQ(method->options().idempotency_level(), MethodOptions::NO_SIDE_EFFECTS);
    EXPECT_EQ(method->input_type()->FindFieldByName("request_id"), nullptr);
  }
}

TEST(ContractTest, PagedListsFollowTheStandardShape) {
  for (const MethodDescriptor* method : AllMethods()) {
    const google::protobuf::Descriptor* request = method->input_type();
    if (request->FindFieldByName("page_token") == nullptr) continue;
    SCOPED_TRACE(method->full_name());
    const FieldDescriptor* page_size = request->FindFieldByName("page_size");
    ASSERT_NE(page_size, nullptr);
    EXPECT_EQ(page_size->type(), FieldDescriptor::TYPE_INT32);
    const google::protobuf::Descriptor* response = method->output_type();
    ASSERT_NE(response->FindFieldByName("next_page_token"), nullptr);
    int repeated_messages = 0;
    for (int f = 0; f < response->field_count(); ++f) {
      repeated_messages +=
          response->field(f)->is_repeated() && response->field(f)->message_type() != nullptr;
    }
    EXPECT_EQ(repeated_messages, 1);
  }
}

// Every plantmesh file a service file reaches through its imports.
std::vector<const google::protobuf::FileDescriptor*> AllPlantMeshFiles() {
  std::vector<const google::protobuf::FileDescriptor*> files = sdk::internal::ContractFiles();
  for (size_t i = 0; i < files.size(); ++i) {
    for (int d = 0; d < files[i]->dependency_count(); ++d) {
      const google::protobuf::FileDescriptor* dependency = files[i]->dependency(d);
      if (dependency->package().rfind("plantmesh.", 0) == 0 &&
          std::find(files.begin(), files.end(), dependency) == files.end()) {
        files.push_back(dependency);
      }
    }
  }
  return files;
}

TEST(ContractTest, EveryContractServiceIsChecked) {
  std::vector<std::string> names;
  for (const ServiceDescriptor* service : AllServices()) names.push_back(service->full_name());
  EXPECT_NE(std::find(names.begin(), names.end(), "plantmesh.defect.v1.DefectService"),
            names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "plantmesh.system.v1.SystemService"),
            names.end());
}

TEST(ContractTest, EnumsStartWithUnspecified) {
  for (const google::protobuf::FileDescriptor* file : AllPlantMeshFiles()) {
    for (int e = 0; e < file->enum_type_count(); ++e) {
      const google::protobuf::EnumDescriptor* type = file->enum_type(e);
      const std::string& zero = type->FindValueByNumber(0)->name();
      EXPECT_GE(zero.size(), 12u);
      EXPECT_EQ(zero.substr(zero.size() - 12), "_UNSPECIFIED") << type->full_name();
    }
  }
}

}  // namespace
}  // namespace plantmesh
