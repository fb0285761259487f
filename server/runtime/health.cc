#include "server/runtime/health.h"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>
#include <utility>

#include "server/runtime/event_stream.h"
#include "server/runtime/health_service.h"
#include "server/runtime/pg_pool.h"

namespace plantmesh::runtime {

DependencyProbe PostgresProbe(std::string url, absl::Duration timeout) {
  PgPoolOptions options;
  options.url = std::move(url);
  options.size = 1;
  options.acquire_timeout = timeout;
  options.statement_timeout = timeout;
  options.lock_timeout = timeout;
  // Shared by the copies of the std::function; opened lazily so that a server starting
  // while PostgreSQL is briefly away reports NOT_SERVING instead of failing.
  auto pool = std::make_shared<std::unique_ptr<PgPool>>();
  return {kPostgresHealthName, [options = std::move(options), pool] {
            if (*pool == nullptr) {
              absl::StatusOr<std::unique_ptr<PgPool>> opened = PgPool::Open(options);
              if (!opened.ok()) return false;
              *pool = *std::move(opened);
            }
            return (*pool)
                ->Run([](pqxx::connection& connection) {
                  pqxx::nontransaction query(connection);
                  query.exec("SELECT 1");
                  return absl::OkStatus();
                })
                .ok();
          }};
}

DependencyProbe RedisProbe(const OutboxRelay* relay) {
  return {kRedisHealthName, [relay] { return relay->redis_healthy(); }};
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
  if (prober_.joinable()) prober_.join();
  health_->Shutdown();  // all NOT_SERVING, later updates ignored
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
