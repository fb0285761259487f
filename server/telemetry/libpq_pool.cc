#include "server/telemetry/libpq_pool.h"

#include <libpq-fe.h>

#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/runtime/errors.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/pg_stall_watchdog.h"

namespace plantmesh::telemetry {

struct LibpqPool::State {
  explicit State(LibpqPoolOptions o)
      : options(std::move(o)),
        watchdog(runtime::StallAfterFor(options.statement_timeout), "PostgreSQL ingest pool") {}
  LibpqPoolOptions options;
  runtime::PgStallWatchdog watchdog;
  std::mutex mu;
  std::condition_variable freed;
  std::vector<PGconn*> conns;  // nullptr: not open
  std::vector<bool> busy;
  std::vector<runtime::PgStallWatchdog::Ticket> watched;  // of a lent-out connection
};

LibpqPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), slot_(other.slot_), conn_(other.conn_) {
  other.pool_ = nullptr;
}

LibpqPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_);
}

std::unique_ptr<LibpqPool> LibpqPool::Create(LibpqPoolOptions options) {
  return std::unique_ptr<LibpqPool>(new LibpqPool(std::move(options)));
}

LibpqPool::LibpqPool(LibpqPoolOptions options)
    : state_(std::make_unique<State>(std::move(options))) {
  const size_t size = static_cast<size_t>(std::max(1, state_->options.size));
  state_->conns.assign(size, nullptr);
  state_->busy.assign(size, false);
  state_->watched.assign(size, 0);
}

LibpqPool::~LibpqPool() {
  for (PGconn* conn : state_->conns) {
    if (conn != nullptr) PQfinish(conn);
  }
}

absl::Status LibpqPool::Lease::Explain(absl::Status status) const {
  if (status.ok()) return status;
  runtime::PgStallWatchdog::Ticket ticket = 0;
  {
    std::lock_guard<std::mutex> lock(pool_->state_->mu);
    ticket = pool_->state_->watched[static_cast<size_t>(slot_)];
  }
  if (!pool_->state_->watchdog.WasCut(ticket)) return status;
  return runtime::CutForStalling(status, pool_->state_->watchdog.stall_after());
}

void LibpqPool::Release(int slot) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->watchdog.Forget(std::exchange(state_->watched[static_cast<size_t>(slot)], 0));
    PGconn*& conn = state_->conns[static_cast<size_t>(slot)];
    // A connection left inside a transaction or a pipeline (a failure mid-batch) or
    // broken is closed: the next Acquire opens a clean one.
    if (conn != nullptr &&
        (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE ||
         PQpipelineStatus(conn) != PQ_PIPELINE_OFF)) {
      PQfinish(conn);
      conn = nullptr;
    }
    state_->busy[static_cast<size_t>(slot)] = false;
  }
  state_->freed.notify_one();
}

absl::StatusOr<LibpqPool::Lease> LibpqPool::Acquire() {
  int slot = -1;
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    const auto deadline = std::chrono::steady_clock::now() +
                          absl::ToChronoMilliseconds(state_->options.acquire_timeout);
    while (true) {
      for (size_t i = 0; i < state_->busy.size(); ++i) {
        if (!state_->busy[i]) {
          slot = static_cast<int>(i);
          break;
        }
      }
      if (slot >= 0) break;
      if (state_->freed.wait_until(lock, deadline) == std::cv_status::timeout) {
        return runtime::WithRetryDelay(
            absl::ResourceExhaustedError(
                "all ingest connections are busy ([telemetry] ingest-connections); retry"),
            runtime::kRetryWhenBusy);
      }
    }
    state_->busy[static_cast<size_t>(slot)] = true;
  }
  // Opening happens outside the lock: the slot is ours.
  PGconn*& conn = state_->conns[static_cast<size_t>(slot)];
  // Closed by the server while idle (outside testing: after a restart of PostgreSQL the
  // first batch failed "terminating connection due to administrator command").
  if (conn != nullptr &&
      (PQstatus(conn) != CONNECTION_OK || runtime::IdleSocketLooksClosed(PQsocket(conn)))) {
    PQfinish(conn);
    conn = nullptr;
  }
  if (conn == nullptr) {
    PGconn* opened = PQconnectdb(runtime::WithConnectTimeout(state_->options.url).c_str());
    if (PQstatus(opened) != CONNECTION_OK) {
      const std::string why = PQerrorMessage(opened);
      PQfinish(opened);
      Release(slot);
      return runtime::DependencyUnavailable("PostgreSQL",
                                            absl::StrCat("PostgreSQL is unreachable: ", why));
    }
    const runtime::ScopedStallWatch setup(state_->watchdog, PQsocket(opened));
    std::string settings;
    for (const auto& [name, value] : runtime::SessionSettings(
             state_->options.statement_timeout, state_->options.lock_timeout, "ingest")) {
      absl::StrAppend(&settings, "SET ", name, " = '", absl::StrReplaceAll(value, {{"'", "''"}}),
                      "'; ");
    }
    absl::Status set = LibpqExec(opened, settings.c_str());
    for (const auto& [name, sql] : state_->options.prepare) {
      if (!set.ok()) break;
      PGresult* prepared = PQprepare(opened, name.c_str(), sql.c_str(), 0, nullptr);
      if (PQresultStatus(prepared) != PGRES_COMMAND_OK) {
        set = LibpqError(opened, prepared, absl::StrCat("prepare ", name));
      }
      PQclear(prepared);
    }
    if (!set.ok()) {
      PQfinish(opened);
      Release(slot);
      return set;
    }
    conn = opened;
  }
  // The slot is this caller's until Release, which reads `watched` under the lock.
  state_->watched[static_cast<size_t>(slot)] = state_->watchdog.Watch(PQsocket(conn));
  return Lease(this, slot, conn);
}

absl::Status LibpqError(PGconn* conn, const PGresult* result, absl::string_view what) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state != nullptr ? state : "";
  if (PQstatus(conn) != CONNECTION_OK || sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03") {
    return runtime::DependencyUnavailable(
        "PostgreSQL",
        absl::StrCat(what, ": ", absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn)),
                     " (SQLSTATE ", sqlstate, ")"),
        "the connection was lost; send the batch again");
  }
  // Every other error as the runtime maps it for every store (a full disk is
  // RESOURCE_EXHAUSTED here too, not INTERNAL).
  const char* primary =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  return runtime::MapSqlState(
      sqlstate, absl::StrCat(what, ": ", primary != nullptr ? primary : PQerrorMessage(conn)));
}

absl::Status LibpqExec(PGconn* conn, const char* sql) {
  PGresult* result = PQexec(conn, sql);
  const ExecStatusType status = PQresultStatus(result);
  absl::Status out = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
                         ? absl::OkStatus()
                         : LibpqError(conn, result, "statement");
  PQclear(result);
  return out;
}

}  // namespace plantmesh::telemetry
