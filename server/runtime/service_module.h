// How plantmesh-server hosts a service: each service directory provides a factory
// returning a ServiceModule; main.cc keeps the list and --services picks from it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/runtime/config.h"
#include "server/runtime/event_hub.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/memory_budget.h"
#include "server/runtime/metrics.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/transfer_watchdog.h"

namespace grpc {
class Service;
}

namespace plantmesh::runtime {

class CallPolicy;
class Executor;

// What the runtime hands to a service when it builds it. Pointers outlive the module.
struct ServiceDeps {
  const ServerConfig* config = nullptr;
  // The service's own section (the object its declare_config returned), or nullptr
  // when it declares none.
  const ServiceConfig* service_config = nullptr;
  CallPolicy* call_policy = nullptr;
  Executor* executor = nullptr;  // where the service's handlers run
  PgPool* pg = nullptr;
  OutboxRelay* relay = nullptr;  // call Notify() after committing events
  // The process's event hub: Watch* handlers subscribe to it (runtime::OpenWatch, watch.h) and
  // List handlers take their watch_cursor from it; null when no stream is configured.
  EventHub* events = nullptr;
  RedisOptions redis;
  // Shared by every upload of every hosted service (config upload-memory-bytes);
  // nullptr: unlimited.
  MemoryBudget* upload_memory = nullptr;
  // Shared by every download of every hosted service (config download-memory-bytes);
  // nullptr: unlimited.
  MemoryBudget* download_memory = nullptr;
  // Cancels uploads and downloads that stop moving (config transfer-idle-seconds); nullptr:
  // none is.
  TransferWatchdog* transfers = nullptr;
  // The process's metrics (metrics.h): a service may add families of its own (names
  // plantmesh_<service>_...). Its calls are already counted by the runtime.
  MetricsRegistry* metrics = nullptr;
  // Injected clock (tests may pin time), in whole microseconds: what PostgreSQL keeps of a
  // time, so that a span from a stored time to now, or from now to a stored one, is whole
  // too (outside testing: GetUtilization's states, split at a nanosecond now and each
  // answered in microseconds, summed to the range less 1 µs).
  std::function<absl::Time()> now = [] {
    return absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  };
};

class ServiceModule {
 public:
  virtual ~ServiceModule() = default;
  // Fully qualified gRPC service, e.g. "plantmesh.defect.v1.DefectService".
  virtual std::string service_name() const = 0;
  // The gRPC service to register (owned by the module).
  virtual grpc::Service* grpc_service() = 0;
};

// Everything main.cc needs to know about a service before building it.
struct ServiceDescriptor {
  std::string name;    // as given to --services, e.g. "defect"
  std::string schema;  // PostgreSQL schema it owns
  std::function<const std::vector<Migration>&()> migrations;
  OutboxSource outbox;  // events stream (relay)
  std::function<std::unique_ptr<ServiceModule>(const ServiceDeps&)> make;
  // Run on every new pooled PostgreSQL connection, e.g. to register the store's named
  // statements once per connection instead of once per transaction.
  std::function<void(pqxx::connection&)> on_pg_connect;
  // Declares the keys of the service's `[name]` config section, bound to the fields of
  // the object it returns (handed back as ServiceDeps::service_config). Empty: none.
  std::function<std::shared_ptr<ServiceConfig>(ConfigSection&)> declare_config;
  // Checks the section against the server's keys (e.g. a photo larger than the upload
  // memory budget could never be received); each problem names its key.
  std::function<std::vector<std::string>(const ServerConfig&, const ServiceConfig&)> check_config;
};

}  // namespace plantmesh::runtime
