// Transport security end to end: clients without a certificate, with one from another
// CA, or with an expired one are refused at the handshake; the SDK says so
// (UNAUTHENTICATED) instead of retrying. A server certificate rotated on disk (atomic
// symlink swap) is served to new connections without a restart.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cli/pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/system/v1/system_service.grpc.pb.h"
#include "tests/e2e/shared_mesh_test.h"
#include "tests/support/poll.h"

namespace plantmesh::e2e {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// WhoAmI over a raw gRPC channel with exactly these PEMs (any may be empty); fills
// the server's certificate as seen by the client when `server_pem` is given.
grpc::Status RawWhoAmI(const std::string& endpoint, const std::string& root_pem,
                       const std::string& cert_pem, const std::string& key_pem,
                       std::string* server_pem = nullptr) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = root_pem;
  ssl.pem_cert_chain = cert_pem;
  ssl.pem_private_key = key_pem;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a fresh handshake every time
  auto channel = grpc::CreateCustomChannel(endpoint, grpc::SslCredentials(ssl), args);
  auto stub = system::v1::SystemService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  system::v1::WhoAmIResponse response;
  grpc::Status status = stub->WhoAmI(&context, system::v1::WhoAmIRequest(), &response);
  if (server_pem != nullptr && status.ok()) {
    auto values = context.auth_context()->FindPropertyValues("x509_pem_cert");
    if (!values.empty()) server_pem->assign(values[0].data(), values[0].size());
  }
  return status;
}

// The server's log says why it refused a handshake, and which certificate (outside
// testing: five causes gave one line, "certificate verify failed", while the client was
// told the log would say).
void ExpectLogged(testing::ServerProcess& server, const std::string& why,
                  const std::string& which) {
  std::string line;
  testing::PollUntil(
      [&] {
        const std::string log = server.log();
        const size_t at = log.rfind(why);
        if (at == std::string::npos) return false;
        const size_t start = log.rfind('\n', at);
        line = log.substr(start == std::string::npos ? 0 : start + 1,
                          log.find('\n', at) - (start == std::string::npos ? 0 : start + 1));
        return true;
      },
      absl::Seconds(10));
  EXPECT_THAT(line, HasSubstr("tls: client certificate refused: ")) << why;
  EXPECT_THAT(line, HasSubstr(which)) << why;
  EXPECT_THAT(line, HasSubstr(", serial ")) << why;
}

class MtlsTest : public SharedMeshTest {
 protected:
  static void SetUpTestSuite() { StartSharedMesh(/*seed_reference_data=*/false); }

  // A client's handshake refusal: UNAVAILABLE on the wire, UNAUTHENTICATED from the SDK.
  void ExpectRefused(const grpc::Status& status) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    absl::Status converted = sdk::FromGrpcStatus(status, /*mutual_tls=*/true);
    EXPECT_EQ(converted.code(), absl::StatusCode::kUnauthenticated) << Describe(converted);
    EXPECT_THAT(absl::AsciiStrToLower(converted.message()), HasSubstr("handshake"));
  }
};

TEST_F(MtlsTest, ClientWithTheMeshCertificateIsAccepted) {
  sdk::ClientOptions anna = mesh_->OptionsFor("anna");
  grpc::Status status = RawWhoAmI(mesh_->endpoint(), ReadFile(anna.ca_file),
                                  ReadFile(anna.cert_file), ReadFile(anna.key_file));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(MtlsTest, ClientWithoutCertificateIsRefused) {
  grpc::Status status = RawWhoAmI(mesh_->endpoint(), ReadFile(mesh_->pki().ca_file()), "", "");
  ExpectRefused(status);
}

TEST_F(MtlsTest, CertificateFromAnotherCaIsRefused) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> other = testing::TestPki::Create();
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<testing::TestPki::Client> mallory = (*other)->IssueClient("anna", {"admin"});
  ASSERT_TRUE(mallory.ok());
  grpc::Status status = RawWhoAmI(mesh_->endpoint(), ReadFile(mesh_->pki().ca_file()),
                                  ReadFile(mallory->cert_file), ReadFile(mallory->key_file));
  ExpectRefused(status);
  ExpectLogged(mesh_->server(), "issue it with the mesh's CA", "user/anna");

  // The same through the SDK: refused, said plainly, not retried until the deadline.
  sdk::ClientOptions options = mesh_->OptionsFor("anna");
  options.cert_file = mallory->cert_file;
  options.key_file = mallory->key_file;
  options.default_deadline = absl::Seconds(30);
  absl::StatusOr<sdk::SystemClient> client = sdk::SystemClient::Connect(options);
  ASSERT_TRUE(client.ok()) << Describe(client.status());
  absl::Time start = absl::Now();
  auto me = client->WhoAmI(system::v1::WhoAmIRequest());
  ASSERT_FALSE(me.ok());
  EXPECT_EQ(me.status().code(), absl::StatusCode::kUnauthenticated) << Describe(me.status());
  EXPECT_LT(absl::Now() - start, absl::Seconds(15)) << "the SDK waited for the deadline";
}

