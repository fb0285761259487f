// GetLatestValues through the Redis cache (latest_cache.h) on real PostgreSQL and Redis:
// the service over in-process gRPC on PgTelemetryStore. Values after ingest come from
// Redis and equal PostgreSQL's; newer wins whatever order batches and replicas write in;
// an emptied Redis and a stale hash are read again from PostgreSQL; a stopped Redis
// leaves reads and ingest working; a removed data item disappears; paging and the size
// refusal.
#include "server/telemetry/latest_cache.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/telemetry/v1/telemetry_service.grpc.pb.h"
#include "server/runtime/executor.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/redis_client.h"
#include "server/runtime/service_tables.h"
#include "server/runtime/shutdown.h"
#include "server/runtime/testing/handler_test_support.h"
#include "server/telemetry/convert.h"
#include "server/telemetry/module.h"
#include "server/telemetry/pg_store.h"
#include "server/telemetry/service.h"
#include "tests/support/poll.h"
#include "tests/support/tcp_relay.h"
#include "tests/support/test_servers.h"

namespace plantmesh::telemetry {
namespace {

using ::testing::ElementsAre;

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
  out->set_nanos(static_cast<int32_t>((absl::ToUnixMicros(t) % 1000000) * 1000));
}

class LatestCacheTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<plantmesh::testing::RedisServer>> redis =
        plantmesh::testing::RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = redis->release();
  }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
  }

  void SetUp() override {
    runtime::ResetDrainingForTesting();
    if (!redis_->running()) {
      ASSERT_TRUE(redis_->Restart().ok());
    }
    static int databases = 0;
    ++databases;
    absl::StatusOr<std::string> url = plantmesh::testing::SharedPostgres().CreateDatabase(
        absl::StrCat("telemetry_latest_", databases));
    ASSERT_TRUE(url.ok()) << url.status();
    ASSERT_TRUE(runtime::ApplyMigrations(*url, "audit", runtime::AuditMigrations()).ok());
    ASSERT_TRUE(runtime::ApplyMigrations(*url, "telemetry", EmbeddedMigrations()).ok());
    ASSERT_TRUE(runtime::ApplyServiceTables(*url, "telemetry").ok());
    runtime::PgPoolOptions options;
    options.url = *url;
    options.size = 4;
    options.on_connect.push_back(&PgTelemetryStore::PrepareStatements);
    absl::StatusOr<std::unique_ptr<runtime::PgPool>> pool = runtime::PgPool::Open(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    store_ = std::make_unique<PgTelemetryStore>(
        pool_.get(), LibpqPool::Create(PgTelemetryStore::IngestPoolOptions(
                         *url, 4, absl::Seconds(30), absl::Seconds(10))));
    now_ = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
    // Each test its own keys: the databases differ, the Redis is shared.
    cache_options_.redis.port = redis_->port();
    cache_options_.key_prefix = absl::StrCat("test", databases, ":latest:");
    cache_options_.generation_key = absl::StrCat("test", databases, ":events:generation");
  }

  // The service on the store, with a cache of `expiry`.
  void Start(absl::Duration expiry = absl::Seconds(60)) {
    cache_options_.expiry = expiry;
    cache_ = std::make_unique<LatestCache>(cache_options_, store_.get(), nullptr);
    deps_.config = &config_;
    deps_.call_policy = &policy_;
    deps_.executor = &executor_;
    deps_.now = [this] { return now_; };
    service_ = std::make_unique<TelemetryServiceImpl>(deps_, telemetry_config_, store_.get(),
                                                      cache_.get());
    server_ = std::make_unique<runtime::testing::InProcessServer>(service_.get());
    ASSERT_TRUE(server_->ok());
    stub_ = v1::TelemetryService::NewStub(server_->channel());
  }

  void TearDown() override {
    server_.reset();
    executor_.Shutdown();
    runtime::ResetDrainingForTesting();
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return context;
  }

  void Register(const std::string& id, const std::vector<std::string>& items) {
    v1::RegisterMachineRequest request;
    request.mutable_machine()->set_id(id);
    for (const std::string& item : items) {
      v1::DataItem* d = request.mutable_machine()->add_data_items();
      d->set_id(item);
      d->set_category(v1::DATA_ITEM_CATEGORY_EVENT);
      d->set_type(v1::DATA_ITEM_TYPE_OTHER);
    }
    v1::RegisterMachineResponse out;
    grpc::Status s = stub_->RegisterMachine(Context().get(), request, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  static v1::Sample Num(const std::string& machine, const std::string& item, double value,
                        absl::Time t) {
    v1::Sample s;
    s.set_machine_id(machine);
    s.set_data_item_id(item);
    SetTime(t, s.mutable_time());
    s.set_number(value);
    return s;
  }

  // One batch through IngestSamples; every sample must be accepted.
  void Ingest(const std::string& writer, uint64_t sequence, const std::vector<v1::Sample>& samples,
              v1::TelemetryService::Stub* stub = nullptr) {
    auto context = Context();
    auto stream = (stub != nullptr ? stub : stub_.get())->IngestSamples(context.get());
    v1::IngestSamplesRequest batch;
    batch.set_writer_id(writer);
    batch.set_batch_sequence(sequence);
    for (const v1::Sample& s : samples) *batch.add_samples() = s;
    ASSERT_TRUE(stream->Write(batch));
    v1::IngestSamplesResponse answer;
    ASSERT_TRUE(stream->Read(&answer));
    EXPECT_EQ(answer.accepted_count(), static_cast<int>(samples.size()));
    ASSERT_TRUE(stream->WritesDone());
    EXPECT_TRUE(stream->Finish().ok());
  }

  grpc::Status Latest(const std::vector<std::string>& machines, v1::GetLatestValuesResponse* out,
                      const std::vector<std::string>& items = {}, int page_size = 0,
                      const std::string& token = "") {
    v1::GetLatestValuesRequest request;
    for (const std::string& m : machines) request.add_machine_ids(m);
    for (const std::string& i : items) request.add_data_item_ids(i);
    request.set_page_size(page_size);
    request.set_page_token(token);
    out->Clear();
    return stub_->GetLatestValues(Context().get(), request, out);
  }

  // GetLatestValues' values, serialized one by one (for comparing).
  std::vector<std::string> Answer(const std::vector<std::string>& machines,
                                  const std::vector<std::string>& items = {}) {
    v1::GetLatestValuesResponse response;
    grpc::Status s = Latest(machines, &response, items);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> out;
    for (const v1::Sample& v : response.values()) out.push_back(v.SerializeAsString());
    return out;
  }

  // What PostgreSQL holds, in the same form.
  std::vector<std::string> Postgres(const std::vector<std::string>& machines,
                                    const std::vector<std::string>& items = {}) {
    absl::StatusOr<std::vector<StoredSample>> values = store_->LatestValues(machines, items);
    EXPECT_TRUE(values.ok()) << values.status();
    std::vector<std::string> out;
    for (const StoredSample& v : values.value_or(std::vector<StoredSample>())) {
      v1::Sample proto;
      ToProto(v.sample, &proto);
      out.push_back(proto.SerializeAsString());
    }
    return out;
  }

  absl::StatusOr<runtime::RedisReply> Redis(const std::vector<std::string>& command) {
    runtime::RedisClient client(cache_options_.redis);
    return client.Command(command);
  }

  std::string Key(const std::string& machine) {
    return LatestCacheKey(cache_options_.key_prefix, machine);
  }

  static plantmesh::testing::RedisServer* redis_;
  absl::Time now_;
  std::unique_ptr<runtime::PgPool> pool_;
  std::unique_ptr<PgTelemetryStore> store_;
  LatestCacheOptions cache_options_;
  std::unique_ptr<LatestCache> cache_;
  runtime::ServerConfig config_;
  TelemetryConfig telemetry_config_;
  runtime::testing::FixedIdentityPolicy policy_{"spiffe://test/user/adapter"};
  runtime::ServiceDeps deps_;
  std::unique_ptr<TelemetryServiceImpl> service_;
  runtime::Executor executor_{runtime::ExecutorOptions{4, 64, "test"}};
  std::unique_ptr<runtime::testing::InProcessServer> server_;
  std::unique_ptr<v1::TelemetryService::Stub> stub_;
};

plantmesh::testing::RedisServer* LatestCacheTest::redis_ = nullptr;

TEST_F(LatestCacheTest, AfterIngestValuesComeFromRedisAndEqualPostgres) {
  Start();
  Register("CNC-07", {"S1speed", "Xact", "temp"});
  Register("CNC-08", {"S1speed"});
  const absl::Time t = now_ - absl::Seconds(10);
  Ingest("w", 1,
         {Num("CNC-07", "S1speed", 1200, t), Num("CNC-07", "temp", 20, t),
          Num("CNC-08", "S1speed", 800, t)});
  // The first read fills each machine from PostgreSQL.
  EXPECT_EQ(Answer({"CNC-07", "CNC-08"}), Postgres({"CNC-07", "CNC-08"}));
  EXPECT_EQ(cache_->figures().fills.load(), 2);
  EXPECT_EQ(Answer({"CNC-07", "CNC-08"}).size(), 3u);

  // Later batches are written through to the complete hashes: answered from Redis alone.
  Ingest("w", 2,
         {Num("CNC-07", "S1speed", 1300, t + absl::Seconds(1)),
          Num("CNC-07", "Xact", 1, t + absl::Seconds(1))});
  const int64_t hits = cache_->figures().hits.load();
  EXPECT_EQ(Answer({"CNC-07", "CNC-08"}), Postgres({"CNC-07", "CNC-08"}));
  EXPECT_EQ(Answer({"CNC-07"}, {"Xact", "S1speed"}), Postgres({"CNC-07"}, {"S1speed", "Xact"}));
  EXPECT_EQ(cache_->figures().fills.load(), 2);
  EXPECT_EQ(cache_->figures().hits.load(), hits + 3);

  // A value only Redis holds (newer than PostgreSQL's) is what is answered.
  StoredSample only_redis{SampleFromProto(Num("CNC-08", "S1speed", 4242, t + absl::Seconds(5))),
                          int64_t{1} << 40};
  ASSERT_TRUE(Redis({"HSET", Key("CNC-08"), "S1speed", EncodeCachedValue(only_redis)}).ok());
  v1::GetLatestValuesResponse response;
  ASSERT_TRUE(Latest({"CNC-08"}, &response).ok());
  ASSERT_EQ(response.values_size(), 1);
  EXPECT_EQ(response.values(0).number(), 4242);
  EXPECT_EQ(response.values(0).machine_id(), "CNC-08");
}

// Out-of-order batches and two replicas writing the same items at once: the cache ends
// where PostgreSQL ends, answered without a fill.
TEST_F(LatestCacheTest, NewerWinsAcrossOutOfOrderBatchesAndTwoWriters) {
  Start();
  Register("CNC-07", {"a", "b", "c"});
  EXPECT_TRUE(Answer({"CNC-07"}).empty());  // fills an empty, complete hash
  const absl::Time t = now_ - absl::Minutes(5);
  Ingest("w", 1, {Num("CNC-07", "a", 2, t + absl::Seconds(2))});
  Ingest("w", 2, {Num("CNC-07", "a", 1, t + absl::Seconds(1))});  // older: not the latest
  v1::GetLatestValuesResponse response;
  ASSERT_TRUE(Latest({"CNC-07"}, &response).ok());
  ASSERT_EQ(response.values_size(), 1);
  EXPECT_EQ(response.values(0).number(), 2);

  // A second replica (its own cache and server on the same PostgreSQL and Redis).
  LatestCache replica_cache(cache_options_, store_.get(), nullptr);
  TelemetryServiceImpl replica(deps_, telemetry_config_, store_.get(), &replica_cache);
  auto replica_server = std::make_unique<runtime::testing::InProcessServer>(&replica);
  ASSERT_TRUE(replica_server->ok());
  auto replica_stub = v1::TelemetryService::NewStub(replica_server->channel());
  // Times interleaved and going back and forth, equal times across writers.
  auto write = [&](const std::string& writer, v1::TelemetryService::Stub* stub, int offset) {
    for (int i = 1; i <= 30; ++i) {
      const absl::Time at = t + absl::Seconds((i * 7 + offset) % 23);
      Ingest(writer, static_cast<uint64_t>(i),
             {Num("CNC-07", "a", i * 10 + offset, at), Num("CNC-07", "b", i, at),
              Num("CNC-07", "c", offset, t + absl::Seconds(i % 2))},
             stub);
    }
  };
  std::thread one([&] { write("w1", stub_.get(), 0); });
  std::thread two([&] { write("w2", replica_stub.get(), 1); });
  one.join();
  two.join();
  const int64_t fills = cache_->figures().fills.load();
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
  EXPECT_EQ(cache_->figures().fills.load(), fills);  // from the hash, not a refill
  replica_server.reset();

  // Written straight to the cache: an older sample after a newer one, and of equal time
  // the smaller key after the greater, both change nothing.
  Sample newer = SampleFromProto(Num("CNC-07", "b", 99, t + absl::Hours(1)));
  Sample older = SampleFromProto(Num("CNC-07", "b", 98, t + absl::Minutes(59)));
  Batch late{"x", 1, {older, newer}};
  BatchOutcome outcome;
  outcome.verdict.accepted = {1};
  outcome.batch_id = 1000000;
  replica_cache.WriteThrough({late}, {outcome});
  outcome.verdict.accepted = {0};
  outcome.batch_id = 1000001;
  cache_->WriteThrough({late}, {outcome});
  late.samples[1].number = 97;  // the same time, an earlier batch
  outcome.verdict.accepted = {1};
  outcome.batch_id = 999999;
  cache_->WriteThrough({late}, {outcome});
  ASSERT_TRUE(Latest({"CNC-07"}, &response, {"b"}).ok());
  ASSERT_EQ(response.values_size(), 1);
  EXPECT_EQ(response.values(0).number(), 99);

  // A group committed together is written in one round trip, the newest of its batches
  // per data item: a later batch's older sample, a refused batch's and everything after
  // it change nothing.
  Batch first{"g", 1, {SampleFromProto(Num("CNC-07", "c", 1, t + absl::Hours(2)))}};
  Batch second{"g",
               2,
               {SampleFromProto(Num("CNC-07", "c", 2, t + absl::Hours(1))),
                SampleFromProto(Num("CNC-07", "a", 3, t + absl::Hours(2)))}};
  Batch refused{"g", 4, {SampleFromProto(Num("CNC-07", "a", 4, t + absl::Hours(3)))}};
  std::vector<BatchOutcome> outcomes(3);
  outcomes[0].verdict.accepted = {0};
  outcomes[0].batch_id = 2000000;
  outcomes[1].verdict.accepted = {0, 1};
  outcomes[1].batch_id = 2000001;
  outcomes[2].refusal = absl::FailedPreconditionError("out of order");
  cache_->WriteThrough({first, second, refused}, outcomes);
  ASSERT_TRUE(Latest({"CNC-07"}, &response, {"a", "c"}).ok());
  ASSERT_EQ(response.values_size(), 2);
  EXPECT_EQ(response.values(0).number(), 3);
  EXPECT_EQ(response.values(1).number(), 1);
}

// Redis restarted empty (FLUSHALL): a write-through then creates a partial hash without
// the marker, which is not trusted: the machine is read again from PostgreSQL, whole.
TEST_F(LatestCacheTest, EmptiedRedisRefillsFromPostgres) {
  Start();
  Register("CNC-07", {"a", "b"});
  const absl::Time t = now_ - absl::Seconds(30);
  Ingest("w", 1, {Num("CNC-07", "a", 1, t), Num("CNC-07", "b", 2, t)});
  EXPECT_EQ(Answer({"CNC-07"}).size(), 2u);
  ASSERT_TRUE(Redis({"FLUSHALL"}).ok());
  Ingest("w", 2, {Num("CNC-07", "a", 3, t + absl::Seconds(1))});
  absl::StatusOr<runtime::RedisReply> partial = Redis({"HLEN", Key("CNC-07")});
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->integer, 2);  // "a" and its generation, no marker
  const int64_t fills = cache_->figures().fills.load();
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
  EXPECT_EQ(Answer({"CNC-07"}).size(), 2u);
  EXPECT_EQ(cache_->figures().fills.load(), fills + 1);
  // The hash carries an expiry, the write-through's own never extended past the fill's.
  absl::StatusOr<runtime::RedisReply> ttl = Redis({"PTTL", Key("CNC-07")});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GT(ttl->integer, 0);
  EXPECT_LE(ttl->integer, 60000);
}

// A batch committed without its write-through (a crash between commit and Redis, done
// here by committing through the store directly) is answered stale until the hash
// expires, then from PostgreSQL.
TEST_F(LatestCacheTest, StaleHashIsCorrectedAfterTheExpiry) {
  const absl::Duration expiry = absl::Seconds(3);
  Start(expiry);
  Register("CNC-07", {"a"});
  const absl::Time t = now_ - absl::Seconds(30);
  Ingest("w", 1, {Num("CNC-07", "a", 1, t)});
  const absl::Time fill = absl::Now();
  EXPECT_EQ(Answer({"CNC-07"}).size(), 1u);
  absl::StatusOr<BatchOutcome> skipped = store_->IngestBatch(
      Batch{"w-direct", 1, {SampleFromProto(Num("CNC-07", "a", 2, t + absl::Seconds(1)))}},
      [this](std::vector<Sample>& s, const Catalog& c) {
        return JudgeBatch(s, c, now_, IngestLimits{});
      },
      &BatchEvent);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  v1::GetLatestValuesResponse response;
  ASSERT_TRUE(Latest({"CNC-07"}, &response).ok());
  ASSERT_EQ(response.values_size(), 1);
  // The cache answered, stale (unless this busy machine took longer than the expiry).
  if (absl::Now() - fill < expiry) {
    EXPECT_EQ(response.values(0).number(), 1);
  }
  EXPECT_TRUE(plantmesh::testing::PollUntil(
      [&] {
        return Latest({"CNC-07"}, &response).ok() && response.values_size() == 1 &&
               response.values(0).number() == 2;
      },
      absl::Seconds(30), absl::Milliseconds(50)));
}

// Outside testing (sweep 48): the database restored from a backup under a running Redis;
// the relay started a new generation of the event stream, but GetLatestValues answered a
// value no table held (ingested after the backup) until the hash expired. A hash of
// another generation is not answered, and the next write empties it.
TEST_F(LatestCacheTest, AHashOfAnotherGenerationIsNotAnswered) {
  Start(absl::Hours(1));
  Register("CNC-07", {"a", "b"});
  const absl::Time t = now_ - absl::Seconds(30);
  Ingest("w", 1, {Num("CNC-07", "a", 1.5, t)});
  ASSERT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));  // filled, of generation ""
  // What the restore left: values of a timeline the database no longer has.
  StoredSample lost{SampleFromProto(Num("CNC-07", "a", 999.5, t + absl::Seconds(5))), 1 << 30};
  StoredSample lost_b{SampleFromProto(Num("CNC-07", "b", 7, t + absl::Seconds(5))), 1 << 30};
  ASSERT_TRUE(
      Redis({"HSET", Key("CNC-07"), "a", EncodeCachedValue(lost), "b", EncodeCachedValue(lost_b)})
          .ok());
  EXPECT_NE(Answer({"CNC-07"}), Postgres({"CNC-07"}));  // the control: answered while trusted
  // The relay finds the stream ahead of the database and starts a new generation.
  ASSERT_TRUE(Redis({"SET", cache_options_.generation_key, "g2"}).ok());
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
  EXPECT_EQ(Answer({"CNC-07"}, {"b"}), Postgres({"CNC-07"}, {"b"}));
  // The refill emptied the old hash first: "b", which the database never had, is gone.
  absl::StatusOr<runtime::RedisReply> b = Redis({"HGET", Key("CNC-07"), "b"});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->type, runtime::RedisReply::Type::kNil);
  absl::StatusOr<runtime::RedisReply> generation =
      Redis({"HGET", Key("CNC-07"), kLatestGenerationField});
  ASSERT_TRUE(generation.ok());
  EXPECT_EQ(generation->str, "g2");
  EXPECT_GT(cache_->figures().hits.load(), 0);
}

