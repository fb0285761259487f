#include "plantmesh/common/contract.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plantmesh/common/blank_text.h"

namespace plantmesh::contract {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::MethodOptions;

constexpr absl::string_view kRolePrefix = "ROLE_";

bool IsKnownRole(int number) {
  return number != api::v1::ROLE_UNSPECIFIED && api::v1::Role_IsValid(number);
}

}  // namespace

std::string RoleName(api::v1::Role role) {
  if (!IsKnownRole(role)) return "";
  return absl::AsciiStrToLower(
      absl::string_view(api::v1::Role_Name(role)).substr(kRolePrefix.size()));
}

absl::StatusOr<api::v1::Role> RoleFromName(absl::string_view name) {
  for (api::v1::Role role : AllRoles()) {
    if (RoleName(role) == name) return role;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role \"", name, "\" (known: ", KnownRoleNames(), ")"));
}

const std::vector<api::v1::Role>& AllRoles() {
  static const auto* const roles = [] {
    auto* all = new std::vector<api::v1::Role>();
    const google::protobuf::EnumDescriptor* type = api::v1::Role_descriptor();
    for (int i = 0; i < type->value_count(); ++i) {
      if (type->value(i)->number() == api::v1::ROLE_UNSPECIFIED) continue;
      all->push_back(static_cast<api::v1::Role>(type->value(i)->number()));
    }
    return all;
  }();
  return *roles;
}

std::string KnownRoleNames() {
  std::vector<std::string> names;
  for (api::v1::Role role : AllRoles()) names.push_back(RoleName(role));
  return absl::StrJoin(names, ", ");
}

bool MethodContract::mutating() const { return idempotency != MethodOptions::NO_SIDE_EFFECTS; }

bool MethodContract::retry_safe() const {
  return idempotency == MethodOptions::NO_SIDE_EFFECTS || idempotency == MethodOptions::IDEMPOTENT;
}

bool MethodContract::Allows(api::v1::Role role) const {
  if (!declares_access) return false;
  if (any_authenticated) return true;
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

bool MethodContract::AllowsAnyOf(const std::vector<std::string>& role_names) const {
  if (!declares_access) return false;
  if (any_authenticated) return true;
  for (const std::string& name : role_names) {
    absl::StatusOr<api::v1::Role> role = RoleFromName(name);
    if (role.ok() && Allows(*role)) return true;
  }
  return false;
}

std::vector<std::string> MethodContract::RoleNames() const {
  std::vector<std::string> names;
  for (api::v1::Role role : roles) names.push_back(RoleName(role));
  return names;
}

std::string MethodContract::WhoMayCall() const {
  if (declares_access && any_authenticated) return "any authenticated identity";
  if (!declares_access || roles.empty()) return "none (refused to everyone)";
  return absl::StrJoin(RoleNames(), ", ");
}

MethodContract MethodContractOf(const MethodDescriptor* method) {
  MethodContract contract;
  const MethodOptions& options = method->options();
  contract.idempotency = options.idempotency_level();
  if (!options.HasExtension(api::v1::access)) return contract;
  const api::v1::AccessRule& rule = options.GetExtension(api::v1::access);
  contract.declares_access = true;
  contract.any_authenticated = rule.any_authenticated();
  for (int number : rule.allowed_roles()) {
    if (IsKnownRole(number)) contract.roles.push_back(static_cast<api::v1::Role>(number));
  }
  return contract;
}

absl::Status ValidateMethod(const MethodDescriptor* method) {
  const MethodOptions& options = method->options();
  if (!options.HasExtension(api::v1::access)) return absl::OkStatus();
  const api::v1::AccessRule& rule = options.GetExtension(api::v1::access);
  const std::string where = absl::StrCat(method->full_name(), ": (plantmesh.api.v1.access)");
  // Deprecated, but still read here: a contract that sets it means to grant something.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const int legacy_roles = rule.roles_size();
#pragma GCC diagnostic pop
  if (legacy_roles > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " sets the deprecated string `roles`; name the roles in `allowed_roles` (e.g. ",
        "allowed_roles: [ROLE_FOREMAN, ROLE_ADMIN])"));
  }
  std::vector<int> seen;
  for (int number : rule.allowed_roles()) {
    if (!IsKnownRole(number)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": allowed_roles has ",
                                                     number == api::v1::ROLE_UNSPECIFIED
                                                         ? std::string("ROLE_UNSPECIFIED")
                                                         : absl::StrCat("unknown role ", number),
                                                     " (known: ", KnownRoleNames(), ")"));
    }
    if (std::find(seen.begin(), seen.end(), number) != seen.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": allowed_roles lists ",
                       api::v1::Role_Name(static_cast<api::v1::Role>(number)), " twice"));
    }
    seen.push_back(number);
  }
  return absl::OkStatus();
}

