// ClientOptions' TLS files checked before gRPC sees them: each bad file is
// INVALID_ARGUMENT naming the option and the file, at MakeChannel; an encrypted key
// works with its passphrase (against an in-process mTLS server); gRPC's own log stays
// quiet when a handshake fails.
#include "plantmesh/sdk/internal/credentials.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/pki.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/system/v1/system_service.grpc.pb.h"
#include "plantmesh/system/v1/system_service.pm_client.h"

namespace plantmesh::sdk {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassphrase[] = "correct horse battery staple";

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// Writes `key_file`'s key encrypted with kPassphrase: PKCS#8 ("ENCRYPTED PRIVATE KEY")
// or OpenSSL's traditional form ("Proc-Type: 4,ENCRYPTED").
void WriteEncrypted(const std::string& key_file, const std::string& out, bool pkcs8) {
  const std::string pem = ReadFile(key_file);
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  ASSERT_NE(key, nullptr);
  BIO* file = BIO_new_file(out.c_str(), "w");
  ASSERT_NE(file, nullptr);
  const auto* pass = reinterpret_cast<const unsigned char*>(kPassphrase);
  const int length = static_cast<int>(sizeof(kPassphrase) - 1);
  const int written = pkcs8 ? PEM_write_bio_PKCS8PrivateKey(file, key, EVP_aes_256_cbc(),
                                                            kPassphrase, length, nullptr, nullptr)
                            : PEM_write_bio_PrivateKey_traditional(file, key, EVP_aes_256_cbc(),
                                                                   pass, length, nullptr, nullptr);
  EXPECT_EQ(written, 1);
  BIO_free(file);
  EVP_PKEY_free(key);
  BIO_free(in);
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

class CredentialsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The quiet-log test needs gRPC's default; a developer's GRPC_VERBOSITY would
    // (rightly) bring the log back.
    unsetenv("GRPC_VERBOSITY");
    dir_ = new std::string(::testing::TempDir() + "/sdk_credentials_" + std::to_string(::getpid()));
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
    server.ip_addresses = {"127.0.0.1"};
    ASSERT_TRUE(pki::Issue(server).ok());
    for (const char* user : {"anna", "bob"}) {
      pki::IssueOptions issue = server;
      issue.name = user;
      issue.kind = "user";
      issue.server = false;
      issue.ip_addresses.clear();
      ASSERT_TRUE(pki::Issue(issue).ok());
    }
    // Outside testing: an expired or not yet valid certificate was tried, and the
    // handshake's failure blamed on the server.
    for (const auto& [name, not_before] : {std::pair{"expired", absl::Now() - absl::Hours(48)},
                                           std::pair{"future", absl::Now() + absl::Hours(48)}}) {
      pki::IssueOptions issue = server;
      issue.name = name;
      issue.kind = "user";
      issue.server = false;
      issue.ip_addresses.clear();
      issue.not_before = not_before;
      issue.validity = absl::Hours(24);
      ASSERT_TRUE(pki::Issue(issue).ok());
    }
    WriteEncrypted(Path("certs/anna.key"), Path("certs/anna.pkcs8.key"), true);
    WriteEncrypted(Path("certs/anna.key"), Path("certs/anna.traditional.key"), false);
    std::ofstream(Path("not_pem.txt")) << "hello, not a certificate\n";
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string Path(const std::string& relative) { return *dir_ + "/" + relative; }

  void SetUp() override {
    grpc::SslServerCredentialsOptions tls(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    tls.pem_root_certs = ReadFile(Path("plant/ca.crt"));
    tls.pem_key_cert_pairs.push_back({ReadFile(Path("certs/plantmesh-server.key")),
                                      ReadFile(Path("certs/plantmesh-server.crt"))});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    endpoint_ = absl::StrCat("127.0.0.1:", port);
  }
  void TearDown() override { server_->Shutdown(); }

  ClientOptions Anna() const {
    ClientOptions options;
    options.endpoint = endpoint_;
    options.ca_file = Path("plant/ca.crt");
    options.cert_file = Path("certs/anna.crt");
    options.key_file = Path("certs/anna.key");
    options.private_connection_pool = true;
    return options;
  }

  // MakeChannel's error; fails the test when the channel was made.
  static std::string Refusal(const ClientOptions& options) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(options);
    EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument) << channel.status();
    return std::string(channel.status().message());
  }

  static std::string* dir_;
  IdentityEcho service_;
  std::unique_ptr<grpc::Server> server_;
  std::string endpoint_;
};
std::string* CredentialsTest::dir_ = nullptr;

TEST_F(CredentialsTest, MatchingFilesConnect) {
  absl::StatusOr<SystemClient> client = SystemClient::Connect(Anna());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<system::v1::WhoAmIResponse> me = client->WhoAmI({});
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_EQ(me->identity(), "spiffe://plantmesh.local/user/anna");
}

