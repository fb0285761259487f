#include "server/runtime/role_binding_file.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "plantmesh/common/contract.h"
#include "server/runtime/spiffe_id.h"

namespace plantmesh::runtime {
namespace {

// `text` as a JSON string with every character beyond ASCII escaped (\u00a0) and invalid
// UTF-8 replaced: an identity with an invisible character shows it (re-test: the bytes
// were quoted raw, and an invalid byte went raw into the log).
std::string Quoted(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', /*ensure_ascii=*/true,
                                   nlohmann::json::error_handler_t::replace);
}

absl::Status ParseBinding(const nlohmann::json& item, size_t index, std::string_view trust_domain,
                          RoleBinding* binding) {
  const std::string where = absl::StrCat("bindings[", index, "]");
  if (!item.is_object()) return absl::InvalidArgumentError(where + ": must be an object");
  bool has_roles = false;
  const nlohmann::json* roles = nullptr;
  for (const auto& [key, value] : item.items()) {
    if (key == "identity" || key == "identity_prefix") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".", key, ": must be a non-empty string"));
      }
      const std::string text = value.get<std::string>();
      // A binding that no valid identity can match is a mistake in the file, and a prefix
      // must end at a segment boundary: both are refused rather than left to surprise.
      absl::Status valid = absl::OkStatus();
      if (key == "identity_prefix") {
        valid = ValidateSpiffeIdPrefix(text);
      } else if (text != kInsecureIdentity) {
        absl::StatusOr<SpiffeId> id = ParseSpiffeId(text);
        valid = id.ok() && id->path.empty()
                    ? absl::InvalidArgumentError("a SPIFFE ID needs a path (/<kind>/<name>)")
                    : id.status();
      }
      // Of another trust domain it could never match (re-test: a typo in the domain was
      // reloaded as a binding, granting and revoking nothing, without a word).
      if (valid.ok() && !trust_domain.empty() && text != kInsecureIdentity) {
        absl::StatusOr<SpiffeId> id =
            ParseSpiffeId(key == "identity_prefix" ? text.substr(0, text.size() - 1) : text);
        if (id.ok() && std::string_view(id->trust_domain) != trust_domain) {
          valid = absl::InvalidArgumentError(
              absl::StrCat("not in the trust domain ",
                           absl::string_view(trust_domain.data(), trust_domain.size()),
                           ", the only one this server authenticates: it could never match"));
        }
      }
      if (!valid.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".", key, ": ", Quoted(text), ": ", valid.message()));
      }
      (key == "identity" ? binding->identity : binding->identity_prefix) = text;
    } else if (key == "roles") {
      // An empty list is allowed: it grants nothing (how a tool revokes roles).
      if (!value.is_array()) return absl::InvalidArgumentError(where + ".roles: must be an array");
      has_roles = true;
      roles = &value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": unknown key '", key, "' (expected identity or identity_prefix, and roles)"));
    }
  }
  if (binding->identity.empty() == binding->identity_prefix.empty()) {
    return absl::InvalidArgumentError(where + ": needs exactly one of identity, identity_prefix");
  }
  if (!has_roles) return absl::InvalidArgumentError(where + ".roles: required");
  // Roles are checked against the contract's Role enum once the binding's identity is
  // known, so the error names whose binding is wrong: a mistyped role would otherwise
  // grant nothing and deny that identity everything, silently.
  for (size_t r = 0; r < roles->size(); ++r) {
    const nlohmann::json& role = (*roles)[r];
    const std::string whose = absl::StrCat(
        where, " (", binding->identity.empty() ? "identity_prefix " : "identity ",
        Quoted(binding->identity.empty() ? binding->identity_prefix : binding->identity),
        ").roles[", r, "]");
    if (!role.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(whose, ": must be a role name (known: ", contract::KnownRoleNames(), ")"));
    }
    absl::StatusOr<api::v1::Role> known = contract::RoleFromName(role.get<std::string>());
    if (!known.ok())
      return absl::InvalidArgumentError(absl::StrCat(whose, ": ", known.status().message()));
    const std::string name = contract::RoleName(*known);
    if (std::find(binding->roles.begin(), binding->roles.end(), name) != binding->roles.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(whose, ": role ", name, " is listed already: list it once"));
    }
    binding->roles.push_back(name);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadRoleBindingFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("role-bindings: cannot read '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<RoleBindings> RoleBindings::Parse(std::string_view json,
                                                 std::string_view trust_domain) {
  nlohmann::json root;
  // A key given twice in one object: nlohmann keeps the last without a word, so a binding
  // {"identity": A, "roles": [...], "identity": B} granted B what a reader sees for A
  // (outside testing). Found while parsing, named by where it is (`bindings[0]`).
  struct Frame {
    bool object = false;
    std::string path;
    std::set<std::string> keys;  // of an object
    std::string last_key;        // of an object: the key of the value being read
    size_t elements = 0;         // of an array: values read so far
  };
  std::vector<Frame> frames;
  std::string twice;
  struct TooDeep {};
  const nlohmann::json::parser_callback_t check_keys = [&](int /*depth*/,
                                                           nlohmann::json::parse_event_t event,
                                                           nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) &&
        frames.size() >= static_cast<size_t>(kMaxRoleBindingDepth)) {
      throw TooDeep{};  // ends the parse here: no path of every level is built
    }
    if (event == Event::object_start || event == Event::array_start) {
      std::string path;
      if (!frames.empty()) {
        Frame& parent = frames.back();
        path = parent.object
                   ? absl::StrCat(parent.path, parent.path.empty() ? "" : ".", parent.last_key)
                   : absl::StrCat(parent.path, "[", parent.elements, "]");
      }
      frames.push_back({event == Event::object_start, std::move(path), {}, "", 0});
    } else if (event == Event::object_end || event == Event::array_end || event == Event::value) {
      // A value read (a compound one at its end, its frame gone): in an array, one
      // element more.
      if (event != Event::value && !frames.empty()) frames.pop_back();
      if (!frames.empty() && !frames.back().object) ++frames.back().elements;
    } else if (event == Event::key && !frames.empty()) {
      Frame& object = frames.back();
      object.last_key = parsed.get<std::string>();
      if (!object.keys.insert(object.last_key).second && twice.empty()) {
        twice = absl::StrCat("role-bindings: ", object.path.empty() ? "" : object.path + ": ",
                             "key '", object.last_key,
                             "' given twice in one object (JSON keeps one of them without a "
                             "word: write it once)");
      }
    }
    return true;
  };
  try {
    root = nlohmann::json::parse(json, check_keys);
  } catch (const TooDeep&) {
    return absl::InvalidArgumentError(
        absl::StrCat("role-bindings: nested deeper than ", kMaxRoleBindingDepth,
                     " arrays and objects (a role-binding file holds 4)"));
  } catch (const nlohmann::json::exception& e) {
    // Its text says where: "... parse error at line 5, column 3: ..." (outside testing:
    // an operator's trailing comma was reported without a line). Every kind the parser
    // throws, a number beyond a double's range too (out_of_range.406).
    // Control characters of the file's text it quotes are escaped, nothing else
    // (re-test: CHexEscape wrote every quote as \').
    std::string what;
    for (const char c : std::string_view(e.what())) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) {
        absl::StrAppend(&what, "\\x", absl::Hex(byte, absl::kZeroPad2));
      } else {
        what.push_back(c);
      }
    }
    return absl::InvalidArgumentError(absl::StrCat("role-bindings: not valid JSON (", what, ")"));
  }
  if (!twice.empty()) return absl::InvalidArgumentError(twice);
  if (!root.is_object()) return absl::InvalidArgumentError("role-bindings: must be a JSON object");
  RoleBindings result;
  for (const auto& [key, value] : root.items()) {
    if (key != "bindings") {
      return absl::InvalidArgumentError(
          absl::StrCat("role-bindings: unknown key '", key, "' (expected bindings)"));
    }
    if (!value.is_array())
      return absl::InvalidArgumentError("role-bindings: bindings must be an array");
    // Where each identity and prefix is bound: one binding each. Outside testing: an
    // identity bound twice had the roles of both, and an operator who revoked by editing
    // "its" binding left the other in force without a word.
    std::map<std::string, size_t> bound_at;
    for (size_t i = 0; i < value.size(); ++i) {
      RoleBinding binding;
      if (absl::Status parsed = ParseBinding(value[i], i, trust_domain, &binding); !parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("role-bindings: ", parsed.message()));
      }
      const bool prefix = binding.identity.empty();
      const std::string key =
          absl::StrCat(prefix ? "identity_prefix " : "identity ",
                       Quoted(prefix ? binding.identity_prefix : binding.identity));
      if (auto [at, added] = bound_at.emplace(key, i); !added) {
        return absl::InvalidArgumentError(absl::StrCat("role-bindings: bindings[", i, "]: ", key,
                                                       " is bound already by bindings[", at->second,
                                                       "]: give all its roles in one binding"));
      }
      result.bindings_.push_back(std::move(binding));
    }
  }
  // Outside testing: `{}` took every role from everyone, reloaded as a success.
  if (!root.contains("bindings")) {
    return absl::InvalidArgumentError(
        "role-bindings: no bindings key (write {\"bindings\": []} to bind nobody)");
  }
  return result;
}

