#include "server/runtime/pg_stall_watchdog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"
#include "server/runtime/pg_pool.h"
#include "tests/support/poll.h"
#include "tests/support/tcp_relay.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::SharedPostgres;
using ::plantmesh::testing::TcpRelay;

TEST(IsStalledTest, OnlyARequestUnansweredForTheLimit) {
  const absl::Duration limit = absl::Seconds(15);
  // Sent 16 s ago, nothing received since (received last 20 s ago): stalled.
  EXPECT_TRUE(IsStalled({true, 16'000, 20'000}, limit));
  // Sent 14 s ago: a statement may still run (statement_timeout answers by the limit).
  EXPECT_FALSE(IsStalled({true, 14'000, 20'000}, limit));
  // Received after the last send: idle (a transaction waiting on its caller), whatever
  // the time.
  EXPECT_FALSE(IsStalled({true, 60'000, 59'000}, limit));
  // Sent and received within one tick of the kernel's clock: the order is unknown, and
  // the request sent right after the last answer is the common case.
  EXPECT_TRUE(IsStalled({true, 16'000, 16'000}, limit));
  // No TCP_INFO (a Unix-domain socket): never.
  EXPECT_FALSE(IsStalled({false, 60'000, 90'000}, limit));
}

TEST(StallAfterForTest, AboveTheStatementTimeoutAndNoneWithoutOne) {
  EXPECT_EQ(StallAfterFor(absl::Seconds(10)), absl::Seconds(15));
  EXPECT_EQ(StallAfterFor(absl::Seconds(1)), absl::Seconds(6));
  EXPECT_EQ(StallAfterFor(absl::Seconds(30)), absl::Seconds(45));
  EXPECT_EQ(StallAfterFor(absl::ZeroDuration()), absl::ZeroDuration());
}

// A connected pair of loopback TCP sockets: `client` and the server's accepted end.
struct TcpPair {
  int client = -1;
  int server = -1;
  ~TcpPair() {
    if (client >= 0) close(client);
    if (server >= 0) close(server);
  }
};

void Connect(TcpPair* pair) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t size = sizeof address;
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  pair->client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(pair->client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  pair->server = accept(listener, nullptr, nullptr);
  close(listener);
  ASSERT_GE(pair->server, 0);
}

// Whether `fd` reads end-of-file or an error within `wait`.
bool EndsWithin(int fd, absl::Duration wait) {
  pollfd poll_fd{fd, POLLIN, 0};
  if (poll(&poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) != 1) return false;
  char byte;
  return recv(fd, &byte, 1, MSG_DONTWAIT) <= 0;
}

TEST(PgStallWatchdogTest, CutsARequestLeftUnansweredAndLeavesAnAnsweredOne) {
  PgStallWatchdog watchdog(absl::Seconds(2), "test", absl::Milliseconds(50));
  TcpPair unanswered, answered;
  Connect(&unanswered);
  Connect(&answered);
  const PgStallWatchdog::Ticket a = watchdog.Watch(unanswered.client);
  const PgStallWatchdog::Ticket b = watchdog.Watch(answered.client);
  ASSERT_NE(a, 0);
  ASSERT_NE(b, 0);
  // The answered connection's request goes out before the unanswered one's, so that
  // its answer, read after it, is later than any tick of the kernel's clock the request
  // could share with it.
  ASSERT_EQ(send(answered.client, "Q", 1, 0), 1);
  ASSERT_EQ(send(unanswered.client, "Q", 1, 0), 1);
  char byte;
  ASSERT_EQ(recv(answered.server, &byte, 1, 0), 1);
  EXPECT_FALSE(EndsWithin(answered.client, absl::Milliseconds(20)));  // a tick or more later
  ASSERT_EQ(send(answered.server, "R", 1, 0), 1);

  EXPECT_TRUE(EndsWithin(unanswered.client, absl::Seconds(30)));
  EXPECT_EQ(watchdog.cuts(), 1);
  // The answered connection stays open past the limit.
  ASSERT_EQ(recv(answered.client, &byte, 1, 0), 1);
  EXPECT_FALSE(EndsWithin(answered.client, absl::Seconds(1)));
  EXPECT_EQ(watchdog.cuts(), 1);
  watchdog.Forget(a);
  watchdog.Forget(b);
}

// A connection that rested in the pool longer than the limit, its last exchange in one
// tick of the kernel's clock, is not cut before its first statement of the new lease.
TEST(PgStallWatchdogTest, ASendBeforeTheLeaseIsNotItsRequest) {
  TcpPair pair;
  Connect(&pair);
  ASSERT_EQ(send(pair.client, "Q", 1, 0), 1);
  char byte;
  ASSERT_EQ(recv(pair.server, &byte, 1, 0), 1);
  // Resting in the pool, as unanswered as it looks: nothing comes for 400 ms.
  EXPECT_FALSE(EndsWithin(pair.client, absl::Milliseconds(400)));
  PgStallWatchdog watchdog(absl::Milliseconds(300), "test", absl::Milliseconds(50));
  const PgStallWatchdog::Ticket ticket = watchdog.Watch(pair.client);
  EXPECT_FALSE(EndsWithin(pair.client, absl::Seconds(1)));
  EXPECT_EQ(watchdog.cuts(), 0);
  watchdog.Forget(ticket);
}

