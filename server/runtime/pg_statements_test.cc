#include "server/runtime/pg_statements.h"

#include <pqxx/pqxx>

#include "gtest/gtest.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::SharedPostgres;

// Two services on one pool, both with a statement named `history_of` over their own
// schema: each call runs its own service's SQL.
TEST(PgStatementsTest, TwoServicesShareAPoolWithTheSameStatementName) {
  absl::StatusOr<std::string> url = SharedPostgres().CreateDatabase("pg_statements_two");
  ASSERT_TRUE(url.ok()) << url.status();
  {
    pqxx::connection conn(*url);
    pqxx::work tx(conn);
    tx.exec(
        "CREATE SCHEMA defect; CREATE TABLE defect.history (v text);"
        "INSERT INTO defect.history VALUES ('defect');"
        "CREATE SCHEMA planning; CREATE TABLE planning.history (v text);"
        "INSERT INTO planning.history VALUES ('planning');");
    tx.commit();
  }
  PgStatements defect("defect"), planning("planning");
  const PgStatement defect_history = defect.Add("history_of", "SELECT v FROM defect.history");
  const PgStatement planning_history = planning.Add("history_of", "SELECT v FROM planning.history");
  EXPECT_EQ(defect_history.name(), "defect.history_of");
  EXPECT_EQ(planning_history.name(), "planning.history_of");

  PgPoolOptions options;
  options.url = *url;
  options.size = 2;
  options.on_connect.push_back([&](pqxx::connection& conn) { defect.Prepare(conn); });
  options.on_connect.push_back([&](pqxx::connection& conn) { planning.Prepare(conn); });
  absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Open(options);
  ASSERT_TRUE(pool.ok()) << pool.status();

  std::string from_defect, from_planning;
  absl::Status status = (*pool)->Run([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    from_defect = tx.exec_prepared1(defect_history)[0].as<std::string>();
    from_planning = tx.exec_prepared1(planning_history)[0].as<std::string>();
    tx.commit();
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(from_defect, "defect");
  EXPECT_EQ(from_planning, "planning");
}

TEST(PgStatementsDeathTest, ANameTwiceInOneServiceAbortsAtRegistration) {
  EXPECT_DEATH(
      {
        PgStatements statements("defect");
        statements.Add("history_of", "SELECT 1");
        statements.Add("history_of", "SELECT 2");
      },
      "defect.history_of registered twice");
}

}  // namespace
}  // namespace plantmesh::runtime
