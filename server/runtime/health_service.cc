#include "server/runtime/health_service.h"

#include <grpcpp/server_context.h>

#include <cassert>
#include <utility>
#include <vector>

namespace plantmesh::runtime {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch stream: one write outstanding, the newest status written next (a status
// that came and went while a write was in flight is not sent), then the end. Deletes
// itself in OnDone. What to do is decided under its mu_ (and the service's, for
// Update), done outside both: gRPC may run a reaction on the thread that starts an
// operation, and OnDone takes the service's lock.
class HealthService::Watcher final
    : public grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse> {
 public:
  using Step = WatchStep;

  Watcher(HealthService* service, std::string name) : service_(service), name_(std::move(name)) {}

  const std::string& name() const { return name_; }

  // The entry's status now; `end`: the server shut down (finish after sending it).
  Step Update(ServingStatus status, bool end) {
    absl::MutexLock lock(&mu_);
    wanted_ = status;
    end_ = end_ || end;
    return NextStepLocked();
  }

  // Runs what Update or a reaction decided, without mu_ held. The watcher stays alive
  // until the step's own reaction: OnDone comes only after the finish.
  void Run(Step step) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    // response_ and finish_status_ do not change while the write or finish is theirs.
    if (step == Step::kWrite) StartWrite(&response_);
    if (step == Step::kFinish) Finish(finish_status_);
  }

  void OnWriteDone(bool ok) override {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) end_ = true;  // the client left: nothing more to send
      step = NextStepLocked();
    }
    Run(step);
  }

  void OnCancel() override {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      end_ = cancelled_ = true;
      // Unless a finish is already under way (Run reads finish_status_ without mu_).
      if (!finished_) finish_status_ = grpc::Status::CANCELLED;
      step = NextStepLocked();
    }
    Run(step);
  }

  void OnDone() override {
    service_->Forget(this);
    delete this;
  }

 private:
  Step NextStepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return Step::kNothing;
    if (wanted_ != last_sent_ && !cancelled_) {
      response_.set_status(wanted_);
      last_sent_ = wanted_;
      writing_ = true;
      return Step::kWrite;
    }
    if (end_) {
      finished_ = true;
      return Step::kFinish;
    }
    return Step::kNothing;
  }

  HealthService* const service_;
  const std::string name_;
  absl::Mutex mu_;
  HealthCheckResponse response_ ABSL_GUARDED_BY(mu_);  // the write in flight
  ServingStatus wanted_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  ServingStatus last_sent_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool end_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);  // OK, or CANCELLED after OnCancel
};

HealthService::~HealthService() {
  // gRPC ends every Watch (OnDone, which takes mu_ to Forget it) before Server::Wait
  // returns, but orders that with libgrpc's own atomics, which ThreadSanitizer does not
  // see; taking mu_ here makes the order visible before watchers_ is destroyed.
  absl::MutexLock lock(&mu_);
  assert(watchers_.empty());
}

void HealthService::SetServingStatus(const std::string& service, bool serving) {
  std::vector<std::pair<Watcher*, WatchStep>> steps;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    auto [it, inserted] = serving_.try_emplace(service, serving);
    if (!inserted && it->second == serving) return;
    it->second = serving;
    steps = UpdateWatchersLocked();
  }
  for (auto& [watcher, step] : steps) watcher->Run(step);
}

void HealthService::Shutdown(const std::set<std::string>& kept) {
  std::vector<std::pair<Watcher*, WatchStep>> steps;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (auto& entry : serving_) {
      if (kept.count(entry.first) == 0) entry.second = false;
    }
    steps = UpdateWatchersLocked();
  }
  for (auto& [watcher, step] : steps) watcher->Run(step);
}

std::vector<std::pair<HealthService::Watcher*, HealthService::WatchStep>>
HealthService::UpdateWatchersLocked() {
  std::vector<std::pair<Watcher*, WatchStep>> steps;
  for (Watcher* watcher : watchers_) {
    steps.emplace_back(watcher, watcher->Update(StatusOf(watcher->name()), shut_down_));
  }
  return steps;
}

void HealthService::Forget(Watcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
}

HealthService::ServingStatus HealthService::StatusOf(const std::string& service) const {
  auto it = serving_.find(service);
  if (it == serving_.end()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ServingStatus status;
  {
    absl::ReaderMutexLock lock(&mu_);
    status = StatusOf(request->service());
  }
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
    return reactor;
  }
  response->set_status(status);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext*, const HealthCheckRequest* request) {
  auto* watcher = new Watcher(this, request->service());
  Watcher::Step step;
  {
    absl::MutexLock lock(&mu_);
    watchers_.insert(watcher);
    step = watcher->Update(StatusOf(watcher->name()), shut_down_);
  }
  watcher->Run(step);
  return watcher;
}

}  // namespace plantmesh::runtime