absl::Status ValidateService(const google::protobuf::ServiceDescriptor* service) {
  for (int i = 0; i < service->method_count(); ++i) {
    if (absl::Status valid = ValidateMethod(service->method(i)); !valid.ok()) return valid;
  }
  return absl::OkStatus();
}

std::string RequestIdField::Path() const {
  if (field == nullptr) return "";
  if (parent == nullptr) return field->name();
  return absl::StrCat(parent->name(), ".", field->name());
}

const FieldDescriptor* RootRequestId(const Descriptor* request) {
  const FieldDescriptor* field = request->FindFieldByName("request_id");
  if (field == nullptr || field->is_repeated() || field->type() != FieldDescriptor::TYPE_STRING) {
    return nullptr;
  }
  return field;
}

RequestIdField RequestIdOf(const Descriptor* request) {
  RequestIdField found;
  found.field = RootRequestId(request);
  // One level down, for requests whose id sits in a header message (a client stream's
  // first message carries `metadata`, the chunks after it do not).
  for (int i = 0; i < request->field_count() && found.field == nullptr; ++i) {
    const FieldDescriptor* field = request->field(i);
    if (field->type() != FieldDescriptor::TYPE_MESSAGE || field->is_repeated()) continue;
    found.field = RootRequestId(field->message_type());
    if (found.field != nullptr) found.parent = field;
  }
  return found;
}

bool IdempotentByRequestId(const MethodDescriptor* method) {
  return method->options().idempotency_level() == MethodOptions::IDEMPOTENT &&
         RequestIdOf(method->input_type()).field != nullptr;
}

bool ElementsJudgedByService(const FieldDescriptor* field) {
  return field->is_repeated() && !field->is_map() &&
         field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
         field->options().GetExtension(api::v1::elements_judged_by_service);
}

const api::v1::TextRule& TextRuleOf(const FieldDescriptor* field) {
  return field->options().GetExtension(api::v1::text);
}

std::string DescribeTextRule(const api::v1::TextRule& rule) {
  const std::string limit =
      rule.max_chars() > 0 ? absl::StrCat("at most ", rule.max_chars(), " characters") : "";
  switch (rule.kind()) {
    case api::v1::TEXT_KIND_CODE:
      return "code: 1-32 characters A-Z, 0-9, '-'";
    case api::v1::TEXT_KIND_MULTI_LINE:
      return absl::StrCat("may span lines", limit.empty() ? "" : "; ", limit);
    default:  // unspecified or single line (or a kind newer than this build: the base rule)
      return limit.empty() ? "" : absl::StrCat("one line, ", limit);
  }
}

const FieldDescriptor* FileChunkFieldOf(const Descriptor* type) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->type() == FieldDescriptor::TYPE_BYTES &&
        field->options().HasExtension(api::v1::file_chunk)) {
      return field;
    }
  }
  return nullptr;
}

const api::v1::FileChunk& FileChunkOf(const FieldDescriptor* field) {
  return field->options().GetExtension(api::v1::file_chunk);
}

// ---- Field behaviour ------------------------------------------------------------------

bool HasFieldBehavior(const FieldDescriptor* field, api::v1::FieldBehavior behavior) {
  const auto& declared = field->options().GetRepeatedExtension(api::v1::field_behavior);
  return std::find(declared.begin(), declared.end(), behavior) != declared.end();
}

const FieldDescriptor* UpdateMaskOf(const Descriptor* request) {
  const FieldDescriptor* mask = request->FindFieldByName("update_mask");
  if (mask == nullptr || mask->is_repeated() || mask->type() != FieldDescriptor::TYPE_MESSAGE ||
      mask->message_type()->full_name() != "google.protobuf.FieldMask") {
    return nullptr;
  }
  return mask;
}

