#include "server/runtime/tls_files.h"

#include <fcntl.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/runtime/client_certificate_check.h"
#include "server/runtime/tls.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

// The whole file, or nullopt when it cannot be read.
std::optional<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return bytes.str();
}

// `bytes` as the file `path`, readable by this user alone whatever the umask (outside
// testing: the staged key was 0644 inside its 0700 directory, so a copy of the directory
// kept elsewhere exposed it).
absl::Status WriteWhole(const std::string& path, const std::string& bytes) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", path));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  const bool complete = written == bytes.size() && fchmod(fd, 0600) == 0;
  if (close(fd) != 0 || !complete) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

absl::Status SetModificationTime(const std::string& path, time_t seconds) {
  const struct timespec times[2] = {{0, UTIME_OMIT}, {seconds, 0}};
  if (utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
    return absl::InternalError(absl::StrCat("cannot set the modification time of ", path));
  }
  return absl::OkStatus();
}

StagedTlsFiles::Paths FilesIn(const std::string& dir) {
  return {dir + "/ca.pem", dir + "/cert.pem", dir + "/key.pem"};
}

constexpr char kStagingPrefix[] = "plantmesh-tls-";
constexpr char kOwnerLock[] = "/owner.lock";

// A staging directory holds a copy of the private key, and a server that ends without its
// destructor (SIGKILL, a crash) leaves it behind: the next server started with the same
// TMPDIR removes such directories (outside testing found 1,400 of them in /tmp). A
// running server holds an flock on its directory's owner.lock, which the kernel drops
// when the process ends however it ends; a directory whose lock can be taken is
// abandoned. One without a lock file (an older server's, or mid-creation) stays.
void RemoveAbandonedStagingDirectories(const std::filesystem::path& temp) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(temp, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kStagingPrefix, 0) != 0) continue;
    struct stat about {};
    // Ours alone, and a directory itself, not a link to one (a shared /tmp).
    if (lstat(entry.path().c_str(), &about) != 0 || !S_ISDIR(about.st_mode) ||
        about.st_uid != geteuid()) {
      continue;
    }
    const std::string lock = entry.path().string() + kOwnerLock;
    const int fd = open(lock.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      std::error_code ignored;
      std::filesystem::remove_all(entry.path(), ignored);
      spdlog::info(
          "removed {}: the TLS staging directory of a server that ended without "
          "removing it",
          entry.path().string());
    }
    close(fd);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<StagedTlsFiles>> StagedTlsFiles::Start(Paths configured,
                                                                      absl::Duration reload) {
  std::unique_ptr<StagedTlsFiles> files(new StagedTlsFiles());
  files->configured_ = std::move(configured);
  files->reload_ = reload;
  // Outside testing: a TMPDIR that did not exist threw out of here, one that was read-only
  // or full crashed the server, both without a word.
  std::error_code no_temp;
  // An empty TMPDIR means none, as for glibc and the shells.
  const char* tmpdir = std::getenv("TMPDIR");
  const std::filesystem::path temp = tmpdir != nullptr && *tmpdir == '\0'
                                         ? std::filesystem::path("/tmp")
                                         : std::filesystem::temp_directory_path(no_temp);
  if (no_temp) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no directory to stage the TLS files in: TMPDIR (or /tmp): ", no_temp.message(),
        "; set TMPDIR to a writable directory"));
  }
  RemoveAbandonedStagingDirectories(temp);
  std::string pattern = (temp / absl::StrCat(kStagingPrefix, "XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) {  // 0700: the key is readable by us alone
    return absl::FailedPreconditionError(absl::StrCat("cannot create the TLS staging directory ",
                                                      pattern, ": ", std::strerror(errno),
                                                      "; set TMPDIR to a writable directory"));
  }
  files->dir_ = pattern;
  if (absl::Status locked = files->LockOwner(); !locked.ok()) return locked;
  files->staged_ = FilesIn(files->dir_ + "/current");
  absl::Status staged = files->Refresh();
  // Files switched while they were read are read again, as the background check would.
  for (int again = 0; again < 3 && absl::IsUnavailable(staged); ++again) {
    staged = files->Refresh();
  }
  if (!staged.ok()) return staged;
  files->thread_ = std::thread([raw = files.get()] { raw->Run(); });
  return files;
}

