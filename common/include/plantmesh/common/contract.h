// The one reader of what the contracts (proto/plantmesh/**) declare beyond their types,
// in the options of plantmesh/api/v1/annotations.proto and protobuf's idempotency_level:
// who may call a method, whether it changes state or is safe to retry, which field makes
// a retried write idempotent, what text a string field accepts, and how a field behaves in
// requests (required, output only, identifier: AIP-203). The server, the code
// generator, plantctl and the contract tests all ask here instead of reading options.
//
// Works on descriptors of any pool (the generated pool, protoc's in a plugin, a pool built
// from a descriptor set): every binary that links this library knows the extensions, so
// the options are parsed with them. Depends on libprotobuf and abseil only.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/message.h"
#include "plantmesh/api/v1/annotations.pb.h"

namespace plantmesh::contract {

// ---- Roles ---------------------------------------------------------------------------

// The name of a role in role-binding files, audit rows, WhoAmI and errors: the enum value's
// name without `ROLE_`, in lower case (ROLE_QC_ENGINEER → "qc_engineer"). Empty for
// ROLE_UNSPECIFIED and for a number this build does not know.
std::string RoleName(api::v1::Role role);

// The role named `name` (exactly as RoleName spells it). INVALID_ARGUMENT for anything
// else, naming the value and listing the known names; ROLE_UNSPECIFIED is not a name.
absl::StatusOr<api::v1::Role> RoleFromName(absl::string_view name);

// Every role but ROLE_UNSPECIFIED, in enum order.
const std::vector<api::v1::Role>& AllRoles();
// "operator, mechanic, foreman, ..." (for messages).
std::string KnownRoleNames();

// ---- Methods -------------------------------------------------------------------------

using IdempotencyLevel = google::protobuf::MethodOptions::IdempotencyLevel;

// What a method's options declare.
struct MethodContract {
  // Whether the method has the (plantmesh.api.v1.access) option; without it the
  // method is refused to everyone (deny by default).
  bool declares_access = false;
  // Any authenticated identity may call it, with or without roles.
  bool any_authenticated = false;
  // allowed_roles in contract order, without ROLE_UNSPECIFIED or unknown numbers
  // (ValidateMethod reports those). Any one of them suffices.
  std::vector<api::v1::Role> roles;
  // idempotency_level as written (IDEMPOTENCY_UNKNOWN when not written).
  IdempotencyLevel idempotency = google::protobuf::MethodOptions::IDEMPOTENCY_UNKNOWN;

