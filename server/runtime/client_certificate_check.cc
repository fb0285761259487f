#include "server/runtime/client_certificate_check.h"

#include <grpcpp/security/tls_certificate_verifier.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plantmesh/common/certificate_validity.h"
#include "plantmesh/common/openssl_handles.h"
#include "server/runtime/denial_budget.h"
#include "server/runtime/errors.h"
#include "server/runtime/keepalive.h"
#include "server/runtime/tls.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

using common::BioPtr;
using common::X509Ptr;

struct StoreFree {
  void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
struct StoreContextFree {
  void operator()(X509_STORE_CTX* context) const { X509_STORE_CTX_free(context); }
};
struct ChainFree {
  void operator()(STACK_OF(X509) * chain) const { sk_X509_pop_free(chain, X509_free); }
};

// Every certificate of a PEM text, in order.
std::vector<X509Ptr> ReadCertificates(std::string_view pem) {
  std::vector<X509Ptr> certificates;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (bio != nullptr) {
    X509Ptr certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (certificate == nullptr) break;
    certificates.push_back(std::move(certificate));
  }
  ERR_clear_error();  // the end of the text reads as an error
  return certificates;
}

std::string NameOf(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "";
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string SerialOf(const X509* certificate) {
  common::BignumPtr number(ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr));
  char* hex = number != nullptr ? BN_bn2hex(number.get()) : nullptr;
  if (hex == nullptr) return "?";
  std::string serial(hex);
  OPENSSL_free(hex);
  return serial;
}

// Which certificate, for the operator: subject, serial, issuer and URI SANs, each quoted
// as a client's value is (a certificate's names are the client's to choose).
std::string Describe(const X509* certificate, std::string_view leaf_pem) {
  std::vector<std::string> uris;
  for (const std::string& uri : UriSansOfPem(absl::string_view(leaf_pem.data(), leaf_pem.size()))) {
    uris.push_back(QuoteForMessage(uri));
  }
  return absl::StrCat("subject ", QuoteForMessage(NameOf(X509_get_subject_name(certificate))),
                      ", serial ", SerialOf(certificate), ", issuer ",
                      QuoteForMessage(NameOf(X509_get_issuer_name(certificate))), ", URI ",
                      uris.empty() ? "none" : absl::StrJoin(uris, " "));
}

// Why OpenSSL refused the chain, in words an operator acts on. `at`: the certificate at
// `depth` the error is about; `below`: the one under it in the chain (null at depth 0).
std::string WhyRefused(int error, int depth, const X509* at, const X509* below) {
  const std::string which =
      depth == 0 ? "the certificate" : absl::StrCat("its issuer at chain depth ", depth);
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      if (at != nullptr) {
        if (std::optional<std::string> problem =
                common::CertificateValidityProblem(at, absl::Now())) {
          return absl::StrCat(which, " ", *problem);
        }
      }
      break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      // Another CA's, or one of the mesh's intermediates the client did not send (outside
      // testing: the advice to issue it anew was wrong for a chain sent incomplete).
      return absl::StrCat(
          which, " has an issuer (",
          at != nullptr ? QuoteForMessage(NameOf(X509_get_issuer_name(at))) : "?",
          ") that is neither a CA of tls-ca nor sent with it: if the issuer is an "
          "intermediate of the mesh's CA, send the certificate with its chain; otherwise "
          "issue it with the mesh's CA");
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return "the certificate is not issued by a CA this server trusts (tls-ca): issue it with "
             "the mesh's CA";
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
      // The dev CA (pathlen:0) allows no intermediates (re-test: the advice to send the
      // chain led here, with no way on).
      // OpenSSL names the CA whose path length the chain exceeds (outside testing: the
      // mesh's own root was said to be "below" such a CA); the intermediate is under it.
      return absl::StrCat(
          "the CA at chain depth ", depth, " (",
          at != nullptr ? QuoteForMessage(NameOf(X509_get_subject_name(at))) : "?",
          ") allows no intermediate CA below it (basicConstraints pathlen), and the chain has "
          "one",
          below != nullptr && depth > 1
              ? absl::StrCat(" at depth ", depth - 1, " (",
                             QuoteForMessage(NameOf(X509_get_subject_name(below))), ")")
              : "",
          ": issue the certificate with the mesh's CA itself");
    case X509_V_ERR_INVALID_PURPOSE:
      return absl::StrCat(which,
                          " is not for client authentication (it needs extendedKeyUsage "
                          "clientAuth, or none, and keyUsage digitalSignature)");
    default:
      break;
  }
  return absl::StrCat(which, ": ", X509_verify_cert_error_string(error));
}

}  // namespace

struct ClientCertificateCheck::Roots {
  std::string pem;
  std::unique_ptr<X509_STORE, StoreFree> store;
};

ClientCertificateCheck::ClientCertificateCheck(std::string ca_file)
    : ca_file_(std::move(ca_file)) {}

ClientCertificateCheck::~ClientCertificateCheck() = default;