TEST_F(CredentialsTest, AKeyNotMatchingTheCertificateNamesBothFiles) {
  ClientOptions options = Anna();
  options.key_file = Path("certs/bob.key");
  EXPECT_THAT(Refusal(options), HasSubstr("key_file: \"" + Path("certs/bob.key") +
                                          "\" is not the key of the certificate in cert_file \"" +
                                          Path("certs/anna.crt") + "\""));
  EXPECT_EQ(SystemClient::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CredentialsTest, ACertificateOutsideItsValidityIsNamed) {
  ClientOptions options = Anna();
  options.cert_file = Path("certs/expired.crt");
  options.key_file = Path("certs/expired.key");
  EXPECT_THAT(Refusal(options),
              ::testing::MatchesRegex(".*cert_file: \"" + Path("certs/expired.crt") +
                                      "\" expired on [0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z.*"));
  options.cert_file = Path("certs/future.crt");
  options.key_file = Path("certs/future.key");
  EXPECT_THAT(Refusal(options), HasSubstr("\" is not valid before "));
  EXPECT_THAT(Refusal(options), HasSubstr("(check this machine's clock)"));
}

// Outside testing: a certificate the server refuses for what it is (not for client
// authentication, a CA's) got only "the server closed the connection"; the SDK says so
// before it tries (the CA's own certificate: keyUsage keyCertSign, no digitalSignature).
TEST_F(CredentialsTest, ACertificateThatIsNoClientsIsNamed) {
  ClientOptions options = Anna();
  options.cert_file = Path("plant/ca.crt");
  options.key_file = Path("plant/ca.key");
  EXPECT_THAT(Refusal(options), HasSubstr("cert_file: \"" + Path("plant/ca.crt") +
                                          "\" is not for client authentication"));
}

TEST_F(CredentialsTest, AnEncryptedKeyWithoutPassphraseSaysSo) {
  for (const char* key : {"certs/anna.pkcs8.key", "certs/anna.traditional.key"}) {
    ClientOptions options = Anna();
    options.key_file = Path(key);
    EXPECT_THAT(Refusal(options), HasSubstr("key_file: \"" + Path(key) +
                                            "\" is encrypted; give its passphrase "
                                            "(key_passphrase)"));
  }
}

TEST_F(CredentialsTest, AWrongPassphraseIsRefused) {
  ClientOptions options = Anna();
  options.key_file = Path("certs/anna.pkcs8.key");
  options.key_passphrase = "wrong";
  EXPECT_THAT(Refusal(options),
              HasSubstr("key_file: cannot decrypt \"" + Path("certs/anna.pkcs8.key") +
                        "\" with the given key_passphrase"));
}

TEST_F(CredentialsTest, AnEncryptedKeyWithItsPassphraseConnects) {
  for (const char* key : {"certs/anna.pkcs8.key", "certs/anna.traditional.key"}) {
    ClientOptions options = Anna();
    options.key_file = Path(key);
    options.key_passphrase = kPassphrase;
    absl::StatusOr<SystemClient> client = SystemClient::Connect(options);
    ASSERT_TRUE(client.ok()) << key << ": " << client.status();
    absl::StatusOr<system::v1::WhoAmIResponse> me = client->WhoAmI({});
    ASSERT_TRUE(me.ok()) << key << ": " << me.status();
    EXPECT_EQ(me->identity(), "spiffe://plantmesh.local/user/anna");
  }
}

TEST_F(CredentialsTest, AMissingFileIsNamed) {
  ClientOptions options = Anna();
  options.cert_file = Path("certs/nobody.crt");
  EXPECT_THAT(Refusal(options),
              HasSubstr("cert_file: cannot read \"" + Path("certs/nobody.crt") + "\""));
}

TEST_F(CredentialsTest, FilesThatAreNotPemOrHoldTheWrongThingAreNamed) {
  ClientOptions options = Anna();
  options.ca_file = Path("not_pem.txt");
  EXPECT_THAT(Refusal(options),
              HasSubstr("ca_file: \"" + Path("not_pem.txt") + "\" is not a PEM file"));

  options = Anna();
  options.key_file = Path("certs/anna.crt");  // a certificate where the key belongs
  EXPECT_THAT(Refusal(options),
              HasSubstr("key_file: \"" + Path("certs/anna.crt") + "\" holds no private key"));

  options = Anna();
  options.ca_file = Path("certs/anna.key");  // a key where the CA belongs
  EXPECT_THAT(Refusal(options),
              HasSubstr("ca_file: \"" + Path("certs/anna.key") + "\" holds no certificate"));
}

// Outside testing (sweep 59): a user's certificate given as ca_file connected, and every
// call then failed its handshake; the server refuses the same as its tls-ca.
TEST_F(CredentialsTest, ACaFileWithoutACaIsNamed) {
  ClientOptions options = Anna();
  options.ca_file = Path("certs/anna.crt");
  EXPECT_THAT(Refusal(options),
              HasSubstr("ca_file: \"" + Path("certs/anna.crt") +
                        "\" holds no CA certificate valid now (the last one read: a certificate "
                        "that is not a CA (no basicConstraints CA:TRUE)): the server's "
                        "certificate would not verify"));
  EXPECT_EQ(SystemClient::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CredentialsTest, InsecureNeedsNoFiles) {
  ClientOptions options;
  options.insecure = true;
  EXPECT_TRUE(internal::TlsFileProblems(options).empty());
}

// Runs `call` with the process's stderr going to a file; returns what was written.
template <typename Call>
std::string Stderr(const std::string& path, Call&& call) {
  std::fflush(stderr);
  const int saved = dup(2);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fd, 2);
  call();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  return ReadFile(path);
}

TEST_F(CredentialsTest, AFailedHandshakeLeavesGrpcsLogQuiet) {
  ClientOptions options = Anna();
  options.ca_file = Path("stranger/ca.crt");  // the server's certificate will not verify
  absl::Status status;
  const std::string log = Stderr(Path("stderr.txt"), [&] {
    absl::StatusOr<SystemClient> client = SystemClient::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    status = client->WhoAmI({}).status();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
  EXPECT_THAT(log, Not(HasSubstr("Handshake failed")));
  EXPECT_EQ(log, "");
}

}  // namespace
}  // namespace plantmesh::sdk
