// Redis is cache and fan-out only: with it stopped, calls keep succeeding and health
// says the dependency is NOT_SERVING; once it is back, a watcher receives the changes
// made meanwhile (the outbox kept them).
#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

constexpr char kRedisHealth[] = "plantmesh.dependency.redis";

// Waits until health of `service` is `want`; the last answer otherwise.
std::string AwaitHealth(const Mesh& mesh, const std::string& want, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> health = mesh.Health(kRedisHealth);
    last = health.ok() ? *health : Describe(health.status());
    if (last == want) return last;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return last;
}

// A watcher as an application writes one: reads from its last cursor, reconnects
// after a failure, and deduplicates by event id.
class Watcher {
 public:
  explicit Watcher(sdk::DefectClient client) : client_(std::move(client)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Watcher() { Stop(); }

  void Stop() {
    stop_ = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stream_) stream_->Cancel();
    }
    if (thread_.joinable()) thread_.join();
  }

  std::set<std::string> defect_ids() {
    std::lock_guard<std::mutex> lock(mu_);
    return defect_ids_;
  }
  int duplicates() const { return duplicates_.load(); }
  int resumed_from_oldest() const { return resumed_from_oldest_.load(); }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  void Run() {
    std::string cursor = "0";
    while (!stop_) {
      defect::v1::WatchDefectsRequest request;
      request.set_cursor(cursor);
      {
        std::lock_guard<std::mutex> lock(mu_);
        stream_ = client_.WatchDefects(request);
      }
      defect::v1::WatchDefectsResponse response;
      while (stream_->Next(&response)) {
        std::lock_guard<std::mutex> lock(mu_);
        cursor = response.event().cursor();
        if (!event_ids_.insert(response.event().event_id()).second) ++duplicates_;
        defect_ids_.insert(response.event().defect().id());
      }
      absl::Status status = stream_->Finish();
      if (stop_) break;
      {
        std::lock_guard<std::mutex> lock(mu_);
        failures_.push_back(Describe(status));
      }
      // A Redis that restarted empty no longer holds the cursor: the server says so
      // and names where to resume (the relay republished what was not yet sent).
      const std::string oldest = sdk::ErrorMetadata(status, "oldest_cursor");
      if (status.code() == absl::StatusCode::kFailedPrecondition && !oldest.empty()) {
        cursor = oldest;
        ++resumed_from_oldest_;
        continue;
      }
      absl::SleepFor(absl::Milliseconds(200));  // reconnect backoff
    }
  }

  sdk::DefectClient client_;
  std::atomic<bool> stop_{false};
  std::atomic<int> duplicates_{0};
  std::atomic<int> resumed_from_oldest_{0};
  std::mutex mu_;
  std::unique_ptr<sdk::ReadStream<defect::v1::WatchDefectsResponse>> stream_;
  std::set<std::string> event_ids_;
  std::set<std::string> defect_ids_;
  std::vector<std::string> failures_;
  std::thread thread_;
};

bool AwaitIds(Watcher& watcher, const std::vector<std::string>& ids, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::set<std::string> seen = watcher.defect_ids();
    bool all = true;
    for (const std::string& id : ids) all = all && seen.count(id) > 0;
    if (all) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

TEST(RedisDownTest, CallsSucceedHealthSaysSoAndWatchersCatchUp) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or =
      Mesh::Start(MeshOptions{{}, redis->get(), nullptr});
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());
  EXPECT_EQ(AwaitHealth(mesh, "SERVING", absl::Seconds(10)), "SERVING");

  sdk::DefectClient otto = mesh.Defects("otto");
  auto report = [&otto](const std::string& vin) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(vin);
    auto created = otto.CreateDefect(request);
    EXPECT_TRUE(created.ok()) << Describe(created.status());
    return created.ok() ? created->defect().id() : "";
  };

  Watcher watcher(mesh.Defects("manager"));
  std::vector<std::string> before = {report("VIN-REDIS-UP-1"), report("VIN-REDIS-UP-2")};
  ASSERT_TRUE(AwaitIds(watcher, before, absl::Seconds(20)))
      << "watcher saw nothing while Redis was up";

  (*redis)->Stop();
  std::vector<std::string> during;
  for (int i = 0; i < 5; ++i) during.push_back(report(absl::StrCat("VIN-REDIS-DOWN-", i)));
  for (const std::string& id : during) ASSERT_FALSE(id.empty());
  defect::v1::GetDefectRequest get;
  get.set_id(during[0]);
  auto got = otto.GetDefect(get);
  EXPECT_TRUE(got.ok()) << Describe(got.status());
  auto listed = otto.ListAllDefects(defect::v1::ListDefectsRequest());
  ASSERT_TRUE(listed.ok()) << Describe(listed.status());
  EXPECT_EQ(listed->size(), 7u);
  EXPECT_EQ(AwaitHealth(mesh, "NOT_SERVING", absl::Seconds(20)), "NOT_SERVING");
  absl::StatusOr<std::string> overall = mesh.Health("");
  EXPECT_TRUE(overall.ok() && *overall == "SERVING")
      << "the server as a whole keeps serving without Redis: "
      << (overall.ok() ? *overall : Describe(overall.status()));

  ASSERT_TRUE((*redis)->Restart().ok());
  EXPECT_EQ(AwaitHealth(mesh, "SERVING", absl::Seconds(30)), "SERVING");
  EXPECT_TRUE(AwaitIds(watcher, during, absl::Seconds(30)))
      << "changes made while Redis was down never reached the watcher";
  watcher.Stop();
  EXPECT_EQ(watcher.duplicates(), 0) << "duplicates are allowed, but dedup by event id saw some";
  for (const std::string& failure : watcher.failures()) {
    std::printf("watcher reconnected after: %s\n", failure.c_str());
  }
  std::printf("watcher resumed from the server's oldest cursor %d time(s)\n",
              watcher.resumed_from_oldest());
}

}  // namespace
}  // namespace plantmesh::e2e
