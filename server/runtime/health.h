// Health of plantmesh-server over the gRPC health checking protocol
// (grpc.health.v1.Health, served by our HealthService):
//   ""                                  SERVING while the server accepts calls
//   "<fully qualified service>"         SERVING for every hosted service
//   "plantmesh.dependency.postgres"     SERVING while PostgreSQL answers and takes writes
//                                       (`SHOW transaction_read_only` is off)
//   "plantmesh.dependency.redis"        SERVING while the outbox relay reaches Redis
// Degraded = a service SERVING while a dependency is NOT_SERVING: the services keep
// answering (Redis down: no live events, no cache), and the dependency entry says why.
// On shutdown the server's and the services' entries turn NOT_SERVING, first thing, so
// balancers stop routing; the dependencies' keep what they were last seen as (outside
// testing: every drain reported PostgreSQL and Redis down, and an alert on them would
// send the night shift to a database that was fine).
#pragma once

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

class HealthService;
class MetricsRegistry;
class OutboxRelay;

inline constexpr char kPostgresHealthName[] = "plantmesh.dependency.postgres";
inline constexpr char kRedisHealthName[] = "plantmesh.dependency.redis";

struct DependencyProbe {
  std::string name;               // health service name, e.g. kRedisHealthName
  std::function<bool()> healthy;  // may block briefly; runs on the health thread
};

// `probe`, answered within `timeout`: it runs on a thread of its own, and one that has
// not answered by then counts as not healthy (so does every later ask while it still
// waits), so that a dependency that never answers cannot hold the health thread.
DependencyProbe WithDeadline(DependencyProbe probe, absl::Duration timeout);

// Runs `SELECT 1` on a connection of its own (opened on first use, reopened after a
// failure), never one of the request pool's: a busy pool must not make health report
// PostgreSQL NOT_SERVING. NOT_SERVING when it has no answer within `timeout`, also
// from a PostgreSQL that accepts the connection and then says nothing (WithDeadline).
DependencyProbe PostgresProbe(std::string url, absl::Duration timeout = absl::Seconds(2));
DependencyProbe RedisProbe(const OutboxRelay* relay);

// `probe`, whose every answer also sets the gauge `metric` of `registry` (not owned): 1
// healthy, 0 not (0 before the first answer), so that an alert can be written on the
// metrics alone (outside testing: health said PostgreSQL was down, no metric did).
DependencyProbe WithUpMetric(DependencyProbe probe, MetricsRegistry* registry,
                             const std::string& metric, const std::string& help);

class HealthReporter {
 public:
  // `health` is the server's health service (not owned). Marks "" and `services`
  // SERVING, then probes each dependency every `period` on a thread.
  HealthReporter(HealthService* health, std::vector<std::string> services,
                 std::vector<DependencyProbe> dependencies,
                 absl::Duration period = absl::Seconds(1));
  ~HealthReporter();

  // The server's and the services' entries NOT_SERVING from now on, the dependencies'
  // as last probed; stops probing.
  void Shutdown();

 private:
  void ProbeLoop(absl::Duration period);

  HealthService* health_;
  std::vector<DependencyProbe> dependencies_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread prober_;
};

}  // namespace plantmesh::runtime
