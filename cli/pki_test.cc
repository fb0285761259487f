#include "cli/pki.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "cli/role_bindings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace plantmesh::pki {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "plantmesh-pki-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    CaOptions ca;
    ca.dir = dir_ + "/ca";
    ASSERT_TRUE(InitCa(ca).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  IssueOptions Options(const std::string& name) const {
    IssueOptions options;
    options.ca_dir = dir_ + "/ca";
    options.out_dir = dir_ + "/out";
    options.name = name;
    return options;
  }

  // X509_verify_cert's result for `cert_file` against the test CA (0 = verified).
  int Verify(const std::string& cert_file) const {
    X509_STORE* store = X509_STORE_new();
    X509_STORE_load_file(store, (dir_ + "/ca/ca.crt").c_str());
    FILE* file = fopen(cert_file.c_str(), "r");
    X509* cert = PEM_read_X509(file, nullptr, nullptr, nullptr);
    fclose(file);
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, cert, nullptr);
    int error = X509_verify_cert(ctx) == 1 ? 0 : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_free(cert);
    X509_STORE_free(store);
    return error;
  }

  static mode_t Mode(const std::string& path) {
    struct stat st {};
    stat(path.c_str(), &st);
    return st.st_mode & 0777;
  }

  std::string dir_;
};

TEST_F(PkiTest, IdentityIsSpiffeUri) {
  EXPECT_EQ(IdentityFor("plant.local", "user", "anna"), "spiffe://plant.local/user/anna");
}

TEST_F(PkiTest, CaKeyIsPrivateAndCaIsNeverOverwritten) {
  EXPECT_EQ(Mode(dir_ + "/ca/ca.key"), 0600u);
  std::ifstream before(dir_ + "/ca/ca.crt");
  std::stringstream original;
  original << before.rdbuf();

  CaOptions again;
  again.dir = dir_ + "/ca";
  EXPECT_EQ(InitCa(again).code(), absl::StatusCode::kAlreadyExists);

  std::ifstream after(dir_ + "/ca/ca.crt");
  std::stringstream current;
  current << after.rdbuf();
  EXPECT_EQ(original.str(), current.str());

  absl::StatusOr<CertificateInfo> ca = ReadCertificateInfo(dir_ + "/ca/ca.crt");
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_TRUE(ca->is_ca);
}

TEST_F(PkiTest, UserCertificateVerifiesAndCarriesOneUriSan) {
  IssueOptions options = Options("anna");
  absl::StatusOr<IssuedCertificate> issued = Issue(options);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->identity, IdentityFor("plantmesh.local", "user", "anna"));
  EXPECT_EQ(issued->cert_file, dir_ + "/out/anna.crt");
  EXPECT_EQ(Verify(issued->cert_file), 0);
  EXPECT_EQ(Mode(issued->key_file), 0600u);

  absl::StatusOr<CertificateInfo> info = ReadCertificateInfo(issued->cert_file);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->uris, ElementsAre(issued->identity));
  EXPECT_THAT(info->dns_names, IsEmpty());
  EXPECT_THAT(info->extended_key_usages, ElementsAre("clientAuth"));
  EXPECT_FALSE(info->is_ca);
  EXPECT_LT(info->not_before, absl::Now());
  EXPECT_GT(info->not_after, absl::Now() + absl::Hours(24 * 89));
}

TEST_F(PkiTest, ServerCertificateCarriesDnsAndIpSansAndServerAuth) {
  IssueOptions options = Options("plantmesh-server");
  options.kind = "server";
  options.server = true;
  options.dns_names = {"localhost"};
  options.ip_addresses = {"127.0.0.1", "::1"};
  absl::StatusOr<IssuedCertificate> issued = Issue(options);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(Verify(issued->cert_file), 0);

  absl::StatusOr<CertificateInfo> info = ReadCertificateInfo(issued->cert_file);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->uris, ElementsAre("spiffe://plantmesh.local/server/plantmesh-server"));
  EXPECT_THAT(info->dns_names, ElementsAre("localhost"));
  EXPECT_THAT(info->ip_addresses, ElementsAre("127.0.0.1", "::1"));
  EXPECT_THAT(info->extended_key_usages, ElementsAre("serverAuth", "clientAuth"));
}

// Outside testing: `--days 90` ended 90 days after a start backdated 5 minutes, and
// `admin status` showed 89 days left at once.
TEST_F(PkiTest, TheValidityCountsFromTheIssue) {
  IssueOptions options = Options("fresh");
  options.validity = absl::Hours(24 * 90);
  const absl::Time issued_at = absl::Now();
  absl::StatusOr<IssuedCertificate> issued = Issue(options);
  ASSERT_TRUE(issued.ok()) << issued.status();
  absl::StatusOr<CertificateInfo> info = ReadCertificateInfo(issued->cert_file);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_GE(info->not_after, issued_at + absl::Hours(24 * 90) - absl::Seconds(1));
  EXPECT_LE(info->not_after, absl::Now() + absl::Hours(24 * 90));
  EXPECT_LE(info->not_before, issued_at - kClockSkewMargin + absl::Seconds(1));
}

