#include "server/runtime/system_service.h"

#include <utility>

namespace plantmesh::runtime {

SystemService::SystemService(CallPolicy* policy, Executor* executor,
                             std::vector<std::string> hosted_services, std::string server_version)
    : SystemServiceBase(policy, executor),
      hosted_services_(std::move(hosted_services)),
      server_version_(std::move(server_version)) {
  // WhoAmI reads only the call's context and this object: nothing that blocks.
  RunWhoAmIInline();
}

absl::Status SystemService::HandleWhoAmI(CallContext& call, const system::v1::WhoAmIRequest&,
                                         system::v1::WhoAmIResponse* response) {
  response->set_identity(call.identity);
  for (const std::string& role : call.roles) response->add_roles(role);
  for (const std::string& service : hosted_services_) response->add_services(service);
  response->set_server_version(server_version_);
  return absl::OkStatus();
}

}  // namespace plantmesh::runtime
