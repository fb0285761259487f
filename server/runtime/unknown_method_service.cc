#include "server/runtime/unknown_method_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/runtime/errors.h"
#include "server/runtime/grpc_status.h"

namespace plantmesh::runtime {
namespace {

// Ends the call at once; gRPC holds the Finish until the stream is bound.
class RefusingReactor final : public grpc::ServerGenericBidiReactor {
 public:
  explicit RefusingReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

UnknownMethodService::UnknownMethodService(const std::vector<std::string>& served)
    : served_(served), served_text_(absl::StrJoin(served, ", ")) {}

grpc::ServerGenericBidiReactor* UnknownMethodService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  // "/<service>/<method>"; the client's text, so quoted: it cannot change how the
  // message reads.
  const std::string& path = context->method();
  const size_t slash = path.find('/', 1);
  const std::string service =
      path.size() > 1 && slash != std::string::npos ? path.substr(1, slash - 1) : std::string();
  const bool service_served = std::find(served_.begin(), served_.end(), service) != served_.end();
  // As every error a client is told, with a reason (errors.h, ForClient).
  return new RefusingReactor(ToGrpcStatus(WithErrorInfo(
      absl::UnimplementedError(
          service_served
              ? absl::StrCat("this server's version has no method ", QuoteForMessage(path),
                             " (a client built from newer contracts?)")
              : absl::StrCat("this server does not serve ", QuoteForMessage(path), "; it serves ",
                             served_text_,
                             ": check the endpoint (each PlantMesh service listens on its own "
                             "port)")),
      service_served ? "METHOD_NOT_FOUND" : "SERVICE_NOT_SERVED", {{"method", path}})));
}

}  // namespace plantmesh::runtime
