// grpc.health.v1.Health on gRPC's callback API, with the status surface of gRPC's
// HealthCheckServiceInterface. See proto/grpc/health/v1/health.proto for why it exists.
//
// Callback, not synchronous: a server with only synchronous services (the plaintext
// probe listener) polls with threads of its own, and gRPC's default poller (epoll1) has
// one epoll set per process, so those threads also read the mTLS port's connections
// and hand every call they read over to gRPC's callback threads — a thread switch per
// call (B4 in bench/README.md measured a quarter of WhoAmI's throughput). Check answers
// on gRPC's thread (a map read under a lock); a Watch holds no thread while it waits.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace plantmesh::runtime {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  HealthService() = default;
  // After the servers it is registered with have stopped (Wait returned).
  ~HealthService() override;
  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  // Sets the status of `service` ("" = the whole server). Ignored after Shutdown.
  void SetServingStatus(const std::string& service, bool serving);
  // Every entry NOT_SERVING for good but those in `kept`, which keep their last status;
  // Watch streams send theirs and end (status OK).
  void Shutdown(const std::set<std::string>& kept = {});

  // Check: the entry's status, NOT_FOUND for a name never set.
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  // Watch: the current status (SERVICE_UNKNOWN for a name never set), then every change,
  // until the client leaves or the server shuts down.
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  class Watcher;
  // What a Watch stream does next: decided under the locks, done outside them.
  enum class WatchStep { kNothing, kWrite, kFinish };
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  ServingStatus StatusOf(const std::string& service) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Tells every watcher the current status of its entry (and whether the end came);
  // the steps it returns are run once mu_ is released.
  std::vector<std::pair<Watcher*, WatchStep>> UpdateWatchersLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Forget(Watcher* watcher);

  mutable absl::Mutex mu_;
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);  // open Watch streams
};

}  // namespace plantmesh::runtime
