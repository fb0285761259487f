#include <chrono>
#include <functional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/redis_client.h"
#include "server/runtime/service_tables.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::RedisServer;
using ::plantmesh::testing::SharedPostgres;

// Polls `condition` until it holds or `timeout` passes; the relay runs on its own
// thread and offers nothing to wait on.
bool Eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class OutboxRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int database = 0;
    absl::StatusOr<std::string> url =
        SharedPostgres().CreateDatabase(absl::StrCat("relay_", ++database));
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    ASSERT_TRUE(ApplyServiceTables(url_, "relay").ok());  // the outbox, as every service has it
    PgPoolOptions options;
    options.url = url_;
    options.size = 2;
    absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Open(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_server_ = *std::move(redis);
    redis_options_.port = redis_server_->port();
    redis_options_.connect_timeout = absl::Milliseconds(200);
    redis_options_.command_timeout = absl::Seconds(1);
  }

  // Inserts events "<prefix>-0".."<prefix>-(n-1)" with binary payloads; returns their
  // event ids in insertion order.
  std::vector<std::string> InsertEvents(const std::string& prefix, int n) {
    std::vector<std::string> ids;
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    for (int i = 0; i < n; ++i) {
      std::string payload = absl::StrCat(prefix, "-", i, std::string("\0\xff", 2));
      pqxx::binarystring bytes(payload.data(), payload.size());
      ids.push_back(tx.exec_params1("INSERT INTO relay.outbox (event_id, payload) VALUES "
                                    "(gen_random_uuid(), $1) RETURNING event_id::text",
                                    bytes)[0]
                        .as<std::string>());
    }
    tx.commit();
    return ids;
  }

  int64_t Unpublished() {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    return tx.exec1("SELECT count(*) FROM relay.outbox")[0].as<int64_t>();
  }

  // (event_id, payload) of every stream entry, in stream order.
  std::vector<std::pair<std::string, std::string>> StreamContents() {
    RedisClient redis(redis_options_);
    absl::StatusOr<std::vector<RawStreamEntry>> entries =
        redis.XRead(kStream, "0-0", 100000, absl::ZeroDuration());
    EXPECT_TRUE(entries.ok()) << entries.status();
    std::vector<std::pair<std::string, std::string>> out;
    for (const RawStreamEntry& e : entries.value_or(std::vector<RawStreamEntry>{})) {
      EXPECT_EQ(e.fields.size(), 2u);
      if (e.fields.size() == 2) out.emplace_back(e.fields[0].second, e.fields[1].second);
    }
    return out;
  }

  std::vector<OutboxSource> Sources() { return {{"relay", kStream, 100000}}; }

  static constexpr char kStream[] = "plantmesh:relay:events";
  std::string url_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<RedisServer> redis_server_;
  RedisOptions redis_options_;
};

TEST_F(OutboxRelayTest, PublishesRowsInOrderAndMarksThem) {
  std::vector<std::string> ids = InsertEvents("created", 1200);  // more than one batch
  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  EXPECT_TRUE(relay.redis_healthy());

  auto stream = StreamContents();
  ASSERT_EQ(stream.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(stream[i].first, ids[i]);
    EXPECT_EQ(stream[i].second, absl::StrCat("created-", i, std::string("\0\xff", 2)));
  }
}

TEST_F(OutboxRelayTest, KeepsRowsWhileRedisIsDownAndPublishesThemAfter) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  std::vector<std::string> before = InsertEvents("before", 3);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));

  redis_server_->Stop();
  std::vector<std::string> during = InsertEvents("during", 5);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return !relay.redis_healthy(); }));
  EXPECT_EQ(Unpublished(), 5);

  // Redis came back empty (no persistence): the rows kept in PostgreSQL go out again.
  ASSERT_TRUE(redis_server_->Restart().ok());
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  EXPECT_TRUE(Eventually([&] { return relay.redis_healthy(); }));
  auto stream = StreamContents();
  ASSERT_EQ(stream.size(), during.size());
  for (size_t i = 0; i < during.size(); ++i) EXPECT_EQ(stream[i].first, during[i]);
}

TEST_F(OutboxRelayTest, StopPublishesWhatIsPending) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  std::vector<std::string> ids = InsertEvents("late", 7);
  relay.Stop();  // no Notify: the drain on Stop must send them
  EXPECT_EQ(Unpublished(), 0);
  EXPECT_EQ(StreamContents().size(), ids.size());
}

