// The gRPC server of plantmesh-server: transport credentials, message and metadata
// limits, memory quota, thread limits, streams per connection, keepalive policy,
// reflection, health, the plaintext probe listener, and the drain sequence.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/runtime/config.h"
#include "server/runtime/health.h"
#include "server/runtime/health_service.h"
#include "server/runtime/metrics_endpoint.h"
#include "server/runtime/service_module.h"
#include "server/runtime/tls_files.h"
#include "server/runtime/unknown_method_service.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace plantmesh::runtime {

class ServerHost {
 public:
  struct Hosted {
    grpc::Service* service;    // not owned; must outlive the host
    std::string service_name;  // fully qualified, for health
  };

  // Builds and starts the server on config.listen, and the probe listener on
  // config.probe_listen unless that is empty: plaintext, grpc.health.v1 only (the same
  // statuses as on the main port), for the kubelet's gRPC probes, which can neither
  // speak TLS nor present a client certificate. With `metrics` (not owned, must outlive
  // the host), the served TLS files' families are added to it (AddTlsMetrics), and with a
  // config.metrics_listen the Prometheus endpoint is there too (metrics_endpoint.h).
  // UNAVAILABLE when any of them cannot listen.
  static absl::StatusOr<std::unique_ptr<ServerHost>> Start(
      const ServerConfig& config, const std::vector<Hosted>& services,
      std::vector<DependencyProbe> dependencies, MetricsRegistry* metrics = nullptr);
  ~ServerHost();

  // The bound port (the real one when config.listen asked for port 0).
  int port() const { return port_; }
  // HOST:PORT with the bound port, e.g. "127.0.0.1:40123".
  const std::string& endpoint() const { return endpoint_; }
  // The probe listener's bound port and HOST:PORT; 0 and "" when there is none.
  int probe_port() const { return probe_port_; }
  const std::string& probe_endpoint() const { return probe_endpoint_; }
  // The metrics listener's bound port and HOST:PORT; 0 and "" when there is none.
  int metrics_port() const { return metrics_ != nullptr ? metrics_->port() : 0; }
  std::string metrics_endpoint() const {
    return metrics_ != nullptr ? metrics_->endpoint() : std::string();
  }

  // New calls are refused (UNAVAILABLE), health turns NOT_SERVING, long-lived streams
  // (watches) end at once with UNAVAILABLE and a resume cursor; in-flight unary calls
  // and finite streams (uploads, downloads) get up to `timeout` to finish, then streams
  // still open end with UNAVAILABLE and unary calls still running are cancelled (2 s
  // later). Returns when all ended. Shut the services' Executor down after it. The
  // probe listener answers NOT_SERVING through the drain and stops last, so probes see
  // the drain rather than a refused connection; the metrics listener after it.
  // `cancelled_calls_still_run`, when given, is called once if calls are left a moment
  // after gRPC cancelled them (their clients are answered; gRPC waits for their steps):
  // the process decides whether to let those steps run on (main.cc: it exits).
  void Drain(absl::Duration timeout, std::function<void()> cancelled_calls_still_run = nullptr);

 private:
  ServerHost() = default;
  HealthService health_service_;  // registered with both servers, so declared before them
  std::unique_ptr<UnknownMethodService> unknown_methods_;  // registered with the main server
  std::unique_ptr<StagedTlsFiles> tls_files_;  // null with --insecure; outlives the servers
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> probe_server_;  // null without a probe listener
  std::unique_ptr<HealthReporter> health_;
  std::unique_ptr<MetricsEndpoint> metrics_;  // null without a metrics listener
  int port_ = 0;
  std::string endpoint_;
  int probe_port_ = 0;
  std::string probe_endpoint_;
  bool drained_ = false;
};

}  // namespace plantmesh::runtime
