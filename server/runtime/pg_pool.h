// A fixed-size pool of PostgreSQL connections (libpqxx 6.4). Stores borrow a
// connection per transaction; libpqxx exceptions never leave this layer or a store:
// they become absl::Status (see MapPgException).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// libpqxx 6.4 defines pqxx::connection as an alias of a class template, so a plain
// `class connection;` would conflict with <pqxx/connection>; declare it the same way.
namespace pqxx {
class connect_direct;
template <typename ConnectPolicy>
class basic_connection_base;
using connection = basic_connection_base<connect_direct>;
}  // namespace pqxx

namespace plantmesh::runtime {

// What a store's named constraints mean. A violation of a constraint declared here
// becomes the declared status (e.g. the busy-repair-place unique index →
// FAILED_PRECONDITION with ErrorInfo REPAIR_PLACE_BUSY) instead of MapPgException's
// generic mapping by SQLSTATE. Constraint names are PostgreSQL's: the index name of a
// unique index, "<table>_pkey" for a primary key, "<table>_<column>_fkey" and so on.
class PgConstraintErrors {
 public:
  // Declares the status for a violation of `constraint`; returns *this to chain.
  PgConstraintErrors& On(std::string constraint, absl::Status status);
  // The declared status, or nullptr.
  const absl::Status* Find(std::string_view constraint) const;
  // The declared constraint names (for a test that they exist in the schema).
  std::vector<std::string> names() const;

 private:
  std::vector<std::pair<std::string, absl::Status>> entries_;
};

struct PgPoolOptions {
  // libpq connection string or URI, e.g. "postgresql://plantmesh@127.0.0.1:5432/plantmesh".
  std::string url;
  // Connections kept open.
  int size = 8;
  // How long Acquire waits for a free connection before RESOURCE_EXHAUSTED.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // Server-side limits set on every new connection (SET statement_timeout /
  // lock_timeout) so that a stuck statement or lock cannot block a handler (and with
  // it the server's drain) forever. Zero turns a limit off. A server that does not
  // answer at all is found by the pool's PgStallWatchdog over TCP (not over a Unix-domain
  // socket): a request unanswered for StallAfterFor(statement_timeout) has its connection
  // cut (UNAVAILABLE); connections are opened with WithConnectTimeout.
  absl::Duration statement_timeout = absl::Seconds(10);
  absl::Duration lock_timeout = absl::Seconds(5);
  // Run on every new connection (after reconnects too, after the timeouts), e.g. to register the
  // store's named statements with connection::prepare.
  std::vector<std::function<void(pqxx::connection&)>> on_connect;
};

class PgPool {
 public:
  // Borrowed connection; goes back to the pool when destroyed. A connection found
  // broken is reopened on the next Acquire.
  class Lease {
   public:
    Lease(Lease&&) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& conn() { return *conn_; }
    // Whether the stall watchdog cut this connection (PgStallWatchdog::WasCut).
    bool cut_for_stalling() const;

   private:
    friend class PgPool;
    Lease(PgPool* pool, int slot, pqxx::connection* conn) : pool_(pool), slot_(slot), conn_(conn) {}
    PgPool* pool_;
    int slot_;  // index of the pool slot; the slot's connection is only touched under the pool lock
    pqxx::connection* conn_;
  };

  // Opens `options.size` connections; UNAVAILABLE if the server cannot be reached.
  static absl::StatusOr<std::unique_ptr<PgPool>> Open(PgPoolOptions options);
  ~PgPool();

  // Waits up to acquire_timeout for a free connection: RESOURCE_EXHAUSTED when none is
  // free by then (every one busy), UNAVAILABLE when the server is unreachable.
  absl::StatusOr<Lease> Acquire();