TEST_F(OutboxRelayTest, TwoReplicasShareTheWorkWithoutLosingEvents) {
  OutboxRelay first(pool_.get(), redis_options_, Sources());
  OutboxRelay second(pool_.get(), redis_options_, Sources());
  first.Start();
  second.Start();
  std::vector<std::string> ids;
  for (int round = 0; round < 10; ++round) {
    std::vector<std::string> more = InsertEvents(absl::StrCat("round", round), 150);
    ids.insert(ids.end(), more.begin(), more.end());
    first.Notify();
    second.Notify();
  }
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  first.Stop();
  second.Stop();

  // Every event exactly once: the publisher lease keeps the replicas off each other's rows.
  auto stream = StreamContents();
  std::set<std::string> published;
  for (const auto& [event_id, payload] : stream) published.insert(event_id);
  EXPECT_EQ(stream.size(), ids.size());
  EXPECT_EQ(published, std::set<std::string>(ids.begin(), ids.end()));
}

TEST_F(OutboxRelayTest, TrimsTheStreamToRetain) {
  InsertEvents("many", 2000);
  OutboxRelay relay(pool_.get(), redis_options_, {{"relay", kStream, 100}});
  relay.Start();
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  relay.Stop();
  RedisClient redis(redis_options_);
  absl::StatusOr<StreamInfo> info = redis.XInfoStream(kStream);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->entries_added, 2000);
  // MAXLEN ~ trims whole nodes: near `retain`, never below it.
  EXPECT_GE(info->length, 100);
  EXPECT_LT(info->length, 500);
}

TEST_F(OutboxRelayTest, TwoRelaysKeepCommitOrderAndAFailingSourceHoldsNoOneBack) {
  // Source "missing" has no outbox table: every batch of it fails. It comes first, so a
  // relay that gave up a round on the first failure would never publish "relay".
  const std::vector<OutboxSource> sources = {{"missing", "plantmesh:missing:events", 100000},
                                             {"relay", kStream, 100000}};
  OutboxRelay first(pool_.get(), redis_options_, sources);
  OutboxRelay second(pool_.get(), redis_options_, sources);
  first.Start();
  second.Start();
  // One row per transaction, committed one after the other (as successive changes to
  // one aggregate are), both relays woken after each commit.
  std::vector<std::string> ids;
  pqxx::connection conn(url_);
  for (int i = 0; i < 400; ++i) {
    pqxx::work tx(conn);
    ids.push_back(tx.exec_params1("INSERT INTO relay.outbox (event_id, payload) VALUES "
                                  "(gen_random_uuid(), $1) RETURNING event_id::text",
                                  absl::StrCat("change-", i))[0]
                      .as<std::string>());
    tx.commit();
    first.Notify();
    second.Notify();
  }
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));

  // The stream holds every event once, in commit order, whichever relay sent it.
  std::vector<std::string> published;
  for (const auto& [event_id, payload] : StreamContents()) published.push_back(event_id);
  EXPECT_EQ(published, ids);

  // The lag of each source: the failing one says why it has no figure.
  std::vector<OutboxLag> lag = first.Lag();
  ASSERT_EQ(lag.size(), 2u);
  EXPECT_EQ(lag[0].schema, "missing");
  EXPECT_FALSE(lag[0].status.ok());
  EXPECT_EQ(lag[1].schema, "relay");
  EXPECT_TRUE(lag[1].status.ok()) << lag[1].status;
  EXPECT_EQ(lag[1].pending_rows, 0);
  EXPECT_EQ(lag[1].oldest_age, absl::ZeroDuration());
  first.Stop();
  second.Stop();
}

TEST_F(OutboxRelayTest, LagCountsPendingRowsAndTheOldestOnesAge) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources());  // not started
  InsertEvents("waiting", 3);
  const absl::Time inserted = absl::Now();
  ASSERT_TRUE(Eventually([&] { return absl::Now() - inserted > absl::Milliseconds(50); }));
  std::vector<OutboxLag> lag = relay.Lag();
  ASSERT_EQ(lag.size(), 1u);
  ASSERT_TRUE(lag[0].status.ok()) << lag[0].status;
  EXPECT_EQ(lag[0].stream_key, kStream);
  EXPECT_EQ(lag[0].pending_rows, 3);
  EXPECT_GE(lag[0].oldest_age, absl::Milliseconds(50));
  EXPECT_LT(lag[0].oldest_age, absl::Minutes(5));
}

}  // namespace
}  // namespace plantmesh::runtime
