// Cuts a PostgreSQL connection whose server has stopped answering, so that the call
// waiting on it ends (UNAVAILABLE, DEPENDENCY_UNAVAILABLE) instead of holding its thread
// and its pool slot until PostgreSQL moves again.
//
// Why: statement_timeout is enforced by the server. A server that is stopped (SIGSTOP, a
// frozen VM) or behind a link that drops packets never sends the timeout error, and
// libpq waits on its socket for ever (outside testing: every pool connection stuck, the
// executor's threads with them, for as long as PostgreSQL was stopped). TCP keepalives
// and tcp_user_timeout do not see a stopped process on a live host: its kernel still
// acknowledges.
//
// The rule: a lent-out connection is stalled when nothing has been received since the
// client last sent (a statement, a COMMIT, a pipeline waits for its answer), and that
// send is `stall_after` old. A server that answers replies within statement_timeout,
// with rows or with the timeout's error, so `stall_after` is set above it
// (StallAfterFor). The times are the kernel's (TCP_INFO: tcpi_last_data_sent,
// tcpi_last_data_recv), so no statement has to be wrapped; a Unix-domain socket has no
// TCP_INFO and is not watched. Only a send made while the connection is lent out counts
// (a connection that rested in the pool is not cut before its first statement). The
// pools lend a connection for one transaction, which never waits that long on anything
// but PostgreSQL (IsStalled says what an idle one risks).
//
// Limits of the rule: a pipeline's answers come at its Sync, so one whose statements
// together run longer than `stall_after` would be cut (ours run a few short statements);
// COMMIT runs without statement_timeout, so one that waits that long on a disk or a
// synchronous standby is cut and reported with its outcome unknown (retry with the same
// request_id). A link that drops packets is found later than `stall_after`: the kernel's
// retransmissions count as sends, so the cut comes once a retransmission gap exceeds it
// (about 40 s for 15 s).
//
// A stalled connection is shut down (shutdown(2), both directions): libpq's wait ends
// with "server closed the connection unexpectedly", the pool maps that to UNAVAILABLE
// and reopens the slot on its next use. Each cut is logged (warn) and counted.
#pragma once

#include <cstdint>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

// What the watchdog knows of one socket from the kernel.
struct SocketActivity {
  bool tcp = false;         // TCP_INFO answered (false: a Unix socket, or closed)
  int64_t sent_ago_ms = 0;  // since data was last sent
  int64_t recv_ago_ms = 0;  // since data was last received
};
SocketActivity ActivityOf(int fd);

// True when `activity` shows a request sent and unanswered for `stall_after` or longer.
bool IsStalled(const SocketActivity& activity, absl::Duration stall_after);

// stall_after for a pool whose connections run with `statement_timeout`: the timeout
// plus a grace for the server's answer to travel; zero (no watchdog) when the timeout is
// zero (no limit: migrations run so, and a long statement is then expected).
absl::Duration StallAfterFor(absl::Duration statement_timeout);

// `lost` (a lost connection's status, MapPgException's DEPENDENCY_UNAVAILABLE) of a call
// whose connection the watchdog cut: the cause in its detail, which the log shows with the
// call's error id (outside testing: the id's line said "Could not obtain client encoding:
// not connected.", libpq's words for the dead socket, and the cut was on another line),
// and told to the client as PostgreSQL not answering in time. Other statuses unchanged.
absl::Status CutForStalling(const absl::Status& lost, absl::Duration stall_after);

class PgStallWatchdog {
 public:
  // Checks every `interval`; `what` names the pool in the log ("PostgreSQL pool").
  // A zero `stall_after` watches nothing and starts no thread.
  PgStallWatchdog(absl::Duration stall_after, const char* what,
                  absl::Duration interval = absl::Seconds(1));
  ~PgStallWatchdog();  // stops and joins the thread
  PgStallWatchdog(const PgStallWatchdog&) = delete;
  PgStallWatchdog& operator=(const PgStallWatchdog&) = delete;

  // Watches the socket `fd` (a connection's, lent out now) until Forget(ticket). The
  // watchdog keeps a duplicate of the descriptor, so a socket libpq closes meanwhile
  // (after an error) is never confused with another that reuses its number. 0 (nothing
  // watched) for a negative fd or a watchdog with no limit.
  using Ticket = int64_t;
  Ticket Watch(int fd);
  void Forget(Ticket ticket);

  // Connections cut since start.
  int64_t cuts() const;
  // Whether the connection of `ticket` (watched now) was cut: its call's error is then the
  // watchdog's doing, not what libpq says of the dead socket.
  bool WasCut(Ticket ticket) const;
  absl::Duration stall_after() const { return stall_after_; }

  // Watched connections whose request has gone unanswered for `at_least` (IsStalled),
  // cut or not: the pool tells a PostgreSQL that stopped answering from a pool too small.
  int Unanswered(absl::Duration at_least) const;

 private:
  void Loop();

  const absl::Duration stall_after_;
  const absl::Duration interval_;
  const char* const what_;
  mutable absl::Mutex mu_;
  struct Watched {
    int fd;            // the watchdog's own duplicate
    absl::Time since;  // lent out then: a send before it was another lease's
    bool cut;          // shut down already
  };
  std::map<Ticket, Watched> watched_ ABSL_GUARDED_BY(mu_);
  Ticket last_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t cuts_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// Watches a socket for a scope: a new connection's setup statements (SET, PREPARE), run
// before the pool lends it out.
class ScopedStallWatch {
 public:
  ScopedStallWatch(PgStallWatchdog& watchdog, int fd)
      : watchdog_(watchdog), ticket_(watchdog.Watch(fd)) {}
  ~ScopedStallWatch() { watchdog_.Forget(ticket_); }
  ScopedStallWatch(const ScopedStallWatch&) = delete;
  ScopedStallWatch& operator=(const ScopedStallWatch&) = delete;

 private:
  PgStallWatchdog& watchdog_;
  const PgStallWatchdog::Ticket ticket_;
};

}  // namespace plantmesh::runtime