TEST_F(LatestCacheTest, StoppedRedisAnswersFromPostgresAndIngestGoesOn) {
  Start();
  Register("CNC-07", {"a", "b"});
  const absl::Time t = now_ - absl::Seconds(30);
  Ingest("w", 1, {Num("CNC-07", "a", 1, t)});
  EXPECT_EQ(Answer({"CNC-07"}).size(), 1u);
  redis_->Stop();
  Ingest("w", 2, {Num("CNC-07", "b", 2, t)});  // acknowledged without Redis
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
  EXPECT_EQ(Answer({"CNC-07"}).size(), 2u);
  EXPECT_GT(cache_->figures().fallbacks.load(), 0);
  EXPECT_GT(cache_->figures().write_failures.load(), 0);
  // Back (empty): refilled.
  ASSERT_TRUE(redis_->Restart().ok());
  const int64_t fills = cache_->figures().fills.load();
  const int64_t failures = cache_->figures().write_failures.load();
  EXPECT_TRUE(plantmesh::testing::PollUntil(
      [&] { return Answer({"CNC-07"}).size() == 2u && cache_->figures().fills.load() > fills; },
      absl::Seconds(30), absl::Milliseconds(50)));
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
  // The fill was written although the restarted Redis had forgotten the script
  // (NOSCRIPT, loaded again).
  absl::StatusOr<runtime::RedisReply> complete =
      Redis({"HEXISTS", Key("CNC-07"), kLatestCompleteField});
  ASSERT_TRUE(complete.ok());
  EXPECT_EQ(complete->integer, 1);
  EXPECT_EQ(cache_->figures().write_failures.load(), failures);
}

