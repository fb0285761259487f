// How the SDK's channels ride through a lost connection (MakeChannel with
// ClientOptions::reconnect.wait_for_ready): what each channel remembers about its
// connection, kept by a client interceptor that sets gRPC's wait_for_ready per call.
// Not part of the public API.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace grpc {
class ChannelInterface;
class Status;
namespace experimental {
class ClientInterceptorFactoryInterface;
}
}  // namespace grpc

namespace plantmesh::sdk::internal {

// gRPC failed the call before sending it: no connection could be made ("failed to
// connect to all addresses"). Sending it again is safe for every method.
bool IsUnsentConnectFailure(const grpc::Status& status);

// A call's status when it waited for a channel that never connected and ran out of time:
// the request was never sent. UNAVAILABLE naming `endpoint` and `why` (the first
// attempt's error, "... Connection refused"), with ErrorInfo kNotConnectedReason. Outside
// testing: a mistyped port said only "Deadline Exceeded" after 10 s, and plantctl added
// that the change "may have been made". `plaintext`: the client is insecure; a server
// that closed its connection at once is then asked about as one that expects TLS.
grpc::Status NotConnectedStatus(const std::string& endpoint, const std::string& why,
                                bool plaintext = false);

// Such a failure caused by the TLS handshake (FromGrpcStatus reports it as
// UNAUTHENTICATED "TLS handshake failed"). `mutual_tls`: as for FromGrpcStatus.
bool IsHandshakeFailure(const grpc::Status& status, bool mutual_tls);

// What one channel has seen of its connection.
class ConnectionHistory {
 public:
  enum class Failure { kNone, kUnreachable, kHandshake };

  // The channel was READY at least once (a call succeeded or saw it READY).
  bool connected_before() const { return connected_before_.load(std::memory_order_acquire); }
  void MarkConnected() { connected_before_.store(true, std::memory_order_release); }

  // How the latest failed attempt of a channel that never connected failed: a
  // handshake failure is reported at once, an unreachable server is waited for.
  Failure first_connection_failure() const { return failure_.load(std::memory_order_acquire); }
  // `why`: gRPC's text of it ("failed to connect to all addresses; last error: ...
  // Connection refused"), for the status of a call that then waited in vain.
  void RecordFirstConnectionFailure(Failure failure, std::string why) {
    failure_.store(failure, std::memory_order_release);
    absl::MutexLock lock(&why_mu_);
    why_ = std::move(why);
  }
  std::string first_connection_failure_text() const {
    absl::MutexLock lock(&why_mu_);
    return why_;
  }

  // Whether a call of `method` ("/package.Service/Method") waits for a connection:
  // every method once connected; before that, retry-safe methods while the server is
  // merely unreachable (not after a handshake failure, nor before the first attempt
  // failed, so that the first failure is reported as what it is).
  bool ShouldWaitForReady(absl::string_view method) const;

  // Whether a call that will wait for the connection, arriving at `now` while the
  // channel is in TRANSIENT_FAILURE, resets gRPC's reconnect backoff: true for at most
  // one caller per `interval` (the first since the last reset `interval` ago or more).
  bool ClaimBackoffReset(absl::Time now, absl::Duration interval);

 private:
  std::atomic<bool> connected_before_{false};
  std::atomic<Failure> failure_{Failure::kNone};
  mutable absl::Mutex why_mu_;
  std::string why_ ABSL_GUARDED_BY(why_mu_);
  std::atomic<int64_t> last_backoff_reset_ns_{std::numeric_limits<int64_t>::min()};
};

// The interceptor factory MakeChannel installs: sets wait_for_ready per call as
// `history` says and keeps `history` current from the calls' outcomes. A call that
// will wait on a channel in TRANSIENT_FAILURE resets the channel's reconnect backoff, at
// most once per `max_backoff_while_calls_wait` (ReconnectOptions; zero: never). A call
// that waited and reached its deadline without a connection (the channel not READY at
// the end) ends UNAVAILABLE "no connection to <endpoint> within the call's deadline ..."
// rather than gRPC's bare DEADLINE_EXCEEDED; on a channel that never connected, the
// request was not sent: the message says so with the first attempt's error ("Connection
// refused"), and the status carries ErrorInfo reason sdk::kNotConnectedReason (NotConnectedStatus).
std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>
MakeWaitForReadyInterceptorFactory(std::shared_ptr<ConnectionHistory> history, bool mutual_tls,
                                   std::string endpoint,
                                   absl::Duration max_backoff_while_calls_wait);

// Remembers `history` for `channel` (made by MakeChannel), for ConnectionHistoryOf.
void RegisterConnectionHistory(const grpc::ChannelInterface* channel,
                               std::shared_ptr<ConnectionHistory> history);
// The history of a channel made by MakeChannel with wait_for_ready; nullptr otherwise.
std::shared_ptr<ConnectionHistory> ConnectionHistoryOf(const grpc::ChannelInterface* channel);

}  // namespace plantmesh::sdk::internal