// A client that keeps retrying with a refused certificate is logged at most once a second
// (outside testing: 8 lines in one second, while README said one).
TEST_F(MtlsTest, ARefusedCertificateIsLoggedAtMostOnceASecond) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> other = testing::TestPki::Create();
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<testing::TestPki::Client> flood = (*other)->IssueClient("flood", {"admin"});
  ASSERT_TRUE(flood.ok());
  const std::string ca = ReadFile(mesh_->pki().ca_file());
  const std::string cert = ReadFile(flood->cert_file);
  const std::string key = ReadFile(flood->key_file);
  const absl::Time start = absl::Now();
  for (int attempt = 0; attempt < 5; ++attempt)
    ExpectRefused(RawWhoAmI(mesh_->endpoint(), ca, cert, key));
  ExpectLogged(mesh_->server(), "issue it with the mesh's CA", "user/flood");
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const std::string log = mesh_->server().log();
  int lines = 0;
  for (size_t at = log.find("user/flood"); at != std::string::npos;
       at = log.find("user/flood", at + 1)) {
    ++lines;
  }
  // One line at once, then at most one for each whole second the handshakes took.
  EXPECT_LE(lines, 1 + static_cast<int>(seconds)) << seconds << " s:\n" << log;
}

TEST_F(MtlsTest, ExpiredCertificateIsRefused) {
  pki::IssueOptions expired;
  expired.ca_dir = mesh_->pki().ca_dir();
  expired.out_dir = mesh_->pki().dir() + "/clients";
  expired.name = "expired-anna";
  expired.not_before = absl::Now() - absl::Hours(48);
  expired.validity = absl::Hours(1);
  absl::StatusOr<pki::IssuedCertificate> issued = pki::Issue(expired);
  ASSERT_TRUE(issued.ok()) << issued.status();
  grpc::Status status = RawWhoAmI(mesh_->endpoint(), ReadFile(mesh_->pki().ca_file()),
                                  ReadFile(issued->cert_file), ReadFile(issued->key_file));
  ExpectRefused(status);
  ExpectLogged(mesh_->server(), "the certificate expired on ", "expired-anna");

  // Not valid yet: the same, said so.
  pki::IssueOptions early = expired;
  early.name = "early-anna";
  early.not_before = absl::Now() + absl::Hours(48);
  absl::StatusOr<pki::IssuedCertificate> premature = pki::Issue(early);
  ASSERT_TRUE(premature.ok()) << premature.status();
  ExpectRefused(RawWhoAmI(mesh_->endpoint(), ReadFile(mesh_->pki().ca_file()),
                          ReadFile(premature->cert_file), ReadFile(premature->key_file)));
  ExpectLogged(mesh_->server(), "the certificate is not valid before ", "early-anna");

  sdk::ClientOptions options = mesh_->OptionsFor("anna");
  options.cert_file = issued->cert_file;
  options.key_file = issued->key_file;
  auto me = mesh_->System("anna");  // a valid client still works beside it
  EXPECT_TRUE(me.WhoAmI(system::v1::WhoAmIRequest()).ok());
  // The SDK does not try it: the server would refuse it, and the handshake's failure
  // would not say why (outside testing).
  absl::StatusOr<sdk::SystemClient> expired_client = sdk::SystemClient::Connect(options);
  EXPECT_EQ(expired_client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(expired_client.status().message()),
              HasSubstr("cert_file: \"" + issued->cert_file + "\" expired on "));
}

TEST_F(MtlsTest, ServerFromAnotherCaIsNotTrustedByTheClient) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> other = testing::TestPki::Create();
  ASSERT_TRUE(other.ok());
  sdk::ClientOptions anna = mesh_->OptionsFor("anna");
  grpc::Status status = RawWhoAmI(mesh_->endpoint(), ReadFile((*other)->ca_file()),
                                  ReadFile(anna.cert_file), ReadFile(anna.key_file));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

