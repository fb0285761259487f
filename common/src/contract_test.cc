// The contract reader on descriptors built here, so that each kind of declaration (and each
// mistake) has a case; tests/contract checks the real contracts with the same reader.
#include "plantmesh/common/contract.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/text_format.h"

namespace plantmesh::contract {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptorProto;
using google::protobuf::MethodDescriptor;
using google::protobuf::MethodOptions;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A pool of its own (as plantctl builds from a descriptor set), holding one test file with
// the service below; the options are set through the generated extension.
class ContractReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
        R"pb(
          name: "t/v1/t_service.proto"
          package: "t.v1"
          dependency: "plantmesh/api/v1/annotations.proto"
          message_type {
            name: "Header"
            field { name: "request_id" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
          }
          message_type {
            name: "WriteRequest"
            field { name: "request_id" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
            field { name: "note" number: 2 type: TYPE_STRING label: LABEL_OPTIONAL }
            field { name: "code" number: 3 type: TYPE_STRING label: LABEL_OPTIONAL }
            field { name: "chunk" number: 4 type: TYPE_BYTES label: LABEL_OPTIONAL }
            field { name: "plain" number: 5 type: TYPE_STRING label: LABEL_OPTIONAL }
          }
          message_type {
            name: "StreamRequest"
            field {
              name: "metadata"
              number: 1
              type: TYPE_MESSAGE
              label: LABEL_OPTIONAL
              type_name: ".t.v1.Header"
            }
          }
          message_type { name: "Empty" }
          service {
            name: "TService"
            method { name: "Write" input_type: ".t.v1.WriteRequest" output_type: ".t.v1.Empty" }
            method { name: "Read" input_type: ".t.v1.Empty" output_type: ".t.v1.Empty" }
            method { name: "Upload" input_type: ".t.v1.StreamRequest" output_type: ".t.v1.Empty" }
            method { name: "Undeclared" input_type: ".t.v1.Empty" output_type: ".t.v1.Empty" }
            method { name: "Anyone" input_type: ".t.v1.Empty" output_type: ".t.v1.Empty" }
          }
        )pb",
        &file_));
    auto* service = file_.mutable_service(0);
    auto* write = service->mutable_method(0)->mutable_options();
    write->set_idempotency_level(MethodOptions::IDEMPOTENT);
    write->MutableExtension(api::v1::access)->add_allowed_roles(api::v1::ROLE_FOREMAN);
    write->MutableExtension(api::v1::access)->add_allowed_roles(api::v1::ROLE_QC_ENGINEER);
    auto* read = service->mutable_method(1)->mutable_options();
    read->set_idempotency_level(MethodOptions::NO_SIDE_EFFECTS);
    read->MutableExtension(api::v1::access)->add_allowed_roles(api::v1::ROLE_MANAGER);
    auto* upload = service->mutable_method(2)->mutable_options();
    upload->set_idempotency_level(MethodOptions::IDEMPOTENT);
    upload->MutableExtension(api::v1::access)->add_allowed_roles(api::v1::ROLE_MECHANIC);
    service->mutable_method(4)
        ->mutable_options()
        ->MutableExtension(api::v1::access)
        ->set_any_authenticated(true);

    auto* fields = file_.mutable_message_type(1);
    auto* note = fields->mutable_field(1)->mutable_options()->MutableExtension(api::v1::text);
    note->set_kind(api::v1::TEXT_KIND_MULTI_LINE);
    note->set_max_chars(4000);
    fields->mutable_field(2)
        ->mutable_options()
        ->MutableExtension(api::v1::text)
        ->set_kind(api::v1::TEXT_KIND_CODE);
    fields->mutable_field(3)
        ->mutable_options()
        ->MutableExtension(api::v1::file_chunk)
        ->set_size_field("size_bytes");
  }

  // The method `name` of file_ as it is now (built in a new pool after a change).
  const MethodDescriptor* Method(const std::string& name) {
    if (built_ == nullptr || built_from_ != file_.SerializeAsString()) {
      pools_.push_back(std::make_unique<DescriptorPool>());
      DescriptorPool& pool = *pools_.back();
      FileDescriptorProto dependency;
      MethodOptions::descriptor()->file()->CopyTo(&dependency);
      EXPECT_NE(pool.BuildFile(dependency), nullptr);
      dependency.Clear();
      api::v1::AccessRule::descriptor()->file()->CopyTo(&dependency);
      EXPECT_NE(pool.BuildFile(dependency), nullptr);
      built_ = pool.BuildFile(file_);
      built_from_ = file_.SerializeAsString();
    }
    EXPECT_NE(built_, nullptr);
    return built_ == nullptr ? nullptr : built_->service(0)->FindMethodByName(name);
  }

  FileDescriptorProto file_;
  std::vector<std::unique_ptr<DescriptorPool>> pools_;
  const google::protobuf::FileDescriptor* built_ = nullptr;
  std::string built_from_;
};

