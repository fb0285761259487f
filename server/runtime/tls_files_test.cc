#include "server/runtime/tls_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/pki.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Outside testing: a key replaced by another certificate's (a rotation gone wrong) took
// the server off the network. A set that fails the start-up check is not staged; the last
// good one stays served until a good set comes.
TEST(StagedTlsFilesTest, ARotationThatFailsTheCheckKeepsTheLastGoodFiles) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const std::string dir = (*pki)->dir() + "/served";
  std::filesystem::create_directories(dir);
  const StagedTlsFiles::Paths configured = {dir + "/ca.crt", dir + "/server.crt",
                                            dir + "/server.key"};
  WriteFile(configured.ca, ReadFile((*pki)->ca_file()));
  WriteFile(configured.cert, ReadFile((*pki)->server_cert()));
  WriteFile(configured.key, ReadFile((*pki)->server_key()));
  absl::StatusOr<testing::TestPki::Client> other = (*pki)->IssueClient("other", {"operator"});
  ASSERT_TRUE(other.ok()) << other.status();

  absl::StatusOr<std::unique_ptr<StagedTlsFiles>> files =
      StagedTlsFiles::Start(configured, absl::Hours(1));  // refreshed by hand here
  ASSERT_TRUE(files.ok()) << files.status();
  const StagedTlsFiles::Paths staged = (*files)->staged();
  EXPECT_EQ(ReadFile(staged.key), ReadFile(configured.key));
  EXPECT_EQ(ReadFile(staged.cert), ReadFile(configured.cert));
  EXPECT_NE(staged.key, configured.key);
  const std::string good_key = ReadFile(configured.key);

  WriteFile(configured.key, ReadFile(other->key_file));  // not the certificate's key
  absl::Status refused = (*files)->Refresh();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("tls-key: does not match tls-cert ('" + configured.key));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("goes on serving the last good ones"));
  EXPECT_EQ(ReadFile(staged.key), good_key);

  WriteFile(configured.cert, "not PEM");
  EXPECT_FALSE((*files)->Refresh().ok());
  EXPECT_EQ(ReadFile(staged.key), good_key);

  // A good pair again (the client's certificate and key): staged.
  WriteFile(configured.cert, ReadFile(other->cert_file));
  ASSERT_TRUE((*files)->Refresh().ok());
  EXPECT_EQ(ReadFile(staged.cert), ReadFile(other->cert_file));
  EXPECT_EQ(ReadFile(staged.key), ReadFile(other->key_file));

  // An expired certificate is refused too (outside testing: a server started on one
  // without a word, and clients were told it had refused theirs).
  pki::IssueOptions expired;
  expired.ca_dir = (*pki)->ca_dir();
  expired.out_dir = dir + "/expired";
  expired.name = "plantmesh-server";
  expired.kind = "server";
  expired.server = true;
  expired.not_before = absl::Now() - absl::Hours(48);
  expired.validity = absl::Hours(24);
  absl::StatusOr<pki::IssuedCertificate> old = pki::Issue(expired);
  ASSERT_TRUE(old.ok()) << old.status();
  WriteFile(configured.cert, ReadFile(old->cert_file));
  WriteFile(configured.key, ReadFile(old->key_file));
  refused = (*files)->Refresh();
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("tls-cert: '" + configured.cert + "' expired on "));
  EXPECT_EQ(ReadFile(staged.key), ReadFile(other->key_file));

  // At start, a bad set is refused as the configuration's error.
  WriteFile(configured.key, good_key);
  EXPECT_FALSE(StagedTlsFiles::Start(configured, absl::Seconds(1)).ok());
}

}  // namespace
}  // namespace plantmesh::runtime
