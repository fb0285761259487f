#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/cord.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/admin_status.h"
#include "cli/atomic_file.h"
#include "cli/command_suggestions.h"
#include "cli/command_tree.h"
#include "cli/connection_flags.h"
#include "cli/contract_catalog.h"
#include "cli/default_columns.h"
#include "cli/exit_codes.h"
#include "cli/input_file.h"
#include "cli/method_runner.h"
#include "cli/number_check.h"
#include "cli/output.h"
#include "cli/request_builder.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "plantmesh/api/v1/error_details.pb.h"
#include "plantmesh/common/edit_distance.h"
#include "plantmesh/defect/v1/defect_service.pb.h"
#include "plantmesh/planning/v1/planning_service.pb.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/system/v1/system_service.pb.h"
#include "plantmesh/telemetry/v1/telemetry_service.pb.h"

namespace plantmesh::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A directory of its own under the system's temporary directory, removed with everything
// in it when the test ends (also when an ASSERT ends it early).
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix)
      : path_((std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string()) {
    if (mkdtemp(path_.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << path_;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto catalog = ContractCatalog::Embedded();
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = std::move(*catalog);
    tree_ = std::make_unique<CommandTree>(*catalog_, &app_);
  }

  // Parses `args` (after "plantctl") and returns the request the chosen command builds.
  std::unique_ptr<google::protobuf::Message> Build(std::vector<std::string> args,
                                                   absl::Status* status = nullptr) {
    std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
    app_.parse(args);
    const MethodBinding* binding = tree_->Selected();
    EXPECT_NE(binding, nullptr);
    if (binding == nullptr) return nullptr;
    auto request = tree_->BuildRequest(*binding);
    if (status != nullptr) *status = request.status();
    if (!request.ok()) return nullptr;
    return std::move(*request);
  }

  template <typename T>
  T As(const google::protobuf::Message& dynamic) {
    T typed;
    EXPECT_TRUE(typed.ParseFromString(dynamic.SerializeAsString()));
    return typed;
  }

  CLI::App app_{"plantctl"};
  std::unique_ptr<ContractCatalog> catalog_;
  std::unique_ptr<CommandTree> tree_;
};

TEST(KebabCaseTest, SplitsWords) {
  EXPECT_EQ(KebabCase("CreateDefect"), "create-defect");
  EXPECT_EQ(KebabCase("WhoAmI"), "who-am-i");
  EXPECT_EQ(KebabCase("GetDefectHistory"), "get-defect-history");
  EXPECT_EQ(KebabCase("HTTPServer"), "http-server");
}

TEST_F(CommandsTest, OneCommandPerRpcOfEveryLinkedService) {
  // The linked generated descriptors are the contracts the server is built from.
  (void)plantmesh::defect::v1::CreateDefectRequest::descriptor();
  (void)plantmesh::system::v1::WhoAmIRequest::descriptor();
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* name :
       {"plantmesh.defect.v1.DefectService", "plantmesh.system.v1.SystemService"}) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string service_command =
          service->file()->package().substr(10, 6) == "defect" ? "defect" : "system";
      const MethodCommand* command =
          catalog_->Find(service_command, KebabCase(service->method(i)->name()));
      ASSERT_NE(command, nullptr) << service->method(i)->full_name();
      EXPECT_EQ(command->method->full_name(), service->method(i)->full_name());
      EXPECT_NE(app_.get_subcommand(service_command)->get_subcommand(command->name), nullptr);
    }
  }
  EXPECT_NE(catalog_->Find("system", "who-am-i"), nullptr);
  EXPECT_EQ(catalog_->Find("defect", "no-such-rpc"), nullptr);
}

TEST_F(CommandsTest, HelpCarriesCommentRolesAndRetrySafety) {
  const MethodCommand* verify = catalog_->Find("defect", "verify-repair");
  ASSERT_NE(verify, nullptr);
  EXPECT_THAT(verify->comment, HasSubstr("four eyes"));
  EXPECT_THAT(verify->roles, ::testing::ElementsAre("qc_engineer", "admin"));
  EXPECT_TRUE(verify->retry_safe);
  std::string description = verify->Description();
  EXPECT_THAT(description, HasSubstr("Roles: qc_engineer, admin"));
  EXPECT_THAT(description, HasSubstr("Safe to retry: yes (IDEMPOTENT)"));
  EXPECT_THAT(description, HasSubstr("filled with a random UUID"));

  const MethodCommand* who = catalog_->Find("system", "who-am-i");
  ASSERT_NE(who, nullptr);
  EXPECT_TRUE(who->any_authenticated);
  EXPECT_THAT(who->Description(), HasSubstr("any authenticated identity"));
  EXPECT_THAT(who->Description(), HasSubstr("NO_SIDE_EFFECTS"));
  EXPECT_EQ(who->request_id, nullptr);

  std::string help = app_.get_subcommand("defect")->get_subcommand("create-defect")->help();
  EXPECT_THAT(help, HasSubstr("Reports a defect"));
  EXPECT_THAT(help, HasSubstr("--defect.vin"));
  EXPECT_THAT(help, HasSubstr("VIN of the vehicle"));
  EXPECT_THAT(help, HasSubstr("[minor|major|critical]"));
  // The contract's text rules.
  EXPECT_THAT(help, HasSubstr("[code: 1-32 characters A-Z, 0-9, '-']"));
  EXPECT_THAT(help, HasSubstr("[may span lines; at most 4000 characters]"));
  EXPECT_THAT(help, HasSubstr("[one line, at most 32 characters, no blanks around]"));
}

TEST_F(CommandsTest, FlagsFlattenNestedMessagesToDepthTwo) {
  CLI::App* create = app_.get_subcommand("defect")->get_subcommand("create-defect");
  for (const char* flag : {"--defect.vin", "--defect.severity", "--defect.category_code",
                           "--request_id", "--defect-json", "--request-json"}) {
    EXPECT_NO_THROW(create->get_option(flag)) << flag;
  }
  EXPECT_THROW(create->get_option("--defect.assignment.mechanic_id"), CLI::OptionNotFound);

  const MethodCommand* upload = catalog_->Find("defect", "upload-defect-photo");
  ASSERT_NE(upload, nullptr);
  EXPECT_EQ(upload->kind, StreamKind::kClientStreaming);
  ASSERT_NE(upload->request_file_chunk, nullptr);
  EXPECT_EQ(upload->request_file_chunk->name(), "chunk");
  EXPECT_NO_THROW(app_.get_subcommand("defect")
                      ->get_subcommand("upload-defect-photo")
                      ->get_option("--from-file"));
  const MethodCommand* download = catalog_->Find("defect", "download-defect-photo");
  ASSERT_NE(download, nullptr);
  EXPECT_EQ(download->kind, StreamKind::kServerStreaming);
  EXPECT_NE(download->response_file_chunk, nullptr);
  EXPECT_EQ(catalog_->Find("defect", "watch-defects")->kind, StreamKind::kServerStreaming);
}

TEST_F(CommandsTest, BuildsRequestFromFlags) {
  auto request =
      Build({"defect", "create-defect", "--defect.vin", "WVW123", "--defect.model", "SEDAN-2.0",
             "--defect.zone", "PAINT", "--defect.station", "P-07", "--defect.shift", "2026-11-21/A",
             "--defect.severity", "major", "--defect.category_code", "PAINT-SCRATCH",
             "--defect.description", "scratch, 3 cm"});
  ASSERT_NE(request, nullptr);
  auto typed = As<plantmesh::defect::v1::CreateDefectRequest>(*request);
  EXPECT_EQ(typed.defect().vin(), "WVW123");
  EXPECT_EQ(typed.defect().severity(), plantmesh::defect::v1::SEVERITY_MAJOR);
  EXPECT_EQ(typed.defect().category_code(), "PAINT-SCRATCH");
  EXPECT_EQ(typed.request_id().size(), 36u);  // a UUID was filled in
}

TEST_F(CommandsTest, KeepsAGivenRequestIdAndAcceptsFullEnumNames) {
  auto request = Build({"defect", "verify-repair", "--id", "7", "--decision", "QC_DECISION_REJECT",
                        "--reason", "paint runs", "--request_id", "r-1"});
  ASSERT_NE(request, nullptr);
  auto typed = As<plantmesh::defect::v1::VerifyRepairRequest>(*request);
  EXPECT_EQ(typed.decision(), plantmesh::defect::v1::QC_DECISION_REJECT);
  EXPECT_EQ(typed.request_id(), "r-1");
}

TEST_F(CommandsTest, FillsTheRequestIdOfAStreamsFirstMessageMetadata) {
  const MethodCommand* upload = catalog_->Find("defect", "upload-defect-photo");
  ASSERT_NE(upload, nullptr);
  ASSERT_NE(upload->request_id, nullptr);
  ASSERT_NE(upload->request_id_parent, nullptr);
  EXPECT_EQ(upload->RequestIdPath(), "metadata.request_id");
  EXPECT_THAT(upload->Description(), HasSubstr("--metadata.request_id left empty is filled"));

  auto request = Build({"defect", "upload-defect-photo", "--metadata.defect_id", "7",
                        "--metadata.content_type", "image/png", "--metadata.size_bytes", "3",
                        "--metadata.sha256", std::string(64, 'a')});
  ASSERT_NE(request, nullptr);
  auto typed = As<plantmesh::defect::v1::UploadDefectPhotoRequest>(*request);
  EXPECT_EQ(typed.metadata().defect_id(), "7");
  EXPECT_EQ(typed.metadata().request_id().size(), 36u);  // a UUID was filled in
}

TEST_F(CommandsTest, KeepsAGivenNestedRequestIdAndNeverSetsAnAbsentParent) {
  auto given = Build({"defect", "upload-defect-photo", "--metadata.defect_id", "7",
                      "--metadata.content_type", "image/png", "--metadata.size_bytes", "3",
                      "--metadata.sha256", std::string(64, 'a'), "--metadata.request_id", "r-9"});
  ASSERT_NE(given, nullptr);
  EXPECT_EQ(As<plantmesh::defect::v1::UploadDefectPhotoRequest>(*given).metadata().request_id(),
            "r-9");

  // A chunk-only message: filling metadata would replace the chunk in the oneof.
  auto chunk_only =
      Build({"defect", "upload-defect-photo", "--request-json", R"({"chunk": "AAEC"})"});
  ASSERT_NE(chunk_only, nullptr);
  auto typed = As<plantmesh::defect::v1::UploadDefectPhotoRequest>(*chunk_only);
  EXPECT_FALSE(typed.has_metadata());
  EXPECT_EQ(typed.chunk(), std::string("\x00\x01\x02", 3));
}

TEST_F(CommandsTest, RepeatedEnumsTimestampsAndNumbers) {
  auto request =
      Build({"defect", "list-defects", "--statuses", "reported", "--statuses", "IN_REPAIR",
             "--create_time_from", "2026-11-21T06:00:00.5Z", "--page_size", "50"});
  ASSERT_NE(request, nullptr);
  auto typed = As<plantmesh::defect::v1::ListDefectsRequest>(*request);
  ASSERT_EQ(typed.statuses_size(), 2);
  EXPECT_EQ(typed.statuses(0), plantmesh::defect::v1::DEFECT_STATUS_REPORTED);
  EXPECT_EQ(typed.statuses(1), plantmesh::defect::v1::DEFECT_STATUS_IN_REPAIR);
  EXPECT_EQ(typed.create_time_from().seconds(), 1795240800);
  EXPECT_EQ(typed.create_time_from().nanos(), 500000000);
  EXPECT_EQ(typed.page_size(), 50);
}

