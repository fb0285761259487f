// The current role bindings of a running server, reloaded from the role-binding file
// (role_binding_file.h) when it changes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/runtime/role_binding_file.h"

namespace plantmesh::runtime {

// The current role bindings of a running server, reloaded from the file when it
// changes. A file that fails to load keeps the last good bindings (and logs why).
class RoleBindingStore {
 public:
  // Loads `path` (an invalid file is an error at start) and polls it every `poll`; a
  // binding outside `trust_domain` makes the file invalid.
  static absl::StatusOr<std::unique_ptr<RoleBindingStore>> Open(std::string path,
                                                                absl::Duration poll,
                                                                std::string trust_domain = {});
  // Bindings that never change (no file: --insecure without --role-bindings).
  static std::unique_ptr<RoleBindingStore> Fixed(RoleBindings bindings);
  ~RoleBindingStore();

  std::shared_ptr<const RoleBindings> Current() const;
  std::vector<std::string> RolesOf(std::string_view identity) const {
    return Current()->RolesOf(identity);
  }

  // Re-reads the file now; OK when unchanged or reloaded, the load error otherwise
  // (the previous bindings stay). The poller thread calls this.
  absl::Status ReloadIfChanged();
  // Successful loads so far (1 after Open); lets tests await a reload.
  int64_t generation() const { return generation_.load(); }
  // True while the file on disk is not in force (it does not parse, or cannot be read):
  // the previous bindings serve, so a revocation written there has not taken effect
  // (metric plantmesh_role_bindings_refused; outside testing: a trailing comma kept a
  // revoked identity's roles with one log line as the only sign).
  bool refused() const { return refused_.load(); }

 private:
  RoleBindingStore() = default;
  void PollLoop(absl::Duration poll);

  std::string path_;
  std::string trust_domain_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const RoleBindings> current_ ABSL_GUARDED_BY(mu_);
  std::string last_text_ ABSL_GUARDED_BY(mu_);  // last file content seen, good or bad
  std::atomic<int64_t> generation_{0};
  std::atomic<bool> refused_{false};
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread poller_;
};

}  // namespace plantmesh::runtime
