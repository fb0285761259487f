// Two plantmesh-server replicas on one database and one Redis: a watcher on one replica
// sees every change made through the other, in commit order, and when its replica is
// terminated it resumes on the other one from its last cursor without losing or
// repeating an event.
#include <unistd.h>

#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

constexpr char kZone[] = "REPLZONE";

// Reads one WatchDefects stream on its own thread, keeping every event.
class Watcher {
 public:
  Watcher(const sdk::ClientOptions& options, const std::string& cursor) {
    absl::StatusOr<sdk::DefectClient> client = sdk::DefectClient::Connect(options);
    EXPECT_TRUE(client.ok()) << Describe(client.status());
    client_ = std::make_unique<sdk::DefectClient>(*std::move(client));
    defect::v1::WatchDefectsRequest request;
    request.set_cursor(cursor);
    request.set_zone(kZone);
    stream_ = client_->WatchDefects(request);
    reader_ = std::thread([this] {
      defect::v1::WatchDefectsResponse response;
      while (stream_->Next(&response)) {
        absl::MutexLock lock(&mu_);
        events_.push_back(response.event());
      }
      absl::Status ended = stream_->Finish();
      absl::MutexLock lock(&mu_);
      ended_ = true;
      end_status_ = ended;
    });
  }
  ~Watcher() {
    Cancel();
    reader_.join();
  }

  void Cancel() { stream_->Cancel(); }

  // Waits until `count` events have arrived or the stream has ended.
  bool AwaitEvents(size_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto done = [&] { return events_.size() >= count || ended_; };
    mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
    return events_.size() >= count;
  }

  // Waits for the end of the stream and returns its status.
  absl::StatusOr<absl::Status> AwaitEnd(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto done = [&] { return ended_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
      return absl::DeadlineExceededError("the watch did not end");
    }
    return end_status_;
  }

  std::vector<defect::v1::DefectEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  std::unique_ptr<sdk::DefectClient> client_;
  std::unique_ptr<sdk::ReadStream<defect::v1::WatchDefectsResponse>> stream_;
  std::thread reader_;
  absl::Mutex mu_;
  std::vector<defect::v1::DefectEvent> events_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
};

std::string Vin(int i) { return absl::StrCat("VIN-REPL-", i); }

// Checks that `events` are the reports of Vin(from) .. Vin(to - 1), in that order.
void ExpectReportsInOrder(const std::vector<defect::v1::DefectEvent>& events, int from, int to) {
  std::vector<std::string> got;
  for (const defect::v1::DefectEvent& event : events) {
    EXPECT_EQ(event.change_type(), defect::v1::CHANGE_TYPE_REPORTED) << event.DebugString();
    got.push_back(event.defect().vin());
  }
  std::vector<std::string> expected;
  for (int i = from; i < to; ++i) expected.push_back(Vin(i));
  EXPECT_EQ(got, expected);
}

