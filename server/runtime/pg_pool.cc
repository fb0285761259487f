#include "server/runtime/pg_pool.h"

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/runtime/errors.h"
#include "server/runtime/pg_stall_watchdog.h"
#include "server/runtime/pg_url.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

constexpr int kAbortedRetries = 3;

// Where a connection string points. Several hosts are reported as written.
struct ServerAddress {
  std::string host = "localhost";
  std::string port = "5432";
};

ServerAddress ParseServerAddress(const std::string& url) {
  ServerAddress address;
  const std::map<std::string, std::string> settings = ConnectionSettings(url);
  for (const char* key : {"hostaddr", "host"}) {
    if (auto it = settings.find(key); it != settings.end()) address.host = it->second;
  }
  if (auto it = settings.find("port"); it != settings.end()) address.port = it->second;
  return address;
}

bool IsSqlState(absl::string_view text) {
  return text.size() == 5 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
         });
}

// "ERROR:  42501: permission denied …" (a verbose error) → "42501"; "" otherwise.
std::string SqlStateInMessage(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  absl::ConsumePrefix(&text, "ERROR:");
  absl::ConsumePrefix(&text, "FATAL:");
  text = absl::StripLeadingAsciiWhitespace(text);
  const absl::string_view code = text.substr(0, text.find(": "));
  return IsSqlState(code) ? std::string(code) : std::string();
}

// PostgreSQL's primary message: the first line without the severity and, at verbose
// verbosity, without the SQLSTATE that libpq puts before it ("ERROR:  23505: ...").
std::string PrimaryMessage(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  absl::string_view line = text.substr(0, text.find('\n'));
  absl::ConsumePrefix(&line, "ERROR:");
  absl::ConsumePrefix(&line, "FATAL:");
  line = absl::StripAsciiWhitespace(line);
  if (size_t colon = line.find(": ");
      colon != absl::string_view::npos && IsSqlState(line.substr(0, colon))) {
    line = line.substr(colon + 2);
  }
  return std::string(absl::StripAsciiWhitespace(line));
}

// Opens one connection and runs the on_connect callbacks on it.
// `watchdog` watches its setup statements (connect_timeout bounds the connecting).
absl::StatusOr<std::unique_ptr<pqxx::connection>> OpenConnection(const PgPoolOptions& options,
                                                                 PgStallWatchdog& watchdog) {
  try {
    auto conn = std::make_unique<pqxx::connection>(WithConnectTimeout(options.url));
    const ScopedStallWatch setup(watchdog, conn->sock());
    // set_variable (not a raw SET) so that libpqxx restores them if it reactivates.
    for (const auto& [name, value] :
         SessionSettings(options.statement_timeout, options.lock_timeout, "pool")) {
      conn->set_variable(name, conn->quote(value));
    }
    // Verbose errors carry the violated constraint's name (libpqxx 6.4's exceptions do
    // not expose the result's fields), so violations can be mapped by constraint.
    conn->set_verbosity(pqxx::connection_base::verbose);
    for (const auto& callback : options.on_connect) callback(*conn);
    return conn;
  } catch (const pqxx::broken_connection& e) {
    ServerAddress address = ParseServerAddress(options.url);
    std::string reason = PrimaryMessage(e.what());
    reason = WithoutPassword(options.url, reason);
    return DependencyUnavailable("PostgreSQL",
                                 absl::StrCat("cannot connect to PostgreSQL at ", address.host, ":",
                                              address.port, ": ", reason));
  } catch (const std::exception& e) {
    return MapPgException(e);
  }
}

bool LooksClosed(pqxx::connection& conn) {
  return !conn.is_open() || IdleSocketLooksClosed(conn.sock());
}

void SleepBeforeRetry(int attempt) {
  thread_local std::mt19937 rng{std::random_device{}()};
  int base_ms = 5 << attempt;  // 5, 10, 20 ms
  std::uniform_int_distribution<int> jitter(0, base_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(base_ms + jitter(rng)));
}

bool IsRetriable(const std::exception& e) {
  return dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
         dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr;
}

}  // namespace

struct PgPool::State {
  explicit State(PgPoolOptions o)
      : options(std::move(o)),
        watchdog(StallAfterFor(options.statement_timeout), "PostgreSQL pool") {}

  struct Slot {
    std::unique_ptr<pqxx::connection> conn;  // null: reopen on next Acquire
    bool in_use = false;
    PgStallWatchdog::Ticket watched = 0;  // while lent out
  };

  PgPoolOptions options;
  PgStallWatchdog watchdog;
  mutable std::mutex mu;
  std::condition_variable released;
  std::vector<Slot> slots;
  int in_use = 0;
  int waiting = 0;  // callers of Acquire waiting for a connection
};

PgPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), slot_(other.slot_), conn_(other.conn_) {
  other.conn_ = nullptr;
}

