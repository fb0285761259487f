// Bad input end to end: each validation rule is refused with INVALID_ARGUMENT naming
// the field in a BadRequest detail, and nothing is written; retries with the same
// request_id store one defect; a stale etag is refused with ABORTED.
#include <functional>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/common/sha256.h"
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
  // The contract's input rules: every broken string, and with them every required field
  // missing (outside testing: the broken strings hid the missing fields).
  defect::v1::CreateDefectRequest text;
  text.mutable_defect()->set_vin("!");
  text.mutable_defect()->set_zone("paint");
  text.mutable_defect()->set_description(std::string("door\0scratch", 12));
  auto refused = mesh_->Defects("otto").CreateDefect(text);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(refused.status()),
              ::testing::UnorderedElementsAre("defect.vin", "defect.zone", "defect.description",
                                              "defect.model", "defect.station",
                                              "defect.category_code", "defect.shift"));

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

// ---- Input rules: text and codes, for request fields and filters alike ----

// `text` with a NUL and more after it: libpq would cut it there, jsonb refuses it.
std::string WithNul(const std::string& text) { return text + std::string(1, '\0') + "tail"; }

void ExpectRefused(const absl::Status& status, const std::string& field) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << Describe(status);
  EXPECT_THAT(ViolatedFields(status), ::testing::ElementsAre(field)) << Describe(status);
  EXPECT_THAT(std::string(status.message()), ::testing::Not(::testing::HasSubstr("tail")));
}

TEST_F(BadInputTest, NulInAnyTextFieldIsRefusedNamingItAndNothingIsStored) {
  sdk::DefectClient ops = mesh_->Defects("ops");
  const size_t before = DefectCount();
  defect::v1::CreateDefectRequest create;
  *create.mutable_defect() = SampleDefect("VIN-NUL-1");
  create.mutable_defect()->set_description(WithNul("scratch"));
  ExpectRefused(mesh_->Defects("otto").CreateDefect(create).status(), "defect.description");
  EXPECT_EQ(DefectCount(), before);

  // A defect in repair at a place of its own (other tests keep theirs busy).
  defect::v1::CreateRepairPlaceRequest place;
  place.mutable_repair_place()->set_id("RP-NUL");
  place.mutable_repair_place()->set_display_name("Bay for NUL tests");
  place.mutable_repair_place()->set_zone("PAINT");
  ASSERT_TRUE(ops.CreateRepairPlace(place).ok());
  Defect d = Report("VIN-NUL-2");
  defect::v1::AssignDefectRequest assign;
  assign.set_id(d.id());
  assign.set_repair_place_id("RP-NUL");
  assign.set_mechanic_id("M-107");
  ASSERT_TRUE(ops.AssignDefect(assign).ok());
  defect::v1::StartRepairRequest start;
  start.set_id(d.id());
  auto started = ops.StartRepair(start);
  ASSERT_TRUE(started.ok()) << Describe(started.status());
  const size_t history = HistoryLength(d.id());

  defect::v1::FinishRepairRequest finish;
  finish.set_id(d.id());
  finish.set_work_done(WithNul("Polished"));
  finish.set_labor_minutes(20);
  ExpectRefused(ops.FinishRepair(finish).status(), "work_done");
  defect::v1::CancelDefectRequest cancel;
  cancel.set_id(d.id());
  cancel.set_reason(WithNul("Duplicate"));
  ExpectRefused(ops.CancelDefect(cancel).status(), "reason");
  defect::v1::GetDefectRequest get;
  get.set_id(d.id());
  auto now = ops.GetDefect(get);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->defect().status(), defect::v1::DEFECT_STATUS_IN_REPAIR);
  EXPECT_EQ(now->defect().etag(), started->defect().etag());
  EXPECT_EQ(HistoryLength(d.id()), history);

  // Names were cut at the NUL, stored and acknowledged.
  place.mutable_repair_place()->set_id("RP-NUL-NAME");
  place.mutable_repair_place()->set_display_name(WithNul("Bay 9"));
  ExpectRefused(ops.CreateRepairPlace(place).status(), "repair_place.display_name");
  defect::v1::CreateCrewRequest crew;
  crew.mutable_crew()->set_id("CREW-NUL");
  crew.mutable_crew()->set_display_name(WithNul("Night crew"));
  crew.mutable_crew()->set_zone("PAINT");
  ExpectRefused(ops.CreateCrew(crew).status(), "crew.display_name");
  auto places = ops.ListRepairPlaces(defect::v1::ListRepairPlacesRequest());
  ASSERT_TRUE(places.ok());
  for (const auto& p : places->repair_places()) EXPECT_NE(p.id(), "RP-NUL-NAME");
  auto crews = ops.ListCrews(defect::v1::ListCrewsRequest());
  ASSERT_TRUE(crews.ok());
  for (const auto& c : crews->crews()) EXPECT_NE(c.id(), "CREW-NUL");
}

