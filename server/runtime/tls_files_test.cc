#include "server/runtime/tls_files.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include "cli/pki.h"
#include "tests/support/poll.h"
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

// A server certificate from the PKI's CA into <dir>, valid from `not_before` for
// `validity` (an expired one, one not valid yet).
absl::StatusOr<pki::IssuedCertificate> IssueServerCertificate(const testing::TestPki& pki,
                                                              const std::string& dir,
                                                              absl::Time not_before,
                                                              absl::Duration validity) {
  pki::IssueOptions options;
  options.ca_dir = pki.ca_dir();
  options.out_dir = dir;
  options.name = "plantmesh-server";
  options.kind = "server";
  options.server = true;
  options.not_before = not_before;
  options.validity = validity;
  return pki::Issue(options);
}

// The PKI's CA, server certificate and key copied to <pki>/served, as the tls-ca,
// tls-cert and tls-key an operator configured.
StagedTlsFiles::Paths ServedCopy(const testing::TestPki& pki) {
  const std::string dir = pki.dir() + "/served";
  std::filesystem::create_directories(dir);
  const StagedTlsFiles::Paths configured = {dir + "/ca.crt", dir + "/server.crt",
                                            dir + "/server.key"};
  WriteFile(configured.ca, ReadFile(pki.ca_file()));
  WriteFile(configured.cert, ReadFile(pki.server_cert()));
  WriteFile(configured.key, ReadFile(pki.server_key()));
  return configured;
}

// True when <dir>/owner.lock exists and a process holds its flock.
bool OwnerLockHeld(const std::string& dir) {
  const int fd = open((dir + "/owner.lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = flock(fd, LOCK_EX | LOCK_NB) != 0;
  close(fd);
  return held;
}

// Outside testing: a key replaced by another certificate's (a rotation gone wrong) took
// the server off the network. A set that fails the start-up check is not staged; the last
// good one stays served until a good set comes.
TEST(StagedTlsFilesTest, ARotationThatFailsTheCheckKeepsTheLastGoodFiles) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const std::string dir = (*pki)->dir() + "/served";
  const StagedTlsFiles::Paths configured = ServedCopy(**pki);
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

  // A client's pair (extended key usage clientAuth only) is no server's: refused
  // (outside testing: it was served, and every client refused it).
  WriteFile(configured.cert, ReadFile(other->cert_file));
  WriteFile(configured.key, ReadFile(other->key_file));
  refused = (*files)->Refresh();
  EXPECT_THAT(std::string(refused.message()), HasSubstr("is not a TLS server certificate"));
  EXPECT_EQ(ReadFile(staged.key), good_key);

  // A good pair again (another server certificate): staged.
  absl::StatusOr<pki::IssuedCertificate> next =
      IssueServerCertificate(**pki, dir + "/next", absl::Now() - absl::Hours(1), absl::Hours(24));
  ASSERT_TRUE(next.ok()) << next.status();
  WriteFile(configured.cert, ReadFile(next->cert_file));
  WriteFile(configured.key, ReadFile(next->key_file));
  ASSERT_TRUE((*files)->Refresh().ok());
  EXPECT_EQ(ReadFile(staged.cert), ReadFile(next->cert_file));
  EXPECT_EQ(ReadFile(staged.key), ReadFile(next->key_file));

  // An expired certificate is refused too (outside testing: a server started on one
  // without a word, and clients were told it had refused theirs).
  absl::StatusOr<pki::IssuedCertificate> old = IssueServerCertificate(
      **pki, dir + "/expired", absl::Now() - absl::Hours(48), absl::Hours(24));
  ASSERT_TRUE(old.ok()) << old.status();
  WriteFile(configured.cert, ReadFile(old->cert_file));
  WriteFile(configured.key, ReadFile(old->key_file));
  refused = (*files)->Refresh();
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("tls-cert: '" + configured.cert + "' expired on "));
  EXPECT_EQ(ReadFile(staged.key), ReadFile(next->key_file));

  // At start, a bad set is refused as the configuration's error.
  WriteFile(configured.key, good_key);
  EXPECT_FALSE(StagedTlsFiles::Start(configured, absl::Seconds(1)).ok());
}

