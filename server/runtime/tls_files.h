// The TLS files gRPC serves, kept apart from the ones the operator edits: the configured
// tls-ca, tls-cert and tls-key are copied into a private directory that gRPC's file
// watcher reads, and a new set is copied there only once it passes CheckTlsFiles. A
// rotation that goes wrong (a key that is not the certificate's, a file half written or
// not PEM) is logged naming the option and file, and the last good set stays served.
// Outside testing: a key replaced by one of another certificate took the service off the
// network (every handshake failed) with only gRPC's "Invalid private key" in the log.
// Each staged set is a version directory behind one symlink, `current`, switched by one
// rename, so gRPC never reads the key of one set with the certificate of another.
// Directories left by servers that ended without removing theirs (SIGKILL) are removed
// by the next start.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

class StagedTlsFiles {
 public:
  struct Paths {
    std::string ca;    // tls-ca
    std::string cert;  // tls-cert
    std::string key;   // tls-key
  };

  // Stages `configured` (which must pass CheckTlsFiles) and looks at them again every
  // `reload`; gRPC reads the staged copies every second, so a rotation is served within
  // a period and a second.
  static absl::StatusOr<std::unique_ptr<StagedTlsFiles>> Start(Paths configured,
                                                               absl::Duration reload);
  ~StagedTlsFiles();  // stops looking; removes the private directory
  StagedTlsFiles(const StagedTlsFiles&) = delete;
  StagedTlsFiles& operator=(const StagedTlsFiles&) = delete;

  // Mutual TLS from the staged files: clients must present a certificate that chains to
  // the CA.
  std::shared_ptr<grpc::ServerCredentials> Credentials() const;

  // Looks at the configured files now: OK when they are staged or unchanged, otherwise
  // why they were refused (also logged). The background check calls it.
  absl::Status Refresh();

  // The files gRPC serves (in the private directory; always the last good set).
  const Paths& staged() const { return staged_; }
  // True while the configured files are refused (the last Refresh found them bad).
  bool refused() const { return refused_.load(); }

 private:
  StagedTlsFiles() = default;
  void Run();
  // Creates and flocks <dir_>/owner.lock (again, when a cleaner removed the directory).
  absl::Status LockOwner();

  Paths configured_;
  Paths staged_;
  std::string dir_;
  int owner_lock_ = -1;  // <dir_>/owner.lock, flock'ed while this server runs
  absl::Duration reload_;
  std::string staged_contents_;   // ca, cert and key as served, joined
  std::string refused_contents_;  // the same of the set last refused (and logged)
  int versions_ = 0;              // <dir_>/v<versions_> was staged or refused last
  std::string served_;            // the version directory `current` points to
  std::string replaced_;          // the one served before it
  time_t last_served_ = 0;        // modification time of the served version's files
  std::atomic<bool> refused_{false};
  bool unreadable_before_ = false;  // the last look could not read a file
  std::string unstaged_;            // why the last look could not stage a set ("" when it could)
  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace plantmesh::runtime