TEST_F(BadInputTest, FiltersWithNulOrLineBreaksAreRefusedNotCut) {
  sdk::DefectClient ops = mesh_->Defects("ops");
  Report("VIN-FILTER");  // what a filter cut at the NUL would match
  defect::v1::ListDefectsRequest zone;
  zone.set_zone(WithNul("PAINT"));
  ExpectRefused(ops.ListDefects(zone).status(), "zone");
  defect::v1::ListDefectsRequest vin;
  vin.set_vin(WithNul("VIN-FILTER"));
  ExpectRefused(ops.ListDefects(vin).status(), "vin");
  defect::v1::ListDefectsRequest code;
  code.set_zone("PAINT\n");
  ExpectRefused(ops.ListDefects(code).status(), "zone");
  defect::v1::ListDefectsRequest shift;
  shift.set_shift("2026-11-21/A\r\n");
  ExpectRefused(ops.ListDefects(shift).status(), "shift");
  defect::v1::ListRepairPlacesRequest places;
  places.set_zone(WithNul("PAINT"));
  ExpectRefused(ops.ListRepairPlaces(places).status(), "zone");
  defect::v1::ListCrewsRequest crews;
  crews.set_zone(WithNul("PAINT"));
  ExpectRefused(ops.ListCrews(crews).status(), "zone");
  defect::v1::ListMechanicsRequest mechanics;
  mechanics.set_crew_id("CREW-A\n");
  ExpectRefused(ops.ListMechanics(mechanics).status(), "crew_id");

  // A server stream's request is checked the same way.
  defect::v1::WatchDefectsRequest watch;
  watch.set_zone(WithNul("PAINT"));
  auto stream = ops.WatchDefects(watch);
  defect::v1::WatchDefectsResponse event;
  EXPECT_FALSE(stream->Next(&event));
  ExpectRefused(stream->Finish(), "zone");
}

TEST_F(BadInputTest, CodesAndOneLineFieldsTakeNoLineBreaks) {
  sdk::DefectClient otto = mesh_->Defects("otto");
  const size_t before = DefectCount();
  struct Case {
    std::function<void(Defect&)> spoil;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](Defect& d) { d.set_zone("PAINT\n"); }, "defect.zone"},
      {[](Defect& d) { d.set_station("P-07\r\n"); }, "defect.station"},
      {[](Defect& d) { d.set_station("P-07\r"); }, "defect.station"},
      {[](Defect& d) { d.set_shift("2026-11-21/A\r\n"); }, "defect.shift"},
      {[](Defect& d) { d.set_shift("2026-11-21\nA"); }, "defect.shift"},
      {[](Defect& d) { d.set_zone("paint"); }, "defect.zone"},
      {[](Defect& d) { d.set_description("two lines\r\nwith CR"); }, "defect.description"},
      {[](Defect& d) { d.set_description("next line \xC2\x85 U+0085"); }, "defect.description"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect("VIN-CODES");
    c.spoil(*request.mutable_defect());
    ExpectRefused(otto.CreateDefect(request).status(), c.field);
  }
  EXPECT_EQ(DefectCount(), before);

  // Multi-line text takes \n and \t.
  defect::v1::CreateDefectRequest lines;
  *lines.mutable_defect() = SampleDefect("VIN-LINES");
  lines.mutable_defect()->set_description("Scratch, left door:\n\t3 cm, primer visible");
  auto created = otto.CreateDefect(lines);
  ASSERT_TRUE(created.ok()) << Describe(created.status());
  EXPECT_EQ(created->defect().description(), "Scratch, left door:\n\t3 cm, primer visible");

  // Updates too, and nothing changes.
  defect::v1::UpdateDefectRequest update;
  update.mutable_defect()->set_id(created->defect().id());
  update.mutable_defect()->set_zone("PAINT\n");
  update.mutable_update_mask()->add_paths("zone");
  update.set_etag(created->defect().etag());
  ExpectRefused(mesh_->Defects("anna").UpdateDefect(update).status(), "defect.zone");
  EXPECT_EQ(HistoryLength(created->defect().id()), 1u);
}

