#include "cli/role_bindings.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/atomic_file.h"
#include "nlohmann/json.hpp"

namespace plantmesh::pki {

absl::Status BindRoles(const std::string& bindings_file, const std::string& identity,
                       const std::vector<std::string>& roles) {
  nlohmann::json document = nlohmann::json::object();
  std::ifstream in(bindings_file);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
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
  // Checked before any access: nlohmann's typed accessors throw on a wrong type,
  // and a hand-edited file must yield an error, not an abort.
  for (size_t i = 0; i < bindings.size(); ++i) {
    const nlohmann::json& entry = bindings[i];
    const std::string where = absl::StrCat(bindings_file, ": bindings[", i, "]");
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " is not an object; not changing it"));
    }
    auto found_identity = entry.find("identity");
    if (found_identity == entry.end() || !found_identity->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"identity\" is missing or not a string; not changing it"));
    }
    auto found_roles = entry.find("roles");
    if (found_roles != entry.end() && !found_roles->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"roles\" is not an array; not changing it"));
    }
  }
  bool found = false;
  for (nlohmann::json& entry : bindings) {
    if (entry["identity"].get_ref<const std::string&>() == identity) {
      entry["roles"] = roles;
      found = true;
    }
  }
  if (!found) bindings.push_back({{"identity", identity}, {"roles", roles}});
  std::string text;
  try {
    text = document.dump(2) + "\n";
  } catch (const nlohmann::json::type_error& error) {  // invalid UTF-8 in an argument
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write ", bindings_file, ": ", error.what()));
  }
  return WriteFileAtomically(bindings_file, text, 0644);
}

}  // namespace plantmesh::pki