// WhoAmI as a client holding `client`'s certificate: the status and, when OK, the roles.
grpc::Status WhoAmIAs(const Mesh& mesh, testing::TestPki& pki,
                      const testing::TestPki::Client& client, std::vector<std::string>* roles) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(pki.ca_file());
  ssl.pem_cert_chain = ReadFile(client.cert_file);
  ssl.pem_private_key = ReadFile(client.key_file);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = system::v1::SystemService::NewStub(
      grpc::CreateCustomChannel(mesh.endpoint(), grpc::SslCredentials(ssl), args));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  system::v1::WhoAmIResponse response;
  grpc::Status status = stub->WhoAmI(&context, system::v1::WhoAmIRequest(), &response);
  roles->assign(response.roles().begin(), response.roles().end());
  return status;
}

// The issue's example and its kind: identities that are not SPIFFE IDs as the spec
// defines them are UNAUTHENTICATED, whatever the role bindings say. Before the fix
// "service/../user/anna" passed as a raw prefix match and got the service/ roles.
TEST_F(MtlsTest, MalformedSpiffeIdsAreUnauthenticated) {
  testing::TestPki& pki = mesh_->pki();
  ASSERT_TRUE(pki.BindIdentityPrefix("spiffe://plantmesh.local/service/", {"integrator"}).ok());

  // The positive control: a well-formed identity under the prefix gets its roles (once
  // the server has reloaded the bindings).
  absl::StatusOr<testing::TestPki::Client> mes =
      pki.IssueClientWithUri("svc-mes", "spiffe://plantmesh.local/service/mes");
  ASSERT_TRUE(mes.ok()) << mes.status();
  std::vector<std::string> roles;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  grpc::Status status;
  for (;;) {
    status = WhoAmIAs(*mesh_, pki, *mes, &roles);
    if ((status.ok() && !roles.empty()) || absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(100));  // the server polls the file; poll it back
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(roles, ::testing::ElementsAre("integrator"));

  const std::pair<const char*, const char*> malformed[] = {
      {"dotdot", "spiffe://plantmesh.local/service/../user/anna"},
      {"dot", "spiffe://plantmesh.local/service/./mes"},
      {"double-slash", "spiffe://plantmesh.local/service//mes"},
      {"uppercase-domain", "spiffe://PLANTMESH.local/service/mes"},
      {"percent", "spiffe://plantmesh.local/service/%6des"},
      {"percent-dotdot", "spiffe://plantmesh.local/service/%2e%2e/user/anna"},
      {"port", "spiffe://plantmesh.local:443/service/mes"},
      {"userinfo", "spiffe://anna@plantmesh.local/service/mes"},
      {"query", "spiffe://plantmesh.local/service/mes?admin=1"},
      {"fragment", "spiffe://plantmesh.local/service/mes#x"},
      {"trailing-slash", "spiffe://plantmesh.local/service/mes/"},
      {"space", "spiffe://plantmesh.local/service/m es"},
  };
  for (const auto& [name, uri] : malformed) {
    absl::StatusOr<testing::TestPki::Client> client =
        pki.IssueClientWithUri(std::string("bad-") + name, uri);
    ASSERT_TRUE(client.ok()) << client.status();
    status = WhoAmIAs(*mesh_, pki, *client, &roles);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << uri << ": " << status.error_message();
    EXPECT_THAT(roles, ::testing::IsEmpty()) << uri;
  }

  // Outside testing: certificates whose one URI SAN gRPC does not take as a SPIFFE ID were
  // told they did not carry exactly one URI SAN; they are told what is wrong with it.
  const std::pair<const char*, const char*> refused_by_tls[] = {
      {"spiffe://plantmesh.local", "is not a valid SPIFFE ID: a trust domain alone"},
      {"SPIFFE://plantmesh.local/service/mes", "the scheme must be spiffe:// (lowercase)"},
      {"spiffe://plantmesh.local/service//mes", "is not a valid SPIFFE ID"},
  };
  int n = 0;
  for (const auto& [uri, reason] : refused_by_tls) {
    absl::StatusOr<testing::TestPki::Client> client =
        pki.IssueClientWithUri(absl::StrCat("tls-refused-", n++), uri);
    ASSERT_TRUE(client.ok()) << client.status();
    status = WhoAmIAs(*mesh_, pki, *client, &roles);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << uri;
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr(reason)) << uri;
    EXPECT_THAT(status.error_message(), ::testing::Not(::testing::HasSubstr("exactly one"))) << uri;
  }
}

