#include "server/runtime/unknown_method_service.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/runtime/errors.h"

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
    : served_(absl::StrJoin(served, ", ")) {}

grpc::ServerGenericBidiReactor* UnknownMethodService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  // The method is the client's text: quoted, so that it cannot change how the message reads.
  return new RefusingReactor(grpc::Status(
      grpc::StatusCode::UNIMPLEMENTED,
      absl::StrCat("this server does not serve ", QuoteForMessage(context->method()),
                   "; it serves ", served_,
                   ": check the endpoint (each PlantMesh service listens on its own port)")));
}

}  // namespace plantmesh::runtime