TEST(RolesTest, NamesAreTheEnumsInLowerCaseWithoutPrefix) {
  EXPECT_EQ(RoleName(api::v1::ROLE_QC_ENGINEER), "qc_engineer");
  EXPECT_EQ(RoleName(api::v1::ROLE_OPERATOR), "operator");
  EXPECT_EQ(RoleName(api::v1::ROLE_UNSPECIFIED), "");
  EXPECT_EQ(RoleName(static_cast<api::v1::Role>(99)), "");
  EXPECT_EQ(AllRoles().size(), 8u);
  EXPECT_EQ(KnownRoleNames(),
            "operator, mechanic, foreman, qc_engineer, planner, manager, admin, integrator");
  for (api::v1::Role role : AllRoles()) {
    absl::StatusOr<api::v1::Role> back = RoleFromName(RoleName(role));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, role);
  }
}

TEST(RolesTest, AnythingElseIsNotARole) {
  for (const char* name : {"", "unspecified", "ROLE_ADMIN", "Admin", "qc-engineer", "admin "}) {
    absl::StatusOr<api::v1::Role> role = RoleFromName(name);
    EXPECT_EQ(role.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(role.status().message(), HasSubstr("known: operator, mechanic")) << name;
  }
  EXPECT_EQ(RoleFromName("forman").status().message(),
            "unknown role \"forman\" (known: operator, mechanic, foreman, qc_engineer, planner, "
            "manager, admin, integrator)");
}

TEST_F(ContractReaderTest, ReadsRolesAndIdempotency) {
  const MethodContract write = MethodContractOf(Method("Write"));
  EXPECT_TRUE(write.declares_access);
  EXPECT_FALSE(write.any_authenticated);
  EXPECT_THAT(write.roles, ElementsAre(api::v1::ROLE_FOREMAN, api::v1::ROLE_QC_ENGINEER));
  EXPECT_THAT(write.RoleNames(), ElementsAre("foreman", "qc_engineer"));
  EXPECT_EQ(write.WhoMayCall(), "foreman, qc_engineer");
  EXPECT_TRUE(write.mutating());
  EXPECT_TRUE(write.retry_safe());
  EXPECT_TRUE(write.Allows(api::v1::ROLE_QC_ENGINEER));
  EXPECT_FALSE(write.Allows(api::v1::ROLE_ADMIN));
  EXPECT_TRUE(write.AllowsAnyOf({"operator", "foreman"}));
  EXPECT_FALSE(write.AllowsAnyOf({"operator", "forman", "FOREMAN"}));

  const MethodContract read = MethodContractOf(Method("Read"));
  EXPECT_FALSE(read.mutating());
  EXPECT_TRUE(read.retry_safe());

  const MethodContract anyone = MethodContractOf(Method("Anyone"));
  EXPECT_TRUE(anyone.Allows(api::v1::ROLE_UNSPECIFIED));
  EXPECT_TRUE(anyone.AllowsAnyOf({}));
  EXPECT_EQ(anyone.WhoMayCall(), "any authenticated identity");
  EXPECT_TRUE(anyone.mutating());  // no idempotency_level: counts as a write, not retried
  EXPECT_FALSE(anyone.retry_safe());
}

TEST_F(ContractReaderTest, AMethodWithoutAccessIsRefusedToEveryone) {
  const MethodContract undeclared = MethodContractOf(Method("Undeclared"));
  EXPECT_FALSE(undeclared.declares_access);
  EXPECT_FALSE(undeclared.AllowsAnyOf({"admin"}));
  EXPECT_EQ(undeclared.WhoMayCall(), "none (refused to everyone)");
  EXPECT_TRUE(ValidateMethod(Method("Undeclared")).ok());
  EXPECT_TRUE(ValidateService(Method("Write")->service()).ok());
}

TEST_F(ContractReaderTest, RequestIdAtTheRootOrInTheFirstMessagesHeader) {
  EXPECT_EQ(RequestIdOf(Method("Write")->input_type()).Path(), "request_id");
  EXPECT_EQ(RequestIdOf(Method("Upload")->input_type()).Path(), "metadata.request_id");
  EXPECT_EQ(RootRequestId(Method("Upload")->input_type()), nullptr);
  EXPECT_EQ(RequestIdOf(Method("Read")->input_type()).field, nullptr);
  EXPECT_TRUE(IdempotentByRequestId(Method("Write")));
  EXPECT_TRUE(IdempotentByRequestId(Method("Upload")));
  EXPECT_FALSE(IdempotentByRequestId(Method("Read")));
}

TEST_F(ContractReaderTest, TextRulesAndFileChunks) {
  const google::protobuf::Descriptor* request = Method("Write")->input_type();
  const api::v1::TextRule& note = TextRuleOf(request->FindFieldByName("note"));
  EXPECT_EQ(note.kind(), api::v1::TEXT_KIND_MULTI_LINE);
  EXPECT_EQ(DescribeTextRule(note), "may span lines; at most 4000 characters");
  EXPECT_EQ(DescribeTextRule(TextRuleOf(request->FindFieldByName("code"))),
            "code: 1-32 characters A-Z, 0-9, '-'");
  const api::v1::TextRule& plain = TextRuleOf(request->FindFieldByName("plain"));
  EXPECT_EQ(plain.kind(), api::v1::TEXT_KIND_UNSPECIFIED);
  EXPECT_EQ(DescribeTextRule(plain), "");
  api::v1::TextRule limited;
  limited.set_max_chars(64);
  EXPECT_EQ(DescribeTextRule(limited), "one line, at most 64 characters");

  EXPECT_EQ(FileChunkFieldOf(request), request->FindFieldByName("chunk"));
  EXPECT_EQ(FileChunkOf(request->FindFieldByName("chunk")).size_field(), "size_bytes");
  EXPECT_EQ(FileChunkFieldOf(Method("Upload")->input_type()), nullptr);
}

TEST_F(ContractReaderTest, TheDeprecatedStringRolesAreRefused) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  file_.mutable_service(0)
      ->mutable_method(1)
      ->mutable_options()
      ->MutableExtension(api::v1::access)
      ->add_roles("manager");
#pragma GCC diagnostic pop
  absl::Status valid = ValidateMethod(Method("Read"));
  EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(valid.message(), HasSubstr("t.v1.TService.Read: (plantmesh.api.v1.access) sets the "
                                         "deprecated string `roles`"));
  EXPECT_EQ(ValidateService(Method("Read")->service()).code(), absl::StatusCode::kInvalidArgument);
  // What is read is only the enum: the string grants nothing.
  EXPECT_THAT(MethodContractOf(Method("Read")).roles, ElementsAre(api::v1::ROLE_MANAGER));
}

