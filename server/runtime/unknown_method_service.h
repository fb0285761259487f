// Answers a call to a method this server does not serve: UNIMPLEMENTED naming the
// services it does serve, or, for a method of one of them, that this server's version
// has no such method (a client built from newer contracts). gRPC's own answer has an empty message,
// and with a port per service the likeliest mistake of a new client is the wrong port (outside
// testing: a DefectClient pointed at the planning server got "UNIMPLEMENTED" and nothing else).
#pragma once

#include <grpcpp/generic/async_generic_service.h>

#include <string>
#include <vector>

namespace plantmesh::runtime {

class UnknownMethodService final : public grpc::CallbackGenericService {
 public:
  // `served`: the fully qualified names of the services on this port.
  explicit UnknownMethodService(const std::vector<std::string>& served);

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;

 private:
  const std::vector<std::string> served_;
  const std::string served_text_;
};

}  // namespace plantmesh::runtime
