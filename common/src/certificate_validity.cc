#include "plantmesh/common/certificate_validity.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/time_text.h"

namespace plantmesh::common {
namespace {

std::optional<absl::Time> TimeOf(const ASN1_TIME* time) {
  struct tm parts = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  return absl::FromTimeT(timegm(&parts));
}

}  // namespace

std::optional<std::string> CertificateValidityProblem(const X509* certificate, absl::Time now) {
  const std::optional<absl::Time> not_before = TimeOf(X509_get0_notBefore(certificate));
  const std::optional<absl::Time> not_after = TimeOf(X509_get0_notAfter(certificate));
  if (not_after && now > *not_after) return absl::StrCat("expired on ", Rfc3339Utc(*not_after));
  if (not_before && now < *not_before) {
    return absl::StrCat("is not valid before ", Rfc3339Utc(*not_before),
                        " (check this machine's clock)");
  }
  return std::nullopt;
}

std::optional<std::string> NoValidCaProblem(const std::vector<X509*>& certificates,
                                            absl::Time now) {
  std::string why = "no certificate";
  for (X509* certificate : certificates) {
    if (X509_check_ca(certificate) < 1) {
      why = "a certificate that is not a CA (no basicConstraints CA:TRUE)";
    } else if (std::optional<std::string> invalid = CertificateValidityProblem(certificate, now)) {
      why = absl::StrCat("a CA ", *invalid);
    } else {
      return std::nullopt;
    }
  }
  ERR_clear_error();
  return why;
}

}  // namespace plantmesh::common
