#include "server/runtime/access_policy.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plantmesh/common/contract.h"
#include "plantmesh/common/status_macros.h"

namespace plantmesh::runtime {

bool MethodAccess::Allows(const std::vector<std::string>& caller_roles) const {
  if (!declared) return false;
  if (any_authenticated) return true;
  for (const std::string& role : caller_roles) {
    if (std::find(roles.begin(), roles.end(), role) != roles.end()) return true;
  }
  return false;
}

absl::StatusOr<AccessPolicy> AccessPolicy::FromServices(const std::vector<std::string>& services) {
  AccessPolicy policy;
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& service_name : services) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(service_name);
    if (service == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("service ", service_name, " is not in the generated descriptor pool"));
    }
    // The generator refuses such contracts already; a server never hosts one either.
    PM_RETURN_IF_ERROR(contract::ValidateService(service));
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      const contract::MethodContract declared = contract::MethodContractOf(method);
      MethodAccess access;
      access.full_name = method->full_name();
      access.display_name = absl::StrCat(service->name(), ".", method->name());
      access.declared = declared.declares_access;
      access.any_authenticated = declared.any_authenticated;
      access.roles = declared.RoleNames();
      access.roles_text = declared.any_authenticated ? "any authenticated identity"
                          : access.roles.empty()     ? "(no role may call it)"
                                                     : absl::StrJoin(access.roles, ", ");
      access.mutating = declared.mutating();
      policy.methods_.emplace(access.full_name, std::move(access));
    }
  }
  return policy;
}

const MethodAccess* AccessPolicy::Find(std::string_view full_method) const {
  auto it = methods_.find(full_method);
  return it == methods_.end() ? nullptr : &it->second;
}

}  // namespace plantmesh::runtime
