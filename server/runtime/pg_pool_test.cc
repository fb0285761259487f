#include "server/runtime/pg_pool.h"

#include <atomic>
#include <chrono>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"
#include "tests/support/poll.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::FreePort;
using ::plantmesh::testing::SharedPostgres;

std::string NewDatabase(const std::string& name) {
  absl::StatusOr<std::string> url = SharedPostgres().CreateDatabase(name);
  EXPECT_TRUE(url.ok()) << url.status();
  return url.value_or("");
}

std::unique_ptr<PgPool> OpenPool(PgPoolOptions options) {
  absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Open(std::move(options));
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? *std::move(pool) : nullptr;
}

absl::Status Exec(PgPool& pool, const std::string& sql) {
  return pool.Run([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
    return absl::OkStatus();
  });
}

TEST(PgPoolTest, MapsUniqueViolationToAlreadyExistsWithoutTheValues) {
  PgPoolOptions options;
  options.url = NewDatabase("pool_unique");
  options.size = 2;
  auto pool = OpenPool(options);
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(Exec(*pool, "CREATE TABLE t (vin text PRIMARY KEY)").ok());
  ASSERT_TRUE(Exec(*pool, "INSERT INTO t VALUES ('WVWZZZ1JZXW000001')").ok());

  absl::Status again = Exec(*pool, "INSERT INTO t VALUES ('WVWZZZ1JZXW000001')");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_NE(again.message().find("23505"), absl::string_view::npos) << again;
  EXPECT_EQ(again.message().find("WVWZZZ1JZXW000001"), absl::string_view::npos) << again;
  EXPECT_EQ(pool->in_use(), 0);
}

TEST(PgPoolTest, MapsConstraintViolationsAndOtherErrors) {
  PgPoolOptions options;
  options.url = NewDatabase("pool_constraints");
  options.size = 1;
  auto pool = OpenPool(options);
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(Exec(*pool,
                   "CREATE TABLE p (id int PRIMARY KEY);"
                   "CREATE TABLE c (id int REFERENCES p, n int CHECK (n > 0))")
                  .ok());
  EXPECT_EQ(Exec(*pool, "INSERT INTO c VALUES (1, 1)").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Exec(*pool, "INSERT INTO c VALUES (NULL, -1)").code(),
            absl::StatusCode::kFailedPrecondition);
  absl::Status syntax = Exec(*pool, "SELEC 1");
  EXPECT_EQ(syntax.code(), absl::StatusCode::kInternal);
  EXPECT_NE(syntax.message().find("42601"), absl::string_view::npos) << syntax;
}

// Outside testing: a full disk was RESOURCE_EXHAUSTED for a photo upload (pqxx) and
// INTERNAL for a telemetry ingest (libpq). Both paths map by the SQLSTATE alone.
TEST(PgPoolTest, MapsSqlStatesAloneAsForEveryStore) {
  const std::pair<const char*, absl::StatusCode> cases[] = {
      {"53100", absl::StatusCode::kResourceExhausted},  // disk full
      {"53200", absl::StatusCode::kResourceExhausted},  // out of memory
      {"53300", absl::StatusCode::kResourceExhausted},  // too many connections
      {"40001", absl::StatusCode::kAborted},
      {"40P01", absl::StatusCode::kAborted},
      {"55P03", absl::StatusCode::kAborted},
      {"57014", absl::StatusCode::kDeadlineExceeded},
      {"23505", absl::StatusCode::kAlreadyExists},
      {"23514", absl::StatusCode::kFailedPrecondition},
      {"08006", absl::StatusCode::kUnavailable},
      {"25006", absl::StatusCode::kUnavailable},  // read-only server (outside testing)
      {"42601", absl::StatusCode::kInternal},
  };
  for (const auto& [state, code] : cases) {
    const absl::Status status = MapSqlState(state, "could not extend file \"base/1/2\"");
    EXPECT_EQ(status.code(), code) << state << ": " << status;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(state));
  }
  EXPECT_THAT(std::string(MapSqlState("53100", "x").message()),
              ::testing::HasSubstr("the database is out of resources; retry later"));
}

