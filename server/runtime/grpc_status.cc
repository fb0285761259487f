#include "server/runtime/grpc_status.h"

#include <string>

#include "absl/strings/cord.h"
#include "plantmesh/api/v1/error_details.pb.h"

namespace plantmesh::runtime {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbers; codes outside them pass through.
  const auto code = static_cast<grpc::StatusCode>(status.code());
  const std::string message(status.message());
  bool has_payloads = false;
  status.ForEachPayload([&](absl::string_view, const absl::Cord&) { has_payloads = true; });
  if (!has_payloads) return grpc::Status(code, message);

  api::v1::Status rich;
  rich.set_code(static_cast<int32_t>(status.code()));
  rich.set_message(message);
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    google::protobuf::Any* detail = rich.add_details();
    detail->set_type_url(std::string(type_url));
    detail->set_value(std::string(payload));
  });
  return grpc::Status(code, message, rich.SerializeAsString());
}

}  // namespace plantmesh::runtime