// Re-test: once the outbox relay had found another database's claim on Redis,
// GetLatestValues still answered that Redis's cached values. The cache leaves it alone.
TEST_F(LatestCacheTest, ARedisHoldingAnotherDatabasesDataIsNotUsed) {
  std::atomic<bool> foreign{false};
  cache_options_.redis_foreign = [&foreign] { return foreign.load(); };
  Start();
  Register("CNC-07", {"a"});
  const absl::Time t = now_ - absl::Seconds(30);
  Ingest("w", 1, {Num("CNC-07", "a", 1, t)});
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
  foreign = true;
  const int64_t hits = cache_->figures().hits.load();
  Ingest("w", 2, {Num("CNC-07", "a", 2, t + absl::Seconds(1))});  // acknowledged without it
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
  EXPECT_EQ(cache_->figures().hits.load(), hits);
  EXPECT_GT(cache_->figures().fallbacks.load(), 0);
  // Its own again: the hash the write could not reach is not trusted.
  foreign = false;
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
}

// Outside testing: a Redis that stopped answering (SIGSTOP) held ingest answers and
// reads for its 2 s command timeout, tried again 1 s after each: 2 s in every 3. Now
// each failure leaves it alone twice as long as the last, and one answer resets that.
TEST_F(LatestCacheTest, ARedisThatDoesNotAnswerIsTriedLessAndLessOften) {
  absl::StatusOr<std::unique_ptr<plantmesh::testing::TcpRelay>> relay =
      plantmesh::testing::TcpRelay::Start(redis_->port());
  ASSERT_TRUE(relay.ok()) << relay.status();
  cache_options_.redis.port =
      std::stoi(std::string(absl::StripPrefix((*relay)->endpoint(), "127.0.0.1:")));
  cache_options_.redis.command_timeout = absl::Milliseconds(200);
  absl::Mutex clock_mu;
  absl::Time clock = absl::Now();
  cache_options_.now = [&] {
    absl::MutexLock lock(&clock_mu);
    return clock;
  };
  auto advance = [&](absl::Duration by) {
    absl::MutexLock lock(&clock_mu);
    clock += by;
  };
  Start();
  Register("CNC-07", {"a"});
  Ingest("w", 1, {Num("CNC-07", "a", 1, now_ - absl::Seconds(30))});
  EXPECT_EQ(Answer({"CNC-07"}).size(), 1u);

  (*relay)->DiscardServerBytes();
  const LatestCacheFigures& figures = cache_->figures();
  // Each read answers from PostgreSQL; `tried` says whether it tried Redis first.
  auto read = [&] {
    const int64_t before = figures.left_alone.load();
    EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
    return figures.left_alone.load() == before;
  };
  EXPECT_TRUE(read());  // times out: left alone 1 s
  EXPECT_FALSE(read());
  advance(absl::Seconds(1));
  EXPECT_TRUE(read());  // times out again: 2 s
  advance(absl::Seconds(1));
  EXPECT_FALSE(read());
  advance(absl::Seconds(1));
  EXPECT_TRUE(read());  // 4 s
  advance(absl::Seconds(3));
  EXPECT_FALSE(read());
  advance(absl::Seconds(1));
  // Redis answers again (a connection it had cut may fail once more first): tried, and
  // after the next failure left alone 1 s only.
  (*relay)->DropConnections();
  const int64_t answered = figures.hits.load() + figures.fills.load();
  for (int i = 0; i < 3 && figures.hits.load() + figures.fills.load() == answered; ++i) {
    advance(absl::Seconds(30));
    EXPECT_TRUE(read());
  }
  ASSERT_GT(figures.hits.load() + figures.fills.load(), answered);
  EXPECT_TRUE(read());
  (*relay)->DiscardServerBytes();
  EXPECT_TRUE(read());
  advance(absl::Seconds(1));
  EXPECT_TRUE(read());
}