// Outside testing: `"type":"LOAD"` in a --*-json flag was refused naming no valid value.
TEST_F(CommandsTest, AnUnknownEnumNameInJsonListsTheValues) {
  absl::Status status;
  EXPECT_EQ(Build({"defect", "update-defect", "--request-json",
                   R"({"defect":{"id":"9","severity":"HIGH"}})"},
                  &status),
            nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("; one of: SEVERITY_"));
}

// Outside testing: a guessed field name in a --*-json flag was refused naming no field
// that exists; the fields of the message it is in are listed.
TEST_F(CommandsTest, AnUnknownFieldInJsonListsTheFieldsThereAre) {
  absl::Status status;
  EXPECT_EQ(Build({"telemetry", "register-machine", "--machine.id", "CNC-07",
                   "--machine.data_items-json", R"([{"id":"Xload","kind":"sample"}])"},
                  &status),
            nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("kind: Cannot find field"));
  EXPECT_THAT(status.message(), HasSubstr("; the fields of DataItem: id, "));
  EXPECT_THAT(status.message(), HasSubstr("category"));
  EXPECT_EQ(Build({"defect", "update-defect", "--request-json", R"({"defekt":{}})"}, &status),
            nullptr);
  EXPECT_THAT(status.message(), HasSubstr("; the fields of UpdateDefectRequest: defect, "));
}

TEST_F(CommandsTest, FieldMaskJsonAndRequestJson) {
  auto request =
      Build({"defect", "update-defect", "--request-json",
             R"({"etag":"e1","defect":{"id":"9","zone":"PAINT"}})", "--update_mask",
             "vin, category_code", "--defect.vin", "VIN9", "--defect.category_code", "PAINT-DENT"});
  ASSERT_NE(request, nullptr);
  auto typed = As<plantmesh::defect::v1::UpdateDefectRequest>(*request);
  EXPECT_EQ(typed.etag(), "e1");
  EXPECT_EQ(typed.defect().id(), "9");
  EXPECT_EQ(typed.defect().zone(), "PAINT");
  EXPECT_EQ(typed.defect().vin(), "VIN9");
  EXPECT_EQ(typed.defect().category_code(), "PAINT-DENT");
  ASSERT_EQ(typed.update_mask().paths_size(), 2);
  EXPECT_EQ(typed.update_mask().paths(1), "category_code");
}

// Issue 7: help that tells the truth. Output-only fields get no flag, required ones are
// listed first under their own heading and checked before any call, repeated enums take
// commas as well as repeated flags, and a service's list of methods says "Methods".
TEST_F(CommandsTest, HelpMarksRequiredFieldsAndOffersNoOutputOnlyFlag) {
  CLI::App* create = app_.get_subcommand("defect")->get_subcommand("create-defect");
  for (const char* output_only :
       {"--defect.status", "--defect.etag", "--defect.id", "--defect.revision",
        "--defect.reported_by", "--defect.create_time", "--defect.assignment-json",
        "--defect.photos-json"}) {
    EXPECT_THROW(create->get_option(output_only), CLI::OptionNotFound) << output_only;
  }
  for (const char* required : {"--defect.vin", "--defect.model", "--defect.zone",
                               "--defect.station", "--defect.category_code", "--defect.shift"}) {
    EXPECT_EQ(create->get_option(required)->get_group(), "Required request fields") << required;
  }
  for (const char* optional :
       {"--defect.severity", "--defect.description", "--request_id", "--defect-json"}) {
    EXPECT_EQ(create->get_option(optional)->get_group(), "Request fields") << optional;
  }
  const std::string help = create->help();
  EXPECT_LT(help.find("Required request fields:"), help.find("\nRequest fields:"));
  // The contract requires RecordOutput's request_id, but plantctl fills it: not the
  // user's to give.
  CLI::App* record = app_.get_subcommand("planning")->get_subcommand("record-output");
  EXPECT_EQ(record->get_option("--request_id")->get_group(), "Request fields");

  // An update: the identifier is required there, the resource's fields when masked.
  CLI::App* update = app_.get_subcommand("defect")->get_subcommand("update-defect");
  for (const char* required : {"--defect.id", "--update_mask", "--etag"}) {
    EXPECT_EQ(update->get_option(required)->get_group(), "Required request fields") << required;
  }
  EXPECT_EQ(update->get_option("--defect.zone")->get_group(), "Request fields");
  EXPECT_THAT(update->get_option("--defect.zone")->get_description(),
              HasSubstr("Required when --update_mask names it."));

  CLI::App* list = app_.get_subcommand("defect")->get_subcommand("list-defects");
  const std::string list_help = list->help();
  EXPECT_THAT(list_help, HasSubstr("--statuses ENUM[,ENUM...]"));
  EXPECT_THAT(list_help, Not(HasSubstr("...  ...")));
  EXPECT_THAT(list_help, Not(HasSubstr("ENUM ... ...")));
  EXPECT_THAT(list_help, HasSubstr("separate them with commas, or repeat the flag"));

  const std::string service_help = app_.get_subcommand("defect")->help();
  EXPECT_THAT(service_help, HasSubstr("Methods (from the contract):"));
  EXPECT_THAT(service_help, Not(HasSubstr("Services")));
  EXPECT_THAT(app_.help(), HasSubstr("Services (from the contracts):"));
}

// Outside testing (sweep 46): a value flag the mask did not name was sent and ignored by
// the server, and plantctl exited 0 with nothing changed.
TEST_F(CommandsTest, AnUpdatesValueFlagMustBeNamedByItsMask) {
  absl::Status status;
  Build({"planning", "update-line", "--line.id", "PACK-1", "--update_mask", "display_name",
         "--line.display_name", "Packaging 1", "--line.area", "FILLING"},
        &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("--line.area is given, but --update_mask does not name area"));
  EXPECT_NE(
      Build({"planning", "update-line", "--line.id", "PACK-1", "--update_mask", "display_name,area",
             "--line.display_name", "Packaging 1", "--line.area", "FILLING"},
            &status),
      nullptr)
      << status;
  Build({"planning", "update-product", "--product.id", "P-1", "--update_mask", "unit",
         "--product.unit", "box", "--product.changeovers-json", "[]"},
        &status);
  EXPECT_THAT(
      status.message(),
      HasSubstr(
          "--product.changeovers-json is given, but --update_mask does not name changeovers"));
}

TEST_F(CommandsTest, MissingRequiredFlagsAreNamedBeforeAnyCall) {
  absl::Status status;
  EXPECT_EQ(
      Build({"defect", "create-defect", "--defect.vin", "WVW1", "--defect.zone", "PAINT"}, &status),
      nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("missing required flags --defect.model, --defect.station, "
                        "--defect.category_code, --defect.shift for defect create-defect"));

  // --request-json counts; a masked field of an update is asked for by its flag.
  EXPECT_EQ(Build({"defect", "update-defect", "--request-json",
                   R"({"etag":"v1","defect":{"id":"9"}})", "--update_mask", "zone"},
                  &status),
            nullptr);
  EXPECT_THAT(status.message(),
              HasSubstr("missing required flag --defect.zone (--update_mask names it)"));
  EXPECT_NE(Build({"defect", "update-defect", "--request-json",
                   R"({"etag":"v1","defect":{"id":"9","zone":"PAINT"}})", "--update_mask", "zone"}),
            nullptr);

  EXPECT_EQ(Build({"defect", "verify-repair", "--id", "7"}, &status), nullptr);
  EXPECT_THAT(status.message(), HasSubstr("missing required flag --decision"));

  // A required list of messages is given by its JSON flag, named as such (outside
  // testing: "`shift_pattern.shifts` (in --request-json)", and --help listed the flag
  // among the optional ones); a field inside such a list names the flag it is in.
  CLI::App* pattern = app_.get_subcommand("planning")->get_subcommand("create-shift-pattern");
  EXPECT_EQ(pattern->get_option("--shift_pattern.shifts-json")->get_group(),
            "Required request fields");
  EXPECT_EQ(Build({"planning", "create-shift-pattern", "--shift_pattern.id", "3X8",
                   "--shift_pattern.display_name", "Three shifts"},
                  &status),
            nullptr);
  EXPECT_THAT(status.message(), HasSubstr("missing required flag --shift_pattern.shifts-json for"));
  EXPECT_EQ(Build({"planning", "create-production-plan", "--plan.line_id", "L1", "--plan.shift_id",
                   "2026-12-07/A", "--plan.items-json", R"([{"product_id":"P1","quantity":10}])"},
                  &status),
            nullptr);
  EXPECT_THAT(status.message(), HasSubstr("`plan.items[0].sequence` (in --plan.items-json)"));

  // A required flag given its unset value is not "missing" (outside testing: plantctl
  // said "missing required flag --horizon_days" to --horizon_days 0).
  EXPECT_EQ(Build({"planning", "forecast-demand", "--horizon_days", "0", "--product_ids", "P-1"},
                  &status),
            nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("--horizon_days \"0\": the field is required and this is its unset value"));
  EXPECT_THAT(status.message(), Not(HasSubstr("missing")));
}

TEST_F(CommandsTest, FromFileFillsTheRequiredSizeAndChecksum) {
  const std::string photo = ::testing::TempDir() + "/required_photo.png";
  std::ofstream(photo) << "png";
  absl::Status status;
  EXPECT_NE(Build({"defect", "upload-defect-photo", "--metadata.defect_id", "7",
                   "--metadata.content_type", "image/png", "--from-file", photo},
                  &status),
            nullptr)
      << status;
  EXPECT_EQ(
      Build({"defect", "upload-defect-photo", "--metadata.defect_id", "7", "--from-file", photo},
            &status),
      nullptr);
  EXPECT_THAT(status.message(), HasSubstr("missing required flag --metadata.content_type for"));
}

TEST_F(CommandsTest, RepeatedEnumsTakeCommasAndRepeatedFlags) {
  auto request =
      Build({"defect", "list-defects", "--statuses", "reported,in_repair", "--statuses", "closed"});
  ASSERT_NE(request, nullptr);
  auto typed = As<plantmesh::defect::v1::ListDefectsRequest>(*request);
  ASSERT_EQ(typed.statuses_size(), 3);
  EXPECT_EQ(typed.statuses(0), plantmesh::defect::v1::DEFECT_STATUS_REPORTED);
  EXPECT_EQ(typed.statuses(1), plantmesh::defect::v1::DEFECT_STATUS_IN_REPAIR);
  EXPECT_EQ(typed.statuses(2), plantmesh::defect::v1::DEFECT_STATUS_CLOSED);
}

