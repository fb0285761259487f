#include "cli/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/atomic_file.h"
#include "plantmesh/common/openssl_handles.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/utf8.h"
#include "server/runtime/spiffe_id.h"

namespace plantmesh::pki {
namespace {

namespace fs = std::filesystem;

using common::BignumPtr;
using common::BioPtr;
using common::PkeyPtr;
using common::X509Ptr;

// The OpenSSL error queue as text, emptied, appended to `what`.
absl::Status OpenSslError(absl::string_view what) {
  std::string detail;
  unsigned long code;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!detail.empty()) detail += "; ";
    detail += buf;
  }
  return absl::InternalError(absl::StrCat(what, detail.empty() ? "" : ": ", detail));
}

absl::StatusOr<PkeyPtr> GenerateKey() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return OpenSslError("generating an EC P-256 key");
  return key;
}

absl::StatusOr<std::string> ToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return OpenSslError("encoding a private key");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::StatusOr<std::string> ToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return OpenSslError("encoding a certificate");
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::Status EnsureDirectory(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat("creating directory ", dir, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<PkeyPtr> ReadKey(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return OpenSslError(absl::StrCat("parsing the private key ", path));
  return key;
}

absl::StatusOr<X509Ptr> ReadCert(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return OpenSslError(absl::StrCat("parsing the certificate ", path));
  return cert;
}

// Sets a random positive 127-bit serial number (RFC 5280: at most 20 octets).
absl::Status SetRandomSerial(X509* cert) {
  BignumPtr bn(BN_new());
  if (!bn || !BN_rand(bn.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)) {
    return OpenSslError("generating a serial number");
  }
  if (!BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) {
    return OpenSslError("setting the serial number");
  }
  return absl::OkStatus();
}

// The last time an X.509 certificate can hold (RFC 5280 4.1.2.5: GeneralizedTime, four
// digits of year).
const absl::Time kLastCertificateTime =
    absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone());

// Valid from `not_before` to `validity` after not_before + kClockSkewMargin.
absl::Status SetValidity(X509* cert, absl::Time not_before, absl::Duration validity) {
  const absl::Time not_after = not_before + kClockSkewMargin + validity;
  // Outside testing: --days 2913000 wrote a notAfter OpenSSL calls "Bad time value", with
  // exit 0; every server then dropped the connection.
  if (not_after > kLastCertificateTime) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the certificate would end after 9999-12-31, the last day a certificate can hold: at "
        "most ",
        absl::ToInt64Hours(kLastCertificateTime - not_before - kClockSkewMargin) / 24, " days"));
  }
  time_t from = absl::ToTimeT(not_before);
  time_t to = absl::ToTimeT(not_after);
  if (!ASN1_TIME_set(X509_getm_notBefore(cert), from) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert), to)) {
    return OpenSslError("setting the validity");
  }
  return absl::OkStatus();
}

absl::Status SetSubject(X509* cert, const std::string& organization,
                        const std::string& common_name) {
  X509_NAME* name = X509_get_subject_name(cert);
  auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                      0) == 1;
  };
  if (!add("O", organization) || !add("CN", common_name)) {
    return OpenSslError("setting the subject name");
  }
  return absl::OkStatus();
}

// Adds one extension in openssl.cnf syntax, e.g. ("basicConstraints", "critical,CA:FALSE").
absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    return OpenSslError(absl::StrCat("building extension ", OBJ_nid2sn(nid), "=", value));
  }
  int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!added) return OpenSslError(absl::StrCat("adding extension ", OBJ_nid2sn(nid)));
  return absl::OkStatus();
}

