// bare-whoami-server: the B4 baseline. A plain gRPC callback server implementing
// SystemService.WhoAmI with the same mTLS setup as plantmesh-server (file-watcher
// certificate provider, client certificate required and verified) and nothing else:
// no interceptors, no authorization, no role lookup, no logging. Whatever
// plantmesh-loadgen measures above this is the cost of our runtime.
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "plantmesh/common/mutex_settings.h"
#include "plantmesh/system/v1/system_service.grpc.pb.h"

namespace plantmesh::bench {
namespace {

namespace system_v1 = ::plantmesh::system::v1;

// The same answer shape as plantmesh-server: identity, roles, services, version.
void Answer(const grpc::ServerContextBase& context, const std::vector<std::string>& roles,
            system_v1::WhoAmIResponse* response) {
  for (const grpc::string_ref& id : context.auth_context()->FindPropertyValues("peer_spiffe_id")) {
    response->set_identity(std::string(id.data(), id.size()));
  }
  for (const std::string& role : roles) response->add_roles(role);
  response->add_services("plantmesh.system.v1.SystemService");
  response->set_server_version("bare-whoami-server");
}

// The baseline proper: the callback API answers on the thread that read the request.
class BareSystemService final : public system_v1::SystemService::CallbackService {
 public:
  explicit BareSystemService(std::vector<std::string> roles) : roles_(std::move(roles)) {}

  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context,
                                   const system_v1::WhoAmIRequest* /*request*/,
                                   system_v1::WhoAmIResponse* response) override {
    Answer(*context, roles_, response);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const std::vector<std::string> roles_;
};

// For diagnosis only (--api sync): the synchronous API plantmesh-server's generated bases
// use, without anything of ours, to tell the API's cost from our runtime's.
class BareSyncSystemService final : public system_v1::SystemService::Service {
 public:
  explicit BareSyncSystemService(std::vector<std::string> roles) : roles_(std::move(roles)) {}

  grpc::Status WhoAmI(grpc::ServerContext* context, const system_v1::WhoAmIRequest* /*request*/,
                      system_v1::WhoAmIResponse* response) override {
    Answer(*context, roles_, response);
    return grpc::Status::OK;
  }

 private:
  const std::vector<std::string> roles_;
};

int Main(int argc, char** argv) {
  plantmesh::common::UseReleaseMutexSettings();
  std::string listen = "127.0.0.1:0";
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  unsigned int reload_seconds = 10;
  std::vector<std::string> roles = {"admin"};
  std::string api = "callback";
  CLI::App app{
      "Bare gRPC callback server answering SystemService.WhoAmI over mTLS: the "
      "baseline plantmesh-server's runtime is measured against."};
  app.add_option("--listen", listen, "host:port; port 0 picks a free one")->capture_default_str();
  app.add_option("--tls-ca", ca_file, "CA that client certificates must chain to")->required();
  app.add_option("--tls-cert", cert_file, "server certificate chain")->required();
  app.add_option("--tls-key", key_file, "server private key")->required();
  app.add_option("--tls-reload-seconds", reload_seconds, "certificate file refresh interval")
      ->capture_default_str();
  app.add_option("--role", roles, "roles returned in every answer")->capture_default_str();
  app.add_option("--api", api,
                 "callback (the baseline) or sync (diagnosis: the API plantmesh-server uses)")
      ->capture_default_str()
      ->check(CLI::IsMember({"callback", "sync"}));
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before gRPC starts its threads, so that only sigwait below
  // receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto certificates = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      key_file, cert_file, ca_file, reload_seconds);
  grpc::experimental::TlsServerCredentialsOptions tls(certificates);
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);

  BareSystemService callback_service(roles);
  BareSyncSystemService sync_service(roles);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::experimental::TlsServerCredentials(tls), &port);
  if (api == "sync") {
    builder.RegisterService(&sync_service);
  } else {
    builder.RegisterService(&callback_service);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "bare-whoami-server: cannot listen on " << listen << "\n";
    return 1;
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::cout << "LISTENING " << host << ":" << port << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}

}  // namespace
}  // namespace plantmesh::bench

int main(int argc, char** argv) { return plantmesh::bench::Main(argc, argv); }
