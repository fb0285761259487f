#include "plantmesh/sdk/internal/calls.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace plantmesh::sdk::internal {
namespace {

void AddMetadata(const CallOptions& call_options, grpc::ClientContext* context) {
  for (const auto& [key, value] : call_options.metadata) context->AddMetadata(key, value);
}

bool HasDeadline(const CallOptions& call_options) {
  return call_options.deadline != absl::InfiniteFuture();
}

}  // namespace

void PrepareUnaryContext(const ClientOptions& options, const CallOptions& call_options,
                         grpc::ClientContext* context) {
  const absl::Time deadline =
      HasDeadline(call_options) ? call_options.deadline : absl::Now() + options.default_deadline;
  context->set_deadline(absl::ToChronoTime(deadline));
  AddMetadata(call_options, context);
}

absl::StatusOr<std::unique_ptr<grpc::ClientContext>> PrepareStreamContext(
    grpc::Channel& channel, const ClientOptions& options, const CallOptions& call_options) {
  auto context = std::make_unique<grpc::ClientContext>();
  absl::Time connect_by = absl::Now() + options.default_deadline;
  if (HasDeadline(call_options)) {
    context->set_deadline(absl::ToChronoTime(call_options.deadline));
    connect_by = std::min(connect_by, call_options.deadline);
  }
  AddMetadata(call_options, context.get());

  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY && state != GRPC_CHANNEL_TRANSIENT_FAILURE &&
         state != GRPC_CHANNEL_SHUTDOWN) {
    if (!channel.WaitForStateChange(state, absl::ToChronoTime(connect_by))) {
      return absl::DeadlineExceededError(
          absl::StrCat("could not connect to ", options.endpoint, " in time to open the stream"));
    }
    state = channel.GetState(/*try_to_connect=*/true);
  }
  return context;
}

}  // namespace plantmesh::sdk::internal
