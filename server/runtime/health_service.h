// grpc.health.v1.Health on the synchronous API, with the status surface of gRPC's
// HealthCheckServiceInterface. See proto/grpc/health/v1/health.proto for why it exists.
#pragma once

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace plantmesh::runtime {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  // Sets the status of `service` ("" = the whole server). Ignored after Shutdown.
  void SetServingStatus(const std::string& service, bool serving);
  // Every entry NOT_SERVING for good; Watch streams send it and end.
  void Shutdown();

  // Check: the entry's status, NOT_FOUND for a name never set.
  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  // Watch: the current status (SERVICE_UNKNOWN for a name never set), then every change,
  // until the client leaves or the server shuts down.
  grpc::Status Watch(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

 private:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  ServingStatus StatusOf(const std::string& service) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped on every change, wakes watchers
};

}  // namespace plantmesh::runtime
