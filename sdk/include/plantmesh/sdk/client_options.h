// How a client reaches a PlantMesh server. One struct for the SDK, plantctl and the
// load generator; plantctl fills it from its config file, environment and flags.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

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
  // Overrides the name checked against the server certificate (default: the host
  // part of `endpoint`).
  std::string server_name;
  // Plaintext, for a server started with --insecure on loopback. Never in production.
  bool insecure = false;
  // Deadline applied to each unary call and to the setup of each stream when the
  // caller gives none. Streams themselves have no deadline unless the caller sets one.
  absl::Duration default_deadline = absl::Seconds(10);
  RetryOptions retry;
  // Largest message received (bytes).
  int max_receive_message_bytes = 16 * 1024 * 1024;
  // Use a channel-private subchannel pool (a fresh TLS handshake, e.g. to pick up a
  // rotated certificate within one process).
  bool private_connection_pool = false;
  // HTTP/2 keepalive pings on an open connection (also during idle Watch streams),
  // to notice a dead peer or NAT drop. Must not be shorter than the server's
  // --min-ping-seconds (default 10 s), or the server closes the connection.
  absl::Duration keepalive_time = absl::Seconds(30);
  // How long to wait for a ping's acknowledgement before dropping the connection.
  absl::Duration keepalive_timeout = absl::Seconds(10);

  // Checks the options: endpoint host:port, limits, and (unless insecure) the TLS files
  // loaded with OpenSSL: readable, PEM, ca_file and cert_file hold certificates,
  // key_file a private key that is not encrypted (or decrypts with key_passphrase) and
  // belongs to cert_file's first certificate. INVALID_ARGUMENT naming every bad option
  // (and its file) otherwise, e.g. `key_file: "anna.key" is not the key of the
  // certificate in cert_file "bob.crt"`.
  absl::Status Validate() const;
};

// Creates a channel with mTLS credentials, keepalive and a service config that
// retries UNAVAILABLE only for methods whose contract marks them idempotent (the list
// protoc-gen-plantmesh emits for every contract service). Validate()s the options
// first: bad credentials fail here, not at the first call. gRPC's own log is silenced
// for the process unless GRPC_VERBOSITY is set (the SDK reports failures as statuses).
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options);

// The gRPC service config MakeChannel installs: one retryPolicy (UNAVAILABLE only) for
// every method of every contract service whose idempotency_level is
// NO_SIDE_EFFECTS or IDEMPOTENT; other methods are never retried. Empty methodConfig
// when retry.max_attempts < 2.
std::string RetryServiceConfigJson(const RetryOptions& retry);

}  // namespace plantmesh::sdk
