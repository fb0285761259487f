// The server's check of a client certificate at every mutual-TLS handshake, in place of
// OpenSSL's own inside gRPC, for two reasons found by outside testing:
//   - gRPC's check refused an expired certificate, one not yet valid, one of another CA
//     and one not made for client authentication all with the same log line ("certificate
//     verify failed"), which named neither the certificate nor the reason, while the
//     client is told to look in the server's log;
//   - it accepted a CA certificate (basicConstraints CA:TRUE) issued by the mesh's CA as
//     a client identity, with every role bound to its URI; a SPIFFE X509-SVID leaf must
//     have cA false and neither keyCertSign nor cRLSign (SPIFFE X509-SVID, section 4.1).
// The chain is still verified by OpenSSL (X509_verify_cert with the ssl_client purpose,
// as a TLS server's OpenSSL does), against the CA bundle the server serves.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace grpc::experimental {
class CertificateVerifier;
}

namespace plantmesh::runtime {

class ClientCertificateCheck {
 public:
  // `ca_file`: the PEM bundle of trusted CAs, read again when its contents change (a
  // rotation of tls-ca, staged by tls_files.h).
  explicit ClientCertificateCheck(std::string ca_file);
  ~ClientCertificateCheck();

  // `leaf_pem`: the client's certificate; `chain_pem`: the certificates it sent with it
  // (intermediates; the leaf again is ignored). OK, or UNAUTHENTICATED whose message
  // says why and which certificate: "the certificate expired on 2026-01-31T12:00:00Z",
  // "… is not valid before …", "… is not issued by a CA this server trusts (tls-ca)", "…
  // is not for client authentication (…)", "… is a CA's (…)"; then its subject, serial,
  // issuer and URI SANs.
  absl::Status Check(std::string_view leaf_pem, std::string_view chain_pem);

 private:
  struct Roots;
  // The trusted CAs of the bundle as it is now (re-read when it changed).
  absl::StatusOr<std::shared_ptr<const Roots>> CurrentRoots();

  const std::string ca_file_;
  absl::Mutex mu_;
  std::shared_ptr<const Roots> roots_ ABSL_GUARDED_BY(mu_);
};

// gRPC's verifier for TlsServerCredentialsOptions (with
// GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY: this is the whole
// check): ClientCertificateCheck, a refusal logged as a warning with its reason (at most
// one a second per certificate, with a count of those not logged).
std::shared_ptr<grpc::experimental::CertificateVerifier> NewClientCertificateVerifier(
    std::string ca_file);

}  // namespace plantmesh::runtime
