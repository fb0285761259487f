// A development certificate authority, built with OpenSSL's library (no shelling out):
// `plantctl pki init` and `plantctl pki issue`, and the test fixtures, use it.
// Certificates carry exactly one URI SAN, spiffe://<trust-domain>/<kind>/<name>, which
// is the identity the server authorizes.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace plantmesh::pki {

// How far before its issue a certificate is valid, for clocks a little behind the issuer's.
// The validity asked for counts from the end of that margin, so `--days 90` ends 90 days
// after the certificate was issued (outside testing: it ended 5 minutes short, and `admin
// status` showed 89 days at once).
inline constexpr absl::Duration kClockSkewMargin = absl::Minutes(5);

struct CaOptions {
  std::string dir;  // where ca.crt and ca.key are written
  std::string trust_domain = "plantmesh.local";
  std::string common_name = "PlantMesh Dev CA";
  absl::Duration validity = absl::Hours(24 * 365 * 5);
};

// Creates <dir>/ca.crt and <dir>/ca.key (EC P-256, key mode 0600). ALREADY_EXISTS if
// the CA is there (never overwrites a CA).
absl::Status InitCa(const CaOptions& options);

struct IssueOptions {
  std::string ca_dir;         // holds ca.crt and ca.key
  std::string out_dir;        // where <name>.crt and <name>.key are written
  std::string name;           // e.g. "anna", "plantmesh-server"
  std::string kind = "user";  // user | service | device | server
  std::string trust_domain = "plantmesh.local";
  // DNS and IP SANs for server certificates (e.g. "localhost", "127.0.0.1").
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  bool server = false;  // serverAuth EKU (and clientAuth); else clientAuth only
  absl::Time not_before = absl::Now() - kClockSkewMargin;
  absl::Duration validity = absl::Hours(24 * 90);  // from not_before + kClockSkewMargin
};

struct IssuedCertificate {
  std::string cert_file;
  std::string key_file;
  std::string identity;  // the URI SAN
};

// The checks Issue makes of `options` before it reads the CA or writes anything (name,
// kind, trust domain, names and addresses, validity): INVALID_ARGUMENT naming the flag.
absl::Status CheckIssueOptions(const IssueOptions& options);

// Issues a key pair and a certificate signed by the CA. Files are written to a
// temporary name and renamed, so a watcher never reads half a file.
absl::StatusOr<IssuedCertificate> Issue(const IssueOptions& options);

// What `plantctl pki show` prints about a certificate.
struct CertificateInfo {
  std::string subject;  // one-line RFC 2253 form, e.g. "CN=anna,O=plantmesh.local"
  std::string issuer;
  std::string serial_hex;
  std::vector<std::string> uris;  // URI SANs; exactly one for PlantMesh identities
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> extended_key_usages;  // short names, e.g. "serverAuth"
  bool is_ca = false;
  absl::Time not_before;
  absl::Time not_after;
};

// Reads the first certificate of a PEM file.
absl::StatusOr<CertificateInfo> ReadCertificateInfo(const std::string& pem_file);
// The same from PEM text (the first certificate in it), e.g. a TLS peer's certificate.
absl::StatusOr<CertificateInfo> ParseCertificateInfo(absl::string_view pem);

// spiffe://<trust_domain>/<kind>/<name>
std::string IdentityFor(const std::string& trust_domain, const std::string& kind,
                        const std::string& name);

}  // namespace plantmesh::pki
