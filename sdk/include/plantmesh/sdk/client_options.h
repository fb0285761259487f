// How a client reaches a PlantMesh server. One struct for the SDK, plantctl and the
// load generator; plantctl fills it from its config file, environment and flags.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "plantmesh/sdk/cxx17.h"  // first: before any header that needs C++17

namespace grpc {
class Channel;
}

namespace plantmesh::sdk {

struct RetryOptions {
  // Attempts in total for methods the contract marks safe to retry (gRPC caps it at 5).
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  double backoff_multiplier = 2.0;
};

// How a channel gets its connection back (a server restart, a network cut) and how
// calls behave meanwhile. gRPC retries a failed connection attempt after a backoff
// that starts at `initial_backoff` and grows by 1.6 per failed attempt (gRPC's fixed
// multiplier, with ±20 % jitter) up to `max_backoff`. A connection that was working
// and breaks is retried at once, and the backoff starts again from initial_backoff.
// gRPC's own defaults (1 s growing to 120 s, 20 s per attempt) suit the Internet; a
// plant network wants a server that is back after 0.2 s to be used after 0.2 s.
struct ReconnectOptions {
  // Wait after the first failed attempt (GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS; gRPC
  // waits at least 100 ms).
  absl::Duration initial_backoff = absl::Milliseconds(100);
  // Cap of the wait between attempts (GRPC_ARG_MAX_RECONNECT_BACKOFF_MS): a server
  // down for long is still tried this often.
  absl::Duration max_backoff = absl::Seconds(5);
  // Time an attempt (TCP, TLS, HTTP/2 settings) gets before it counts as failed
  // (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, which gRPC 1.51 applies as the minimum connect
  // timeout; at least 100 ms).
  absl::Duration min_connect_timeout = absl::Seconds(5);
  // Longest wait between attempts while calls are waiting for the connection: a call
  // that will wait (wait_for_ready) and finds the channel in TRANSIENT_FAILURE resets
  // gRPC's backoff (the next attempt starts at once) unless it was reset less than this
  // long ago. A restarted server is then found within about this much of being back,
  // however long it was down, while a channel nobody calls keeps the backoff above.
  // Zero: never (gRPC's backoff alone). At least 100 ms otherwise.
  absl::Duration max_backoff_while_calls_wait = absl::Milliseconds(250);
  // Calls wait for a connection within their deadline (gRPC's wait_for_ready) instead
  // of failing at once with UNAVAILABLE while there is none: every call once the
  // channel has been connected, and before that the retry-safe ones once a first
  // attempt failed for a reason other than the TLS handshake. See MakeChannel.
  // false: gRPC's fail-fast behaviour for every call.
  bool wait_for_ready = true;
};

struct ClientOptions {
  // host:port of plantmesh-server.
  std::string endpoint = "127.0.0.1:7443";
  // PEM files: the CA that signed the server's certificate, and this client's
  // certificate and key (mutual TLS). All three are required unless `insecure`, and are
  // checked by Validate (readable, PEM, the key belongs to the certificate).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Passphrase of an encrypted key_file (PKCS#8 or traditional PEM encryption): the key
  // is decrypted in memory when the channel is made. Empty: key_file must not be
  // encrypted.
  std::string key_passphrase;
  // How often ca_file, cert_file and key_file are read again for the channel's next
  // connections, so that a program that runs longer than its certificate presents the
  // rotated one (rotate by writing a new directory and switching a symlink to it, as
  // cert-manager's kubelet does, never by rewriting the files in place). Connections
  // already open keep the certificate they were made with (a server's
  // max-connection-age-seconds ends them). Zero: read once, when the channel is made. A key
  // with key_passphrase is always read once: gRPC reads only unencrypted keys from files.
  absl::Duration tls_reload = absl::Seconds(60);
  // Overrides the name checked against the server certificate (default: the host
  // part of `endpoint`).
  std::string server_name;
  // Plaintext, for a server started with --insecure on loopback. Never in production:
  // Validate (and Connect) refuse it toward an endpoint that is not this machine's
  // (127.x.x.x, ::1, localhost, a Unix socket).
  bool insecure = false;
  // Deadline applied to each unary call and to the setup of each stream when the
  // caller gives none. Streams themselves have no deadline unless the caller sets one.
  absl::Duration default_deadline = absl::Seconds(10);
  RetryOptions retry;
  // Largest message received (bytes).
  int max_receive_message_bytes = 16 * 1024 * 1024;
  // Use a channel-private subchannel pool (a fresh TLS handshake, e.g. to pick up a
  // rotated certificate at once within one process).
  bool private_connection_pool = false;
  // HTTP/2 keepalive pings while calls are open (also during Watch streams that carry no
  // data for minutes), to notice a dead peer or a NAT/firewall that dropped the flow.
  // Must not be shorter than the server's min-ping-seconds (default 5 s: the server accepts
  // a ping every 5 s or more slowly, server/runtime/keepalive.h); a client that pings more
  // often is disconnected with GOAWAY "too_many_pings" (the server logs it; the SDK
  // reconnects, a watch resumes from its cursor, a unary call in flight may fail
  // UNAVAILABLE). Validate refuses less than 5 s. The default, 30 s, is accepted by every
  // PlantMesh server whose min-ping-seconds is 30 or less.
  absl::Duration keepalive_time = absl::Seconds(30);
  // How long to wait for a ping's acknowledgement before dropping the connection.
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Reconnection backoff and waiting for a connection (defaults above).
  ReconnectOptions reconnect;