// The key and certificate as gRPC 1.51's FileWatcherCertificateProvider reads them
// (ReadIdentityKeyCertPairFromFiles): the key, then the certificate, accepted when neither
// file's modification time (whole seconds) changed across the two reads; three tries.
std::optional<std::pair<std::string, std::string>> ReadPairAsGrpcDoes(
    const StagedTlsFiles::Paths& staged) {
  const auto modified = [](const std::string& path) -> time_t {
    struct stat status {};
    return stat(path.c_str(), &status) == 0 ? status.st_mtime : 0;
  };
  for (int attempt = 0; attempt < 3; ++attempt) {
    const time_t key_before = modified(staged.key);
    const time_t cert_before = modified(staged.cert);
    if (key_before == 0 || cert_before == 0) continue;
    std::pair<std::string, std::string> pair = {ReadFile(staged.key), ReadFile(staged.cert)};
    if (modified(staged.key) != key_before || modified(staged.cert) != cert_before) continue;
    return pair;
  }
  return std::nullopt;
}

// CI: a rotation was served as the new certificate with the old key for one reload period
// ("Invalid private key", every handshake refused), because gRPC read the staged pair
// between the renames of its two files. Whatever moment gRPC reads at, it gets one whole
// pair, old or new.
// Outside testing: a /tmp cleaner removed the staging directory, and every later rotation
// was silently not served (the error of staging it was dropped). The set is staged again,
// and the next rotation is served.
TEST(StagedTlsFilesTest, ARemovedStagingDirectoryIsMadeAgain) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const StagedTlsFiles::Paths configured = ServedCopy(**pki);
  absl::StatusOr<std::unique_ptr<StagedTlsFiles>> files =
      StagedTlsFiles::Start(configured, absl::Hours(1));  // refreshed by hand here
  ASSERT_TRUE(files.ok()) << files.status();
  const StagedTlsFiles::Paths staged = (*files)->staged();
  // <dir>/current/key.pem: the staging directory is two levels up.
  const std::filesystem::path dir = std::filesystem::path(staged.key).parent_path().parent_path();
  // One file gone is enough to stage the set again.
  std::filesystem::remove(staged.cert);
  ASSERT_TRUE((*files)->Refresh().ok());
  EXPECT_EQ(ReadFile(staged.cert), ReadFile(configured.cert));
  std::filesystem::remove_all(dir);

  ASSERT_TRUE((*files)->Refresh().ok());
  EXPECT_EQ(ReadFile(staged.key), ReadFile(configured.key));
  EXPECT_EQ(std::filesystem::status(dir).permissions(), std::filesystem::perms::owner_all);
  EXPECT_TRUE(OwnerLockHeld(dir.string()));  // removed with the rest: made and held again
  // Another server's pair (a client's is refused: no serverAuth).
  absl::StatusOr<pki::IssuedCertificate> other = IssueServerCertificate(
      **pki, (*pki)->dir() + "/other", absl::Now() - absl::Hours(1), absl::Hours(24));
  ASSERT_TRUE(other.ok()) << other.status();
  WriteFile(configured.cert, ReadFile(other->cert_file));
  WriteFile(configured.key, ReadFile(other->key_file));
  ASSERT_TRUE((*files)->Refresh().ok());
  EXPECT_EQ(ReadFile(staged.cert), ReadFile(other->cert_file));
  EXPECT_FALSE((*files)->refused());
}

// Outside testing: with umask 022 the staged key was 0644 (and its version directory
// 0755) inside the 0700 staging directory. Every staged file is the owner's alone.
TEST(StagedTlsFilesTest, TheStagedCopiesAreTheOwnersAloneWhateverTheUmask) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const mode_t before = umask(022);
  absl::StatusOr<std::unique_ptr<StagedTlsFiles>> files =
      StagedTlsFiles::Start(ServedCopy(**pki), absl::Hours(1));
  umask(before);
  ASSERT_TRUE(files.ok()) << files.status();
  const StagedTlsFiles::Paths staged = (*files)->staged();
  for (const std::string& path : {staged.ca, staged.cert, staged.key}) {
    EXPECT_EQ(std::filesystem::status(path).permissions(),
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write)
        << path;
  }
  // <dir>/current/key.pem: `current` links to the version directory.
  const std::filesystem::path version =
      std::filesystem::canonical(std::filesystem::path(staged.key).parent_path());
  EXPECT_EQ(std::filesystem::status(version).permissions(), std::filesystem::perms::owner_all);
}

