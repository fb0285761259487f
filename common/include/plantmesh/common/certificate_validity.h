// Whether a certificate is valid now, in words for an error message: the server checks
// its own (tls-cert, at start and on rotation), the SDK the client's (cert_file), so that
// a handshake is not tried with one the peer will refuse, nor its failure blamed on the
// other side (outside testing: an expired server certificate started without a word, and
// clients were told the server had refused theirs).
#pragma once

#include <openssl/x509.h>

#include <optional>
#include <string>

#include "absl/time/time.h"

namespace plantmesh::common {

// nullopt when `now` lies within the certificate's notBefore..notAfter; otherwise
// "expired on 2026-01-31T12:00:00Z" or "is not valid before 2027-01-01T00:00:00Z (check
// this machine's clock)".
std::optional<std::string> CertificateValidityProblem(const X509* certificate, absl::Time now);

}  // namespace plantmesh::common
