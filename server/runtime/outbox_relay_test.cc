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
#include "server/runtime/redis_owner.h"
#include "server/runtime/service_tables.h"
#include "tests/support/redis_command_stats.h"
#include "tests/support/tcp_relay.h"
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

  // The stream's generation key ("" when missing).
  std::string Generation() {
    RedisClient redis(redis_options_);
    absl::StatusOr<RedisReply> reply = redis.Command({"GET", absl::StrCat(kStream, ":generation")});
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? reply->str : "";
  }

  // The relay's record of the stream, "<generation>.<last id>" ("" when none).
  std::string Recorded() {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    pqxx::result rows = tx.exec_params(
        "SELECT generation || '.' || last_id FROM relay.outbox_stream WHERE stream_key = $1",
        std::string(kStream));
    return rows.empty() ? "" : rows[0][0].as<std::string>();
  }

  // Puts the record back to `recorded`, as restoring a backup taken then does.
  void RestoreRecord(const std::string& recorded) {
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    const size_t dot = recorded.find('.');
    tx.exec_params(
        "UPDATE relay.outbox_stream SET generation = $1, last_id = $2 WHERE stream_key = $3",
        recorded.substr(0, dot), recorded.substr(dot + 1), std::string(kStream));
    tx.commit();
  }

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

// Outside testing: the Redis claim (redis_owner.h) was made at start only, so a Redis
// flushed while the server ran could be claimed by a server of another database, and
// this one went on publishing into it. The relay claims it in every round.
TEST_F(OutboxRelayTest, ClaimsRedisInEveryRoundAndDoesNotPublishToAnotherDatabasesRedis) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources(), "installation-a");
  relay.Start();
  InsertEvents("before", 2);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  RedisClient admin(redis_options_);
  auto holder = [&] {
    absl::StatusOr<RedisReply> reply = admin.Command({"GET", kRedisInstallationKey});
    return reply.ok() ? reply->str : std::string("(unreadable)");
  };
  EXPECT_EQ(holder(), "installation-a");

  ASSERT_TRUE(admin.Command({"FLUSHALL"}).ok());  // emptied while running
  relay.Notify();
  EXPECT_TRUE(Eventually([&] { return holder() == "installation-a"; })) << holder();

  // Another database's server claimed it meanwhile: nothing is published there.
  ASSERT_TRUE(admin.Command({"SET", kRedisInstallationKey, "installation-b"}).ok());
  InsertEvents("during", 3);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return !relay.redis_healthy(); }));
  EXPECT_TRUE(relay.redis_holds_other_database());  // the latest-value cache reads this
  EXPECT_EQ(Unpublished(), 3);
  EXPECT_EQ(StreamContents().size(), 0u);

  // That database is gone for good and its key deleted: the rows go out.
  ASSERT_TRUE(admin.Command({"DEL", kRedisInstallationKey}).ok());
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  EXPECT_TRUE(Eventually([&] { return relay.redis_healthy(); }));
  EXPECT_EQ(StreamContents().size(), 3u);
  EXPECT_EQ(holder(), "installation-a");
  EXPECT_FALSE(relay.redis_holds_other_database());
}

// Outside testing: a Redis that answers PING but refuses writes (maxmemory reached with
// noeviction, as README advises; a read-only replica) read SERVING: the relay's PING,
// while the failing source waited out its backoff, said Redis was there. Health stays
// NOT_SERVING until the events go out; nothing is lost meanwhile.
TEST_F(OutboxRelayTest, ARedisThatRefusesWritesIsNotHealthyUntilItTakesThem) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  InsertEvents("before", 2);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  RedisClient admin(redis_options_);
  ASSERT_TRUE(admin.Command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}).ok());
  ASSERT_TRUE(admin.Command({"CONFIG", "SET", "maxmemory", "1"}).ok());  // every write refused
  std::vector<std::string> during = InsertEvents("during", 3);
  relay.Notify();
  const bool refused = Eventually([&] { return !relay.redis_healthy(); });
  // Several rounds of the backoff (100, 200, 400 ms …): each would have PINGed.
  bool said_healthy = false;
  for (int i = 0; refused && i < 15 && !said_healthy; ++i) {
    relay.Notify();
    said_healthy =
        Eventually([&] { return relay.redis_healthy(); }, std::chrono::milliseconds(100));
  }
  const int64_t unpublished = Unpublished();
  ASSERT_TRUE(admin.Command({"CONFIG", "SET", "maxmemory", "0"}).ok());
  EXPECT_TRUE(refused);
  EXPECT_FALSE(said_healthy);
  EXPECT_EQ(unpublished, 3);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  EXPECT_TRUE(Eventually([&] { return relay.redis_healthy(); }));
  auto stream = StreamContents();
  ASSERT_GE(stream.size(), during.size());
  for (size_t i = 0; i < during.size(); ++i) {
    EXPECT_EQ(stream[stream.size() - during.size() + i].first, during[i]);
  }
}

