// The audit log end to end: every method of DefectService that changes something is
// called once through the SDK, and so is one refused call; after SIGTERM (the drain
// flushes the audit sink) audit.audit_log in the server's database holds a row for each
// with the caller's identity and the outcome.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <map>
#include <pqxx/pqxx>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "plantmesh/common/contract.h"
#include "plantmesh/common/sha256.h"
#include "plantmesh/defect/v1/defect_service.pb.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

std::string Identity(const std::string& user) {
  return absl::StrCat("spiffe://", testing::TestPki::kTrustDomain, "/user/", user);
}

// Calls a unary method with `bytes` as its request (empty: admitted, then refused by
// validation).
grpc::Status CallUnaryWithBytes(const Mesh& mesh, const std::string& user, const std::string& path,
                                const std::string& bytes = "") {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(mesh.OptionsFor(user));
  if (!channel.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "no channel");
  grpc::GenericStub stub(*channel);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, path, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  return status;
}

// Makes one successful call of every changing method it knows, as the user the story
// gives that role; returns method name -> user.
std::map<std::string, std::string> ChangeEverything(Mesh& mesh) {
  std::map<std::string, std::string> callers;
  // Reference data: CreateDefectCategory, CreateCrew, CreateRepairPlace, CreateMechanic.
  EXPECT_TRUE(mesh.SeedReferenceData().ok());
  for (const char* method :
       {"CreateDefectCategory", "CreateCrew", "CreateRepairPlace", "CreateMechanic"}) {
    callers[method] = "ops";
  }

  defect::v1::CreateDefectRequest create;
  *create.mutable_defect() = SampleDefect("VIN-AUDIT-1");
  auto created = mesh.Defects("otto").CreateDefect(create);
  EXPECT_TRUE(created.ok()) << Describe(created.status());
  if (!created.ok()) return callers;
  callers["CreateDefect"] = "otto";
  const std::string id = created->defect().id();

  defect::v1::UpdateDefectRequest update;
  update.mutable_defect()->set_id(id);
  update.mutable_defect()->set_description("Scratch on the left rear door, 5 cm");
  update.mutable_update_mask()->add_paths("description");
  update.set_etag(created->defect().etag());
  auto updated = mesh.Defects("anna").UpdateDefect(update);
  EXPECT_TRUE(updated.ok()) << Describe(updated.status());
  callers["UpdateDefect"] = "anna";

  defect::v1::AssignDefectRequest assign;
  assign.set_id(id);
  assign.set_repair_place_id("RP-01");
  assign.set_mechanic_id("M-107");
  auto assigned = mesh.Defects("anna").AssignDefect(assign);
  EXPECT_TRUE(assigned.ok()) << Describe(assigned.status());
  callers["AssignDefect"] = "anna";

  defect::v1::StartRepairRequest start;
  start.set_id(id);
  auto started = mesh.Defects("mike").StartRepair(start);
  EXPECT_TRUE(started.ok()) << Describe(started.status());
  callers["StartRepair"] = "mike";

  defect::v1::FinishRepairRequest finish;
  finish.set_id(id);
  finish.set_work_done("Polished and sealed");
  finish.set_labor_minutes(20);
  auto finished = mesh.Defects("mike").FinishRepair(finish);
  EXPECT_TRUE(finished.ok()) << Describe(finished.status());
  callers["FinishRepair"] = "mike";

  // Before QC closes it: a closed defect takes no new photo.
  const std::string photo = "\x89PNG\r\n\x1a\nnot really an image, but bytes";
  sdk::DefectClient otto = mesh.Defects("otto");
  auto upload = otto.UploadDefectPhoto();
  defect::v1::UploadDefectPhotoRequest metadata;
  metadata.mutable_metadata()->set_defect_id(id);
  metadata.mutable_metadata()->set_content_type("image/png");
  metadata.mutable_metadata()->set_size_bytes(static_cast<int64_t>(photo.size()));
  metadata.mutable_metadata()->set_sha256(common::Sha256Hex(photo));
  metadata.mutable_metadata()->set_request_id("audit-photo-1");
  defect::v1::UploadDefectPhotoRequest chunk;
  chunk.set_chunk(photo);
  EXPECT_TRUE(upload->Write(metadata));
  EXPECT_TRUE(upload->Write(chunk));
  auto uploaded = upload->Finish();
  EXPECT_TRUE(uploaded.ok()) << Describe(uploaded.status());
  callers["UploadDefectPhoto"] = "otto";

  defect::v1::VerifyRepairRequest verify;
  verify.set_id(id);
  verify.set_decision(defect::v1::QC_DECISION_ACCEPT);
  auto verified = mesh.Defects("quinn").VerifyRepair(verify);
  EXPECT_TRUE(verified.ok()) << Describe(verified.status());
  callers["VerifyRepair"] = "quinn";

  defect::v1::CreateDefectRequest create_other;
  *create_other.mutable_defect() = SampleDefect("VIN-AUDIT-2");
  auto other = mesh.Defects("otto").CreateDefect(create_other);
  EXPECT_TRUE(other.ok()) << Describe(other.status());
  if (other.ok()) {
    defect::v1::CancelDefectRequest cancel;
    cancel.set_id(other->defect().id());
    cancel.set_reason("Reported twice");
    auto cancelled = mesh.Defects("anna").CancelDefect(cancel);
    EXPECT_TRUE(cancelled.ok()) << Describe(cancelled.status());
    callers["CancelDefect"] = "anna";
  }

  return callers;
}

bool ChangesSomething(const MethodDescriptor& method) {
  return contract::MethodContractOf(&method).mutating();
}

