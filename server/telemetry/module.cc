#include "server/telemetry/module.h"

#include <algorithm>
#include <memory>
#include <string>

#include "server/runtime/event_stream.h"
#include "server/runtime/stream_cursor.h"
#include "server/telemetry/config.h"
#include "server/telemetry/latest_cache.h"
#include "server/telemetry/partition_job.h"
#include "server/telemetry/pg_store.h"
#include "server/telemetry/rollup_job.h"
#include "server/telemetry/service.h"
#include "server/telemetry/state_settle_job.h"

namespace plantmesh::telemetry {
namespace {

const TelemetryConfig& ConfigOf(const runtime::ServiceDeps& deps) {
  static const TelemetryConfig defaults;
  const auto* config = dynamic_cast<const TelemetryConfig*>(deps.service_config);
  return config != nullptr ? *config : defaults;
}

std::unique_ptr<LibpqPool> IngestPool(const runtime::ServiceDeps& deps) {
  const runtime::ServerConfig& server = *deps.config;
  return LibpqPool::Create(PgTelemetryStore::IngestPoolOptions(
      server.postgres_url, static_cast<int>(ConfigOf(deps).ingest_connections),
      absl::Milliseconds(server.postgres_statement_timeout_ms),
      absl::Milliseconds(server.postgres_lock_timeout_ms)));
}

constexpr absl::Duration kLatestCacheTimeout = absl::Milliseconds(250);

// GetLatestValues' Redis cache, unless latest-cache-seconds is 0.
std::unique_ptr<LatestCache> MakeLatestCache(const runtime::ServiceDeps& deps,
                                             TelemetryStore* store) {
  const TelemetryConfig& config = ConfigOf(deps);
  if (config.latest_cache_seconds == 0) return nullptr;
  LatestCacheOptions options;
  options.redis = deps.redis;
  // Its commands are small (a hash per machine): a Redis that takes longer than this is
  // one not to wait for. Ingest answers wait on the write-through.
  options.redis.command_timeout = std::min(options.redis.command_timeout, kLatestCacheTimeout);
  options.expiry = absl::Seconds(config.latest_cache_seconds);
  options.generation_key = runtime::GenerationKey(kEventStreamKey);
  // One connection per handler thread at most: kept, not reopened per call.
  options.idle_connections = static_cast<size_t>(std::max(1, deps.config->executor_threads));
  // One Redis serves one database: not another's values (re-test: GetLatestValues answered
  // the other database's cached value once the relay had found its claim).
  if (deps.relay != nullptr) {
    options.redis_foreign = [relay = deps.relay] { return relay->redis_holds_other_database(); };
  }
  return std::make_unique<LatestCache>(std::move(options), store, deps.metrics);
}

class TelemetryModule : public runtime::ServiceModule {
 public:
  explicit TelemetryModule(const runtime::ServiceDeps& deps)
      : store_(deps.pg, IngestPool(deps)),
        latest_cache_(MakeLatestCache(deps, &store_)),
        service_(deps, ConfigOf(deps), &store_, latest_cache_.get()),
        partitions_(&store_, ConfigOf(deps), deps.now),
        rollups_(&store_, absl::Milliseconds(ConfigOf(deps).rollup_interval_ms)),
        settles_(&store_, absl::Seconds(ConfigOf(deps).state_settle_seconds),
                 absl::Seconds(ConfigOf(deps).state_reorder_seconds), deps.now) {}

  std::string service_name() const override { return "plantmesh.telemetry.v1.TelemetryService"; }
  grpc::Service* grpc_service() override { return &service_; }

 private:
  PgTelemetryStore store_;
  std::unique_ptr<LatestCache> latest_cache_;
  TelemetryServiceImpl service_;
  PartitionJob partitions_;
  RollupJob rollups_;
  StateSettleJob settles_;
};

}  // namespace

const runtime::ServiceDescriptor& Descriptor() {
  static const auto* descriptor = new runtime::ServiceDescriptor{
      "telemetry",
      "telemetry",
      []() -> const std::vector<runtime::Migration>& { return EmbeddedMigrations(); },
      runtime::OutboxSource{"telemetry", kEventStreamKey},
      [](const runtime::ServiceDeps& deps) -> std::unique_ptr<runtime::ServiceModule> {
        return std::make_unique<TelemetryModule>(deps);
      },
      &PgTelemetryStore::PrepareStatements,
      &DeclareConfig,
      &CheckConfig};
  return *descriptor;
}

}  // namespace plantmesh::telemetry