// Outside testing: a metrics scrape read the outbox lag from PostgreSQL itself and took
// 10-20 s while PostgreSQL did not answer, past Prometheus' 10 s scrape timeout. The
// relay reads it about once a second; LastLag answers from that reading. A relay that
// swallows PostgreSQL's bytes stands for a frozen PostgreSQL here.
TEST_F(OutboxRelayTest, LastLagIsTheRelaysReadingAndDoesNotWaitOnPostgres) {
  absl::StatusOr<std::unique_ptr<plantmesh::testing::TcpRelay>> tcp =
      plantmesh::testing::TcpRelay::Start(SharedPostgres().port());
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  PgPoolOptions options;
  options.url =
      absl::StrCat("postgresql://postgres@", (*tcp)->endpoint(), url_.substr(url_.rfind('/')));
  options.size = 2;
  absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Open(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  redis_server_->Stop();  // the events stay pending
  OutboxRelay relay(pool->get(), redis_options_, Sources());
  EXPECT_TRUE(relay.LastLag().empty());  // not started: nothing read yet
  InsertEvents("waiting", 3);
  relay.Start();
  ASSERT_TRUE(Eventually([&] {
    std::vector<OutboxLag> lags = relay.LastLag();
    return lags.size() == 1 && lags[0].status.ok() && lags[0].pending_rows == 3;
  }));

  (*tcp)->DiscardServerBytes();
  InsertEvents("unseen", 2);  // through the test's own connection
  relay.Notify();
  const absl::Time start = absl::Now();
  const std::vector<OutboxLag> lags = relay.LastLag();
  // At once (a copy under a lock) where a read would wait for the pool's cut (~15 s).
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  ASSERT_EQ(lags.size(), 1u);
  EXPECT_EQ(lags[0].schema, "relay");
  EXPECT_EQ(lags[0].pending_rows, 3);  // as last read
  // Once a read has failed (the pool cuts the frozen connection), still the last reading,
  // said to be one (re-test: the metrics' series vanished, and an alert on them cleared).
  EXPECT_TRUE(Eventually(
      [&] {
        std::vector<OutboxLag> now = relay.LastLag();
        return now.size() == 1 && !now[0].status.ok() && now[0].figures_read &&
               now[0].pending_rows == 3;
      },
      std::chrono::seconds(60)));
  (*tcp)->DropConnections();
  ASSERT_TRUE(redis_server_->Restart().ok());
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }, std::chrono::seconds(60)));
  EXPECT_TRUE(Eventually([&] {
    std::vector<OutboxLag> now = relay.LastLag();
    return now.size() == 1 && now[0].status.ok() && now[0].pending_rows == 0;
  }));
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

// Outside testing: a stream kept 100,000 entries of up to 1 MiB each (2.6 GB of Redis at
// 9,000). A stream of 1 MiB events keeps about retain_bytes of them, and is published in
// batches of about 8 MiB.
TEST_F(OutboxRelayTest, TrimsAStreamOfLargeEventsToRetainBytes) {
  {
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    tx.exec0(
        "INSERT INTO relay.outbox (event_id, payload) SELECT gen_random_uuid(), "
        "convert_to(repeat('x', 1048576), 'UTF8') FROM generate_series(1, 24)");
    tx.commit();
  }
  OutboxSource source{"relay", kStream, 100000};
  source.retain_bytes = 8 << 20;
  // Reading and sending 8 MiB batches under ThreadSanitizer on a busy machine can outlast
  // the fixture's limits (the pool's stall watchdog cut a slow read: "not connected"; a
  // Redis reply can take over 1 s): the relay then fails a batch Redis already holds,
  // publishes it again and, once the trim removed the first copies, starts a new
  // generation (runs under load counted 16 entries added, not 24). This test is about the
  // trim, not about timeouts: its pool and Redis wait longer.
  PgPoolOptions pool_options;
  pool_options.url = url_;
  pool_options.size = 2;
  pool_options.statement_timeout = absl::Minutes(2);
  absl::StatusOr<std::unique_ptr<PgPool>> patient_pool = PgPool::Open(pool_options);
  ASSERT_TRUE(patient_pool.ok()) << patient_pool.status();
  RedisOptions patient_redis = redis_options_;
  patient_redis.command_timeout = absl::Seconds(30);
  OutboxRelay relay(patient_pool->get(), patient_redis, {source});
  relay.Start();
  relay.Notify();
  // 24 MiB through PostgreSQL and Redis: under the sanitizers on a busy CI machine that
  // took more than the usual 15 s (CI failed on it once).
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }, std::chrono::minutes(3)));
  relay.Stop();
  RedisClient redis(redis_options_);
  // In batches of about 8 MiB (one MULTI/EXEC each), not one of 24 MiB.
  EXPECT_GE(plantmesh::testing::CallsOf(redis, "exec"), 3);
  absl::StatusOr<StreamInfo> info = redis.XInfoStream(kStream);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->entries_added, 24);
  EXPECT_GE(info->length, 8);  // never below what the bytes hold
  EXPECT_LE(info->length, 12);
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

