#include "server/runtime/server_host.h"

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "server/runtime/keepalive.h"
#include "server/runtime/process_metrics.h"
#include "server/runtime/shutdown.h"
#include "server/runtime/tls.h"
#include "server/runtime/tls_files.h"

namespace plantmesh::runtime {
namespace {

// After the drain window: time for the UNAVAILABLE of the streams still open to reach
// their clients (and for unary handlers still running) before gRPC cancels what is left.
constexpr absl::Duration kFinishGrace = absl::Seconds(2);
// After that cancellation: time for the calls cancelled while waiting (not running a
// step) to finish, before the calls left are taken for steps that still run.
constexpr absl::Duration kCancelSettle = absl::Milliseconds(200);

// The probe listener is unauthenticated: it gets just enough for the kubelet's Check
// every few seconds and a few Watch streams (health is on the callback API: a Watch
// holds no thread).
constexpr int kProbeMaxStreams = 4;
constexpr int kProbeMaxMessageBytes = 4 * 1024;
constexpr size_t kProbeMemoryQuotaBytes = 4 * 1024 * 1024;

// Linking gRPC's reflection registers its plugin with every ServerBuilder of the
// process (a static initializer), whatever the config says. This option takes it out
// again: from the probe listener, which offers health alone, and from the main server
// when reflection is off.
class WithoutReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(
        std::remove_if(plugins->begin(), plugins->end(),
                       [](const std::unique_ptr<grpc::ServerBuilderPlugin>& plugin) {
                         return dynamic_cast<grpc::reflection::ProtoServerReflectionPlugin*>(
                                    plugin.get()) != nullptr;
                       }),
        plugins->end());
  }
};

std::string EndpointOf(const std::string& listen, int port) {
  return absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port);
}

// Compressed requests are refused before their messages are read (UNIMPLEMENTED
// "Compression algorithm 'gzip' is disabled."): gRPC 1.51 inflates a compressed message
// whole before it compares its size with the receive limit, and before any check of
// ours (outside testing: 8 gzip requests of ~1 MB, each inflating to 512 MiB, took a
// server from 53 MiB to 2.7 GiB and its other calls past their deadlines). None of our
// clients compresses; on a plant network mTLS costs more than the bytes compression saves.
void RefuseCompressedRequests(grpc::ServerBuilder* builder) {
  for (int algorithm = GRPC_COMPRESS_NONE + 1; algorithm < GRPC_COMPRESS_ALGORITHMS_COUNT;
       ++algorithm) {
    builder->SetCompressionAlgorithmSupportStatus(
        static_cast<grpc_compression_algorithm>(algorithm), false);
  }
}