// Outside testing: a Redis that refuses writes and answers reads (maxmemory reached with
// noeviction, as README advises) began a new run of failures at every batch, a warning
// and a "works again" line each (~60 lines a second). Writes and reads are logged apart:
// the refused writes are one run (one warning), the reads none, and the run ends once a
// write goes through. (Counted, not read from the log: swapping the logger while the
// server's threads log is a race.)
TEST_F(LatestCacheTest, ARedisThatRefusesWritesIsLoggedOnceNotPerBatch) {
  Start();
  Register("CNC-07", {"a"});
  const absl::Time t = now_ - absl::Seconds(30);
  Ingest("w", 1, {Num("CNC-07", "a", 1, t)});
  EXPECT_EQ(Answer({"CNC-07"}).size(), 1u);

  const int64_t write_runs = cache_->write_log().runs();
  const int64_t read_runs = cache_->read_log().runs();
  const int64_t failures = cache_->figures().write_failures.load();
  ASSERT_TRUE(Redis({"CONFIG", "SET", "maxmemory-policy", "noeviction"}).ok());
  ASSERT_TRUE(Redis({"CONFIG", "SET", "maxmemory", "1"}).ok());  // every write refused
  for (int i = 0; i < 10; ++i) {
    Ingest("w", 2 + i, {Num("CNC-07", "a", 2 + i, t + absl::Seconds(1 + i))});
    EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
  }
  const int64_t refused = cache_->figures().write_failures.load() - failures;
  const int64_t failing = cache_->write_log().failures();
  ASSERT_TRUE(Redis({"CONFIG", "SET", "maxmemory", "0"}).ok());
  EXPECT_GE(refused, 10);       // each batch's write-through, and the fills
  EXPECT_EQ(failing, refused);  // all of them one run, still going
  EXPECT_EQ(cache_->write_log().runs(), write_runs + 1);  // logged once
  EXPECT_EQ(cache_->read_log().runs(), read_runs);        // the reads never failed

  Ingest("w", 12, {Num("CNC-07", "a", 12, t + absl::Seconds(11))});
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
  EXPECT_EQ(cache_->write_log().failures(), 0);  // works again, logged once
  EXPECT_EQ(cache_->write_log().runs(), write_runs + 1);
}

