#include "server/runtime/pg_audit_sink.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_pool.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::SharedPostgres;

class PgAuditSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int database = 0;
    absl::StatusOr<std::string> url =
        SharedPostgres().CreateDatabase(absl::StrCat("audit_", ++database));
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    ASSERT_TRUE(ApplyMigrations(url_, "audit", AuditMigrations()).ok());
    PgPoolOptions options;
    options.url = url_;
    options.size = 2;
    absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Open(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
  }

  pqxx::result Query(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    return tx.exec(sql);
  }

  static AuditRecord MakeRecord(int i) {
    AuditRecord r;
    r.time = absl::FromUnixSeconds(1700000000 + i);
    r.identity = absl::StrCat("spiffe://plant.example/user/mechanic-", i % 7);
    r.roles = {"mechanic", "foreman"};
    r.method = "/plantmesh.defect.v1.DefectService/StartRepair";
    r.trace_id = absl::StrCat("trace-", i);
    r.status_code = i % 3;
    r.status_message = i % 3 == 0 ? "" : "repair already started";
    r.request_json = absl::StrCat(R"({"defect":"defects/)", i, R"("})");
    return r;
  }

  std::string url_;
  std::unique_ptr<PgPool> pool_;
};

TEST_F(PgAuditSinkTest, FlushMakesEveryRecordVisible) {
  std::unique_ptr<AuditSink> sink = MakePgAuditSink(pool_.get());
  constexpr int kRecords = 1234;  // several batches and a partial one
  for (int i = 0; i < kRecords; ++i) sink->Record(MakeRecord(i));
  sink->Flush(absl::Seconds(20));

  EXPECT_EQ(Query("SELECT count(*) FROM audit.audit_log")[0][0].as<int>(), kRecords);
  pqxx::result row = Query(
      "SELECT identity, array_to_string(roles, '|'), method, trace_id, status_code, "
      "status_message, request->>'defect', extract(epoch FROM time)::bigint "
      "FROM audit.audit_log WHERE trace_id = 'trace-8'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<std::string>(), "spiffe://plant.example/user/mechanic-1");
  EXPECT_EQ(row[0][1].as<std::string>(), "mechanic|foreman");
  EXPECT_EQ(row[0][2].as<std::string>(), "/plantmesh.defect.v1.DefectService/StartRepair");
  EXPECT_EQ(row[0][4].as<int>(), 2);
  EXPECT_EQ(row[0][5].as<std::string>(), "repair already started");
  EXPECT_EQ(row[0][6].as<std::string>(), "defects/8");
  EXPECT_EQ(row[0][7].as<int64_t>(), 1700000008);
}

TEST_F(PgAuditSinkTest, OddValuesAreStoredNotDropped) {
  std::unique_ptr<AuditSink> sink = MakePgAuditSink(pool_.get());
  AuditRecord odd = MakeRecord(1);
  odd.trace_id = "odd";
  odd.roles = {"with \"quotes\"", "back\\slash", "comma,brace}"};
  odd.request_json = "not json {";
  odd.status_message = std::string("nul\0byte", 8);
  sink->Record(odd);
  AuditRecord empty = MakeRecord(2);
  empty.trace_id = "empty";
  empty.roles.clear();
  empty.request_json.clear();
  sink->Record(empty);
  sink->Flush(absl::Seconds(10));

  pqxx::result row = Query(
      "SELECT roles[1], roles[2], roles[3], request #>> '{}', status_message "
      "FROM audit.audit_log WHERE trace_id = 'odd'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<std::string>(), "with \"quotes\"");
  EXPECT_EQ(row[0][1].as<std::string>(), "back\\slash");
  EXPECT_EQ(row[0][2].as<std::string>(), "comma,brace}");
  EXPECT_EQ(row[0][3].as<std::string>(), "not json {");
  EXPECT_EQ(row[0][4].as<std::string>(), "nulbyte");
  pqxx::result blank = Query(
      "SELECT cardinality(roles), request IS NULL FROM audit.audit_log WHERE trace_id = 'empty'");
  ASSERT_EQ(blank.size(), 1u);
  EXPECT_EQ(blank[0][0].as<int>(), 0);
  EXPECT_TRUE(blank[0][1].as<bool>());
}

// The in-transaction path (a change's own row) shares the sink's rules: whatever the
// client sent, the row is storable, so it can never fail the change it commits with.
TEST_F(PgAuditSinkTest, InTransactionRowsStoreWhateverTheClientSent) {
  AuditRecord nul = MakeRecord(1);
  nul.trace_id = "in-tx-nul";
  nul.request_json = R"({"description":"a\u0000b","\u0000":["\u0000"],"n":1})";
  nul.identity = std::string("spiffe://p/user/a\0b", 19);
  AuditRecord bytes = MakeRecord(2);
  bytes.trace_id = "in-tx-bytes-\xff\xfe";
  bytes.roles = {"ad\"min", "x\\y", "bad\xc3\x28"};
  bytes.request_json = "not json \xc3\x28";
  bytes.status_message = "\xe2\x82";  // a character cut short
  AuditRecord huge = MakeRecord(3);
  huge.trace_id = "in-tx-huge";
  huge.request_json = absl::StrCat(R"({"description":")", std::string(200000, 'x'), R"("})");
  ASSERT_TRUE(pool_
                  ->Run([&](pqxx::connection& conn) {
                    pqxx::work tx(conn);
                    for (const AuditRecord& r : {nul, bytes, huge}) WriteAuditInTransaction(tx, r);
                    tx.commit();
                    return absl::OkStatus();
                  })
                  .ok());
  pqxx::result rows = Query(
      "SELECT trace_id, identity, roles::text, request::text, status_message, "
      "request->>'truncated' FROM audit.audit_log ORDER BY id");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0][0].as<std::string>(), "in-tx-nul");
  EXPECT_EQ(rows[0][1].as<std::string>(), "spiffe://p/user/ab");
  EXPECT_EQ(rows[0][3].as<std::string>(), R"({"": [""], "n": 1, "description": "ab"})");
  EXPECT_EQ(rows[1][0].as<std::string>(), "in-tx-bytes-\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(rows[1][2].as<std::string>(), "{\"ad\\\"min\",\"x\\\\y\",bad\xef\xbf\xbd(}");
  EXPECT_EQ(rows[1][3].as<std::string>(), "\"not json \xef\xbf\xbd(\"");
  EXPECT_EQ(rows[1][4].as<std::string>(), "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(rows[2][5].as<std::string>(), "true");
  // One SQL text for a change's CTE: the same row from parameters $first..$first+7.
  EXPECT_NE(AuditRowSql(16, "created").find("$16::timestamptz"), std::string::npos);
  EXPECT_NE(AuditRowSql(16, "created").find("NULLIF($23::text, '')::jsonb FROM created"),
            std::string::npos);
}

TEST_F(PgAuditSinkTest, LargeRequestsAndMessagesAreStoredTruncated) {
  std::unique_ptr<AuditSink> sink = MakePgAuditSink(pool_.get());
  AuditRecord big = MakeRecord(3);
  big.trace_id = "big";
  const std::string note(1 << 20, '"');  // escaping doubles every byte of the prefix
  big.request_json =
      absl::StrCat(R"({"note":")", absl::StrReplaceAll(note, {{"\"", "\\\""}}), R"("})");
  big.status_message = std::string(100000, 'x');
  sink->Record(big);
  sink->Flush(absl::Seconds(10));

  pqxx::result row = Query(
      "SELECT request->>'truncated', request->>'bytes', request->>'prefix', "
      "length(request::text), length(status_message) "
      "FROM audit.audit_log WHERE trace_id = 'big'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<std::string>(), "true");
  EXPECT_EQ(row[0][1].as<size_t>(), big.request_json.size());
  EXPECT_EQ(row[0][2].as<std::string>().rfind(R"({"note":"\")", 0), 0u);
  EXPECT_LE(row[0][3].as<int>(), 8 * 1024 + 64);  // jsonb's text form adds spaces
  EXPECT_LE(row[0][4].as<int>(), 1100);
}