TEST_F(PkiTest, ExpiredCertificateCanBeIssuedForNegativeTests) {
  IssueOptions options = Options("expired");
  options.not_before = absl::Now() - absl::Hours(2);
  options.validity = absl::Hours(1);
  absl::StatusOr<IssuedCertificate> issued = Issue(options);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(Verify(issued->cert_file), X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(PkiTest, CertificateFromAnotherCaDoesNotVerify) {
  CaOptions other;
  other.dir = dir_ + "/other-ca";
  ASSERT_TRUE(InitCa(other).ok());
  IssueOptions options = Options("mallory");
  options.ca_dir = other.dir;
  absl::StatusOr<IssuedCertificate> issued = Issue(options);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_NE(Verify(issued->cert_file), 0);
}

TEST_F(PkiTest, RefusesBadNamesAndKinds) {
  IssueOptions bad_name = Options("../etc/passwd");
  EXPECT_EQ(Issue(bad_name).status().code(), absl::StatusCode::kInvalidArgument);
  // Re-test: a no-break space was printed raw, reading as a space; it is escaped and named.
  EXPECT_EQ(Issue(Options("zed\u00A0")).status().message(),
            "name \"zed\\xc2\\xa0\" may hold only letters, digits, '-', '_' and '.' (ASCII); "
            "U+00A0 at byte 4");
  IssueOptions bad_kind = Options("anna");
  bad_kind.kind = "wizard";
  EXPECT_EQ(Issue(bad_kind).status().code(), absl::StatusCode::kInvalidArgument);
  IssueOptions no_ca = Options("anna");
  no_ca.ca_dir = dir_ + "/missing";
  EXPECT_EQ(Issue(no_ca).status().code(), absl::StatusCode::kNotFound);
}

// Outside testing: --ip 999.1.1.1 ended in OpenSSL's "bad ip address" (exit 1), and
// --dns 'bad name' was written into the certificate.
TEST_F(PkiTest, RefusesSubjectAltNamesNoClientWouldMatch) {
  for (const std::string ip : {"999.1.1.1", "localhost", "", "1.2.3"}) {
    IssueOptions options = Options("plantmesh-server");
    options.server = true;
    options.ip_addresses = {ip};
    const absl::Status status = Issue(options).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << ip;
    EXPECT_THAT(std::string(status.message()), HasSubstr("is not an IPv4 or IPv6 address")) << ip;
  }
  for (const std::string& dns : std::vector<std::string>{
           "bad name", "", "-edge.local", "a..b", "x_y.local", std::string(64, 'a') + ".local"}) {
    IssueOptions options = Options("plantmesh-server");
    options.server = true;
    options.dns_names = {dns};
    const absl::Status status = Issue(options).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << dns;
    EXPECT_THAT(std::string(status.message()), HasSubstr("is not a DNS name")) << dns;
  }
  IssueOptions good = Options("plantmesh-server");
  good.server = true;
  good.dns_names = {"*.plant.example", "mes-01", "Line-3.Plant.example"};
  good.ip_addresses = {"10.0.0.7", "fe80::1"};
  EXPECT_TRUE(Issue(good).ok());
}

// Outside testing: `--trust-domain UPPER.local` made a CA and a binding every server
// refused (and that binding kept the role-binding file from reloading); `--days 2913000`
// wrote a notAfter OpenSSL cannot read. Both exited 0.
TEST_F(PkiTest, RefusesWhatServersCannotReadAndWritesNothing) {
  IssueOptions upper = Options("up2");
  upper.trust_domain = "UPPER.local";
  absl::StatusOr<IssuedCertificate> issued = Issue(upper);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("no SPIFFE trust domain"));
  EXPECT_FALSE(fs::exists(dir_ + "/out/up2.crt"));
  CaOptions upper_ca;
  upper_ca.dir = dir_ + "/upper-ca";
  upper_ca.trust_domain = "UPPER.local";
  EXPECT_EQ(InitCa(upper_ca).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ + "/upper-ca/ca.crt"));

  IssueOptions forever = Options("far1");
  forever.validity = absl::Hours(24) * 2913000;
  issued = Issue(forever);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("9999-12-31"));
  EXPECT_FALSE(fs::exists(dir_ + "/out/far1.crt"));
  forever.validity = absl::Hours(24) * 2000000;  // 7502: fine
  EXPECT_TRUE(Issue(forever).ok());
}

