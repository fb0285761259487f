// The wait_for_ready interceptor and the per-channel connection history (see
// plantmesh/sdk/internal/connection.h and MakeChannel).
#include "plantmesh/sdk/internal/connection.h"

#include <grpc/grpc.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/codegen/channel_interface.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/status.h>

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "plantmesh/sdk/internal/service_config.h"

namespace plantmesh::sdk::internal {
namespace {

using grpc::experimental::ClientInterceptorFactoryInterface;
using grpc::experimental::ClientRpcInfo;
using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::Interceptor;
using grpc::experimental::InterceptorBatchMethods;

// "/plantmesh.defect.v1.DefectService/GetDefect" of every retry-safe method.
const std::unordered_set<std::string>& RetrySafeMethodPaths() {
  static const std::unordered_set<std::string>* const paths = [] {
    auto* all = new std::unordered_set<std::string>();
    for (const RetrySafeMethod& method : GeneratedRetrySafeMethods()) {
      all->insert(absl::StrCat("/", method.service, "/", method.method));
    }
    return all;
  }();
  return *paths;
}

// Watches a call's outcome: while the channel never connected, what it says about
// the connection; for a call that waited for a connection and ran out of time
// without one, says so (UNAVAILABLE) instead of gRPC's bare "Deadline Exceeded".
class ConnectionObserver final : public Interceptor {
 public:
  ConnectionObserver(std::shared_ptr<ConnectionHistory> history, grpc::ChannelInterface* channel,
                     bool mutual_tls, bool waited, const std::string* endpoint)
      : history_(std::move(history)),
        channel_(channel),
        mutual_tls_(mutual_tls),
        waited_(waited),
        endpoint_(endpoint) {}

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      grpc::Status* status = methods->GetRecvStatus();
      const bool ready = channel_->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
      if (status->ok() || ready) {
        history_->MarkConnected();
      } else if (!history_->connected_before() && IsUnsentConnectFailure(*status)) {
        history_->RecordFirstConnectionFailure(IsHandshakeFailure(*status, mutual_tls_)
                                                   ? ConnectionHistory::Failure::kHandshake
                                                   : ConnectionHistory::Failure::kUnreachable,
                                               status->error_message());
      } else if (waited_ && status->error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
                 status->error_details().empty()) {
        *status = history_->connected_before()
                      ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                     absl::StrCat("no connection to ", *endpoint_,
                                                  " within the call's deadline (waited for the "
                                                  "server to be back): ",
                                                  status->error_message()))
                      : NotConnectedStatus(*endpoint_, history_->first_connection_failure_text(),
                                           /*plaintext=*/!mutual_tls_);
      }
    }
    methods->Proceed();
  }

 private:
  std::shared_ptr<ConnectionHistory> history_;
  grpc::ChannelInterface* channel_;  // the call holds a reference to it
  bool mutual_tls_;
  bool waited_;
  const std::string* endpoint_;  // owned by the factory, which the channel keeps
};

class WaitForReadyInterceptorFactory final : public ClientInterceptorFactoryInterface {
 public:
  WaitForReadyInterceptorFactory(std::shared_ptr<ConnectionHistory> history, bool mutual_tls,
                                 std::string endpoint, absl::Duration max_backoff_while_calls_wait)
      : history_(std::move(history)),
        mutual_tls_(mutual_tls),
        endpoint_(std::move(endpoint)),
        max_backoff_while_calls_wait_(max_backoff_while_calls_wait) {}

  // Runs when the call is created, before gRPC reads the context's wait_for_ready
  // flag for the call's initial metadata: the flag set here applies to this call.
  Interceptor* CreateClientInterceptor(ClientRpcInfo* info) override {
    grpc::ChannelInterface* channel = info->channel();
    if (!history_->connected_before() &&
        channel->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY) {
      history_->MarkConnected();
    }
    const bool wait = history_->ShouldWaitForReady(info->method());
    if (wait) {
      info->client_context()->set_wait_for_ready(true);
      MaybeResetBackoff(channel);
    }
    return new ConnectionObserver(history_, channel, mutual_tls_, wait, &endpoint_);
  }

 private:
  // gRPC spaces its attempts by a backoff that grows while the server is away (×1.6
  // up to max_backoff), so a server back after a few seconds would be found only at the
  // next attempt, up to seconds later, past the waiting calls' deadlines. A waiting
  // call is a client that wants the connection now: it starts the next attempt at once,
  // at most once per max_backoff_while_calls_wait.
  void MaybeResetBackoff(grpc::ChannelInterface* channel) {
    if (max_backoff_while_calls_wait_ == absl::ZeroDuration() ||
        channel->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_TRANSIENT_FAILURE) {
      return;
    }
    auto* concrete = dynamic_cast<grpc::Channel*>(channel);
    if (concrete != nullptr &&
        history_->ClaimBackoffReset(absl::Now(), max_backoff_while_calls_wait_)) {
      grpc::experimental::ChannelResetConnectionBackoff(concrete);
    }
  }

  std::shared_ptr<ConnectionHistory> history_;
  bool mutual_tls_;
  std::string endpoint_;
  absl::Duration max_backoff_while_calls_wait_;
};

struct Registry {
  absl::Mutex mu;
  std::unordered_map<const grpc::ChannelInterface*, std::weak_ptr<ConnectionHistory>> histories
      ABSL_GUARDED_BY(mu);
};

Registry& TheRegistry() {
  static Registry* const registry = new Registry();  // never destroyed: used until exit
  return *registry;
}

}  // namespace

bool ConnectionHistory::ShouldWaitForReady(absl::string_view method) const {
  if (connected_before()) return true;
  return first_connection_failure() == Failure::kUnreachable &&
         RetrySafeMethodPaths().count(std::string(method)) > 0;
}

bool ConnectionHistory::ClaimBackoffReset(absl::Time now, absl::Duration interval) {
  const int64_t now_ns = absl::ToUnixNanos(now);
  int64_t last = last_backoff_reset_ns_.load(std::memory_order_relaxed);
  // last + interval without overflow: last starts at the smallest int64.
  while (now_ns - interval / absl::Nanoseconds(1) >= last) {
    if (last_backoff_reset_ns_.compare_exchange_weak(last, now_ns, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

std::unique_ptr<ClientInterceptorFactoryInterface> MakeWaitForReadyInterceptorFactory(
    std::shared_ptr<ConnectionHistory> history, bool mutual_tls, std::string endpoint,
    absl::Duration max_backoff_while_calls_wait) {
  return std::make_unique<WaitForReadyInterceptorFactory>(
      std::move(history), mutual_tls, std::move(endpoint), max_backoff_while_calls_wait);
}

void RegisterConnectionHistory(const grpc::ChannelInterface* channel,
                               std::shared_ptr<ConnectionHistory> history) {
  Registry& registry = TheRegistry();
  absl::MutexLock lock(&registry.mu);
  // Channels that are gone leave expired entries; drop them as new ones come.
  for (auto it = registry.histories.begin(); it != registry.histories.end();) {
    it = it->second.expired() ? registry.histories.erase(it) : std::next(it);
  }
  registry.histories[channel] = std::move(history);
}

std::shared_ptr<ConnectionHistory> ConnectionHistoryOf(const grpc::ChannelInterface* channel) {
  Registry& registry = TheRegistry();
  absl::MutexLock lock(&registry.mu);
  auto it = registry.histories.find(channel);
  return it == registry.histories.end() ? nullptr : it->second.lock();
}

}  // namespace plantmesh::sdk::internal