TEST(PgStallWatchdogTest, WatchesNothingWithoutALimitOrAfterForget) {
  PgStallWatchdog off(absl::ZeroDuration(), "test");
  TcpPair pair;
  Connect(&pair);
  EXPECT_EQ(off.Watch(pair.client), 0);
  off.Forget(0);

  PgStallWatchdog watchdog(absl::Milliseconds(200), "test", absl::Milliseconds(50));
  EXPECT_EQ(watchdog.Watch(-1), 0);
  watchdog.Forget(watchdog.Watch(pair.client));
  ASSERT_EQ(send(pair.client, "Q", 1, 0), 1);
  EXPECT_FALSE(EndsWithin(pair.client, absl::Seconds(1)));
  EXPECT_EQ(watchdog.cuts(), 0);
}

// Outside testing: with PostgreSQL stopped (SIGSTOP), a call waited on its connection for
// as long as PostgreSQL was stopped, and every pool slot with it. A relay that swallows
// what the server sends stands for it here: the kernel acknowledges, nothing answers.
TEST(PgStallWatchdogTest, APoolCallToAServerThatStoppedAnsweringEndsUnavailable) {
  absl::StatusOr<std::string> url = SharedPostgres().CreateDatabase("stall_watchdog");
  ASSERT_TRUE(url.ok()) << url.status();
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(SharedPostgres().port());
  ASSERT_TRUE(relay.ok()) << relay.status();
  PgPoolOptions options;
  options.url = absl::StrCat("postgresql://postgres@", (*relay)->endpoint(), "/stall_watchdog");
  options.size = 1;
  options.statement_timeout = absl::Seconds(1);  // stall after 6 s
  options.acquire_timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Open(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  // Outside a transaction: PostgreSQL itself ends a transaction left idle for
  // statement_timeout (idle_in_transaction_session_timeout) and closes the connection,
  // which a stopped server never does; the answer of a lone statement is simply lost.
  auto select_one = [&] {
    return (*pool)->Run([](pqxx::connection& conn) {
      pqxx::nontransaction tx(conn);
      tx.exec("SELECT 1");
      return absl::OkStatus();
    });
  };
  ASSERT_TRUE(select_one().ok());

  (*relay)->DiscardServerBytes();
  const absl::Time start = absl::Now();
  absl::Status stalled;
  std::thread stalled_call([&] { stalled = select_one(); });
  // Outside testing (AG F1): a call that found every connection waiting on a PostgreSQL
  // that stopped answering was RESOURCE_EXHAUSTED "pool too small", which clients do not
  // retry, while health said NOT_SERVING. It is the dependency's outage.
  ASSERT_TRUE(
      plantmesh::testing::PollUntil([&] { return (*pool)->in_use() == 1; }, absl::Seconds(30)));
  const absl::Status no_connection = (*pool)->Acquire().status();
  EXPECT_EQ(no_connection.code(), absl::StatusCode::kUnavailable) << no_connection;
  EXPECT_EQ(ErrorInfoOf(no_connection).reason, "DEPENDENCY_UNAVAILABLE") << no_connection;
  stalled_call.join();
  const absl::Duration waited = absl::Now() - start;
  EXPECT_EQ(stalled.code(), absl::StatusCode::kUnavailable) << stalled;
  EXPECT_EQ(ErrorInfoOf(stalled).reason, "DEPENDENCY_UNAVAILABLE") << stalled;
  // Its detail (the log's line of the call's error id) is the cut, not libpq's words for
  // the dead socket (outside testing: "Could not obtain client encoding: not connected.").
  EXPECT_THAT(std::string(stalled.message()),
              ::testing::StartsWith("PostgreSQL did not answer a request for 6s (stopped, frozen "
                                    "or unreachable): the stall watchdog cut the connection"));
  std::string error_id;
  EXPECT_THAT(std::string(ForClient(stalled, &error_id).message()),
              ::testing::StartsWith("the server's PostgreSQL did not answer in time; "));
  // Not before the stall limit, give or take a tick of the kernel's clock, in which
  // TCP_INFO counts the time since the last send (a busy CI machine saw 5.99988 s).
  EXPECT_GE(waited, absl::Seconds(6) - absl::Milliseconds(20));
  EXPECT_LT(waited, absl::Seconds(60));  // without the watchdog: for ever
  EXPECT_EQ((*pool)->in_use(), 0);

  // A new connection to a server that accepts and says nothing ends at connect_timeout.
  absl::Status connecting = select_one();
  EXPECT_EQ(connecting.code(), absl::StatusCode::kUnavailable) << connecting;

  // PostgreSQL answers again: the slot reconnects.
  (*relay)->DropConnections();
  EXPECT_TRUE(select_one().ok());
}

TEST(WithConnectTimeoutTest, AddsOneUnlessGiven) {
  EXPECT_EQ(WithConnectTimeout("postgresql://u@h:5/db"), "postgresql://u@h:5/db?connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("postgresql://u@h/db?sslmode=disable"),
            "postgresql://u@h/db?sslmode=disable&connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("host=h dbname=db"), "host=h dbname=db connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("postgresql://h/db?connect_timeout=2"),
            "postgresql://h/db?connect_timeout=2");
  EXPECT_EQ(WithConnectTimeout("host=h connect_timeout=9"), "host=h connect_timeout=9");
}

}  // namespace
}  // namespace plantmesh::runtime
