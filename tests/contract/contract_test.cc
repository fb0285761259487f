// Rules of our contracts that buf lint cannot check, read from the compiled descriptors
// by the contract reader every program uses (plantmesh/common/contract.h): every method
// says who may call it and whether it is safe to retry, names roles of the Role enum only,
// and a retry-safe write carries what makes it safe.
#include "plantmesh/common/contract.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "plantmesh/sdk/internal/contracts.h"
#include "plantmesh/sdk/internal/service_config.h"

namespace plantmesh {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::MethodOptions;
using google::protobuf::ServiceDescriptor;

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
  std::set<std::string> names;
  for (const ServiceDescriptor* service : AllServices()) names.insert(service->full_name());
  EXPECT_TRUE(names.count("plantmesh.defect.v1.DefectService"));
  EXPECT_TRUE(names.count("plantmesh.system.v1.SystemService"));
  EXPECT_TRUE(names.count("plantmesh.telemetry.v1.TelemetryService"));
  EXPECT_TRUE(names.count("plantmesh.planning.v1.PlanningService"));
  EXPECT_GT(AllMethods().size(), 15u);
}

TEST(ContractTest, EveryMethodDeclaresAccessAndRetrySafety) {
  for (const MethodDescriptor* method : AllMethods()) {
    SCOPED_TRACE(method->full_name());
    const contract::MethodContract declared = contract::MethodContractOf(method);
    ASSERT_TRUE(declared.declares_access);
    EXPECT_TRUE(declared.any_authenticated || !declared.roles.empty());
    EXPECT_NE(declared.idempotency, MethodOptions::IDEMPOTENCY_UNKNOWN);
  }
}

// Roles are values of plantmesh.api.v1.Role; the deprecated string list, ROLE_UNSPECIFIED
// and duplicates are refused (the generator and the server refuse them too).
TEST(ContractTest, AccessRulesAreValid) {
  for (const ServiceDescriptor* service : AllServices()) {
    EXPECT_TRUE(contract::ValidateService(service).ok()) << contract::ValidateService(service);
  }
}

TEST(ContractTest, TheRolesAreThoseOfTheArchitecture) {
  EXPECT_EQ(contract::KnownRoleNames(),
            "operator, mechanic, foreman, qc_engineer, planner, manager, admin, integrator");
}

// The roles of each method, spelled out: a change of who may call what is a reviewed
// change of this table, not a side effect.
TEST(ContractTest, WhoMayCallWhat) {
  std::map<std::string, std::string> who;
  for (const MethodDescriptor* method : AllMethods()) {
    who[method->service()->name() + "." + method->name()] =
        contract::MethodContractOf(method).WhoMayCall();
  }
  const std::string all_readers =
      "operator, mechanic, foreman, qc_engineer, manager, admin, integrator";
  EXPECT_EQ(who["DefectService.CreateDefect"], "operator, foreman, qc_engineer, admin, integrator");
  EXPECT_EQ(who["DefectService.GetDefect"], all_readers);
  EXPECT_EQ(who["DefectService.ListDefects"], all_readers);
  EXPECT_EQ(who["DefectService.UpdateDefect"], "foreman, qc_engineer, admin");
  EXPECT_EQ(who["DefectService.AssignDefect"], "foreman, admin");
  EXPECT_EQ(who["DefectService.StartRepair"], "mechanic, foreman, admin");
  EXPECT_EQ(who["DefectService.VerifyRepair"], "qc_engineer, admin");
  EXPECT_EQ(who["SystemService.WhoAmI"], "any authenticated identity");
  EXPECT_EQ(who["PlanningService.CreateProductionPlan"], "planner, admin");
  EXPECT_EQ(who["PlanningService.ReviseProductionPlan"], "planner, admin");
  EXPECT_EQ(who["PlanningService.StartProductionPlan"], "planner, foreman, admin");
  EXPECT_EQ(who["PlanningService.RecordOutput"], "operator, foreman, integrator, admin");
  EXPECT_EQ(who["PlanningService.GetPlanVsActual"],
            "operator, mechanic, foreman, qc_engineer, planner, manager, admin, integrator");
}

TEST(ContractTest, RetrySafeWritesCarryARequestIdOrEtag) {
  for (const MethodDescriptor* method : AllMethods()) {
    if (contract::MethodContractOf(method).idempotency != MethodOptions::IDEMPOTENT) continue;
    SCOPED_TRACE(method->full_name());
    // A client stream carries it in its first message (e.g. metadata.request_id); an
    // ingest stream numbers its batches per writer (writer_id, batch_sequence); a writer's
    // fence only rises, so setting it again changes nothing (writer_id,
    // fence_batch_sequence).
    const google::protobuf::Descriptor* input = method->input_type();
    const bool has_key = contract::IdempotentByRequestId(method) ||
                         input->FindFieldByName("etag") != nullptr ||
                         (input->FindFieldByName("writer_id") != nullptr &&
                          (input->FindFieldByName("batch_sequence") != nullptr ||
                           input->FindFieldByName("fence_batch_sequence") != nullptr));
    EXPECT_TRUE(has_key) << "IDEMPOTENT but nothing makes a retry safe";
  }
}

// A request_id is a key: `MES-7 ` beside `MES-7` would store one retried write twice
// (outside testing: five output records for one reading), so every one, in every request
// of every service, refuses blanks and invisible characters around it.
TEST(ContractTest, EveryRequestIdRefusesBlanksAroundIt) {
  int request_ids = 0;
  for (const MethodDescriptor* method : AllMethods()) {
    const contract::RequestIdField request_id = contract::RequestIdOf(method->input_type());
    if (request_id.field == nullptr) continue;
    ++request_ids;
    EXPECT_TRUE(contract::TextRuleOf(request_id.field).no_blanks_around())
        << request_id.field->full_name();
  }
  EXPECT_GE(request_ids, 30);
}

// The SDK retries exactly what the contract marks safe: its generated list and the
// reader agree.
TEST(ContractTest, TheSdksRetryListIsTheContracts) {
  std::set<std::string> generated;
  for (const sdk::internal::RetrySafeMethod& method : sdk::internal::GeneratedRetrySafeMethods()) {
    generated.insert(std::string(method.service) + "." + method.method);
  }
  std::set<std::string> declared;
  for (const MethodDescriptor* method : AllMethods()) {
    if (contract::MethodContractOf(method).retry_safe()) {
      declared.insert(method->service()->full_name() + "." + method->name());
    }
  }
  EXPECT_EQ(generated, declared);
}

TEST(ContractTest, ReadsHaveNoSideEffectsAndNoRequestId) {
  for (const MethodDescriptor* method : AllMethods()) {
    const std::string& name = method->name();
    bool read = name.rfind("Get", 0) == 0 || name.rfind("List", 0) == 0 ||
                name.rfind("Watch", 0) == 0 || name.rfind("Download", 0) == 0 || name == "WhoAmI";
    if (!read) continue;
    SCOPED_TRACE(method->full_name());
    EXPECT_FALSE(contract::MethodContractOf(method).mutating());
    EXPECT_EQ(contract::RequestIdOf(method->input_type()).field, nullptr);
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
  EXPECT_NE(std::find(names.begin(), names.end(), "plantmesh.planning.v1.PlanningService"),
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