TEST_F(CommandsTest, BadValuesNameTheFlag) {
  absl::Status status;
  EXPECT_EQ(Build({"defect", "finish-repair", "--id", "1", "--labor_minutes", "ten"}, &status),
            nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("--labor_minutes"));
  // Outside testing: "2026-12-4T04:00:00Z" was taken as a time.
  EXPECT_EQ(Build({"telemetry", "query-samples", "--machine_id", "CNC-07", "--start_time",
                   "2026-12-4T04:00:00Z"},
                  &status),
            nullptr);
  EXPECT_THAT(status.message(), HasSubstr("--start_time"));
  // Outside testing: "+5" and " 7" were taken as whole numbers (digits only, README).
  for (const char* lax : {"+5", " 7", "7 ", "0x10"}) {
    EXPECT_EQ(Build({"defect", "list-defects", "--page_size", lax}, &status), nullptr) << lax;
    // The flag names the field once (outside testing: "--page_size: page_size: ...").
    EXPECT_THAT(status.message(),
                HasSubstr(absl::StrCat("--page_size: \"", lax,
                                       "\" must be a whole number in decimal digits")))
        << lax;
  }
  // Outside testing (sweep 59): "0x10" was "not a 32-bit integer", which it is.
  EXPECT_EQ(Build({"defect", "list-defects", "--page_size", "3000000000"}, &status), nullptr);
  EXPECT_THAT(status.message(), HasSubstr("--page_size: \"3000000000\" is out of the field's "
                                          "range, -2147483648 to 2147483647"));
  // Outside testing: a value that is not UTF-8 was sent (protobuf logged an error) and
  // refused by the server; it is a usage error naming the flag.
  EXPECT_EQ(Build({"defect", "get-defect", "--id", "1\xff"}, &status), nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("--id: \"1\\xff\" is not valid UTF-8"));
}

// Outside testing: `--id 1 --id 2` silently asked for 2.
TEST_F(CommandsTest, AFieldGivenTwiceIsRefused) {
  try {
    Build({"defect", "get-defect", "--id", "1", "--id", "2"});
    ADD_FAILURE() << "taken";
  } catch (const CLI::ParseError& e) {  // plantctl's usage error (exit 2)
    EXPECT_THAT(e.what(), HasSubstr("--id"));
  }
}

// Outside testing: "--timeout abc" answered with a range of 309 digits.
TEST(ConnectionFlagsTest, ATimeoutThatIsNoNumberOfSecondsIsNamed) {
  for (const char* bad : {"abc", "-1", "0", "nan"}) {
    ConnectionSettings settings;
    CLI::App app;
    AddConnectionFlags(&app, &settings);
    try {
      app.parse(std::vector<std::string>{bad, "--timeout"});
      ADD_FAILURE() << bad << " was taken";
    } catch (const CLI::ValidationError& e) {
      EXPECT_THAT(e.what(), HasSubstr("must be a number of seconds above 0")) << bad;
    }
  }
}

TEST_F(CommandsTest, BadEnumListsTheChoices) {
  absl::Status status;
  EXPECT_EQ(Build({"defect", "create-defect", "--defect.severity", "awful"}, &status), nullptr);
  EXPECT_THAT(status.message(), HasSubstr("minor, major, critical"));
}

TEST(OutputTest, CsvQuotesPerRfc4180) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
}

TEST(OutputTest, ListPrintsOneRowPerItem) {
  plantmesh::defect::v1::ListDefectsResponse response;
  auto* first = response.add_defects();
  first->set_id("1");
  first->set_vin("VIN,1");
  first->set_severity(plantmesh::defect::v1::SEVERITY_CRITICAL);
  first->mutable_create_time()->set_seconds(1795240800);
  first->mutable_assignment()->set_mechanic_id("M-7");
  response.add_defects()->set_id("2");
  response.set_next_page_token("tok");

  std::ostringstream csv, notes;
  ResponsePrinter(OutputFormat::kCsv, csv, notes).PrintResponse(response);
  std::string text = csv.str();
  EXPECT_THAT(text, HasSubstr("id,vin,model,"));
  EXPECT_THAT(text, HasSubstr("assignment.mechanic_id"));
  EXPECT_THAT(text, HasSubstr("1,\"VIN,1\","));
  EXPECT_THAT(text, HasSubstr("CRITICAL"));
  EXPECT_THAT(text, HasSubstr("2026-11-21T06:00:00.000000Z"));
  EXPECT_THAT(notes.str(), HasSubstr("next_page_token: tok"));

  std::ostringstream wide;
  ResponsePrinter(OutputFormat::kWide, wide, notes).PrintResponse(response);
  EXPECT_THAT(wide.str(), HasSubstr("assignment.mechanic_id"));
  EXPECT_THAT(wide.str(), Not(HasSubstr("model")));  // empty columns are left out

  std::ostringstream json;
  ResponsePrinter(OutputFormat::kJson, json, notes).PrintResponse(response);
  EXPECT_THAT(json.str(), HasSubstr("\"next_page_token\":\"tok\""));
}

// Outside testing: `get-utilization -o csv > util.csv` lost part_count, printed on stderr
// as if it were a paging note. A result beside the list is a column of every row.
TEST(OutputTest, AResultBesideTheListIsAColumnOfEveryRow) {
  plantmesh::telemetry::v1::GetUtilizationResponse response;
  response.add_state_durations()->set_seconds(3600);
  response.add_state_durations()->set_seconds(1800);
  response.set_part_count(42);
  for (OutputFormat format : {OutputFormat::kCsv, OutputFormat::kTable, OutputFormat::kWide}) {
    std::ostringstream out, notes;
    ResponsePrinter(format, out, notes).PrintResponse(response);
    std::vector<std::string> lines =
        absl::StrSplit(out.str(), absl::ByAnyChar("\r\n"), absl::SkipEmpty());
    ASSERT_EQ(lines.size(), 3u) << out.str();
    EXPECT_THAT(lines[0], HasSubstr("part_count"));
    EXPECT_THAT(lines[1], HasSubstr("42"));
    EXPECT_THAT(lines[2], HasSubstr("42"));
    EXPECT_EQ(notes.str(), "");
  }
}

// The words of a table line (cells hold no double spaces here).
std::vector<std::string> Cells(absl::string_view line) {
  std::vector<std::string> cells;
  for (absl::string_view cell : absl::StrSplit(line, "  ", absl::SkipEmpty())) {
    cells.emplace_back(absl::StripAsciiWhitespace(cell));
  }
  return cells;
}

TEST(OutputTest, TableShowsTheResourcesDefaultColumnsAndWideShowsAll) {
  plantmesh::defect::v1::ListDefectsResponse response;
  auto* defect = response.add_defects();
  defect->set_id("1");
  defect->set_vin("WVW1");
  defect->set_zone("PAINT");
  defect->set_model("SEDAN");
  defect->set_category_code("PAINT-SCRATCH");
  defect->set_severity(plantmesh::defect::v1::SEVERITY_MAJOR);
  defect->set_status(plantmesh::defect::v1::DEFECT_STATUS_REPORTED);
  defect->mutable_assignment()->set_mechanic_id("M-7");
  std::ostringstream table, wide, notes;
  ResponsePrinter(OutputFormat::kTable, table, notes).PrintResponse(response);
  std::vector<std::string> lines = absl::StrSplit(table.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << table.str();
  // Always the same header, also for columns empty in this listing (update_time).
  EXPECT_THAT(Cells(lines[0]), ::testing::ElementsAre("id", "status", "zone", "vin",
                                                      "category_code", "severity", "update_time"));
  EXPECT_THAT(Cells(lines[1]),
              ::testing::ElementsAre("1", "REPORTED", "PAINT", "WVW1", "PAINT-SCRATCH", "MAJOR"));

  ResponsePrinter(OutputFormat::kWide, wide, notes).PrintResponse(response);
  lines = absl::StrSplit(wide.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << wide.str();
  EXPECT_THAT(Cells(lines[0]),
              ::testing::ElementsAre("id", "vin", "model", "zone", "category_code", "severity",
                                     "status", "assignment.mechanic_id", "revision"));

  // Outside testing: an empty listing printed no header. Its header is the same one, in
  // both formats; "(none)" goes to the notes.
  for (OutputFormat format : {OutputFormat::kTable, OutputFormat::kWide}) {
    std::ostringstream empty, empty_notes;
    ResponsePrinter(format, empty, empty_notes)
        .PrintResponse(plantmesh::defect::v1::ListDefectsResponse());
    EXPECT_EQ(empty.str(), "id  status  zone  vin  category_code  severity  update_time\n");
    EXPECT_EQ(empty_notes.str(), "(none)\n");
  }

  // A type without a chosen set: its top-level singular fields.
  plantmesh::system::v1::WhoAmIResponse who;
  EXPECT_THAT(DefaultColumnNames(who.GetDescriptor()), ::testing::Contains("identity"));
  EXPECT_THAT(DefaultColumnNames(who.GetDescriptor()), Not(::testing::Contains("roles")));
}

// Outside testing: --output json printed a right-to-left override raw, and the terminal
// showed the model reversed. JSON escapes keep the value exact for a reader.
TEST(OutputTest, JsonShowsInvisibleCharactersAsEscapes) {
  EXPECT_EQ(EscapeInvisibleInJson("{\"model\":\"SEDAN\u202E0.2\u202C M\u00FCller\"}"),
            "{\"model\":\"SEDAN\\u202E0.2\\u202C M\u00FCller\"}");
  EXPECT_EQ(EscapeInvisibleInJson("{\"a\":\"x\u200By\u00A0\U000E0041\"}"),
            R"({"a":"x\u200By\u00A0\uDB40\uDC41"})");
  // Outside testing (sweep 57): a noncharacter was printed raw.
  EXPECT_EQ(EscapeInvisibleInJson("{\"shift\":\"2026-12-07/A\uFFFE\u0378\"}"),
            R"({"shift":"2026-12-07/A\uFFFE\u0378"})");
  plantmesh::defect::v1::GetDefectRequest request;
  request.set_id("1\u202E2");
  std::ostringstream json, notes;
  ResponsePrinter(OutputFormat::kJson, json, notes).PrintResponse(request);
  EXPECT_EQ(json.str(), "{\"id\":\"1\\u202E2\"}\n");
  EXPECT_EQ(nlohmann::json::parse(json.str())["id"], "1\u202E2");  // the value, exact
}

TEST(OutputTest, TableCellsEscapeControlCharacters) {
  EXPECT_EQ(EscapeForTable("two\r\nlines\tand tab"), "two\\r\\nlines\\tand tab");
  constexpr char kControls[] =
      "nul\0bell\x07"
      "del\x7f";
  EXPECT_EQ(EscapeForTable(std::string(kControls, sizeof(kControls) - 1)),
            "nul\\x00bell\\x07del\\x7f");
  EXPECT_EQ(EscapeForTable("next\xc2\x85line"), "next\\xc2\\x85line");  // C1 U+0085
  // Re-test: a right-to-left override reordered the rest of the line ("Bay 1 Bay 2").
  EXPECT_EQ(EscapeForTable("Bay 1 \u202e2 yaB\u202c"), "Bay 1 \\u202e2 yaB\\u202c");
  EXPECT_EQ(EscapeForTable("\u2067x\u2069 \u05e9\u200f"), "\\u2067x\\u2069 \u05e9\u200f");
  EXPECT_EQ(EscapeForTable("ls\xe2\x80\xa8ps"), "ls\\u2028ps");
  EXPECT_EQ(EscapeForTable("bad\xff"), "bad\\xff");  // not UTF-8
  EXPECT_EQ(EscapeForTable("Müller 🚗 日本"), "Müller 🚗 日本");

  plantmesh::defect::v1::ListDefectsResponse response;
  response.add_defects()->set_zone("A\nB");
  response.add_defects()->set_zone("C\r\nD");
  std::ostringstream table, notes;
  ResponsePrinter(OutputFormat::kTable, table, notes).PrintResponse(response);
  std::vector<std::string> lines = absl::StrSplit(table.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << table.str();  // one line per row
  EXPECT_THAT(lines[1], HasSubstr("A\\nB"));
  EXPECT_THAT(lines[2], HasSubstr("C\\r\\nD"));

  plantmesh::system::v1::WhoAmIResponse who;
  who.set_identity("x\ny");
  std::ostringstream key_values;
  ResponsePrinter(OutputFormat::kTable, key_values, notes).PrintResponse(who);
  EXPECT_THAT(key_values.str(), HasSubstr("identity  x\\ny\n"));
}

TEST(OutputTest, DisplayWidthCountsTerminalColumns) {
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("Müller"), 6u);     // 7 bytes
  EXPECT_EQ(DisplayWidth("🚗"), 2u);          // 4 bytes, emoji
  EXPECT_EQ(DisplayWidth("日本"), 4u);       // wide East Asian
  EXPECT_EQ(DisplayWidth("e\xcc\x81"), 1u);  // e + combining acute accent
  EXPECT_EQ(DisplayWidth("Müller 🚗"), 9u);
  EXPECT_EQ(DisplayWidth("\xff"), 1u);
}

TEST(OutputTest, ColumnsAfterWideCharactersStayAligned) {
  plantmesh::defect::v1::ListDefectsResponse response;
  for (const char* zone : {"Müller 🚗", "PAINT", "日本"}) {
    auto* defect = response.add_defects();
    defect->set_zone(zone);
    defect->set_vin("V");
  }
  std::ostringstream table, notes;
  ResponsePrinter(OutputFormat::kTable, table, notes).PrintResponse(response);
  std::vector<std::string> lines = absl::StrSplit(table.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << table.str();
  // The vin column (header "vin", cells "V") starts at the same terminal column.
  const size_t header_at = DisplayWidth(lines[0].substr(0, lines[0].find("vin")));
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(DisplayWidth(lines[i].substr(0, lines[i].rfind('V'))), header_at) << table.str();
  }
}

// Splits RFC 4180 text into records of fields (quoted fields may hold CR, LF, quotes).
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> records(1, std::vector<std::string>(1));
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        records.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        records.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      records.back().emplace_back();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      records.emplace_back(1);
      ++i;
    } else {
      records.back().back() += c;
    }
  }
  if (records.back().size() == 1 && records.back()[0].empty()) records.pop_back();
  return records;
}

