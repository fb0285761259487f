// Bad input end to end: each validation rule is refused with INVALID_ARGUMENT naming
// the field in a BadRequest detail, and nothing is written; retries with the same
// request_id store one defect; a stale etag is refused with ABORTED.
#include <functional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/shared_mesh_test.h"

namespace plantmesh::e2e {
namespace {

using defect::v1::Defect;
using ::testing::Contains;

std::vector<std::string> ViolatedFields(const absl::Status& status) {
  std::vector<std::string> fields;
  for (const sdk::FieldViolationView& v : sdk::FieldViolations(status)) fields.push_back(v.field);
  return fields;
}

class BadInputTest : public SharedMeshTest {
 protected:
  size_t DefectCount() {
    auto all = mesh_->Defects("ops").ListAllDefects(defect::v1::ListDefectsRequest());
    EXPECT_TRUE(all.ok()) << Describe(all.status());
    return all.ok() ? all->size() : 0;
  }

  Defect Report(const std::string& vin) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(vin);
    auto created = mesh_->Defects("otto").CreateDefect(request);
    EXPECT_TRUE(created.ok()) << Describe(created.status());
    return created.ok() ? created->defect() : Defect();
  }

  size_t HistoryLength(const std::string& id) {
    defect::v1::GetDefectHistoryRequest request;
    request.set_id(id);
    auto history = mesh_->Defects("ops").GetDefectHistory(request);
    EXPECT_TRUE(history.ok()) << Describe(history.status());
    return history.ok() ? history->entries_size() : 0;
  }
};

struct CreateCase {
  std::string name;
  std::function<void(Defect&)> spoil;
  std::string field;
};

TEST_F(BadInputTest, EachCreateRuleNamesItsFieldAndWritesNothing) {
  const std::vector<CreateCase> cases = {
      {"vin missing", [](Defect& d) { d.clear_vin(); }, "defect.vin"},
      {"vin charset", [](Defect& d) { d.set_vin("vin with spaces!"); }, "defect.vin"},
      {"vin too long", [](Defect& d) { d.set_vin(std::string(33, 'A')); }, "defect.vin"},
      {"model missing", [](Defect& d) { d.clear_model(); }, "defect.model"},
      {"zone missing", [](Defect& d) { d.clear_zone(); }, "defect.zone"},
      {"station missing", [](Defect& d) { d.clear_station(); }, "defect.station"},
      {"category missing", [](Defect& d) { d.clear_category_code(); }, "defect.category_code"},
      {"category unknown", [](Defect& d) { d.set_category_code("NO-SUCH-THING"); },
       "defect.category_code"},
      {"severity unknown", [](Defect& d) { d.set_severity(static_cast<defect::v1::Severity>(42)); },
       "defect.severity"},
      {"shift missing", [](Defect& d) { d.clear_shift(); }, "defect.shift"},
      {"description too long", [](Defect& d) { d.set_description(std::string(4001, 'x')); },
       "defect.description"},
      {"output-only id", [](Defect& d) { d.set_id("77"); }, "defect.id"},
      {"output-only status", [](Defect& d) { d.set_status(defect::v1::DEFECT_STATUS_CLOSED); },
       "defect.status"},
      {"output-only etag", [](Defect& d) { d.set_etag("v9"); }, "defect.etag"},
      {"output-only reported_by", [](Defect& d) { d.set_reported_by("someone"); },
       "defect.reported_by"},
  };
  const size_t before = DefectCount();
  sdk::DefectClient otto = mesh_->Defects("otto");
  for (const CreateCase& c : cases) {
    SCOPED_TRACE(c.name);
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect("VIN-BAD-1");
    c.spoil(*request.mutable_defect());
    auto created = otto.CreateDefect(request);
    ASSERT_FALSE(created.ok()) << "accepted: " << created->defect().ShortDebugString();
    EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument)
        << Describe(created.status());
    EXPECT_THAT(ViolatedFields(created.status()), Contains(c.field)) << Describe(created.status());
  }
  EXPECT_EQ(DefectCount(), before);
}