TEST_F(ContractReaderTest, UnspecifiedUnknownAndRepeatedRolesAreRefused) {
  auto* access = file_.mutable_service(0)->mutable_method(0)->mutable_options()->MutableExtension(
      api::v1::access);
  access->add_allowed_roles(api::v1::ROLE_UNSPECIFIED);
  EXPECT_THAT(ValidateMethod(Method("Write")).message(),
              HasSubstr("t.v1.TService.Write: (plantmesh.api.v1.access): allowed_roles has "
                        "ROLE_UNSPECIFIED"));
  EXPECT_THAT(MethodContractOf(Method("Write")).roles,
              ElementsAre(api::v1::ROLE_FOREMAN, api::v1::ROLE_QC_ENGINEER));

  access->set_allowed_roles(2, static_cast<api::v1::Role>(42));  // from a newer contract
  EXPECT_THAT(ValidateMethod(Method("Write")).message(), HasSubstr("unknown role 42"));
  EXPECT_THAT(MethodContractOf(Method("Write")).roles,
              ElementsAre(api::v1::ROLE_FOREMAN, api::v1::ROLE_QC_ENGINEER));

  access->set_allowed_roles(2, api::v1::ROLE_FOREMAN);
  EXPECT_THAT(ValidateMethod(Method("Write")).message(),
              HasSubstr("allowed_roles lists ROLE_FOREMAN twice"));
}