// The records after the header, each by column name; a record whose field count is not
// the header's fails the test.
std::vector<std::map<std::string, std::string>> CsvRowsByHeader(const std::string& text) {
  std::vector<std::vector<std::string>> records = ParseCsv(text);
  std::vector<std::map<std::string, std::string>> rows;
  for (size_t r = 1; r < records.size(); ++r) {
    EXPECT_EQ(records[r].size(), records[0].size()) << text;
    rows.emplace_back();
    for (size_t i = 0; i < records[0].size() && i < records[r].size(); ++i) {
      rows.back()[records[0][i]] = records[r][i];
    }
  }
  return rows;
}

TEST(OutputTest, CsvKeepsEveryValueExact) {
  const std::string description = "Kratzer, \"tief\"\r\nzweite Zeile\tMüller 🚗 \\n ";
  plantmesh::defect::v1::ListDefectsResponse response;
  auto* defect = response.add_defects();
  defect->set_id("1");
  defect->set_description(description);
  defect->mutable_verification()->set_accepted(false);
  std::ostringstream csv, notes;
  ResponsePrinter(OutputFormat::kCsv, csv, notes).PrintResponse(response);
  std::vector<std::map<std::string, std::string>> rows = CsvRowsByHeader(csv.str());
  ASSERT_EQ(rows.size(), 1u) << csv.str();
  std::map<std::string, std::string>& row = rows[0];
  EXPECT_EQ(row["description"], description);
  EXPECT_EQ(row["verification.accepted"], "false");
  EXPECT_EQ(row["id"], "1");
}

// Outside testing: `-o table` and `-o csv` of get-plan-vs-actual printed its rows as one
// JSON cell (a response with two lists). The first list is the rows; the other follows.
TEST(OutputTest, AResponseWithSeveralListsPrintsTheFirstAsRows) {
  plantmesh::planning::v1::GetPlanVsActualResponse response;
  for (const char* product : {"BARS", "CAKE"}) {
    auto* row = response.add_rows();
    row->set_line_id("PACK-1");
    row->set_shift_id("2026-12-07/A");
    row->set_product_id(product);
    row->set_planned(3000);
    row->set_actual(1200);
    row->set_attainment_percent(40);
  }
  auto* downtime = response.add_downtimes();
  downtime->set_line_id("PACK-1");
  downtime->set_shift_id("2026-12-07/A");
  downtime->set_downtime_minutes(25);

  std::ostringstream csv, csv_notes;
  ResponsePrinter(OutputFormat::kCsv, csv, csv_notes).PrintResponse(response);
  std::vector<std::map<std::string, std::string>> rows = CsvRowsByHeader(csv.str());
  ASSERT_EQ(rows.size(), 2u) << csv.str();
  EXPECT_EQ(rows[1]["product_id"], "CAKE");
  EXPECT_EQ(rows[1]["attainment_percent"], "40");
  EXPECT_EQ(rows[0].count("downtimes"), 0u);
  EXPECT_EQ(csv_notes.str(),
            "plantctl: downtimes: 1 row not in the CSV, which holds the rows (-o json has every "
            "field)\n");

  std::ostringstream table, table_notes;
  ResponsePrinter(OutputFormat::kTable, table, table_notes).PrintResponse(response);
  const std::vector<std::string> lines = absl::StrSplit(table.str(), '\n');
  ASSERT_GE(lines.size(), 6u) << table.str();
  EXPECT_THAT(lines[0], HasSubstr("product_id"));
  EXPECT_THAT(lines[1], HasSubstr("BARS"));
  EXPECT_THAT(lines[2], HasSubstr("CAKE"));
  EXPECT_EQ(lines[3], "");
  EXPECT_EQ(lines[4], "downtimes:");
  EXPECT_THAT(lines[5], HasSubstr("downtime_minutes"));
  EXPECT_THAT(lines[6], HasSubstr("25"));
  EXPECT_EQ(table_notes.str(), "");
}

// A sample's value is a oneof: the members it does not hold print empty, never as their
// defaults (outside testing: a CSV export showed text, condition and UNAVAILABLE samples
// with number 0, so an UNAVAILABLE load read as a real 0 in a spreadsheet's average).
TEST(OutputTest, OneofMembersNotSetPrintEmptyAndUnavailableHasAColumn) {
  plantmesh::telemetry::v1::QuerySamplesResponse response;
  auto add = [&response](const std::string& data_item) {
    auto* sample = response.add_samples();
    sample->set_machine_id("CNC-07");
    sample->set_data_item_id(data_item);
    sample->mutable_time()->set_seconds(1780000000);
    return sample;
  };
  add("Xload")->set_number(0);
  add("execution")->set_text("ACTIVE");
  auto* servo = add("servo")->mutable_condition();
  servo->set_level(plantmesh::telemetry::v1::CONDITION_LEVEL_FAULT);
  servo->set_native_code("SV0401");
  add("Xload")->mutable_unavailable();

  std::ostringstream csv, notes;
  ResponsePrinter(OutputFormat::kCsv, csv, notes).PrintResponse(response);
  std::vector<std::map<std::string, std::string>> rows = CsvRowsByHeader(csv.str());
  ASSERT_EQ(rows.size(), 4u) << csv.str();
  EXPECT_EQ(rows[0]["number"], "0");  // a real 0
  EXPECT_EQ(rows[0]["text"], "");
  EXPECT_EQ(rows[0]["unavailable"], "");
  EXPECT_EQ(rows[1]["number"], "");
  EXPECT_EQ(rows[1]["text"], "ACTIVE");
  EXPECT_EQ(rows[2]["number"], "");
  EXPECT_EQ(rows[2]["condition.level"], "FAULT");
  EXPECT_EQ(rows[2]["condition.native_code"], "SV0401");
  EXPECT_EQ(rows[3]["number"], "");
  EXPECT_EQ(rows[3]["condition.level"], "");
  EXPECT_EQ(rows[3]["unavailable"], "true");

  std::ostringstream table;
  ResponsePrinter(OutputFormat::kTable, table, notes).PrintResponse(response);
  std::vector<std::string> lines = absl::StrSplit(table.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u) << table.str();
  EXPECT_THAT(Cells(lines[0]),
              ::testing::ElementsAre("machine_id", "data_item_id", "time", "number", "text",
                                     "condition.level", "condition.native_code", "unavailable"));
  EXPECT_THAT(Cells(lines[4]),
              ::testing::ElementsAre("CNC-07", "Xload", "2026-05-28T20:26:40.000000Z", "true"));
}

TEST(OutputTest, JsonPrintsEveryFieldWithItsDefault) {
  plantmesh::defect::v1::VerifyRepairResponse response;
  auto* defect = response.mutable_defect();
  defect->set_id("7");
  defect->mutable_verification()->set_accepted(false);
  defect->mutable_verification()->set_rejection_reason("paint runs");
  std::string json = ToJson(response);
  EXPECT_THAT(json, HasSubstr("\"accepted\":false"));
  EXPECT_THAT(json, HasSubstr("\"description\":\"\""));
  EXPECT_THAT(json, HasSubstr("\"revision\":\"0\""));  // int64: a string
  EXPECT_THAT(json, HasSubstr("\"severity\":\"SEVERITY_UNSPECIFIED\""));

  // Fields the caller leaves out (e.g. a --all listing's next_page_token) are absent.
  plantmesh::defect::v1::ListDefectsResponse page;
  page.add_defects()->set_id("1");
  std::ostringstream out, notes;
  ResponsePrinter printer(OutputFormat::kJson, out, notes);
  printer.PrintResponse(page, {page.GetDescriptor()->FindFieldByName("next_page_token")});
  EXPECT_THAT(out.str(), Not(HasSubstr("next_page_token")));
  EXPECT_THAT(out.str(), HasSubstr("\"watch_cursor\":\"\""));
}

