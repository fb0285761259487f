// MakeChannel's mutual TLS against an in-process server that requires and verifies
// client certificates (certificates from the dev CA, cli/pki.h).
#include <gmock/gmock.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/pki.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/system/v1/system_service.grpc.pb.h"
#include "plantmesh/system/v1/system_service.pm_client.h"

namespace plantmesh::sdk {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// Answers WhoAmI with the caller's certificate identity.
class IdentityEcho final : public system::v1::SystemService::Service {
  grpc::Status WhoAmI(grpc::ServerContext* context, const system::v1::WhoAmIRequest*,
                      system::v1::WhoAmIResponse* response) override {
    for (const auto& value : context->auth_context()->FindPropertyValues("peer_spiffe_id")) {
      response->set_identity(std::string(value.data(), value.size()));
    }
    return grpc::Status::OK;
  }
};

class MutualTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/sdk_tls_" + std::to_string(::getpid()));
    std::filesystem::remove_all(*dir_);
    for (const char* ca : {"plant", "stranger"}) {
      pki::CaOptions options;
      options.dir = *dir_ + "/" + ca;
      std::filesystem::create_directories(options.dir);
      ASSERT_TRUE(pki::InitCa(options).ok());
    }
    pki::IssueOptions server;
    server.ca_dir = *dir_ + "/plant";
    server.out_dir = *dir_ + "/certs";
    server.name = "plantmesh-server";
    server.kind = "server";
    server.server = true;
    server.dns_names = {"localhost"};
    server.ip_addresses = {"127.0.0.1"};
    ASSERT_TRUE(pki::Issue(server).ok());
    pki::IssueOptions anna = server;
    anna.name = "anna";
    anna.kind = "user";
    anna.server = false;
    anna.dns_names.clear();
    anna.ip_addresses.clear();
    ASSERT_TRUE(pki::Issue(anna).ok());
    pki::IssueOptions mallory = anna;
    mallory.ca_dir = *dir_ + "/stranger";
    mallory.name = "mallory";
    ASSERT_TRUE(pki::Issue(mallory).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    grpc::SslServerCredentialsOptions tls(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    tls.pem_root_certs = ReadFile(*dir_ + "/plant/ca.crt");
    tls.pem_key_cert_pairs.push_back({ReadFile(*dir_ + "/certs/plantmesh-server.key"),
                                      ReadFile(*dir_ + "/certs/plantmesh-server.crt")});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    endpoint_ = absl::StrCat("127.0.0.1:", port);
  }
  void TearDown() override { server_->Shutdown(); }

  ClientOptions Options(const std::string& ca, const std::string& user) const {
    ClientOptions options;
    options.endpoint = endpoint_;
    options.ca_file = *dir_ + "/" + ca + "/ca.crt";
    options.cert_file = *dir_ + "/certs/" + user + ".crt";
    options.key_file = *dir_ + "/certs/" + user + ".key";
    options.private_connection_pool = true;
    return options;
  }

  static std::string* dir_;
  IdentityEcho service_;
  std::unique_ptr<grpc::Server> server_;
  std::string endpoint_;
};
std::string* MutualTlsTest::dir_ = nullptr;

TEST_F(MutualTlsTest, ACertificateFromThePlantCaIsAccepted) {
  absl::StatusOr<SystemClient> client = SystemClient::Connect(Options("plant", "anna"));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<system::v1::WhoAmIResponse> me = client->WhoAmI({});
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_EQ(me->identity(), "spiffe://plantmesh.local/user/anna");
}

TEST_F(MutualTlsTest, ARefusedClientCertificateIsUnauthenticatedAndFailsFast) {
  ClientOptions options = Options("plant", "mallory");
  options.default_deadline = absl::Seconds(20);
  absl::StatusOr<SystemClient> client = SystemClient::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<system::v1::WhoAmIResponse> me = client->WhoAmI({});
  EXPECT_EQ(me.status().code(), absl::StatusCode::kUnauthenticated) << me.status();
  EXPECT_THAT(me.status().message(), HasSubstr("TLS handshake failed"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "waited for the deadline";
}

TEST_F(MutualTlsTest, AServerFromAnotherCaIsUnauthenticated) {
  absl::StatusOr<SystemClient> client = SystemClient::Connect(Options("stranger", "anna"));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<system::v1::WhoAmIResponse> me = client->WhoAmI({});
  EXPECT_EQ(me.status().code(), absl::StatusCode::kUnauthenticated) << me.status();
  EXPECT_THAT(me.status().message(), HasSubstr("TLS handshake failed"));
  // Outside testing: told that the server had refused the client's certificate.
  EXPECT_THAT(me.status().message(),
              HasSubstr("this client did not accept the server's certificate"));
}

// Outside testing: a client set `insecure` against a running mTLS server waited out its
// deadline and was asked whether the server had started. The server closes a plaintext
// connection at once: the client is asked whether the server expects TLS.
TEST_F(MutualTlsTest, APlaintextClientOfATlsServerIsAskedAboutTls) {
  ClientOptions options;
  options.endpoint = endpoint_;
  options.insecure = true;
  options.private_connection_pool = true;
  options.default_deadline = absl::Seconds(3);
  absl::StatusOr<SystemClient> client = SystemClient::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<system::v1::WhoAmIResponse> me = client->WhoAmI({});
  EXPECT_EQ(me.status().code(), absl::StatusCode::kUnavailable) << me.status();
  EXPECT_THAT(me.status().message(), HasSubstr("does it expect TLS"));
}

}  // namespace
}  // namespace plantmesh::sdk