TEST_F(PkiTest, IssueRefusesTheCaFileNamesAndLeavesTheCaIntact) {
  std::ifstream before(dir_ + "/ca/ca.crt");
  std::stringstream original;
  original << before.rdbuf();

  for (const std::string name : {"ca", "CA", "role-bindings"}) {
    IssueOptions options = Options(name);
    options.out_dir.clear();  // plantctl's default: the CA directory
    absl::Status status = Issue(options).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("--name")) << name;
  }

  std::ifstream after(dir_ + "/ca/ca.crt");
  std::stringstream current;
  current << after.rdbuf();
  EXPECT_EQ(original.str(), current.str());
  absl::StatusOr<CertificateInfo> ca = ReadCertificateInfo(dir_ + "/ca/ca.crt");
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_TRUE(ca->is_ca);

  // Other names still go to the CA directory by default.
  IssueOptions anna = Options("anna");
  anna.out_dir.clear();
  absl::StatusOr<IssuedCertificate> issued = Issue(anna);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(Verify(issued->cert_file), 0);
}

TEST_F(PkiTest, BindRolesAddsAndReplacesEntries) {
  const std::string file = dir_ + "/role-bindings.json";
  ASSERT_TRUE(BindRoles(file, "spiffe://plantmesh.local/user/anna", {"foreman"}).ok());
  ASSERT_TRUE(BindRoles(file, "spiffe://plantmesh.local/user/bob", {"mechanic"}).ok());
  ASSERT_TRUE(
      BindRoles(file, "spiffe://plantmesh.local/user/anna", {"foreman", "qc_engineer"}).ok());
  std::ifstream in(file);
  nlohmann::json document = nlohmann::json::parse(in);
  ASSERT_EQ(document["bindings"].size(), 2u);
  EXPECT_EQ(document["bindings"][0]["identity"], "spiffe://plantmesh.local/user/anna");
  EXPECT_EQ(document["bindings"][0]["roles"], nlohmann::json({"foreman", "qc_engineer"}));
  EXPECT_EQ(document["bindings"][1]["roles"], nlohmann::json({"mechanic"}));

  // A role given twice is written once; a hand-edited file that binds an identity twice
  // is refused as the server refuses it, naming both bindings.
  ASSERT_TRUE(BindRoles(file, "spiffe://plantmesh.local/user/bob", {"manager", "manager"}).ok());
  std::ifstream again(file);
  EXPECT_EQ(nlohmann::json::parse(again)["bindings"][1]["roles"], nlohmann::json({"manager"}));
  std::ofstream(file) << R"({"bindings": [
      {"identity": "spiffe://plantmesh.local/user/anna", "roles": ["operator"]},
      {"identity": "spiffe://plantmesh.local/user/anna", "roles": ["admin"]}]})";
  const absl::Status twice = BindRoles(file, "spiffe://plantmesh.local/user/bob", {"mechanic"});
  EXPECT_THAT(
      std::string(twice.message()),
      ::testing::HasSubstr("bindings[1]: identity \"spiffe://plantmesh.local/user/anna\" is "
                           "bound already by bindings[0]"));
}

