// defect_report: reports one defect through the PlantMesh SDK and lists what is open.
//
//   defect_report --endpoint HOST:PORT --ca ca.crt --cert me.crt --key me.key
//                 [--key-passphrase TEXT] [--server-name NAME] [--insecure] [--vin VIN] [--model
//                 MODEL] [--shift SHIFT] [--zone ZONE] [--station STATION]
//                 [--category CODE] [--description TEXT]
//   (or PLANTMESH_ENDPOINT, PLANTMESH_CA, PLANTMESH_CERT, PLANTMESH_KEY; an encrypted key
//   needs --key-passphrase or PLANTMESH_KEY_PASSPHRASE; --insecure for
//   a loopback server started with --insecure)
//
// Roles: one of operator, foreman, qc_engineer, admin, integrator to report; when the
// category does not exist yet, also qc_engineer or admin to create it. It asks the
// server who it is (WhoAmI) before anything else and stops with a message naming the
// missing role. See defect_reporter.h (the code) and defect_reporter_test.cc (its unit
// test on the SDK's mock connections).
//
// Exits 0 on success; otherwise prints the error with its details and exits 1
// (2 for bad usage).
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "defect_reporter.h"
#include "plantmesh/defect/v1/defect_service.pm_client.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/system/v1/system_service.pm_client.h"

namespace {

namespace dv1 = plantmesh::defect::v1;
namespace sdk = plantmesh::sdk;

struct Flags {
  sdk::ClientOptions options;
  plantmesh_examples::DefectReport report;

  Flags() {
    report.vin = "WVWZZZ1JZXW000001";
    report.model = "SEDAN-2.0";
    report.shift = "2026-11-21/A";
    report.zone = "PAINT";
    report.station = "P-07";
    report.category = "PAINT-SCRATCH";
    report.description = "Scratch on the left rear door, 5 cm";
  }
};

constexpr char kUsage[] =
    "usage: defect_report --endpoint HOST:PORT --ca ca.crt --cert me.crt --key me.key\n"
    "                     [--key-passphrase TEXT] [--server-name NAME] [--insecure]\n"
    "                     [--vin VIN] [--model MODEL] [--shift SHIFT] [--zone ZONE]\n"
    "                     [--station STATION] [--category CODE] [--description TEXT]\n"
    "Reports one defect through the PlantMesh SDK, then counts the defects of its zone\n"
    "by status.\n"
    "The connection flags may come from PLANTMESH_ENDPOINT, PLANTMESH_CA, PLANTMESH_CERT,\n"
    "PLANTMESH_KEY and PLANTMESH_KEY_PASSPHRASE; --insecure is for a loopback server\n"
    "started with --insecure. Roles: operator, foreman, qc_engineer, admin or integrator\n"
    "to report; qc_engineer or admin as well when the category does not exist yet.\n"
    "Exits 0 on success, 1 when a call fails (its error printed), 2 for bad usage.\n";

std::string Env(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// False for bad usage (said on stderr); `*help` when --help or -h was asked for.
bool ParseFlags(int argc, char** argv, Flags* flags, bool* help) {
  sdk::ClientOptions& options = flags->options;
  options.endpoint = Env("PLANTMESH_ENDPOINT", options.endpoint);
  options.ca_file = Env("PLANTMESH_CA", "");
  options.cert_file = Env("PLANTMESH_CERT", "");
  options.key_file = Env("PLANTMESH_KEY", "");
  options.key_passphrase = Env("PLANTMESH_KEY_PASSPHRASE", "");
  const std::map<std::string, std::string*> valued = {
      {"--endpoint", &options.endpoint},
      {"--ca", &options.ca_file},
      {"--cert", &options.cert_file},
      {"--key", &options.key_file},
      {"--key-passphrase", &options.key_passphrase},
      {"--server-name", &options.server_name},
      {"--vin", &flags->report.vin},
      {"--model", &flags->report.model},
      {"--shift", &flags->report.shift},
      {"--zone", &flags->report.zone},
      {"--station", &flags->report.station},
      {"--category", &flags->report.category},
      {"--description", &flags->report.description}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return true;
    }
    if (arg == "--insecure") {
      options.insecure = true;
      continue;
    }
    auto it = valued.find(arg);
    if (it == valued.end() || i + 1 >= argc) {
      std::cerr << "defect_report: unknown flag or missing value: " << arg << "\n" << kUsage;
      return false;
    }
    *it->second = argv[++i];
  }
  return true;
}

int Fail(const std::string& what, const absl::Status& status) {
  std::cerr << "defect_report: " << what << " failed\n" << sdk::DescribeStatus(status);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  bool help = false;
  if (!ParseFlags(argc, argv, &flags, &help)) return 2;
  if (help) {
    std::cout << kUsage;
    return 0;
  }

  // One channel (one TLS connection) shared by both clients. Bad credential files
  // (unreadable, not PEM, key not matching the certificate, encrypted key) fail here.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(flags.options);
  if (!channel.ok()) return Fail("connecting", channel.status());
  plantmesh_examples::DefectReporter reporter(sdk::SystemClient(*channel, flags.options),
                                              sdk::DefectClient(*channel, flags.options));

  // Who am I, and may I do this? Before anything else.
  if (absl::Status roles = reporter.CheckRoles(); !roles.ok()) return Fail("WhoAmI", roles);
  std::cout << "identity: " << reporter.identity() << "\nroles:";
  for (const std::string& role : reporter.roles()) std::cout << " " << role;
  std::cout << "\n";

  if (absl::Status category = reporter.EnsureCategory(flags.report.category); !category.ok()) {
    return Fail("checking category " + flags.report.category, category);
  }
  absl::StatusOr<dv1::Defect> defect = reporter.Report(flags.report);
  if (!defect.ok()) return Fail("CreateDefect", defect.status());
  std::cout << "reported defect " << defect->id() << " ("
            << dv1::DefectStatus_Name(defect->status()) << ")\n";

  absl::StatusOr<std::map<std::string, int>> by_status = reporter.CountByStatus(flags.report.zone);
  if (!by_status.ok()) return Fail("ListDefects", by_status.status());
  int total = 0;
  for (const auto& [status, count] : *by_status) total += count;
  std::cout << total << " defects in zone " << flags.report.zone << ":\n";
  for (const auto& [status, count] : *by_status) {
    std::cout << "  " << status << ": " << count << "\n";
  }
  return 0;
}