  // Checks the options: endpoint host:port, limits, and (unless insecure) the TLS files
  // loaded with OpenSSL: readable, PEM, ca_file and cert_file hold certificates,
  // key_file a private key that is not encrypted (or decrypts with key_passphrase) and
  // belongs to cert_file's first certificate. INVALID_ARGUMENT naming every bad option
  // (and its file) otherwise, e.g. `key_file: "anna.key" is not the key of the
  // certificate in cert_file "bob.crt"`.
  absl::Status Validate() const;
};

// The endpoint rule of ClientOptions::Validate alone: "host:port", "[v6]:port" or a gRPC
// target with a scheme ("dns:///h:p", "ipv4:", "ipv6:", "unix:path"), port 1-65535.
// INVALID_ARGUMENT saying what is wrong with it, e.g. `"db1:0" has no valid port
// (1-65535)`, for a program that takes endpoints from its own settings.
absl::Status CheckEndpoint(absl::string_view endpoint);

// Creates a channel with mTLS credentials, keepalive, options.reconnect's backoff and
// a service config that retries UNAVAILABLE and CANCELLED for methods whose contract
// marks them idempotent (the list protoc-gen-plantmesh emits for every contract service;
// RetryServiceConfigJson).
// Validate()s the options first: bad credentials fail here, not at the first call.
// gRPC's own log is silenced for the process unless GRPC_VERBOSITY is set (the SDK
// reports failures as statuses). OpenSSL's clean-up at exit is turned off for the process
// unless something initialised OpenSSL before (plantmesh/common/openssl_exit.h): it
// frees the library under gRPC's threads, which are never joined, and a program that
// returns from main while a channel reconnects could crash in it.
//
// Riding through a restart (options.reconnect.wait_for_ready): an interceptor on the
// channel sets gRPC's wait_for_ready on each call, so that a call made while the
// connection is down waits for it within its deadline, and its waiting drives the
// reconnection (a fail-fast call does not: gRPC then waits for its backoff, ~12 s
// after a restart). Calls wait
//   - always, once the channel has been connected (READY) at least once;
//   - before that, only for retry-safe methods and only after a first attempt failed
//     for a reason other than the TLS handshake (server not up yet).
// A channel's first call is sent without wait_for_ready. gRPC holds such a call
// until the first connection attempt ends, and then fails it with the attempt's
// error: a refused client certificate or an unknown CA is therefore still reported
// within a second (the retry policy tries a retry-safe call's connection up to
// retry.max_attempts times, as for any UNAVAILABLE) as UNAUTHENTICATED "TLS handshake
// failed ..." (FromGrpcStatus' detection sees
// gRPC's connection error text) instead of a DEADLINE_EXCEEDED after waiting. A unary
// call that failed that way for another reason (unreachable) is sent once more, with
// wait_for_ready when the rule above says so: it never reached a server. Streams wait
// for the connection before they open (up to their deadline or default_deadline).
// While calls wait, the channel tries again at least every
// reconnect.max_backoff_while_calls_wait instead of its grown backoff.
// A call that waited and ran out of time without a connection ends UNAVAILABLE ("no
// connection to <endpoint> within the call's deadline ..."), not DEADLINE_EXCEEDED.
// Channels not made here (a client constructed on one's own channel) keep gRPC's
// defaults.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options);

// The gRPC service config MakeChannel installs: one retryPolicy (UNAVAILABLE, and
// CANCELLED, which only the server's side sends a call: one that reaches a server as its
// shutdown begins; the program's own cancellation is never retried) for
// every method of every contract service whose idempotency_level is
// NO_SIDE_EFFECTS or IDEMPOTENT; other methods are never retried. Empty methodConfig
// when retry.max_attempts < 2.
std::string RetryServiceConfigJson(const RetryOptions& retry);

}  // namespace plantmesh::sdk
