// Who may call what, as the contracts declare it: for every method of every hosted
// service, the roles of its (plantmesh.api.v1.access) option and whether it mutates
// (idempotency_level != NO_SIDE_EFFECTS), read once at start from the generated descriptor
// pool by the contract reader (plantmesh/common/contract.h); a method without the option is
// refused to everyone.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace plantmesh::runtime {

struct MethodAccess {
  std::string full_name;     // "plantmesh.defect.v1.DefectService.AssignDefect"
  std::string display_name;  // "DefectService.AssignDefect" (for messages)
  bool declared = false;     // has an access option; false: nobody may call it
  bool any_authenticated = false;
  // Role names ("qc_engineer", contract::RoleName) in contract order; any one suffices.
  std::vector<std::string> roles;
  std::string roles_text;  // "foreman, admin" (precomputed for denials)
  bool mutating = true;

  // Whether a caller holding `caller_roles` may call the method.
  bool Allows(const std::vector<std::string>& caller_roles) const;
};

class AccessPolicy {
 public:
  AccessPolicy() = default;
  // `services`: fully qualified names, e.g. "plantmesh.defect.v1.DefectService".
  // NOT_FOUND when a service is not in the generated descriptor pool (not linked);
  // INVALID_ARGUMENT naming the method when a contract's access option is invalid
  // (contract::ValidateMethod: deprecated string roles, ROLE_UNSPECIFIED, duplicates).
  static absl::StatusOr<AccessPolicy> FromServices(const std::vector<std::string>& services);

  // nullptr for a method of no hosted service.
  const MethodAccess* Find(std::string_view full_method) const;
  const std::map<std::string, MethodAccess, std::less<>>& methods() const { return methods_; }

 private:
  std::map<std::string, MethodAccess, std::less<>> methods_;
};

}  // namespace plantmesh::runtime
