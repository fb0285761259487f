// The server's role-binding file, as `plantctl pki issue --role` maintains it:
//   {"bindings":[{"identity":"spiffe://plantmesh.local/user/anna","roles":["foreman"]}]}
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace plantmesh::pki {

// Sets the roles of `identity` in the binding file (created when missing), replacing
// the roles it had; other entries and unknown keys are kept. Written atomically.
// Roles are names of the contract's Role enum ("qc_engineer", contract::RoleName):
// INVALID_ARGUMENT, with nothing written, for an unknown one in `roles` or in a binding
// already in the file (naming that binding).
absl::Status BindRoles(const std::string& bindings_file, const std::string& identity,
                       const std::vector<std::string>& roles);

// What BindRoles would write, every check made, nothing written: so that `pki issue`
// refuses a role or a file before it writes a certificate.
absl::StatusOr<std::string> BoundRolesText(const std::string& bindings_file,
                                           const std::string& identity,
                                           const std::vector<std::string>& roles);

// Where other bindings of `text` (a binding file) also match `identity` by prefix, so its
// roles add up, as the servers log it at every load (runtime::RoleBindings::Overlaps).
std::vector<std::string> OverlapsOf(const std::string& text, const std::string& identity);

}  // namespace plantmesh::pki
