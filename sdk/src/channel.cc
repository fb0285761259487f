#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_interceptor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plantmesh/common/openssl_exit.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/sdk/internal/connection.h"
#include "plantmesh/sdk/internal/credentials.h"

namespace plantmesh::sdk {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(
    const ClientOptions& options) {
  if (options.insecure) return grpc::InsecureChannelCredentials();
  // Checked now, whichever way gRPC reads them, so that a bad file is named at once.
  absl::StatusOr<internal::TlsFiles> files = internal::LoadTlsFiles(options);
  if (!files.ok()) return files.status();
  if (options.tls_reload > absl::ZeroDuration() && options.key_passphrase.empty()) {
    // gRPC's watcher reads the three files again every period for new connections; it
    // reads key and certificate again when either's modification time changed while it
    // read them, so a symlink switched meanwhile does not mix two versions.
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        options.key_file, options.cert_file, options.ca_file,
        static_cast<unsigned int>(absl::ToInt64Seconds(options.tls_reload)));
    grpc::experimental::TlsChannelCredentialsOptions tls;
    tls.set_certificate_provider(std::move(provider));
    tls.watch_root_certs();
    tls.watch_identity_key_cert_pairs();
    tls.set_verify_server_certs(true);
    tls.set_certificate_verifier(
        std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::experimental::TlsCredentials(tls);
    if (credentials == nullptr) return absl::InvalidArgumentError("TLS credentials were refused");
    return credentials;
  }
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
  // Before gRPC's first TLS use initialises OpenSSL with its exit clean-up, which frees
  // the library under gRPC's threads still reconnecting when main returns (outside
  // testing: a list-then-watch program crashed at exit in 3 of 9 runs after a server
  // restart). Why: plantmesh/common/openssl_exit.h.
  common::SkipOpenSslCleanupAtExit();
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
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              Milliseconds(options.reconnect.initial_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, Milliseconds(options.reconnect.max_backoff));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              Milliseconds(options.reconnect.min_connect_timeout));
  if (!options.reconnect.wait_for_ready) {
    return grpc::CreateCustomChannel(options.endpoint, *credentials, args);
  }
  auto history = std::make_shared<internal::ConnectionHistory>();
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(
      internal::MakeWaitForReadyInterceptorFactory(history, !options.insecure, options.endpoint,
                                                   options.reconnect.max_backoff_while_calls_wait));
  std::shared_ptr<grpc::Channel> channel = grpc::experimental::CreateCustomChannelWithInterceptors(
      options.endpoint, *credentials, args, std::move(interceptors));
  internal::RegisterConnectionHistory(channel.get(), std::move(history));
  return channel;
}

}  // namespace plantmesh::sdk