  // Changes state: anything but NO_SIDE_EFFECTS (an undeclared level counts as a write).
  bool mutating() const;
  // Safe to retry after UNAVAILABLE: NO_SIDE_EFFECTS or IDEMPOTENT.
  bool retry_safe() const;
  // Whether a caller holding `role` may call the method.
  bool Allows(api::v1::Role role) const;
  // The same for role names (as RoleName spells them); unknown names allow nothing.
  bool AllowsAnyOf(const std::vector<std::string>& role_names) const;
  // RoleName of each role, in contract order.
  std::vector<std::string> RoleNames() const;
  // For help and denials: "foreman, admin", "any authenticated identity", or
  // "none (refused to everyone)".
  std::string WhoMayCall() const;
};

// Reads what the method declares; never fails (ValidateMethod says what is wrong).
MethodContract MethodContractOf(const google::protobuf::MethodDescriptor* method);

// INVALID_ARGUMENT naming the method when its access option cannot mean what its author
// wanted: the deprecated string `roles` set, ROLE_UNSPECIFIED or a number this build does
// not know in allowed_roles, or a role listed twice. A missing option is valid (deny all).
absl::Status ValidateMethod(const google::protobuf::MethodDescriptor* method);
// ValidateMethod for every method of `service`; the first problem.
absl::Status ValidateService(const google::protobuf::ServiceDescriptor* service);

// The singular string field `request_id` that makes a retried write idempotent: at the
// request's root, or (parent set) in a singular message field of it, such as a client
// stream's first message `metadata`.
struct RequestIdField {
  const google::protobuf::FieldDescriptor* parent = nullptr;  // null: at the root
  const google::protobuf::FieldDescriptor* field = nullptr;   // null: none
  // "request_id", "metadata.request_id", or "" when none.
  std::string Path() const;
};
RequestIdField RequestIdOf(const google::protobuf::Descriptor* request);
// The request's root-level singular string `request_id`, or nullptr.
const google::protobuf::FieldDescriptor* RootRequestId(const google::protobuf::Descriptor* request);

// A write whose retries are made safe by a request_id: IDEMPOTENT with RequestIdOf found.
bool IdempotentByRequestId(const google::protobuf::MethodDescriptor* method);

// ---- Fields --------------------------------------------------------------------------

// The field's (plantmesh.api.v1.text) rule; the default (kind TEXT_KIND_UNSPECIFIED,
// i.e. one line, max_chars 0: no limit of its own) when the field declares none.
const api::v1::TextRule& TextRuleOf(const google::protobuf::FieldDescriptor* field);

// Whether `field` is a repeated (non-map) message field declaring
// (plantmesh.api.v1.elements_judged_by_service): the service judges each element itself
// (partial success), so the runtime's text and REQUIRED rules do not look inside them.
bool ElementsJudgedByService(const google::protobuf::FieldDescriptor* field);

// For --help: "code: 1-32 characters A-Z, 0-9, '-'", "may span lines; at most 4000
// characters", "one line, at most 64 characters", or "" for the base rule alone.
std::string DescribeTextRule(const api::v1::TextRule& rule);

// The first bytes field of `type` with a (plantmesh.api.v1.file_chunk) option, or nullptr.
const google::protobuf::FieldDescriptor* FileChunkFieldOf(const google::protobuf::Descriptor* type);
// The field's file_chunk option (the default instance when it has none).
const api::v1::FileChunk& FileChunkOf(const google::protobuf::FieldDescriptor* field);

// ---- Field behaviour (plantmesh.api.v1.field_behavior, AIP-203) ----------------------

// Whether the field declares `behavior` in its (plantmesh.api.v1.field_behavior) option.
bool HasFieldBehavior(const google::protobuf::FieldDescriptor* field,
                      api::v1::FieldBehavior behavior);

// The root field `update_mask` (a singular google.protobuf.FieldMask) that makes a request
// an update in AIP-203's sense, or nullptr. In an update, a resource's REQUIRED fields are
// required only where the mask names them, and what names the resource is required: its
// IDENTIFIER, or in a resource without one its own REQUIRED and IMMUTABLE fields (a
// machine's client-chosen id).
const google::protobuf::FieldDescriptor* UpdateMaskOf(const google::protobuf::Descriptor* request);

// The fields of an update's resource its update_mask names, by each path's first segment
// ("zone"; "labels" of "labels.line": a deeper path names its whole top field). Empty for
// a request that is no update.
std::set<std::string> FieldsTheMaskNames(const google::protobuf::Message& request);

// What a request may or must carry in one field.
enum class FieldUse {
  kOptional,
  // Must be set: REQUIRED (or what names an update's resource, UpdateMaskOf), and so is
  // every message on its path.
  kRequired,
  // REQUIRED, but in a message that is optional: must be set when that message is given
  // (e.g. a client stream's first-message `metadata`).
  kRequiredWithParent,
  // REQUIRED in the resource of an update: must be set when update_mask names it.
  kRequiredIfMasked,
  // Set by the server (OUTPUT_ONLY somewhere on the path, or an IDENTIFIER outside an
  // update): not taken from this request.
  kOutputOnly,
};

// How the field at `path` (the chain of fields from the root of a `request`, e.g.
// {defect, vin}) is used in that request.
FieldUse FieldUseIn(const google::protobuf::Descriptor* request,
                    const std::vector<const google::protobuf::FieldDescriptor*>& path);

// A REQUIRED field a request leaves unset.
struct MissingField {
  // Path from the request root: "defect.vin", "metadata.sha256", "items[2].name".
  std::string path;
  // Required because the update's update_mask names it.
  bool named_in_mask = false;
  // Set, but only white space (common::IsBlankText).
  bool blank = false;
  // A number at 0 (proto3 sends a 0 as no value at all).
  bool zero = false;
  // "required", or "required: update_mask names it"; a number's ends "0 or none given".
  std::string Description() const;
};

// Every REQUIRED field `request` leaves unset (a scalar at its default, an empty repeated
// field, an absent message), in field order, by FieldUseIn's rules: fields inside an
// absent optional message are not required; inside an absent required message the
// message's own required fields are listed (or the message itself when it has none).
// Output-only fields are not looked at, nor the elements of a field the service judges
// itself (ElementsJudgedByService). Unset means "not present" for fields with
// presence and "default value" (empty, 0, the zero enum) for the others. Works on any
// message (generated or dynamic) by reflection.
std::vector<MissingField> MissingRequiredFields(const google::protobuf::Message& request);

// What CheckFieldBehavior finds.
struct FieldBehaviorFindings {
  std::vector<MissingField> missing;
  // Paths of output-only fields set ("defect.status").
  std::vector<std::string> output_only_set;
  // There are findings past `max_listed` (the walk stopped at the first of them).
  bool more = false;
};

// MissingRequiredFields and, in the same walk, the output-only fields
// (FieldUse::kOutputOnly) a request that is not an update sets, as paths from its root
// ("defect.status", "output.recorded_by"): such a request creates or records something,
// and a value it cannot take is refused rather than dropped unseen. An update's are
// ignored (a read-modify-write sends them back), as AIP-203 says. Lists the first
// `max_listed` findings and stops at the next (`more`): a request of millions of empty
// elements (outside testing: 2.1 million data items in one 4 MiB RegisterMachine, 6.3
// million findings, each written down with its path: 717 MB and 5.6 s a call) costs what
// parsing it costs.
FieldBehaviorFindings CheckFieldBehavior(const google::protobuf::Message& request,
                                         size_t max_listed = SIZE_MAX);

}  // namespace plantmesh::contract
