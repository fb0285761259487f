#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/pki.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/test_servers.h"

namespace plantmesh::testing {

struct TestPki::State {
  std::string dir;
  std::mutex mu;
  // identity -> roles, written to the role-binding file after every change.
  std::map<std::string, std::vector<std::string>> bindings;
  std::map<std::string, std::vector<std::string>> prefix_bindings;  // identity_prefix -> roles
  pki::IssuedCertificate server;
  Client probe;

  absl::Status WriteBindings() {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [identity, roles] : bindings) {
      if (roles.empty()) continue;  // the server refuses a binding without roles
      list.push_back({{"identity", identity}, {"roles", roles}});
    }
    for (const auto& [prefix, roles] : prefix_bindings) {
      if (roles.empty()) continue;
      list.push_back({{"identity_prefix", prefix}, {"roles", roles}});
    }
    nlohmann::json document = {{"bindings", list}};
    return internal::WriteFileAtomically(dir + "/role-bindings.json", document.dump(2) + "\n");
  }
};

namespace {

// A server certificate for 127.0.0.1/localhost from the CA in `ca_dir`, into `out_dir`.
absl::StatusOr<pki::IssuedCertificate> IssueServerPair(const std::string& ca_dir,
                                                       const std::string& out_dir) {
  pki::IssueOptions server;
  server.ca_dir = ca_dir;
  server.out_dir = out_dir;
  server.name = "plantmesh-server";
  server.kind = "service";
  server.trust_domain = TestPki::kTrustDomain;
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1"};
  server.server = true;
  return pki::Issue(server);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestPki>> TestPki::Create() {
  std::unique_ptr<TestPki> pki(new TestPki());
  pki->state_ = std::make_unique<State>();
  State& s = *pki->state_;
  absl::StatusOr<std::string> dir = internal::MakeTempDir("plantmesh-pki-");
  if (!dir.ok()) return dir.status();
  s.dir = *dir;
  std::filesystem::create_directories(pki->ca_dir());
  std::filesystem::create_directories(s.dir + "/server");
  std::filesystem::create_directories(s.dir + "/clients");
  if (absl::Status written = s.WriteBindings(); !written.ok()) return written;

  pki::CaOptions ca;
  ca.dir = pki->ca_dir();
  ca.trust_domain = kTrustDomain;
  if (absl::Status created = pki::InitCa(ca); !created.ok()) return created;

  absl::StatusOr<pki::IssuedCertificate> issued = IssueServerPair(pki->ca_dir(), s.dir + "/server");
  if (!issued.ok()) return issued.status();
  s.server = *issued;

  // The identity ServerProcess uses to ask the health service: bound to no role.
  absl::StatusOr<Client> probe = pki->IssueClient("test-probe", {});
  if (!probe.ok()) return probe.status();
  s.probe = *probe;
  return pki;
}

TestPki::~TestPki() {
  if (!state_ || state_->dir.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(state_->dir, ignored);
}

std::string TestPki::dir() const { return state_->dir; }
std::string TestPki::ca_dir() const { return state_->dir + "/ca"; }
std::string TestPki::ca_file() const { return ca_dir() + "/ca.crt"; }
std::string TestPki::server_cert() const { return state_->server.cert_file; }
std::string TestPki::server_key() const { return state_->server.key_file; }
std::string TestPki::role_bindings_file() const { return state_->dir + "/role-bindings.json"; }
TestPki::Client TestPki::probe_client() const { return state_->probe; }

absl::StatusOr<TestPki::Client> TestPki::IssueServer(const std::string& dir_name) {
  absl::StatusOr<pki::IssuedCertificate> issued =
      IssueServerPair(ca_dir(), absl::StrCat(state_->dir, "/", dir_name));
  if (!issued.ok()) return issued.status();
  return Client{issued->cert_file, issued->key_file, issued->identity};
}

absl::StatusOr<TestPki::Client> TestPki::IssueClient(const std::string& name,
                                                     const std::vector<std::string>& roles) {
  pki::IssueOptions options;
  options.ca_dir = ca_dir();
  options.out_dir = state_->dir + "/clients";
  options.name = name;
  options.kind = "user";
  options.trust_domain = kTrustDomain;
  absl::StatusOr<pki::IssuedCertificate> issued = pki::Issue(options);
  if (!issued.ok()) return issued.status();
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->bindings[issued->identity] = roles;
  if (absl::Status written = state_->WriteBindings(); !written.ok()) return written;
  return Client{issued->cert_file, issued->key_file, issued->identity};
}

namespace {

struct FileCloser {
  void operator()(FILE* f) const { fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;

absl::Status OpenSslFailure(const std::string& what) {
  return absl::InternalError(absl::StrCat("OpenSSL: ", what));
}

}  // namespace

absl::StatusOr<TestPki::Client> TestPki::IssueClientWithUri(const std::string& name,
                                                            const std::string& uri,
                                                            const std::string& key_usage,
                                                            bool certificate_authority,
                                                            const Client* issuer) {
  // A regular certificate first (key, validity, usages), then its SAN replaced by `uri`
  // and re-signed by the CA: pki::Issue itself only writes well-formed identities.
  pki::IssueOptions options;
  options.ca_dir = ca_dir();
  options.out_dir = state_->dir + "/clients";
  options.name = name;
  options.trust_domain = kTrustDomain;
  absl::StatusOr<pki::IssuedCertificate> issued = pki::Issue(options);
  if (!issued.ok()) return issued.status();

  FilePtr cert_in(fopen(issued->cert_file.c_str(), "r"));
  FilePtr key_in(
      fopen(issuer != nullptr ? issuer->key_file.c_str() : (ca_dir() + "/ca.key").c_str(), "r"));
  if (!cert_in || !key_in) return OpenSslFailure("cannot open the certificate or CA key");
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_X509(cert_in.get(), nullptr, nullptr, nullptr), X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> ca_key(
      PEM_read_PrivateKey(key_in.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!cert || !ca_key) return OpenSslFailure("cannot read the certificate or CA key");

  const int index = X509_get_ext_by_NID(cert.get(), NID_subject_alt_name, -1);
  if (index >= 0) X509_EXTENSION_free(X509_delete_ext(cert.get(), index));
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME* name_entry = GENERAL_NAME_new();
  ASN1_IA5STRING* value = ASN1_IA5STRING_new();
  ASN1_STRING_set(value, uri.data(), static_cast<int>(uri.size()));
  GENERAL_NAME_set0_value(name_entry, GEN_URI, value);
  sk_GENERAL_NAME_push(names, name_entry);
  const int added =
      X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT);
  GENERAL_NAMES_free(names);
  if (added != 1) return OpenSslFailure("cannot set the URI SAN");
  std::vector<std::pair<int, std::string>> replaced;
  if (certificate_authority) replaced.emplace_back(NID_basic_constraints, "critical,CA:TRUE");
  if (!key_usage.empty()) replaced.emplace_back(NID_key_usage, "critical," + key_usage);
  for (const auto& [nid, value] : replaced) {
    const int at = X509_get_ext_by_NID(cert.get(), nid, -1);
    if (at >= 0) X509_EXTENSION_free(X509_delete_ext(cert.get(), at));
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, nullptr, nid, value.c_str());
    const bool set = extension != nullptr && X509_add_ext(cert.get(), extension, -1) == 1;
    X509_EXTENSION_free(extension);
    if (!set) return OpenSslFailure("cannot set the certificate's extensions");
  }
  std::unique_ptr<X509, decltype(&X509_free)> issuer_cert(nullptr, X509_free);
  if (issuer != nullptr) {
    FilePtr issuer_in(fopen(issuer->cert_file.c_str(), "r"));
    if (issuer_in) issuer_cert.reset(PEM_read_X509(issuer_in.get(), nullptr, nullptr, nullptr));
    if (!issuer_cert ||
        X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert.get())) != 1) {
      return OpenSslFailure("cannot read the issuer's certificate");
    }
    // The mesh CA's key identifier would send OpenSSL looking for the mesh's CA.
    const int key_id = X509_get_ext_by_NID(cert.get(), NID_authority_key_identifier, -1);
    if (key_id >= 0) X509_EXTENSION_free(X509_delete_ext(cert.get(), key_id));
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    return OpenSslFailure("cannot sign the certificate");
  }
  FilePtr cert_out(fopen(issued->cert_file.c_str(), "w"));
  if (!cert_out || PEM_write_X509(cert_out.get(), cert.get()) != 1 ||
      (issuer_cert && PEM_write_X509(cert_out.get(), issuer_cert.get()) != 1)) {
    return OpenSslFailure("cannot write the certificate");
  }
  return Client{issued->cert_file, issued->key_file, uri};
}

absl::Status TestPki::BindIdentityPrefix(const std::string& prefix,
                                         const std::vector<std::string>& roles) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->prefix_bindings[prefix] = roles;
  return state_->WriteBindings();
}

}  // namespace plantmesh::testing
