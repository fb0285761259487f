#include "tests/e2e/mesh.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "plantmesh/common/contract.h"
#include "plantmesh/sdk/status.h"

namespace plantmesh::e2e {

const std::vector<std::string> kAllRoles = [] {
  std::vector<std::string> names;
  for (api::v1::Role role : contract::AllRoles()) names.push_back(contract::RoleName(role));
  return names;
}();

const std::map<std::string, std::vector<std::string>> kStoryUsers = {
    {"anna", {"foreman"}},  {"mike", {"mechanic"}}, {"quinn", {"qc_engineer"}},
    {"otto", {"operator"}}, {"ops", {"admin"}},     {"ivan", {"integrator"}},
    {"nobody", {}}};

namespace {

std::string UniqueDatabaseName() {
  static std::atomic<int> counter{0};
  return absl::StrCat("e2e_", getpid(), "_", counter.fetch_add(1));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Mesh>> Mesh::Start(MeshOptions options) {
  std::unique_ptr<Mesh> mesh(new Mesh());
  mesh->options_ = std::move(options);
  // The shared Redis still holds the event streams of the binary's earlier meshes (same
  // keys, another database): a server whose relay took longer than its start-up wait to
  // see that started its hub on the old stream, and watches ended
  // CURSOR_GENERATION_CHANGED. Meshes of one binary run one after another.
  if (mesh->options_.redis == nullptr) {
    if (absl::Status flushed = testing::SharedRedis().Flush(); !flushed.ok()) return flushed;
  }
  absl::StatusOr<std::string> url = testing::SharedPostgres().CreateDatabase(UniqueDatabaseName());
  if (!url.ok()) return url.status();
  mesh->database_url_ = *url;

  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  if (!pki.ok()) return pki.status();
  mesh->pki_ = *std::move(pki);
  for (const auto& [name, roles] : kStoryUsers) {
    if (absl::StatusOr<testing::TestPki::Client> user = mesh->AddUser(name, roles); !user.ok()) {
      return user.status();
    }
  }
  for (const std::string& role : kAllRoles) {
    absl::StatusOr<testing::TestPki::Client> user =
        mesh->AddUser(absl::StrReplaceAll(role, {{"_", "-"}}), {role});
    if (!user.ok()) return user.status();
    mesh->users_[role] = *user;
  }
  if (absl::Status started = mesh->StartServer(0); !started.ok()) return started;
  return mesh;
}

absl::Status Mesh::StartServer(int port) {
  testing::ServerProcess::Options server;
  server.port = port;
  server.postgres_url = database_url_;
  server.redis_port = (options_.redis ? options_.redis : &testing::SharedRedis())->port();
  server.pki = pki_.get();
  server.extra_args = options_.server_args;
  if (options_.customize) options_.customize(server);
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> process =
      testing::ServerProcess::Start(server);
  if (!process.ok()) return process.status();
  server_ = *std::move(process);
  return absl::OkStatus();
}

absl::Status Mesh::StopServer() {
  if (server_) {
    int code = server_->Terminate();
    if (code != 0) {
      return absl::InternalError(
          absl::StrCat("plantmesh-server exited with ", code, " on SIGTERM:\n", server_->log()));
    }
  }
  return absl::OkStatus();
}

absl::Status Mesh::RestartServer() {
  if (absl::Status stopped = StopServer(); !stopped.ok()) return stopped;
  return StartServer();
}

absl::Status Mesh::KillAndRestartServerOnSamePort(const std::function<void()>& while_down) {
  const int port = server_->port();
  server_->Kill();
  server_.reset();
  if (while_down) while_down();
  return StartServer(port);
}

absl::Status Mesh::DrainAndRestartServerOnSamePort() {
  const int port = server_->port();
  if (absl::Status stopped = StopServer(); !stopped.ok()) return stopped;
  server_.reset();
  return StartServer(port);
}

absl::StatusOr<testing::TestPki::Client> Mesh::AddUser(const std::string& name,
                                                       const std::vector<std::string>& roles) {
  absl::StatusOr<testing::TestPki::Client> user = pki_->IssueClient(name, roles);
  if (user.ok()) users_[name] = *user;
  return user;
}

sdk::ClientOptions Mesh::OptionsFor(const std::string& user) const {
  sdk::ClientOptions options;
  options.endpoint = server_ ? server_->endpoint() : "127.0.0.1:1";
  options.ca_file = pki_->ca_file();
  auto it = users_.find(user);
  if (it != users_.end()) {
    options.cert_file = it->second.cert_file;
    options.key_file = it->second.key_file;
  }
  options.default_deadline = absl::Seconds(20);
  return options;
}

sdk::DefectClient Mesh::Defects(const std::string& user) const {
  absl::StatusOr<sdk::DefectClient> client = sdk::DefectClient::Connect(OptionsFor(user));
  if (!client.ok()) {
    fprintf(stderr, "DefectClient::Connect(%s): %s\n", user.c_str(),
            Describe(client.status()).c_str());
    abort();
  }
  return *std::move(client);
}

sdk::SystemClient Mesh::System(const std::string& user) const {
  absl::StatusOr<sdk::SystemClient> client = sdk::SystemClient::Connect(OptionsFor(user));
  if (!client.ok()) {
    fprintf(stderr, "SystemClient::Connect(%s): %s\n", user.c_str(),
            Describe(client.status()).c_str());
    abort();
  }
  return *std::move(client);
}

absl::StatusOr<std::string> Mesh::Health(const std::string& service,
                                         const std::string& user) const {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(OptionsFor(user));
  if (!channel.ok()) return channel.status();
  // grpc.health.v1 by hand (Debian ships no health.proto): the request is field 1 =
  // service name, the response field 1 = status enum.
  std::string request_bytes;
  if (!service.empty()) {
    request_bytes.push_back('\x0a');
    request_bytes.push_back(static_cast<char>(service.size()));
    request_bytes += service;
  }
  grpc::Slice request_slice(request_bytes);
  grpc::ByteBuffer request(&request_slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::GenericStub stub(*channel);
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) return sdk::FromGrpcStatus(status);
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("health: unreadable response");
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  int value = 0;  // UNKNOWN is the empty message
  if (bytes.size() == 2 && bytes[0] == '\x08') value = bytes[1];
  static const char* const kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  if (value < 0 || value > 3) return absl::InternalError("health: unknown status value");
  return std::string(kNames[value]);
}

absl::Status Mesh::SeedReferenceData() {
  sdk::DefectClient ops = Defects("ops");
  // Fixed request ids make the seeding idempotent: a second run returns the first result.
  defect::v1::CreateDefectCategoryRequest category;
  category.set_request_id("seed-category-paint-scratch");
  category.mutable_category()->set_code("PAINT-SCRATCH");
  category.mutable_category()->set_title("Paint scratch");
  category.mutable_category()->set_default_severity(defect::v1::SEVERITY_MINOR);
  if (auto r = ops.CreateDefectCategory(category); !r.ok()) return r.status();

  defect::v1::CreateCrewRequest crew;
  crew.set_request_id("seed-crew-a");
  crew.mutable_crew()->set_id("CREW-A");
  crew.mutable_crew()->set_display_name("Paint repair, shift A");
  crew.mutable_crew()->set_zone("PAINT");
  if (auto r = ops.CreateCrew(crew); !r.ok()) return r.status();

  for (const char* id : {"RP-01", "RP-02"}) {
    defect::v1::CreateRepairPlaceRequest place;
    place.set_request_id(absl::StrCat("seed-place-", id));
    place.mutable_repair_place()->set_id(id);
    place.mutable_repair_place()->set_display_name(absl::StrCat("Paint repair bay ", id));
    place.mutable_repair_place()->set_zone("PAINT");
    if (auto r = ops.CreateRepairPlace(place); !r.ok()) return r.status();
  }

  defect::v1::CreateMechanicRequest mechanic;
  mechanic.set_request_id("seed-mechanic-m107");
  mechanic.mutable_mechanic()->set_id("M-107");
  mechanic.mutable_mechanic()->set_display_name("Mike Mechanic");
  mechanic.mutable_mechanic()->set_crew_id("CREW-A");
  mechanic.mutable_mechanic()->set_identity(
      absl::StrCat("spiffe://", testing::TestPki::kTrustDomain, "/user/mike"));
  if (auto r = ops.CreateMechanic(mechanic); !r.ok()) return r.status();
  return absl::OkStatus();
}

defect::v1::Defect SampleDefect(const std::string& vin) {
  defect::v1::Defect defect;
  defect.set_vin(vin);
  defect.set_model("SEDAN-2.0");
  defect.set_zone("PAINT");
  defect.set_station("P-07");
  defect.set_category_code("PAINT-SCRATCH");
  defect.set_severity(defect::v1::SEVERITY_MAJOR);
  defect.set_description("Scratch on the left rear door, 4 cm");
  defect.set_detected_by("Inspector 12");
  defect.set_shift("2026-11-21/A");
  return defect;
}

std::string Describe(const absl::Status& status) { return sdk::DescribeStatus(status); }

int ThreadsOf(int pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "Threads:")) return std::stoi(line.substr(8));
  }
  return -1;
}

}  // namespace plantmesh::e2e
