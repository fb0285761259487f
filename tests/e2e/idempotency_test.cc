// Input correctness, end to end over mTLS through the SDK: request_id idempotency on every
// mutating method (a retry gets the first response, another payload is REQUEST_ID_REUSED,
// another caller's id is its own), and who may start and finish a repair.
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/common/sha256.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/shared_mesh_test.h"

namespace plantmesh::e2e {
namespace {

namespace v1 = ::plantmesh::defect::v1;
using ::testing::HasSubstr;

std::string Identity(const std::string& user) {
  return absl::StrCat("spiffe://", testing::TestPki::kTrustDomain, "/user/", user);
}

// The first call, its retry and a reuse with another payload of one method.
template <typename Response>
void ExpectRetriedAndReused(const std::string& method, const absl::StatusOr<Response>& first,
                            const absl::StatusOr<Response>& retry,
                            const absl::StatusOr<Response>& reused) {
  SCOPED_TRACE(method);
  ASSERT_TRUE(first.ok()) << Describe(first.status());
  ASSERT_TRUE(retry.ok()) << Describe(retry.status());
  EXPECT_EQ(retry->SerializeAsString(), first->SerializeAsString());
  ASSERT_FALSE(reused.ok());
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists) << Describe(reused.status());
  EXPECT_EQ(sdk::ErrorReason(reused.status()), "REQUEST_ID_REUSED");
}

class IdempotencyTest : public SharedMeshTest {
 protected:
  v1::Defect Report(const std::string& vin) {
    v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(vin);
    auto created = mesh_->Defects("otto").CreateDefect(request);
    EXPECT_TRUE(created.ok()) << Describe(created.status());
    return created.ok() ? created->defect() : v1::Defect();
  }
  absl::StatusOr<v1::UploadDefectPhotoResponse> Upload(const std::string& user,
                                                       const std::string& defect_id,
                                                       const std::string& request_id,
                                                       const std::string& bytes) {
    auto stream = mesh_->Defects(user).UploadDefectPhoto();
    v1::UploadDefectPhotoRequest first;
    v1::PhotoUpload* metadata = first.mutable_metadata();
    metadata->set_defect_id(defect_id);
    metadata->set_content_type("image/png");
    metadata->set_size_bytes(static_cast<int64_t>(bytes.size()));
    metadata->set_sha256(common::Sha256Hex(bytes));
    metadata->set_request_id(request_id);
    stream->Write(first);
    v1::UploadDefectPhotoRequest chunk;
    chunk.set_chunk(bytes);
    stream->Write(chunk);
    return stream->Finish();
  }
};

// The example: UpdateDefect and AssignDefect answered a reused request_id with
// a different payload OK with the old result.
TEST_F(IdempotencyTest, UpdateAndAssignRefuseAReusedRequestId) {
  sdk::DefectClient anna = mesh_->Defects("anna");
  v1::Defect d = Report("VIN-IDEM-1");

  v1::UpdateDefectRequest update;
  update.mutable_defect()->set_id(d.id());
  update.mutable_defect()->set_description("Scratch, 4 cm");
  update.mutable_update_mask()->add_paths("description");
  update.set_etag(d.etag());
  update.set_request_id("idem-update-1");
  auto first = anna.UpdateDefect(update);
  auto retry = anna.UpdateDefect(update);
  v1::UpdateDefectRequest other = update;
  other.mutable_defect()->set_description("Dent, 2 cm");
  ExpectRetriedAndReused("UpdateDefect", first, retry, anna.UpdateDefect(other));

  v1::AssignDefectRequest assign;
  assign.set_id(d.id());
  assign.set_repair_place_id("RP-01");
  assign.set_mechanic_id("M-107");
  assign.set_request_id("idem-assign-1");
  auto assigned = anna.AssignDefect(assign);
  v1::AssignDefectRequest elsewhere = assign;
  elsewhere.set_repair_place_id("RP-02");
  auto reused = anna.AssignDefect(elsewhere);
  // The defect moves on; the retry still answers as the first call did.
  v1::StartRepairRequest start;
  start.set_id(d.id());
  ASSERT_TRUE(mesh_->Defects("mike").StartRepair(start).ok());
  ExpectRetriedAndReused("AssignDefect", assigned, anna.AssignDefect(assign), reused);
  EXPECT_EQ(assigned->defect().status(), v1::DEFECT_STATUS_ASSIGNED);

  v1::GetDefectRequest get;
  get.set_id(d.id());
  auto now = anna.GetDefect(get);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->defect().description(), "Scratch, 4 cm");
  EXPECT_EQ(now->defect().assignment().repair_place_id(), "RP-01");
}

