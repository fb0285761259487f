#include "server/runtime/pg_request_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/runtime/errors.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/request_log_pruner.h"
#include "server/runtime/service_tables.h"
#include "tests/support/poll.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

// The request log of schema `svc`, created from the DDL every service copies.
class PgRequestLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int database = 0;
    absl::StatusOr<std::string> url = plantmesh::testing::SharedPostgres().CreateDatabase(
        absl::StrCat("request_log_", ++database));
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    // The runtime's tables, as every service's schema gets them.
    ASSERT_TRUE(ApplyServiceTables(url_, "svc").ok());
    PgPoolOptions options;
    options.url = url_;
    options.size = 3;
    options.on_connect.push_back([this](pqxx::connection& conn) { log_.Prepare(conn); });
    absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Open(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
  }

  // One idempotent "change": claims `key`, then records `response` unless `fail`.
  absl::StatusOr<std::optional<PgRequestLog::Entry>> Call(const IdempotencyKey& key,
                                                          const std::string& response,
                                                          bool fail = false) {
    std::optional<PgRequestLog::Entry> seen;
    absl::Status status = pool_->Run([&](pqxx::connection& conn) -> absl::Status {
      pqxx::work tx(conn);
      absl::StatusOr<std::optional<PgRequestLog::Entry>> claimed = log_.Claim(tx, key);
      if (!claimed.ok()) return claimed.status();
      seen = *claimed;
      if (seen) return absl::OkStatus();
      if (fail) return absl::FailedPreconditionError("the change failed");
      log_.Record(tx, key, response, "things/1");
      tx.commit();
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return seen;
  }

  std::string url_;
  PgRequestLog log_{"svc"};
  std::unique_ptr<PgPool> pool_;
};

const IdempotencyKey kAnna{"spiffe://p/user/anna", "svc.S.Update", "r-1", "payload-a"};

TEST_F(PgRequestLogTest, FirstCallRecordsRetriesGetTheResponseReuseIsRefused) {
  absl::StatusOr<std::optional<PgRequestLog::Entry>> first = Call(kAnna, "response-1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->has_value());

  absl::StatusOr<std::optional<PgRequestLog::Entry>> retry = Call(kAnna, "response-2");
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->has_value());
  EXPECT_EQ((*retry)->response, "response-1");
  EXPECT_EQ((*retry)->resource, "things/1");

  IdempotencyKey other_payload = kAnna;
  other_payload.payload_sha256 = "payload-b";
  absl::StatusOr<std::optional<PgRequestLog::Entry>> reused = Call(other_payload, "x");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorInfoOf(reused.status()).reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(ErrorInfoOf(reused.status()).metadata["resource"], "things/1");

  // Another caller, another method: calls of their own.
  IdempotencyKey bob = other_payload;
  bob.identity = "spiffe://p/user/bob";
  EXPECT_FALSE(Call(bob, "bob's")->has_value());
  IdempotencyKey other_method = other_payload;
  other_method.method = "svc.S.Delete";
  EXPECT_FALSE(Call(other_method, "deleted")->has_value());
  EXPECT_EQ(*(*Call(bob, ""))->response, "bob's");
}

TEST_F(PgRequestLogTest, AFailedChangeRecordsNothing) {
  EXPECT_EQ(Call(kAnna, "", /*fail=*/true).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::optional<PgRequestLog::Entry>> again = Call(kAnna, "response");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());  // evaluated afresh
}

// Two calls with one key at the same time: the second waits for the first's transaction
// and answers with its response, whatever the timing.
TEST_F(PgRequestLogTest, ConcurrentCallsWithOneKeyChangeOnce) {
  for (int round = 0; round < 10; ++round) {
    IdempotencyKey key = kAnna;
    key.request_id = absl::StrCat("race-", round);
    std::atomic<int> made{0};
    std::atomic<int> replayed{0};
    auto run = [&] {
      absl::StatusOr<std::optional<PgRequestLog::Entry>> result = Call(key, "the response");
      ASSERT_TRUE(result.ok()) << result.status();
      if (result->has_value()) {
        EXPECT_EQ((*result)->response, "the response");
        ++replayed;
      } else {
        ++made;
      }
    };
    std::thread a(run);
    std::thread b(run);
    a.join();
    b.join();
    EXPECT_EQ(made.load(), 1);
    EXPECT_EQ(replayed.load(), 1);
  }
}

// A claim holds the key until its transaction ends: a concurrent claim waits, then sees
// the committed entry (the case the claim statement alone cannot see).
TEST_F(PgRequestLogTest, AClaimWaitsForTheFirstTransaction) {
  pqxx::connection first_conn(url_);
  log_.Prepare(first_conn);
  pqxx::work first(first_conn);
  ASSERT_FALSE(log_.Claim(first, kAnna)->has_value());

  std::atomic<bool> done{false};
  absl::StatusOr<std::optional<PgRequestLog::Entry>> second;
  std::thread waiter([&] {
    second = Call(kAnna, "second");
    done = true;
  });
  // The waiter blocks on the key: wait until PostgreSQL shows its lock wait.
  pqxx::connection observer(url_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (;;) {
    pqxx::nontransaction tx(observer);
    if (tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0]
            .as<int>() > 0) {
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the second claim never waited";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(done.load());
  log_.Record(first, kAnna, "first", "things/1");
  first.commit();
  waiter.join();
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ((*second)->response, "first");
}

// Ages an entry as if it had been recorded `days` ago.
void Age(const std::string& url, const std::string& schema, const std::string& request_id,
         int days) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  tx.exec_params("UPDATE " + schema +
                     ".request_log SET create_time = now() - make_interval(days => $2) "
                     "WHERE request_id = $1",
                 request_id, days);
  tx.commit();
}

int64_t Entries(const std::string& url, const std::string& schema) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  return tx.exec1("SELECT count(*) FROM " + schema + ".request_log")[0].as<int64_t>();
}

// Entries older than the retention go, in batches, from every schema; younger ones
// stay and still answer retries; a reused id whose entry expired is a new call.
TEST_F(PgRequestLogTest, ThePrunerDeletesEntriesOlderThanTheRetention) {
  ASSERT_TRUE(ApplyServiceTables(url_, "svc2").ok());
  for (int i = 0; i < 7; ++i) {
    IdempotencyKey key = kAnna;
    key.request_id = absl::StrCat("old-", i);
    ASSERT_FALSE(Call(key, "old")->has_value());
    Age(url_, "svc", key.request_id, 31);
  }
  ASSERT_FALSE(Call(kAnna, "young")->has_value());
  Age(url_, "svc", kAnna.request_id, 29);
  {
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    tx.exec(
        "INSERT INTO svc2.request_log (identity, method, request_id, create_time) VALUES "
        "('a', 'm', 'old-2', now() - interval '40 days'), ('a', 'm', 'new', now())");
    tx.commit();
  }

  RequestLogPrunerOptions options;
  options.retention = absl::Hours(24 * 30);
  options.batch_rows = 3;  // 7 old entries: three statements
  RequestLogPruner pruner(pool_.get(), {"svc", "svc2"}, options);
  absl::StatusOr<int64_t> deleted = pruner.RunOnce();
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 8);
  EXPECT_EQ(Entries(url_, "svc"), 1);
  EXPECT_EQ(Entries(url_, "svc2"), 1);
  EXPECT_EQ(*pruner.RunOnce(), 0);

  // The young entry still answers its retry; an expired id is evaluated afresh.
  EXPECT_EQ(*(*Call(kAnna, "again"))->response, "young");
  IdempotencyKey expired = kAnna;
  expired.request_id = "old-3";
  expired.payload_sha256 = "another payload";
  EXPECT_FALSE(Call(expired, "new call")->has_value());
}

// A replica that finds another one pruning a schema skips it this round; the thread
// runs a round at start.
TEST_F(PgRequestLogTest, ThePrunerSkipsASchemaAnotherReplicaPrunesAndRunsAtStart) {
  ASSERT_FALSE(Call(kAnna, "old")->has_value());
  Age(url_, "svc", kAnna.request_id, 400);
  RequestLogPruner pruner(pool_.get(), {"svc"}, RequestLogPrunerOptions{});
  {
    pqxx::connection other(url_);
    pqxx::work holder(other);
    holder.exec("SELECT pg_advisory_xact_lock(hashtext('svc.request_log expiry'))");
    EXPECT_EQ(*pruner.RunOnce(), 0);
    EXPECT_EQ(Entries(url_, "svc"), 1);
  }
  pruner.Start();
  EXPECT_TRUE(
      plantmesh::testing::PollUntil([&] { return Entries(url_, "svc") == 0; }, absl::Seconds(30)));
  pruner.Stop();
}

}  // namespace
}  // namespace plantmesh::runtime