// Outside testing: 1,400 staging directories, each with a copy of a server's private key,
// were left in /tmp by servers ended with SIGKILL. The next start removes those whose
// owner is gone, and leaves a running server's and any it cannot judge.
TEST(StagedTlsFilesTest, AbandonedStagingDirectoriesAreRemovedAtStart) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const StagedTlsFiles::Paths configured = ServedCopy(**pki);
  const std::string tmpdir = (*pki)->dir() + "/tmp";
  const std::string abandoned = tmpdir + "/plantmesh-tls-killed";
  const std::string running = tmpdir + "/plantmesh-tls-running";
  const std::string unjudged = tmpdir + "/plantmesh-tls-nolock";
  for (const std::string& dir : {abandoned, running, unjudged}) {
    std::filesystem::create_directories(dir + "/v1");
    WriteFile(dir + "/v1/key.pem", "a key");
  }
  WriteFile(abandoned + "/owner.lock", "");
  WriteFile(running + "/owner.lock", "");
  const int held = open((running + "/owner.lock").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX | LOCK_NB), 0);

  const char* before = std::getenv("TMPDIR");
  const std::string kept = before != nullptr ? before : "";
  setenv("TMPDIR", tmpdir.c_str(), 1);
  absl::StatusOr<std::unique_ptr<StagedTlsFiles>> files =
      StagedTlsFiles::Start(configured, absl::Hours(1));
  if (before != nullptr) {
    setenv("TMPDIR", kept.c_str(), 1);
  } else {
    unsetenv("TMPDIR");
  }
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_FALSE(std::filesystem::exists(abandoned));
  EXPECT_TRUE(std::filesystem::exists(running + "/v1/key.pem"));
  EXPECT_TRUE(std::filesystem::exists(unjudged + "/v1/key.pem"));
  close(held);
  const std::string own =
      std::filesystem::path((*files)->staged().key).parent_path().parent_path().string();
  EXPECT_TRUE(OwnerLockHeld(own));
  files->reset();
  EXPECT_FALSE(std::filesystem::exists(own));
}

// Outside testing: a TMPDIR that did not exist threw out of the server's start (abort),
// a read-only one crashed it, both without a word.
TEST(StagedTlsFilesTest, AnUnusableTmpdirIsSaid) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const StagedTlsFiles::Paths configured = ServedCopy(**pki);
  const char* before = std::getenv("TMPDIR");
  const std::string kept = before != nullptr ? before : "";
  for (const std::string& tmpdir : {std::string("/nonexistent/tmp"), configured.ca}) {
    setenv("TMPDIR", tmpdir.c_str(), 1);
    absl::StatusOr<std::unique_ptr<StagedTlsFiles>> files =
        StagedTlsFiles::Start(configured, absl::Hours(1));
    EXPECT_EQ(files.status().code(), absl::StatusCode::kFailedPrecondition) << tmpdir;
    EXPECT_THAT(std::string(files.status().message()), HasSubstr("TMPDIR")) << files.status();
  }
  setenv("TMPDIR", "", 1);  // empty: none, as for glibc
  EXPECT_TRUE(StagedTlsFiles::Start(configured, absl::Hours(1)).ok());
  if (before != nullptr) {
    setenv("TMPDIR", kept.c_str(), 1);
  } else {
    unsetenv("TMPDIR");
  }
}