TEST_F(PkiTest, BindRolesRefusesToClobberAFileItCannotParse) {
  const std::string file = dir_ + "/role-bindings.json";
  std::ofstream(file) << "not json";
  EXPECT_EQ(BindRoles(file, "spiffe://x/user/a", {"admin"}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PkiTest, BindRolesRejectsMistypedEntriesNamingFileAndEntry) {
  const std::string file = dir_ + "/role-bindings.json";
  const std::string original =
      R"({"bindings": [{"identity": "spiffe://x/user/a", "roles": ["admin"]},)"
      R"( {"identity": 42, "roles": ["mechanic"]}]})";
  std::ofstream(file) << original;
  absl::Status status = BindRoles(file, "spiffe://x/user/b", {"admin"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(file + ": bindings[1]"));
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("identity"));

  std::ofstream(file) << R"({"bindings": ["spiffe://x/user/a"]})";
  status = BindRoles(file, "spiffe://x/user/a", {"admin"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("bindings[0]"));

  std::ofstream(file) << R"({"bindings": [{"identity": "spiffe://x/user/a", "roles": "admin"}]})";
  status = BindRoles(file, "spiffe://x/user/a", {"admin"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("roles"));

  EXPECT_EQ(BindRoles(file, "spiffe://x/user/\xff", {"admin"}).code(),
            absl::StatusCode::kInvalidArgument);
}

// Outside testing (AF F5): plantctl kept what the server refuses (a key given twice it
// resolved to the last one, so ops lost admin; an unknown key; an identity with a blank
// after it) and said "bound"; it reads the file as the server does and writes nothing.
TEST_F(PkiTest, BindRolesRefusesWhatTheServerWouldRefuse) {
  const std::string file = dir_ + "/role-bindings.json";
  const std::pair<std::string, std::string> refused[] = {
      {R"({"bindings": [{"identity": "spiffe://x/user/ops", "roles": ["admin"], "roles": ["operator"]}]})",
       "bindings[0]: key 'roles' given twice in one object"},
      {R"({"bindings": [], "x": 1})", "unknown key 'x'"},
      {R"({"bindings": [{"identity": "spiffe://x/user/ops ", "roles": ["admin"]}]})",
       "bindings[0].identity"},
      {R"({"bindings": [], "x":)" + std::string(5000, '[') + std::string(5000, ']') + "}",
       "nested deeper than 16"},
      // Re-test: a binding of another trust domain could never match.
      {R"({"bindings": [{"identity": "spiffe://y/user/ops", "roles": ["admin"]}]})",
       "bindings[0].identity: \"spiffe://y/user/ops\": not in the trust domain x"},
  };
  for (const auto& [text, reason] : refused) {
    std::ofstream(file) << text;
    const absl::Status status = BindRoles(file, "spiffe://x/user/anna", {"operator"});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(file + ": " + reason)) << text;
    EXPECT_THAT(std::string(status.message()),
                ::testing::HasSubstr("the server would refuse it; not changing it"));
    std::ifstream after(file);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(after), {}), text);
  }
}

// A mistyped role would make the server refuse the whole file (or, before roles were an enum,
// deny that identity everything): plantctl refuses it before writing, naming the role.
TEST_F(PkiTest, BindRolesRefusesAnUnknownRoleAndWritesNothing) {
  const std::string file = dir_ + "/role-bindings.json";
  ASSERT_TRUE(BindRoles(file, "spiffe://x/user/a", {"admin"}).ok());
  std::ifstream before_in(file);
  const std::string before((std::istreambuf_iterator<char>(before_in)),
                           std::istreambuf_iterator<char>());

  absl::Status status = BindRoles(file, "spiffe://x/user/b", {"mechanic", "forman"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              ::testing::HasSubstr("--role forman for spiffe://x/user/b: unknown role \"forman\" "
                                   "(known: operator, mechanic, foreman, qc_engineer"));
  std::ifstream after_in(file);
  const std::string after((std::istreambuf_iterator<char>(after_in)),
                          std::istreambuf_iterator<char>());
  EXPECT_EQ(after, before);
}

TEST_F(PkiTest, BindRolesRefusesAFileWithAnUnknownRoleNamingTheBinding) {
  const std::string file = dir_ + "/role-bindings.json";
  std::ofstream(file)
      << R"({"bindings": [{"identity_prefix": "spiffe://x/service/", "roles": ["integrator"]},)"
      << R"( {"identity": "spiffe://x/user/c", "roles": ["qc-engineer"]}]})";
  absl::Status status = BindRoles(file, "spiffe://x/user/a", {"admin"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(status.message()),
      ::testing::HasSubstr(file + ": bindings[1] (identity \"spiffe://x/user/c\").roles[0]: "
                                  "unknown role \"qc-engineer\""));
}

TEST_F(PkiTest, BindRolesKeepsPrefixBindings) {
  const std::string file = dir_ + "/role-bindings.json";
  std::ofstream(file)
      << R"({"bindings": [{"identity_prefix": "spiffe://x/service/", "roles": ["integrator"]}]})";
  ASSERT_TRUE(BindRoles(file, "spiffe://x/user/a", {"admin"}).ok());
  std::ifstream in(file);
  const nlohmann::json document = nlohmann::json::parse(in);
  ASSERT_EQ(document["bindings"].size(), 2u);
  EXPECT_EQ(document["bindings"][0]["identity_prefix"], "spiffe://x/service/");
  EXPECT_EQ(document["bindings"][1]["identity"], "spiffe://x/user/a");
}

// Re-test: `pki issue --role` bound an identity a prefix binding also matched without a word.
TEST_F(PkiTest, AnIdentityAPrefixAlsoMatchesIsNamed) {
  const std::string text = R"({"bindings": [
    {"identity_prefix": "spiffe://x/user/", "roles": ["manager"]},
    {"identity": "spiffe://x/user/casey", "roles": ["operator"]},
    {"identity": "spiffe://x/service/mes", "roles": ["integrator"]}]})";
  EXPECT_THAT(OverlapsOf(text, "spiffe://x/user/casey"),
              ::testing::ElementsAre(
                  "bindings[1]: identity \"spiffe://x/user/casey\" is also matched by "
                  "identity_prefix \"spiffe://x/user/\" of bindings[0]: its roles add up, and a "
                  "revocation must take it out of both"));
  EXPECT_TRUE(OverlapsOf(text, "spiffe://x/service/mes").empty());
}

}  // namespace
}  // namespace plantmesh::pki
