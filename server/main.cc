// plantmesh-server: hosts the services chosen with --services (SystemService always)
// over mutual TLS. Start-up: config → logging → migrations → PostgreSQL pool → outbox
// relay → audit → role bindings → authorization from the contracts → services → listen.
// SIGTERM/SIGINT: drain (refuse new calls, health NOT_SERVING, let in-flight calls and
// streams finish within drain-seconds), publish pending events, flush audit, exit 0. A
// second one while draining exits at once (code 1).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/build_info/build_info.h"
#include "plantmesh/common/mutex_settings.h"
#include "plantmesh/common/openssl_exit.h"
#include "plantmesh/common/status_macros.h"
#include "server/known_services.h"
#include "server/runtime/access_policy.h"
#include "server/runtime/config.h"
#include "server/runtime/errors.h"
#include "server/runtime/event_hub.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/executor.h"
#include "server/runtime/health.h"
#include "server/runtime/logging.h"
#include "server/runtime/metrics.h"
#include "server/runtime/migrations.h"
#include "server/runtime/open_files.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/process_metrics.h"
#include "server/runtime/redis_owner.h"
#include "server/runtime/request_log_pruner.h"
#include "server/runtime/role_bindings.h"
#include "server/runtime/server_host.h"
#include "server/runtime/service_module.h"
#include "server/runtime/service_tables.h"
#include "server/runtime/shutdown.h"
#include "server/runtime/standard_call_policy.h"
#include "server/runtime/system_service.h"
#include "server/runtime/transfer_watchdog.h"