TEST(AuditTest, EveryChangeAndEveryRefusalIsInTheAuditLogAfterSigterm) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start();
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;

  std::map<std::string, std::string> callers = ChangeEverything(mesh);
  const ServiceDescriptor& service =
      *defect::v1::CreateDefectRequest::descriptor()->file()->FindServiceByName("DefectService");
  std::vector<const MethodDescriptor*> changing;
  for (int m = 0; m < service.method_count(); ++m) {
    const MethodDescriptor& method = *service.method(m);
    if (!ChangesSomething(method)) continue;
    changing.push_back(&method);
    if (callers.count(method.name()) > 0) continue;
    // A method this test does not know yet: any admitted call is audited too.
    ASSERT_FALSE(method.client_streaming() || method.server_streaming())
        << method.full_name() << " streams: give it a call in ChangeEverything";
    const std::vector<std::string> roles = contract::MethodContractOf(&method).RoleNames();
    ASSERT_FALSE(roles.empty()) << method.full_name();
    const std::string user = roles[0];
    grpc::Status status =
        CallUnaryWithBytes(mesh, user, absl::StrCat("/", service.full_name(), "/", method.name()));
    EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method.full_name();
    callers[method.name()] = absl::StrReplaceAll(user, {{"_", "-"}});  // the user's name
  }
  ASSERT_GE(changing.size(), 12u);

  // A refused call: an operator may not assign.
  defect::v1::AssignDefectRequest refused;
  refused.set_id("1");
  refused.set_repair_place_id("RP-01");
  refused.set_mechanic_id("M-107");
  auto denied = mesh.Defects("otto").AssignDefect(refused);
  ASSERT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied)
      << Describe(denied.status());

  // Refused by the input rules, audited with what was sent (outside testing: every
  // INVALID_ARGUMENT row's request was empty): a message as JSON; bytes that are no
  // message (a vin that is not UTF-8) as their size and base64.
  defect::v1::CreateDefectRequest hostile;
  *hostile.mutable_defect() = SampleDefect("VIN-AUDIT-\n-LINE");
  hostile.set_request_id("refused-by-a-rule");
  EXPECT_EQ(mesh.Defects("otto").CreateDefect(hostile).status().code(),
            absl::StatusCode::kInvalidArgument);
  hostile.mutable_defect()->set_vin("VIN-AUDIT-@");
  std::string not_utf8 = hostile.SerializeAsString();
  not_utf8[not_utf8.find('@')] = '\xff';
  EXPECT_EQ(
      CallUnaryWithBytes(mesh, "otto", "/plantmesh.defect.v1.DefectService/CreateDefect", not_utf8)
          .error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_EQ(mesh.server().Terminate(), 0) << mesh.server().log();

  pqxx::connection connection(mesh.database_url());
  pqxx::work tx(connection);
  // The method column holds the fully qualified name; either spelling is accepted.
  auto rows_of = [&](const MethodDescriptor& method, const std::string& user,
                     const std::string& extra_condition) {
    return tx
        .exec_params(absl::StrCat("SELECT count(*) FROM audit.audit_log WHERE method IN ($1, $2) "
                                  "AND identity = $3 ",
                                  extra_condition),
                     method.full_name(),
                     absl::StrCat("/", method.service()->full_name(), "/", method.name()),
                     Identity(user))[0][0]
        .as<int>();
  };
  for (const MethodDescriptor* method : changing) {
    const std::string& user = callers[method->name()];
    EXPECT_GE(rows_of(*method, user, ""), 1)
        << "no audit row for " << method->full_name() << " by " << Identity(user);
  }
  // Successful calls are recorded as OK with their request.
  EXPECT_GE(rows_of(*service.FindMethodByName("CreateDefect"), "otto",
                    "AND status_code = 0 AND request->'defect'->>'vin' = 'VIN-AUDIT-1'"),
            1);
  EXPECT_GE(rows_of(*service.FindMethodByName("VerifyRepair"), "quinn", "AND status_code = 0"), 1);
  EXPECT_EQ(rows_of(*service.FindMethodByName("CreateDefect"), "otto",
                    "AND status_code = 3 AND request->'defect'->>'vin' = E'VIN-AUDIT-\\n-LINE' "
                    "AND request->>'request_id' = 'refused-by-a-rule'"),
            1);
  EXPECT_EQ(
      rows_of(*service.FindMethodByName("CreateDefect"), "otto",
              absl::StrCat("AND status_code = 3 AND (request->'refused_request'->>'bytes')::int "
                           "= ",
                           not_utf8.size(),
                           " AND decode(request->'refused_request'->>'base64', 'base64') = "
                           "decode('",
                           absl::Base64Escape(not_utf8), "', 'base64')")),
      1);
  // The refusal: PERMISSION_DENIED (7) with the operator's identity and role.
  EXPECT_EQ(rows_of(*service.FindMethodByName("AssignDefect"), "otto",
                    "AND status_code = 7 AND roles = ARRAY['operator']"),
            1);

  pqxx::result all = tx.exec("SELECT method, identity, status_code FROM audit.audit_log");
  std::string dump;
  for (const auto& row : all) {
    absl::StrAppend(&dump, row[0].c_str(), " ", row[1].c_str(), " ", row[2].c_str(), "\n");
  }
  RecordProperty("audit_rows", static_cast<int>(all.size()));
  if (HasFailure()) ADD_FAILURE() << "audit.audit_log:\n" << dump;
}

}  // namespace
}  // namespace plantmesh::e2e