// Field behaviour (AIP-203) on a resource with every kind, in create, update, stream and
// list requests, read from a pool of its own as plantctl does.
class FieldBehaviorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FileDescriptorProto file;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
        R"pb(
          name: "t/v1/things.proto"
          package: "t.v1"
          dependency: "plantmesh/api/v1/annotations.proto"
          dependency: "google/protobuf/field_mask.proto"
          message_type {
            name: "Part"
            field { name: "code" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
          }
          message_type {
            name: "Thing"
            field { name: "id" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
            field { name: "name" number: 2 type: TYPE_STRING label: LABEL_OPTIONAL }
            field { name: "state" number: 3 type: TYPE_INT32 label: LABEL_OPTIONAL }
            field { name: "note" number: 4 type: TYPE_STRING label: LABEL_OPTIONAL }
            field {
              name: "part"
              number: 5
              type: TYPE_MESSAGE
              label: LABEL_OPTIONAL
              type_name: ".t.v1.Part"
            }
            field { name: "tags" number: 6 type: TYPE_STRING label: LABEL_REPEATED }
          }
          message_type {
            name: "CreateThingRequest"
            field {
              name: "thing"
              number: 1
              type: TYPE_MESSAGE
              label: LABEL_OPTIONAL
              type_name: ".t.v1.Thing"
            }
            field { name: "request_id" number: 2 type: TYPE_STRING label: LABEL_OPTIONAL }
          }
          message_type {
            name: "UpdateThingRequest"
            field {
              name: "thing"
              number: 1
              type: TYPE_MESSAGE
              label: LABEL_OPTIONAL
              type_name: ".t.v1.Thing"
            }
            field {
              name: "update_mask"
              number: 2
              type: TYPE_MESSAGE
              label: LABEL_OPTIONAL
              type_name: ".google.protobuf.FieldMask"
            }
            field { name: "etag" number: 3 type: TYPE_STRING label: LABEL_OPTIONAL }
          }
          message_type {
            name: "Header"
            field { name: "size" number: 1 type: TYPE_INT64 label: LABEL_OPTIONAL }
          }
          message_type {
            name: "UploadRequest"
            field {
              name: "header"
              number: 1
              type: TYPE_MESSAGE
              label: LABEL_OPTIONAL
              type_name: ".t.v1.Header"
              oneof_index: 0
            }
            field { name: "chunk" number: 2 type: TYPE_BYTES label: LABEL_OPTIONAL oneof_index: 0 }
            oneof_decl { name: "payload" }
          }
          message_type {
            name: "PutPartsRequest"
            field {
              name: "parts"
              number: 1
              type: TYPE_MESSAGE
              label: LABEL_REPEATED
              type_name: ".t.v1.Part"
            }
          }
          message_type {
            name: "PutJudgedPartsRequest"
            field {
              name: "parts"
              number: 1
              type: TYPE_MESSAGE
              label: LABEL_REPEATED
              type_name: ".t.v1.Part"
            }
          }
          message_type {
            name: "Station"
            field { name: "code" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
            field { name: "name" number: 2 type: TYPE_STRING label: LABEL_OPTIONAL }
            field {
              name: "part"
              number: 3
              type: TYPE_MESSAGE
              label: LABEL_OPTIONAL
              type_name: ".t.v1.Station"
            }
          }
          message_type {
            name: "UpdateStationRequest"
            field {
              name: "station"
              number: 1
              type: TYPE_MESSAGE
              label: LABEL_OPTIONAL
              type_name: ".t.v1.Station"
            }
            field {
              name: "update_mask"
              number: 2
              type: TYPE_MESSAGE
              label: LABEL_OPTIONAL
              type_name: ".google.protobuf.FieldMask"
            }
          }
          syntax: "proto3"
        )pb",
        &file));
    auto mark = [&](int message, int field, api::v1::FieldBehavior behavior) {
      file.mutable_message_type(message)->mutable_field(field)->mutable_options()->AddExtension(
          api::v1::field_behavior, behavior);
    };
    mark(0, 0, api::v1::FIELD_BEHAVIOR_REQUIRED);     // Part.code
    mark(1, 0, api::v1::FIELD_BEHAVIOR_IDENTIFIER);   // Thing.id
    mark(1, 1, api::v1::FIELD_BEHAVIOR_REQUIRED);     // Thing.name
    mark(1, 1, api::v1::FIELD_BEHAVIOR_IMMUTABLE);    //   (several behaviours on one field)
    mark(1, 2, api::v1::FIELD_BEHAVIOR_OUTPUT_ONLY);  // Thing.state
    mark(1, 5, api::v1::FIELD_BEHAVIOR_REQUIRED);     // Thing.tags
    mark(2, 0, api::v1::FIELD_BEHAVIOR_REQUIRED);     // CreateThingRequest.thing
    mark(3, 0, api::v1::FIELD_BEHAVIOR_REQUIRED);     // UpdateThingRequest.thing
    mark(3, 1, api::v1::FIELD_BEHAVIOR_REQUIRED);     // UpdateThingRequest.update_mask
    mark(3, 2, api::v1::FIELD_BEHAVIOR_REQUIRED);     // UpdateThingRequest.etag
    mark(4, 0, api::v1::FIELD_BEHAVIOR_REQUIRED);     // Header.size
    // A resource named by its client-chosen code (no IDENTIFIER), as Machine is.
    mark(8, 0, api::v1::FIELD_BEHAVIOR_REQUIRED);   // Station.code
    mark(8, 0, api::v1::FIELD_BEHAVIOR_IMMUTABLE);  //
    mark(8, 1, api::v1::FIELD_BEHAVIOR_REQUIRED);   // Station.name
    mark(9, 0, api::v1::FIELD_BEHAVIOR_REQUIRED);   // UpdateStationRequest.station
    mark(9, 1, api::v1::FIELD_BEHAVIOR_REQUIRED);   // UpdateStationRequest.update_mask
    // PutJudgedPartsRequest.parts: the service judges each part itself.
    file.mutable_message_type(7)->mutable_field(0)->mutable_options()->SetExtension(
        api::v1::elements_judged_by_service, true);
    for (const google::protobuf::FileDescriptor* dependency :
         {MethodOptions::descriptor()->file(), api::v1::AccessRule::descriptor()->file(),
          google::protobuf::FieldMask::descriptor()->file()}) {
      FileDescriptorProto proto;
      dependency->CopyTo(&proto);
      ASSERT_NE(pool_.BuildFile(proto), nullptr);
    }
    ASSERT_NE(pool_.BuildFile(file), nullptr);
  }

  const google::protobuf::Descriptor* Type(const std::string& name) {
    return pool_.FindMessageTypeByName("t.v1." + name);
  }
  std::unique_ptr<google::protobuf::Message> New(const std::string& name, const std::string& text) {
    std::unique_ptr<google::protobuf::Message> message(factory_.GetPrototype(Type(name))->New());
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, message.get())) << text;
    return message;
  }
  std::vector<const google::protobuf::FieldDescriptor*> Path(const std::string& request,
                                                             const std::string& dotted) {
    std::vector<const google::protobuf::FieldDescriptor*> path;
    const google::protobuf::Descriptor* type = Type(request);
    for (absl::string_view name : absl::StrSplit(dotted, '.')) {
      path.push_back(type->FindFieldByName(std::string(name)));
      type = path.back()->message_type();
    }
    return path;
  }
  std::vector<std::string> Missing(const std::string& request, const std::string& text) {
    std::vector<std::string> out;
    for (const MissingField& field : MissingRequiredFields(*New(request, text))) {
      out.push_back(absl::StrCat(field.path, ": ", field.Description()));
    }
    return out;
  }

  DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_{&pool_};
};