absl::StatusOr<std::shared_ptr<const ClientCertificateCheck::Roots>>
ClientCertificateCheck::CurrentRoots() {
  std::ifstream in(ca_file_, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const std::string pem = text.str();
  absl::MutexLock lock(&mu_);
  if (roots_ != nullptr && (pem.empty() || roots_->pem == pem)) return roots_;
  auto roots = std::make_shared<Roots>();
  roots->pem = pem;
  roots->store.reset(X509_STORE_new());
  size_t added = 0;
  for (X509Ptr& certificate : ReadCertificates(pem)) {
    if (X509_STORE_add_cert(roots->store.get(), certificate.get()) == 1) ++added;
  }
  ERR_clear_error();
  if (added == 0) {
    return absl::UnavailableError(
        absl::StrCat("the server's CA bundle (tls-ca) ", ca_file_, " holds no certificate"));
  }
  roots_ = std::move(roots);
  return roots_;
}

absl::Status ClientCertificateCheck::Check(std::string_view leaf_pem, std::string_view chain_pem) {
  std::vector<X509Ptr> leaves = ReadCertificates(leaf_pem);
  if (leaves.empty()) return absl::UnauthenticatedError("the client certificate is not readable");
  X509* leaf = leaves.front().get();
  absl::StatusOr<std::shared_ptr<const Roots>> roots = CurrentRoots();
  if (!roots.ok()) return absl::UnauthenticatedError(roots.status().message());

  std::unique_ptr<STACK_OF(X509), ChainFree> intermediates(sk_X509_new_null());
  for (X509Ptr& certificate : ReadCertificates(chain_pem)) {
    if (X509_cmp(certificate.get(), leaf) == 0) continue;
    if (sk_X509_push(intermediates.get(), certificate.get()) > 0) certificate.release();
  }
  std::unique_ptr<X509_STORE_CTX, StoreContextFree> context(X509_STORE_CTX_new());
  if (context == nullptr ||
      X509_STORE_CTX_init(context.get(), (*roots)->store.get(), leaf, intermediates.get()) != 1) {
    ERR_clear_error();
    return absl::UnauthenticatedError("the client certificate could not be checked");
  }
  // What a TLS server's OpenSSL checks of a client's chain: the ssl_client purpose and trust.
  X509_STORE_CTX_set_default(context.get(), "ssl_client");
  std::string why;
  if (X509_verify_cert(context.get()) != 1) {
    const int depth = X509_STORE_CTX_get_error_depth(context.get());
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(context.get());
    const X509* below = chain != nullptr && depth > 0 && depth - 1 < sk_X509_num(chain)
                            ? sk_X509_value(chain, depth - 1)
                            : nullptr;
    why = WhyRefused(X509_STORE_CTX_get_error(context.get()), depth,
                     X509_STORE_CTX_get_current_cert(context.get()), below);
  } else if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) == 0) {
    // X509_get_key_usage reads a missing keyUsage as every usage: judged before the CA
    // rule below, which would otherwise call such a leaf a CA's (re-test).
    why =
        "the certificate is not for client authentication (it has no keyUsage; an X509-SVID "
        "leaf has keyUsage digitalSignature)";
  } else if ((X509_get_extension_flags(leaf) & EXFLAG_CA) != 0 || X509_check_ca(leaf) != 0 ||
             (X509_get_key_usage(leaf) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0) {
    // The basicConstraints CA flag by itself too: X509_check_ca says 0 for CA:TRUE when
    // keyUsage lacks keyCertSign (re-test: such a certificate was a user).
    why =
        "the certificate is a CA's (basicConstraints CA:TRUE, or keyUsage keyCertSign or "
        "cRLSign): a client certificate must be a leaf (SPIFFE X509-SVID); issue one with "
        "plantctl pki issue";
  } else if ((X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) == 0) {
    // OpenSSL's ssl_client purpose takes keyAgreement instead (re-test: such a
    // certificate was a user); an X509-SVID leaf has digitalSignature.
    why =
        "the certificate is not for client authentication (its keyUsage lacks "
        "digitalSignature, which an X509-SVID leaf has)";
  }
  ERR_clear_error();
  if (why.empty()) return absl::OkStatus();
  return absl::UnauthenticatedError(
      absl::StrCat("client certificate refused: ", why, " (", Describe(leaf, leaf_pem), ")"));
}

namespace {

class Verifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit Verifier(std::string ca_file) : check_(std::move(ca_file)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/, grpc::Status* sync_status) override {
    const grpc::string_ref leaf = request->peer_cert();
    const grpc::string_ref chain = request->peer_cert_full_chain();
    const absl::Status checked = check_.Check(std::string_view(leaf.data(), leaf.size()),
                                              std::string_view(chain.data(), chain.size()));
    if (checked.ok()) {
      *sync_status = grpc::Status::OK;
      return true;
    }
    CountRefusedClientCertificate();
    const std::string message(checked.message());
    int64_t untold = 0;
    if (logged_.Admit(message, absl::Now(), &untold)) {
      spdlog::warn("tls: {}{}", message,
                   untold == 0
                       ? std::string()
                       : absl::StrCat(" (", untold, " more handshakes with it not logged)"));
    }
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, message);
    return true;  // answered synchronously
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest* /*request*/) override {}

 private:
  ClientCertificateCheck check_;
  // A client that retries with a refused certificate is logged once a second at most,
  // with a count of the rest (no burst: the first line says all the next ones would).
  DenialBudget logged_{1, 1};
};

}  // namespace

std::shared_ptr<grpc::experimental::CertificateVerifier> NewClientCertificateVerifier(
    std::string ca_file) {
  return grpc::experimental::ExternalCertificateVerifier::Create<Verifier>(std::move(ca_file));
}

}  // namespace plantmesh::runtime