// Outside testing: a certificate with basicConstraints CA:TRUE, issued by the mesh's CA
// with a user's URI, was that user (with every role bound to it). A SPIFFE X509-SVID leaf
// is no CA's: refused at the handshake, and the log says why.
TEST_F(MtlsTest, ACaCertificateIsNoClientIdentity) {
  testing::TestPki& pki = mesh_->pki();
  // With keyCertSign, and (re-test) with the CA flag alone: keyUsage digitalSignature only.
  for (const std::string key_usage : {"digitalSignature,keyCertSign", "digitalSignature"}) {
    const std::string name =
        absl::StrCat("ca-as-anna-", absl::StrReplaceAll(key_usage, {{",", "-"}}));
    absl::StatusOr<testing::TestPki::Client> ca_as_client =
        pki.IssueClientWithUri(name, "spiffe://plantmesh.local/user/anna", key_usage,
                               /*certificate_authority=*/true);
    ASSERT_TRUE(ca_as_client.ok()) << ca_as_client.status();
    ExpectRefused(RawWhoAmI(mesh_->endpoint(), ReadFile(pki.ca_file()),
                            ReadFile(ca_as_client->cert_file), ReadFile(ca_as_client->key_file)));
    ExpectLogged(mesh_->server(), "the certificate is a CA's", "CN=" + name);
  }
  // Re-test: a leaf with keyAgreement alone (OpenSSL's TLS client purpose takes it) was a
  // user; an X509-SVID leaf has digitalSignature.
  absl::StatusOr<testing::TestPki::Client> key_agreement = pki.IssueClientWithUri(
      "key-agreement-anna", "spiffe://plantmesh.local/user/anna", "keyAgreement");
  ASSERT_TRUE(key_agreement.ok()) << key_agreement.status();
  ExpectRefused(RawWhoAmI(mesh_->endpoint(), ReadFile(pki.ca_file()),
                          ReadFile(key_agreement->cert_file), ReadFile(key_agreement->key_file)));
  ExpectLogged(mesh_->server(), "its keyUsage lacks digitalSignature", "CN=key-agreement-anna");
  // The same URI in a leaf is anna.
  sdk::ClientOptions anna = mesh_->OptionsFor("anna");
  EXPECT_TRUE(RawWhoAmI(mesh_->endpoint(), ReadFile(anna.ca_file), ReadFile(anna.cert_file),
                        ReadFile(anna.key_file))
                  .ok());
}

// Outside testing: a leaf issued by an intermediate under the dev CA (pathlen:0) was
// refused with a line saying the mesh's own root was "below a CA" whose path length
// allows none. The line names the CA whose pathlen it is, and the intermediate.
TEST_F(MtlsTest, AnIntermediateUnderTheMeshsCaIsNamedInTheRefusal) {
  testing::TestPki& pki = mesh_->pki();
  absl::StatusOr<testing::TestPki::Client> intermediate =
      pki.IssueClientWithUri("rogue-intermediate", "spiffe://plantmesh.local/ca/rogue",
                             "digitalSignature,keyCertSign", /*certificate_authority=*/true);
  ASSERT_TRUE(intermediate.ok()) << intermediate.status();
  absl::StatusOr<testing::TestPki::Client> leaf =
      pki.IssueClientWithUri("via-intermediate", "spiffe://plantmesh.local/user/anna", "",
                             /*certificate_authority=*/false, &*intermediate);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  ExpectRefused(RawWhoAmI(mesh_->endpoint(), ReadFile(pki.ca_file()), ReadFile(leaf->cert_file),
                          ReadFile(leaf->key_file)));
  ExpectLogged(mesh_->server(),
               "allows no intermediate CA below it (basicConstraints pathlen), and the chain has "
               "one at depth 1 ('CN=rogue-intermediate",
               "CN=via-intermediate");
}

