#include "server/runtime/open_files.h"

#include <sys/resource.h>

#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

// Below this a few hundred clients with their streams, the pools and a burst of
// half-open connections (each held up to handshake-timeout-seconds) can use them up.
constexpr rlim_t kLowLimit = 4096;

}  // namespace

void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t before = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = before;
  }
  if (limit.rlim_cur < kLowLimit) {
    spdlog::warn(
        "open-file limit {} (hard {}): low for a server, clients beyond it are refused and "
        "the server stops to be restarted; raise it (LimitNOFILE in the unit, ulimit -Hn)",
        limit.rlim_cur, limit.rlim_max);
  } else if (limit.rlim_cur != before) {
    spdlog::info("open-file limit raised from {} to {}", before, limit.rlim_cur);
  }
}

int64_t OpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  return limit.rlim_cur == RLIM_INFINITY ? INT64_MAX : static_cast<int64_t>(limit.rlim_cur);
}

}  // namespace plantmesh::runtime
