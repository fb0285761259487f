#include "server/runtime/health_service.h"

#include <grpcpp/server_context.h>

namespace plantmesh::runtime {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

void HealthService::SetServingStatus(const std::string& service, bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  auto [it, inserted] = serving_.try_emplace(service, serving);
  if (!inserted && it->second == serving) return;
  it->second = serving;
  ++generation_;
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (auto& entry : serving_) entry.second = false;
  ++generation_;
}

HealthService::ServingStatus HealthService::StatusOf(const std::string& service) const {
  auto it = serving_.find(service);
  if (it == serving_.end()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

grpc::Status HealthService::Check(grpc::ServerContext*, const HealthCheckRequest* request,
                                  HealthCheckResponse* response) {
  absl::ReaderMutexLock lock(&mu_);
  const ServingStatus status = StatusOf(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* context, const HealthCheckRequest* request,
                                  grpc::ServerWriter<HealthCheckResponse>* writer) {
  uint64_t seen_generation = 0;
  ServingStatus last_sent = HealthCheckResponse::UNKNOWN;
  while (true) {
    ServingStatus status;
    bool shut_down;
    {
      absl::MutexLock lock(&mu_);
      // Wake on a change, or every 200 ms to notice a cancelled client (a sync handler
      // that never returns would hold Server::Shutdown until its deadline).
      auto changed = [&] { return generation_ != seen_generation; };
      mu_.AwaitWithTimeout(absl::Condition(&changed), absl::Milliseconds(200));
      seen_generation = generation_;
      status = StatusOf(request->service());
      shut_down = shut_down_;
    }
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    if (status != last_sent) {
      HealthCheckResponse response;
      response.set_status(status);
      if (!writer->Write(response)) return grpc::Status::OK;  // client gone
      last_sent = status;
    }
    if (shut_down) return grpc::Status::OK;
  }
}

}  // namespace plantmesh::runtime
