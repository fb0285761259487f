// The client's TLS files, loaded and checked before gRPC sees them (with OpenSSL), so
// that a wrong file fails at MakeChannel as INVALID_ARGUMENT naming the option and the
// file, instead of as UNAVAILABLE "empty address list" after gRPC's handshake log.
// Not part of the public API: ClientOptions::Validate and MakeChannel use it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "plantmesh/sdk/client_options.h"

namespace plantmesh::sdk::internal {

// PEM text as gRPC wants it.
struct TlsFiles {
  std::string ca_pem;    // every certificate of ca_file
  std::string cert_pem;  // cert_file as given (the client certificate, then its chain)
  std::string key_pem;   // key_file's key, unencrypted PKCS#8 (decrypted in memory)
};

// Each problem with ca_file, cert_file, key_file (and key_passphrase) of `options`, as
// "<option>: <what> \"<path>\"": unreadable, not PEM, no certificate / no private key,
// an encrypted key without key_passphrase or with a wrong one, a key that does not
// belong to cert_file's first certificate. Empty when `options.insecure`.
std::vector<std::string> TlsFileProblems(const ClientOptions& options);

// The files of `options`, checked as above; INVALID_ARGUMENT with every problem.
absl::StatusOr<TlsFiles> LoadTlsFiles(const ClientOptions& options);

// gRPC's own log (handshake failures and the like, which the SDK reports as statuses)
// goes quiet for the process, unless the environment sets GRPC_VERBOSITY (ERROR, INFO
// or DEBUG), which gRPC then honours as usual. Idempotent; MakeChannel calls it.
void QuietGrpcLogUnlessAsked();

}  // namespace plantmesh::sdk::internal