  // Borrows a connection and runs `body` with it, converting any libpqxx exception
  // thrown inside to a status with MapPgException. `body` must open and commit its
  // own transaction (pqxx::work). A serialization failure or deadlock is retried up
  // to 3 times.
  absl::Status Run(const std::function<absl::Status(pqxx::connection&)>& body);
  // The same, mapping violations of the constraints in `constraints` to their statuses.
  absl::Status Run(const std::function<absl::Status(pqxx::connection&)>& body,
                   const PgConstraintErrors& constraints);

  // Connections currently borrowed (for metrics and tests).
  int in_use() const;
  // Callers of Acquire waiting for a connection now (for metrics).
  int waiting() const;
  // Connections kept (PgPoolOptions::size).
  int size() const;

 private:
  explicit PgPool(PgPoolOptions options);
  struct State;
  std::unique_ptr<State> state_;
  friend class Lease;
  void Release(int slot);
};

// unique_violation → ALREADY_EXISTS; serialization_failure/deadlock → ABORTED;
// broken_connection / in_doubt_error / statement_completion_unknown and SQLSTATE classes
// 08 and 57P → DependencyUnavailable("PostgreSQL") (UNAVAILABLE, ErrorInfo
// DEPENDENCY_UNAVAILABLE; safe to retry: writes carry request ids);
// check/foreign-key violation → FAILED_PRECONDITION; statement timeout (57014) →
// DEADLINE_EXCEEDED; lock timeout (55P03) → ABORTED; other sql_error → INTERNAL
// (message keeps the SQLSTATE, never the statement's parameters). An integrity
// violation (class 23) of a constraint declared in `constraints` becomes the status
// declared for it.
absl::Status MapPgException(const std::exception& e,
                            const PgConstraintErrors* constraints = nullptr);

// The status of a PostgreSQL error by its SQLSTATE alone, as MapPgException gives it (its
// classes above, and class 53, out of disk, memory or connections, RESOURCE_EXHAUSTED):
// the one mapping of every store, libpq's paths included (outside testing: a full disk was
// RESOURCE_EXHAUSTED for a photo and INTERNAL for an ingest). `message`: PostgreSQL's
// text, for the server's log only.
// The session settings every connection of the server's (the pool's and the ingest's)
// starts with, as (name, value) pairs: statement_timeout and lock_timeout; a transaction
// left idle longer than a statement may run is ended by PostgreSQL
// (idle_in_transaction_session_timeout; none when statement_timeout is 0), and its TCP
// keepalives find a client that vanished within about 25 s (tcp_keepalives_*). Outside
// testing: a frozen replica kept its writer's row locked, and the writer's failover replica
// answered ABORTED for as long as the freeze lasted (up to 2 h behind a cut network).
// application_name "plantmesh-server <pool> <host> pid <pid>": pg_stat_activity names
// the process that holds a lock.
std::vector<std::pair<std::string, std::string>> SessionSettings(absl::Duration statement_timeout,
                                                                 absl::Duration lock_timeout,
                                                                 absl::string_view pool);

absl::Status MapSqlState(absl::string_view state, absl::string_view message);

// An idle connection's socket should have nothing to read. Readable data or EOF means the
// server closed it (restart, pg_terminate_backend, idle timeout: PostgreSQL sends its
// FATAL message first): true, and the pool reopens it before use rather than fail the
// caller's first statement. A negative fd counts as closed.
bool IdleSocketLooksClosed(int fd);

// `url` (a libpq URI or key=value string) with connect_timeout set to
// kDefaultConnectTimeoutSeconds unless it sets one: without it libpq waits for ever on a
// server that accepts the TCP connection and then says nothing (a stopped PostgreSQL).
// PGCONNECT_TIMEOUT and a service file's connect_timeout are not consulted: set it in the
// URL.
inline constexpr int kDefaultConnectTimeoutSeconds = 5;
std::string WithConnectTimeout(const std::string& url);

// The constraint a libpq error message names (its CONSTRAINT NAME field, which libpq
// adds at the verbose error verbosity every pooled connection uses), or "".
std::string ConstraintNameOf(std::string_view error_message);

}  // namespace plantmesh::runtime