TEST_F(BadInputTest, EveryViolationIsListedNotOnlyTheFirst) {
  // Text first (the contract's input rules): every broken string at once.
  defect::v1::CreateDefectRequest text;
  text.mutable_defect()->set_vin("!");
  text.mutable_defect()->set_zone("paint");
  text.mutable_defect()->set_description(std::string("door\0scratch", 12));
  auto refused = mesh_->Defects("otto").CreateDefect(text);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(refused.status()),
              ::testing::UnorderedElementsAre("defect.vin", "defect.zone", "defect.description"));

  // Then the method's own rules: every missing field at once.
  defect::v1::CreateDefectRequest request;
  request.mutable_defect()->set_description("everything else is missing");
  auto created = mesh_->Defects("otto").CreateDefect(request);
  ASSERT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields = ViolatedFields(created.status());
  for (const char* f : {"defect.vin", "defect.model", "defect.zone", "defect.station",
                        "defect.category_code", "defect.shift"}) {
    EXPECT_THAT(fields, Contains(f));
  }
}

TEST_F(BadInputTest, TransitionAndListRulesNameTheirFields) {
  Defect d = Report("VIN-BAD-TRANSITIONS");
  sdk::DefectClient ops = mesh_->Defects("ops");
  const size_t history = HistoryLength(d.id());
  struct Case {
    std::string name;
    std::function<absl::Status()> call;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"get: id not a number",
       [&] {
         defect::v1::GetDefectRequest r;
         r.set_id("abc");
         return ops.GetDefect(r).status();
       },
       "id"},
      {"assign: repair place missing",
       [&] {
         defect::v1::AssignDefectRequest r;
         r.set_id(d.id());
         r.set_mechanic_id("M-107");
         return ops.AssignDefect(r).status();
       },
       "repair_place_id"},
      {"finish: labour out of range",
       [&] {
         defect::v1::FinishRepairRequest r;
         r.set_id(d.id());
         r.set_work_done("Polished");
         r.set_labor_minutes(0);
         return ops.FinishRepair(r).status();
       },
       "labor_minutes"},
      {"finish: work_done missing",
       [&] {
         defect::v1::FinishRepairRequest r;
         r.set_id(d.id());
         r.set_labor_minutes(5);
         return ops.FinishRepair(r).status();
       },
       "work_done"},
      {"verify: no decision",
       [&] {
         defect::v1::VerifyRepairRequest r;
         r.set_id(d.id());
         return ops.VerifyRepair(r).status();
       },
       "decision"},
      {"verify: reject without reason",
       [&] {
         defect::v1::VerifyRepairRequest r;
         r.set_id(d.id());
         r.set_decision(defect::v1::QC_DECISION_REJECT);
         return ops.VerifyRepair(r).status();
       },
       "reason"},
      {"cancel: reason missing",
       [&] {
         defect::v1::CancelDefectRequest r;
         r.set_id(d.id());
         return ops.CancelDefect(r).status();
       },
       "reason"},
      {"update: mask missing",
       [&] {
         defect::v1::UpdateDefectRequest r;
         *r.mutable_defect() = d;
         r.set_etag(d.etag());
         return ops.UpdateDefect(r).status();
       },
       "update_mask"},
      {"update: etag missing",
       [&] {
         defect::v1::UpdateDefectRequest r;
         r.mutable_defect()->set_id(d.id());
         r.mutable_defect()->set_zone("ASSEMBLY-2");
         r.mutable_update_mask()->add_paths("zone");
         return ops.UpdateDefect(r).status();
       },
       "etag"},
      {"update: status is not updatable",
       [&] {
         defect::v1::UpdateDefectRequest r;
         r.mutable_defect()->set_id(d.id());
         r.mutable_update_mask()->add_paths("status");
         r.set_etag(d.etag());
         return ops.UpdateDefect(r).status();
       },
       "update_mask"},
      {"list: page size too large",
       [&] {
         defect::v1::ListDefectsRequest r;
         r.set_page_size(5000);
         return ops.ListDefects(r).status();
       },
       "page_size"},
      {"list: unknown order",
       [&] {
         defect::v1::ListDefectsRequest r;
         r.set_order_by("vin");
         return ops.ListDefects(r).status();
       },
       "order_by"},
      {"list: forged page token",
       [&] {
         defect::v1::ListDefectsRequest r;
         r.set_page_token("not-a-token");
         return ops.ListDefects(r).status();
       },
       "page_token"},
      {"repair place: bad code",
       [&] {
         defect::v1::CreateRepairPlaceRequest r;
         r.mutable_repair_place()->set_id("bay 3");
         r.mutable_repair_place()->set_display_name("Bay 3");
         r.mutable_repair_place()->set_zone("PAINT");
         return ops.CreateRepairPlace(r).status();
       },
       "repair_place.id"},
      {"category: no default severity",
       [&] {
         defect::v1::CreateDefectCategoryRequest r;
         r.mutable_category()->set_code("DENT");
         r.mutable_category()->set_title("Dent");
         return ops.CreateDefectCategory(r).status();
       },
       "category.default_severity"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status status = c.call();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << Describe(status);
    EXPECT_THAT(ViolatedFields(status), Contains(c.field)) << Describe(status);
  }
  defect::v1::GetDefectRequest get;
  get.set_id(d.id());
  auto unchanged = ops.GetDefect(get);
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->defect().etag(), d.etag());
  EXPECT_EQ(HistoryLength(d.id()), history);
}