namespace {

// How one field behaves where it stands, before its ancestors are considered.
enum class OwnUse { kOptional, kRequired, kMaskedRequired, kOutputOnly };

// Whether `field`, a field of an update's resource itself, names the resource to change: a
// resource without an IDENTIFIER is named by its REQUIRED and IMMUTABLE fields (a machine
// by the plant code its caller chose), which no update can change and every update needs.
bool NamesUpdatedResource(const FieldDescriptor* field) {
  if (!HasFieldBehavior(field, api::v1::FIELD_BEHAVIOR_IMMUTABLE)) return false;
  const Descriptor* resource = field->containing_type();
  for (int i = 0; i < resource->field_count(); ++i) {
    if (HasFieldBehavior(resource->field(i), api::v1::FIELD_BEHAVIOR_IDENTIFIER)) return false;
  }
  return true;
}

// `in_update_resource`: the field is inside a root message field of an update request
// (other than update_mask itself), where REQUIRED depends on the mask; `at_resource_root`:
// it is a field of that root message itself.
OwnUse OwnUseOf(const FieldDescriptor* field, bool update, bool in_update_resource,
                bool at_resource_root) {
  if (HasFieldBehavior(field, api::v1::FIELD_BEHAVIOR_OUTPUT_ONLY)) return OwnUse::kOutputOnly;
  if (HasFieldBehavior(field, api::v1::FIELD_BEHAVIOR_IDENTIFIER)) {
    return update ? OwnUse::kRequired : OwnUse::kOutputOnly;
  }
  if (HasFieldBehavior(field, api::v1::FIELD_BEHAVIOR_REQUIRED)) {
    const bool masked = in_update_resource && !(at_resource_root && NamesUpdatedResource(field));
    return masked ? OwnUse::kMaskedRequired : OwnUse::kRequired;
  }
  return OwnUse::kOptional;
}

bool IsSingularMessage(const FieldDescriptor* field) {
  return field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated();
}

// Whether an update_mask path list names `path` (relative to the resource): exactly, or by
// a prefix ("assignment" names "assignment.mechanic_id").
bool MaskNames(const std::vector<std::string>& mask, const std::string& path) {
  for (const std::string& named : mask) {
    if (named == path || absl::StartsWith(path, named + ".")) return true;
  }
  return false;
}

// As protobuf's own parser: deeper nesting is not walked.
constexpr int kMaxDepth = 100;

struct RequiredWalk {
  bool update = false;
  std::vector<std::string> mask;
  std::vector<MissingField>* out = nullptr;
  // Outside an update: the output-only fields the request sets (paths), when not null.
  std::vector<std::string>* output_only_set = nullptr;

  // `message` may be a default instance (an absent required message). `resource_prefix`:
  // the path of `message` relative to the update's resource (empty at the resource itself
  // and outside one).
  void Walk(const google::protobuf::Message& message, const std::string& prefix, bool in_resource,
            const std::string& resource_prefix, int depth) {
    if (depth > kMaxDepth) return;
    const Descriptor* type = message.GetDescriptor();
    const google::protobuf::Reflection* reflection = message.GetReflection();
    const FieldDescriptor* update_mask = depth == 0 && update ? UpdateMaskOf(type) : nullptr;
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* field = type->field(i);
      const OwnUse use =
          OwnUseOf(field, update, in_resource, in_resource && resource_prefix.empty());
      const std::string path =
          prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
      if (use == OwnUse::kOutputOnly) {
        const bool set = field->is_repeated() ? reflection->FieldSize(message, field) > 0
                                              : reflection->HasField(message, field);
        if (output_only_set != nullptr && !update && set) output_only_set->push_back(path);
        continue;
      }
      const std::string relative = resource_prefix.empty()
                                       ? field->name()
                                       : absl::StrCat(resource_prefix, ".", field->name());
      const bool masked = use == OwnUse::kMaskedRequired;
      const bool required = use == OwnUse::kRequired || (masked && MaskNames(mask, relative));
      // A root message field of an update (the resource) starts a mask-relative path.
      const bool child_in_resource = in_resource || (depth == 0 && update && field != update_mask);
      const std::string child_resource_prefix = in_resource ? relative : "";
      if (IsSingularMessage(field)) {
        if (reflection->HasField(message, field)) {
          Walk(reflection->GetMessage(message, field), path, child_in_resource,
               child_resource_prefix, depth + 1);
        } else if (required) {
          const size_t before = out->size();
          Walk(*reflection->GetMessageFactory()->GetPrototype(field->message_type()), path,
               child_in_resource, child_resource_prefix, depth + 1);
          if (out->size() == before) out->push_back({path, masked});
        }
        continue;
      }
      if (field->is_repeated()) {
        const int size = reflection->FieldSize(message, field);
        if (required && size == 0) out->push_back({path, masked});
        // Elements the service judges one by one (elements_judged_by_service) are its own.
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_map() &&
            !ElementsJudgedByService(field)) {
          for (int j = 0; j < size; ++j) {
            Walk(reflection->GetRepeatedMessage(message, field, j), absl::StrCat(path, "[", j, "]"),
                 child_in_resource, child_resource_prefix, depth + 1);
          }
        }
        continue;
      }
      if (!required) continue;
      if (!reflection->HasField(message, field)) {
        out->push_back({path, masked});
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
                 field->type() == FieldDescriptor::TYPE_STRING) {
        std::string scratch;
        if (common::IsBlankText(reflection->GetStringReference(message, field, &scratch))) {
          out->push_back({path, masked, /*blank=*/true});
        }
      }
    }
  }
};

}  // namespace

