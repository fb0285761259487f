#include "server/runtime/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "plantmesh/common/certificate_validity.h"
#include "plantmesh/common/openssl_handles.h"

namespace plantmesh::runtime {
namespace {

using common::BioPtr;
using common::PkeyPtr;
using common::X509Ptr;

// Refuses encrypted keys instead of letting OpenSSL prompt on the terminal: gRPC could
// not decrypt them either.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

BioPtr OpenFile(const std::string& path) { return BioPtr(BIO_new_file(path.c_str(), "r")); }

// The first certificate of a PEM file; nullptr when there is none.
X509Ptr ReadFirstCertificate(BIO* bio) {
  return X509Ptr(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
}

}  // namespace

absl::Status CheckTlsFiles(const std::string& ca_file, const std::string& cert_file,
                           const std::string& key_file) {
  std::vector<std::string> problems;

  if (BioPtr ca = OpenFile(ca_file); ca == nullptr) {
    problems.push_back(absl::StrCat("tls-ca: cannot read '", ca_file, "'"));
  } else {
    // Clients' certificates verify only against a CA certificate valid now (outside
    // testing: a leaf, or only an expired CA, was served, and every client was refused
    // with only "certificate verify failed" in the log, naming neither option nor file).
    std::vector<X509Ptr> certificates;
    for (X509Ptr c = ReadFirstCertificate(ca.get()); c != nullptr;
         c = ReadFirstCertificate(ca.get())) {
      certificates.push_back(std::move(c));
    }
    std::vector<X509*> read;
    for (const X509Ptr& c : certificates) read.push_back(c.get());
    if (certificates.empty()) {
      problems.push_back(absl::StrCat("tls-ca: no PEM certificate in '", ca_file, "'"));
    } else if (std::optional<std::string> why = common::NoValidCaProblem(read, absl::Now())) {
      problems.push_back(absl::StrCat(
          "tls-ca: '", ca_file, "' holds no CA certificate valid now (the last one read: ", *why,
          "): no client certificate would verify"));
    }
  }

  X509Ptr cert;
  if (BioPtr bio = OpenFile(cert_file); bio == nullptr) {
    problems.push_back(absl::StrCat("tls-cert: cannot read '", cert_file, "'"));
  } else if (cert = ReadFirstCertificate(bio.get()); cert == nullptr) {
    problems.push_back(absl::StrCat("tls-cert: not a PEM certificate: '", cert_file, "'"));
  }

  PkeyPtr key;
  if (BioPtr bio = OpenFile(key_file); bio == nullptr) {
    problems.push_back(absl::StrCat("tls-key: cannot read '", key_file, "'"));
  } else if (key = PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
             key == nullptr) {
    problems.push_back(
        absl::StrCat("tls-key: not an unencrypted PEM private key: '", key_file, "'"));
  }

  if (cert != nullptr) {
    if (std::optional<std::string> invalid =
            common::CertificateValidityProblem(cert.get(), absl::Now())) {
      problems.push_back(
          absl::StrCat("tls-cert: '", cert_file, "' ", *invalid, ": clients would refuse it"));
    }
  }
  // A certificate made for clients only (extended key usage without serverAuth) is
  // refused by every client, which then blames expiry or the CA (outside testing: one
  // was served after a rotation, and `plantctl pki issue --kind service` without --dns
  // or --ip writes such a certificate).
  if (cert != nullptr && X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) != 1) {
    problems.push_back(absl::StrCat(
        "tls-cert: '", cert_file,
        "' is not a TLS server certificate (its extended key usage lacks serverAuth, or its "
        "key usage forbids it): clients would refuse it; issue one for the server's names "
        "(plantctl pki issue --kind service --dns NAME or --ip ADDRESS)"));
  }
  if (cert != nullptr && key != nullptr && X509_check_private_key(cert.get(), key.get()) != 1) {
    problems.push_back(absl::StrCat("tls-key: does not match tls-cert ('", key_file,
                                    "' is not the key of '", cert_file, "')"));
  }
  // What failed is in `problems`; a stale queue would confuse gRPC's own TLS code on
  // this thread.
  ERR_clear_error();
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
}

absl::StatusOr<absl::Time> CertificateNotAfter(const std::string& cert_file) {
  BioPtr bio = OpenFile(cert_file);
  if (bio == nullptr) return absl::NotFoundError(absl::StrCat("cannot read '", cert_file, "'"));
  X509Ptr cert = ReadFirstCertificate(bio.get());
  if (cert == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("not a PEM certificate: '", cert_file, "'"));
  }
  struct tm not_after = {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &not_after) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("unreadable notAfter in '", cert_file, "'"));
  }
  return absl::FromTimeT(timegm(&not_after));
}

std::vector<std::string> UriSansOfPem(absl::string_view pem) {
  std::vector<std::string> uris;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert = bio ? ReadFirstCertificate(bio.get()) : nullptr;
  if (!cert) {
    ERR_clear_error();
    return uris;
  }
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      static_cast<size_t>(ASN1_STRING_length(uri)));
  }
  GENERAL_NAMES_free(names);
  ERR_clear_error();
  return uris;
}

}  // namespace plantmesh::runtime