// Outside testing: JSON (-o json, and the JSON cells of csv and table) had 17 digits
// where 16 read back the same: a plan-vs-actual CSV showed 66.666666666666671 %.
TEST(OutputTest, JsonNumbersHaveTheFewestDigitsThatReadBack) {
  plantmesh::telemetry::v1::Sample sample;
  sample.set_machine_id("CNC-07");
  sample.set_number(200.0 / 3);
  const std::string json = ToJson(sample);
  EXPECT_THAT(json, HasSubstr("\"number\":66.66666666666667"));
  EXPECT_THAT(json, HasSubstr("\"machine_id\":\"CNC-07\""));
  EXPECT_EQ(json.find("\"machine_id\""), 1u);  // the contract's order is kept
  sample.set_number(0.1);
  EXPECT_THAT(ToJson(sample), HasSubstr("\"number\":0.1"));
  sample.set_number(1e300);
  EXPECT_THAT(ToJson(sample), HasSubstr("\"number\":1e+300"));
}

TEST(OutputTest, SingleMessagePrintsKeyValues) {
  plantmesh::system::v1::WhoAmIResponse response;
  response.set_identity("spiffe://plantmesh.local/user/anna");
  response.add_roles("foreman");
  response.add_roles("admin");
  std::ostringstream out, notes;
  ResponsePrinter(OutputFormat::kTable, out, notes).PrintResponse(response);
  EXPECT_THAT(out.str(), HasSubstr("identity  spiffe://plantmesh.local/user/anna"));
  EXPECT_THAT(out.str(), HasSubstr("roles     foreman,admin"));
}

TEST(SuggestionsTest, EditDistanceAndClosestNames) {
  EXPECT_EQ(common::EditDistance("defekt", "defect"), 1u);
  EXPECT_EQ(common::EditDistance("", "abc"), 3u);
  EXPECT_EQ(common::EditDistance("kitten", "sitting"), 3u);
  const std::vector<std::string> methods = {"create-defect", "get-defect", "list-defects",
                                            "update-defect", "list-crews"};
  EXPECT_THAT(ClosestNames("get-defekt", methods), ::testing::ElementsAre("get-defect"));
  EXPECT_THAT(ClosestNames("CreateDefect", methods), ::testing::ElementsAre("create-defect"));
  EXPECT_THAT(ClosestNames("list", methods), ::testing::ElementsAre("list-defects", "list-crews"));
  EXPECT_TRUE(ClosestNames("nosuch", methods).empty());
  EXPECT_TRUE(ClosestNames("x", {"ca", "id"}).empty());  // re-test: `-x` suggested --ca
  EXPECT_THAT(ClosestNames("iid", {"ca", "id"}), ::testing::ElementsAre("id"));
}

TEST_F(CommandsTest, UnknownServiceOrMethodNamesTheClosestCommand) {
  EXPECT_EQ(UnknownCommandMessage(app_, {"defect", "nosuch"}),
            "plantctl: unknown command \"nosuch\" for \"plantctl defect\"\n"
            "Run 'plantctl defect --help' for its commands.\n");
  EXPECT_THAT(UnknownCommandMessage(app_, {"defect", "get-defekt", "--id", "3"}),
              HasSubstr("unknown command \"get-defekt\" for \"plantctl defect\"; did you "
                        "mean \"get-defect\"?"));
  EXPECT_THAT(UnknownCommandMessage(app_, {"defekt", "list-defects"}),
              HasSubstr("unknown command \"defekt\" for \"plantctl\"; did you mean \"defect\"?"));
  // Options and their values before the words are skipped.
  app_.add_option("--endpoint");
  app_.add_flag("--insecure");
  EXPECT_THAT(UnknownCommandMessage(app_, {"--endpoint", "h:1", "--insecure", "sytem", "who-am-i"}),
              HasSubstr("did you mean \"system\"?"));
  EXPECT_EQ(UnknownCommandMessage(app_, {"--endpoint=h:1", "system", "who-am-i"}), "");
  EXPECT_EQ(UnknownCommandMessage(app_, {"defect", "get-defect", "--id", "nosuch"}), "");
  // Outside testing: "--idd 1" was told "The following arguments were not expected: 1
  // --idd" (CLI11's words, in reverse), with no suggestion.
  EXPECT_EQ(UnknownCommandMessage(app_, {"defect", "get-defect", "--idd", "1"}),
            "plantctl: unknown flag \"--idd\" for \"plantctl defect get-defect\"; did you mean "
            "\"--id\"?\nRun 'plantctl defect get-defect --help' for its flags.\n");
  EXPECT_THAT(UnknownCommandMessage(app_, {"defect", "get-defect", "--idd=1"}),
              HasSubstr("unknown flag \"--idd\""));
  // Outside testing: a second value after a repeated flag was CLI11's bare "The following
  // argument was not expected: CNC-08", naming neither flag nor command.
  EXPECT_EQ(UnknownCommandMessage(
                app_, {"telemetry", "get-latest-values", "--machine_ids", "CNC-07", "CNC-08"}),
            "plantctl: unexpected value \"CNC-08\" for \"plantctl telemetry get-latest-values\" "
            "after --machine_ids CNC-07: give each value its own flag (--machine_ids CNC-07 "
            "--machine_ids CNC-08)\nRun 'plantctl telemetry get-latest-values --help' for its "
            "flags.\n");
  EXPECT_THAT(UnknownCommandMessage(
                  app_, {"defect", "update-defect", "--defect.description=Kratzer", "tief"}),
              HasSubstr("after --defect.description Kratzer: a value with spaces goes in quotes "
                        "(--defect.description \"Kratzer tief\")"));
  EXPECT_THAT(UnknownCommandMessage(app_, {"system", "who-am-i", "me"}),
              HasSubstr("unexpected value \"me\" for \"plantctl system who-am-i\": it takes its "
                        "values as flags"));
  EXPECT_THAT(
      UnknownCommandMessage(app_, {"--endpont", "h:1", "system", "who-am-i"}),
      HasSubstr("unknown flag \"--endpont\" for \"plantctl\"; did you mean \"--endpoint\"?"));
  // A negative number is a value, not a flag.
  EXPECT_EQ(UnknownCommandMessage(app_, {"defect", "get-defect", "--id", "-3"}), "");
}

// Outside testing (BJ L2): a flag given twice and a value outside a set were told in the
// parser's words ("--id: At Most 1 required but received 2"), without "plantctl:" or the
// command whose help says more.
TEST_F(CommandsTest, TheParsersOtherUsageErrorsAreToldInPlantctlsWords) {
  std::string output = "json";
  app_.add_option("--output,-o", output)->check(CLI::IsMember({"table", "wide", "json", "csv"}));
  const auto message = [&](std::vector<std::string> args) {
    const std::vector<std::string> given = args;
    std::reverse(args.begin(), args.end());
    try {
      app_.parse(args);
    } catch (const CLI::ParseError& error) {
      return ParseErrorMessage(app_, given, error);
    }
    return std::string("(parsed)");
  };
  EXPECT_EQ(message({"defect", "get-defect", "--id", "3", "--id", "4"}),
            "plantctl: flag --id is given 2 times: give it once (plantctl defect get-defect)\n"
            "Run 'plantctl defect get-defect --help' for its flags.\n");
  EXPECT_EQ(message({"-o", "yaml", "defect", "get-defect", "--id", "3"}),
            "plantctl: --output: \"yaml\" is not one of table, wide, json, csv (plantctl defect "
            "get-defect)\nRun 'plantctl defect get-defect --help' for its flags.\n");
  // Re-test (BK): the short flag with its value attached was called an unknown flag.
  EXPECT_EQ(UnknownCommandMessage(app_, {"-oyaml", "defect", "get-defect", "--id", "3"}), "");
  EXPECT_THAT(message({"-oyaml", "defect", "get-defect", "--id", "3"}),
              HasSubstr("plantctl: --output: \"yaml\" is not one of table"));
  EXPECT_EQ(message({"-ojson", "defect", "get-defect", "--id", "3"}), "(parsed)");
  // Re-test (BK): a flag that ends the command line, in the parser's words.
  EXPECT_EQ(message({"defect", "get-defect", "--id"}),
            "plantctl: flag --id needs a value, and nothing follows it (plantctl defect "
            "get-defect)\nRun 'plantctl defect get-defect --help' for its flags.\n");
}

// Outside testing: `list-defects --shift $SHIFT --watch` with SHIFT empty listed shift
// "--watch", found nothing and exited 0 without watching; `--shift --all` likewise.
TEST_F(CommandsTest, AFlagWithoutItsValueIsNotGivenTheNextFlag) {
  EXPECT_EQ(FlagWithoutValueMessage(app_, {"defect", "list-defects", "--shift", "--all"}),
            "plantctl: flag --shift needs a value, and \"--all\" after it is a flag of "
            "\"plantctl defect list-defects\": give the value (--shift VALUE), or write "
            "--shift=--all if that is the value\nRun 'plantctl defect list-defects --help' for "
            "its flags.\n");
  EXPECT_THAT(FlagWithoutValueMessage(app_, {"defect", "cancel-defect", "--id", "--reason", "x"}),
              HasSubstr("flag --id needs a value, and \"--reason\" after it is a flag"));
  EXPECT_THAT(FlagWithoutValueMessage(app_, {"defect", "list-defects", "--shift", "--page_size=5"}),
              HasSubstr("flag --shift needs a value"));
  // Re-test: a global flag before the service and method ("unknown command list-defects").
  app_.add_option("--timeout");
  EXPECT_THAT(FlagWithoutValueMessage(app_, {"--timeout", "defect", "list-defects"}),
              HasSubstr("flag --timeout needs a value, and \"defect\" after it is a command of "
                        "\"plantctl\""));
  EXPECT_EQ(FlagWithoutValueMessage(app_, {"--timeout", "5", "defect", "list-defects"}), "");
  // A value, written with =, a negative number, or text that names no flag, is a value; the
  // other slips are left to the parse (and UnknownCommandMessage after it).
  for (const std::vector<std::string>& fine :
       {std::vector<std::string>{"defect", "list-defects", "--shift=--all"},
        {"defect", "get-defect", "--id", "-3"},
        {"defect", "list-defects", "--shift", "-", "--all"},
        {"defect", "list-defects", "--shift", "--not-a-flag"},
        {"defect", "get-defect", "--idd", "1"},
        {"defekt", "list-defects"}}) {
    EXPECT_EQ(FlagWithoutValueMessage(app_, fine), "") << absl::StrJoin(fine, " ");
  }
}

// Outside testing: `plantctl --output= defect list-defects` was told "defect" is not an
// output format: CLI11 takes the word after `--name=` as the value. It is the empty value.
TEST_F(CommandsTest, AnEmptyValueAfterTheEqualsSignIsEmpty) {
  EXPECT_EQ(EmptyValuesSeparated(app_, {"defect", "list-defects", "--shift=", "--zone", "BODY"}),
            (std::vector<std::string>{"defect", "list-defects", "--shift", "", "--zone", "BODY"}));
  auto request =
      Build(EmptyValuesSeparated(app_, {"defect", "list-defects", "--shift=", "--zone", "BODY"}));
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(As<plantmesh::defect::v1::ListDefectsRequest>(*request).zone(), "BODY");
  EXPECT_EQ(As<plantmesh::defect::v1::ListDefectsRequest>(*request).shift(), "");
  // A flag of no value, a value after '=' and everything after "--" are left as they are.
  for (const std::vector<std::string>& kept :
       {std::vector<std::string>{"defect", "list-defects", "--all=", "--shift=A"},
        {"defect", "list-defects", "--", "--shift="}}) {
    EXPECT_EQ(EmptyValuesSeparated(app_, kept), kept) << absl::StrJoin(kept, " ");
  }
}