PgPool::Lease::~Lease() {
  if (conn_ != nullptr) pool_->Release(slot_);
}

bool PgPool::Lease::cut_for_stalling() const {
  State& state = *pool_->state_;
  PgStallWatchdog::Ticket ticket = 0;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    ticket = state.slots[slot_].watched;
  }
  return state.watchdog.WasCut(ticket);
}

PgPool::PgPool(PgPoolOptions options) : state_(std::make_unique<State>(std::move(options))) {}

PgPool::~PgPool() = default;

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Open(PgPoolOptions options) {
  if (options.size < 1) return absl::InvalidArgumentError("PgPool size must be at least 1");
  std::unique_ptr<PgPool> pool(new PgPool(std::move(options)));
  State& state = *pool->state_;
  state.slots.resize(state.options.size);
  for (State::Slot& slot : state.slots) {
    absl::StatusOr<std::unique_ptr<pqxx::connection>> conn =
        OpenConnection(state.options, state.watchdog);
    if (!conn.ok()) return conn.status();
    slot.conn = *std::move(conn);
  }
  return pool;
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  State& state = *state_;
  int index = -1;
  pqxx::connection* conn = nullptr;
  {
    std::unique_lock<std::mutex> lock(state.mu);
    auto deadline =
        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(state.options.acquire_timeout);
    auto free_slot = [&] {
      for (size_t i = 0; i < state.slots.size(); ++i) {
        if (!state.slots[i].in_use) return static_cast<int>(i);
      }
      return -1;
    };
    while ((index = free_slot()) < 0) {
      ++state.waiting;
      const std::cv_status waited = state.released.wait_until(lock, deadline);
      --state.waiting;
      if (waited == std::cv_status::timeout) {
        if ((index = free_slot()) >= 0) break;
        // Busy on a PostgreSQL that stopped answering, or too many calls for the pool
        // (outside testing: a frozen PostgreSQL was reported as a pool too small,
        // RESOURCE_EXHAUSTED, which clients do not retry, while health said NOT_SERVING).
        // Half the wait, and at least a second: the kernel's clock cannot order a send
        // and a receipt in one tick, so a lease held idle right after its answer reads
        // as unanswered too (IsStalled); no caller holds one idle that long.
        const absl::Duration unanswered_for =
            std::max(state.options.acquire_timeout / 2, absl::Seconds(1));
        if (const int unanswered = state.watchdog.Unanswered(unanswered_for); unanswered > 0) {
          return DependencyUnavailable(
              "PostgreSQL",
              absl::StrCat("no PostgreSQL connection free within ",
                           absl::FormatDuration(state.options.acquire_timeout), ": ", unanswered,
                           " of the pool's ", state.options.size,
                           " wait for PostgreSQL to answer a request sent ",
                           absl::FormatDuration(unanswered_for), " or more ago"),
              "retry later", "does not answer");
        }
        return WithRetryDelay(absl::ResourceExhaustedError(
                                  absl::StrCat("no PostgreSQL connection free within ",
                                               absl::FormatDuration(state.options.acquire_timeout),
                                               " (pool size ", state.options.size, ")")),
                              kRetryWhenBusy);
      }
    }
    State::Slot& slot = state.slots[index];
    slot.in_use = true;
    ++state.in_use;
    conn = slot.conn.get();
  }
  // Probing and reopening talk to the server: do them outside the lock. The slot is
  // ours, but its `conn` field is only written under the lock (Release reads it).
  if (conn == nullptr || LooksClosed(*conn)) {
    std::unique_ptr<pqxx::connection> closed;
    {
      std::lock_guard<std::mutex> lock(state.mu);
      closed = std::move(state.slots[index].conn);
    }
    closed.reset();
    absl::StatusOr<std::unique_ptr<pqxx::connection>> opened =
        OpenConnection(state.options, state.watchdog);
    std::lock_guard<std::mutex> lock(state.mu);
    State::Slot& slot = state.slots[index];
    if (!opened.ok()) {
      slot.in_use = false;
      --state.in_use;
      state.released.notify_one();
      return opened.status();
    }
    slot.conn = *std::move(opened);
    conn = slot.conn.get();
  }
  // The slot is this caller's until Release, which reads `watched` on the same thread.
  state.slots[index].watched = state.watchdog.Watch(conn->sock());
  return Lease(this, index, conn);
}

void PgPool::Release(int index) {
  State& state = *state_;
  std::unique_ptr<pqxx::connection> broken;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    State::Slot& slot = state.slots[index];
    state.watchdog.Forget(std::exchange(slot.watched, 0));
    if (slot.conn != nullptr && !slot.conn->is_open()) broken = std::move(slot.conn);
    slot.in_use = false;
    --state.in_use;
  }
  state.released.notify_one();
  // `broken` closes here, outside the lock.
}

