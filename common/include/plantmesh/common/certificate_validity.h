// Whether a certificate is valid now, in words for an error message: the server checks
// its own (tls-cert, at start and on rotation), the SDK the client's (cert_file), so that
// a handshake is not tried with one the peer will refuse, nor its failure blamed on the
// other side (outside testing: an expired server certificate started without a word, and
// clients were told the server had refused theirs).
#pragma once

#include <openssl/x509.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace plantmesh::common {

// nullopt when `now` lies within the certificate's notBefore..notAfter; otherwise
// "expired on 2026-01-31T12:00:00Z" or "is not valid before 2027-01-01T00:00:00Z (check
// this machine's clock)".
std::optional<std::string> CertificateValidityProblem(const X509* certificate, absl::Time now);

// nullopt when one of `certificates` (a CA file's, in order) is a CA certificate
// (basicConstraints CA:TRUE) valid at `now`, which a peer's certificate can verify
// against; otherwise why none is, by the last one read: "a certificate that is not a CA
// (no basicConstraints CA:TRUE)" or "a CA expired on ...". The server checks its tls-ca
// with it, the SDK a client's ca_file (outside testing: a leaf given as ca_file connected,
// and every call then failed its handshake).
std::optional<std::string> NoValidCaProblem(const std::vector<X509*>& certificates, absl::Time now);

}  // namespace plantmesh::common