namespace plantmesh {
namespace {

using runtime::ServiceDescriptor;

// After the drain window: the calls' 2 s cancel grace, the relay's last publish and the
// audit flush (5 s at most) fit well within it.
constexpr absl::Duration kStuckDrainGrace = absl::Seconds(15);

absl::StatusOr<std::unique_ptr<runtime::RoleBindingStore>> OpenRoleBindings(
    const runtime::ServerConfig& config) {
  if (config.role_bindings.empty()) {
    // Only with --insecure (config validation): "insecure:local" holds no role.
    return runtime::RoleBindingStore::Fixed(runtime::RoleBindings());
  }
  return runtime::RoleBindingStore::Open(config.role_bindings,
                                         absl::Seconds(config.role_bindings_reload_seconds),
                                         config.trust_domain);
}

absl::Status Serve(const runtime::ServerConfig& config) {
  PM_ASSIGN_OR_RETURN(std::vector<const ServiceDescriptor*> selected,
                      runtime::SelectServices(config, KnownServices()));

  // PostgreSQL: the audit schema and each hosted service's schema, then the pool.
  std::unique_ptr<runtime::PgPool> pool;
  if (!config.postgres_url.empty()) {
    const absl::Duration lock_wait = absl::Seconds(config.postgres_migration_lock_wait_seconds);
    PM_RETURN_IF_ERROR(runtime::ApplyMigrations(config.postgres_url, "audit",
                                                runtime::AuditMigrations(), lock_wait));
    for (const ServiceDescriptor* service : selected) {
      if (service->schema.empty()) continue;
      PM_RETURN_IF_ERROR(runtime::ApplyMigrations(config.postgres_url, service->schema,
                                                  service->migrations(), lock_wait));
      PM_RETURN_IF_ERROR(
          runtime::ApplyServiceTables(config.postgres_url, service->schema, lock_wait));
    }
    runtime::PgPoolOptions pool_options;
    pool_options.url = config.postgres_url;
    pool_options.size = config.postgres_pool_size;
    for (const ServiceDescriptor* service : selected) {
      if (service->on_pg_connect) pool_options.on_connect.push_back(service->on_pg_connect);
    }
    pool_options.statement_timeout = absl::Milliseconds(config.postgres_statement_timeout_ms);
    pool_options.lock_timeout = absl::Milliseconds(config.postgres_lock_timeout_ms);
    PM_ASSIGN_OR_RETURN(pool, runtime::PgPool::Open(std::move(pool_options)));
  }

  // Expiry of every hosted service's request log (the schemas the runtime gave one).
  std::unique_ptr<runtime::RequestLogPruner> request_log_pruner;
  if (pool != nullptr) {
    std::vector<std::string> schemas;
    for (const ServiceDescriptor* service : selected) {
      if (!service->schema.empty()) schemas.push_back(service->schema);
    }
    runtime::RequestLogPrunerOptions pruner_options;
    pruner_options.retention = absl::Hours(24) * config.request_id_retention_days;
    request_log_pruner =
        std::make_unique<runtime::RequestLogPruner>(pool.get(), std::move(schemas), pruner_options);
    request_log_pruner->Start();
  }

  runtime::RedisOptions redis;
  redis.host = config.redis_host;
  redis.port = config.redis_port;
  redis.user = config.redis_user;
  redis.password = config.redis_password;
  std::unique_ptr<runtime::OutboxRelay> relay;
  std::vector<runtime::OutboxSource> sources;
  std::vector<std::string> stream_keys;
  for (const ServiceDescriptor* service : selected) {
    if (service->outbox.stream_key.empty()) continue;
    runtime::OutboxSource source = service->outbox;
    source.retain = config.events_retain;
    source.retain_bytes = config.events_retain_bytes;
    stream_keys.push_back(source.stream_key);
    sources.push_back(std::move(source));
  }
  // One Redis serves one database: refused when it holds another's (redis_owner.h).
  std::string installation;
  if (pool != nullptr && !sources.empty()) {
    PM_ASSIGN_OR_RETURN(installation, runtime::ClaimRedisForDatabase(*pool, redis));
  }
  // The relay first: its first round checks each stream against the database (after a
  // restore from a backup it starts a new generation), so the hub starts in the right one.
  if (pool != nullptr && !sources.empty()) {
    relay = std::make_unique<runtime::OutboxRelay>(pool.get(), redis, sources, installation);
    relay->Start();
    if (!relay->AwaitStreamsChecked(absl::Seconds(2))) {
      spdlog::warn("outbox relay: event streams not checked yet (Redis?); publishing goes on");
    }
  }
  // One hub per process: one Redis reader per stream, fanned out to every watcher.
  std::unique_ptr<runtime::EventHub> hub;
  if (!stream_keys.empty()) {
    runtime::EventHubOptions hub_options;
    hub_options.redis = redis;
    hub_options.installation = installation;
    hub_options.queue_capacity = static_cast<size_t>(config.watch_queue_events);
    hub_options.queue_bytes = static_cast<size_t>(config.watch_queue_bytes);
    hub = std::make_unique<runtime::EventHub>(hub_options, std::move(stream_keys));
    hub->Start();
    // Watches and List's watch_cursor need the stream; without Redis the server starts
    // anyway (until it is first reached they answer UNAVAILABLE / an empty watch_cursor;
    // after that, an outage leaves watches open and silent until it is back).
    if (!hub->AwaitConnected(absl::Seconds(2))) {
      spdlog::warn("event hub: Redis not reachable yet; watches wait for it");
    }
  }

  std::unique_ptr<runtime::AuditSink> audit =
      pool != nullptr ? runtime::MakePgAuditSink(pool.get()) : runtime::MakeLogAuditSink();
  PM_ASSIGN_OR_RETURN(std::unique_ptr<runtime::RoleBindingStore> bindings,
                      OpenRoleBindings(config));

  // Every call of every hosted service is counted by the policy; the runtime's parts are
  // read at each scrape (README, "Metrics and logs").
  runtime::MetricsRegistry metrics;
  runtime::AddProcessMetrics({build_info::kVersion, build_info::kGitRevision, pool.get(), hub.get(),
                              relay.get(), bindings.get()},
                             &metrics);
  runtime::StandardCallPolicy::Options policy_options;
  policy_options.metrics = &metrics;
  policy_options.insecure = config.insecure;
  policy_options.trust_domain = config.trust_domain;
  policy_options.audit_reads = config.audit_reads;
  policy_options.max_response_bytes = static_cast<size_t>(config.max_send_message_bytes);
  runtime::StandardCallPolicy policy(policy_options, bindings.get(), audit.get());

  // Every handler runs here, never on gRPC's threads; stopped after the server.
  runtime::Executor executor(
      runtime::ExecutorOptions{config.executor_threads, config.executor_queue, "handler"});
  runtime::MemoryBudget upload_memory(config.upload_memory_bytes, "upload", "upload-memory-bytes");
  runtime::MemoryBudget download_memory(config.download_memory_bytes, "download",
                                        "download-memory-bytes");
  runtime::ServiceDeps deps;
  deps.upload_memory = &upload_memory;
  deps.download_memory = &download_memory;
  runtime::TransferWatchdog transfers(absl::Seconds(config.transfer_idle_seconds));
  deps.transfers = &transfers;
  deps.config = &config;
  deps.call_policy = &policy;
  deps.executor = &executor;
  deps.pg = pool.get();
  deps.relay = relay.get();
  deps.events = hub.get();
  deps.redis = redis;
  deps.metrics = &metrics;
  std::vector<std::unique_ptr<runtime::ServiceModule>> modules;
  std::vector<runtime::ServerHost::Hosted> hosted;
  std::vector<std::string> hosted_names;
  for (const ServiceDescriptor* service : selected) {
    auto section = config.sections.find(service->name);
    deps.service_config = section != config.sections.end() ? section->second.get() : nullptr;
    modules.push_back(service->make(deps));
    hosted.push_back({modules.back()->grpc_service(), modules.back()->service_name()});
    hosted_names.push_back(modules.back()->service_name());
  }
  runtime::SystemService system_service(
      &policy, &executor, hosted_names,
      absl::StrCat(build_info::kVersion, " (git ", build_info::kGitRevision, ")"));
  hosted.push_back({&system_service, runtime::kSystemServiceName});

  std::vector<std::string> policed;
  for (const auto& entry : hosted) policed.push_back(entry.service_name);
  PM_ASSIGN_OR_RETURN(runtime::AccessPolicy access, runtime::AccessPolicy::FromServices(policed));
  policy.SetAccessPolicy(std::move(access));

  std::vector<runtime::DependencyProbe> dependencies;
  if (pool != nullptr) {
    dependencies.push_back(runtime::WithUpMetric(
        runtime::PostgresProbe(config.postgres_url), &metrics, "plantmesh_postgres_up",
        "1 when PostgreSQL answered the last health probe and takes writes (SHOW "
        "transaction_read_only on a connection of its own, every second, within 2 s), else 0."));
  }
  if (relay != nullptr) dependencies.push_back(runtime::RedisProbe(relay.get()));
  PM_ASSIGN_OR_RETURN(
      std::unique_ptr<runtime::ServerHost> host,
      runtime::ServerHost::Start(config, hosted, std::move(dependencies), &metrics));

  // The one stdout line: supervisors and tests read the bound port from it.
  std::printf("LISTENING %s\n", host->endpoint().c_str());
  std::fflush(stdout);
  spdlog::info("plantmesh-server {} (git {}) listening on {} (services: {}){}",
               build_info::kVersion, build_info::kGitRevision, host->endpoint(),
               absl::StrJoin(policed, ", "),
               config.insecure ? " INSECURE: plaintext, every caller is insecure:local" : "");

  const int signal_number = runtime::WaitForTerminationSignal();
  const std::string failure = runtime::StopFailure();
  if (failure.empty()) {
    spdlog::info("signal {}: draining for up to {}s", signal_number,
                 absl::ToDoubleSeconds(config.drain_timeout));
  } else {
    spdlog::error("stopping after a failure: draining for up to {}s, then exiting 1",
                  absl::ToDoubleSeconds(config.drain_timeout));
  }
  // A dependency that never answers (a stopped PostgreSQL, a frozen host) holds the calls
  // waiting on it and the last publish and flush, and with them the exit (outside testing:
  // 44 s and counting, until PostgreSQL went on). Past the window and a grace the process ends
  // anyway, as a SIGKILL would: what was acknowledged is committed, and PostgreSQL rolls back what
  // was not when the connections close.
  std::thread([limit = config.drain_timeout + kStuckDrainGrace] {
    absl::SleepFor(limit);
    spdlog::critical(
        "the shutdown did not end within {}s: calls still run (a long commit, or a "
        "dependency that does not answer), or the outbox relay or the audit waits on "
        "PostgreSQL or Redis; exiting without them (code 1)",
        absl::ToDoubleSeconds(limit));
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }).detach();
  // A second SIGTERM or SIGINT (an operator's second Ctrl-C) ends the process now, as the
  // stuck-drain watchdog does (outside testing: it was ignored without a word, and the
  // server waited out the whole window).
  std::thread([] {
    const int again = runtime::WaitForTerminationSignal();
    spdlog::critical(
        "signal {} again while draining: exiting now without finishing the drain (code 1); "
        "what was acknowledged is committed",
        again);
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }).detach();
  // Calls gRPC cancelled past the window whose steps still run (a long commit) had their
  // clients answered: were a step to commit now, the client would have been told one
  // thing and the database another (re-test: an import cancelled at the window's end
  // committed 8 s later, over the newer data of its retry). So the process ends at once,
  // as for a crash: PostgreSQL rolls back what is not committed, and a rerun with the
  // call's request_id is safe.
  host->Drain(config.drain_timeout, [&executor] {
    const int running = executor.busy();
    if (running == 0) return;  // cancelled calls still finishing: nothing runs for them
    spdlog::critical(
        "{} call step(s) still running after gRPC cancelled their calls at the drain's end "
        "(their clients are answered): exiting now, without them, so that none commits after "
        "its answer (code 1)",
        running);
    spdlog::default_logger()->flush();
    std::_Exit(1);
  });
  host.reset();
  executor.Shutdown();  // runs the steps still queued for calls that ended, joins its threads
  for (const auto& [method, stats] : policy.Stats()) {
    if (stats.calls == 0) continue;
    spdlog::info("calls {} total={} errors={} denied={} mean_latency_ms={:.3f}", method,
                 stats.calls, stats.errors, stats.denied,
                 absl::ToDoubleMilliseconds(stats.latency_sum) /
                     static_cast<double>(std::max<int64_t>(1, stats.calls - stats.denied)));
  }
  if (hub != nullptr) hub->Stop();
  if (relay != nullptr) relay->Stop();  // publishes what is pending
  if (request_log_pruner != nullptr) request_log_pruner->Stop();
  audit->Flush(absl::Seconds(5));
  if (!failure.empty()) return absl::UnavailableError(failure);
  return absl::OkStatus();
}

}  // namespace
}  // namespace plantmesh