// Outside testing (sweep 60): `--create_drafts=` with an unset variable wrote drafts (CLI11
// reads `--flag=` as given), `--insecure=0x1` was false and "garbage" "Could not convert";
// `--service-endpoint= -o json` took "-o" as the endpoint (a flag that may repeat).
TEST_F(CommandsTest, AFlagsValueIsABooleanAndNeverEmpty) {
  EXPECT_EQ(FlagWithoutValueMessage(app_, {"defect", "list-defects", "--all="}),
            "plantctl: flag --all= has an empty value: write --all (or --all=true), --all=false, "
            "or leave it out\nRun 'plantctl defect list-defects --help' for its flags.\n");
  EXPECT_EQ(FlagWithoutValueMessage(app_, {"defect", "list-defects", "--all=false"}), "");
  CLI::Validator boolean = BooleanFlagValue();
  for (std::string good : {"true", "false", "1", "0", "YES", "off"}) EXPECT_EQ(boolean(good), "");
  for (std::string bad : {"garbage", "0x1", "-1", "2", ""}) {
    EXPECT_EQ(boolean(bad), absl::StrCat("\"", bad, "\" is not a boolean (true or false)"));
  }
  CLI::App app{"plantctl"};
  std::vector<std::string> endpoints;
  app.add_option("--service-endpoint", endpoints)->allow_extra_args(false);
  app.add_option("--output,-o");
  app.add_subcommand("system")->add_subcommand("who-am-i");
  EXPECT_EQ(
      EmptyValuesSeparated(app, {"--service-endpoint=", "-o", "json", "system", "who-am-i"}),
      (std::vector<std::string>{"--service-endpoint", "", "-o", "json", "system", "who-am-i"}));
  // Re-test (sweep 61): after the same flag with its value as the next word.
  EXPECT_EQ(EmptyValuesSeparated(app, {"--service-endpoint", "defect=h:1",
                                       "--service-endpoint=", "system", "who-am-i"}),
            (std::vector<std::string>{"--service-endpoint", "defect=h:1", "--service-endpoint", "",
                                      "system", "who-am-i"}));
  // Re-test (sweep 63): an on/off flag given twice took the last one.
  CLI::App twice{"plantctl"};
  twice.add_flag("--insecure");
  CheckBooleanFlagValues(&twice);
  EXPECT_THROW(twice.parse(std::vector<std::string>{"--insecure", "--insecure"}),
               CLI::ArgumentMismatch);
}

// Outside testing: the commands that take a file (telemetry ingest, planning import-demand)
// answered a mistyped flag after the file with CLI11's bare "The following arguments were
// not expected: x --import_id", where every other command suggests the flag.
TEST(SuggestionsTest, AFlagAfterAFileIsCheckedToo) {
  CLI::App app{"plantctl"};
  CLI::App* ingest = app.add_subcommand("telemetry")->add_subcommand("ingest");
  std::string file, import_id;
  ingest->add_option("file", file);
  ingest->add_option("--import-id", import_id);
  EXPECT_EQ(UnknownCommandMessage(app, {"telemetry", "ingest", "f.csv", "--import_id", "x"}),
            "plantctl: unknown flag \"--import_id\" for \"plantctl telemetry ingest\"; did you "
            "mean \"--import-id\"?\nRun 'plantctl telemetry ingest --help' for its flags.\n");
  EXPECT_EQ(UnknownCommandMessage(app, {"telemetry", "ingest", "f.csv", "--import-id", "x"}), "");
}

TEST_F(CommandsTest, RerunHintNamesTheRequestIdFlagOfMutatingCallsThatMaySucceedOnARerun) {
  auto create =
      Build({"defect", "create-defect", "--defect.vin", "V1", "--defect.model", "M",
             "--defect.zone", "PAINT", "--defect.station", "P-07", "--defect.category_code",
             "PAINT-SCRATCH", "--defect.shift", "2026-11-30/A", "--request_id", "r-42"});
  ASSERT_NE(create, nullptr);
  const std::string hint = RerunHint(*catalog_->Find("defect", "create-defect"), *create,
                                     absl::DeadlineExceededError("deadline"));
  EXPECT_THAT(hint, HasSubstr("may have been made"));
  EXPECT_THAT(hint, HasSubstr("\n  --request_id r-42\n"));
  EXPECT_EQ(RerunHint(*catalog_->Find("defect", "create-defect"), *create, absl::OkStatus()), "");
  // Not made, and may be made by the same request later.
  EXPECT_THAT(RerunHint(*catalog_->Find("defect", "create-defect"), *create,
                        absl::ResourceExhaustedError("busy")),
              HasSubstr("\n  --request_id r-42\n"));
  // Refused for what it asks: rerunning it would be refused again.
  EXPECT_EQ(RerunHint(*catalog_->Find("defect", "create-defect"), *create,
                      absl::InvalidArgumentError("defect.vin: required")),
            "");
  EXPECT_EQ(RerunHint(*catalog_->Find("defect", "create-defect"), *create,
                      absl::PermissionDeniedError("role")),
            "");
  EXPECT_EQ(RerunHint(*catalog_->Find("defect", "create-defect"), *create,
                      absl::AbortedError("defect 7 changed since etag 'v1'")),
            "");
  // Never sent: the SDK's channel never connected (a mistyped port).
  plantmesh::api::v1::ErrorInfo never_connected;
  never_connected.set_reason(sdk::kNotConnectedReason);
  absl::Status unsent = absl::UnavailableError("no connection to 127.0.0.1:1 was made");
  unsent.SetPayload("type.googleapis.com/google.rpc.ErrorInfo",
                    absl::Cord(never_connected.SerializeAsString()));
  EXPECT_EQ(RerunHint(*catalog_->Find("defect", "create-defect"), *create, unsent), "");

  auto upload = Build({"defect", "upload-defect-photo", "--metadata.defect_id", "7",
                       "--metadata.content_type", "image/jpeg", "--metadata.size_bytes", "3",
                       "--metadata.sha256", std::string(64, 'a'), "--metadata.request_id", "u-1"});
  ASSERT_NE(upload, nullptr);
  EXPECT_THAT(RerunHint(*catalog_->Find("defect", "upload-defect-photo"), *upload,
                        absl::UnavailableError("down")),
              HasSubstr("--metadata.request_id u-1"));

  auto get = Build({"defect", "get-defect", "--id", "7"});
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(
      RerunHint(*catalog_->Find("defect", "get-defect"), *get, absl::UnavailableError("down")), "");
}

TEST(ConnectionFlagsTest, MissingSettingsAreNamedAsFlags) {
  ConnectionSettings nothing;
  nothing.config_file = "/home/u/.config/plantmesh/plantctl.toml";
  absl::Status status = CheckConnectionSettings(nothing);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  for (const char* words : {"--endpoint", "--ca", "--cert", "--key", "config init",
                            "PLANTCTL_CONFIG", "/home/u/.config/plantmesh/plantctl.toml"}) {
    EXPECT_THAT(status.message(), HasSubstr(words));
  }
  for (const char* sdk_name : {"ca_file", "cert_file", "key_file", "ClientOptions"}) {
    EXPECT_THAT(status.message(), Not(HasSubstr(sdk_name)));
  }
  ConnectionSettings partial = nothing;
  partial.options.ca_file = "/ca.crt";
  EXPECT_THAT(CheckConnectionSettings(partial).message(), HasSubstr("missing --cert, --key"));
  partial.options.insecure = true;
  EXPECT_TRUE(CheckConnectionSettings(partial).ok());

  absl::Status sdk = absl::InvalidArgumentError(
      "invalid client options: ca_file: cannot read \"/x\"; key_file: \"/k\" is not the key of "
      "the certificate in cert_file \"/c\"");
  EXPECT_EQ(InFlagTerms(sdk).message(),
            "connection settings: --ca: cannot read \"/x\"; --key: \"/k\" is not the key of the "
            "certificate in --cert \"/c\"");
  // Re-test: the SDK's TLS hint named its option server_name; plantctl's key is server-name.
  absl::Status tls = absl::UnauthenticatedError(
      "TLS handshake failed: connect by a name or address the certificate carries, or set "
      "server_name to one");
  tls.SetPayload("type.googleapis.com/x", absl::Cord("kept"));
  const absl::Status told = InFlagTerms(tls);
  EXPECT_EQ(told.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(told.message()),
              HasSubstr("or set --server-name (config: server-name) to one"));
  EXPECT_TRUE(told.GetPayload("type.googleapis.com/x").has_value());
}

TEST(ConnectionFlagsTest, ConfigFileThenEnvironmentThenFlags) {
  const ScratchDir scratch("plantctl-config");
  const std::string& dir = scratch.path();
  const std::string file = dir + "/plantctl.toml";
  std::ofstream(file) << "endpoint = \"10.0.0.1:7443\"\nca = \"/f/ca.crt\"\ncert = \"/f/a.crt\"\n"
                         "key = \"/f/a.key\"\ntimeout = 3\n";
  setenv("PLANTMESH_CERT", "/env/a.crt", 1);
  setenv("PLANTMESH_KEY", "/env/a.key", 1);
  ConnectionSettings settings;
  absl::Status loaded = LoadDefaults(file, /*explicit_file=*/true, &settings);
  unsetenv("PLANTMESH_CERT");
  unsetenv("PLANTMESH_KEY");
  ASSERT_TRUE(loaded.ok()) << loaded;
  CLI::App app;
  AddConnectionFlags(&app, &settings);
  app.parse(std::vector<std::string>{"/flag/a.key", "--key"});
  EXPECT_EQ(settings.options.endpoint, "10.0.0.1:7443");  // file
  EXPECT_EQ(settings.options.ca_file, "/f/ca.crt");       // file
  EXPECT_EQ(settings.options.cert_file, "/env/a.crt");    // environment over file
  EXPECT_EQ(settings.options.key_file, "/flag/a.key");    // flag over environment
  EXPECT_EQ(settings.timeout_seconds, 3);

  ConnectionSettings missing;
  EXPECT_TRUE(LoadDefaults(dir + "/none.toml", /*explicit_file=*/false, &missing).ok());
  EXPECT_FALSE(missing.config_missing);
  EXPECT_TRUE(LoadDefaults(dir + "/none.toml", /*explicit_file=*/true, &missing).ok());
  EXPECT_TRUE(missing.config_missing);

  const std::string written = dir + "/written.toml";
  ASSERT_TRUE(WriteConfigFile(settings, written, /*overwrite=*/false).ok());
  EXPECT_EQ(WriteConfigFile(settings, written, /*overwrite=*/false).code(),
            absl::StatusCode::kAlreadyExists);
  ConnectionSettings reread;
  ASSERT_TRUE(LoadDefaults(written, /*explicit_file=*/true, &reread).ok());
  EXPECT_EQ(reread.options.key_file, "/flag/a.key");
  EXPECT_EQ(reread.options.endpoint, "10.0.0.1:7443");

  // Outside testing: a `#` inside quotes cut the path, and the escapes `config init`
  // writes for a backslash or a quote were read back literally.
  settings.options.ca_file = "/f/ha#sh/back\\slash \"quoted\"/tab\there/ca.crt";
  ASSERT_TRUE(WriteConfigFile(settings, dir + "/escaped.toml", /*overwrite=*/false).ok());
  ConnectionSettings escaped;
  ASSERT_TRUE(LoadDefaults(dir + "/escaped.toml", /*explicit_file=*/true, &escaped).ok());
  EXPECT_EQ(escaped.options.ca_file, settings.options.ca_file);
}