TEST_F(FieldBehaviorTest, ReadsTheDeclaredBehaviours) {
  const auto* name = Type("Thing")->FindFieldByName("name");
  EXPECT_TRUE(HasFieldBehavior(name, api::v1::FIELD_BEHAVIOR_REQUIRED));
  EXPECT_TRUE(HasFieldBehavior(name, api::v1::FIELD_BEHAVIOR_IMMUTABLE));
  EXPECT_FALSE(HasFieldBehavior(name, api::v1::FIELD_BEHAVIOR_OUTPUT_ONLY));
  EXPECT_FALSE(
      HasFieldBehavior(Type("Thing")->FindFieldByName("note"), api::v1::FIELD_BEHAVIOR_REQUIRED));
  EXPECT_EQ(UpdateMaskOf(Type("CreateThingRequest")), nullptr);
  EXPECT_NE(UpdateMaskOf(Type("UpdateThingRequest")), nullptr);
}

TEST_F(FieldBehaviorTest, UseInCreateUpdateAndStreamRequests) {
  // Create: the identifier and output-only fields are the server's; required ones must be set.
  EXPECT_EQ(FieldUseIn(Type("CreateThingRequest"), Path("CreateThingRequest", "thing.id")),
            FieldUse::kOutputOnly);
  EXPECT_EQ(FieldUseIn(Type("CreateThingRequest"), Path("CreateThingRequest", "thing.state")),
            FieldUse::kOutputOnly);
  EXPECT_EQ(FieldUseIn(Type("CreateThingRequest"), Path("CreateThingRequest", "thing.name")),
            FieldUse::kRequired);
  EXPECT_EQ(FieldUseIn(Type("CreateThingRequest"), Path("CreateThingRequest", "thing.note")),
            FieldUse::kOptional);
  EXPECT_EQ(FieldUseIn(Type("CreateThingRequest"), Path("CreateThingRequest", "thing.part.code")),
            FieldUse::kRequiredWithParent);
  EXPECT_EQ(FieldUseIn(Type("CreateThingRequest"), Path("CreateThingRequest", "request_id")),
            FieldUse::kOptional);
  // Update: the identifier says which; the resource's required fields follow the mask.
  EXPECT_EQ(FieldUseIn(Type("UpdateThingRequest"), Path("UpdateThingRequest", "thing.id")),
            FieldUse::kRequired);
  EXPECT_EQ(FieldUseIn(Type("UpdateThingRequest"), Path("UpdateThingRequest", "thing.name")),
            FieldUse::kRequiredIfMasked);
  EXPECT_EQ(FieldUseIn(Type("UpdateThingRequest"), Path("UpdateThingRequest", "thing.state")),
            FieldUse::kOutputOnly);
  EXPECT_EQ(FieldUseIn(Type("UpdateThingRequest"), Path("UpdateThingRequest", "etag")),
            FieldUse::kRequired);
  // A stream's optional first-message header: required with it.
  EXPECT_EQ(FieldUseIn(Type("UploadRequest"), Path("UploadRequest", "header.size")),
            FieldUse::kRequiredWithParent);
}

