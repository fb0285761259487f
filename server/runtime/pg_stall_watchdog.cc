#include "server/runtime/pg_stall_watchdog.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/runtime/errors.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {

SocketActivity ActivityOf(int fd) {
  SocketActivity activity;
  tcp_info info{};
  socklen_t size = sizeof info;
  if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return activity;
  activity.tcp = true;
  activity.sent_ago_ms = info.tcpi_last_data_sent;
  activity.recv_ago_ms = info.tcpi_last_data_recv;
  return activity;
}

bool IsStalled(const SocketActivity& activity, absl::Duration stall_after) {
  // Nothing received since the last send. The kernel's clock ticks in milliseconds or
  // coarser, so a send and a receipt in one tick read as equal and their order is
  // unknown: counted as waiting, since a statement sent right after the last answer
  // (the next statement of a transaction) is the common case. A connection whose last
  // answer came in the tick of its request and that then sits lent out and idle for the
  // whole limit is cut too: no caller holds a connection idle that long.
  return activity.tcp && activity.recv_ago_ms >= activity.sent_ago_ms &&
         absl::Milliseconds(activity.sent_ago_ms) >= stall_after;
}

absl::Duration StallAfterFor(absl::Duration statement_timeout) {
  if (statement_timeout <= absl::ZeroDuration()) return absl::ZeroDuration();
  return statement_timeout + std::max(absl::Seconds(5), statement_timeout / 2);
}

PgStallWatchdog::PgStallWatchdog(absl::Duration stall_after, const char* what,
                                 absl::Duration interval)
    : stall_after_(stall_after), interval_(interval), what_(what) {
  if (stall_after_ > absl::ZeroDuration()) thread_ = std::thread([this] { Loop(); });
}

PgStallWatchdog::~PgStallWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

PgStallWatchdog::Ticket PgStallWatchdog::Watch(int fd) {
  if (fd < 0 || !thread_.joinable()) return 0;
  const int mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (mine < 0) return 0;
  absl::MutexLock lock(&mu_);
  watched_[++last_ticket_] = Watched{mine, absl::Now(), false};
  return last_ticket_;
}

void PgStallWatchdog::Forget(Ticket ticket) {
  if (ticket == 0) return;
  int mine = -1;
  {
    absl::MutexLock lock(&mu_);
    auto it = watched_.find(ticket);
    if (it == watched_.end()) return;
    mine = it->second.fd;
    watched_.erase(it);
  }
  close(mine);
}

absl::Status CutForStalling(const absl::Status& lost, absl::Duration stall_after) {
  ErrorInfoView info = ErrorInfoOf(lost);
  if (lost.code() != absl::StatusCode::kUnavailable || info.reason != "DEPENDENCY_UNAVAILABLE") {
    return lost;
  }
  return DependencyUnavailable(
      "PostgreSQL",
      absl::StrCat("PostgreSQL did not answer a request for ", absl::FormatDuration(stall_after),
                   " (stopped, frozen or unreachable): the stall watchdog cut the connection "
                   "(libpq then said: ",
                   lost.message(), ")"),
      info.metadata["advice"], "did not answer in time");
}

bool PgStallWatchdog::WasCut(Ticket ticket) const {
  absl::MutexLock lock(&mu_);
  auto watched = watched_.find(ticket);
  return watched != watched_.end() && watched->second.cut;
}

int64_t PgStallWatchdog::cuts() const {
  absl::MutexLock lock(&mu_);
  return cuts_;
}

int PgStallWatchdog::Unanswered(absl::Duration at_least) const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  int unanswered = 0;
  for (const auto& [ticket, watched] : watched_) {
    const SocketActivity activity = ActivityOf(watched.fd);
    // As the loop judges: this lease's request, unanswered that long.
    if (IsStalled(activity, at_least) &&
        absl::Milliseconds(activity.sent_ago_ms) <= now - watched.since + absl::Milliseconds(100)) {
      ++unanswered;
    }
  }
  return unanswered;
}

void PgStallWatchdog::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_);
    if (stop_) break;
    // The descriptors are the watchdog's own: none is closed while the lock is held.
    const absl::Time now = absl::Now();
    for (auto& [ticket, watched] : watched_) {
      if (watched.cut) continue;
      const SocketActivity activity = ActivityOf(watched.fd);
      if (!IsStalled(activity, stall_after_)) continue;
      // The kernel's clock ticks (up to 10 ms) blur the send's time: a margin.
      if (absl::Milliseconds(activity.sent_ago_ms) >
          now - watched.since + absl::Milliseconds(100)) {
        continue;  // sent before the connection was lent out: not this lease's request
      }
      shutdown(watched.fd, SHUT_RDWR);
      watched.cut = true;
      ++cuts_;
      spdlog::warn(
          "{}: PostgreSQL has not answered a request sent {} ms ago (nothing received for {} "
          "ms; statement_timeout would have answered by now): connection cut, its call ends "
          "UNAVAILABLE and the slot reconnects",
          what_, activity.sent_ago_ms, activity.recv_ago_ms);
    }
  }
}

}  // namespace plantmesh::runtime
