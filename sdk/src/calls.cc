#include "plantmesh/sdk/internal/calls.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "plantmesh/common/uuid.h"
#include "plantmesh/sdk/internal/connection.h"

namespace plantmesh::sdk::internal {
namespace {

void AddMetadata(const CallOptions& call_options, grpc::ClientContext* context) {
  for (const auto& [key, value] : call_options.metadata) context->AddMetadata(key, value);
}

bool HasDeadline(const CallOptions& call_options) {
  return call_options.deadline != absl::InfiniteFuture();
}

// A deadline for gRPC: one in the past is past, however far (outside testing:
// InfinitePast, or any time before 1677, saturated to time_point::min(), which gRPC
// reads as no deadline at all).
std::chrono::system_clock::time_point GrpcDeadline(absl::Time deadline) {
  return absl::ToChronoTime(std::max(deadline, absl::UnixEpoch()));
}

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// `type`'s singular string `request_id` field, or nullptr.
const FieldDescriptor* RequestIdFieldOf(const Descriptor& type) {
  const FieldDescriptor* field = type.FindFieldByName("request_id");
  if (field == nullptr || field->is_repeated() || field->type() != FieldDescriptor::TYPE_STRING) {
    return nullptr;
  }
  return field;
}

// Where a message of `type` keeps its request id: `field` at the root (parent null),
// or in the first singular message field `parent` whose type has one.
struct RequestIdLocation {
  const FieldDescriptor* parent = nullptr;
  const FieldDescriptor* field = nullptr;
};

RequestIdLocation LocateRequestId(const Descriptor& type) {
  if (const FieldDescriptor* field = RequestIdFieldOf(type)) return {nullptr, field};
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor* parent = type.field(i);
    if (parent->type() != FieldDescriptor::TYPE_MESSAGE || parent->is_repeated()) continue;
    if (const FieldDescriptor* field = RequestIdFieldOf(*parent->message_type())) {
      return {parent, field};
    }
  }
  return {};
}

// The message holding the request id, or nullptr when it has none or its parent is
// absent (creating the parent would change a oneof or presence).
const Message* RequestIdHolder(const Message& message, const RequestIdLocation& location) {
  if (location.field == nullptr) return nullptr;
  if (location.parent == nullptr) return &message;
  if (!message.GetReflection()->HasField(message, location.parent)) return nullptr;
  return &message.GetReflection()->GetMessage(message, location.parent);
}

}  // namespace

bool HasEmptyRequestId(const Message& message) {
  const RequestIdLocation location = LocateRequestId(*message.GetDescriptor());
  const Message* holder = RequestIdHolder(message, location);
  return holder != nullptr && holder->GetReflection()->GetString(*holder, location.field).empty();
}

bool FillEmptyRequestId(Message* message) {
  if (!HasEmptyRequestId(*message)) return false;
  const RequestIdLocation location = LocateRequestId(*message->GetDescriptor());
  Message* holder = location.parent == nullptr
                        ? message
                        : message->GetReflection()->MutableMessage(message, location.parent);
  holder->GetReflection()->SetString(holder, location.field, common::NewUuidV4());
  return true;
}

absl::Time UnaryDeadline(const ClientOptions& options, const CallOptions& call_options) {
  return HasDeadline(call_options) ? call_options.deadline : absl::Now() + options.default_deadline;
}

void PrepareUnaryContext(absl::Time deadline, const CallOptions& call_options,
                         grpc::ClientContext* context) {
  context->set_deadline(GrpcDeadline(deadline));
  AddMetadata(call_options, context);
}

bool ShouldSendAgain(const ClientOptions& options, const grpc::Status& status,
                     absl::Time deadline) {
  return options.reconnect.wait_for_ready && IsUnsentConnectFailure(status) &&
         !IsHandshakeFailure(status, !options.insecure) && absl::Now() < deadline;
}

absl::Status CheckCallMetadata(const CallOptions& call_options) {
  // As HTTP/2 counts a header list (RFC 7540 6.5.2: name, value and 32 per entry), the
  // caller's part alone; a server refuses more than its max-metadata-bytes (16 KiB by
  // default) as RESOURCE_EXHAUSTED naming nothing, and the other calls of the connection
  // end with it (outside testing).
  size_t header_bytes = 0;
  for (const auto& [key, value] : call_options.metadata)
    header_bytes += key.size() + value.size() + 32;
  if (header_bytes > kMaxCallMetadataBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CallOptions.metadata: ", header_bytes, " bytes as HTTP/2 counts them, more than ",
        kMaxCallMetadataBytes,
        " (half the 16 KiB of headers PlantMesh servers accept by default, the rest left to "
        "gRPC's own); keep large values out of metadata"));
  }
  for (const auto& [key, value] : call_options.metadata) {
    const bool key_ok = !key.empty() && !absl::StartsWith(key, "grpc-") &&
                        std::all_of(key.begin(), key.end(), [](char c) {
                          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                                 c == '_' || c == '.';
                        });
    if (!key_ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CallOptions.metadata: key \"", absl::CHexEscape(key),
          "\" is not a gRPC metadata key (1 or more of a-z, 0-9, '-', '_', '.'; lower case; "
          "not starting \"grpc-\")"));
    }
    if (absl::EndsWith(key, "-bin")) continue;  // binary: any bytes
    if (!std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7E; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("CallOptions.metadata: the value of \"", key,
                       "\" holds other than printable ASCII (0x20-0x7E): \"",
                       absl::CHexEscape(value), "\"; send bytes under a key ending \"-bin\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<grpc::ClientContext>> PrepareStreamContext(
    grpc::Channel& channel, const ClientOptions& options, const CallOptions& call_options) {
  if (absl::Status metadata = CheckCallMetadata(call_options); !metadata.ok()) return metadata;
  auto context = std::make_unique<grpc::ClientContext>();
  absl::Time connect_by = absl::Now() + options.default_deadline;
  if (HasDeadline(call_options)) {
    context->set_deadline(GrpcDeadline(call_options.deadline));
    connect_by = std::min(connect_by, call_options.deadline);
  }
  AddMetadata(call_options, context.get());

  const std::shared_ptr<ConnectionHistory> history =
      options.reconnect.wait_for_ready ? ConnectionHistoryOf(&channel) : nullptr;
  // In TRANSIENT_FAILURE: wait for the reconnection where calls would wait for it.
  auto waits_in_failure = [&history] {
    return history != nullptr &&
           (history->connected_before() ||
            history->first_connection_failure() == ConnectionHistory::Failure::kUnreachable);
  };
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY && state != GRPC_CHANNEL_SHUTDOWN &&
         (state != GRPC_CHANNEL_TRANSIENT_FAILURE || waits_in_failure())) {
    if (!channel.WaitForStateChange(state, absl::ToChronoTime(connect_by))) {
      return absl::DeadlineExceededError(
          absl::StrCat("could not connect to ", options.endpoint, " in time to open the stream"));
    }
    state = channel.GetState(/*try_to_connect=*/true);
  }
  if (state == GRPC_CHANNEL_READY && history != nullptr) history->MarkConnected();
  return context;
}

}  // namespace plantmesh::sdk::internal