TEST_F(FieldBehaviorTest, MissingRequiredFieldsOfACreate) {
  EXPECT_THAT(Missing("CreateThingRequest", ""),
              ElementsAre("thing.name: required", "thing.tags: required"));
  EXPECT_THAT(Missing("CreateThingRequest", R"pb(thing { note: "x" })pb"),
              ElementsAre("thing.name: required", "thing.tags: required"));
  EXPECT_THAT(Missing("CreateThingRequest", R"pb(thing { name: "a" tags: "t" })pb"), ElementsAre());
  // White space only says nothing (outside testing: a reason of spaces was taken).
  EXPECT_THAT(Missing("CreateThingRequest", R"pb(thing { name: " \t " tags: "t" })pb"),
              ElementsAre("thing.name: required: only white space or invisible characters given"));
  // Output-only and identifier fields are not required (the method decides what a given
  // one means); a given optional message's required fields are.
  EXPECT_THAT(Missing("CreateThingRequest", R"pb(thing {
                                                   name: "a"
                                                   tags: "t"
                                                   part {}
                                                 })pb"),
              ElementsAre("thing.part.code: required"));
}

// Outside testing: RegisterMachine took machine.etag and create_time, RecordOutput
// output.recorded_by, and dropped them unseen, while other creates refused theirs.
TEST_F(FieldBehaviorTest, OutputOnlyFieldsSetOutsideAnUpdate) {
  auto set = [&](const std::string& request, const std::string& text) {
    return CheckFieldBehavior(*New(request, text)).output_only_set;
  };
  EXPECT_THAT(set("CreateThingRequest", R"pb(thing { name: "a" tags: "t" })pb"), ElementsAre());
  EXPECT_THAT(set("CreateThingRequest", R"pb(thing { id: "7" name: "a" state: 2 tags: "t" })pb"),
              ElementsAre("thing.id", "thing.state"));
  // An update sends the resource back as it read it: its output-only fields are ignored.
  EXPECT_THAT(set("UpdateThingRequest", R"pb(thing { id: "7" state: 2 }
                                             update_mask { paths: "note" }
                                             etag: "v1")pb"),
              ElementsAre());
  // Both in one walk.
  const FieldBehaviorFindings both =
      CheckFieldBehavior(*New("CreateThingRequest", R"pb(thing { state: 2 })pb"));
  EXPECT_EQ(both.missing.size(), 2u);
  EXPECT_THAT(both.output_only_set, ElementsAre("thing.state"));
}

