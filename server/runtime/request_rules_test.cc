// The text rules over the real request messages of the contracts, as the generated server
// bases apply them: every field path × every kind of bad value.
#include "server/runtime/request_rules.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "plantmesh/defect/v1/defect_service.pb.h"
#include "plantmesh/planning/v1/planning_service.pb.h"
#include "plantmesh/telemetry/v1/telemetry_service.pb.h"
#include "server/runtime/call_context.h"
#include "server/runtime/errors.h"
#include "server/runtime/request_decoding.h"
#include "server/runtime/wire_fault.h"

namespace plantmesh::runtime {
namespace {

using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
namespace v1 = ::plantmesh::defect::v1;

std::vector<std::string> PathsOf(const absl::Status& status) {
  std::vector<std::string> paths;
  for (const FieldViolation& v : FieldViolationsOf(status)) paths.push_back(v.field);
  return paths;
}

// Sets the string at a dotted path of singular fields, e.g. "defect.description".
void SetPath(Message* message, const std::string& path, const std::string& value) {
  size_t dot = path.find('.');
  const FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(path.substr(0, dot));
  ASSERT_NE(field, nullptr) << path;
  if (dot == std::string::npos) {
    message->GetReflection()->SetString(message, field, value);
  } else {
    SetPath(message->GetReflection()->MutableMessage(message, field), path.substr(dot + 1), value);
  }
}

enum class Kind { kMultiLine, kSingleLine, kCode };

// Request fields of every kind, from the real contracts.
struct FieldCase {
  std::function<std::unique_ptr<Message>()> request;
  std::string path;
  Kind kind;
};

template <typename T>
std::function<std::unique_ptr<Message>()> Make() {
  return [] { return std::make_unique<T>(); };
}

// An update whose mask names `path` (the field of its resource the case sets).
template <typename T>
std::function<std::unique_ptr<Message>()> MakeUpdate(const char* path) {
  return [path] {
    auto request = std::make_unique<T>();
    request->mutable_update_mask()->add_paths(path);
    return request;
  };
}

std::vector<FieldCase> Fields() {
  return {
      {Make<v1::CreateDefectRequest>(), "defect.description", Kind::kMultiLine},
      {Make<v1::FinishRepairRequest>(), "work_done", Kind::kMultiLine},
      {Make<v1::CancelDefectRequest>(), "reason", Kind::kMultiLine},
      {Make<v1::VerifyRepairRequest>(), "reason", Kind::kMultiLine},
      {MakeUpdate<v1::UpdateDefectRequest>("description"), "defect.description", Kind::kMultiLine},
      {Make<v1::CreateRepairPlaceRequest>(), "repair_place.display_name", Kind::kSingleLine},
      {Make<v1::CreateCrewRequest>(), "crew.display_name", Kind::kSingleLine},
      {Make<v1::CreateMechanicRequest>(), "mechanic.display_name", Kind::kSingleLine},
      {Make<v1::CreateDefectCategoryRequest>(), "category.title", Kind::kSingleLine},
      {Make<v1::UploadDefectPhotoRequest>(), "metadata.file_name", Kind::kSingleLine},
      {Make<v1::CreateDefectRequest>(), "defect.model", Kind::kSingleLine},
      {Make<v1::CreateDefectRequest>(), "defect.shift", Kind::kSingleLine},
      {Make<v1::CreateDefectRequest>(), "defect.detected_by", Kind::kSingleLine},
      {Make<v1::CreateDefectRequest>(), "request_id", Kind::kSingleLine},
      {Make<v1::ListDefectsRequest>(), "shift", Kind::kSingleLine},
      {Make<v1::ListDefectsRequest>(), "page_token", Kind::kSingleLine},
      {Make<v1::GetDefectRequest>(), "id", Kind::kSingleLine},
      {Make<v1::WatchDefectsRequest>(), "cursor", Kind::kSingleLine},
      {Make<v1::CreateDefectRequest>(), "defect.zone", Kind::kCode},
      {Make<v1::CreateDefectRequest>(), "defect.station", Kind::kCode},
      {Make<v1::CreateDefectRequest>(), "defect.vin", Kind::kCode},
      {Make<v1::CreateDefectRequest>(), "defect.category_code", Kind::kCode},
      {MakeUpdate<v1::UpdateDefectRequest>("zone"), "defect.zone", Kind::kCode},
      {Make<v1::ListDefectsRequest>(), "zone", Kind::kCode},
      {Make<v1::ListDefectsRequest>(), "vin", Kind::kCode},
      {Make<v1::WatchDefectsRequest>(), "zone", Kind::kCode},
      {Make<v1::ListRepairPlacesRequest>(), "zone", Kind::kCode},
      {Make<v1::ListCrewsRequest>(), "zone", Kind::kCode},
      {Make<v1::ListMechanicsRequest>(), "crew_id", Kind::kCode},
      {Make<v1::AssignDefectRequest>(), "repair_place_id", Kind::kCode},
      {Make<v1::AssignDefectRequest>(), "mechanic_id", Kind::kCode},
      {Make<v1::CreateRepairPlaceRequest>(), "repair_place.zone", Kind::kCode},
      {Make<v1::CreateCrewRequest>(), "crew.id", Kind::kCode},
      {Make<v1::CreateMechanicRequest>(), "mechanic.crew_id", Kind::kCode},
  };
}

struct Value {
  std::string name;
  std::string text;
  // Which kinds accept it.
  bool multi_line = false;
  bool single_line = false;
  bool code = false;
};

std::vector<Value> Values() {
  return {
      {"NUL", std::string("AB\0C", 4)},
      {"U+0001", "AB\x01"},
      {"DEL", "AB\x7F"},
      {"ESC", "AB\x1B"},
      {"U+0085 NEXT LINE", "AB\xC2\x85"},
      {"U+2028 LINE SEPARATOR", "AB\xE2\x80\xA8"},
      {"invalid UTF-8", "AB\xFF"},
      {"overlong UTF-8", "AB\xC0\xAF"},
      {"surrogate", "AB\xED\xA0\x80"},
      {"lone CR", "AB\r"},
      {"CR LF", "AB\r\nC"},
      {"lone LF", "AB\n", /*multi_line=*/true},
      {"trailing LF on a code", "PAINT\n", /*multi_line=*/true},
      {"tab", "A\tB", /*multi_line=*/true},
      {"lower case", "paint", true, true},
      {"space", "P 07", true, true},
      {"a good code", "P-07", true, true, true},
      {"umlauts", "T\xC3\xBCr links", true, true},
  };
}

bool Accepts(const Value& value, Kind kind) {
  switch (kind) {
    case Kind::kMultiLine:
      return value.multi_line;
    case Kind::kSingleLine:
      return value.single_line;
    case Kind::kCode:
      return value.code;
  }
  return false;
}

TEST(CheckRequestValuesTest, EveryFieldKindAgainstEveryBadValue) {
  for (const FieldCase& field : Fields()) {
    for (const Value& value : Values()) {
      std::unique_ptr<Message> request = field.request();
      SetPath(request.get(), field.path, value.text);
      absl::Status checked = CheckRequestValues(*request);
      SCOPED_TRACE(request->GetDescriptor()->name() + "." + field.path + " = " + value.name);
      if (Accepts(value, field.kind)) {
        EXPECT_TRUE(checked.ok()) << checked;
      } else {
        EXPECT_EQ(checked.code(), absl::StatusCode::kInvalidArgument);
        EXPECT_THAT(PathsOf(checked), ElementsAre(field.path));
        // Text with control characters or broken UTF-8 is never echoed (logs, audit).
        if (TextViolation(value.text, TextRule{}).has_value()) {
          EXPECT_THAT(std::string(checked.message()), Not(HasSubstr(value.text)));
        }
      }
    }
  }
}

TEST(CheckRequestValuesTest, LimitsComeFromTheContract) {
  v1::CreateDefectRequest request;
  request.mutable_defect()->set_description(std::string(4000, 'x'));
  EXPECT_TRUE(CheckRequestValues(request).ok());
  request.mutable_defect()->set_description(std::string(4001, 'x'));
  absl::Status checked = CheckRequestValues(request);
  EXPECT_THAT(PathsOf(checked), ElementsAre("defect.description"));
  EXPECT_THAT(std::string(checked.message()), HasSubstr("at most 4000 characters (got 4001)"));

  std::string umlauts;  // 64 characters in 128 bytes: the model's limit is in characters
  for (int i = 0; i < 64; ++i) umlauts += "\xC3\xA4";
  v1::CreateDefectRequest model;
  model.mutable_defect()->set_model(umlauts);
  EXPECT_TRUE(CheckRequestValues(model).ok());
  model.mutable_defect()->set_model(umlauts + "\xC3\xA4");
  EXPECT_THAT(PathsOf(CheckRequestValues(model)), ElementsAre("defect.model"));

  v1::CreateDefectRequest vin;
  vin.mutable_defect()->set_vin(std::string(33, 'Z'));
  EXPECT_THAT(PathsOf(CheckRequestValues(vin)), ElementsAre("defect.vin"));

  v1::CreateDefectRequest request_id;
  request_id.set_request_id(std::string(129, 'r'));
  EXPECT_THAT(PathsOf(CheckRequestValues(request_id)), ElementsAre("request_id"));
}

// Outside testing: `statuses: [0]` was "unknown status 0" in the defect service and
// "unknown plan status 0" in planning. A list entry of UNSPECIFIED names nothing, in every
// service, as an empty string entry.
TEST(CheckRequestValuesTest, AnUnspecifiedListEntryIsRefusedByItsIndex) {
  v1::ListDefectsRequest defects;
  defects.add_statuses(v1::DEFECT_STATUS_REPORTED);
  defects.add_statuses(v1::DEFECT_STATUS_UNSPECIFIED);
  absl::Status checked = CheckRequestValues(defects);
  EXPECT_THAT(PathsOf(checked), ElementsAre("statuses[1]"));
  EXPECT_THAT(std::string(checked.message()),
              HasSubstr("DEFECT_STATUS_UNSPECIFIED (0) names nothing"));
  ::plantmesh::planning::v1::ListProductionPlansRequest plans;
  plans.add_statuses(::plantmesh::planning::v1::PLAN_STATUS_UNSPECIFIED);
  EXPECT_THAT(PathsOf(CheckRequestValues(plans)), ElementsAre("statuses[0]"));
}

// Outside testing: NaN in a line's rate, a product's cycle time and a forecast's interval
// level was told each field's range, three wordings for one fault. Every double field of
// every request refuses NaN and infinities alike, before the service reads them.
TEST(CheckRequestValuesTest, NonFiniteNumbersAreRefusedInEveryField) {
  namespace pv1 = ::plantmesh::planning::v1;
  pv1::CreateLineRequest line;
  line.mutable_line()->set_nominal_rate_per_hour(std::nan(""));
  absl::Status checked = CheckRequestValues(line);
  EXPECT_THAT(PathsOf(checked), ElementsAre("line.nominal_rate_per_hour"));
  EXPECT_THAT(std::string(checked.message()), HasSubstr("must be finite (NaN is no value)"));
  pv1::CreateProductRequest product;
  product.mutable_product()->add_cycle_times()->set_ideal_cycle_seconds(
      -std::numeric_limits<double>::infinity());
  checked = CheckRequestValues(product);
  EXPECT_THAT(PathsOf(checked), ElementsAre("product.cycle_times[0].ideal_cycle_seconds"));
  EXPECT_THAT(std::string(checked.message()), HasSubstr("must be finite (infinity is no value)"));
  pv1::ForecastDemandRequest forecast;
  forecast.set_interval_level_percent(std::numeric_limits<double>::infinity());
  EXPECT_THAT(PathsOf(CheckRequestValues(forecast)), ElementsAre("interval_level_percent"));
  forecast.set_interval_level_percent(95);
  EXPECT_TRUE(CheckRequestValues(forecast).ok());
  // A telemetry sample's number is the service's to judge, sample by sample (NOT_FINITE).
  ::plantmesh::telemetry::v1::IngestSamplesRequest ingest;
  ingest.add_samples()->set_number(std::nan(""));
  EXPECT_TRUE(CheckRequestValues(ingest).ok());
}

// Outside testing: five spellings of one shift (blanks or a no-break space around it)
// were stored as five shifts, and a list of the shift found one of them. Names and
// filterable values the contract marks no_blanks_around refuse them; free text does not.
TEST(CheckRequestValuesTest, BlanksAroundANameOrFilterValueAreRefused) {
  v1::CreateDefectRequest create;
  create.mutable_defect()->set_shift(" 2026-12-06/X");
  create.mutable_defect()->set_model("SEDAN-2.0 ");
  create.mutable_defect()->set_detected_by(" inspector 4");    // a person's name (AF F6)
  create.mutable_defect()->set_description(" door scratch ");  // free text: as given
  absl::Status checked = CheckRequestValues(create);
  EXPECT_THAT(PathsOf(checked), ElementsAre("defect.model", "defect.detected_by", "defect.shift"));
  EXPECT_THAT(std::string(checked.message()),
              HasSubstr("begins or ends with white space or an invisible character"));
  v1::ListDefectsRequest list;
  list.set_shift("2026-12-06/X\u00A0");
  EXPECT_THAT(PathsOf(CheckRequestValues(list)), ElementsAre("shift"));
  v1::CreateRepairPlaceRequest place;
  place.mutable_repair_place()->set_display_name(" Bay ");
  EXPECT_THAT(PathsOf(CheckRequestValues(place)), ElementsAre("repair_place.display_name"));
  place.mutable_repair_place()->set_display_name("Bay 3, paint");
  EXPECT_TRUE(CheckRequestValues(place).ok());
  // Re-test: planning's shift ids and dates with a no-break space after them were "not a
  // worked shift" and "at most 10 characters (got 11)", naming neither.
  ::plantmesh::planning::v1::RecordOutputRequest output;
  output.mutable_output()->set_shift_id("2026-12-05/S\u00A0");
  const absl::Status shift = CheckRequestValues(output);
  EXPECT_THAT(PathsOf(shift), Contains("output.shift_id"));
  EXPECT_THAT(std::string(shift.message()), HasSubstr("ends with U+00A0 (NO-BREAK SPACE)"));
  ::plantmesh::planning::v1::GetPlanVsActualRequest plan_vs_actual;
  plan_vs_actual.set_from_date("2026-12-05\u00A0");
  const absl::Status date = CheckRequestValues(plan_vs_actual);
  EXPECT_THAT(PathsOf(date), ElementsAre("from_date"));
  EXPECT_THAT(std::string(date.message()), HasSubstr("ends with U+00A0 (NO-BREAK SPACE)"));
}

// Outside testing (sweep 45): an optional detected_by of U+200B was stored, and a shift
// filter of " " answered "no defects", while "x" and U+200B was refused.
TEST(CheckRequestValuesTest, AnAllBlankKeyIsRefusedThoughItIsOptional) {
  v1::CreateDefectRequest create;
  create.mutable_defect()->set_detected_by("\u200B");
  const absl::Status status = CheckRequestValues(create);
  EXPECT_THAT(PathsOf(status), ElementsAre("defect.detected_by"));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("only white space or invisible characters given"));
  v1::ListDefectsRequest list;
  list.set_shift(" ");
  EXPECT_THAT(PathsOf(CheckRequestValues(list)), ElementsAre("shift"));
}

// Outside testing (sweep 45): the same text in NFD beside NFC was a new writer, a new
// defect (request_id) and another shift.
TEST(CheckRequestValuesTest, AKeyInAnotherUnicodeFormIsRefused) {
  v1::CreateDefectRequest create;
  create.set_request_id("MES-Sto\u0308rung-1");
  create.mutable_defect()->set_shift("Fru\u0308h-2026-12-06");
  EXPECT_THAT(PathsOf(CheckRequestValues(create)), ElementsAre("defect.shift", "request_id"));
  ::plantmesh::telemetry::v1::IngestSamplesRequest batch;
  batch.set_writer_id("presse-zu\u0308rich");
  const absl::Status writer = CheckRequestValues(batch);
  EXPECT_THAT(PathsOf(writer), ElementsAre("writer_id"));
  EXPECT_THAT(std::string(writer.message()), HasSubstr("U+0075 U+0308 is U+00FC in NFC"));
  batch.set_writer_id("presse-z\u00FCrich");
  EXPECT_TRUE(CheckRequestValues(batch).ok());
}

// Outside testing (sweep 52): keys of every service with a character inside that shows
// nothing (a defect's shift and model, a writer_id, a product's unit) were stored as
// values of their own that display as another.
TEST(CheckRequestValuesTest, AKeyWithSomethingInvisibleInsideIsRefused) {
  v1::CreateDefectRequest create;
  create.mutable_defect()->set_shift("2026\u200B-12-07/XXXX");
  create.mutable_defect()->set_model("SEDAN\u202E0.2");
  create.mutable_defect()->set_description("free text \u200B as typed");
  EXPECT_THAT(PathsOf(CheckRequestValues(create)), ElementsAre("defect.model", "defect.shift"));
  ::plantmesh::telemetry::v1::IngestSamplesRequest batch;
  batch.set_writer_id("presse-\u202Ezurich");
  EXPECT_THAT(PathsOf(CheckRequestValues(batch)), ElementsAre("writer_id"));
}

// Outside testing: a request_id of " ", U+200B, U+3000 or two U+00A0 was a key of its own,
// so that unrelated creates sending it were REQUEST_ID_REUSED; the SDK and plantctl fill
// only an empty one. Refused in every service's requests; empty stays "not deduplicated".
TEST(CheckRequestValuesTest, ARequestIdSayingNothingIsRefused) {
  for (const std::string blank : {" ", "\u200B", "\u3000", "\u00A0\u00A0", "\u2800"}) {
    v1::CreateDefectRequest create;
    create.set_request_id(blank);
    const absl::Status status = CheckRequestValues(create);
    EXPECT_THAT(PathsOf(status), ElementsAre("request_id")) << blank;
    EXPECT_THAT(std::string(status.message()), HasSubstr("only white space or invisible"));
    ::plantmesh::telemetry::v1::SetDowntimeReasonRequest reason;
    reason.set_request_id(blank);
    EXPECT_THAT(PathsOf(CheckRequestValues(reason)), ElementsAre("request_id")) << blank;
  }
  v1::CreateDefectRequest create;
  EXPECT_TRUE(CheckRequestValues(create).ok());
  create.set_request_id("7f0c ax");  // opaque: what it holds within is the client's
  EXPECT_TRUE(CheckRequestValues(create).ok());
}

// Outside testing (AF F2): `MES-x`, `MES-x `, ` MES-x`, `MES-x` with a zero-width or
// no-break space were five keys, and one reading of output was stored five times (every
// request_id of every contract is no_blanks_around: tests/contract).
TEST(CheckRequestValuesTest, ARequestIdWithBlanksAroundIsRefused) {
  for (const std::string padded : {"MES-x ", " MES-x", "MES-x\u200B", "MES-x\u00A0"}) {
    v1::CreateDefectRequest create;
    create.set_request_id(padded);
    EXPECT_THAT(PathsOf(CheckRequestValues(create)), ElementsAre("request_id")) << padded;
    ::plantmesh::planning::v1::RecordOutputRequest output;
    output.set_request_id(padded);
    EXPECT_THAT(PathsOf(CheckRequestValues(output)), Contains("request_id")) << padded;
  }
}

TEST(CheckRequestValuesTest, ListsEveryViolationWithItsPath) {
  v1::UpdateDefectRequest request;
  v1::Defect* defect = request.mutable_defect();
  defect->set_zone("PAINT\n");
  defect->set_station("P-07\r");
  defect->set_description(std::string("door\0scratch", 12));
  defect->add_photos();
  defect->add_photos()->set_file_name("a\x1b.png");  // output only, but still text
  defect->mutable_repair()->set_work_done("ok\xC2\x85");
  for (const char* path : {"zone", "station", "description", "photos", "repair", "desc\nription"}) {
    request.mutable_update_mask()->add_paths(path);
  }
  absl::Status checked = CheckRequestValues(request);
  EXPECT_EQ(checked.code(), absl::StatusCode::kInvalidArgument);
  // The photos and the repair are output only: an update ignores them, text and all.
  EXPECT_THAT(PathsOf(checked), UnorderedElementsAre("defect.zone", "defect.station",
                                                     "defect.description", "update_mask.paths[5]"));
}

// Outside testing (sweep 45): an update that sent the defect back as read, with a model
// stored before the blanks rule existed, was refused on that model though its mask named
// only the description. An update's text rules judge what its mask names, and the ids
// that name the resource.
TEST(CheckRequestValuesTest, AnUpdateJudgesOnlyWhatItsMaskNames) {
  v1::UpdateDefectRequest request;
  v1::Defect* defect = request.mutable_defect();
  defect->set_id("17");
  defect->set_model("SEDAN-2.0 ");
  defect->set_shift(" 2026-12-06/A");
  defect->set_description("scratch on the left door");
  request.mutable_update_mask()->add_paths("description");
  EXPECT_TRUE(CheckRequestValues(request).ok()) << CheckRequestValues(request);
  request.mutable_update_mask()->add_paths("model");
  EXPECT_THAT(PathsOf(CheckRequestValues(request)), ElementsAre("defect.model"));
  defect->set_id("17\n");
  EXPECT_THAT(PathsOf(CheckRequestValues(request)), ElementsAre("defect.id", "defect.model"));
  ::plantmesh::telemetry::v1::UpdateMachineRequest machine;
  machine.mutable_machine()->set_id("CNC-07");
  machine.mutable_machine()->set_display_name("Lathe 7 ");
  machine.mutable_machine()->set_zone("BODY");
  machine.mutable_update_mask()->add_paths("zone");
  EXPECT_TRUE(CheckRequestValues(machine).ok()) << CheckRequestValues(machine);
}

// Outside testing: UpdateMachine took a path named twice while UpdateDefect refused it.
// Every update's mask is judged alike, before any handler.
TEST(CheckRequiredFieldsTest, AnUpdateMaskNamingAPathTwiceIsRefused) {
  ::plantmesh::telemetry::v1::UpdateMachineRequest machine;
  machine.mutable_machine()->set_id("MP-5");
  machine.mutable_machine()->set_display_name("press 5");
  machine.mutable_update_mask()->add_paths("display_name");
  EXPECT_TRUE(CheckRequiredFields(machine).ok()) << CheckRequiredFields(machine);
  machine.mutable_update_mask()->add_paths("display_name");
  absl::Status checked = CheckRequiredFields(machine);
  EXPECT_EQ(checked.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(FieldViolationsOf(checked).size(), 1u) << checked;
  EXPECT_EQ(FieldViolationsOf(checked)[0].field, "update_mask.paths[1]");
  EXPECT_EQ(FieldViolationsOf(checked)[0].description, "'display_name' is named twice");

  v1::UpdateDefectRequest defect;
  defect.mutable_defect()->set_id("42");
  defect.set_etag("1");
  defect.mutable_defect()->set_zone("PAINT");
  defect.mutable_update_mask()->add_paths("zone");
  defect.mutable_update_mask()->add_paths("zone");
  EXPECT_THAT(PathsOf(CheckRequiredFields(defect)), ElementsAre("update_mask.paths[1]"));
}

// Outside testing: a path named four times gave three identical "named twice" violations.
TEST(CheckRequiredFieldsTest, APathNamedOftenIsOneViolationThatSaysHowOften) {
  v1::UpdateDefectRequest defect;
  defect.mutable_defect()->set_id("42");
  defect.set_etag("1");
  defect.mutable_defect()->set_zone("PAINT");
  defect.mutable_defect()->set_description("scratch");
  for (const char* path :
       {"description", "zone", "description", "description", "zone", "description"}) {
    defect.mutable_update_mask()->add_paths(path);
  }
  const std::vector<FieldViolation> violations = FieldViolationsOf(CheckRequiredFields(defect));
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].field, "update_mask.paths[2]");
  EXPECT_EQ(violations[0].description, "'description' is named 4 times");
  EXPECT_EQ(violations[1].field, "update_mask.paths[4]");
  EXPECT_EQ(violations[1].description, "'zone' is named twice");
  // In the order of the entries refused (re-test: paths[3] came before paths[2]).
  defect.mutable_update_mask()->clear_paths();
  for (const char* path : {"description", "zone", "zone", "description"}) {
    defect.mutable_update_mask()->add_paths(path);
  }
  const std::vector<FieldViolation> ordered = FieldViolationsOf(CheckRequiredFields(defect));
  ASSERT_EQ(ordered.size(), 2u);
  EXPECT_EQ(ordered[0].field, "update_mask.paths[2]");
  EXPECT_EQ(ordered[1].field, "update_mask.paths[3]");
}