TEST_F(OutboxRelayTest, RecordsTheGenerationAndLastIdItPublished) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  InsertEvents("first", 3);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  relay.Stop();
  RedisClient redis(redis_options_);
  absl::StatusOr<StreamInfo> info = redis.XInfoStream(kStream);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(Recorded(), absl::StrCat(Generation(), ".", info->last_generated_id.ToString()));
}

// The issue's case: the database goes back to a backup while the stream keeps the events
// published after it. The running relay sees it within a round and starts a new
// generation; the stream is emptied, and what the restored database publishes next is
// all the new generation holds.
TEST_F(OutboxRelayTest, RestoredDatabaseStartsANewGeneration) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  InsertEvents("before-backup", 3);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  const std::string backup = Recorded();
  const std::string generation = Generation();
  ASSERT_FALSE(backup.empty());

  InsertEvents("after-backup", 2);  // changes the restored database will not have
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0 && Recorded() != backup; }));
  EXPECT_EQ(Generation(), generation);  // publishing alone never changes it

  RestoreRecord(backup);
  ASSERT_TRUE(Eventually([&] { return Generation() != generation; }));
  ASSERT_TRUE(Eventually([&] { return Recorded().substr(0, 16) == Generation(); }));
  EXPECT_TRUE(StreamContents().empty());

  std::vector<std::string> restored = InsertEvents("restored", 2);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  auto stream = StreamContents();
  ASSERT_EQ(stream.size(), 2u);
  EXPECT_EQ(stream[0].first, restored[0]);
  EXPECT_EQ(stream[1].first, restored[1]);
  const std::string new_generation = Generation();
  InsertEvents("later", 1);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  EXPECT_EQ(Generation(), new_generation);  // once, not on every batch
}

// A backup taken while events were waiting in the outbox, restored before anything else
// was written: the stream holds only those events past the record, the database still
// has them, so the histories did not diverge and the generation stays.
TEST_F(OutboxRelayTest, RestoredDatabaseWithNothingNewKeepsTheGeneration) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  InsertEvents("published", 2);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  relay.Stop();
  const std::string generation = Generation();
  const std::string backup = Recorded();
  // Pending at the backup, published after it (an XADD the restored database never
  // recorded): what pg_restore brings back is the record and these rows.
  std::vector<std::string> pending = InsertEvents("pending", 3);
  RedisClient redis(redis_options_);
  std::vector<std::pair<std::string, std::string>> events;
  for (const std::string& id : pending) events.emplace_back(id, "sent-before-the-restore");
  ASSERT_TRUE(redis.Pipeline(StreamPublishCommands(Sources()[0], events)).ok());

  OutboxRelay restarted(pool_.get(), redis_options_, Sources());
  restarted.Start();
  ASSERT_TRUE(restarted.AwaitStreamsChecked(absl::Seconds(15)));
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  EXPECT_EQ(Generation(), generation);
  EXPECT_NE(Recorded(), backup);
  EXPECT_EQ(StreamContents().size(), 2u + 3u);  // recorded, not sent again
}