// A write that failed while Redis was up again for others is repaired: the machine's
// hash is deleted at the next contact, so a complete but stale hash is not answered.
TEST_F(LatestCacheTest, FailedWriteDeletesTheHashAtTheNextContact) {
  Start();
  Register("CNC-07", {"a"});
  const absl::Time t = now_ - absl::Seconds(30);
  Ingest("w", 1, {Num("CNC-07", "a", 1, t)});
  EXPECT_EQ(Answer({"CNC-07"}).size(), 1u);
  // The key made a string: the next write-through fails with an error reply (WRONGTYPE).
  ASSERT_TRUE(Redis({"DEL", Key("CNC-07")}).ok());
  ASSERT_TRUE(Redis({"SET", Key("CNC-07"), "x"}).ok());
  Ingest("w", 2, {Num("CNC-07", "a", 2, t + absl::Seconds(1))});
  EXPECT_GT(cache_->figures().write_failures.load(), 0);
  v1::GetLatestValuesResponse response;
  ASSERT_TRUE(Latest({"CNC-07"}, &response).ok());
  ASSERT_EQ(response.values_size(), 1);
  EXPECT_EQ(response.values(0).number(), 2);
  absl::StatusOr<runtime::RedisReply> type = Redis({"TYPE", Key("CNC-07")});
  ASSERT_TRUE(type.ok());
  EXPECT_EQ(type->str, "hash");  // deleted, then filled again
}