// Outside testing: libpqxx 6.4 throws some errors by class (insufficient_privilege) with
// an empty sqlstate(), and the log said "permission denied for database pm_lp (SQLSTATE )".
TEST(PgPoolTest, TheSqlStateOfAVerboseMessageIsKept) {
  const absl::Status status = MapPgException(
      pqxx::insufficient_privilege("ERROR:  42501: permission denied for database pm_lp\n"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(), "permission denied for database pm_lp (SQLSTATE 42501)");
  const absl::Status read_only = MapPgException(pqxx::sql_error(
      "ERROR:  25006: cannot execute INSERT in a read-only transaction\n", "INSERT"));
  EXPECT_EQ(read_only.code(), absl::StatusCode::kUnavailable) << read_only;
  EXPECT_EQ(ErrorInfoOf(read_only).reason, "DEPENDENCY_UNAVAILABLE");
  std::string error_id;
  EXPECT_THAT(std::string(ForClient(read_only, &error_id).message()),
              ::testing::StartsWith("the server's PostgreSQL refuses writes (a read-only server); "
                                    "retry later"));
}

// Outside testing: a database whose DBA set extra_float_digits = 0 (the default before
// PostgreSQL 12) read every double back rounded to 15 digits.
TEST(PgPoolTest, DoublesReadBackExactWhateverTheDatabaseSets) {
  PgPoolOptions options;
  options.url = NewDatabase("pool_float_digits");
  {
    pqxx::connection admin(options.url);
    pqxx::nontransaction tx(admin);
    tx.exec("ALTER DATABASE pool_float_digits SET extra_float_digits = 0");
  }
  auto pool = OpenPool(options);
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(pool->Run([](pqxx::connection& conn) {
                    pqxx::nontransaction tx(conn);
                    EXPECT_EQ(tx.exec1("SELECT 0.1::float8 + 0.2::float8")[0].as<double>(),
                              0.1 + 0.2);
                    return absl::OkStatus();
                  })
                  .ok());
}

// Outside testing: a frozen replica kept its ingest writer's row locked while its session
// sat idle in transaction, and the writer's failover replica answered ABORTED for as long
// as the freeze lasted. PostgreSQL ends a transaction left idle longer than a statement
// may run; the session names its process.
TEST(PgPoolTest, ATransactionLeftIdleIsEndedByPostgresAndTheSessionIsNamed) {
  PgPoolOptions options;
  options.url = NewDatabase("pool_idle");
  options.size = 1;
  options.statement_timeout = absl::Milliseconds(300);
  auto pool = OpenPool(options);
  ASSERT_NE(pool, nullptr);
  pqxx::connection observer(options.url);
  auto backends = [&](int pid) {
    pqxx::nontransaction query(observer);
    return query.exec1(absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE pid = ", pid))[0]
        .as<int>();
  };
  (void)pool->Run([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    EXPECT_THAT(tx.exec1("SHOW application_name")[0].as<std::string>(),
                ::testing::StartsWith("plantmesh-server pool "));
    EXPECT_EQ(tx.exec1("SHOW idle_in_transaction_session_timeout")[0].as<std::string>(), "300ms");
    const int pid = conn.backendpid();
    EXPECT_EQ(backends(pid), 1);
    // The transaction stays open and idle: PostgreSQL ends its session.
    EXPECT_TRUE(testing::PollUntil([&] { return backends(pid) == 0; }, absl::Seconds(30),
                                   absl::Milliseconds(20)));
    return absl::OkStatus();
  });
  // The pool opens a new connection for the next caller.
  EXPECT_TRUE(Exec(*pool, "SELECT 1").ok());
}

// A connection lost during a commit: the outcome is unknown to the server too. The
// advice fits a read as well (outside testing: QueryAggregates, which has no request_id,
// was told to retry "with the same request_id").
TEST(PgPoolTest, ALostCommitIsUnavailableWithAdviceForReadsAndChanges) {
  for (const absl::Status& status :
       {MapPgException(pqxx::in_doubt_error("connection lost during commit")),
        MapPgException(pqxx::statement_completion_unknown("connection lost"))}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    const ErrorInfoView info = ErrorInfoOf(status);
    EXPECT_EQ(info.reason, "DEPENDENCY_UNAVAILABLE");
    // What the client is told in place of "retry later".
    EXPECT_THAT(info.metadata.at("advice"),
                ::testing::EndsWith("retry (a change with the same request_id, so it is not "
                                    "done twice)"));
  }
}

// A store declares what its constraints mean; violations map by constraint name, and
// undeclared constraints keep the generic mapping.
TEST(PgPoolTest, MapsDeclaredConstraintsByName) {
  PgPoolOptions options;
  options.url = NewDatabase("pool_constraint_names");
  options.size = 1;
  auto pool = OpenPool(options);
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(Exec(*pool,
                   "CREATE TABLE place (id text PRIMARY KEY);"
                   "CREATE TABLE job (id int PRIMARY KEY, place text REFERENCES place, busy bool);"
                   "CREATE UNIQUE INDEX job_one_busy_per_place_idx ON job (place) WHERE busy;"
                   "INSERT INTO place VALUES ('P1');"
                   "INSERT INTO job VALUES (1, 'P1', true), (2, 'P1', false)")
                  .ok());
  PgConstraintErrors constraints;
  constraints.On("job_one_busy_per_place_idx", absl::FailedPreconditionError("place busy"))
      .On("place_pkey", absl::AlreadyExistsError("place exists"))
      .On("job_place_fkey", absl::InvalidArgumentError("unknown place"));
  auto run = [&](const std::string& sql) {
    return pool->Run(
        [&](pqxx::connection& conn) {
          pqxx::work tx(conn);
          tx.exec(sql);
          tx.commit();
          return absl::OkStatus();
        },
        constraints);
  };
  absl::Status busy = run("UPDATE job SET busy = true WHERE id = 2");
  EXPECT_EQ(busy, absl::FailedPreconditionError("place busy"));
  EXPECT_EQ(run("INSERT INTO place VALUES ('P1')"), absl::AlreadyExistsError("place exists"));
  EXPECT_EQ(run("INSERT INTO job VALUES (3, 'P9', false)"),
            absl::InvalidArgumentError("unknown place"));
  // Not declared: the generic mapping, in our words: no table, constraint or row value
  // reaches the client, only the SQLSTATE and an error id (the log has PostgreSQL's text).
  absl::Status duplicate = run("INSERT INTO job VALUES (1, 'P1', false)");
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists) << duplicate;
  EXPECT_THAT(std::string(duplicate.message()),
              ::testing::MatchesRegex("a conflicting record already exists \\(SQLSTATE 23505, "
                                      "error id [0-9a-f]{16}\\)"));
  // The plain Run knows no declarations.
  EXPECT_EQ(Exec(*pool, "UPDATE job SET busy = true WHERE id = 2").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(pool->in_use(), 0);
}

TEST(PgPoolTest, ConstraintNameOfReadsTheVerboseField) {
  EXPECT_EQ(ConstraintNameOf("ERROR:  23505: duplicate key value violates unique constraint "
                             "\"a\"\nDETAIL:  Key (id)=(1) already exists.\nSCHEMA NAME:  public\n"
                             "TABLE NAME:  t\nCONSTRAINT NAME:  t_pkey\nLOCATION:  x.c:1\n"),
            "t_pkey");
  EXPECT_EQ(ConstraintNameOf("ERROR:  duplicate key value\n"), "");
}

TEST(PgPoolTest, RetriesSerializationFailuresThenGivesUpAsAborted) {
  PgPoolOptions options;
  options.url = NewDatabase("pool_retries");
  options.size = 1;
  auto pool = OpenPool(options);
  ASSERT_NE(pool, nullptr);

  int attempts = 0;
  absl::Status flaky = pool->Run([&](pqxx::connection&) -> absl::Status {
    if (++attempts < 3) throw pqxx::serialization_failure("could not serialize access");
    return absl::OkStatus();
  });
  EXPECT_TRUE(flaky.ok()) << flaky;
  EXPECT_EQ(attempts, 3);

  attempts = 0;
  absl::Status hopeless = pool->Run([&](pqxx::connection&) -> absl::Status {
    ++attempts;
    throw pqxx::deadlock_detected("deadlock detected");
  });
  EXPECT_EQ(hopeless.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(attempts, 4);  // the first try and three retries
}

TEST(PgPoolTest, NamedStatementsAndReconnectAfterTerminatedBackends) {
  std::atomic<int> connects{0};
  PgPoolOptions options;
  options.url = NewDatabase("pool_reconnect");
  options.size = 2;
  options.on_connect.push_back([&](pqxx::connection& conn) {
    conn.prepare("answer", "SELECT $1::int + 1");
    ++connects;
  });
  auto pool = OpenPool(options);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(connects.load(), 2);

  auto ask = [&](int* out) {
    return pool->Run([&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      *out = tx.exec_prepared1("answer", 41)[0].as<int>();
      tx.commit();
      return absl::OkStatus();
    });
  };
  int answer = 0;
  ASSERT_TRUE(ask(&answer).ok());
  EXPECT_EQ(answer, 42);

  // Kill every backend of this database from outside, and wait until they are gone.
  pqxx::connection admin(SharedPostgres().admin_url());
  pqxx::nontransaction tx(admin);
  tx.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
      "'pool_reconnect'");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE datname = 'pool_reconnect'")[0]
             .as<int>() > 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  // Both connections are found closed and reopened, named statements included.
  {
    absl::StatusOr<PgPool::Lease> first = pool->Acquire();
    absl::StatusOr<PgPool::Lease> second = pool->Acquire();
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(second.ok()) << second.status();
    for (PgPool::Lease* lease : {&*first, &*second}) {
      pqxx::work work(lease->conn());
      EXPECT_EQ(work.exec_prepared1("answer", 1)[0].as<int>(), 2);
    }
  }
  EXPECT_EQ(connects.load(), 4);
  answer = 0;
  absl::Status status = ask(&answer);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(answer, 42);
  EXPECT_EQ(pool->in_use(), 0);
}

TEST(PgPoolTest, AcquireTimesOutAsResourceExhausted) {
  PgPoolOptions options;
  options.url = NewDatabase("pool_exhausted");
  options.size = 1;
  options.acquire_timeout = absl::Milliseconds(50);
  auto pool = OpenPool(options);
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<PgPool::Lease> held = pool->Acquire();
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(pool->in_use(), 1);
  // Busy with a PostgreSQL that answers (its answer comes a tick of the kernel's clock
  // after the request): a pool too small. One that stopped answering is UNAVAILABLE
  // (PgStallWatchdogTest).
  pqxx::nontransaction(held->conn()).exec("SELECT pg_sleep(0.02)");
  EXPECT_EQ(pool->Acquire().status().code(), absl::StatusCode::kResourceExhausted);

  // A waiter gets the connection as soon as it is returned.
  std::thread releaser([lease = *std::move(held)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  pool->Run([](pqxx::connection&) { return absl::OkStatus(); }).IgnoreError();
  releaser.join();
  EXPECT_TRUE(pool->Acquire().ok());
}

TEST(PgPoolTest, StatementTimeoutIsDeadlineExceededAndLockTimeoutIsAborted) {
  PgPoolOptions options;
  options.url = NewDatabase("pool_timeouts");
  options.size = 2;
  options.statement_timeout = absl::Milliseconds(200);
  options.lock_timeout = absl::Milliseconds(50);  // fires before the statement timeout
  auto pool = OpenPool(options);
  ASSERT_NE(pool, nullptr);

  absl::Time start = absl::Now();
  absl::Status slow = Exec(*pool, "SELECT pg_sleep(30)");
  EXPECT_EQ(slow.code(), absl::StatusCode::kDeadlineExceeded) << slow;
  EXPECT_NE(slow.message().find("57014"), absl::string_view::npos) << slow;
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));

  ASSERT_TRUE(Exec(*pool, "CREATE TABLE locked (id int)").ok());
  pqxx::connection holder(options.url);
  pqxx::work holding(holder);
  holding.exec("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE");
  start = absl::Now();
  absl::Status blocked = Exec(*pool, "INSERT INTO locked VALUES (1)");
  EXPECT_EQ(blocked.code(), absl::StatusCode::kAborted) << blocked;
  EXPECT_NE(blocked.message().find("55P03"), absl::string_view::npos) << blocked;
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  holding.abort();
  EXPECT_TRUE(Exec(*pool, "INSERT INTO locked VALUES (1)").ok());
  EXPECT_EQ(pool->in_use(), 0);
}

// Sweep 22: a connection lost in the middle of a call answered UNAVAILABLE without the
// DEPENDENCY_UNAVAILABLE ErrorInfo a connection refused at the start carries, so a client
// could not tell it from a draining server.
TEST(PgPoolTest, ALostConnectionIsDependencyUnavailable) {
  PgPoolOptions options;
  options.url = NewDatabase("pool_lost");
  options.size = 1;
  auto pool = OpenPool(options);
  ASSERT_NE(pool, nullptr);
  const absl::Status lost = pool->Run([](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec("SELECT pg_terminate_backend(pg_backend_pid())");
    tx.commit();
    return absl::OkStatus();
  });
  ASSERT_EQ(lost.code(), absl::StatusCode::kUnavailable) << lost;
  EXPECT_EQ(ErrorInfoOf(lost).reason, "DEPENDENCY_UNAVAILABLE") << lost;
  EXPECT_EQ(ErrorInfoOf(lost).metadata.at("dependency"), "PostgreSQL");
  std::string id;
  const absl::Status sent = ForClient(lost, &id);
  EXPECT_EQ(ErrorInfoOf(sent).reason, "DEPENDENCY_UNAVAILABLE");
  EXPECT_THAT(std::string(sent.message()),
              ::testing::StartsWith("the server cannot reach its PostgreSQL; the connection "
                                    "was lost"));
  EXPECT_THAT(std::string(sent.message()), ::testing::HasSubstr(id));
  // libpq's text (which can name the server) stays in the log.
  EXPECT_THAT(std::string(sent.message()), ::testing::Not(::testing::HasSubstr("terminat")));
  // The pool opens a new connection for the next call.
  EXPECT_TRUE(Exec(*pool, "SELECT 1").ok());
}

TEST(PgPoolTest, UnreachableServerIsUnavailableAndNamesNoPassword) {
  const int port = FreePort();
  for (const std::string& url :
       {absl::StrCat("postgresql://plant:s3cret-pw@127.0.0.1:", port, "/plantmesh"),
        absl::StrCat("host=127.0.0.1 port=", port, " user=plant password=s3cret-pw")}) {
    PgPoolOptions options;
    options.url = url;
    absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Open(options);
    ASSERT_FALSE(pool.ok());
    EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(pool.status().message().find(absl::StrCat("127.0.0.1:", port)),
              absl::string_view::npos)
        << pool.status();
    EXPECT_EQ(pool.status().message().find("s3cret"), absl::string_view::npos) << pool.status();
  }
}

}  // namespace
}  // namespace plantmesh::runtime
