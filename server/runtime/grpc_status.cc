#include "server/runtime/grpc_status.h"

#include <grpcpp/server_context.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "plantmesh/api/v1/error_details.pb.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbers; codes outside them pass through.
  const auto code = static_cast<grpc::StatusCode>(status.code());
  const std::string message(status.message());
  // In a fixed order (absl iterates payloads in an unspecified one: outside testing, the
  // same request's details came in either order), and only the google.rpc ones: a
  // payload of another type URL marks a status for the server itself.
  std::vector<std::pair<std::string, std::string>> details;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    if (absl::StartsWith(type_url, absl::string_view(kGoogleRpcTypeUrlPrefix.data(),
                                                     kGoogleRpcTypeUrlPrefix.size()))) {
      details.emplace_back(std::string(type_url), std::string(payload));
    }
  });
  if (details.empty()) return grpc::Status(code, message);
  std::sort(details.begin(), details.end(), [](const auto& a, const auto& b) {
    const bool a_info = a.first == kErrorInfoTypeUrl;
    const bool b_info = b.first == kErrorInfoTypeUrl;
    return a_info != b_info ? a_info : a.first < b.first;
  });
  api::v1::Status rich;
  rich.set_code(static_cast<int32_t>(status.code()));
  rich.set_message(message);
  for (auto& [type_url, value] : details) {
    google::protobuf::Any* detail = rich.add_details();
    detail->set_type_url(std::move(type_url));
    detail->set_value(std::move(value));
  }
  return grpc::Status(code, message, rich.SerializeAsString());
}

void AddRetryPushback(grpc::ServerContextBase* context, const absl::Status& sent) {
  if (context == nullptr) return;
  const std::optional<absl::Duration> delay = RetryDelayOf(sent);
  if (!delay) return;
  context->AddTrailingMetadata("grpc-retry-pushback-ms",
                               absl::StrCat(absl::ToInt64Milliseconds(*delay)));
}

}  // namespace plantmesh::runtime
