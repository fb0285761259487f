// The Prometheus scrape endpoint of a process: plaintext HTTP (cpp-httplib) on its own
// port (config metrics-listen), serving GET /metrics in the text format 0.0.4 and
// nothing else. Unauthenticated like the probe listener: it carries counts, latencies
// and method names, no request data; in Kubernetes the NetworkPolicy lets only the
// monitoring namespace reach it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/runtime/metrics.h"

namespace plantmesh::runtime {

class MetricsEndpoint {
 public:
  // Listens on `listen` (HOST:PORT, [v6]:PORT; port 0 picks a free one) and serves
  // `registry` (not owned; must outlive the endpoint) from a thread of its own, with
  // eight request threads (one per open connection). UNAVAILABLE when it cannot listen.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const std::string& listen,
                                                                const MetricsRegistry* registry);
  ~MetricsEndpoint();  // Stop()

  // Stops listening and waits for a scrape in progress. Idempotent.
  void Stop();

  int port() const { return port_; }
  // HOST:PORT with the bound port.
  const std::string& endpoint() const { return endpoint_; }

 private:
  MetricsEndpoint() = default;
  struct State;
  std::unique_ptr<State> state_;
  int port_ = 0;
  std::string endpoint_;
};

}  // namespace plantmesh::runtime