TEST(ReplicasTest, WatcherFollowsChangesOfTheOtherReplicaAndResumesThereAfterSigterm) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or =
      Mesh::Start(MeshOptions{{"--drain-seconds", "5"}, nullptr, nullptr});
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());

  // Replica B: same database, same Redis, same PKI.
  testing::ServerProcess::Options b_options;
  b_options.postgres_url = mesh.database_url();
  b_options.redis_port = testing::SharedRedis().port();
  b_options.pki = &mesh.pki();
  b_options.extra_args = {"--drain-seconds", "5"};
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> b_or =
      testing::ServerProcess::Start(b_options);
  ASSERT_TRUE(b_or.ok()) << b_or.status();
  testing::ServerProcess& server_b = **b_or;
  auto on_b = [&](const std::string& user) {
    sdk::ClientOptions options = mesh.OptionsFor(user);
    options.endpoint = server_b.endpoint();
    return options;
  };
  absl::StatusOr<sdk::DefectClient> writer = sdk::DefectClient::Connect(on_b("otto"));
  ASSERT_TRUE(writer.ok()) << Describe(writer.status());
  auto report = [&](int i) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(Vin(i));
    request.mutable_defect()->set_zone(kZone);
    auto created = writer->CreateDefect(request);
    ASSERT_TRUE(created.ok()) << Vin(i) << ": " << Describe(created.status());
  };

  // Phase 1: watch on A from the oldest change, write on B.
  constexpr int kFirst = 30;
  auto watcher_a = std::make_unique<Watcher>(mesh.OptionsFor("manager"), "0");
  for (int i = 0; i < kFirst; ++i) report(i);
  ASSERT_TRUE(watcher_a->AwaitEvents(kFirst, absl::Seconds(30)))
      << watcher_a->events().size() << " of " << kFirst << " events arrived on A";
  ExpectReportsInOrder(watcher_a->events(), 0, kFirst);

  // Phase 2: B keeps taking reports while A is terminated under the watcher.
  constexpr int kTotal = 90;
  std::thread writing([&] {
    for (int i = kFirst; i < kTotal; ++i) report(i);
  });
  ASSERT_TRUE(watcher_a->AwaitEvents(kFirst + 10, absl::Seconds(30)));
  EXPECT_EQ(mesh.server().Terminate(), 0) << mesh.server().log();
  absl::StatusOr<absl::Status> a_ended = watcher_a->AwaitEnd(absl::Seconds(20));
  ASSERT_TRUE(a_ended.ok()) << a_ended.status();
  EXPECT_EQ(a_ended->code(), absl::StatusCode::kUnavailable) << Describe(*a_ended);

  std::vector<defect::v1::DefectEvent> seen_on_a = watcher_a->events();
  const std::string last_cursor = seen_on_a.back().cursor();
  Watcher watcher_b(on_b("manager"), last_cursor);
  writing.join();
  const size_t remaining = kTotal - seen_on_a.size();
  ASSERT_TRUE(watcher_b.AwaitEvents(remaining, absl::Seconds(30)))
      << watcher_b.events().size() << " of " << remaining << " events arrived on B after "
      << seen_on_a.size() << " on A";

  std::vector<defect::v1::DefectEvent> all = seen_on_a;
  for (const defect::v1::DefectEvent& event : watcher_b.events()) all.push_back(event);
  ExpectReportsInOrder(all, 0, kTotal);
  std::map<std::string, int> deliveries;
  for (const defect::v1::DefectEvent& event : all) ++deliveries[event.event_id()];
  for (const auto& [event_id, count] : deliveries) {
    EXPECT_EQ(count, 1) << "event " << event_id << " delivered " << count << " times";
  }
  RecordProperty("events_on_a", static_cast<int>(seen_on_a.size()));
  RecordProperty("events_on_b", static_cast<int>(all.size() - seen_on_a.size()));
  EXPECT_EQ(server_b.Terminate(), 0) << server_b.log();
}

// Outside testing: two PlantMesh databases (staging and production) on one Redis read
// each other's latest values and events, and reset each other's stream generation on
// every write. A server refuses a Redis that holds another database's data.
TEST(ReplicasTest, AServerOfAnotherDatabaseRefusesTheRedisOfTheFirst) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start(MeshOptions{});
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  absl::StatusOr<std::string> other =
      testing::SharedPostgres().CreateDatabase(absl::StrCat("other_plant_", getpid()));
  ASSERT_TRUE(other.ok()) << other.status();
  testing::ServerProcess::Options b_options;
  b_options.postgres_url = *other;
  b_options.redis_port = testing::SharedRedis().port();
  b_options.pki = &mesh.pki();
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> refused =
      testing::ServerProcess::Start(b_options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("another PlantMesh database"),
            std::string::npos)
      << refused.status();

  // A replica of the first database shares it, as before.
  b_options.postgres_url = mesh.database_url();
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> replica =
      testing::ServerProcess::Start(b_options);
  EXPECT_TRUE(replica.ok()) << replica.status();

  // A server that is running when another database claims its Redis (that database's
  // server won the race for a flushed Redis) stops reading it: its watchers end,
  // resumably (outside testing: they received the other database's events).
  Watcher watcher(mesh.OptionsFor("manager"), "");
  ASSERT_TRUE(testing::SharedRedis().Set("plantmesh:installation", "another-database").ok());
  absl::StatusOr<absl::Status> ended = watcher.AwaitEnd(absl::Seconds(30));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->code(), absl::StatusCode::kUnavailable) << Describe(*ended);
  EXPECT_EQ(sdk::ErrorReason(*ended), "REDIS_HELD_BY_ANOTHER_DATABASE") << Describe(*ended);
  ASSERT_TRUE(testing::SharedRedis().Flush().ok());  // the first database's again
}

}  // namespace
}  // namespace plantmesh::e2e