// Names and trust domains end up in file names and URIs: keep them to a safe alphabet.
absl::Status CheckToken(absl::string_view what, const std::string& value, bool allow_dots) {
  if (value.empty() || value.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be 1-128 characters"));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || (allow_dots && c == '.');
    if (!ok) {
      // Escaped and the character named (re-test: a no-break space printed raw read as a
      // space, a zero-width one as nothing at all).
      const common::Utf8Char d = common::DecodeUtf8At(value, i);
      const std::string which =
          d.code_point == common::kNotUtf8
              ? absl::StrFormat("byte 0x%02X", static_cast<unsigned char>(c))
          : d.code_point >= 0x21 && d.code_point < 0x7F
              ? absl::StrFormat("'%c'", c)
              : absl::StrFormat("U+%04X", static_cast<uint32_t>(d.code_point));
      return absl::InvalidArgumentError(absl::StrCat(
          what, " \"", absl::CHexEscape(value), "\" may hold only letters, digits, '-', '_'",
          allow_dots ? " and '.'" : "", " (ASCII); ", which, " at byte ", i + 1));
    }
  }
  if (value.front() == '.' || value.front() == '-') {
    return absl::InvalidArgumentError(absl::StrCat(what, " must not start with '.' or '-'"));
  }
  return absl::OkStatus();
}

// The SANs of a server certificate, as a client checks them: an IP address in IPv4 or IPv6
// notation, a DNS name of labels (1-63 of A-Z, a-z, 0-9, '-', not at a label's ends; at
// most 253 characters; "*." first for a wildcard). Outside testing: --ip 999.1.1.1 ended in
// OpenSSL's "bad ip address", and --dns 'bad name' was written into the certificate.
absl::Status CheckSubjectAltNames(const IssueOptions& options) {
  for (const std::string& ip : options.ip_addresses) {
    unsigned char address[sizeof(in6_addr)];
    if (inet_pton(AF_INET, ip.c_str(), address) != 1 &&
        inet_pton(AF_INET6, ip.c_str(), address) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ip \"", absl::CHexEscape(ip), "\" is not an IPv4 or IPv6 address"));
    }
  }
  for (const std::string& dns : options.dns_names) {
    absl::string_view name = dns;
    absl::ConsumePrefix(&name, "*.");
    bool valid = !name.empty() && dns.size() <= 253;
    for (absl::string_view label : absl::StrSplit(name, '.')) {
      valid = valid && !label.empty() && label.size() <= 63 && label.front() != '-' &&
              label.back() != '-' && std::all_of(label.begin(), label.end(), [](char c) {
                return absl::ascii_isalnum(c) || c == '-';
              });
    }
    if (!valid) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dns \"", absl::CHexEscape(dns),
          "\" is not a DNS name (labels of A-Z, a-z, 0-9, '-' joined by '.'; '*.' first for a "
          "wildcard)"));
    }
  }
  return absl::OkStatus();
}

// The trust domain as servers read SPIFFE IDs (server/runtime/spiffe_id.h): outside
// testing, `--trust-domain UPPER.local` made a CA and bindings every server refused, and one
// such binding kept the whole role-binding file from reloading.
absl::Status CheckTrustDomain(const std::string& trust_domain) {
  PM_RETURN_IF_ERROR(CheckToken("trust domain", trust_domain, /*allow_dots=*/true));
  if (runtime::IsValidTrustDomain(trust_domain)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("trust domain \"", trust_domain,
                   "\" is no SPIFFE trust domain: lowercase letters, digits, '.', '-' and '_' "
                   "only (servers refuse every identity in another)"));
}

bool Exists(const std::string& path) {
  std::error_code error;
  return fs::exists(path, error);
}

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::Time FromAsn1Time(const ASN1_TIME* time) {
  struct tm tm {};
  if (!ASN1_TIME_to_tm(time, &tm)) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

std::string AsString(const ASN1_STRING* value) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<size_t>(ASN1_STRING_length(value)));
}

std::string IpToString(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  int length = ASN1_STRING_length(ip);
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  if (length == 4) inet_ntop(AF_INET, data, buf, sizeof(buf));
  if (length == 16) inet_ntop(AF_INET6, data, buf, sizeof(buf));
  return buf;
}

}  // namespace

