// The server's policy for clients' HTTP/2 keepalive pings, and how a client that breaks
// it is told.
//
// Policy (min-ping-seconds, default 5): a client may ping every 5 s or more slowly, on a
// connection with calls open or idle (keepalive_permit_without_calls), with or without data
// flowing. 5 s because tablets and edge programs behind Wi-Fi, NAT and firewalls keep
// Watch streams open that carry no data for minutes, and some clients choose short
// keepalives to notice a dead link quickly (grpc-js users commonly use 5-10 s; grpc-go and
// grpc-java refuse less than 10 s themselves); a ping costs 17 bytes each way. The SDK's
// default (30 s, sdk/client_options.h) is well inside it.
//
// gRPC core enforces the policy per connection: a ping that arrives sooner than the minimum
// after the previous one, while the server sends no data, is a "strike"; after more than
// kMaxPingStrikes strikes the server sends GOAWAY (ENHANCE_YOUR_CALM, debug data
// "too_many_pings") and closes the connection. The client sees its calls fail: grpc-js with
// RESOURCE_EXHAUSTED "Bandwidth exhausted" (and doubles its keepalive time), gRPC core
// clients (C++, Python) with UNAVAILABLE "Too many pings", grpc-go with UNAVAILABLE
// "too_many_pings". To leave room for timer and network jitter, the server counts a strike
// only for a ping more than 20% early (4 s for the 5 s policy).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace grpc {
class ServerBuilder;
}

namespace plantmesh::runtime {

// Early pings tolerated before the GOAWAY (gRPC's GRPC_ARG_HTTP2_MAX_PING_STRIKES).
inline constexpr int kMaxPingStrikes = 2;

// The interval gRPC core enforces for a policy of `min_ping_seconds`: 80% of it, in ms.
int EnforcedPingIntervalMs(int min_ping_seconds);

// Sets the server's keepalive channel arguments for the policy: the least interval between
// client pings (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS), pings allowed with
// no call open (GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS), kMaxPingStrikes, and the server's
// own pings that find dead peers of long-lived streams (every 60 s, 20 s to answer).
void ApplyKeepalivePolicy(int min_ping_seconds, grpc::ServerBuilder* builder);

// Routes gRPC core's log into ours for the process: its errors (and, when GRPC_VERBOSITY
// asks, more) as they were, and the GOAWAY "too_many_pings" it sends as a warning naming
// the peer and the policy (see TooManyPingsWarning). Call once, before the server starts.
void LogClientsThatPingTooOften(int min_ping_seconds);

// The warning for a gRPC core log line that reports a GOAWAY "too_many_pings" sent to a
// peer (`ipv4:10.0.0.7:51234: Sending goaway err=...too_many_pings...`), e.g.
// "client ipv4:10.0.0.7:51234 pinged too often and was disconnected (GOAWAY
// too_many_pings) ..."; nullopt for any other line.
std::optional<std::string> TooManyPingsWarning(absl::string_view grpc_line, int min_ping_seconds);

// How many of gRPC core's error lines (and GOAWAY warnings) reach our log: at most
// kLinesPerWindow a minute, the rest counted and reported with the first line written
// after their minute. A client can make gRPC core write an error line per call (outside
// testing: a malformed grpc-timeout or content-type header), and nothing else keeps it
// from filling the server's log. Lines an operator asked for with GRPC_VERBOSITY (info,
// debug) are not limited.
class GrpcLogLimiter {
 public:
  using Clock = std::chrono::steady_clock;  // a step of the wall clock moves no window
  static constexpr int kLinesPerWindow = 100;
  static constexpr Clock::duration kWindow = std::chrono::minutes(1);

  // Whether a line at `now` is written. `*held_back`: the lines not written since the last
  // report, once a new window begins, for the caller to report (else 0).
  bool Admit(Clock::time_point now, int64_t* held_back);

 private:
  absl::Mutex mu_;
  std::optional<Clock::time_point> window_start_ ABSL_GUARDED_BY(mu_);
  int written_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t held_back_ ABSL_GUARDED_BY(mu_) = 0;
};

// TLS handshakes that failed in this process since start (as server or client),
// counted from gRPC core's log line for each ("Handshake failed with fatal error ...")
// once LogClientsThatPingTooOften routed that log to ours, and client certificates our
// verifier refused (CountRefusedClientCertificate; gRPC logs no such line for them).
uint64_t TlsHandshakeFailures();
void CountRefusedClientCertificate();

}  // namespace plantmesh::runtime