TEST_F(BadInputTest, InvalidUtf8FromAClientIsInvalidArgumentNotInternal) {
  // protobuf's C++ serializer only logs a proto3 string that is not UTF-8 and sends it.
  const size_t before = DefectCount();
  defect::v1::CreateDefectRequest create;
  *create.mutable_defect() = SampleDefect("VIN-UTF8");
  create.mutable_defect()->set_description(
      "Kratzer an der T\xFC"
      "r");  // Latin-1, not UTF-8
  absl::Status refused = mesh_->Defects("otto").CreateDefect(create).status();
  ExpectRefused(refused, "defect.description");
  EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr("not valid UTF-8"));
  EXPECT_EQ(DefectCount(), before);

  defect::v1::WatchDefectsRequest watch;
  watch.set_cursor("\xFF");
  auto stream = mesh_->Defects("ops").WatchDefects(watch);
  defect::v1::WatchDefectsResponse event;
  EXPECT_FALSE(stream->Next(&event));
  ExpectRefused(stream->Finish(), "cursor");
}

TEST_F(BadInputTest, EveryMessageOfAClientStreamIsChecked) {
  Defect d = Report("VIN-PHOTO-NUL");
  constexpr char kPhoto[] = "\x89PNG\r\n\x1a\nbytes may hold anything: \0\xFF";
  const std::string photo(kPhoto, sizeof(kPhoto) - 1);
  for (const std::string& file_name : {WithNul("door.png"), std::string("door\xFF.png")}) {
    auto upload = mesh_->Defects("otto").UploadDefectPhoto();
    defect::v1::UploadDefectPhotoRequest metadata;
    metadata.mutable_metadata()->set_defect_id(d.id());
    metadata.mutable_metadata()->set_content_type("image/png");
    metadata.mutable_metadata()->set_size_bytes(static_cast<int64_t>(photo.size()));
    metadata.mutable_metadata()->set_sha256(common::Sha256Hex(photo));
    metadata.mutable_metadata()->set_file_name(file_name);
    defect::v1::UploadDefectPhotoRequest chunk;
    chunk.set_chunk(photo);
    upload->Write(metadata);  // the server may refuse before the chunk is written
    upload->Write(chunk);
    ExpectRefused(upload->Finish().status(), "metadata.file_name");
  }
  defect::v1::GetDefectRequest get;
  get.set_id(d.id());
  auto now = mesh_->Defects("ops").GetDefect(get);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->defect().photos_size(), 0);
  EXPECT_EQ(HistoryLength(d.id()), 1u);
}

// ---- INTERNAL carries an error id, never a database's text ----

TEST_F(BadInputTest, ServerFaultsReachTheClientAsAnErrorIdNotDatabaseText) {
  {
    // Any statement error PostgreSQL reports for one crew id.
    pqxx::connection connection(mesh_->database_url());
    pqxx::work tx(connection);
    tx.exec(R"sql(
      CREATE FUNCTION defect.test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id = 'CREW-FAULT' THEN
          RAISE EXCEPTION 'SECRET-DB-TEXT in relation defect.crews for %', NEW.id;
        END IF;
        RETURN NEW;
      END $$)sql");
    tx.exec(
        "CREATE TRIGGER test_fault BEFORE INSERT ON defect.crews "
        "FOR EACH ROW EXECUTE FUNCTION defect.test_fault()");
    tx.commit();
  }
  defect::v1::CreateCrewRequest crew;
  crew.mutable_crew()->set_id("CREW-FAULT");
  crew.mutable_crew()->set_display_name("Fault crew");
  crew.mutable_crew()->set_zone("PAINT");
  absl::Status fault = mesh_->Defects("ops").CreateCrew(crew).status();
  ASSERT_EQ(fault.code(), absl::StatusCode::kInternal) << Describe(fault);
  const std::string described = Describe(fault);
  for (const char* leak : {"SECRET", "SQLSTATE", "defect.crews", "P0001"}) {
    EXPECT_THAT(described, ::testing::Not(::testing::HasSubstr(leak)));
  }
  EXPECT_EQ(sdk::ErrorReason(fault), "SERVER_ERROR");
  const std::string error_id = sdk::ErrorMetadata(fault, "error_id");
  ASSERT_EQ(error_id.size(), 16u) << described;
  EXPECT_THAT(std::string(fault.message()), ::testing::HasSubstr(error_id));

  // The server's log holds the database's text under that id.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::string line;
  while (line.empty() && absl::Now() < deadline) {
    for (absl::string_view l : absl::StrSplit(mesh_->server().log(), '\n')) {
      if (absl::StrContains(l, absl::StrCat("error_id=", error_id))) line = std::string(l);
    }
    if (line.empty()) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(line, ::testing::HasSubstr("SECRET-DB-TEXT")) << mesh_->server().log();

  pqxx::connection connection(mesh_->database_url());
  pqxx::work tx(connection);
  tx.exec("DROP TRIGGER test_fault ON defect.crews");
  tx.exec("DROP FUNCTION defect.test_fault()");
  tx.commit();
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
       "update_mask.paths[0]"},
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
