// defect_report: reports one defect through the PlantMesh SDK and lists what is open.
//
//   defect_report --endpoint HOST:PORT --ca ca.crt --cert me.crt --key me.key \
//                 [--vin VIN] [--model MODEL] [--shift SHIFT] [--zone ZONE] [--station STATION]
//                 [--category CODE] [--description TEXT]
//   (or PLANTMESH_ENDPOINT, PLANTMESH_CA, PLANTMESH_CERT, PLANTMESH_KEY; --insecure for
//   a loopback server started with --insecure)
//
// Exits 0 on success; otherwise prints the error with its details and exits 1
// (2 for bad usage).
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "plantmesh/defect/v1/defect_service.pm_client.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/system/v1/system_service.pm_client.h"

namespace {

namespace dv1 = plantmesh::defect::v1;
namespace sdk = plantmesh::sdk;

struct Flags {
  sdk::ClientOptions options;
  std::string vin = "WVWZZZ1JZXW000001";
  std::string model = "SEDAN-2.0";
  std::string shift = "2026-11-21/A";
  std::string zone = "PAINT";
  std::string station = "P-07";
  std::string category = "PAINT-SCRATCH";
  std::string description = "Scratch on the left rear door, 5 cm";
};

std::string Env(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

bool ParseFlags(int argc, char** argv, Flags* flags) {
  sdk::ClientOptions& options = flags->options;
  options.endpoint = Env("PLANTMESH_ENDPOINT", options.endpoint);
  options.ca_file = Env("PLANTMESH_CA", "");
  options.cert_file = Env("PLANTMESH_CERT", "");
  options.key_file = Env("PLANTMESH_KEY", "");
  const std::map<std::string, std::string*> valued = {{"--endpoint", &options.endpoint},
                                                      {"--ca", &options.ca_file},
                                                      {"--cert", &options.cert_file},
                                                      {"--key", &options.key_file},
                                                      {"--server-name", &options.server_name},
                                                      {"--vin", &flags->vin},
                                                      {"--model", &flags->model},
                                                      {"--shift", &flags->shift},
                                                      {"--zone", &flags->zone},
                                                      {"--station", &flags->station},
                                                      {"--category", &flags->category},
                                                      {"--description", &flags->description}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--insecure") {
      options.insecure = true;
      continue;
    }
    auto it = valued.find(arg);
    if (it == valued.end() || i + 1 >= argc) {
      std::cerr << "defect_report: unknown flag or missing value: " << arg << "\n";
      return false;
    }
    *it->second = argv[++i];
  }
  return true;
}

// Makes sure the category exists; someone else creating it first is fine.
absl::Status EnsureCategory(sdk::DefectClient& defects, const std::string& code) {
  dv1::CreateDefectCategoryRequest request;
  request.mutable_category()->set_code(code);
  request.mutable_category()->set_title(code);
  request.mutable_category()->set_default_severity(dv1::SEVERITY_MINOR);
  absl::StatusOr<dv1::CreateDefectCategoryResponse> created = defects.CreateDefectCategory(request);
  if (created.ok() || absl::IsAlreadyExists(created.status())) return absl::OkStatus();
  return created.status();
}

int Fail(const std::string& what, const absl::Status& status) {
  std::cerr << "defect_report: " << what << " failed\n" << sdk::DescribeStatus(status);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) return 2;

  // One channel (one TLS connection) shared by both clients.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(flags.options);
  if (!channel.ok()) return Fail("connecting", channel.status());
  sdk::SystemClient system(*channel, flags.options);
  sdk::DefectClient defects(*channel, flags.options);

  absl::StatusOr<plantmesh::system::v1::WhoAmIResponse> me = system.WhoAmI({});
  if (!me.ok()) return Fail("WhoAmI", me.status());
  std::cout << "identity: " << me->identity() << "\nroles:";
  for (const std::string& role : me->roles()) std::cout << " " << role;
  std::cout << "\n";

  if (absl::Status category = EnsureCategory(defects, flags.category); !category.ok()) {
    return Fail("CreateDefectCategory", category);
  }

  dv1::CreateDefectRequest report;  // request_id is filled by the SDK
  dv1::Defect& defect = *report.mutable_defect();
  defect.set_vin(flags.vin);
  defect.set_model(flags.model);
  defect.set_shift(flags.shift);
  defect.set_zone(flags.zone);
  defect.set_station(flags.station);
  defect.set_category_code(flags.category);
  defect.set_description(flags.description);
  defect.set_detected_by("defect_report example");
  absl::StatusOr<dv1::CreateDefectResponse> created = defects.CreateDefect(report);
  if (!created.ok()) return Fail("CreateDefect", created.status());
  std::cout << "reported defect " << created->defect().id() << " ("
            << dv1::DefectStatus_Name(created->defect().status()) << ")\n";

  dv1::ListDefectsRequest list;
  list.set_zone(flags.zone);
  list.set_page_size(100);
  absl::StatusOr<std::vector<dv1::Defect>> all = defects.ListAllDefects(list);
  if (!all.ok()) return Fail("ListDefects", all.status());
  std::map<std::string, int> by_status;
  for (const dv1::Defect& each : *all) ++by_status[dv1::DefectStatus_Name(each.status())];
  std::cout << all->size() << " defects in zone " << flags.zone << ":\n";
  for (const auto& [status, count] : by_status)
    std::cout << "  " << status << ": " << count << "\n";
  return 0;
}
