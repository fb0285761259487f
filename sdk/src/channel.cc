#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/sdk/internal/credentials.h"

namespace plantmesh::sdk {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(
    const ClientOptions& options) {
  if (options.insecure) return grpc::InsecureChannelCredentials();
  absl::StatusOr<internal::TlsFiles> files = internal::LoadTlsFiles(options);
  if (!files.ok()) return files.status();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = std::move(files->ca_pem);
  ssl.pem_cert_chain = std::move(files->cert_pem);
  ssl.pem_private_key = std::move(files->key_pem);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(ssl);
  if (credentials == nullptr) return absl::InvalidArgumentError("TLS credentials were refused");
  return credentials;
}

int Milliseconds(absl::Duration duration) {
  return static_cast<int>(absl::ToInt64Milliseconds(duration));
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options) {
  internal::QuietGrpcLogUnlessAsked();
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = Credentials(options);
  if (!credentials.ok()) return credentials.status();

  grpc::ChannelArguments args;
  if (!options.insecure && !options.server_name.empty()) {
    args.SetSslTargetNameOverride(options.server_name);
  }
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, Milliseconds(options.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Milliseconds(options.keepalive_timeout));
  // Pings only while calls are open (the server refuses idle pings), but without a
  // cap, so that a quiet Watch stream keeps being checked.
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  if (options.private_connection_pool) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Our retry policy is the only one: ignore service configs from name resolution.
  args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  args.SetServiceConfigJSON(RetryServiceConfigJson(options.retry));
  args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "plantmesh-sdk");
  return grpc::CreateCustomChannel(options.endpoint, *credentials, args);
}

}  // namespace plantmesh::sdk
