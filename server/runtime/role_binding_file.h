// Who has which roles: a JSON role-binding file, e.g.
//   {"bindings": [
//     {"identity": "spiffe://plantmesh.local/user/anna", "roles": ["foreman"]},
//     {"identity_prefix": "spiffe://plantmesh.local/service/", "roles": ["integrator"]}]}
// An identity gets the union of the roles of every binding that matches it exactly or
// by prefix. Identities must be valid SPIFFE IDs with a path (spiffe_id.h) or exactly
// "insecure:local"; a prefix must be a valid SPIFFE ID followed by '/', so it matches
// whole path segments (callers' identities are validated before they are looked up). Roles are
// the names of the contract's Role enum (plantmesh.api.v1.Role: ROLE_QC_ENGINEER is
// "qc_engineer"; contract::RoleName); anything else, and any unknown key, makes the file invalid
// with an error naming the binding; an empty roles list grants nothing. With --insecure every
// caller is "insecure:local", which gets the roles of a binding for that identity (none without
// one).
//
// The file's reader alone (no gRPC, no logging): the server and `plantctl pki issue` read
// a file with it, so plantctl refuses what the server would refuse.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace plantmesh::runtime {

// Arrays and objects inside one another a file may hold (a role-binding file holds 4:
// the file, bindings, a binding, its roles); deeper is refused at once (outside testing:
// 60,000 nested arrays took the reloader 5 GB and seconds, with revocations waiting).
inline constexpr int kMaxRoleBindingDepth = 16;

// The identity of every caller of a server started with --insecure.
inline constexpr std::string_view kInsecureIdentity = "insecure:local";

struct RoleBinding {
  std::string identity;         // exact match, or
  std::string identity_prefix;  // prefix match (exactly one of the two is set)
  std::vector<std::string> roles;
};

// One validated, immutable version of the role-binding file.
class RoleBindings {
 public:
  RoleBindings() = default;
  // INVALID_ARGUMENT naming the offending binding and key, a key given twice, a file
  // nested deeper than kMaxRoleBindingDepth, and (with `trust_domain`) an identity or
  // prefix of another trust domain, which could never match.
  static absl::StatusOr<RoleBindings> Parse(std::string_view json,
                                            std::string_view trust_domain = {});
  static absl::StatusOr<RoleBindings> Load(const std::string& path);

  // Sorted, without duplicates.
  std::vector<std::string> RolesOf(std::string_view identity) const;
  // Each binding whose identity (or prefix) another binding's prefix also matches, said
  // for the operator: `bindings[0]: identity "…/user/casey" is also matched by
  // identity_prefix "…/user/" of bindings[1]: its roles add up, and a revocation must take
  // it out of both`. Allowed (a prefix's base role and an identity's own are a common
  // plan), but said at every load (outside testing: removing the exact binding, the
  // natural revocation, left the prefix's roles in force without a word).
  std::vector<std::string> Overlaps() const;
  const std::vector<RoleBinding>& bindings() const { return bindings_; }

 private:
  std::vector<RoleBinding> bindings_;
};

// The file's text; NOT_FOUND "role-bindings: cannot read '<path>'".
absl::StatusOr<std::string> ReadRoleBindingFile(const std::string& path);

}  // namespace plantmesh::runtime