// Outside testing: RegisterMachine with 2.1 million empty data items (a 4 MiB message)
// made the walk write down 6.3 million missing fields, each with its path, and ten such
// calls at once took the server to 6.45 GB. The walk stops after `max_listed` findings.
TEST_F(FieldBehaviorTest, TheWalkStopsAfterTheListedFindings) {
  std::unique_ptr<google::protobuf::Message> request = New("PutPartsRequest", "");
  const auto* parts = request->GetDescriptor()->FindFieldByName("parts");
  for (int i = 0; i < 100000; ++i) request->GetReflection()->AddMessage(request.get(), parts);
  const FieldBehaviorFindings found = CheckFieldBehavior(*request, 3);
  ASSERT_EQ(found.missing.size(), 3u);
  EXPECT_EQ(found.missing[2].path, "parts[2].code");
  EXPECT_TRUE(found.more);
  EXPECT_FALSE(CheckFieldBehavior(*request, 100000).more);
  EXPECT_EQ(MissingRequiredFields(*request).size(), 100000u);
  EXPECT_EQ(MissingRequiredFields(*request)[99999].path, "parts[99999].code");
}

// The mask is looked up, not scanned per field: a mask of many paths, some of them
// prefixes of others, names what it names.
TEST_F(FieldBehaviorTest, AMaskOfManyPathsNamesByPathAndPrefix) {
  std::string others;
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&others, "paths: \"other", i, "\" ");
  // An update of thing 7 with an empty part, its mask the 1,000 others and `named`.
  auto missing_with = [&](const std::string& named) {
    return Missing("UpdateThingRequest", absl::StrCat("thing { id: \"7\" part {} } update_mask { ",
                                                      others, named, " } etag: \"v1\""));
  };
  EXPECT_THAT(missing_with("paths: \"part\" paths: \"name\""),
              ElementsAre("thing.name: required: update_mask names it",
                          "thing.part.code: required: update_mask names it"));
  EXPECT_THAT(missing_with("paths: \"part.code\""),
              ElementsAre("thing.part.code: required: update_mask names it"));
}