// Every other mutating method follows the same rule.
TEST_F(IdempotencyTest, EveryMutatingMethodComparesThePayload) {
  sdk::DefectClient ops = mesh_->Defects("ops");
  {
    v1::CreateDefectRequest create;
    *create.mutable_defect() = SampleDefect("VIN-IDEM-2");
    create.set_request_id("idem-create");
    v1::CreateDefectRequest other = create;
    other.mutable_defect()->set_vin("VIN-IDEM-3");
    auto first = ops.CreateDefect(create);
    ExpectRetriedAndReused("CreateDefect", first, ops.CreateDefect(create),
                           ops.CreateDefect(other));
  }
  {
    v1::CreateRepairPlaceRequest place;
    place.set_request_id("idem-place");
    place.mutable_repair_place()->set_id("RP-IDEM");
    place.mutable_repair_place()->set_display_name("Bay");
    place.mutable_repair_place()->set_zone("PAINT");
    v1::CreateRepairPlaceRequest other = place;
    other.mutable_repair_place()->set_display_name("Another bay");
    auto first = ops.CreateRepairPlace(place);
    ExpectRetriedAndReused("CreateRepairPlace", first, ops.CreateRepairPlace(place),
                           ops.CreateRepairPlace(other));
  }
  {
    v1::CreateCrewRequest crew;
    crew.set_request_id("idem-crew");
    crew.mutable_crew()->set_id("CREW-IDEM");
    crew.mutable_crew()->set_display_name("Crew");
    crew.mutable_crew()->set_zone("PAINT");
    v1::CreateCrewRequest other = crew;
    other.mutable_crew()->set_zone("BODY");
    auto first = ops.CreateCrew(crew);
    ExpectRetriedAndReused("CreateCrew", first, ops.CreateCrew(crew), ops.CreateCrew(other));
  }
  {
    v1::CreateMechanicRequest mechanic;
    mechanic.set_request_id("idem-mechanic");
    mechanic.mutable_mechanic()->set_id("M-IDEM");
    mechanic.mutable_mechanic()->set_display_name("Max");
    mechanic.mutable_mechanic()->set_crew_id("CREW-A");
    v1::CreateMechanicRequest other = mechanic;
    other.mutable_mechanic()->set_identity(Identity("max"));
    auto first = ops.CreateMechanic(mechanic);
    ExpectRetriedAndReused("CreateMechanic", first, ops.CreateMechanic(mechanic),
                           ops.CreateMechanic(other));
  }
  {
    v1::CreateDefectCategoryRequest category;
    category.set_request_id("idem-category");
    category.mutable_category()->set_code("PAINT-RUN");
    category.mutable_category()->set_title("Paint run");
    category.mutable_category()->set_default_severity(v1::SEVERITY_MINOR);
    v1::CreateDefectCategoryRequest other = category;
    other.mutable_category()->set_default_severity(v1::SEVERITY_MAJOR);
    auto first = ops.CreateDefectCategory(category);
    ExpectRetriedAndReused("CreateDefectCategory", first, ops.CreateDefectCategory(category),
                           ops.CreateDefectCategory(other));
  }
  v1::Defect d = Report("VIN-IDEM-4");
  {
    auto first = Upload("ops", d.id(), "idem-photo", "\x89PNG\r\n\x1A\nONE");
    ExpectRetriedAndReused("UploadDefectPhoto", first,
                           Upload("ops", d.id(), "idem-photo", "\x89PNG\r\n\x1A\nONE"),
                           Upload("ops", d.id(), "idem-photo", "\x89PNG\r\n\x1A\nTWO"));
  }
  // Transitions: a retry that read the defect again (its new etag) is the same call
  // (outside testing: it was REQUEST_ID_REUSED); another defect is another payload.
  v1::AssignDefectRequest assign;
  assign.set_id(d.id());
  assign.set_repair_place_id("RP-02");
  assign.set_mechanic_id("M-107");
  ASSERT_TRUE(ops.AssignDefect(assign).ok());
  {
    v1::StartRepairRequest start;
    start.set_id(d.id());
    start.set_request_id("idem-start");
    auto first = ops.StartRepair(start);
    ASSERT_TRUE(first.ok()) << Describe(first.status());
    v1::StartRepairRequest reread = start;
    reread.set_etag(first->defect().etag());
    v1::StartRepairRequest other = start;
    other.set_id(Report("VIN-IDEM-OTHER").id());
    ExpectRetriedAndReused("StartRepair", first, ops.StartRepair(reread), ops.StartRepair(other));
  }
  {
    v1::FinishRepairRequest finish;
    finish.set_id(d.id());
    finish.set_work_done("Polished");
    finish.set_labor_minutes(20);
    finish.set_request_id("idem-finish");
    v1::FinishRepairRequest other = finish;
    other.set_labor_minutes(21);
    auto first = ops.FinishRepair(finish);
    ExpectRetriedAndReused("FinishRepair", first, ops.FinishRepair(finish),
                           ops.FinishRepair(other));
  }
  sdk::DefectClient quinn = mesh_->Defects("quinn");
  {
    v1::VerifyRepairRequest reject;
    reject.set_id(d.id());
    reject.set_decision(v1::QC_DECISION_REJECT);
    reject.set_reason("Still visible");
    reject.set_request_id("idem-verify");
    v1::VerifyRepairRequest accept = reject;
    accept.set_decision(v1::QC_DECISION_ACCEPT);
    accept.clear_reason();
    auto first = quinn.VerifyRepair(reject);
    ExpectRetriedAndReused("VerifyRepair", first, quinn.VerifyRepair(reject),
                           quinn.VerifyRepair(accept));
  }
  {
    v1::CancelDefectRequest cancel;
    cancel.set_id(d.id());
    cancel.set_reason("Unit scrapped");
    cancel.set_request_id("idem-cancel");
    v1::CancelDefectRequest other = cancel;
    other.set_reason("Duplicate report");
    auto first = ops.CancelDefect(cancel);
    ExpectRetriedAndReused("CancelDefect", first, ops.CancelDefect(cancel),
                           ops.CancelDefect(other));
  }
}