TEST(StagedTlsFilesTest, GrpcReadsOneWholePairWhileTheFilesRotate) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  // Another server's pair (a client's is refused: no serverAuth).
  absl::StatusOr<pki::IssuedCertificate> other = IssueServerCertificate(
      **pki, (*pki)->dir() + "/other", absl::Now() - absl::Hours(1), absl::Hours(24));
  ASSERT_TRUE(other.ok()) << other.status();
  const std::pair<std::string, std::string> first = {ReadFile((*pki)->server_key()),
                                                     ReadFile((*pki)->server_cert())};
  const std::pair<std::string, std::string> second = {ReadFile(other->key_file),
                                                      ReadFile(other->cert_file)};
  const StagedTlsFiles::Paths configured = ServedCopy(**pki);  // the first pair
  absl::StatusOr<std::unique_ptr<StagedTlsFiles>> files =
      StagedTlsFiles::Start(configured, absl::Hours(1));  // refreshed by hand here
  ASSERT_TRUE(files.ok()) << files.status();

  std::atomic<bool> rotating{true};
  std::atomic<int> reads{0};
  std::atomic<int> mixed{0};
  std::thread grpc_reader([&] {
    while (rotating.load()) {
      std::optional<std::pair<std::string, std::string>> pair =
          ReadPairAsGrpcDoes((*files)->staged());
      if (!pair) continue;
      ++reads;
      if (*pair != first && *pair != second) ++mixed;
    }
  });
  constexpr int kRotations = 300;
  for (int rotation = 1; rotation <= kRotations; ++rotation) {
    const auto& next = rotation % 2 == 1 ? second : first;
    WriteFile(configured.cert, next.second);
    WriteFile(configured.key, next.first);
    ASSERT_TRUE((*files)->Refresh().ok()) << "rotation " << rotation;
  }
  rotating = false;
  grpc_reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(mixed.load(), 0) << "of " << reads.load() << " reads during " << kRotations
                             << " rotations";
  const std::pair<std::string, std::string> served = {ReadFile((*files)->staged().key),
                                                      ReadFile((*files)->staged().cert)};
  EXPECT_EQ(served, first);  // an even number of rotations
}

// Outside review: the configured files read across the operator's own symlink switch (the
// kubelet's, `mv -T`) gave one set's certificate with the other's key: refused and logged
// as a bad rotation, and served only a period later. Files that change while they are
// read are looked at again at the next period, without a word.
TEST(StagedTlsFilesTest, ASetReadWhileTheOperatorSwitchesItIsNotRefused) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  // Another server's pair (a client's is refused: no serverAuth).
  absl::StatusOr<pki::IssuedCertificate> other = IssueServerCertificate(
      **pki, (*pki)->dir() + "/other", absl::Now() - absl::Hours(1), absl::Hours(24));
  ASSERT_TRUE(other.ok()) << other.status();
  namespace fs = std::filesystem;
  const std::string dir = (*pki)->dir() + "/mounted";
  for (const auto& [version, cert, key] :
       {std::tuple{"v1", (*pki)->server_cert(), (*pki)->server_key()},
        std::tuple{"v2", other->cert_file, other->key_file}}) {
    fs::create_directories(dir + "/" + version);
    WriteFile(dir + "/" + version + "/ca.crt", ReadFile((*pki)->ca_file()));
    WriteFile(dir + "/" + version + "/tls.crt", ReadFile(cert));
    WriteFile(dir + "/" + version + "/tls.key", ReadFile(key));
  }
  fs::create_directory_symlink("v1", dir + "/current");
  const StagedTlsFiles::Paths configured = {dir + "/current/ca.crt", dir + "/current/tls.crt",
                                            dir + "/current/tls.key"};
  absl::StatusOr<std::unique_ptr<StagedTlsFiles>> files =
      StagedTlsFiles::Start(configured, absl::Hours(1));  // refreshed by hand here
  ASSERT_TRUE(files.ok()) << files.status();

  // The operator switches as soon as a look has ended, so the switch falls into the next
  // look's reading; one switch per look (faster than any operator, who switches once per
  // rotation, and never twice within one reading of three small files).
  std::atomic<bool> switching{true};
  std::atomic<int> looks{0};
  std::thread operator_([&] {
    for (int i = 0; switching.load(); ++i) {
      const int seen = looks.load();
      fs::create_directory_symlink(i % 2 == 0 ? "v2" : "v1", dir + "/next");
      fs::rename(dir + "/next", dir + "/current");
      testing::PollUntil([&] { return looks.load() > seen || !switching.load(); }, absl::Minutes(1),
                         absl::ZeroDuration());
    }
  });
  int refused = 0;
  for (int look = 0; look < 2000; ++look) {
    if ((*files)->Refresh().code() == absl::StatusCode::kInvalidArgument) ++refused;
    ++looks;
  }
  switching = false;
  operator_.join();
  EXPECT_EQ(refused, 0) << "of 2000 looks while the set was switched";
}

