#include "server/runtime/health.h"

#include "gtest/gtest.h"
#include "server/runtime/pg_pool.h"
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

TEST(PostgresProbeTest, NotServingWhenUnreachable) {
  DependencyProbe probe = PostgresProbe(
      "postgresql://127.0.0.1:" + std::to_string(::plantmesh::testing::FreePort()) + "/none",
      absl::Milliseconds(500));
  EXPECT_FALSE(probe.healthy());
}

}  // namespace
}  // namespace plantmesh::runtime