// Outside testing: the audit row of a certificate from another trust domain held its ID
// unquoted, written as an authenticated identity is (a query for '%/user/anna' found it);
// every identity that was not accepted is quoted there.
TEST_F(MtlsTest, AnotherTrustDomainIsRefusedAndAuditedQuoted) {
  testing::TestPki& pki = mesh_->pki();
  absl::StatusOr<testing::TestPki::Client> foreign =
      pki.IssueClientWithUri("foreign-anna", "spiffe://evil.local/user/anna");
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  std::vector<std::string> roles;
  const grpc::Status status = WhoAmIAs(*mesh_, pki, *foreign, &roles);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("is not in the trust domain plantmesh.local"));
  pqxx::connection connection(mesh_->database_url());
  auto rows = [&](const std::string& identity) {
    pqxx::work tx(connection);
    return tx.exec_params1("SELECT count(*) FROM audit.audit_log WHERE identity = $1", identity)[0]
        .as<int>();
  };
  // Refusals are written by the audit sink every 100 ms.
  EXPECT_TRUE(plantmesh::testing::PollUntil(
      [&] { return rows("'spiffe://evil.local/user/anna'") == 1; }, absl::Seconds(30)));
  EXPECT_EQ(rows("spiffe://evil.local/user/anna"), 0);
  // Re-test: a quote inside a refused identity ended its quoting, so `x',admin,'y` read
  // as three values; it is escaped.
  absl::StatusOr<testing::TestPki::Client> quoted =
      pki.IssueClientWithUri("quoted", "spiffe://plantmesh.local/user/x',admin,'y");
  ASSERT_TRUE(quoted.ok()) << quoted.status();
  EXPECT_EQ(WhoAmIAs(*mesh_, pki, *quoted, &roles).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(plantmesh::testing::PollUntil(
      [&] { return rows("'spiffe://plantmesh.local/user/x\\',admin,\\'y'") == 1; },
      absl::Seconds(30)));
}

// Whether the PEM a client saw is the leaf of the chain file `chain_pem`.
bool Serves(const std::string& seen_pem, const std::string& chain_pem) {
  return !seen_pem.empty() && chain_pem.find(seen_pem) == 0;
}

// Issues a server certificate from the CA in `ca_dir` as <dir>/server.{crt,key}.
absl::Status IssueServerCertificate(const std::string& ca_dir, const std::string& dir,
                                    const std::string& name) {
  pki::IssueOptions server;
  server.ca_dir = ca_dir;
  server.out_dir = dir;
  server.name = name;
  server.kind = "service";
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1"};
  server.server = true;
  std::filesystem::create_directories(dir);
  absl::StatusOr<pki::IssuedCertificate> issued = pki::Issue(server);
  if (!issued.ok()) return issued.status();
  // Stable names inside each version directory: the served path never changes.
  std::filesystem::rename(issued->cert_file, dir + "/server.crt");
  std::filesystem::rename(issued->key_file, dir + "/server.key");
  return absl::OkStatus();
}

TEST(MtlsRotationTest, RotatedServerCertificateIsServedWithoutRestart) {
  namespace fs = std::filesystem;
  std::string tls;  // <pki>/served/{v1,v2,current -> v1}
  MeshOptions options;
  options.server_args = {"--tls-reload-seconds", "1"};
  options.customize = [&tls](testing::ServerProcess::Options& server) {
    tls = server.pki->dir() + "/served";
    ASSERT_TRUE(IssueServerCertificate(server.pki->ca_dir(), tls + "/v1", "plantmesh-server").ok());
    fs::create_directory_symlink("v1", tls + "/current");
    server.tls_cert_override = tls + "/current/server.crt";
    server.tls_key_override = tls + "/current/server.key";
  };
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start(options);
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  sdk::ClientOptions anna = mesh.OptionsFor("anna");
  const std::string ca = ReadFile(anna.ca_file);
  const std::string cert = ReadFile(anna.cert_file);
  const std::string key = ReadFile(anna.key_file);

  std::string served;
  ASSERT_TRUE(RawWhoAmI(mesh.endpoint(), ca, cert, key, &served).ok());
  EXPECT_TRUE(Serves(served, ReadFile(tls + "/v1/server.crt")));

  // Rotate: a complete new directory, then one rename of the symlink (mv -T).
  ASSERT_TRUE(IssueServerCertificate(mesh.pki().ca_dir(), tls + "/v2", "plantmesh-server").ok());
  fs::create_directory_symlink("v2", tls + "/next");
  fs::rename(tls + "/next", tls + "/current");
  const std::string rotated = ReadFile(tls + "/v2/server.crt");
  ASSERT_FALSE(Serves(served, rotated));

  // New connections see the new certificate within a few reload periods.
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    grpc::Status status = RawWhoAmI(mesh.endpoint(), ca, cert, key, &served);
    ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << mesh.server().log();
    if (Serves(served, rotated)) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(Serves(served, rotated)) << "the server still serves the old certificate";
  EXPECT_TRUE(mesh.server().running());

  // Outside testing: a rotation to a key that is not the certificate's took the server
  // off the network. It is refused, said in the log, and v2 stays served.
  ASSERT_TRUE(IssueServerCertificate(mesh.pki().ca_dir(), tls + "/v3", "plantmesh-server").ok());
  fs::copy_file(tls + "/v1/server.key", tls + "/v3/server.key",
                fs::copy_options::overwrite_existing);
  const auto refusals = [&] {
    const std::string log = mesh.server().log();
    int count = 0;
    for (size_t at = log.find("TLS files refused: tls-key"); at != std::string::npos;
         at = log.find("TLS files refused: tls-key", at + 1)) {
      ++count;
    }
    return count;
  };
  const int refusals_before = refusals();
  fs::create_directory_symlink("v3", tls + "/next");
  fs::rename(tls + "/next", tls + "/current");
  EXPECT_TRUE(testing::PollUntil([&] { return refusals() > refusals_before; }, absl::Seconds(20)))
      << mesh.server().log();
  EXPECT_THAT(mesh.server().log(), HasSubstr("the server goes on serving the last good ones"));
  grpc::Status still = RawWhoAmI(mesh.endpoint(), ca, cert, key, &served);
  ASSERT_TRUE(still.ok()) << still.error_message() << "\n" << mesh.server().log();
  EXPECT_TRUE(Serves(served, rotated));

  // The SDK with a private connection pool handshakes afresh, against the new one.
  anna.private_connection_pool = true;
  absl::StatusOr<sdk::SystemClient> client = sdk::SystemClient::Connect(anna);
  ASSERT_TRUE(client.ok());
  auto me = client->WhoAmI(system::v1::WhoAmIRequest());
  ASSERT_TRUE(me.ok()) << Describe(me.status());
  EXPECT_THAT(me->identity(), HasSubstr("/user/anna"));
}

