#include <filesystem>
#include <map>
#include <mutex>

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
  pki::IssuedCertificate server;
  Client probe;

  absl::Status WriteBindings() {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [identity, roles] : bindings) {
      if (roles.empty()) continue;  // the server refuses a binding without roles
      list.push_back({{"identity", identity}, {"roles", roles}});
    }
    nlohmann::json document = {{"bindings", list}};
    return internal::WriteFileAtomically(dir + "/role-bindings.json", document.dump(2) + "\n");
  }
};

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

  pki::IssueOptions server;
  server.ca_dir = pki->ca_dir();
  server.out_dir = s.dir + "/server";
  server.name = "plantmesh-server";
  server.kind = "service";
  server.trust_domain = kTrustDomain;
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1"};
  server.server = true;
  absl::StatusOr<pki::IssuedCertificate> issued = pki::Issue(server);
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

}  // namespace plantmesh::testing
