// What plantmesh-server reads of its TLS files: their check, their expiry, the URI SANs of
// a peer's certificate. The credentials, re-read for rotation, are tls_files.h's.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

// Parses the TLS files as the handshake will use them: the CA bundle holds at least
// one PEM certificate, the chain starts with one, the key is an unencrypted PEM
// private key and belongs to that certificate. gRPC itself would only find out at the
// first handshake, after the server reported itself ready. INVALID_ARGUMENT naming the
// option of each bad file ("tls-key: does not match tls-cert"). At start-up, and for every
// set a rotation brings (tls_files.h).
absl::Status CheckTlsFiles(const std::string& ca_file, const std::string& cert_file,
                           const std::string& key_file);

// When the first certificate of `cert_file` (PEM) expires. Read anew at each call, so a
// rotated file shows its new date. NOT_FOUND / INVALID_ARGUMENT when unreadable.
absl::StatusOr<absl::Time> CertificateNotAfter(const std::string& cert_file);

// The URI SANs of a PEM certificate (a client's, as gRPC's auth context holds it:
// x509_pem_cert), their bytes as the certificate has them; empty when it cannot be read.
std::vector<std::string> UriSansOfPem(absl::string_view pem);

}  // namespace plantmesh::runtime
