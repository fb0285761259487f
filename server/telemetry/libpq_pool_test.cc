// The ingest pool (libpq_pool.h) against a PostgreSQL that stops answering: the stall
// watchdog cuts the connection, and the call's status says so (Lease::Explain), not
// libpq's words for the dead socket.
#include "server/telemetry/libpq_pool.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"
#include "tests/support/tcp_relay.h"
#include "tests/support/test_servers.h"

namespace plantmesh::telemetry {
namespace {

using ::plantmesh::testing::SharedPostgres;
using ::plantmesh::testing::TcpRelay;

// Outside testing (sweep 48): an ingest's error id led in the log to "Could not obtain
// client encoding: not connected.", the cut being on another line without the id.
TEST(LibpqPoolTest, ACallOnAConnectionTheWatchdogCutSaysSo) {
  absl::StatusOr<std::string> url = SharedPostgres().CreateDatabase("libpq_pool_stall");
  ASSERT_TRUE(url.ok()) << url.status();
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(SharedPostgres().port());
  ASSERT_TRUE(relay.ok()) << relay.status();
  LibpqPoolOptions options;
  options.url = absl::StrCat("postgresql://postgres@", (*relay)->endpoint(), "/libpq_pool_stall");
  options.size = 1;
  options.statement_timeout = absl::Seconds(1);  // stall after 6 s
  std::unique_ptr<LibpqPool> pool = LibpqPool::Create(options);
  {
    absl::StatusOr<LibpqPool::Lease> lease = pool->Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    ASSERT_TRUE(LibpqExec(lease->conn(), "SELECT 1").ok());
    // An answered call's status is its own.
    const absl::Status unchanged = absl::UnavailableError("x");
    EXPECT_EQ(lease->Explain(unchanged), unchanged);
  }
  (*relay)->DiscardServerBytes();
  absl::StatusOr<LibpqPool::Lease> lease = pool->Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  const absl::Status lost = LibpqExec(lease->conn(), "SELECT 1");
  ASSERT_FALSE(lost.ok());
  const absl::Status explained = lease->Explain(lost);
  EXPECT_EQ(explained.code(), absl::StatusCode::kUnavailable) << explained;
  EXPECT_EQ(runtime::ErrorInfoOf(explained).reason, "DEPENDENCY_UNAVAILABLE") << explained;
  EXPECT_THAT(std::string(explained.message()),
              ::testing::StartsWith("PostgreSQL did not answer a request for 6s"));
}

}  // namespace
}  // namespace plantmesh::telemetry
