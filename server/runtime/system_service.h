// plantmesh.system.v1.SystemService: diagnostics every plantmesh-server hosts.
#pragma once

#include <string>
#include <vector>

#include "plantmesh/system/v1/system_service.pm_server.h"

namespace plantmesh::runtime {

inline constexpr char kSystemServiceName[] = "plantmesh.system.v1.SystemService";

class SystemService final : public system::v1::SystemServiceBase {
 public:
  // `hosted_services`: fully qualified names reported by WhoAmI. WhoAmI's handler
  // blocks on nothing and runs on gRPC's thread (RunWhoAmIInline); `executor` is for any
  // method added later. Both pointers outlive the service.
  SystemService(CallPolicy* policy, Executor* executor, std::vector<std::string> hosted_services,
                std::string server_version);

 protected:
  absl::Status HandleWhoAmI(CallContext& call, const system::v1::WhoAmIRequest& request,
                            system::v1::WhoAmIResponse* response) override;

 private:
  std::vector<std::string> hosted_services_;
  std::string server_version_;
};

}  // namespace plantmesh::runtime
