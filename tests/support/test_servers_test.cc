// The support library against the real servers it starts.
#include "tests/support/test_servers.h"

#include <pqxx/pqxx>

#include "gtest/gtest.h"
#include "tests/support/child_process.h"

namespace plantmesh::testing {
namespace {

TEST(FreePortTest, ReturnsAUsablePort) {
  int port = FreePort();
  EXPECT_GT(port, 1024);
  EXPECT_LT(port, 65536);
}

// How a child plantmesh-server's sanitizer finding is told apart from its other output.
TEST(SanitizerReportTest, FindsEachSanitizersReportAndNothingElse) {
  using internal::SanitizerReport;
  EXPECT_EQ(SanitizerReport(""), "");
  EXPECT_EQ(SanitizerReport("LISTENING 127.0.0.1:5\nSUMMARY: 3 calls\nno runtime error: x\n"), "");

  const std::string asan =
      "==7==ERROR: AddressSanitizer: heap-use-after-free on address 0x6\n"
      "    #0 0x5 in Handle server/defect/service.cc:10\n"
      "SUMMARY: AddressSanitizer: heap-use-after-free server/defect/service.cc:10 in Handle";
  EXPECT_EQ(SanitizerReport("LISTENING 127.0.0.1:5\n" + asan + "\n==7==ABORTING\n"), asan);

  const std::string leak =
      "==7==ERROR: LeakSanitizer: detected memory leaks\n"
      "SUMMARY: AddressSanitizer: 48 byte(s) leaked in 1 allocation(s).";
  EXPECT_EQ(SanitizerReport("stopping\n" + leak + "\n"), leak);

  const std::string tsan =
      "WARNING: ThreadSanitizer: data race (pid=7)\n"
      "  Write of size 8 at 0x7b by thread T3:\n"
      "SUMMARY: ThreadSanitizer: data race server/runtime/health.cc:80 in ProbeLoop";
  EXPECT_EQ(SanitizerReport("==================\n" + tsan + "\n==================\n"), tsan);

  const std::string ubsan =
      "server/runtime/pg_pool.cc:42:7: runtime error: signed integer overflow\n"
      "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior server/runtime/pg_pool.cc:42:7 in ";
  EXPECT_EQ(SanitizerReport("info: started\n" + ubsan + "\n"), ubsan);

  // UBSan without print_summary=1: no SUMMARY line, the report runs to the log's end.
  const std::string ubsan_alone =
      "server/runtime/health.cc:77:23: runtime error: signed integer overflow\n"
      "    #0 0x5 in ProbeLoop server/runtime/health.cc:77\n";
  EXPECT_EQ(SanitizerReport("info: started\n" + ubsan_alone), ubsan_alone);
}

TEST(PostgresServerTest, CreatesDatabasesThatAcceptQueries) {
  PostgresServer& postgres = SharedPostgres();
  absl::StatusOr<std::string> url = postgres.CreateDatabase("support_test");
  ASSERT_TRUE(url.ok()) << url.status();
  pqxx::connection connection(*url);
  pqxx::work work(connection);
  EXPECT_EQ(work.exec1("SELECT 40 + 2")[0].as<int>(), 42);
  EXPECT_EQ(work.exec1("SELECT current_database()")[0].as<std::string>(), "support_test");
}

TEST(PostgresServerTest, RefusesUnsafeDatabaseNames) {
  EXPECT_EQ(SharedPostgres().CreateDatabase("x; DROP").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PostgresServerTest, OwnClusterIsRemovedOnDestruction) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> postgres = PostgresServer::Start();
  ASSERT_TRUE(postgres.ok()) << postgres.status();
  EXPECT_NE((*postgres)->port(), SharedPostgres().port());
  std::string url = (*postgres)->admin_url();
  postgres->reset();
  EXPECT_THROW(pqxx::connection connection(url), pqxx::broken_connection);
}

TEST(RedisServerTest, StopsAndRestartsOnTheSamePort) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  int port = (*redis)->port();
  EXPECT_TRUE((*redis)->running());
  (*redis)->Stop();
  EXPECT_FALSE((*redis)->running());
  ASSERT_TRUE((*redis)->Restart().ok());
  EXPECT_TRUE((*redis)->running());
  EXPECT_EQ((*redis)->port(), port);
}

TEST(TestPkiTest, IssuesClientsAndBindsTheirRoles) {
  absl::StatusOr<std::unique_ptr<TestPki>> pki = TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  absl::StatusOr<TestPki::Client> anna = (*pki)->IssueClient("anna", {"foreman"});
  ASSERT_TRUE(anna.ok()) << anna.status();
  EXPECT_EQ(anna->identity, "spiffe://plantmesh.local/user/anna");
  std::string bindings;
  {
    FILE* f = fopen((*pki)->role_bindings_file().c_str(), "r");
    ASSERT_NE(f, nullptr);
    char buffer[4096];
    size_t n = fread(buffer, 1, sizeof(buffer), f);
    fclose(f);
    bindings.assign(buffer, n);
  }
  EXPECT_NE(bindings.find("spiffe://plantmesh.local/user/anna"), std::string::npos);
  EXPECT_NE(bindings.find("foreman"), std::string::npos);
}

}  // namespace
}  // namespace plantmesh::testing