// Outside testing: a 4 MiB RegisterMachine of 2.1 million empty data items made the
// required-field walk write down 6.3 million paths (717 MB and 5.6 s for one call, 6.45 GB
// for ten at once; then, counting them without writing them down, still 2.1 s). The walk
// stops after what a status lists, and says so.
TEST(CheckRequiredFieldsTest, ManyMissingFieldsStopTheWalk) {
  ::plantmesh::telemetry::v1::RegisterMachineRequest machine;
  machine.mutable_machine()->set_id("CNC-07");
  for (int i = 0; i < 200000; ++i) machine.mutable_machine()->add_data_items();
  const absl::Status checked = CheckRequiredFields(machine);
  ASSERT_EQ(checked.code(), absl::StatusCode::kInvalidArgument);
  const std::vector<FieldViolation> violations = FieldViolationsOf(checked);
  ASSERT_GE(violations.size(), 2u);
  EXPECT_EQ(violations.front().field, "machine.data_items[0].id");
  EXPECT_EQ(violations.back().description,
            absl::StrCat("more field violations not listed (the check stopped after the first ",
                         kMaxListedViolations, ")"));
}

// Outside testing: `machine_ids: [""]` reached the store and was told NOT_FOUND "no machine
// is registered". Every list of the contracts names things: an empty entry is refused.
TEST(CheckRequestValuesTest, AnEmptyListEntryIsRefusedByItsIndex) {
  ::plantmesh::telemetry::v1::GetLatestValuesRequest request;
  request.add_machine_ids("CNC-07");
  request.add_machine_ids("");
  request.add_data_item_ids("");
  absl::Status checked = CheckRequestValues(request);
  EXPECT_EQ(checked.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(PathsOf(checked), UnorderedElementsAre("machine_ids[1]", "data_item_ids[0]"));
  EXPECT_THAT(checked.message(), HasSubstr("empty"));
}

// Every enum field, single or repeated, at any depth: a number the contract does not
// declare is refused by name (outside testing: `bucket_width: 99` was "must be given").
TEST(CheckRequestValuesTest, EnumNumbersTheContractDoesNotDeclareAreRefused) {
  v1::CreateDefectRequest create;
  create.mutable_defect()->set_severity(static_cast<v1::Severity>(99));
  absl::Status checked = CheckRequestValues(create);
  EXPECT_THAT(PathsOf(checked), ElementsAre("defect.severity"));
  EXPECT_THAT(std::string(checked.message()),
              HasSubstr("unknown value 99 of plantmesh.defect.v1.Severity"));
  create.mutable_defect()->set_severity(v1::SEVERITY_MAJOR);
  EXPECT_TRUE(CheckRequestValues(create).ok());
  create.mutable_defect()->set_severity(v1::SEVERITY_UNSPECIFIED);  // 0: declared
  EXPECT_TRUE(CheckRequestValues(create).ok());

  ::plantmesh::telemetry::v1::QueryAggregatesRequest aggregates;
  aggregates.set_bucket_width(static_cast<::plantmesh::telemetry::v1::BucketWidth>(-5));
  EXPECT_THAT(PathsOf(CheckRequestValues(aggregates)), ElementsAre("bucket_width"));

  v1::ListDefectsRequest list;
  list.add_statuses(v1::DEFECT_STATUS_REPORTED);
  list.add_statuses(static_cast<v1::DefectStatus>(77));
  EXPECT_THAT(PathsOf(CheckRequestValues(list)), ElementsAre("statuses[1]"));
}

TEST(CheckRequestValuesTest, GoodRequestsPass) {
  v1::CreateDefectRequest request;
  v1::Defect* defect = request.mutable_defect();
  defect->set_vin("WVWZZZ1JZXW000001");
  defect->set_model("SEDAN-2.0");
  defect->set_zone("PAINT");
  defect->set_station("P-07");
  defect->set_category_code("PAINT-SCRATCH");
  defect->set_description("Kratzer an der T\xC3\xBCr\n\tlinks, 3 cm");
  defect->set_shift("2026-11-21/A");
  defect->set_detected_by("Inspector 12");
  request.set_request_id("0b5e8f52-7f43-4bb1-9d5c-2f4c5b1e9a10");
  EXPECT_TRUE(CheckRequestValues(request).ok()) << CheckRequestValues(request);
  EXPECT_TRUE(CheckRequestValues(v1::ListDefectCategoriesRequest()).ok());
}

// google.protobuf.Struct has what the defect contract lacks: maps, oneofs, recursion.
TEST(CheckRequestValuesTest, MapsOneofsAndRecursiveTypes) {
  google::protobuf::Struct root;
  (*root.mutable_fields())["ok"].set_string_value("fine");
  (*root.mutable_fields())["nul"].set_string_value(std::string("a\0b", 3));
  google::protobuf::Struct* inner = (*root.mutable_fields())["inner"].mutable_struct_value();
  (*inner->mutable_fields())["deep"].set_string_value("line\nbreak");
  google::protobuf::ListValue* list = (*root.mutable_fields())["list"].mutable_list_value();
  list->add_values()->set_string_value("fine");
  list->add_values()->set_string_value("\x7f");
  (*root.mutable_fields())["bad\nkey"].set_number_value(1);
  absl::Status checked = CheckRequestValues(root);
  EXPECT_THAT(PathsOf(checked),
              UnorderedElementsAre("fields[\"nul\"].string_value",
                                   "fields[\"inner\"].struct_value.fields[\"deep\"].string_value",
                                   "fields[\"list\"].list_value.values[1].string_value", "fields"));
  for (const FieldViolation& v : FieldViolationsOf(checked)) {
    if (v.field == "fields") {
      EXPECT_THAT(v.description, HasSubstr("a key contains U+000A"));
    }
  }
}

TEST(CheckRequestValuesTest, ManyViolationsAreCountedNotAllListed) {
  google::protobuf::ListValue list;
  for (int i = 0; i < 100; ++i) list.add_values()->set_string_value("\x01");
  std::vector<FieldViolation> violations = FieldViolationsOf(CheckRequestValues(list));
  // At most 20 listed, as many as fit the trailers' budget (errors.h), the rest counted.
  ASSERT_GE(violations.size(), 2u);
  ASSERT_LE(violations.size(), kMaxListedViolations + 1);
  EXPECT_EQ(violations.front().field, "values[0].string_value");
  EXPECT_EQ(violations.back().description,
            absl::StrCat(100 - (violations.size() - 1), " more field violations not listed"));
}

TEST(CheckRequestValuesTest, PlansAreSharedAcrossThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> refused{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&refused] {
      for (int i = 0; i < 200; ++i) {
        v1::FinishRepairRequest request;
        request.set_work_done(std::string("x\0", 2));
        if (CheckRequestValues(request).code() == absl::StatusCode::kInvalidArgument) ++refused;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(refused.load(), 800);
}

TEST(RuleOfTest, ReadsTheContract) {
  const auto* defect = v1::Defect::descriptor();
  EXPECT_EQ(RuleOf(defect->FindFieldByName("description")).kind, TextKind::kMultiLine);
  EXPECT_EQ(RuleOf(defect->FindFieldByName("description")).max_chars, 4000);
  EXPECT_EQ(RuleOf(defect->FindFieldByName("zone")).kind, TextKind::kCode);
  EXPECT_EQ(RuleOf(defect->FindFieldByName("shift")).kind, TextKind::kSingleLine);
  // Not annotated: the base rule, no limit of its own.
  const auto* value = google::protobuf::Value::descriptor();
  EXPECT_EQ(RuleOf(value->FindFieldByName("string_value")).kind, TextKind::kSingleLine);
  EXPECT_EQ(RuleOf(value->FindFieldByName("string_value")).max_chars, 0);
}

// ---- from bytes, as a client in any language may send them ----

// Serializes `request` with `marker` (a valid string) replaced by `raw` bytes: a proto3
// string a C++ client could not build but a client in another language can send.
grpc::ByteBuffer Wire(const Message& request, const std::string& marker = "",
                      const std::string& raw = "") {
  std::string wire = request.SerializeAsString();
  if (!marker.empty()) {
    EXPECT_EQ(raw.size(), marker.size()) << "the lengths on the wire must stay right";
    wire = absl::StrReplaceAll(wire, {{marker, raw}});
  }
  grpc::Slice slice(wire);
  return grpc::ByteBuffer(&slice, 1);
}

// A report with every field the contract requires.
v1::CreateDefectRequest CompleteReport() {
  v1::CreateDefectRequest report;
  v1::Defect* defect = report.mutable_defect();
  defect->set_vin("VIN-1");
  defect->set_model("SEDAN-2.0");
  defect->set_zone("PAINT");
  defect->set_station("P-07");
  defect->set_category_code("PAINT-SCRATCH");
  defect->set_shift("2026-11-21/A");
  return report;
}

TEST(DecodeRequestTest, ParsesAndChecks) {
  v1::CreateDefectRequest sent = CompleteReport();
  v1::CreateDefectRequest received;
  received.set_request_id("left over");  // cleared first
  EXPECT_TRUE(DecodeRequest(Wire(sent), &received).ok());
  EXPECT_EQ(received.defect().zone(), "PAINT");
  EXPECT_TRUE(received.request_id().empty());

  sent.mutable_defect()->set_zone("PAINT\n");
  EXPECT_THAT(PathsOf(DecodeRequest(Wire(sent), &received)), ElementsAre("defect.zone"));
}

// Outside testing: every INVALID_ARGUMENT row of the audit had an empty request, so a
// refused injection left only why it was refused, not what was sent.
TEST(DecodeRequestTest, WhatARefusedRequestSentIsKeptForTheAudit) {
  v1::CreateDefectRequest sent = CompleteReport();
  sent.mutable_defect()->set_zone("PAINT\n");  // a message a rule refuses: its JSON
  EXPECT_EQ(RefusedRequestAuditJson(Wire(sent), v1::CreateDefectRequest()),
            R"({"defect":{"vin":"VIN-1","model":"SEDAN-2.0","zone":"PAINT\n","station":"P-07",)"
            R"("category_code":"PAINT-SCRATCH","shift":"2026-11-21/A"}})");
  // No message of the type (a string that is not UTF-8): its size and first bytes.
  sent.mutable_defect()->set_zone("MARK");
  const grpc::ByteBuffer not_utf8 = Wire(sent, "MARK", "M\xFFRK");
  const std::string json = RefusedRequestAuditJson(not_utf8, v1::CreateDefectRequest());
  EXPECT_THAT(json, HasSubstr(absl::StrCat(R"({"refused_request":{"bytes":)", not_utf8.Length(),
                                           R"(,"base64":")")));
  // A huge one: no more than the first kAuditedRefusedBytes.
  sent.mutable_defect()->set_description(std::string(100000, 'x'));
  EXPECT_LT(RefusedRequestAuditJson(Wire(sent), v1::CreateDefectRequest()).size(),
            kAuditedRefusedBytes * 4 / 3 + 100);
  // A client stream's message joins what its handler said of the stream.
  CallContext call;
  call.audit_detail_json = R"({"writer_id":"w"})";
  call.AuditRefusedRequest(R"({"x":1})", 3);
  EXPECT_EQ(call.audit_detail_json,
            R"({"detail":{"writer_id":"w"},"refused_message":3,"request":{"x":1}})");
  CallContext first;
  first.AuditRefusedRequest(R"({"x":1})", 1);
  EXPECT_EQ(first.audit_detail_json, R"({"refused_message":1,"request":{"x":1}})");
}

TEST(DecodeRequestTest, InvalidUtf8IsInvalidArgumentNamingEachField) {
  v1::CreateDefectRequest sent;
  sent.mutable_defect()->set_description("MARK-D");
  sent.mutable_defect()->set_zone(std::string("PA\0NT", 5));  // also wrong, differently
  sent.mutable_defect()->add_photos()->set_file_name("MARK-F");
  v1::CreateDefectRequest received;
  std::string wire = sent.SerializeAsString();
  wire = absl::StrReplaceAll(wire, {{"MARK-D", "MA\xFF\xFE-D"},
                                    {"MARK-F",
                                     "\xC0\xAF"
                                     "ARK-"}});
  grpc::Slice slice(wire);
  absl::Status decoded = DecodeRequest(grpc::ByteBuffer(&slice, 1), &received);
  EXPECT_EQ(decoded.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(PathsOf(decoded), UnorderedElementsAre("defect.description", "defect.zone",
                                                     "defect.photos[0].file_name"));
  EXPECT_THAT(std::string(decoded.message()), HasSubstr("not valid UTF-8"));
}

TEST(DecodeRequestTest, InvalidUtf8InMapsAndListsIsFound) {
  google::protobuf::Struct sent;
  (*sent.mutable_fields())["k"].mutable_list_value()->add_values()->set_string_value("ok");
  (*sent.mutable_fields())["k"].mutable_list_value()->add_values()->set_string_value("MARK");
  google::protobuf::Struct received;
  EXPECT_THAT(PathsOf(DecodeRequest(Wire(sent, "MARK", "M\xFFRK"), &received)),
              ElementsAre("fields[\"k\"].list_value.values[1].string_value"));
}

TEST(DecodeRequestTest, MalformedBytesAndMissingMessage) {
  v1::GetDefectRequest received;
  grpc::Slice garbage(std::string("\x0a\xff\xff\xff", 4));  // a length beyond the end
  absl::Status decoded = DecodeRequest(grpc::ByteBuffer(&garbage, 1), &received);
  EXPECT_EQ(decoded.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(decoded.message()),
              HasSubstr("not a well-formed serialized plantmesh.defect.v1.GetDefectRequest"));
  EXPECT_THAT(std::string(decoded.message()),
              HasSubstr("byte 0: field id (1): its length is cut short"));
  EXPECT_THAT(PathsOf(decoded), ElementsAre("id"));
  EXPECT_EQ(DecodeRequest(grpc::ByteBuffer(), &received).code(),
            absl::StatusCode::kInvalidArgument);
}

// Outside testing: five kinds of bytes that are no message were all told "not a
// well-formed serialized ... message", a stream's without which message it was.
TEST(DecodeRequestTest, BytesThatAreNoMessageSayWhereAndWhy) {
  auto decode = [](const std::string& bytes, google::protobuf::Message* into,
                   int64_t stream_message = 0) {
    grpc::Slice slice(bytes);
    return DecodeRequest(grpc::ByteBuffer(&slice, 1), into, 0, stream_message);
  };
  v1::GetDefectRequest get;
  absl::Status cut = decode(std::string("\x0a\x05"
                                        "ab",
                                        4),
                            &get);
  EXPECT_THAT(std::string(cut.message()),
              HasSubstr("byte 0: field id (1): needs 5 bytes, 2 remain (the message is cut short"));
  EXPECT_THAT(PathsOf(cut), ElementsAre("id"));
  EXPECT_THAT(std::string(decode("\x0e", &get).message()),
              HasSubstr("byte 0: field id (1): wire type 6 does not exist (0-5)"));
  EXPECT_THAT(std::string(decode(std::string("\x0a\x01x\x00", 4), &get).message()),
              HasSubstr("byte 3: field number 0 does not exist"));
  // Field 2^29, varint wire type: 80 80 80 80 10.
  EXPECT_THAT(std::string(decode(std::string("\x80\x80\x80\x80\x10", 5), &get).message()),
              HasSubstr("byte 0: field number 536870912 does not exist (1-536870911)"));
  const std::string deep_groups(101, '\x2b');  // field 5, start group, 101 deep
  EXPECT_THAT(std::string(decode(deep_groups, &get).message()), HasSubstr("nest deeper than 100"));
  EXPECT_THAT(std::string(decode("\x2b", &get).message()),
              HasSubstr("the group of field 5 never ends"));
  EXPECT_THAT(std::string(decode("\x2c", &get).message()),
              HasSubstr("byte 0: an end-group tag of field 5 closes no group open there"));

  v1::CreateDefectRequest create;
  // Field 1 (defect), 200 bytes (varint c8 01): 200 groups opened.
  const std::string in_defect = absl::StrCat("\x0a\xc8\x01", std::string(200, '\x2b'));
  absl::Status nested = decode(in_defect, &create);
  EXPECT_THAT(std::string(nested.message()), HasSubstr("nest deeper than 100"));
  EXPECT_THAT(PathsOf(nested), ElementsAre("defect.station"));  // field 5 of a Defect

  // An element of a repeated field by its place: the second sample's value cut short.
  telemetry::v1::IngestSamplesRequest batch;
  batch.set_writer_id("w");
  batch.add_samples()->set_data_item_id("Xact");
  const std::string good = batch.SerializeAsString();
  const std::string cut_sample = absl::StrCat(good, "\x1a\x05\x12\x09", "ab");
  absl::Status in_second = decode(cut_sample, &batch);
  EXPECT_THAT(PathsOf(in_second), ElementsAre("samples[1]")) << in_second;

  // In a stream: which message.
  EXPECT_THAT(std::string(decode("\x0e", &get, 3).message()),
              HasSubstr("(message 3 of the stream): byte 0"));
  // What protobuf reads, FindWireFault reads too.
  v1::CreateDefectRequest sent;
  sent.mutable_defect()->set_vin("WVWZZZ1JZXW000001");
  sent.mutable_defect()->set_description("scratch");
  EXPECT_FALSE(FindWireFault(sent.SerializeAsString(), sent.GetDescriptor()).has_value());
}

// A client stream whose messages are given up front.
// A bytes field is not text: anything goes. (How a refused message ends a client
// stream is in sdk.codegen_test, against the reactors themselves.)
TEST(DecodeRequestTest, BytesFieldsAreNotText) {
  v1::UploadDefectPhotoRequest chunk;
  chunk.set_chunk(std::string("\0\xff\x01", 3));
  v1::UploadDefectPhotoRequest received;
  EXPECT_TRUE(DecodeRequest(Wire(chunk), &received).ok());
  EXPECT_EQ(received.chunk(), std::string("\0\xff\x01", 3));

  v1::UploadDefectPhotoRequest metadata;
  metadata.mutable_metadata()->set_file_name(std::string("door\0.png", 9));
  EXPECT_THAT(PathsOf(DecodeRequest(Wire(metadata), &received)), Contains("metadata.file_name"));
}

// The contract's REQUIRED fields, named with the text rules' violations in one answer,
// with the description the domain uses.
TEST(DecodeRequestTest, RequiredFieldsOfTheContractAreRefusedByName) {
  v1::CreateDefectRequest received;
  v1::CreateDefectRequest empty;
  absl::Status refused = DecodeRequest(Wire(empty), &received);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(PathsOf(refused),
              ElementsAre("defect.vin", "defect.model", "defect.zone", "defect.station",
                          "defect.category_code", "defect.shift"));
  EXPECT_EQ(FieldViolationsOf(refused)[0].description, "required");

  v1::CreateDefectRequest no_shift = CompleteReport();
  no_shift.mutable_defect()->clear_shift();
  EXPECT_THAT(PathsOf(DecodeRequest(Wire(no_shift), &received)), ElementsAre("defect.shift"));

  v1::CreateDefectRequest bad_text = CompleteReport();
  bad_text.mutable_defect()->clear_shift();
  bad_text.mutable_defect()->set_zone("paint");
  // Every wrong field at once (outside testing: the bad code alone was named, the missing
  // shift only on the next try).
  EXPECT_THAT(PathsOf(DecodeRequest(Wire(bad_text), &received)),
              ElementsAre("defect.zone", "defect.shift"));

  // An update: the identifier, the mask and the etag; the resource's required fields only
  // where the mask names them.
  v1::UpdateDefectRequest update;
  v1::UpdateDefectRequest update_received;
  EXPECT_THAT(PathsOf(DecodeRequest(Wire(update), &update_received)),
              ElementsAre("defect.id", "update_mask", "etag"));
  update.mutable_defect()->set_id("7");
  update.mutable_defect()->set_description("longer scratch");
  update.mutable_update_mask()->add_paths("description");
  update.set_etag("v1");
  EXPECT_TRUE(DecodeRequest(Wire(update), &update_received).ok());
  update.mutable_update_mask()->add_paths("zone");
  absl::Status masked = DecodeRequest(Wire(update), &update_received);
  EXPECT_THAT(PathsOf(masked), ElementsAre("defect.zone"));
  EXPECT_EQ(FieldViolationsOf(masked)[0].description, "required: update_mask names it");

  // A client stream: the first message's metadata, not the chunks after it.
  v1::UploadDefectPhotoRequest chunk;
  chunk.set_chunk("bytes");
  v1::UploadDefectPhotoRequest upload_received;
  EXPECT_TRUE(DecodeRequest(Wire(chunk), &upload_received).ok());
  v1::UploadDefectPhotoRequest metadata;
  metadata.mutable_metadata()->set_defect_id("7");
  EXPECT_THAT(PathsOf(DecodeRequest(Wire(metadata), &upload_received)),
              ElementsAre("metadata.content_type", "metadata.size_bytes", "metadata.sha256"));
}

// Re-test: a blank required code was named twice in one answer ("' ' is not a code" and
// "required: only white space ..."). Each field is named once.
TEST(DecodeRequestTest, AFieldIsNamedOnceThoughItBreaksTwoRules) {
  ::plantmesh::telemetry::v1::RegisterMachineRequest blank;
  blank.mutable_machine()->set_id(" ");
  ::plantmesh::telemetry::v1::RegisterMachineRequest received;
  const std::vector<std::string> paths = PathsOf(DecodeRequest(Wire(blank), &received));
  EXPECT_EQ(std::count(paths.begin(), paths.end(), "machine.id"), 1)
      << ::testing::PrintToString(paths);
}

// A repeated field declaring elements_judged_by_service (IngestSamplesRequest.samples):
// the rules stop at it, so one bad sample does not refuse its batch (the telemetry
// service rejects it alone); the request's own fields keep their rules. Invalid UTF-8
// in a sample still refuses the whole batch: protobuf cannot parse it.
TEST(ElementsJudgedByServiceTest, TextRulesStopAtTheElements) {
  namespace tv1 = ::plantmesh::telemetry::v1;
  tv1::IngestSamplesRequest batch;
  batch.set_writer_id("mtconnect-cnc07");
  batch.set_batch_sequence(1);
  batch.add_samples()->set_machine_id("CNC-07");
  batch.mutable_samples(0)->set_text("ACTIVE");
  tv1::Sample* bad = batch.add_samples();
  bad->set_machine_id("cnc 07");                                 // not a code
  bad->set_text(std::string("ACT\x01IVE"));                      // a control character
  bad->mutable_condition()->set_message(std::string(600, 'x'));  // over 512 characters
  EXPECT_TRUE(CheckRequestValues(batch).ok());
  tv1::IngestSamplesRequest received;
  EXPECT_TRUE(DecodeRequest(Wire(batch), &received).ok());
  EXPECT_EQ(received.samples_size(), 2);

  // The batch's own fields: still the runtime's.
  batch.set_writer_id("writer\n7");
  EXPECT_THAT(PathsOf(CheckRequestValues(batch)), ElementsAre("writer_id"));
  batch.set_writer_id("mtconnect-cnc07");

  // Not UTF-8: the message cannot be parsed, so the batch is refused naming the field.
  batch.mutable_samples(0)->set_text("MARK");
  absl::Status refused = DecodeRequest(Wire(batch, "MARK", "M\xFFRK"), &received);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(PathsOf(refused), Contains("samples[0].text"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("not valid UTF-8"));

  // A field without the option is looked into as before (its elements' strings).
  v1::CreateDefectRequest report = CompleteReport();
  report.mutable_defect()->add_photos()->set_file_name(std::string("a\x01.png"));
  EXPECT_THAT(PathsOf(CheckRequestValues(report)), ElementsAre("defect.photos[0].file_name"));
}

// Found by hostile-input testing: a Timestamp of 2^62 seconds in a list filter reached
// PostgreSQL ("timestamp out of range") and came back INTERNAL. Every Timestamp and
// Duration of every request is held to its type's valid range, at any depth.
TEST(CheckRequestValuesTest, TimeValuesOutsideTheirTypesRangeNameTheirField) {
  namespace tv1 = ::plantmesh::telemetry::v1;
  tv1::ListDowntimesRequest list;
  list.set_machine_id("CNC-07");
  list.mutable_end_time()->set_seconds(int64_t{1} << 62);
  EXPECT_THAT(PathsOf(CheckRequestValues(list)), ElementsAre("end_time"));
  list.mutable_end_time()->set_seconds(-(int64_t{1} << 62));
  EXPECT_THAT(PathsOf(CheckRequestValues(list)), ElementsAre("end_time"));

  // The edges of Timestamp's range: 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z.
  list.mutable_end_time()->set_seconds(-62135596800);
  EXPECT_TRUE(CheckRequestValues(list).ok());
  list.mutable_end_time()->set_seconds(-62135596801);
  EXPECT_THAT(PathsOf(CheckRequestValues(list)), ElementsAre("end_time"));
  list.mutable_end_time()->set_seconds(253402300799);
  list.mutable_end_time()->set_nanos(999999999);
  EXPECT_TRUE(CheckRequestValues(list).ok());
  list.mutable_end_time()->set_seconds(253402300800);
  list.mutable_end_time()->set_nanos(0);
  EXPECT_THAT(PathsOf(CheckRequestValues(list)), ElementsAre("end_time"));
  list.mutable_end_time()->set_seconds(0);
  list.mutable_end_time()->set_nanos(-1);
  EXPECT_THAT(PathsOf(CheckRequestValues(list)), ElementsAre("end_time"));
  list.mutable_end_time()->set_nanos(1000000000);
  list.mutable_start_time()->set_seconds(1);
  EXPECT_THAT(PathsOf(CheckRequestValues(list)), ElementsAre("end_time"));

  // A Duration inside a message: its path, and both sign rules.
  tv1::RegisterMachineRequest machine;
  machine.mutable_machine()->set_id("CNC-07");
  google::protobuf::Duration* cycle = machine.mutable_machine()->mutable_ideal_cycle_time();
  cycle->set_seconds(-1);
  cycle->set_nanos(-5);
  EXPECT_TRUE(CheckRequestValues(machine).ok());
  cycle->set_nanos(5);  // nanos must have the sign of seconds
  EXPECT_THAT(PathsOf(CheckRequestValues(machine)), ElementsAre("machine.ideal_cycle_time"));
  cycle->set_seconds(315576000001);
  cycle->set_nanos(0);
  absl::Status refused = CheckRequestValues(machine);
  EXPECT_THAT(PathsOf(refused), ElementsAre("machine.ideal_cycle_time"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("google.protobuf.Duration"));
}

}  // namespace
}  // namespace plantmesh::runtime