// Outside testing: a program linked with the SDK read its certificate once, so after a
// rotation it went on presenting the old one until that expired, and every connection
// after that was refused. With ClientOptions::tls_reload the SDK reads the files again;
// the server's max-connection-age-seconds makes the client connect again, and the next
// connection presents the new certificate (here another identity, so that it shows).
TEST(MtlsRotationTest, AClientWhoseCertificateIsRotatedOnDiskPresentsTheNewOne) {
  namespace fs = std::filesystem;
  MeshOptions options;
  options.server_args = {"--max-connection-age-seconds", "1", "--max-connection-age-grace-seconds",
                         "1"};
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start(options);
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  const sdk::ClientOptions anna = mesh.OptionsFor("anna");
  const sdk::ClientOptions otto = mesh.OptionsFor("otto");
  // <pki>/adapter/{v1,v2,current -> v1}, as a kubelet lays out a mounted Secret.
  const std::string dir = mesh.pki().dir() + "/adapter";
  for (const auto& [version, user] : {std::pair{"v1", &anna}, std::pair{"v2", &otto}}) {
    fs::create_directories(dir + "/" + version);
    fs::copy_file(user->cert_file, dir + "/" + version + "/tls.crt");
    fs::copy_file(user->key_file, dir + "/" + version + "/tls.key");
  }
  fs::create_directory_symlink("v1", dir + "/current");
  sdk::ClientOptions adapter = anna;
  adapter.cert_file = dir + "/current/tls.crt";
  adapter.key_file = dir + "/current/tls.key";
  adapter.tls_reload = absl::Seconds(1);
  absl::StatusOr<sdk::SystemClient> client = sdk::SystemClient::Connect(adapter);
  ASSERT_TRUE(client.ok()) << Describe(client.status());
  auto me = client->WhoAmI(system::v1::WhoAmIRequest());
  ASSERT_TRUE(me.ok()) << Describe(me.status());
  EXPECT_THAT(me->identity(), HasSubstr("/user/anna"));

  fs::create_directory_symlink("v2", dir + "/next");
  fs::rename(dir + "/next", dir + "/current");
  std::string identity;
  int failed = 0;
  EXPECT_TRUE(testing::PollUntil(
      [&] {
        auto now = client->WhoAmI(system::v1::WhoAmIRequest());
        if (!now.ok()) {
          ++failed;
          return false;
        }
        identity = now->identity();
        return absl::StrContains(identity, "/user/otto");
      },
      absl::Seconds(60), absl::Milliseconds(100)))
      << "still " << identity;
  // Reconnecting is the client's business: no call fails on the way.
  EXPECT_EQ(failed, 0);
}

}  // namespace
}  // namespace plantmesh::e2e