TEST_F(PgAuditSinkTest, QueueIsBoundedByBytesThenRecordWaitsForTheDatabase) {
  PgPoolOptions options;
  options.url = url_;
  options.size = 1;
  options.acquire_timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Open(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  std::unique_ptr<AuditSink> sink = MakePgAuditSink(pool->get());
  // Holding the only connection stalls the writer: records pile up in the queue.
  std::optional<PgPool::Lease> held;
  {
    absl::StatusOr<PgPool::Lease> lease = (*pool)->Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    held.emplace(*std::move(lease));
  }
  // Each record keeps about 8 KiB of its request: 64 MiB hold about 8000 of them,
  // plus the batch of up to 500 the writer took out and is trying to store.
  constexpr int kRecords = 12000;
  std::atomic<int> recorded{0};
  std::thread producer([&] {
    for (int i = 0; i < kRecords; ++i) {
      AuditRecord r = MakeRecord(i);
      r.request_json = absl::StrCat(R"({"note":")", std::string(10000, 'n'), R"("})");
      sink->Record(std::move(r));
      recorded.fetch_add(1);
    }
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (recorded.load() < 7000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // The producer stops short of the end while the database is out of reach...
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_GE(recorded.load(), 7000);
  EXPECT_LT(recorded.load(), 9000);
  // ...and goes on, losing nothing, once it is back.
  held.reset();
  producer.join();
  // A bound, not a wait: Flush returns once all is written. Under ThreadSanitizer on a
  // busy machine the 12,000 rows (96 MiB) took over a minute.
  sink->Flush(absl::Minutes(5));
  EXPECT_EQ(Query("SELECT count(*) FROM audit.audit_log")[0][0].as<int>(), kRecords);
}

TEST_F(PgAuditSinkTest, DestroyingTheSinkWritesWhatIsQueued) {
  {
    std::unique_ptr<AuditSink> sink = MakePgAuditSink(pool_.get());
    for (int i = 0; i < 42; ++i) sink->Record(MakeRecord(i));
  }
  EXPECT_EQ(Query("SELECT count(*) FROM audit.audit_log")[0][0].as<int>(), 42);
}

}  // namespace
}  // namespace plantmesh::runtime
