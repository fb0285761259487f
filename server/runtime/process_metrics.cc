#include "server/runtime/process_metrics.h"

#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include "server/runtime/event_hub.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/keepalive.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/role_bindings.h"
#include "server/runtime/tls.h"
#include "server/runtime/tls_files.h"

namespace plantmesh::runtime {
namespace {

std::vector<CallbackSample> One(double value) { return {CallbackSample{{}, value}}; }

}  // namespace

void AddProcessMetrics(const ProcessMetricSources& sources, MetricsRegistry* registry) {
  registry
      ->AddGauge("plantmesh_build_info",
                 "The version and git revision of plantmesh-server; the value is always 1.",
                 {"version", "revision"})
      ->WithLabels({sources.version, sources.revision})
      ->Set(1);
  registry
      ->AddGauge("process_start_time_seconds",
                 "Start time of the process since the Unix epoch, in seconds.")
      ->Get()
      ->Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));

  if (const PgPool* pg = sources.pg; pg != nullptr) {
    registry->AddCallback("plantmesh_postgres_pool_connections",
                          "PostgreSQL connections the pool keeps (postgres-pool-size).",
                          MetricType::kGauge, {}, [pg] { return One(pg->size()); });
    registry->AddCallback("plantmesh_postgres_pool_connections_in_use",
                          "PostgreSQL connections borrowed from the pool now.", MetricType::kGauge,
                          {}, [pg] { return One(pg->in_use()); });
    registry->AddCallback("plantmesh_postgres_pool_waiting",
                          "Callers waiting for a PostgreSQL connection of the pool now.",
                          MetricType::kGauge, {}, [pg] { return One(pg->waiting()); });
  }

  if (const RoleBindingStore* bindings = sources.role_bindings) {
    registry->AddCallback(
        "plantmesh_role_bindings_refused",
        "1 while the role-binding file on disk does not parse or cannot be read and the last "
        "good bindings serve (a revocation written there has not taken effect; the log says "
        "why), else 0.",
        MetricType::kGauge, {}, [bindings] { return One(bindings->refused() ? 1 : 0); });
  }

  const EventHub* hub = sources.events;
  const OutboxRelay* relay = sources.relay;
  if (hub != nullptr || relay != nullptr) {
    registry->AddCallback(
        "plantmesh_redis_up",
        "1 when Redis is reached (every event stream reader connected, the outbox relay's last "
        "attempt succeeded), else 0.",
        MetricType::kGauge, {}, [hub, relay] {
          bool up = relay == nullptr || relay->redis_healthy();
          if (hub != nullptr) {
            for (const EventHubStreamStats& stream : hub->Stats()) up = up && stream.connected;
          }
          return One(up ? 1 : 0);
        });
  }
  if (hub != nullptr) {
    registry->AddCallback(
        "plantmesh_event_hub_subscribers",
        "Subscriptions to the event stream open now (watches, tails).", MetricType::kGauge,
        {"stream"}, [hub] {
          std::vector<CallbackSample> samples;
          for (const EventHubStreamStats& stream : hub->Stats()) {
            samples.push_back({{stream.stream_key}, static_cast<double>(stream.subscribers)});
          }
          return samples;
        });
    registry->AddCallback(
        "plantmesh_event_hub_subscribers_too_slow_total",
        "Subscriptions ended for falling behind (UNAVAILABLE WATCH_TOO_SLOW: more than "
        "watch-queue-events waiting).",
        MetricType::kCounter, {"stream"}, [hub] {
          std::vector<CallbackSample> samples;
          for (const EventHubStreamStats& stream : hub->Stats()) {
            samples.push_back({{stream.stream_key}, static_cast<double>(stream.ended_too_slow)});
          }
          return samples;
        });
  }
  if (relay != nullptr) {
    registry->AddCallback("plantmesh_outbox_pending_events",
                          "Outbox rows committed but not yet published to the event stream.",
                          MetricType::kGauge, {"schema", "stream"}, [relay] {
                            std::vector<CallbackSample> samples;
                            for (const OutboxLag& lag : relay->LastLag()) {
                              if (!lag.figures_read)
                                continue;  // as last read while PostgreSQL is down
                              samples.push_back({{lag.schema, lag.stream_key},
                                                 static_cast<double>(lag.pending_rows)});
                            }
                            return samples;
                          });
    registry->AddCallback(
        "plantmesh_outbox_oldest_pending_age_seconds",
        "Age of the oldest outbox row not yet published (0 when none): how far the event "
        "stream is behind the database.",
        MetricType::kGauge, {"schema", "stream"}, [relay] {
          std::vector<CallbackSample> samples;
          for (const OutboxLag& lag : relay->LastLag()) {
            if (!lag.figures_read) continue;  // as last read while PostgreSQL is down
            samples.push_back(
                {{lag.schema, lag.stream_key}, absl::ToDoubleSeconds(lag.oldest_age)});
          }
          return samples;
        });
  }
}

void AddTlsMetrics(const StagedTlsFiles* tls, MetricsRegistry* registry) {
  registry->AddCallback(
      "plantmesh_tls_certificate_expiry_timestamp_seconds",
      "When the server certificate served now (the last tls-cert that passed the check) "
      "expires, in Unix seconds.",
      MetricType::kGauge, {}, [file = tls->staged().cert]() -> std::vector<CallbackSample> {
        absl::StatusOr<absl::Time> not_after = CertificateNotAfter(file);
        if (!not_after.ok()) return {};
        return One(absl::ToDoubleSeconds(*not_after - absl::UnixEpoch()));
      });
  registry->AddCallback(
      "plantmesh_tls_files_refused",
      "1 while the TLS files on disk (tls-ca, tls-cert, tls-key) are refused and the last "
      "good ones are served (the log says why), else 0.",
      MetricType::kGauge, {}, [tls] { return One(tls->refused() ? 1 : 0); });
  registry->AddCallback(
      "plantmesh_tls_handshake_failures_total",
      "TLS handshakes that failed (no, untrusted or expired client certificate, a port scan), "
      "as server or client. gRPC logs each without the peer's address.",
      MetricType::kCounter, {}, [] { return One(static_cast<double>(TlsHandshakeFailures())); });
}

}  // namespace plantmesh::runtime