absl::StatusOr<RoleBindings> RoleBindings::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadRoleBindingFile(path);
  if (!text.ok()) return text.status();
  return Parse(*text);
}

std::vector<std::string> RoleBindings::Overlaps() const {
  std::vector<std::string> overlaps;
  for (size_t i = 0; i < bindings_.size(); ++i) {
    const RoleBinding& bound = bindings_[i];
    const bool exact = !bound.identity.empty();
    const std::string& name = exact ? bound.identity : bound.identity_prefix;
    for (size_t j = 0; j < bindings_.size(); ++j) {
      const std::string& prefix = bindings_[j].identity_prefix;
      if (j == i || prefix.empty() || !absl::StartsWith(name, prefix)) continue;
      overlaps.push_back(absl::StrCat(
          "bindings[", i, "]: ", exact ? "identity " : "identity_prefix ", Quoted(name),
          " is also matched by identity_prefix ", Quoted(prefix), " of bindings[", j,
          "]: its roles add up, and a revocation must take it out of both"));
    }
  }
  return overlaps;
}

std::vector<std::string> RoleBindings::RolesOf(std::string_view identity) const {
  std::vector<std::string> roles;
  for (const RoleBinding& binding : bindings_) {
    const bool matches =
        binding.identity.empty()
            ? identity.substr(0, binding.identity_prefix.size()) == binding.identity_prefix
            : identity == binding.identity;
    if (matches) roles.insert(roles.end(), binding.roles.begin(), binding.roles.end());
  }
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  return roles;
}

}  // namespace plantmesh::runtime