absl::Status StagedTlsFiles::LockOwner() {
  if (owner_lock_ >= 0) close(owner_lock_);
  // Locked under another name, then renamed (the lock goes with the file): another
  // server's sweep never finds an owner.lock that is not locked yet.
  const std::string lock = dir_ + kOwnerLock;
  const std::string unlocked = lock + ".new";
  owner_lock_ = open(unlocked.c_str(), O_CREAT | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (owner_lock_ < 0 || flock(owner_lock_, LOCK_EX | LOCK_NB) != 0 ||
      std::rename(unlocked.c_str(), lock.c_str()) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot lock ", lock, ": ", std::strerror(errno), "; set TMPDIR to a writable directory"));
  }
  return absl::OkStatus();
}

StagedTlsFiles::~StagedTlsFiles() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  if (owner_lock_ >= 0) close(owner_lock_);  // after the removal: not abandoned before it
}

std::shared_ptr<grpc::ServerCredentials> StagedTlsFiles::Credentials() const {
  // gRPC reads the staged copies every second (three small local files): a set staged
  // is served within a second, whatever tls-reload-seconds says.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      staged_.key, staged_.cert, staged_.ca, 1);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  // The default asks for no client certificate at all. The certificate is required, and
  // checked by our verifier alone (client_certificate_check.h: OpenSSL's chain check with a
  // reason in the log, and no CA certificate as a client).
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.set_certificate_verifier(NewClientCertificateVerifier(staged_.ca));
  return grpc::experimental::TlsServerCredentials(options);
}

