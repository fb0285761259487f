#include "server/runtime/health.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/runtime/health_service.h"
#include "server/runtime/metrics.h"
#include "server/runtime/pg_pool.h"
#include "tests/support/poll.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::SharedPostgres;

// Every request connection is busy (a load peak, a slow query): PostgreSQL itself is
// fine, and health must say so.
TEST(PostgresProbeTest, ServingWhileTheRequestPoolIsExhausted) {
  absl::StatusOr<std::string> url = SharedPostgres().CreateDatabase("health_probe_busy");
  ASSERT_TRUE(url.ok()) << url.status();
  PgPoolOptions options;
  options.url = *url;
  options.size = 1;
  options.acquire_timeout = absl::Milliseconds(50);
  absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Open(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<PgPool::Lease> held = (*pool)->Acquire();
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_EQ((*pool)->Acquire().status().code(), absl::StatusCode::kResourceExhausted);

  DependencyProbe probe = PostgresProbe(*url);
  EXPECT_EQ(probe.name, kPostgresHealthName);
  EXPECT_TRUE(probe.healthy());
  EXPECT_TRUE(probe.healthy());  // the probe's connection is kept
}

// Outside testing: a PostgreSQL that refused writes (a standby left behind the URL after a
// failover, a DBA's default_transaction_read_only) failed every write while health said
// SERVING and plantmesh_postgres_up was 1.
TEST(PostgresProbeTest, NotServingWhilePostgresRefusesWrites) {
  absl::StatusOr<std::string> url = SharedPostgres().CreateDatabase("health_probe_read_only");
  ASSERT_TRUE(url.ok()) << url.status();
  auto set_read_only = [&](bool on) {
    pqxx::connection admin(*url);
    pqxx::nontransaction tx(admin);
    tx.exec("SET default_transaction_read_only = off");  // this session may write
    tx.exec(
        absl::StrCat("ALTER DATABASE health_probe_read_only SET default_transaction_read_only = ",
                     on ? "on" : "off"));
  };
  set_read_only(true);
  EXPECT_FALSE(PostgresProbe(*url).healthy());
  set_read_only(false);
  EXPECT_TRUE(PostgresProbe(*url).healthy());
}

TEST(PostgresProbeTest, NotServingWhenUnreachable) {
  DependencyProbe probe = PostgresProbe(
      "postgresql://127.0.0.1:" + std::to_string(::plantmesh::testing::FreePort()) + "/none",
      absl::Milliseconds(500));
  EXPECT_FALSE(probe.healthy());
}

// A PostgreSQL that takes the connection and then says nothing (a stopped process, a
// frozen host): the kernel completes the handshake of a listening socket nobody accepts
// from, and libpq waits for the server's answer. Outside testing: health said SERVING
// for the whole 30 s that PostgreSQL was stopped.
TEST(PostgresProbeTest, NotServingWhenPostgresTakesTheConnectionAndSaysNothing) {
  const int silent = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(silent, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(silent, 16), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(silent, reinterpret_cast<sockaddr*>(&address), &length), 0);
  DependencyProbe probe =
      PostgresProbe(absl::StrCat("postgresql://127.0.0.1:", ntohs(address.sin_port), "/none"),
                    absl::Milliseconds(200));
  // Without the deadline healthy() never returned: the test would hang until ctest's
  // timeout ended it.
  EXPECT_FALSE(probe.healthy());
  EXPECT_FALSE(probe.healthy());  // still waiting: not asked again
  close(silent);                  // the waiting probe's connection fails; it returns and ends
}

TEST(WithDeadlineTest, AProbeStillWaitingIsNotHealthyAndIsNotAskedAgain) {
  // Shared: the probe's thread is detached and may end after this test.
  auto release = std::make_shared<absl::Notification>();
  auto asked = std::make_shared<std::atomic<int>>(0);
  DependencyProbe probe = WithDeadline({"waits",
                                        [release, asked] {
                                          asked->fetch_add(1);
                                          release->WaitForNotification();
                                          return true;
                                        }},
                                       absl::Milliseconds(50));
  EXPECT_FALSE(probe.healthy());
  EXPECT_FALSE(probe.healthy());
  // One run, still waiting (its thread may start late on a busy machine).
  EXPECT_TRUE(
      ::plantmesh::testing::PollUntil([&] { return asked->load() == 1; }, absl::Seconds(30)));
  EXPECT_FALSE(probe.healthy());
  EXPECT_EQ(asked->load(), 1);
  release->Notify();
  EXPECT_TRUE(::plantmesh::testing::PollUntil([&] { return probe.healthy(); }, absl::Seconds(30)));
  EXPECT_GE(asked->load(), 2);
}

// Shutdown marks every entry NOT_SERVING and returns while a probe still waits (outside
// testing: SIGTERM with PostgreSQL stopped left the server SERVING and undrained for as
// long as PostgreSQL was stopped).
TEST(HealthReporterTest, ShutdownDoesNotWaitForAProbeThatNeverAnswers) {
  auto release = std::make_shared<absl::Notification>();
  auto asked = std::make_shared<std::atomic<bool>>(false);
  HealthService health;
  {
    HealthReporter reporter(&health, {"test.Service"},
                            {WithDeadline({"plantmesh.dependency.stuck",
                                           [release, asked] {
                                             asked->store(true);
                                             release->WaitForNotification();
                                             return true;
                                           }},
                                          absl::Milliseconds(20))},
                            absl::Milliseconds(10));
    EXPECT_TRUE(::plantmesh::testing::PollUntil([&] { return asked->load(); }, absl::Seconds(30)));
    reporter.Shutdown();  // before the fix: waited here for the probe, forever
  }
  release->Notify();  // the detached probe ends; it holds only what it shares
}

// Outside testing: health said PostgreSQL was down, and no metric did.
TEST(WithUpMetricTest, TheGaugeFollowsEveryAnswerOfTheProbe) {
  MetricsRegistry registry;
  auto healthy = std::make_shared<std::atomic<bool>>(true);
  DependencyProbe probe =
      WithUpMetric({"plantmesh.dependency.test", [healthy] { return healthy->load(); }}, &registry,
                   "plantmesh_test_up", "1 when the test dependency answered.");
  auto gauge = [&registry] {
    for (const MetricFamilySnapshot& family : registry.Collect()) {
      if (family.name == "plantmesh_test_up") return family.samples.at(0).value;
    }
    return -1.0;
  };
  EXPECT_EQ(gauge(), 0);  // not asked yet
  EXPECT_TRUE(probe.healthy());
  EXPECT_EQ(gauge(), 1);
  healthy->store(false);
  EXPECT_FALSE(probe.healthy());
  EXPECT_EQ(gauge(), 0);
}

}  // namespace
}  // namespace plantmesh::runtime