namespace {

CertificateInfo InfoOf(const X509Ptr& cert) {
  CertificateInfo info;
  info.subject = NameToString(X509_get_subject_name(cert.get()));
  info.issuer = NameToString(X509_get_issuer_name(cert.get()));
  BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  if (serial) {
    char* hex = BN_bn2hex(serial.get());
    info.serial_hex = hex;
    OPENSSL_free(hex);
  }
  info.not_before = FromAsn1Time(X509_get0_notBefore(cert.get()));
  info.not_after = FromAsn1Time(X509_get0_notAfter(cert.get()));
  info.is_ca = X509_check_ca(cert.get()) != 0;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_URI) info.uris.push_back(AsString(name->d.uniformResourceIdentifier));
    if (name->type == GEN_DNS) info.dns_names.push_back(AsString(name->d.dNSName));
    if (name->type == GEN_IPADD) info.ip_addresses.push_back(IpToString(name->d.iPAddress));
  }
  GENERAL_NAMES_free(names);
  uint32_t usages = X509_get_extended_key_usage(cert.get());
  if (usages != UINT32_MAX) {
    if (usages & XKU_SSL_SERVER) info.extended_key_usages.push_back("serverAuth");
    if (usages & XKU_SSL_CLIENT) info.extended_key_usages.push_back("clientAuth");
  }
  ERR_clear_error();
  return info;
}

}  // namespace

absl::StatusOr<CertificateInfo> ReadCertificateInfo(const std::string& pem_file) {
  PM_ASSIGN_OR_RETURN(X509Ptr cert, ReadCert(pem_file));
  return InfoOf(cert);
}

absl::StatusOr<CertificateInfo> ParseCertificateInfo(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("reading a PEM certificate");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return OpenSslError("parsing a PEM certificate");
  return InfoOf(cert);
}

std::string IdentityFor(const std::string& trust_domain, const std::string& kind,
                        const std::string& name) {
  return absl::StrCat("spiffe://", trust_domain, "/", kind, "/", name);
}

absl::Status InitCa(const CaOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("the CA directory is empty");
  PM_RETURN_IF_ERROR(CheckTrustDomain(options.trust_domain));
  const std::string cert_path = (fs::path(options.dir) / "ca.crt").string();
  const std::string key_path = (fs::path(options.dir) / "ca.key").string();
  if (Exists(cert_path) || Exists(key_path)) {
    return absl::AlreadyExistsError(
        absl::StrCat("a CA already exists in ", options.dir, "; it is never overwritten"));
  }
  PM_RETURN_IF_ERROR(EnsureDirectory(options.dir));

  PM_ASSIGN_OR_RETURN(PkeyPtr key, GenerateKey());
  X509Ptr cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), X509_VERSION_3)) {
    return OpenSslError("creating the CA certificate");
  }
  PM_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  PM_RETURN_IF_ERROR(SetValidity(cert.get(), absl::Now() - kClockSkewMargin, options.validity));
  PM_RETURN_IF_ERROR(SetSubject(cert.get(), options.trust_domain, options.common_name));
  if (!X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) ||
      !X509_set_pubkey(cert.get(), key.get())) {
    return OpenSslError("filling the CA certificate");
  }
  PM_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  PM_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  PM_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) {
    return OpenSslError("signing the CA certificate");
  }

  PM_ASSIGN_OR_RETURN(std::string key_pem, ToPem(key.get()));
  PM_ASSIGN_OR_RETURN(std::string cert_pem, ToPem(cert.get()));
  // Key first: a directory with ca.crt but no ca.key would look like a CA that cannot sign.
  PM_RETURN_IF_ERROR(WriteFileAtomically(key_path, key_pem, 0600));
  return WriteFileAtomically(cert_path, cert_pem, 0644);
}