// A request_id is scoped to the caller: another identity using the same one gets its own
// result, never someone else's.
TEST_F(IdempotencyTest, RequestIdsAreScopedToTheCaller) {
  v1::CreateDefectRequest create;
  *create.mutable_defect() = SampleDefect("VIN-IDEM-5");
  create.set_request_id("idem-shared");
  auto by_otto = mesh_->Defects("otto").CreateDefect(create);
  ASSERT_TRUE(by_otto.ok()) << Describe(by_otto.status());
  auto by_ivan = mesh_->Defects("ivan").CreateDefect(create);
  ASSERT_TRUE(by_ivan.ok()) << Describe(by_ivan.status());
  EXPECT_NE(by_ivan->defect().id(), by_otto->defect().id());
  EXPECT_EQ(by_ivan->defect().reported_by(), Identity("ivan"));
  // And each one's retry is its own.
  auto otto_again = mesh_->Defects("otto").CreateDefect(create);
  ASSERT_TRUE(otto_again.ok());
  EXPECT_EQ(otto_again->defect().id(), by_otto->defect().id());
}

// The example: any mechanic could start or finish a repair assigned to another.
// Only the assigned mechanic's identity may (M-107 is mike); a foreman's override is
// allowed and recorded as such in the history.
TEST_F(IdempotencyTest, OnlyTheAssignedMechanicStartsAndFinishes) {
  v1::Defect d = Report("VIN-IDEM-6");
  v1::AssignDefectRequest assign;
  assign.set_id(d.id());
  assign.set_repair_place_id("RP-02");
  assign.set_mechanic_id("M-107");
  ASSERT_TRUE(mesh_->Defects("anna").AssignDefect(assign).ok());

  v1::StartRepairRequest start;
  start.set_id(d.id());
  auto refused = mesh_->Defects("mechanic").StartRepair(start);  // a mechanic, not mike
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied)
      << Describe(refused.status());
  EXPECT_EQ(sdk::ErrorReason(refused.status()), "NOT_ASSIGNED_MECHANIC");
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("M-107"));
  auto started = mesh_->Defects("mike").StartRepair(start);
  ASSERT_TRUE(started.ok()) << Describe(started.status());

  v1::FinishRepairRequest finish;
  finish.set_id(d.id());
  finish.set_work_done("Polished");
  finish.set_labor_minutes(15);
  auto not_yours = mesh_->Defects("mechanic").FinishRepair(finish);
  EXPECT_EQ(sdk::ErrorReason(not_yours.status()), "NOT_ASSIGNED_MECHANIC");
  auto overridden = mesh_->Defects("anna").FinishRepair(finish);  // foreman
  ASSERT_TRUE(overridden.ok()) << Describe(overridden.status());

  v1::GetDefectHistoryRequest history_request;
  history_request.set_id(d.id());
  auto history = mesh_->Defects("anna").GetDefectHistory(history_request);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->entries_size(), 4);
  EXPECT_EQ(history->entries(2).comment(), "");  // mike started it himself
  EXPECT_THAT(history->entries(3).comment(), HasSubstr("override"));
  EXPECT_THAT(history->entries(3).comment(), HasSubstr(Identity("anna")));
  EXPECT_EQ(history->entries(3).actor(), Identity("anna"));
}

}  // namespace
}  // namespace plantmesh::e2e