// Outside testing: "endpoint = " and a line "[[[" were ignored, and plantctl then said the
// settings were missing; every line the file has is a setting it takes, or an error.
TEST(ConnectionFlagsTest, AConfigFileThatCannotBeReadWhollyIsNamedWithItsFault) {
  const ScratchDir scratch("plantctl-config");
  const std::string& dir = scratch.path();
  const std::string file = dir + "/plantctl.toml";
  for (const auto& [text, fault] : std::vector<std::pair<std::string, std::string>>{
           {"endpoint = \n", ", line 1 column"},
           {"[[[\nendpoint = \"127.0.0.1:7443\"\n", ", line 1 column"},
           {"endpont = \"127.0.0.1:7443\"\n", ", line 1: unknown key \"endpont\""},
           {"[endpoint]\ndefect = \"127.0.0.1:7443\"\n", ", line 2: unknown table [endpoint]"},
           {"[endpoints]\ndefect = \n", ", line 2 column"},
           {"endpoint = \"\"\n", ", line 1: \"endpoint\" has no value"},
           // Outside testing: a key given twice was taken, the last one winning.
           {"endpoint = \"a:1\"\nendpoint = \"b:2\"\n", ", line 2 column"},
           {"endpoint = [\"a:1\"]\n", ", line 1: \"endpoint\" takes one value, not an array"},
           // As TOML wrote it, as the server reads its file (outside testing, Y M4).
           {"insecure = \"true\"\n",
            ", line 1: \"insecure\" takes a boolean (true or false), not a string (true)"},
           {"timeout = \"5\"\n", ", line 1: \"timeout\" takes a number of seconds, not a string"},
           {"ca = 5\n", ", line 1: \"ca\" takes a string in quotes, not an integer (5)"},
           // Re-test: a misspelt key with a value that is not a string was told to quote it.
           {"insecur = true\n", ", line 1: unknown key \"insecur\""},
           {"tiemout = 5\n", ", line 1: unknown key \"tiemout\""},
           {"tiemout = {a = 1}\n", ", line 1: unknown key \"tiemout\""},
           {"timeout = {a = 1}\n", ", line 1: \"timeout\" takes a number of seconds, not a table"},
           {"ca = \"/f/ca.crt\"\ntimeout = [6]\n",
            ", line 2: \"timeout\" takes one value, not an array"},
           {"timeout = 0\n", ", line 1: timeout \"0\" is not a positive decimal number of seconds"},
           {"[endpoints]\ndefect = true\n",
            ", line 2: \"defect\" takes a string in quotes, not a boolean"},
       }) {
    std::ofstream(file) << text;
    ConnectionSettings settings;
    absl::Status loaded = LoadDefaults(file, /*explicit_file=*/true, &settings);
    EXPECT_EQ(loaded.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(loaded.message()), HasSubstr(file + fault)) << text;
  }
  // Outside testing: a directory given as the config file read as an empty one ("missing
  // --ca, --cert, --key"), and `config init` onto it said "exists; pass --force".
  ConnectionSettings settings;
  absl::Status loaded = LoadDefaults(dir, /*explicit_file=*/true, &settings);
  EXPECT_EQ(loaded.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loaded.message(), "cannot read " + dir + ": it is a directory");
  absl::Status written = WriteConfigFile(settings, dir, /*overwrite=*/true);
  EXPECT_THAT(std::string(written.message()), HasSubstr(dir + " is a directory"));
  EXPECT_EQ(OpenInputFile(dir + "/none.csv").status().message(),
            "cannot read " + dir + "/none.csv: No such file or directory");
  // Re-test: `--from-file -` (read as /dev/stdin) was reported under that path.
  EXPECT_EQ(InputName("/dev/stdin"), "standard input");
  EXPECT_EQ(InputName("a.png"), "a.png");
}

// Outside testing: a --metadata.sha256 that is not the --from-file's was found before
// any call and exited 13, as if the server had refused it.
TEST(ExitCodesTest, InputThatDisagreesWithItselfIsAUsageError) {
  EXPECT_EQ(ExitCodeFor(UsageFailure("--metadata.sha256 x is not the SHA-256 of a.png")),
            kExitUsage);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("the server's refusal")), 13);
  EXPECT_EQ(ExitCodeFor(LocalFailure("cannot read a.png")), kExitLocalFailure);
}

// Outside testing: `download-defect-photo --to-file /dev/null` (as root) renamed a
// regular file over the device; a FIFO and a symbolic link were replaced too.
TEST(WriteTargetTest, OnlyRegularFilesAreReplaced) {
  const ScratchDir scratch("plantctl-target");
  const std::string& dir = scratch.path();
  absl::StatusOr<pki::WriteTarget> none = pki::ResolveWriteTarget(dir + "/new.png");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->kind, pki::WriteTarget::kReplace);
  EXPECT_EQ(none->path, dir + "/new.png");
  absl::StatusOr<pki::WriteTarget> device = pki::ResolveWriteTarget("/dev/null");
  ASSERT_TRUE(device.ok());
  EXPECT_EQ(device->kind, pki::WriteTarget::kWriteThrough);
  ASSERT_EQ(mkfifo((dir + "/pipe").c_str(), 0600), 0);
  EXPECT_EQ(pki::ResolveWriteTarget(dir + "/pipe")->kind, pki::WriteTarget::kWriteThrough);
  // A link keeps pointing where it did: the file it points to is what is replaced.
  std::ofstream(dir + "/target.png") << "old";
  std::filesystem::create_symlink("target.png", dir + "/link.png");
  absl::StatusOr<pki::WriteTarget> link = pki::ResolveWriteTarget(dir + "/link.png");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->kind, pki::WriteTarget::kReplace);
  EXPECT_EQ(std::filesystem::canonical(link->path),
            std::filesystem::canonical(dir + "/target.png"));
  // A chain of links ending at a name not there yet: the file is created there, the links
  // stay (outside testing: the first link was replaced); a loop is refused.
  std::filesystem::create_symlink("second.png", dir + "/first.png");
  std::filesystem::create_symlink("missing.png", dir + "/second.png");
  ASSERT_TRUE(pki::WriteFileAtomically(dir + "/first.png", "chained", 0644).ok());
  EXPECT_TRUE(std::filesystem::is_symlink(dir + "/first.png"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir + "/second.png"));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir + "/missing.png"));
  std::filesystem::create_symlink("loop-b", dir + "/loop-a");
  std::filesystem::create_symlink("loop-a", dir + "/loop-b");
  EXPECT_THAT(std::string(pki::ResolveWriteTarget(dir + "/loop-a").status().message()),
              HasSubstr("too many levels of symbolic links"));
  ASSERT_TRUE(pki::WriteFileAtomically(dir + "/link.png", "new", 0644).ok());
  EXPECT_TRUE(std::filesystem::is_symlink(dir + "/link.png"));
  std::ifstream target(dir + "/target.png");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(target), {}), "new");
  // What a certificate, key or configuration is written to must be a regular file.
  absl::Status onto_device = pki::WriteFileAtomically("/dev/null", "x", 0644);
  EXPECT_EQ(onto_device.code(), absl::StatusCode::kFailedPrecondition);
  struct stat null_status {};
  ASSERT_EQ(stat("/dev/null", &null_status), 0);
  EXPECT_TRUE(S_ISCHR(null_status.st_mode));
  EXPECT_EQ(pki::ResolveWriteTarget(dir).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A --to-file download replaced "<name>.part" with its partial bytes (a file of that name
// was lost; two downloads to one path wrote into each other) and left the file replaced
// 0644 whatever it was. Now: a temporary file of its own, the old mode kept (as `>`).
TEST(AtomicFileWriterTest, ATemporaryFileOfItsOwnAndTheModeOfTheFileReplaced) {
  const ScratchDir scratch("plantctl-atomic");
  const std::string& dir = scratch.path();
  std::ofstream(dir + "/photo.png.part") << "mine";
  std::ofstream(dir + "/photo.png") << "old";
  ASSERT_EQ(chmod((dir + "/photo.png").c_str(), 0640), 0);
  const pki::WriteTarget target{pki::WriteTarget::kReplace, dir + "/photo.png"};
  absl::StatusOr<pki::AtomicFileWriter> first = pki::AtomicFileWriter::Create(target, std::nullopt);
  absl::StatusOr<pki::AtomicFileWriter> second =
      pki::AtomicFileWriter::Create(target, std::nullopt);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(first->Write("new ").ok());
  ASSERT_TRUE(second->Write("other").ok());
  ASSERT_TRUE(first->Write("bytes").ok());
  ASSERT_TRUE(first->Commit().ok());
  second->Discard();
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(read(dir + "/photo.png"), "new bytes");
  EXPECT_EQ(read(dir + "/photo.png.part"), "mine");
  struct stat replaced {};
  ASSERT_EQ(stat((dir + "/photo.png").c_str(), &replaced), 0);
  EXPECT_EQ(replaced.st_mode & 07777, 0640u);
  // Nothing else is left beside them; a new file takes 0666 less the umask.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 2);
  const mode_t umask_bits = umask(027);
  {
    absl::StatusOr<pki::AtomicFileWriter> fresh = pki::AtomicFileWriter::Create(
        pki::WriteTarget{pki::WriteTarget::kReplace, dir + "/new.png"}, std::nullopt);
    ASSERT_TRUE(fresh.ok());
    ASSERT_TRUE(fresh->Commit().ok());
  }
  umask(umask_bits);
  struct stat created {};
  ASSERT_EQ(stat((dir + "/new.png").c_str(), &created), 0);
  EXPECT_EQ(created.st_mode & 07777, 0640u);
  // Dropped uncommitted: the target stays as it was.
  {
    absl::StatusOr<pki::AtomicFileWriter> dropped = pki::AtomicFileWriter::Create(target, 0600);
    ASSERT_TRUE(dropped.ok());
    ASSERT_TRUE(dropped->Write("never").ok());
  }
  EXPECT_EQ(read(dir + "/photo.png"), "new bytes");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 3);
}

// Outside testing: a named pipe given as a photo or ingest file hung plantctl (its second
// opening waited for a writer for ever), and `<(cat file)` read as empty the second
// time. Every opening reads the one copy.
TEST(InputFileTest, APipeIsReadOnceAndEveryOpeningReadsItsBytes) {
  const ScratchDir scratch("plantctl-pipe");
  const std::string& dir = scratch.path();
  const std::string pipe = dir + "/samples.csv";
  ASSERT_EQ(mkfifo(pipe.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(pipe) << "machine_id,data_item_id\nCNC-07,temp\n"; });
  for (int opening = 0; opening < 2; ++opening) {
    absl::StatusOr<std::unique_ptr<std::ifstream>> file = OpenInputFile(pipe);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(**file), {}),
              "machine_id,data_item_id\nCNC-07,temp\n")
        << "opening " << opening;
  }
  writer.join();
}