FieldUse FieldUseIn(const Descriptor* request, const std::vector<const FieldDescriptor*>& path) {
  if (path.empty()) return FieldUse::kOptional;
  const FieldDescriptor* update_mask = UpdateMaskOf(request);
  const bool update = update_mask != nullptr;
  bool ancestors_required = true;
  for (size_t i = 0; i < path.size(); ++i) {
    const bool in_resource = update && i > 0 && path[0] != update_mask;
    const OwnUse use = OwnUseOf(path[i], update, in_resource, in_resource && i == 1);
    if (use == OwnUse::kOutputOnly) return FieldUse::kOutputOnly;
    if (i + 1 < path.size()) {
      // An ancestor that is itself required (or the update's resource, whose fields the
      // mask governs) is always present.
      const bool resource_root = update && i == 0 && path[0] != update_mask;
      if (use != OwnUse::kRequired && !resource_root) ancestors_required = false;
      continue;
    }
    switch (use) {
      case OwnUse::kRequired:
        return ancestors_required ? FieldUse::kRequired : FieldUse::kRequiredWithParent;
      case OwnUse::kMaskedRequired:
        return FieldUse::kRequiredIfMasked;
      default:
        return FieldUse::kOptional;
    }
  }
  return FieldUse::kOptional;
}

std::string MissingField::Description() const {
  if (blank) {
    return named_in_mask
               ? "required: update_mask names it; only white space or invisible characters given"
               : "required: only white space or invisible characters given";
  }
  return named_in_mask ? "required: update_mask names it" : "required";
}

std::vector<MissingField> MissingRequiredFields(const google::protobuf::Message& request) {
  std::vector<MissingField> missing;
  CheckFieldBehavior(request, &missing, nullptr);
  return missing;
}

void CheckFieldBehavior(const google::protobuf::Message& request,
                        std::vector<MissingField>* missing,
                        std::vector<std::string>* output_only_set) {
  RequiredWalk walk;
  walk.out = missing;
  walk.output_only_set = output_only_set;
  const FieldDescriptor* update_mask = UpdateMaskOf(request.GetDescriptor());
  walk.update = update_mask != nullptr;
  if (walk.update && request.GetReflection()->HasField(request, update_mask)) {
    const google::protobuf::Message& mask =
        request.GetReflection()->GetMessage(request, update_mask);
    const FieldDescriptor* paths = mask.GetDescriptor()->FindFieldByName("paths");
    if (paths != nullptr) {
      for (int i = 0; i < mask.GetReflection()->FieldSize(mask, paths); ++i) {
        walk.mask.push_back(mask.GetReflection()->GetRepeatedString(mask, paths, i));
      }
    }
  }
  walk.Walk(request, "", false, "", 0);
}

}  // namespace plantmesh::contract
