// plantmesh-bench-pki: writes the dev PKI bench/run needs into one directory, with the
// same library plantctl uses (cli/pki.h): ca.crt/ca.key, a server certificate for
// 127.0.0.1 and localhost, and one client certificate per --client name.
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/pki.h"

int main(int argc, char** argv) {
  std::string dir;
  std::string trust_domain = "plantmesh.local";
  std::vector<std::string> clients = {"bench"};
  CLI::App app{"Creates a throwaway dev PKI for bench/run."};
  app.add_option("--dir", dir, "output directory (must not hold a CA yet)")->required();
  app.add_option("--trust-domain", trust_domain)->capture_default_str();
  app.add_option("--client", clients, "client certificate names (kind user)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  namespace pki = plantmesh::pki;
  pki::CaOptions ca;
  ca.dir = dir;
  ca.trust_domain = trust_domain;
  if (absl::Status status = pki::InitCa(ca); !status.ok()) {
    std::cerr << "plantmesh-bench-pki: CA: " << status << "\n";
    return 1;
  }
  pki::IssueOptions server;
  server.ca_dir = dir;
  server.out_dir = dir;
  server.name = "server";
  server.kind = "server";
  server.trust_domain = trust_domain;
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1"};
  server.server = true;
  if (absl::StatusOr<pki::IssuedCertificate> issued = pki::Issue(server); !issued.ok()) {
    std::cerr << "plantmesh-bench-pki: server: " << issued.status() << "\n";
    return 1;
  }
  for (const std::string& name : clients) {
    pki::IssueOptions client;
    client.ca_dir = dir;
    client.out_dir = dir;
    client.name = name;
    client.kind = "user";
    client.trust_domain = trust_domain;
    absl::StatusOr<pki::IssuedCertificate> issued = pki::Issue(client);
    if (!issued.ok()) {
      std::cerr << "plantmesh-bench-pki: " << name << ": " << issued.status() << "\n";
      return 1;
    }
    std::cout << name << " " << issued->identity << "\n";
  }
  return 0;
}
