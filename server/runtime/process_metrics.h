// The metrics of a plantmesh-server process beyond its calls (those are
// call_metrics.h), read at each scrape from the runtime's parts:
//   plantmesh_build_info{version,revision}                  1
//   process_start_time_seconds                              Unix time the process started
//   plantmesh_tls_certificate_expiry_timestamp_seconds      the served certificate's notAfter
//   plantmesh_tls_files_refused                             1 while a rotation is refused
//   plantmesh_tls_handshake_failures_total                  failed TLS handshakes
//   plantmesh_postgres_pool_connections                     connections the pool keeps
//   plantmesh_postgres_pool_connections_in_use              borrowed now
//   plantmesh_postgres_pool_waiting                         callers waiting for one now
//   plantmesh_redis_up                                      1 when Redis is reached, else 0
//   plantmesh_event_hub_subscribers{stream}                 subscriptions (watches) open
//   plantmesh_event_hub_subscribers_too_slow_total{stream}  ended for falling behind
//   plantmesh_outbox_pending_events{schema,stream}          outbox rows not yet published
//   plantmesh_outbox_oldest_pending_age_seconds{schema,stream}  age of the oldest of them
// A family whose part the process lacks (no PostgreSQL, no event stream, --insecure) is
// left out.
#pragma once

#include <string>

#include "server/runtime/metrics.h"

namespace plantmesh::runtime {

class EventHub;
class OutboxRelay;
class PgPool;
class RoleBindingStore;
class StagedTlsFiles;

struct ProcessMetricSources {
  std::string version;   // build_info::kVersion
  std::string revision;  // build_info::kGitRevision
  // Not owned; null when the process has none. Must outlive the scrapes.
  const PgPool* pg = nullptr;
  const EventHub* events = nullptr;
  const OutboxRelay* relay = nullptr;
  const RoleBindingStore* role_bindings = nullptr;
};

void AddProcessMetrics(const ProcessMetricSources& sources, MetricsRegistry* registry);

// The plantmesh_tls_* families, from the files `tls` serves (not owned; must outlive the
// scrapes). Outside testing: the expiry read from tls-cert on disk showed a refused
// rotation's healthy date while the old certificate was served until it expired.
void AddTlsMetrics(const StagedTlsFiles* tls, MetricsRegistry* registry);

}  // namespace plantmesh::runtime