TEST_F(FieldBehaviorTest, MissingRequiredFieldsOfAnUpdateFollowTheMask) {
  EXPECT_THAT(Missing("UpdateThingRequest", ""),
              ElementsAre("thing.id: required", "update_mask: required", "etag: required"));
  EXPECT_THAT(Missing("UpdateThingRequest", R"pb(thing { id: "7" note: "n" }
                                                 update_mask { paths: "note" }
                                                 etag: "v1")pb"),
              ElementsAre());
  EXPECT_THAT(Missing("UpdateThingRequest", R"pb(thing { id: "7" }
                                                 update_mask { paths: "name" paths: "part" }
                                                 etag: "v1")pb"),
              ElementsAre("thing.name: required: update_mask names it"));
  EXPECT_THAT(Missing("UpdateThingRequest", R"pb(thing {
                                                   id: "7"
                                                   part {}
                                                 }
                                                 update_mask { paths: "part" }
                                                 etag: "v1")pb"),
              ElementsAre("thing.part.code: required: update_mask names it"));
}

// Outside testing: `update-machine --help` said "--machine.id ... Required when
// --update_mask names it", but a machine is named by its id, and an update needs it always.
TEST_F(FieldBehaviorTest, AnUpdateAlwaysNeedsWhatNamesAResourceWithoutIdentifier) {
  EXPECT_EQ(FieldUseIn(Type("UpdateStationRequest"), Path("UpdateStationRequest", "station.code")),
            FieldUse::kRequired);
  EXPECT_EQ(FieldUseIn(Type("UpdateStationRequest"), Path("UpdateStationRequest", "station.name")),
            FieldUse::kRequiredIfMasked);
  // A station nested in the resource is not what the update names.
  EXPECT_EQ(
      FieldUseIn(Type("UpdateStationRequest"), Path("UpdateStationRequest", "station.part.code")),
      FieldUse::kRequiredIfMasked);
  EXPECT_THAT(Missing("UpdateStationRequest", R"pb(station { name: "Press 2" }
                                                   update_mask { paths: "name" })pb"),
              ElementsAre("station.code: required"));
  EXPECT_THAT(Missing("UpdateStationRequest", R"pb(station {
                                                     code: "ST-1"
                                                     part {}
                                                   }
                                                   update_mask { paths: "name" })pb"),
              ElementsAre("station.name: required: update_mask names it"));
  EXPECT_THAT(Missing("UpdateStationRequest", R"pb(station {
                                                     code: "ST-1"
                                                     part {}
                                                   }
                                                   update_mask { paths: "part" })pb"),
              ElementsAre("station.part.code: required: update_mask names it",
                          "station.part.name: required: update_mask names it"));
}

TEST_F(FieldBehaviorTest, StreamsAndRepeatedMessages) {
  EXPECT_THAT(Missing("UploadRequest", R"pb(chunk: "abc")pb"), ElementsAre());
  EXPECT_THAT(Missing("UploadRequest", R"pb(header {})pb"),
              ElementsAre("header.size: required: 0 or none given"));
  EXPECT_THAT(Missing("UploadRequest", R"pb(header { size: 3 })pb"), ElementsAre());
  EXPECT_THAT(Missing("PutPartsRequest", R"pb(parts { code: "A" }
                                              parts {})pb"),
              ElementsAre("parts[1].code: required"));
  // Elements the service judges one by one are not looked into: a part without its code
  // is the service's to reject alone, not a reason to refuse the whole request.
  EXPECT_TRUE(ElementsJudgedByService(Type("PutJudgedPartsRequest")->FindFieldByName("parts")));
  EXPECT_FALSE(ElementsJudgedByService(Type("PutPartsRequest")->FindFieldByName("parts")));
  EXPECT_THAT(Missing("PutJudgedPartsRequest", R"pb(parts { code: "A" }
                                                    parts {})pb"),
              ElementsAre());
}

}  // namespace
}  // namespace plantmesh::contract