int PgPool::in_use() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->in_use;
}

int PgPool::waiting() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->waiting;
}

int PgPool::size() const { return state_->options.size; }

absl::Status PgPool::Run(const std::function<absl::Status(pqxx::connection&)>& body) {
  static const PgConstraintErrors* const kNone = new PgConstraintErrors();
  return Run(body, *kNone);
}

absl::Status PgPool::Run(const std::function<absl::Status(pqxx::connection&)>& body,
                         const PgConstraintErrors& constraints) {
  for (int attempt = 0;; ++attempt) {
    {
      absl::StatusOr<Lease> lease = Acquire();
      if (!lease.ok()) return lease.status();
      try {
        return body(lease->conn());
      } catch (const std::exception& e) {
        if (!IsRetriable(e) || attempt == kAbortedRetries) {
          const absl::Status mapped = MapPgException(e, &constraints);
          return lease->cut_for_stalling() ? CutForStalling(mapped, state_->watchdog.stall_after())
                                           : mapped;
        }
      }
    }  // The lease ends here: the connection goes back to the pool during the backoff.
    // Let the competing transaction finish before trying again.
    SleepBeforeRetry(attempt);
  }
}

PgConstraintErrors& PgConstraintErrors::On(std::string constraint, absl::Status status) {
  entries_.emplace_back(std::move(constraint), std::move(status));
  return *this;
}

const absl::Status* PgConstraintErrors::Find(std::string_view constraint) const {
  for (const auto& [name, status] : entries_) {
    if (name == constraint) return &status;
  }
  return nullptr;
}

std::vector<std::string> PgConstraintErrors::names() const {
  std::vector<std::string> out;
  for (const auto& entry : entries_) out.push_back(entry.first);
  return out;
}

bool IdleSocketLooksClosed(int fd) {
  if (fd < 0) return true;
  pollfd poll_fd{fd, POLLIN, 0};
  return poll(&poll_fd, 1, 0) != 0;
}

std::vector<std::pair<std::string, std::string>> SessionSettings(absl::Duration statement_timeout,
                                                                 absl::Duration lock_timeout,
                                                                 absl::string_view pool) {
  const int64_t statement_ms = absl::ToInt64Milliseconds(statement_timeout);
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return {
      {"statement_timeout", absl::StrCat(statement_ms)},
      {"lock_timeout", absl::StrCat(absl::ToInt64Milliseconds(lock_timeout))},
      {"idle_in_transaction_session_timeout", absl::StrCat(statement_ms)},
      {"tcp_keepalives_idle", "10"},
      {"tcp_keepalives_interval", "5"},
      {"tcp_keepalives_count", "3"},
      // Doubles read back as text exactly (the shortest form that round-trips, PostgreSQL
      // 12 and later), whatever a DBA set: with 0, the default before 12 and still found in
      // carried-over settings, 0.30000000000000004 read back as 0.3 (outside testing).
      {"extra_float_digits", "3"},
      {"application_name", absl::StrCat("plantmesh-server ", pool, " ", host, " pid ", getpid())}};
}

std::string WithConnectTimeout(const std::string& url) {
  if (ConnectionSettings(url).count("connect_timeout") > 0) return url;
  const std::string setting = absl::StrCat("connect_timeout=", kDefaultConnectTimeoutSeconds);
  if (absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://")) {
    return absl::StrCat(url, url.find('?') == std::string::npos ? "?" : "&", setting);
  }
  return absl::StrCat(url, url.empty() ? "" : " ", setting);
}

std::string ConstraintNameOf(std::string_view error_message) {
  // libpq writes the field label untranslated in the C locale, which the server keeps
  // (it never calls setlocale).
  constexpr std::string_view kLabel = "\nCONSTRAINT NAME:";
  size_t at = error_message.find(kLabel);
  if (at == std::string_view::npos) return "";
  absl::string_view rest(error_message.data() + at + kLabel.size(),
                         error_message.size() - at - kLabel.size());
  rest = rest.substr(0, rest.find('\n'));
  return std::string(absl::StripAsciiWhitespace(rest));
}

namespace {

constexpr char kConflictText[] =
    "the change conflicted with a concurrent one and was rolled back; retry";

// A database error a client can act on (retry, or fix what it asked), told in our words
// with the SQLSTATE and an error id. PostgreSQL's own text names tables and constraints
// (and its DETAIL line quotes row values), so it goes only to the log, under that id.
absl::Status FromDatabase(absl::StatusCode code, absl::string_view what, absl::string_view state,
                          absl::string_view message) {
  const std::string id = NewErrorId();
  spdlog::warn("postgres error_id={} sqlstate={}: {}", id, state.empty() ? "-" : std::string(state),
               PrimaryMessage(message));
  return absl::Status(code, absl::StrCat(what, " (", state.empty() ? "" : "SQLSTATE ", state,
                                         state.empty() ? "" : ", ", "error id ", id, ")"));
}

// The connection to PostgreSQL is gone (or the server is shutting down): the client is
// told which dependency and `advice` (ForClient), libpq's text stays in the server's log.
absl::Status LostConnection(absl::string_view message, absl::string_view state,
                            std::string_view advice) {
  return DependencyUnavailable(
      "PostgreSQL",
      absl::StrCat(PrimaryMessage(message), state.empty() ? "" : " (SQLSTATE ", state,
                   state.empty() ? "" : ")"),
      advice);
}

}  // namespace

