#include "cli/role_bindings.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cli/atomic_file.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/contract.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/role_binding_file.h"
#include "server/runtime/spiffe_id.h"

namespace plantmesh::pki {
namespace {

// OK when the server would load `text` (runtime::RoleBindings::Parse); else why, naming
// the file, with nothing written.
absl::Status ServerReads(const std::string& bindings_file, const std::string& text,
                         std::string_view trust_domain) {
  absl::StatusOr<runtime::RoleBindings> read = runtime::RoleBindings::Parse(text, trust_domain);
  if (read.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      bindings_file, ": ", absl::StripPrefix(read.status().message(), "role-bindings: "),
      "; the server would refuse it; not changing it"));
}

}  // namespace

absl::StatusOr<std::string> BoundRolesText(const std::string& bindings_file,
                                           const std::string& identity,
                                           const std::vector<std::string>& roles) {
  // The servers' trust domain is the bound identity's (the CA issues one): a binding of
  // another could never match, and the server refuses it.
  absl::StatusOr<runtime::SpiffeId> bound = runtime::ParseSpiffeId(identity);
  const std::string trust_domain = bound.ok() ? bound->trust_domain : std::string();
  nlohmann::json document = nlohmann::json::object();
  std::ifstream in(bindings_file);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    // Read as the server reads it (outside testing: a key given twice, an unknown key, an
    // identity the server refuses and 5,000 nested arrays were kept and reported bound,
    // and the server then kept its old bindings, or another meaning of the file).
    if (absl::Status readable = ServerReads(bindings_file, text.str(), trust_domain);
        !readable.ok()) {
      return readable;
    }
    document = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded() || !document.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(bindings_file, " is not a JSON object; not changing it"));
    }
  }
  nlohmann::json& bindings = document["bindings"];
  if (bindings.is_null()) bindings = nlohmann::json::array();
  if (!bindings.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(bindings_file, ": \"bindings\" is not an array; not changing it"));
  }
  // Roles are the names of the contract's Role enum: a mistyped one would grant nothing,
  // and the server refuses the whole file, so it is refused here before anything is written.
  for (size_t r = 0; r < roles.size(); ++r) {
    absl::StatusOr<api::v1::Role> known = contract::RoleFromName(roles[r]);
    if (!known.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--role ", roles[r], " for ", identity, ": ",
                                                     known.status().message(), "; not changing ",
                                                     bindings_file));
    }
  }
  // Checked before any access: nlohmann's typed accessors throw on a wrong type,
  // and a hand-edited file must yield an error, not an abort.
  for (size_t i = 0; i < bindings.size(); ++i) {
    const nlohmann::json& entry = bindings[i];
    const std::string where = absl::StrCat(bindings_file, ": bindings[", i, "]");
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " is not an object; not changing it"));
    }
    // An entry binds an identity, or (the server's other form) an identity_prefix.
    auto found_identity = entry.find("identity");
    const char* key = "identity";
    if (found_identity == entry.end()) {
      found_identity = entry.find("identity_prefix");
      key = "identity_prefix";
    }
    if (found_identity == entry.end() || !found_identity->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where,
          ": \"identity\" (or \"identity_prefix\") is missing or not a string; not changing it"));
    }
    auto found_roles = entry.find("roles");
    if (found_roles != entry.end() && !found_roles->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"roles\" is not an array; not changing it"));
    }
    // A binding already in the file with an unknown role makes the server refuse the file:
    // say which one, rather than write a file the server will not load.
    if (found_roles == entry.end()) continue;
    for (size_t r = 0; r < found_roles->size(); ++r) {
      const nlohmann::json& role = (*found_roles)[r];
      absl::Status known = role.is_string()
                               ? contract::RoleFromName(role.get<std::string>()).status()
                               : absl::InvalidArgumentError(absl::StrCat(
                                     "not a role name (known: ", contract::KnownRoleNames(), ")"));
      if (!known.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " (", key, " ", found_identity->dump(), ").roles[", r,
                         "]: ", known.message(), "; not changing it"));
      }
    }
  }
  // Each role once, as the server takes them (a file that binds an identity twice was
  // refused above, as the server refuses it).
  std::vector<std::string> unique_roles;
  for (const std::string& role : roles) {
    if (std::find(unique_roles.begin(), unique_roles.end(), role) == unique_roles.end()) {
      unique_roles.push_back(role);
    }
  }
  bool found = false;
  for (nlohmann::json& entry : bindings) {
    auto entry_identity = entry.find("identity");
    if (entry_identity != entry.end() &&
        entry_identity->get_ref<const std::string&>() == identity) {
      entry["roles"] = unique_roles;
      found = true;
    }
  }
  if (!found) bindings.push_back({{"identity", identity}, {"roles", unique_roles}});
  std::string text;
  try {
    text = document.dump(2) + "\n";
  } catch (const nlohmann::json::type_error& error) {  // invalid UTF-8 in an argument
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write ", bindings_file, ": ", error.what()));
  }
  PM_RETURN_IF_ERROR(ServerReads(bindings_file, text, trust_domain));
  return text;
}

absl::Status BindRoles(const std::string& bindings_file, const std::string& identity,
                       const std::vector<std::string>& roles) {
  PM_ASSIGN_OR_RETURN(std::string text, BoundRolesText(bindings_file, identity, roles));
  return WriteFileAtomically(bindings_file, text, 0644);
}

std::vector<std::string> OverlapsOf(const std::string& text, const std::string& identity) {
  std::vector<std::string> overlaps;
  absl::StatusOr<runtime::RoleBindings> read = runtime::RoleBindings::Parse(text);
  if (!read.ok()) return overlaps;
  const std::string quoted = absl::StrCat("identity \"", identity, "\"");
  for (std::string& overlap : read->Overlaps()) {
    if (absl::StrContains(overlap, quoted)) overlaps.push_back(std::move(overlap));
  }
  return overlaps;
}

}  // namespace plantmesh::pki