TEST_F(LatestCacheTest, RemovedDataItemDisappears) {
  Start();
  Register("CNC-07", {"a", "b", "c"});
  const absl::Time t = now_ - absl::Seconds(30);
  Ingest("w", 1, {Num("CNC-07", "a", 1, t), Num("CNC-07", "b", 2, t), Num("CNC-07", "c", 3, t)});
  EXPECT_EQ(Answer({"CNC-07"}).size(), 3u);
  absl::StatusOr<runtime::RedisReply> b_cached = Redis({"HGET", Key("CNC-07"), "b"});
  ASSERT_TRUE(b_cached.ok()) << b_cached.status();
  ASSERT_FALSE(b_cached->str.empty());
  v1::UpdateMachineRequest update;
  update.mutable_machine()->set_id("CNC-07");
  for (const char* id : {"a", "c"}) {
    v1::DataItem* d = update.mutable_machine()->add_data_items();
    d->set_id(id);
    d->set_category(v1::DATA_ITEM_CATEGORY_EVENT);
    d->set_type(v1::DATA_ITEM_TYPE_OTHER);
  }
  update.mutable_update_mask()->add_paths("data_items");
  v1::UpdateMachineResponse updated;
  ASSERT_TRUE(stub_->UpdateMachine(Context().get(), update, &updated).ok());
  v1::GetLatestValuesResponse response;
  ASSERT_TRUE(Latest({"CNC-07"}, &response).ok());
  std::vector<std::string> items;
  for (const v1::Sample& v : response.values()) items.push_back(v.data_item_id());
  EXPECT_THAT(items, ElementsAre("a", "c"));
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));

  // Outside testing: a write-through that read before the update lands after it (here:
  // b's value written back into the refilled hash). b is still not answered.
  ASSERT_TRUE(Redis({"HSET", Key("CNC-07"), "b", b_cached->str}).ok());
  absl::StatusOr<runtime::RedisReply> complete =
      Redis({"HEXISTS", Key("CNC-07"), std::string(kLatestCompleteField)});
  ASSERT_TRUE(complete.ok()) << complete.status();
  ASSERT_EQ(complete->integer, 1);  // answered from the hash, not from PostgreSQL
  EXPECT_EQ(Answer({"CNC-07"}), Postgres({"CNC-07"}));
  EXPECT_EQ(Answer({"CNC-07"}).size(), 2u);
}