// An XADD whose transaction never committed (a crash in between) is not a restore
// either: its events are still in the outbox. They are recorded as published, not
// published again (outside testing, BI M1: after a kill -9 a live tail got whole batches
// twice); rows committed after them are published after them.
TEST_F(OutboxRelayTest, UnfinishedBatchKeepsTheGeneration) {
  std::vector<std::string> ids = InsertEvents("unfinished", 600);  // more than a page
  RedisClient redis(redis_options_);
  std::vector<std::pair<std::string, std::string>> events;
  for (const std::string& id : ids) events.emplace_back(id, "payload");
  ASSERT_TRUE(redis.Pipeline(StreamPublishCommands(Sources()[0], events)).ok());
  const std::string generation = Generation();

  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  ASSERT_TRUE(relay.AwaitStreamsChecked(absl::Seconds(15)));
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  EXPECT_EQ(Generation(), generation);
  EXPECT_EQ(StreamContents().size(), 600u);
  InsertEvents("after", 2);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  relay.Stop();
  const auto contents = StreamContents();
  ASSERT_EQ(contents.size(), 602u);
  std::set<std::string> distinct;  // event ids
  for (const auto& [event_id, payload] : contents) distinct.insert(event_id);
  EXPECT_EQ(distinct.size(), 602u);
}

// Redis restarted from an older snapshot (or a replica promoted before it caught up):
// the same generation, but the entries the record covers are gone. Cursors handed out
// for them must not silently point into what is published next.
TEST_F(OutboxRelayTest, RedisThatWentBackStartsANewGeneration) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  InsertEvents("published", 2);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  relay.Stop();
  const std::string generation = Generation();
  const std::string recorded = Recorded();
  RestoreRecord(absl::StrCat(generation, ".99999999999999-0"));  // beyond the stream's end

  OutboxRelay restarted(pool_.get(), redis_options_, Sources());
  restarted.Start();
  ASSERT_TRUE(restarted.AwaitStreamsChecked(absl::Seconds(15)));
  EXPECT_NE(Generation(), generation);
  EXPECT_EQ(Recorded().substr(0, 16), Generation());
}

// A database that never published to a stream which holds events (a new database on a
// Redis used before, or one from before the record existed): those events are not its
// history.
TEST_F(OutboxRelayTest, NewDatabaseOnAUsedStreamStartsANewGeneration) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  InsertEvents("old-database", 2);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  relay.Stop();
  const std::string generation = Generation();
  {
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    tx.exec("DELETE FROM relay.outbox_stream");
    tx.commit();
  }
  OutboxRelay fresh(pool_.get(), redis_options_, Sources());
  fresh.Start();
  ASSERT_TRUE(fresh.AwaitStreamsChecked(absl::Seconds(15)));
  EXPECT_NE(Generation(), generation);
  EXPECT_TRUE(StreamContents().empty());
}

// Replicas that start together after a restore agree on one new generation: the check
// runs under the publisher lease, and the second one finds the first one's record.
TEST_F(OutboxRelayTest, ReplicasStartingAfterARestoreAgreeOnOneGeneration) {
  OutboxRelay relay(pool_.get(), redis_options_, Sources());
  relay.Start();
  InsertEvents("before-backup", 2);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  const std::string backup = Recorded();
  InsertEvents("after-backup", 2);
  relay.Notify();
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0 && Recorded() != backup; }));
  relay.Stop();
  const std::string generation = Generation();
  RestoreRecord(backup);

  std::vector<std::unique_ptr<OutboxRelay>> replicas;
  for (int i = 0; i < 3; ++i) {
    replicas.push_back(std::make_unique<OutboxRelay>(pool_.get(), redis_options_, Sources()));
  }
  for (auto& replica : replicas) replica->Start();
  for (auto& replica : replicas) ASSERT_TRUE(replica->AwaitStreamsChecked(absl::Seconds(15)));
  const std::string new_generation = Generation();
  EXPECT_NE(new_generation, generation);
  EXPECT_EQ(Recorded().substr(0, 16), new_generation);

  std::vector<std::string> ids;
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> more = InsertEvents(absl::StrCat("round", round), 50);
    ids.insert(ids.end(), more.begin(), more.end());
    for (auto& replica : replicas) replica->Notify();
  }
  ASSERT_TRUE(Eventually([&] { return Unpublished() == 0; }));
  for (auto& replica : replicas) replica->Stop();
  EXPECT_EQ(Generation(), new_generation);
  std::vector<std::string> published;
  for (const auto& [event_id, payload] : StreamContents()) published.push_back(event_id);
  EXPECT_EQ(published, ids);
}

}  // namespace
}  // namespace plantmesh::runtime
