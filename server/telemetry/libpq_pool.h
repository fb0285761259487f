// Plain libpq connections beside the runtime's libpqxx pool, for what libpqxx 6.4
// cannot do: binary COPY (its PGconn is private and its stream_to is text COPY, about
// 2.5x slower; STACK-NOTES). A small fixed pool; a connection found broken is reopened
// on the next Acquire. Speaks no SQL of its own beyond the session settings: the store
// (pg_store*.cc) holds the statements; libpq_exec.h runs them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace plantmesh::telemetry {

struct LibpqPoolOptions {
  std::string url;
  int size = 4;
  absl::Duration acquire_timeout = absl::Seconds(5);
  // SET statement_timeout / lock_timeout on every connection; zero: none.
  absl::Duration statement_timeout = absl::Seconds(10);
  absl::Duration lock_timeout = absl::Seconds(5);
  // Statements prepared on every new connection: (name, sql).
  std::vector<std::pair<std::string, std::string>> prepare;
};

class LibpqPool {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PGconn* conn() const { return conn_; }
    // `status` of a call on this connection, told as the stall watchdog's cut when it cut
    // the connection (runtime::CutForStalling); as it is otherwise.
    absl::Status Explain(absl::Status status) const;

   private:
    friend class LibpqPool;
    Lease(LibpqPool* pool, int slot, PGconn* conn) : pool_(pool), slot_(slot), conn_(conn) {}
    LibpqPool* pool_;
    int slot_;
    PGconn* conn_;
  };

  // Connects lazily: Open never fails for an unreachable server (Acquire does).
  static std::unique_ptr<LibpqPool> Create(LibpqPoolOptions options);
  ~LibpqPool();

  // A healthy connection, (re)opened if needed; UNAVAILABLE when the server cannot be
  // reached, RESOURCE_EXHAUSTED after acquire_timeout without a free one.
  absl::StatusOr<Lease> Acquire();

 private:
  explicit LibpqPool(LibpqPoolOptions options);
  void Release(int slot);
  struct State;
  std::unique_ptr<State> state_;
};

// The status of a failed command on `conn` (`result` may be null): UNAVAILABLE with the
// DEPENDENCY_UNAVAILABLE ErrorInfo (runtime::DependencyUnavailable) when the connection is
// lost (also during COMMIT: safe, batches carry their sequence); every other error as
// runtime::MapSqlState maps it for every store (ABORTED for serialization failures,
// deadlocks and lock timeouts, DEADLINE_EXCEEDED for a statement timeout,
// RESOURCE_EXHAUSTED for a full disk, INTERNAL otherwise with the SQLSTATE, never the values).
absl::Status LibpqError(PGconn* conn, const PGresult* result, absl::string_view what);

// Runs `sql` (no parameters, no rows expected). Non-OK as LibpqError.
absl::Status LibpqExec(PGconn* conn, const char* sql);

}  // namespace plantmesh::telemetry
