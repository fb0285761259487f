#include "server/runtime/tls_files.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
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

// Writes `bytes` to `path` through a temporary file and a rename, so that a reader sees
// the old file or the new one, never part of it.
absl::Status WriteAtomically(const std::string& path, const std::string& bytes) {
  const std::string temporary = path + ".new";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << bytes;
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error)
    return absl::InternalError(absl::StrCat("cannot rename ", temporary, ": ", error.message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<StagedTlsFiles>> StagedTlsFiles::Start(Paths configured,
                                                                      absl::Duration reload) {
  std::unique_ptr<StagedTlsFiles> files(new StagedTlsFiles());
  files->configured_ = std::move(configured);
  files->reload_ = reload;
  std::string pattern = (std::filesystem::temp_directory_path() / "plantmesh-tls-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {  // 0700: the key is readable by us alone
    return absl::InternalError(absl::StrCat("cannot create a directory like ", pattern));
  }
  files->dir_ = pattern;
  files->staged_ = {files->dir_ + "/ca.pem", files->dir_ + "/cert.pem", files->dir_ + "/key.pem"};
  if (absl::Status staged = files->Refresh(); !staged.ok()) return staged;
  files->thread_ = std::thread([raw = files.get()] { raw->Run(); });
  return files;
}

StagedTlsFiles::~StagedTlsFiles() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::shared_ptr<grpc::ServerCredentials> StagedTlsFiles::Credentials() const {
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      staged_.key, staged_.cert, staged_.ca,
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(reload_))));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  // The default asks for no client certificate at all.
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  return grpc::experimental::TlsServerCredentials(options);
}

absl::Status StagedTlsFiles::Refresh() {
  const std::optional<std::string> ca = ReadWhole(configured_.ca);
  const std::optional<std::string> cert = ReadWhole(configured_.cert);
  const std::optional<std::string> key = ReadWhole(configured_.key);
  // Unreadable for a moment (a rotation that removes before it writes): the staged set
  // stays, and the next look tries again.
  if (!ca || !cert || !key) {
    return absl::UnavailableError("a TLS file cannot be read now; the served ones stay");
  }
  std::string contents = absl::StrCat(ca->size(), ":", *ca, cert->size(), ":", *cert, *key);
  if (contents == last_contents_) return absl::OkStatus();
  // Judged as the bytes just read, written beside the staged ones first.
  const Paths candidate = {staged_.ca + ".check", staged_.cert + ".check", staged_.key + ".check"};
  for (const auto& [path, bytes] : {std::pair{candidate.ca, *ca}, std::pair{candidate.cert, *cert},
                                    std::pair{candidate.key, *key}}) {
    if (absl::Status written = WriteAtomically(path, bytes); !written.ok()) return written;
  }
  absl::Status valid = CheckTlsFiles(candidate.ca, candidate.cert, candidate.key);
  if (!valid.ok()) {
    const std::string why =
        absl::StrReplaceAll(valid.message(), {{candidate.ca, configured_.ca},
                                              {candidate.cert, configured_.cert},
                                              {candidate.key, configured_.key}});
    last_contents_ = std::move(contents);  // said once, not every period
    const bool first = !std::filesystem::exists(staged_.cert);
    const std::string message =
        first ? why
              : absl::StrCat("TLS files refused: ", why,
                             "; the server goes on serving the last good ones");
    if (!first) spdlog::error("{}", message);
    return absl::InvalidArgumentError(message);
  }
  // The key last: gRPC re-reads a pair whose files changed while it read them.
  for (const auto& [path, bytes] :
       {std::pair{staged_.ca, *ca}, std::pair{staged_.cert, *cert}, std::pair{staged_.key, *key}}) {
    if (absl::Status written = WriteAtomically(path, bytes); !written.ok()) return written;
  }
  if (!last_contents_.empty()) {
    spdlog::info("TLS files of {}, {}, {} changed: staged for new connections", configured_.cert,
                 configured_.key, configured_.ca);
  }
  last_contents_ = std::move(contents);
  return absl::OkStatus();
}

void StagedTlsFiles::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mutex_);
      if (mutex_.AwaitWithTimeout(absl::Condition(&stopping_), reload_)) return;
    }
    (void)Refresh();
  }
}

}  // namespace plantmesh::runtime