// Runs before C++ static initializers (priority 101 < default), so that a thread one of
// them might start already inherits the blocked mask: a thread with SIGTERM unblocked
// would let the default action kill the process instead of draining.
__attribute__((constructor(101))) static void BlockTerminationSignalsEarly() {
  plantmesh::runtime::BlockTerminationSignals();
}

int main(int argc, char** argv) {
  plantmesh::common::SkipOpenSslCleanupAtExit();  // why: plantmesh/common/openssl_exit.h
  // Again, in case this binary was built without constructor priorities.
  plantmesh::runtime::BlockTerminationSignals();
  plantmesh::common::UseReleaseMutexSettings();
  // Before the config: --version needs no valid configuration (listed in --help by
  // LoadServerConfig).
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--version") {
      std::fputs(plantmesh::build_info::VersionText("plantmesh-server").c_str(), stdout);
      return 0;
    }
  }
  absl::StatusOr<plantmesh::runtime::ServerConfig> config =
      plantmesh::runtime::LoadServerConfig(argc, argv, plantmesh::KnownServices());
  if (!config.ok()) {
    std::fprintf(stderr, "plantmesh-server: %s\n(see --help)\n",
                 std::string(config.status().message()).c_str());
    return 2;
  }
  if (absl::Status logging = plantmesh::runtime::InitLogging(config->log_level, config->log_format);
      !logging.ok()) {
    std::fprintf(stderr, "plantmesh-server: %s\n", std::string(logging.message()).c_str());
    return 2;
  }
  plantmesh::runtime::RaiseOpenFileLimit();
  if (absl::Status served = plantmesh::Serve(*config); !served.ok()) {
    spdlog::critical("plantmesh-server: {}", plantmesh::runtime::StatusForLog(served));
    spdlog::default_logger()->flush();
    return 1;
  }
  // Once Serve's pools, jobs and modules are gone too (outside testing: said before a
  // teardown that then waited on a frozen PostgreSQL until the drain watchdog's exit 1).
  spdlog::info("plantmesh-server stopped");
  return 0;
}
