#include "plantmesh/common/contract.h"

#include <algorithm>
#include <string_view>

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
    case api::v1::TEXT_KIND_CODE:  // server/runtime/text_rules.h, CodePattern
      return absl::StrCat("code: 1-",
                          rule.max_chars() > 0 && rule.max_chars() < 32 ? rule.max_chars() : 32,
                          " characters A-Z, 0-9, '-'");
    case api::v1::TEXT_KIND_MULTI_LINE:
      return absl::StrCat("may span lines", limit.empty() ? "" : "; ", limit);
    default: {  // unspecified or single line (or a kind newer than this build: the base rule)
      const std::string trimmed = rule.no_blanks_around() ? "no blanks around" : "";
      if (limit.empty() && trimmed.empty()) return "";
      return absl::StrCat("one line", limit.empty() ? "" : ", ", limit, trimmed.empty() ? "" : ", ",
                          trimmed);
    }
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

std::set<std::string> FieldsTheMaskNames(const google::protobuf::Message& request) {
  std::set<std::string> named;
  const FieldDescriptor* mask_field = UpdateMaskOf(request.GetDescriptor());
  if (mask_field == nullptr) return named;
  const google::protobuf::Message& mask = request.GetReflection()->GetMessage(request, mask_field);
  const FieldDescriptor* paths = mask.GetDescriptor()->FindFieldByName("paths");
  for (int i = 0; paths != nullptr && i < mask.GetReflection()->FieldSize(mask, paths); ++i) {
    const std::string& path =
        mask.GetReflection()->GetRepeatedStringReference(mask, paths, i, nullptr);
    named.insert(path.substr(0, path.find('.')));
  }
  return named;
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

// The paths an update_mask names, sorted, as views into the request (which outlives the
// walk): a mask of millions of paths is looked up in log time and not copied.
class MaskPaths {
 public:
  void Add(std::string_view path) { paths_.push_back(path); }
  void Seal() { std::sort(paths_.begin(), paths_.end()); }
  // Whether the mask names `path` (relative to the resource): exactly, or by a prefix
  // ("assignment" names "assignment.mechanic_id").
  bool Names(std::string_view path) const {
    for (size_t dot = path.find('.'); dot != std::string_view::npos;
         dot = path.find('.', dot + 1)) {
      if (Has(path.substr(0, dot))) return true;
    }
    return Has(path);
  }

 private:
  bool Has(std::string_view path) const {
    return std::binary_search(paths_.begin(), paths_.end(), path);
  }
  std::vector<std::string_view> paths_;
};

// As protobuf's own parser: deeper nesting is not walked.
constexpr int kMaxDepth = 100;

// Appends to a path kept in one string for the whole walk and takes it back off when it
// goes out of scope: a request of millions of elements builds no string per field.
class PathPart {
 public:
  PathPart(std::string* path, std::string_view name) : path_(path), mark_(path->size()) {
    if (!path->empty()) path->push_back('.');
    path->append(name.data(), name.size());
  }
  PathPart(std::string* path, int index) : path_(path), mark_(path->size()) {
    absl::StrAppend(path, "[", index, "]");
  }
  ~PathPart() { path_->resize(mark_); }
  PathPart(const PathPart&) = delete;
  PathPart& operator=(const PathPart&) = delete;

 private:
  std::string* path_;
  size_t mark_;
};

struct RequiredWalk {
  bool update = false;
  MaskPaths mask;
  FieldBehaviorFindings* out = nullptr;
  size_t max_listed = 0;
  // Findings so far; past max_listed the walk stops (FieldBehaviorFindings::more).
  size_t found = 0;
  // The path of the message being walked from the request root, and from the update's
  // resource (empty outside it).
  std::string path;
  std::string relative;

  bool Stopped() const { return out->more; }
  void Missing(bool named_in_mask, bool blank, bool zero = false) {
    if (++found > max_listed) {
      out->more = true;
    } else {
      out->missing.push_back({path, named_in_mask, blank, zero});
    }
  }
  void OutputOnlySet() {
    if (++found > max_listed) {
      out->more = true;
    } else {
      out->output_only_set.push_back(path);
    }
  }

  // `message` may be a default instance (an absent required message).
  void Walk(const google::protobuf::Message& message, bool in_resource, int depth) {
    if (depth > kMaxDepth) return;
    const Descriptor* type = message.GetDescriptor();
    const google::protobuf::Reflection* reflection = message.GetReflection();
    const FieldDescriptor* update_mask = depth == 0 && update ? UpdateMaskOf(type) : nullptr;
    for (int i = 0; i < type->field_count() && !Stopped(); ++i) {
      const FieldDescriptor* field = type->field(i);
      const OwnUse use = OwnUseOf(field, update, in_resource, in_resource && relative.empty());
      const PathPart at(&path, field->name());
      if (use == OwnUse::kOutputOnly) {
        const bool set = field->is_repeated() ? reflection->FieldSize(message, field) > 0
                                              : reflection->HasField(message, field);
        if (!update && set) OutputOnlySet();
        continue;
      }
      const bool masked = use == OwnUse::kMaskedRequired;
      // Below the resource, paths relative to it continue; outside, they start afresh.
      const size_t relative_mark = relative.size();
      const PathPart relative_at(&relative, field->name());
      const bool required = use == OwnUse::kRequired || (masked && mask.Names(relative));
      if (!in_resource) relative.resize(relative_mark);
      // A root message field of an update (the resource) starts a mask-relative path.
      const bool child_in_resource = in_resource || (depth == 0 && update && field != update_mask);
      if (IsSingularMessage(field)) {
        if (reflection->HasField(message, field)) {
          Walk(reflection->GetMessage(message, field), child_in_resource, depth + 1);
        } else if (required) {
          const size_t before = found;
          Walk(*reflection->GetMessageFactory()->GetPrototype(field->message_type()),
               child_in_resource, depth + 1);
          if (found == before) Missing(masked, false);
        }
        continue;
      }
      if (field->is_repeated()) {
        const int size = reflection->FieldSize(message, field);
        if (required && size == 0) Missing(masked, false);
        // Elements the service judges one by one (elements_judged_by_service) are its own.
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_map() &&
            !ElementsJudgedByService(field)) {
          for (int j = 0; j < size && !Stopped(); ++j) {
            const PathPart element(&path, j);
            Walk(reflection->GetRepeatedMessage(message, field, j), child_in_resource, depth + 1);
          }
        }
        continue;
      }
      if (!required) continue;
      if (!reflection->HasField(message, field)) {
        // A number: proto3 sends no 0, so a 0 given reads as none (outside testing: a photo
        // of size 0 was told its size was "required").
        const auto type = field->cpp_type();
        const bool number = type != FieldDescriptor::CPPTYPE_STRING &&
                            type != FieldDescriptor::CPPTYPE_ENUM &&
                            type != FieldDescriptor::CPPTYPE_BOOL;
        Missing(masked, false, number);
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
                 field->type() == FieldDescriptor::TYPE_STRING) {
        std::string scratch;
        if (common::IsBlankText(reflection->GetStringReference(message, field, &scratch))) {
          Missing(masked, /*blank=*/true);
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
  const std::string required = named_in_mask ? "required: update_mask names it" : "required";
  return zero ? required + (named_in_mask ? "; " : ": ") + "0 or none given" : required;
}

std::vector<MissingField> MissingRequiredFields(const google::protobuf::Message& request) {
  return CheckFieldBehavior(request).missing;
}

FieldBehaviorFindings CheckFieldBehavior(const google::protobuf::Message& request,
                                         size_t max_listed) {
  FieldBehaviorFindings findings;
  RequiredWalk walk;
  walk.out = &findings;
  walk.max_listed = max_listed;
  const FieldDescriptor* update_mask = UpdateMaskOf(request.GetDescriptor());
  walk.update = update_mask != nullptr;
  if (walk.update && request.GetReflection()->HasField(request, update_mask)) {
    const google::protobuf::Message& mask =
        request.GetReflection()->GetMessage(request, update_mask);
    const FieldDescriptor* paths = mask.GetDescriptor()->FindFieldByName("paths");
    const google::protobuf::Reflection* reflection = mask.GetReflection();
    for (int i = 0; paths != nullptr && i < reflection->FieldSize(mask, paths); ++i) {
      walk.mask.Add(reflection->GetRepeatedStringReference(mask, paths, i, nullptr));
    }
    walk.mask.Seal();
  }
  walk.Walk(request, false, 0);
  return findings;
}

}  // namespace plantmesh::contract
