#include "server/runtime/migrations.h"

#include <pqxx/pqxx>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::SharedPostgres;

std::string NewDatabase(const std::string& name) {
  absl::StatusOr<std::string> url = SharedPostgres().CreateDatabase(name);
  EXPECT_TRUE(url.ok()) << url.status();
  return url.value_or("");
}

int64_t QueryInt(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  return tx.exec1(sql)[0].as<int64_t>();
}

const std::vector<Migration>& PlantMigrations() {
  static const std::vector<Migration> migrations = {
      // Deliberately out of order: versions decide, not positions.
      {2, "0002_seed_zone.sql", "INSERT INTO plant.zones (name) VALUES ('paint');"},
      {1, "0001_create_zones.sql",
       "CREATE TABLE plant.zones (id serial PRIMARY KEY, name text NOT NULL);\n"
       "CREATE INDEX ON plant.zones (name);"},
  };
  return migrations;
}

TEST(MigrationsTest, ConcurrentStartsApplyEachMigrationOnce) {
  const std::string url = NewDatabase("migrations_concurrent");
  absl::Status first, second;
  std::thread a([&] { first = ApplyMigrations(url, "plant", PlantMigrations()); });
  std::thread b([&] { second = ApplyMigrations(url, "plant", PlantMigrations()); });
  a.join();
  b.join();
  EXPECT_TRUE(first.ok()) << first;
  EXPECT_TRUE(second.ok()) << second;
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM plant.zones"), 1);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM plant.schema_migrations"), 2);
  EXPECT_EQ(QueryInt(url, "SELECT max(version) FROM plant.schema_migrations"), 2);
}

TEST(MigrationsTest, RerunIsANoOpAndNewerMigrationsAreAppliedLater) {
  const std::string url = NewDatabase("migrations_rerun");
  ASSERT_TRUE(ApplyMigrations(url, "plant", PlantMigrations()).ok());
  ASSERT_TRUE(ApplyMigrations(url, "plant", PlantMigrations()).ok());
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM plant.zones"), 1);

  std::vector<Migration> newer = PlantMigrations();
  newer.push_back({3, "0003_seed_body.sql", "INSERT INTO plant.zones (name) VALUES ('body');"});
  ASSERT_TRUE(ApplyMigrations(url, "plant", newer).ok());
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM plant.zones"), 2);
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM plant.schema_migrations"), 3);
}

// Outside testing: an older server started silently on a database a newer one had
// migrated, and on one whose version 2 was another file. Both are refused, named.
TEST(MigrationsTest, ADatabaseAnotherBuildMigratedIsRefused) {
  const std::string url = NewDatabase("migrations_newer");
  std::vector<Migration> newer = PlantMigrations();
  newer.push_back({3, "0003_seed_body.sql", "INSERT INTO plant.zones (name) VALUES ('body');"});
  ASSERT_TRUE(ApplyMigrations(url, "plant", newer).ok());
  absl::Status older = ApplyMigrations(url, "plant", PlantMigrations());
  EXPECT_EQ(older.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(older.message()),
              ::testing::HasSubstr("schema plant has migration 3 (0003_seed_body.sql) that this "
                                   "server does not know (it knows up to 2): a newer PlantMesh "
                                   "server migrated this database"));

  std::vector<Migration> other = PlantMigrations();
  other[0].name = "0002_seed_other.sql";  // version 2 (the list is out of order)
  other.push_back(newer[2]);
  absl::Status renamed = ApplyMigrations(url, "plant", other);
  EXPECT_EQ(renamed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(renamed.message()), ::testing::HasSubstr("another build"));
}

TEST(MigrationsTest, FailingMigrationLeavesNoTraceAndNamesFileAndReason) {
  const std::string url = NewDatabase("migrations_broken");
  std::vector<Migration> migrations = PlantMigrations();
  migrations.push_back({3, "0003_half_done.sql",
                        "CREATE TABLE plant.shifts (id int);\n"
                        "ALTER TABLE plant.no_such_table ADD COLUMN x int;"});
  absl::Status status = ApplyMigrations(url, "plant", migrations);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("0003_half_done.sql"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("no_such_table"), absl::string_view::npos) << status;

  // The earlier migrations stay applied; nothing of the failed one does.
  EXPECT_EQ(QueryInt(url, "SELECT max(version) FROM plant.schema_migrations"), 2);
  EXPECT_EQ(QueryInt(url,
                     "SELECT count(*) FROM pg_tables WHERE schemaname = 'plant' AND "
                     "tablename = 'shifts'"),
            0);
}

// A migration longer than the request pool's statement timeout (10 s by default), with a
// second replica starting meanwhile: neither fails, the second waits and finds it done.
TEST(MigrationsTest, ReplicasWaitForAMigrationLongerThanThePoolTimeouts) {
  const std::string url = NewDatabase("migrations_long");
  const std::vector<Migration> slow = {
      {1, "0001_slow.sql",
       "SELECT pg_sleep(10.5);\n"
       "CREATE TABLE plant.zones (id serial PRIMARY KEY, name text NOT NULL);"}};
  absl::Status first, second;
  std::thread a([&] { first = ApplyMigrations(url, "plant", slow); });
  std::thread b([&] { second = ApplyMigrations(url, "plant", slow); });
  a.join();
  b.join();
  EXPECT_TRUE(first.ok()) << first;
  EXPECT_TRUE(second.ok()) << second;
  EXPECT_EQ(QueryInt(url, "SELECT count(*) FROM plant.schema_migrations"), 1);
}

TEST(MigrationsTest, WaitForTheMigrationLockIsBounded) {
  const std::string url = NewDatabase("migrations_lock_wait");
  pqxx::connection holder(url);
  pqxx::nontransaction hold(holder);
  hold.exec("SELECT pg_advisory_lock(hashtext('plantmesh:plant'))");

  absl::Status status = ApplyMigrations(url, "plant", PlantMigrations(), absl::Milliseconds(200));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("schema plant"), absl::string_view::npos) << status;

  hold.exec("SELECT pg_advisory_unlock(hashtext('plantmesh:plant'))");
  EXPECT_TRUE(ApplyMigrations(url, "plant", PlantMigrations(), absl::Milliseconds(200)).ok());
}

TEST(MigrationsTest, RefusesDuplicateVersions) {
  std::vector<Migration> migrations = PlantMigrations();
  migrations.push_back({2, "0002_again.sql", "SELECT 1"});
  absl::Status status = ApplyMigrations("postgresql://127.0.0.1:1/none", "plant", migrations);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

TEST(MigrationsTest, UnreachableServerIsUnavailable) {
  absl::Status status = ApplyMigrations(
      "postgresql://127.0.0.1:" + std::to_string(::plantmesh::testing::FreePort()) + "/none",
      "plant", PlantMigrations());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

}  // namespace
}  // namespace plantmesh::runtime