// Plaintext, grpc.health.v1 alone, small limits. Null when it cannot listen. No
// synchronous-API service, so no poller threads of its own (health_service.h: they would
// also read the mTLS port's calls and hand each to gRPC's callback threads).
std::unique_ptr<grpc::Server> StartProbeServer(const std::string& listen, HealthService* health,
                                               int handshake_timeout_seconds, int* port) {
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             handshake_timeout_seconds * 1000);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), port);
  builder.RegisterService(health);
  builder.SetOption(std::make_unique<WithoutReflection>());
  builder.SetMaxReceiveMessageSize(kProbeMaxMessageBytes);
  builder.SetMaxSendMessageSize(kProbeMaxMessageBytes);
  RefuseCompressedRequests(&builder);
  grpc::ResourceQuota quota("plantmesh-probe");
  quota.Resize(kProbeMemoryQuotaBytes);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kProbeMaxStreams);
  // gRPC sets SO_REUSEPORT by default: a second process would share the port and the
  // kubelet would probe either one.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  return builder.BuildAndStart();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerHost>> ServerHost::Start(
    const ServerConfig& config, const std::vector<Hosted>& services,
    std::vector<DependencyProbe> dependencies, MetricsRegistry* metrics) {
  if (config.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<ServerHost> host(new ServerHost());
  grpc::ServerBuilder builder;
  int port = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!config.insecure) {
    absl::StatusOr<std::unique_ptr<StagedTlsFiles>> tls = StagedTlsFiles::Start(
        {config.tls_ca, config.tls_cert, config.tls_key}, absl::Seconds(config.tls_reload_seconds));
    if (!tls.ok()) {
      host->drained_ = true;  // nothing started, nothing to drain
      return tls.status();
    }
    host->tls_files_ = *std::move(tls);
    credentials = host->tls_files_->Credentials();
    if (metrics != nullptr) AddTlsMetrics(host->tls_files_.get(), metrics);
  }
  builder.AddListeningPort(config.listen, credentials, &port);
  // gRPC sets SO_REUSEPORT by default: a second server on this port would start and take
  // a share of the new connections (outside testing: about half, answered UNIMPLEMENTED
  // by a server of another service).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (const Hosted& hosted : services) builder.RegisterService(hosted.service);
  builder.RegisterService(&host->health_service_);
  std::vector<std::string> served;
  for (const Hosted& hosted : services) served.push_back(hosted.service_name);
  served.push_back("grpc.health.v1.Health");
  if (config.reflection) served.push_back("grpc.reflection.v1alpha.ServerReflection");
  host->unknown_methods_ = std::make_unique<UnknownMethodService>(served);
  builder.RegisterCallbackGenericService(host->unknown_methods_.get());
  if (!config.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  builder.SetMaxReceiveMessageSize(config.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(config.max_send_message_bytes);
  RefuseCompressedRequests(&builder);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, config.max_metadata_bytes);
  grpc::ResourceQuota quota("plantmesh-server");
  quota.Resize(static_cast<size_t>(config.memory_quota_bytes));
  // Caps the threads of reflection, the one service still on gRPC's synchronous API
  // (beside callback services gRPC's builder makes its queues non-polling: its threads
  // wait for reflection calls and read no connection).
  // Our services and health are on the callback API: their handlers run on the
  // runtime's Executor (executor-threads), gRPC's own threads only drive reactors.
  quota.SetMaxThreads(config.grpc_max_threads);
  builder.SetResourceQuota(quota);
  // Reflection carries little traffic: one completion queue, 1-2 pollers
  // (gRPC's defaults are a queue per core and up to 2 pollers each).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 2);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams);
  // Client keepalive pings down to min-ping-seconds apart, also on idle connections
  // (watchers); a client pinging more often is told so in our log (keepalive.h).
  ApplyKeepalivePolicy(config.min_ping_seconds, &builder);
  LogClientsThatPingTooOften(config.min_ping_seconds);
  // A connection that does not finish its handshake holds a descriptor and up to ~45 KB
  // until this (gRPC's default is 120 s; outside testing: 9,000 half-open connections took
  // the server from 110 to 508 MB, and descriptors run out first).
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             config.handshake_timeout_seconds * 1000);
  // A certificate is checked at the handshake only (outside testing: a connection opened
  // before its client certificate expired went on calling for as long as it lived).
  if (config.max_connection_age_seconds > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               config.max_connection_age_seconds * 1000);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               config.max_connection_age_grace_seconds * 1000);
  }

  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    host->drained_ = true;  // nothing started, nothing to drain
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen,
                     ": the address is in use (another server?) or not one of this machine's"));
  }
  host->port_ = port;
  host->endpoint_ = EndpointOf(config.listen, port);
  if (!config.probe_listen.empty()) {
    int probe_port = 0;
    std::unique_ptr<grpc::Server> probe = StartProbeServer(
        config.probe_listen, &host->health_service_, config.handshake_timeout_seconds, &probe_port);
    if (probe == nullptr || probe_port == 0) {
      server->Shutdown();
      server->Wait();
      host->drained_ = true;
      return absl::UnavailableError(
          absl::StrCat("probe-listen: cannot listen on ", config.probe_listen));
    }
    host->probe_port_ = probe_port;
    host->probe_endpoint_ = EndpointOf(config.probe_listen, probe_port);
    host->probe_server_ = std::move(probe);
    spdlog::info("probe listener (plaintext, grpc.health.v1 only) on {}", host->probe_endpoint_);
  }
  if (metrics != nullptr && !config.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
        MetricsEndpoint::Start(config.metrics_listen, metrics);
    if (!endpoint.ok()) {
      if (host->probe_server_ != nullptr) {
        host->probe_server_->Shutdown();
        host->probe_server_->Wait();
      }
      server->Shutdown();
      server->Wait();
      host->drained_ = true;
      return endpoint.status();
    }
    host->metrics_ = *std::move(endpoint);
    spdlog::info("metrics listener (plaintext HTTP, GET /metrics only) on {}",
                 host->metrics_->endpoint());
  }
  std::vector<std::string> names;
  for (const Hosted& hosted : services) names.push_back(hosted.service_name);
  host->health_ = std::make_unique<HealthReporter>(&host->health_service_, std::move(names),
                                                   std::move(dependencies));
  host->server_ = std::move(server);
  return host;
}

ServerHost::~ServerHost() {
  if (!drained_) Drain(absl::ZeroDuration());
}

void ServerHost::Drain(absl::Duration timeout, std::function<void()> cancelled_calls_still_run) {
  if (drained_) return;
  drained_ = true;
  // Long-lived streams (watches) end now with UNAVAILABLE and a resume cursor.
  BeginDraining();
  health_->Shutdown();
  spdlog::info("draining: in-flight calls and finite streams have {}s",
               absl::ToDoubleSeconds(timeout));
  const absl::Time window_end = absl::Now() + timeout;
  // Shutdown refuses new calls at once and waits for the ones in flight; past its own
  // deadline it cancels them. That deadline is later than the window's, so that the
  // streams still open when the window ends get UNAVAILABLE from us, not CANCELLED.
  absl::Notification stopped;
  std::thread shutdown([this, &stopped, window_end] {
    server_->Shutdown(absl::ToChronoTime(window_end + kFinishGrace));
    stopped.Notify();
  });
  if (!stopped.WaitForNotificationWithDeadline(window_end)) {
    spdlog::info("drain window over: streams still open end with UNAVAILABLE");
    EndDrainWindow();
    if (!stopped.WaitForNotificationWithDeadline(window_end + kFinishGrace + kCancelSettle) &&
        cancelled_calls_still_run) {
      cancelled_calls_still_run();
    }
  }
  shutdown.join();
  server_->Wait();
  if (probe_server_ != nullptr) {
    // Health is shut down: a Watch there has ended, a Check answers at once.
    probe_server_->Shutdown(absl::ToChronoTime(absl::Now() + kFinishGrace));
    probe_server_->Wait();
  }
  if (metrics_ != nullptr) metrics_->Stop();
  spdlog::info("server stopped");
}

}  // namespace plantmesh::runtime