TEST_F(BadInputTest, RetriedCreateWithTheSameRequestIdStoresOneDefect) {
  const size_t before = DefectCount();
  defect::v1::CreateDefectRequest request;
  *request.mutable_defect() = SampleDefect("VIN-RETRY");
  request.set_request_id("0b7c1f9e-6a43-4e59-9d5e-2f1f3c0d8a11");
  sdk::DefectClient otto = mesh_->Defects("otto");
  auto first = otto.CreateDefect(request);
  ASSERT_TRUE(first.ok()) << Describe(first.status());
  auto second = otto.CreateDefect(request);
  ASSERT_TRUE(second.ok()) << Describe(second.status());
  EXPECT_EQ(second->defect().id(), first->defect().id());
  EXPECT_EQ(second->defect().etag(), first->defect().etag());
  EXPECT_EQ(DefectCount(), before + 1);
  EXPECT_EQ(HistoryLength(first->defect().id()), 1u);

  // A different request id is a different report.
  request.set_request_id("5d0b8c1e-2f6a-4b7e-8c9d-0e1f2a3b4c5d");
  auto third = otto.CreateDefect(request);
  ASSERT_TRUE(third.ok());
  EXPECT_NE(third->defect().id(), first->defect().id());
  EXPECT_EQ(DefectCount(), before + 2);
}

TEST_F(BadInputTest, StaleEtagIsAbortedAndWritesNothing) {
  Defect d = Report("VIN-ETAG");
  sdk::DefectClient anna = mesh_->Defects("anna");
  defect::v1::AssignDefectRequest assign;
  assign.set_id(d.id());
  assign.set_repair_place_id("RP-01");
  assign.set_mechanic_id("M-107");
  assign.set_etag(d.etag());
  auto assigned = anna.AssignDefect(assign);
  ASSERT_TRUE(assigned.ok()) << Describe(assigned.status());
  ASSERT_NE(assigned->defect().etag(), d.etag());
  const size_t history = HistoryLength(d.id());

  defect::v1::UpdateDefectRequest update;
  update.mutable_defect()->set_id(d.id());
  update.mutable_defect()->set_station("P-08");
  update.mutable_update_mask()->add_paths("station");
  update.set_etag(d.etag());  // from before the assignment
  auto stale = anna.UpdateDefect(update);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted) << Describe(stale.status());

  defect::v1::StartRepairRequest start;
  start.set_id(d.id());
  start.set_etag(d.etag());
  auto stale_start = mesh_->Defects("mike").StartRepair(start);
  EXPECT_EQ(stale_start.status().code(), absl::StatusCode::kAborted)
      << Describe(stale_start.status());

  defect::v1::GetDefectRequest get;
  get.set_id(d.id());
  auto now = anna.GetDefect(get);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->defect().station(), "P-07");
  EXPECT_EQ(now->defect().status(), defect::v1::DEFECT_STATUS_ASSIGNED);
  EXPECT_EQ(now->defect().etag(), assigned->defect().etag());
  EXPECT_EQ(HistoryLength(d.id()), history);

  // With the current etag the same update goes through.
  update.set_etag(assigned->defect().etag());
  auto fresh = anna.UpdateDefect(update);
  ASSERT_TRUE(fresh.ok()) << Describe(fresh.status());
  EXPECT_EQ(fresh->defect().station(), "P-08");
}

}  // namespace
}  // namespace plantmesh::e2e