TEST_F(LatestCacheTest, PagesAcrossMachinesAndItemsBoundToTheSelection) {
  Start();
  const std::vector<std::string> machines = {"CNC-09", "CNC-07", "CNC-08"};
  const absl::Time t = now_ - absl::Seconds(30);
  for (const std::string& m : machines) {
    Register(m, {"a", "b", "c"});
    Ingest(m, 1, {Num(m, "a", 1, t), Num(m, "b", 2, t), Num(m, "c", 3, t)});
  }
  const std::vector<std::string> all = Answer(machines);
  ASSERT_EQ(all.size(), 9u);
  for (int page_size : {1, 2, 4, 9, 10}) {
    std::vector<std::string> paged;
    std::string token;
    int pages = 0;
    do {
      v1::GetLatestValuesResponse page;
      grpc::Status s = Latest(machines, &page, {}, page_size, token);
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_LE(page.values_size(), page_size);
      for (const v1::Sample& v : page.values()) paged.push_back(v.SerializeAsString());
      token = page.next_page_token();
      ASSERT_LT(++pages, 20);
    } while (!token.empty());
    EXPECT_EQ(paged, all) << "page_size " << page_size;
    EXPECT_EQ(pages, (9 + page_size - 1) / page_size) << "page_size " << page_size;
  }
  // By machine then item; a filter pages too.
  v1::GetLatestValuesResponse page;
  ASSERT_TRUE(Latest(machines, &page, {"c", "a"}, 3).ok());
  ASSERT_EQ(page.values_size(), 3);
  EXPECT_EQ(page.values(0).machine_id(), "CNC-07");
  EXPECT_EQ(page.values(2).machine_id(), "CNC-08");
  EXPECT_EQ(page.values(2).data_item_id(), "a");
  const std::string token = page.next_page_token();
  ASSERT_FALSE(token.empty());
  // The same selection in another order continues; another one is refused by name.
  ASSERT_TRUE(Latest({"CNC-08", "CNC-09", "CNC-07"}, &page, {"a", "c"}, 3, token).ok());
  EXPECT_EQ(page.values_size(), 3);
  EXPECT_TRUE(page.next_page_token().empty());
  for (const auto& [other_machines, other_items] :
       std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>>{
           {{"CNC-07", "CNC-08"}, {"a", "c"}}, {machines, {"a"}}, {machines, {}}}) {
    grpc::Status s = Latest(other_machines, &page, other_items, 3, token);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    std::vector<std::string> fields;
    for (const auto& v : sdk::FieldViolations(sdk::FromGrpcStatus(s))) fields.push_back(v.field);
    EXPECT_THAT(fields, ElementsAre("page_token"));
  }
  grpc::Status s = Latest(machines, &page, {}, 10001);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// page_size 0 (everything) past the server's send limit is refused naming page_size;
// pages stop short of the limit instead.
TEST_F(LatestCacheTest, TooLargeAnAnswerIsRefusedAndPagesStayWithinTheLimit) {
  // Set before the service starts: its handlers read the config on other threads.
  config_.max_send_message_bytes = 4000;  // about 7 of the values below
  Start();
  std::vector<std::string> items;
  for (int i = 0; i < 20; ++i) items.push_back(absl::StrCat("text", i));
  Register("CNC-07", items);
  const absl::Time t = now_ - absl::Seconds(30);
  std::vector<v1::Sample> samples;
  for (const std::string& item : items) {
    v1::Sample s = Num("CNC-07", item, 0, t);
    s.set_text(std::string(500, 'x'));
    samples.push_back(s);
  }
  Ingest("w", 1, samples);
  v1::GetLatestValuesResponse response;
  grpc::Status s = Latest({"CNC-07"}, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<std::string> fields;
  for (const auto& v : sdk::FieldViolations(sdk::FromGrpcStatus(s))) fields.push_back(v.field);
  EXPECT_THAT(fields, ElementsAre("page_size"));
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("max-send-message-bytes"));

  size_t values = 0;
  std::string token;
  int pages = 0;
  do {
    ASSERT_TRUE(Latest({"CNC-07"}, &response, {}, 100, token).ok());
    EXPECT_LE(response.ByteSizeLong(), 4000u);
    EXPECT_GT(response.values_size(), 0);
    values += static_cast<size_t>(response.values_size());
    token = response.next_page_token();
    ASSERT_LT(++pages, 20);
  } while (!token.empty());
  EXPECT_EQ(values, items.size());
  EXPECT_GT(pages, 2);
}

}  // namespace
}  // namespace plantmesh::telemetry
