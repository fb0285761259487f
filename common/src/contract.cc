#include "plantmesh/common/contract.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

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

}  // namespace plantmesh::contract
