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
  bool found = false;
  for (nlohmann::json& entry : bindings) {
    if (entry.is_object() && entry.value("identity", "") == identity) {
      entry["roles"] = roles;
      found = true;
    }
  }
  if (!found) bindings.push_back({{"identity", identity}, {"roles", roles}});
  return WriteFileAtomically(bindings_file, document.dump(2) + "\n", 0644);
}

}  // namespace plantmesh::pki