// Outside testing: a rotated certificate not valid yet (the issuer's clock a little ahead,
// notBefore 30 s away) was refused once and then never staged, although it became valid,
// until the files changed again. A refused set is judged again every period; said once.
TEST(StagedTlsFilesTest, ACertificateNotValidYetIsStagedOnceItIs) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const std::string dir = (*pki)->dir() + "/served";
  const StagedTlsFiles::Paths configured = ServedCopy(**pki);
  absl::StatusOr<std::unique_ptr<StagedTlsFiles>> files =
      StagedTlsFiles::Start(configured, absl::Hours(1));  // refreshed by hand here
  ASSERT_TRUE(files.ok()) << files.status();

  absl::StatusOr<pki::IssuedCertificate> issued = IssueServerCertificate(
      **pki, dir + "/early", absl::Now() + absl::Seconds(2), absl::Hours(24));
  ASSERT_TRUE(issued.ok()) << issued.status();
  WriteFile(configured.cert, ReadFile(issued->cert_file));
  WriteFile(configured.key, ReadFile(issued->key_file));
  absl::Status refused = (*files)->Refresh();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("not valid before"));
  EXPECT_EQ(ReadFile((*files)->staged().cert), ReadFile((*pki)->server_cert()));

  ASSERT_TRUE(testing::PollUntil([&] { return (*files)->Refresh().ok(); }, absl::Seconds(30),
                                 absl::Milliseconds(100)));
  EXPECT_EQ(ReadFile((*files)->staged().cert), ReadFile(issued->cert_file));
  EXPECT_EQ(ReadFile((*files)->staged().key), ReadFile(issued->key_file));
}

// Outside testing: files that stayed unreadable (`current` switched to a directory not
// there, a key removed) were passed over in silence, the refusal gauge at 0; and a set
// refused, replaced by the served one, then refused again was not said again.
TEST(StagedTlsFilesTest, FilesThatStayUnreadableAreRefusedAndARepeatedRefusalIsFlagged) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const StagedTlsFiles::Paths configured = ServedCopy(**pki);
  const std::string good_key = ReadFile(configured.key);
  absl::StatusOr<std::unique_ptr<StagedTlsFiles>> files =
      StagedTlsFiles::Start(configured, absl::Hours(1));  // refreshed by hand here
  ASSERT_TRUE(files.ok()) << files.status();

  std::filesystem::remove(configured.key);
  absl::Status first_look = (*files)->Refresh();
  EXPECT_EQ(first_look.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE((*files)->refused()) << "a rotation that removes before it writes";
  absl::Status second_look = (*files)->Refresh();
  EXPECT_THAT(std::string(second_look.message()),
              HasSubstr("tls-key: cannot read '" + configured.key + "'"));
  EXPECT_TRUE((*files)->refused());
  EXPECT_EQ(ReadFile((*files)->staged().key), good_key);

  WriteFile(configured.key, good_key);
  ASSERT_TRUE((*files)->Refresh().ok());
  EXPECT_FALSE((*files)->refused());

  // Another server's pair (a client's is refused: no serverAuth).
  absl::StatusOr<pki::IssuedCertificate> other = IssueServerCertificate(
      **pki, (*pki)->dir() + "/other", absl::Now() - absl::Hours(1), absl::Hours(24));
  ASSERT_TRUE(other.ok()) << other.status();
  for (int round = 0; round < 2; ++round) {
    WriteFile(configured.key, ReadFile(other->key_file));  // not the certificate's
    EXPECT_EQ((*files)->Refresh().code(), absl::StatusCode::kInvalidArgument) << round;
    EXPECT_TRUE((*files)->refused()) << round;
    WriteFile(configured.key, good_key);
    ASSERT_TRUE((*files)->Refresh().ok()) << round;
    EXPECT_FALSE((*files)->refused()) << round;
  }
}

}  // namespace
}  // namespace plantmesh::runtime