// Outside testing: a config file saved with a byte order mark was refused as
// `unknown key "<BOM>endpoint"`.
TEST(ConnectionFlagsTest, AConfigFileWithAByteOrderMarkIsRead) {
  const ScratchDir scratch("plantctl-bom");
  const std::string& dir = scratch.path();
  const std::string file = dir + "/plantctl.toml";
  std::ofstream(file) << "\xEF\xBB\xBF"
                         "endpoint = \"127.0.0.1:7443\"\r\nca = \"/f/ca.crt\"\r\n";
  ConnectionSettings settings;
  absl::Status loaded = LoadDefaults(file, /*explicit_file=*/true, &settings);
  ASSERT_TRUE(loaded.ok()) << loaded;
  EXPECT_EQ(settings.options.endpoint, "127.0.0.1:7443");
  EXPECT_EQ(settings.options.ca_file, "/f/ca.crt");
  // Saved as UTF-16 (Notepad's "Unicode"): said so, not `unknown key "\xff\xfe"`.
  std::ofstream(file) << std::string(
      "\xFF\xFE"
      "e\0n\0",
      6);
  loaded = LoadDefaults(file, /*explicit_file=*/true, &settings);
  EXPECT_THAT(std::string(loaded.message()), HasSubstr("the file is UTF-16"));
}

TEST(ConnectionFlagsTest, ServiceEndpointsFromTheFileThenTheFlags) {
  const ScratchDir scratch("plantctl-config");
  const std::string& dir = scratch.path();
  const std::vector<std::string> services = {"defect", "planning", "system", "telemetry"};
  const std::string file = dir + "/plantctl.toml";
  std::ofstream(file) << "endpoint = \"127.0.0.1:7443\"\nca = \"/f/ca.crt\"\n"
                         "[endpoints]\ntelemetry = \"127.0.0.1:7444\"\n"
                         "planning = \"127.0.0.1:7445\"\n";
  auto load = [&](const std::vector<std::string>& flags, ConnectionSettings* settings) {
    absl::Status loaded = LoadDefaults(file, /*explicit_file=*/true, settings);
    if (!loaded.ok()) return loaded;
    CLI::App app;
    AddConnectionFlags(&app, settings);
    std::vector<std::string> reversed(flags.rbegin(), flags.rend());  // CLI11 pops from the back
    app.parse(reversed);
    return ResolveServiceEndpoints(services, app.get_option("--endpoint")->count() > 0, settings);
  };

  ConnectionSettings from_file;
  ASSERT_TRUE(load({}, &from_file).ok());
  EXPECT_EQ(EndpointFor(from_file, "defect"), "127.0.0.1:7443");
  EXPECT_EQ(EndpointFor(from_file, "telemetry"), "127.0.0.1:7444");
  EXPECT_EQ(EndpointFor(from_file, "planning"), "127.0.0.1:7445");
  EXPECT_EQ(EndpointFor(from_file, "system"), "127.0.0.1:7443");

  // A flag for one service beats the file; the others keep the file's.
  ConnectionSettings one_flag;
  ASSERT_TRUE(load({"--service-endpoint", "planning=10.0.0.9:7443"}, &one_flag).ok());
  EXPECT_EQ(EndpointFor(one_flag, "planning"), "10.0.0.9:7443");
  EXPECT_EQ(EndpointFor(one_flag, "telemetry"), "127.0.0.1:7444");

  // --endpoint on the command line is stronger than anything in the file.
  ConnectionSettings general_flag;
  ASSERT_TRUE(load({"--endpoint", "10.0.0.1:7443", "--service-endpoint", "defect=10.0.0.2:7443"},
                   &general_flag)
                  .ok());
  EXPECT_EQ(EndpointFor(general_flag, "telemetry"), "10.0.0.1:7443");
  EXPECT_EQ(EndpointFor(general_flag, "defect"), "10.0.0.2:7443");

  // So is PLANTMESH_ENDPOINT.
  setenv("PLANTMESH_ENDPOINT", "10.0.0.3:7443", 1);
  ConnectionSettings from_environment;
  absl::Status loaded = load({}, &from_environment);
  unsetenv("PLANTMESH_ENDPOINT");
  ASSERT_TRUE(loaded.ok()) << loaded;
  EXPECT_EQ(EndpointFor(from_environment, "telemetry"), "10.0.0.3:7443");
  // Outside testing (sweep 61): PLANTMESH_INSECURE=garbage read as false, without a word.
  setenv("PLANTMESH_INSECURE", "garbage", 1);
  ConnectionSettings bad_environment;
  loaded = load({}, &bad_environment);
  unsetenv("PLANTMESH_INSECURE");
  EXPECT_EQ(std::string(loaded.message()),
            "PLANTMESH_INSECURE (environment): insecure \"garbage\" is not a boolean (true or "
            "false)");

  // Typos are named with where they came from.
  ConnectionSettings bad_flag;
  absl::Status status = load({"--service-endpoint", "defekt=10.0.0.2:7443"}, &bad_flag);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("--service-endpoint: \"defekt\" is not a service"));
  ConnectionSettings no_equals;
  EXPECT_THAT(load({"--service-endpoint", "10.0.0.2:7443"}, &no_equals).message(),
              HasSubstr("is not SERVICE=HOST:PORT"));
  // Outside testing: one service named twice, the last won without a word.
  ConnectionSettings twice;
  EXPECT_EQ(load({"--service-endpoint", "telemetry=1.2.3.4:5", "--service-endpoint",
                  "telemetry=127.0.0.1:7444"},
                 &twice)
                .message(),
            "--service-endpoint: telemetry given twice (\"telemetry=1.2.3.4:5\", "
            "\"telemetry=127.0.0.1:7444\"): give it once");
  std::ofstream(file) << "[endpoints]\ntelemetri = \"127.0.0.1:7444\"\n";
  ConnectionSettings bad_file;
  status = load({}, &bad_file);
  EXPECT_THAT(status.message(), HasSubstr("[endpoints]: \"telemetri\" is not a service"));
  EXPECT_THAT(status.message(), HasSubstr(file + ", line 2: [endpoints]"));
  // Outside testing: a bad port in --service-endpoint was reported as --endpoint's.
  std::ofstream(file) << "[endpoints]\ntelemetry = \"127.0.0.1:7444\"\n";
  ConnectionSettings bad_port;
  status = load({"--service-endpoint", "defect=10.0.0.2:70000"}, &bad_port);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("--service-endpoint: defect: \"10.0.0.2:70000\" has no valid port"));
  std::ofstream(file) << "[endpoints]\ntelemetry = \"127.0.0.1\"\n";
  ConnectionSettings bad_file_port;
  status = load({}, &bad_file_port);
  EXPECT_THAT(status.message(),
              HasSubstr("[endpoints]: telemetry: \"127.0.0.1\" is not host:port"));

  // config init keeps the table, and reading it back gives the same endpoints.
  const std::string written = dir + "/written.toml";
  ASSERT_TRUE(WriteConfigFile(from_file, written, /*overwrite=*/false).ok());
  ConnectionSettings reread;
  ASSERT_TRUE(LoadDefaults(written, /*explicit_file=*/true, &reread).ok());
  ASSERT_TRUE(ResolveServiceEndpoints(services, false, &reread).ok());
  EXPECT_EQ(reread.service_endpoints, from_file.service_endpoints);
  EXPECT_EQ(reread.options.endpoint, "127.0.0.1:7443");
}

TEST(AdminStatusTest, TableJsonAndExitCode) {
  ServiceStatus serving;
  serving.service = "defect";
  serving.full_name = "plantmesh.defect.v1.DefectService";
  serving.endpoint = "127.0.0.1:7443";
  serving.health = "SERVING";
  serving.version = "0.1.0 (git 3d0107a1b2c3)";
  serving.identity = "spiffe://plantmesh.local/service/defect";
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  serving.not_after = now + absl::Hours(24 * 89 + 3);
  ServiceStatus stopped;
  stopped.service = "telemetry";
  stopped.full_name = "plantmesh.telemetry.v1.TelemetryService";
  stopped.endpoint = "127.0.0.1:7444";
  stopped.health = "UNAVAILABLE";
  stopped.error = absl::UnavailableError("failed to connect to all addresses");
  ServiceStatus draining = serving;
  draining.service = "planning";
  draining.health = "NOT_SERVING";

  std::ostringstream table;
  PrintStatus({serving, stopped}, OutputFormat::kTable, now, table);
  EXPECT_EQ(table.str(),
            "service    endpoint        health       version                   identity      "
            "                           cert_expires\n"
            "defect     127.0.0.1:7443  SERVING      0.1.0 (git 3d0107a1b2c3)  "
            "spiffe://plantmesh.local/service/defect  2027-04-14T11:00:00Z (89 days)\n"
            "telemetry  127.0.0.1:7444  UNAVAILABLE  -                         -             "
            "                           -\n");
  std::ostringstream json;
  PrintStatus({serving, stopped}, OutputFormat::kJson, now, json);
  std::vector<std::string> lines = absl::StrSplit(json.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("\"cert_not_after\":\"2027-04-14T11:00:00Z\""));
  EXPECT_THAT(lines[1], HasSubstr("\"health\":\"UNAVAILABLE\""));
  EXPECT_THAT(lines[1], HasSubstr("\"error\":\"failed to connect to all addresses\""));

  EXPECT_EQ(StatusExitCode({serving}), 0);
  EXPECT_EQ(StatusExitCode({serving, stopped, draining}), 24);
  ServiceStatus not_hosted = stopped;
  not_hosted.health = "NOT_FOUND";
  not_hosted.error = absl::NotFoundError("unknown service");
  EXPECT_EQ(StatusExitCode({serving, not_hosted}), 15);
  EXPECT_EQ(StatusExitCode({draining, not_hosted}), 24);

  // The SDK's words in plantctl's (outside testing: "the CA of ca_file", no such flag).
  ServiceStatus untrusted = stopped;
  untrusted.error = absl::UnavailableError(
      "TLS handshake failed: the server's certificate is not signed by the CA of ca_file");
  std::ostringstream csv;
  PrintStatus({untrusted}, OutputFormat::kCsv, now, csv);
  EXPECT_THAT(csv.str(), HasSubstr("not signed by the CA of --ca"));
  EXPECT_THAT(csv.str(), Not(HasSubstr("ca_file")));
  // Re-test: the lines on stderr after the table too.
  EXPECT_THAT(ErrorText(untrusted.error), HasSubstr("not signed by the CA of --ca"));
}

TEST_F(CommandsTest, AdminStatusReportsEveryContractServiceButSystem) {
  std::vector<std::string> names;
  for (const ServiceCommand* service : ReportedServices(*catalog_)) names.push_back(service->name);
  EXPECT_THAT(names, ::testing::IsSupersetOf({"defect", "telemetry", "planning"}));
  EXPECT_THAT(names, Not(::testing::Contains("system")));
  EXPECT_EQ(names.size(), catalog_->services().size() - 1);
}

}  // namespace
}  // namespace plantmesh::cli
