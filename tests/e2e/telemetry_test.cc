// The telemetry service end to end: plantmesh-server over mTLS on real PostgreSQL and
// Redis, driven through the SDK's generated TelemetryClient. A mixed batch (every
// reject reason beside valid samples, the valid rest stored), a re-sent batch answered
// as a duplicate and stored once (also on a new stream, as after a reconnect),
// out-of-order and equal timestamps, UNAVAILABLE values, partitions created ahead at
// start and retention dropping exactly the expired days.
#include <cmath>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/telemetry/v1/telemetry_service.pm_client.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

using ::testing::ElementsAre;
namespace v1 = ::plantmesh::telemetry::v1;

constexpr int kRetentionDays = 3;
constexpr int kAheadDays = 2;

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Time DayStart(absl::Time t) {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(t) / 86400 * 86400);
}

std::string PartitionName(absl::Time day) {
  return absl::StrCat("samples_", absl::FormatTime("%Y%m%d", day, absl::UTCTimeZone()));
}

class TelemetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    day_at_start_ = DayStart(absl::Now());
    MeshOptions options;
    options.server_args = {"--telemetry.retention-days", std::to_string(kRetentionDays),
                           "--telemetry.partitions-ahead-days", std::to_string(kAheadDays)};
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start(options);
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = *std::move(mesh);
  }

  sdk::TelemetryClient Client(const std::string& user) {
    absl::StatusOr<sdk::TelemetryClient> client =
        sdk::TelemetryClient::Connect(mesh_->OptionsFor(user));
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  // The UTC day when the server started (and made its partitions), for a test whose
  // expectations are days.
  absl::Time day_at_start_;

  std::set<std::string> Partitions() {
    pqxx::connection conn(mesh_->database_url());
    pqxx::nontransaction tx(conn);
    std::set<std::string> names;
    for (const pqxx::row& r :
         tx.exec("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                 "WHERE i.inhparent = 'telemetry.samples'::regclass")) {
      names.insert(r[0].as<std::string>());
    }
    return names;
  }

  int64_t StoredSamples() {
    pqxx::connection conn(mesh_->database_url());
    pqxx::nontransaction tx(conn);
    return tx.exec1("SELECT count(*) FROM telemetry.samples")[0].as<int64_t>();
  }

  void RegisterCnc(sdk::TelemetryClient& client) {
    v1::RegisterMachineRequest request;
    v1::Machine* m = request.mutable_machine();
    m->set_id("CNC-07");
    m->set_display_name("Fanuc 31i lathe 7");
    m->set_line("LINE-2");
    auto add = [&](const char* id, v1::DataItemCategory category, v1::DataItemType type) {
      v1::DataItem* item = m->add_data_items();
      item->set_id(id);
      item->set_category(category);
      item->set_type(type);
    };
    add("Xact", v1::DATA_ITEM_CATEGORY_EVENT, v1::DATA_ITEM_TYPE_EXECUTION);
    add("S1speed", v1::DATA_ITEM_CATEGORY_SAMPLE, v1::DATA_ITEM_TYPE_SPINDLE_SPEED);
    add("servo", v1::DATA_ITEM_CATEGORY_CONDITION, v1::DATA_ITEM_TYPE_SYSTEM);
    absl::StatusOr<v1::RegisterMachineResponse> registered = client.RegisterMachine(request);
    ASSERT_TRUE(registered.ok()) << registered.status();
  }

  std::unique_ptr<Mesh> mesh_;
};

v1::Sample Num(const std::string& item, double value, absl::Time t,
               const std::string& machine = "CNC-07") {
  v1::Sample s;
  s.set_machine_id(machine);
  s.set_data_item_id(item);
  SetTime(t, s.mutable_time());
  s.set_number(value);
  return s;
}

TEST_F(TelemetryTest, MixedBatchDuplicatesOrderAndUnavailable) {
  sdk::TelemetryClient ops = Client("ops");
  RegisterCnc(ops);
  sdk::TelemetryClient adapter = Client("ivan");  // integrator
  const absl::Time t = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));

  v1::IngestSamplesRequest batch;
  batch.set_writer_id("mtconnect-cnc07");
  batch.set_batch_sequence(1);
  *batch.add_samples() = Num("S1speed", 1200, t);                     // 0 ok
  *batch.add_samples() = Num("S1speed", 1100, t - absl::Seconds(5));  // 1 ok, older
  *batch.add_samples() = Num("S1speed", 1250, t);                     // 2 ok, equal time
  v1::Sample unavailable = Num("Xact", 0, t);                         // 3 ok
  unavailable.mutable_unavailable();
  *batch.add_samples() = unavailable;
  *batch.add_samples() = Num("S1speed", 1, t, "CNC-99");  // 4 unknown machine
  *batch.add_samples() = Num("S2speed", 1, t);            // 5 unknown item
  v1::Sample text = Num("S1speed", 0, t);                 // 6 wrong kind
  text.set_text("fast");
  *batch.add_samples() = text;
  *batch.add_samples() = Num("S1speed", std::nan(""), t);             // 7 not finite
  *batch.add_samples() = Num("S1speed", 1, t + absl::Hours(1));       // 8 future
  *batch.add_samples() = Num("S1speed", 1, t - absl::Hours(24 * 4));  // 9 too old
  *batch.add_samples() = Num("bad id", 1, t);                         // 10 invalid text
  v1::Sample no_time = Num("S1speed", 1, t);                          // 11 no time
  no_time.clear_time();
  *batch.add_samples() = no_time;
  v1::Sample condition = Num("servo", 0, t);  // 12 ok
  condition.mutable_condition()->set_level(v1::CONDITION_LEVEL_FAULT);
  condition.mutable_condition()->set_native_code("SV0401");
  *batch.add_samples() = condition;

  auto stream = adapter.IngestSamples();
  ASSERT_TRUE(stream->Write(batch));
  ASSERT_TRUE(stream->Write(batch));  // re-sent on the same stream
  v1::IngestSamplesResponse answer;
  ASSERT_TRUE(stream->Next(&answer));
  EXPECT_EQ(answer.batch_sequence(), 1u);
  EXPECT_EQ(answer.accepted_count(), 5);
  EXPECT_EQ(answer.duplicate_count(), 0);
  EXPECT_EQ(answer.rejected_count(), 8);
  std::vector<std::pair<int, v1::RejectReason>> rejects;
  for (const v1::RejectedSample& r : answer.rejected_samples()) {
    rejects.emplace_back(r.index(), r.reason());
    EXPECT_THAT(r.message(), ::testing::HasSubstr(absl::StrCat("samples[", r.index(), "]")));
  }
  EXPECT_THAT(rejects, ElementsAre(std::pair(4, v1::REJECT_REASON_UNKNOWN_MACHINE),
                                   std::pair(5, v1::REJECT_REASON_UNKNOWN_DATA_ITEM),
                                   std::pair(6, v1::REJECT_REASON_WRONG_VALUE_KIND),
                                   std::pair(7, v1::REJECT_REASON_NOT_FINITE),
                                   std::pair(8, v1::REJECT_REASON_TIME_IN_FUTURE),
                                   std::pair(9, v1::REJECT_REASON_TIME_OUT_OF_RANGE),
                                   std::pair(10, v1::REJECT_REASON_INVALID_TEXT),
                                   std::pair(11, v1::REJECT_REASON_TIME_OUT_OF_RANGE)));
  // The re-send: the 5 stored samples are duplicates, the 8 rejected stay rejected.
  ASSERT_TRUE(stream->Next(&answer));
  EXPECT_EQ(answer.batch_sequence(), 1u);
  EXPECT_EQ(answer.duplicate_count(), 5);
  EXPECT_EQ(answer.accepted_count(), 0);
  EXPECT_EQ(answer.rejected_count(), 8);
  std::vector<std::pair<int, v1::RejectReason>> recorded;
  for (const v1::RejectedSample& r : answer.rejected_samples()) {
    recorded.emplace_back(r.index(), r.reason());
  }
  EXPECT_EQ(recorded, rejects);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Next(&answer));
  ASSERT_TRUE(stream->Finish().ok());

  // A new stream (the writer reconnected) re-sends it: still a duplicate.
  auto again = adapter.IngestSamples();
  ASSERT_TRUE(again->Write(batch));
  ASSERT_TRUE(again->Next(&answer));
  EXPECT_EQ(answer.duplicate_count(), 5);
  EXPECT_EQ(answer.rejected_count(), 8);
  ASSERT_TRUE(again->WritesDone());
  EXPECT_FALSE(again->Next(&answer));
  ASSERT_TRUE(again->Finish().ok());
  EXPECT_EQ(StoredSamples(), 5);

  // Stored once, oldest first; equal times in the order stored.
  v1::QuerySamplesRequest query;
  query.set_machine_id("CNC-07");
  SetTime(t - absl::Minutes(1), query.mutable_start_time());
  SetTime(t + absl::Minutes(1), query.mutable_end_time());
  absl::StatusOr<v1::QuerySamplesResponse> samples = Client("otto").QuerySamples(query);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->samples_size(), 5);
  EXPECT_EQ(samples->samples(0).number(), 1100);
  EXPECT_EQ(samples->samples(1).number(), 1200);
  EXPECT_EQ(samples->samples(2).number(), 1250);
  EXPECT_EQ(TimeOf(samples->samples(1).time()), t);
  EXPECT_EQ(TimeOf(samples->samples(2).time()), t);
  EXPECT_TRUE(samples->samples(3).has_unavailable());
  EXPECT_EQ(samples->samples(4).condition().level(), v1::CONDITION_LEVEL_FAULT);

  v1::GetLatestValuesRequest latest_request;
  latest_request.add_machine_ids("CNC-07");
  absl::StatusOr<v1::GetLatestValuesResponse> latest =
      Client("otto").GetLatestValues(latest_request);
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_EQ(latest->values_size(), 3);  // S1speed, Xact, servo
  EXPECT_EQ(latest->values(0).data_item_id(), "S1speed");
  EXPECT_EQ(latest->values(0).number(), 1250);  // the later of the two at t
  EXPECT_EQ(latest->values(1).data_item_id(), "Xact");
  EXPECT_TRUE(latest->values(1).has_unavailable());

  // Only the roles of the contract may write.
  auto refused = Client("otto").IngestSamples();
  refused->Write(batch);
  refused->WritesDone();
  while (refused->Next(&answer)) {
  }
  EXPECT_EQ(refused->Finish().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(TelemetryTest, PartitionsCreatedAheadAndRetentionDropsExactlyTheExpiredDays) {
  const absl::Time today = DayStart(absl::Now());
  // Across midnight UTC the server's days and the test's differ by one.
  if (today != day_at_start_) GTEST_SKIP() << "the server started on the day before";
  std::set<std::string> expected;
  for (int d = -kRetentionDays; d <= kAheadDays; ++d) {
    expected.insert(PartitionName(today + absl::Hours(24) * d));
  }
  std::set<std::string> at_start = Partitions();
  for (const std::string& name : expected) EXPECT_EQ(at_start.count(name), 1u) << name;

  // Days older than retention, as a server that was down a while would find them.
  const std::vector<int> old_days = {-10, -kRetentionDays - 1};
  {
    pqxx::connection conn(mesh_->database_url());
    pqxx::nontransaction tx(conn);
    for (int d : old_days) {
      const absl::Time day = today + absl::Hours(24) * d;
      tx.exec(absl::StrCat("CREATE TABLE telemetry.", PartitionName(day),
                           " PARTITION OF telemetry.samples FOR VALUES FROM ('",
                           absl::FormatTime("%Y-%m-%d", day, absl::UTCTimeZone()),
                           " 00:00:00+00') TO ('",
                           absl::FormatTime("%Y-%m-%d", day + absl::Hours(24), absl::UTCTimeZone()),
                           " 00:00:00+00')"));
    }
  }
  ASSERT_TRUE(mesh_->RestartServer().ok());
  if (DayStart(absl::Now()) != today) GTEST_SKIP() << "the server restarted on the next day";
  std::set<std::string> after = Partitions();
  for (int d : old_days) {
    EXPECT_EQ(after.count(PartitionName(today + absl::Hours(24) * d)), 0u) << d;
  }
  // Exactly those: every retained day and every day ahead is still there.
  EXPECT_EQ(after, expected);
  EXPECT_THAT(mesh_->server().log(),
              ::testing::HasSubstr(PartitionName(today + absl::Hours(24) * old_days[0])));
}

}  // namespace
}  // namespace plantmesh::e2e