namespace {

// Whatever the paths' spelling (symlinks, "./", another case of a name on a
// case-insensitive mount), Issue never writes over the CA's certificate or key.
absl::Status RefuseToReplaceCaFiles(const std::string& ca_dir,
                                    const std::vector<std::string>& targets) {
  for (const char* ca_file : {"ca.crt", "ca.key"}) {
    const fs::path ca_path = fs::path(ca_dir) / ca_file;
    for (const std::string& target : targets) {
      std::error_code error;
      const bool same = fs::equivalent(ca_path, target, error);
      if (same && !error) {
        return absl::InvalidArgumentError(
            absl::StrCat("refusing to overwrite the CA's ", ca_path.string(), " with ", target));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckIssueOptions(const IssueOptions& options) {
  PM_RETURN_IF_ERROR(CheckToken("name", options.name, /*allow_dots=*/true));
  // The CA directory, the default output, holds ca.crt/ca.key and role-bindings.json:
  // a leaf with one of these names would replace or shadow them.
  for (absl::string_view reserved : {"ca", "role-bindings"}) {
    if (absl::EqualsIgnoreCase(options.name, reserved)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--name \"", options.name, "\" is reserved for the CA's own files; choose another name"));
    }
  }
  PM_RETURN_IF_ERROR(CheckTrustDomain(options.trust_domain));
  PM_RETURN_IF_ERROR(CheckSubjectAltNames(options));
  if (options.kind != "user" && options.kind != "service" && options.kind != "device" &&
      options.kind != "server") {
    return absl::InvalidArgumentError(
        absl::StrCat("kind \"", options.kind, "\" must be one of user, service, device, server"));
  }
  if (options.validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("validity must be positive");
  }
  if (options.ca_dir.empty()) return absl::InvalidArgumentError("the CA directory is empty");
  return absl::OkStatus();
}

absl::StatusOr<IssuedCertificate> Issue(const IssueOptions& options) {
  PM_RETURN_IF_ERROR(CheckIssueOptions(options));
  const std::string out_dir = options.out_dir.empty() ? options.ca_dir : options.out_dir;

  PM_ASSIGN_OR_RETURN(PkeyPtr ca_key, ReadKey((fs::path(options.ca_dir) / "ca.key").string()));
  PM_ASSIGN_OR_RETURN(X509Ptr ca_cert, ReadCert((fs::path(options.ca_dir) / "ca.crt").string()));
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(
        absl::StrCat("ca.key does not match ca.crt in ", options.ca_dir));
  }

  IssuedCertificate issued;
  issued.identity = IdentityFor(options.trust_domain, options.kind, options.name);
  PM_RETURN_IF_ERROR(runtime::ParseSpiffeId(issued.identity).status());  // as servers read it
  std::vector<std::string> sans = {absl::StrCat("URI:", issued.identity)};
  for (const std::string& dns : options.dns_names) sans.push_back(absl::StrCat("DNS:", dns));
  for (const std::string& ip : options.ip_addresses) sans.push_back(absl::StrCat("IP:", ip));

  PM_ASSIGN_OR_RETURN(PkeyPtr key, GenerateKey());
  X509Ptr cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), X509_VERSION_3)) {
    return OpenSslError("creating the certificate");
  }
  PM_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  PM_RETURN_IF_ERROR(SetValidity(cert.get(), options.not_before, options.validity));
  PM_RETURN_IF_ERROR(SetSubject(cert.get(), options.trust_domain, options.name));
  if (!X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) ||
      !X509_set_pubkey(cert.get(), key.get())) {
    return OpenSslError("filling the certificate");
  }
  X509* ca = ca_cert.get();
  PM_RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_basic_constraints, "critical,CA:FALSE"));
  PM_RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_key_usage, "critical,digitalSignature"));
  PM_RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_ext_key_usage,
                                  options.server ? "serverAuth,clientAuth" : "clientAuth"));
  PM_RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_subject_alt_name, absl::StrJoin(sans, ",")));
  PM_RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_subject_key_identifier, "hash"));
  PM_RETURN_IF_ERROR(AddExtension(cert.get(), ca, NID_authority_key_identifier, "keyid:always"));
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256())) {
    return OpenSslError("signing the certificate");
  }

  PM_RETURN_IF_ERROR(EnsureDirectory(out_dir));
  issued.cert_file = (fs::path(out_dir) / (options.name + ".crt")).string();
  issued.key_file = (fs::path(out_dir) / (options.name + ".key")).string();
  PM_RETURN_IF_ERROR(RefuseToReplaceCaFiles(options.ca_dir, {issued.cert_file, issued.key_file}));
  PM_ASSIGN_OR_RETURN(std::string key_pem, ToPem(key.get()));
  PM_ASSIGN_OR_RETURN(std::string cert_pem, ToPem(cert.get()));
  PM_RETURN_IF_ERROR(WriteFileAtomically(issued.key_file, key_pem, 0600));
  PM_RETURN_IF_ERROR(WriteFileAtomically(issued.cert_file, cert_pem, 0644));
  return issued;
}

}  // namespace plantmesh::pki