absl::Status StagedTlsFiles::Refresh() {
  std::optional<std::string> ca, cert, key;
  std::string contents;
  // Read twice: a set switched while it was read (the kubelet's symlink, `mv -T`) can give
  // one version's certificate with another's key, and two reads then differ.
  for (int read = 0; read < 2; ++read) {
    ca = ReadWhole(configured_.ca);
    cert = ReadWhole(configured_.cert);
    key = ReadWhole(configured_.key);
    // Unreadable for a moment (a rotation that removes before it writes): the staged set
    // stays, and the next look tries again. Still unreadable then: refused, said once.
    if (!ca || !cert || !key) {
      const std::string which = !ca     ? "tls-ca: cannot read '" + configured_.ca + "'"
                                : !cert ? "tls-cert: cannot read '" + configured_.cert + "'"
                                        : "tls-key: cannot read '" + configured_.key + "'";
      if (unreadable_before_ && !served_.empty()) {
        if (!refused_.exchange(true) || refused_contents_ != which) {
          spdlog::error("TLS files refused: {}; the server goes on serving the last good ones",
                        which);
        }
        refused_contents_ = which;
      }
      unreadable_before_ = true;
      return absl::UnavailableError(absl::StrCat(which, "; the served ones stay"));
    }
    std::string joined = absl::StrCat(ca->size(), ":", *ca, cert->size(), ":", *cert, *key);
    if (read == 1 && joined != contents) {
      return absl::UnavailableError("the TLS files changed while they were read; looked at again");
    }
    contents = std::move(joined);
  }
  unreadable_before_ = false;
  // A /tmp cleaner removed the staging directory: the set is staged again (gRPC would
  // otherwise go on with what it read last, and nothing later would be served).
  std::error_code gone;
  if (!served_.empty() &&
      !(std::filesystem::exists(staged_.key, gone) && std::filesystem::exists(staged_.cert, gone) &&
        std::filesystem::exists(staged_.ca, gone))) {
    spdlog::warn("the TLS staging directory {} was removed (a /tmp cleaner?): staging again", dir_);
    staged_contents_.clear();
  }
  if (contents == staged_contents_) {
    // A refused set replaced by the served one again: a later refusal is said again.
    refused_ = false;
    refused_contents_.clear();
    return absl::OkStatus();
  }

  // Judged as the bytes just read, in a new version directory that gRPC does not see yet.
  const std::string version = absl::StrCat(dir_, "/v", ++versions_);
  std::error_code error;
  std::filesystem::remove_all(version, error);             // left by a failed attempt
  if (std::filesystem::create_directories(dir_, error)) {  // removed: made again, ours alone
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, error);
    if (absl::Status locked = LockOwner(); !locked.ok())
      return absl::InternalError(locked.message());
  }
  std::filesystem::create_directory(version, error);
  if (!error) std::filesystem::permissions(version, std::filesystem::perms::owner_all, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create ", version, ": ", error.message()));
  }
  const Paths candidate = FilesIn(version);
  for (const auto& [path, bytes] : {std::pair{candidate.ca, *ca}, std::pair{candidate.cert, *cert},
                                    std::pair{candidate.key, *key}}) {
    if (absl::Status written = WriteWhole(path, bytes); !written.ok()) return written;
  }
  absl::Status valid = CheckTlsFiles(candidate.ca, candidate.cert, candidate.key);
  if (!valid.ok()) {
    std::filesystem::remove_all(version, error);
    const std::string why =
        absl::StrReplaceAll(valid.message(), {{candidate.ca, configured_.ca},
                                              {candidate.cert, configured_.cert},
                                              {candidate.key, configured_.key}});
    // Judged again every period (a certificate not valid yet becomes valid), said once.
    refused_ = true;
    const bool said = contents == refused_contents_;
    refused_contents_ = std::move(contents);
    const bool first = served_.empty();
    const std::string message =
        first ? why
              : absl::StrCat("TLS files refused: ", why,
                             "; the server goes on serving the last good ones");
    if (!first && !said) spdlog::error("{}", message);
    return absl::InvalidArgumentError(message);
  }

  // gRPC reads the key, then the certificate, through `current`, and keeps what it read
  // only if neither file's modification time (whole seconds) changed meanwhile. One
  // rename of the symlink switches both files at once, and a version whose second
  // differs from the last one's makes a read that spans the switch be read again.
  const time_t modified = std::max<time_t>(absl::ToTimeT(absl::Now()), last_served_ + 1);
  for (const std::string& path : {candidate.ca, candidate.cert, candidate.key}) {
    if (absl::Status set = SetModificationTime(path, modified); !set.ok()) return set;
  }
  const std::string next = dir_ + "/next";
  std::filesystem::remove(next, error);
  std::filesystem::create_directory_symlink(std::filesystem::path(version).filename(), next, error);
  if (!error) std::filesystem::rename(next, dir_ + "/current", error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot switch ", dir_, "/current: ", error.message()));
  }
  // The version served before the one just replaced: a read that began in the replaced
  // one may still be under way, and gRPC reads again if its files vanish.
  if (!replaced_.empty()) std::filesystem::remove_all(replaced_, error);
  if (!served_.empty()) {
    spdlog::info("TLS files of {}, {}, {} changed: staged for new connections", configured_.cert,
                 configured_.key, configured_.ca);
  }
  replaced_ = std::move(served_);
  served_ = version;
  last_served_ = modified;
  staged_contents_ = std::move(contents);
  refused_contents_.clear();
  refused_ = false;
  return absl::OkStatus();
}

void StagedTlsFiles::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mutex_);
      if (mutex_.AwaitWithTimeout(absl::Condition(&stopping_), reload_)) return;
    }
    // Refusals and unreadable files are said by Refresh. A set that could not be staged
    // (the staging directory's disk) is said here, once, counted as refused, and tried
    // again next period (outside testing: such failures were dropped without a word).
    const absl::Status refreshed = Refresh();
    if (absl::IsInternal(refreshed)) {
      if (refreshed.message() != unstaged_) {
        spdlog::error("TLS files not staged: {}; tried again every {}s",
                      std::string(refreshed.message()), absl::ToInt64Seconds(reload_));
      }
      unstaged_ = std::string(refreshed.message());
      refused_ = true;
    } else {
      unstaged_.clear();
    }
  }
}

}  // namespace plantmesh::runtime