absl::Status MapPgException(const std::exception& e, const PgConstraintErrors* constraints) {
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    // Also a read's commit: the advice names what a change needs without saying the call
    // has a request_id (outside testing: QueryAggregates was told to retry "with the same
    // request_id", which it does not have).
    return LostConnection(e.what(), "",
                          "the connection was lost during commit and the outcome is unknown: "
                          "retry (a change with the same request_id, so it is not done twice)");
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return LostConnection(e.what(), "", "the connection was lost; retry");
  }
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr) {
    return LostConnection(e.what(), "",
                          "the connection was lost while a statement ran: retry (a change with "
                          "the same request_id, so it is not done twice)");
  }
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  std::string state = sql != nullptr ? sql->sqlstate() : "";
  if (sql != nullptr && state.empty()) {
    // libpqxx 6.4 leaves sqlstate() empty on the exceptions it throws by class (e.g.
    // insufficient_privilege); a verbose message still starts with it (outside testing:
    // "permission denied for database pm_lp (SQLSTATE )").
    state = SqlStateInMessage(e.what());
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    return FromDatabase(absl::StatusCode::kAborted, kConflictText, state, e.what());
  }
  if (sql == nullptr) {
    // Not the server's answer: a client-library fault. ForClient gives the client an id.
    return absl::InternalError(absl::StrCat("database client error: ", PrimaryMessage(e.what())));
  }
  if (constraints != nullptr && absl::StartsWith(state, "23")) {
    if (const absl::Status* declared = constraints->Find(ConstraintNameOf(e.what()))) {
      return *declared;
    }
  }
  return MapSqlState(state, e.what());
}

absl::Status MapSqlState(absl::string_view state, absl::string_view message) {
  if (state == "40001" || state == "40P01") {
    return FromDatabase(absl::StatusCode::kAborted, kConflictText, state, message);
  }
  if (state == "23505") {
    return FromDatabase(absl::StatusCode::kAlreadyExists, "a conflicting record already exists",
                        state, message);
  }
  if (state == "23503" || state == "23514") {
    return FromDatabase(absl::StatusCode::kFailedPrecondition,
                        "the change conflicts with related records", state, message);
  }
  // lock_not_available: lock_timeout (or NOWAIT) gave up on a lock someone else holds;
  // the transaction was rolled back and can be retried like a conflict.
  if (state == "55P03") {
    return FromDatabase(absl::StatusCode::kAborted,
                        "a record is locked by a concurrent change (postgres-lock-timeout-ms); "
                        "retry",
                        state, message);
  }
  // Class 08 (connection exception), 57P01..57P03 (admin shutdown, crash shutdown,
  // cannot connect now): the server went away under us.
  if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P")) {
    return LostConnection(message, state, "retry later");
  }
  // query_canceled: statement_timeout expired (or the statement was cancelled).
  if (state == "57014") {
    return FromDatabase(absl::StatusCode::kDeadlineExceeded,
                        "a database statement ran longer than postgres-statement-timeout-ms", state,
                        message);
  }
  // read_only_sql_transaction: the server refuses writes (a standby behind the URL after a
  // failover, default_transaction_read_only): not this server's fault and not the
  // client's; the health probe reads the same and says NOT_SERVING.
  if (state == "25006") {
    return DependencyUnavailable(
        "PostgreSQL",
        absl::StrCat("PostgreSQL refuses writes (a read-only server: a standby, or "
                     "default_transaction_read_only): ",
                     PrimaryMessage(message), " (SQLSTATE ", state, ")"),
        "retry later", "refuses writes (a read-only server)");
  }
  // Class 53: disk full, out of memory, too many connections.
  if (absl::StartsWith(state, "53")) {
    return FromDatabase(absl::StatusCode::kResourceExhausted,
                        "the database is out of resources; retry later", state, message);
  }
  // INTERNAL keeps PostgreSQL's first line (never its DETAIL) for the server's log:
  // ForClient replaces it with an error id before it reaches a client.
  return absl::InternalError(absl::StrCat(PrimaryMessage(message), " (SQLSTATE ", state, ")"));
}

}  // namespace plantmesh::runtime
