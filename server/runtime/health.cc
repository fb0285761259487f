#include "server/runtime/health.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "server/runtime/event_stream.h"
#include "server/runtime/health_service.h"
#include "server/runtime/metrics.h"
#include "server/runtime/pg_pool.h"

namespace plantmesh::runtime {

DependencyProbe WithDeadline(DependencyProbe probe, absl::Duration timeout) {
  struct State {
    absl::Mutex mu;
    bool running ABSL_GUARDED_BY(mu) = false;
    bool done ABSL_GUARDED_BY(mu) = false;
    bool result ABSL_GUARDED_BY(mu) = false;
  };
  auto state = std::make_shared<State>();
  return {probe.name, [healthy = std::move(probe.healthy), timeout, state] {
            absl::MutexLock lock(&state->mu);
            // The last run has not answered within its time: still stuck.
            if (state->running) return false;
            state->running = true;
            state->done = false;
            // Detached: it may outlive the reporter (a PostgreSQL that never answers); it
            // holds only what the copies of `healthy` and `state` keep alive.
            std::thread([healthy, state] {
              const bool result = healthy();
              absl::MutexLock done_lock(&state->mu);
              state->result = result;
              state->done = true;
              state->running = false;
            }).detach();
            return state->mu.AwaitWithTimeout(absl::Condition(&state->done), timeout) &&
                   state->result;
          }};
}

DependencyProbe PostgresProbe(std::string url, absl::Duration timeout) {
  PgPoolOptions options;
  options.url = std::move(url);
  options.size = 1;
  options.acquire_timeout = timeout;
  options.statement_timeout = timeout;
  options.lock_timeout = timeout;
  // Shared by the copies of the std::function; opened on first use and again after a
  // failure, so that PostgreSQL away for a while reads NOT_SERVING, then SERVING again.
  auto pool = std::make_shared<std::unique_ptr<PgPool>>();
  // statement_timeout bounds a query of a PostgreSQL that answers; one that does not (a
  // stopped process, a frozen host) would hold the probe, and health said SERVING while
  // every call waited (outside testing).
  return WithDeadline(
      {kPostgresHealthName,
       [options = std::move(options), pool] {
         if (*pool == nullptr) {
           absl::StatusOr<std::unique_ptr<PgPool>> opened = PgPool::Open(options);
           if (!opened.ok()) return false;
           *pool = *std::move(opened);
         }
         // A server that answers but refuses writes (a standby after a
         // failover, default_transaction_read_only) cannot serve the
         // services either (outside testing: health said SERVING while
         // every write failed).
         return (*pool)
             ->Run([](pqxx::connection& connection) {
               pqxx::nontransaction query(connection);
               const bool read_only =
                   query.exec1("SHOW transaction_read_only")[0].as<std::string>() == "on";
               return read_only ? absl::UnavailableError("read-only") : absl::OkStatus();
             })
             .ok();
       }},
      timeout);
}

DependencyProbe RedisProbe(const OutboxRelay* relay) {
  return {kRedisHealthName, [relay] { return relay->redis_healthy(); }};
}

DependencyProbe WithUpMetric(DependencyProbe probe, MetricsRegistry* registry,
                             const std::string& metric, const std::string& help) {
  auto up = std::make_shared<std::atomic<bool>>(false);
  registry->AddCallback(metric, help, MetricType::kGauge, {}, [up] {
    return std::vector<CallbackSample>{CallbackSample{{}, up->load() ? 1.0 : 0.0}};
  });
  probe.healthy = [healthy = std::move(probe.healthy), up] {
    const bool answer = healthy();
    up->store(answer);
    return answer;
  };
  return probe;
}

HealthReporter::HealthReporter(HealthService* health, std::vector<std::string> services,
                               std::vector<DependencyProbe> dependencies, absl::Duration period)
    : health_(health), dependencies_(std::move(dependencies)) {
  health_->SetServingStatus("", true);
  for (const std::string& service : services) health_->SetServingStatus(service, true);
  if (dependencies_.empty()) return;
  prober_ = std::thread([this, period] { ProbeLoop(period); });
}

HealthReporter::~HealthReporter() { Shutdown(); }

void HealthReporter::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    stop_ = true;
  }
  // All NOT_SERVING first (later updates are ignored), then the prober ends: balancers
  // must hear of the drain even while a probe waits.
  std::set<std::string> dependencies;
  for (const DependencyProbe& dependency : dependencies_) dependencies.insert(dependency.name);
  health_->Shutdown(dependencies);
  if (prober_.joinable()) prober_.join();
}

void HealthReporter::ProbeLoop(absl::Duration period) {
  std::vector<int> last(dependencies_.size(), -1);  // unknown, so the first result is logged
  while (true) {
    for (size_t i = 0; i < dependencies_.size(); ++i) {
      const bool healthy = dependencies_[i].healthy();
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;  // Shutdown owns the entries now
        health_->SetServingStatus(dependencies_[i].name, healthy);
      }
      if (last[i] != static_cast<int>(healthy)) {
        if (healthy) {
          spdlog::info("dependency {} is SERVING", dependencies_[i].name);
        } else {
          spdlog::warn("dependency {} is NOT_SERVING (degraded)", dependencies_[i].name);
        }
        last[i] = healthy;
      }
    }
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stop_), period)) return;
  }
}

}  // namespace plantmesh::runtime
