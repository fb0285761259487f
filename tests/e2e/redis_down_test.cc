// Redis is cache and fan-out only: with it stopped, calls keep succeeding and health
// says the dependency is NOT_SERVING; once it is back (empty: a new stream generation),
// a list+watch client lists again and has the changes made meanwhile.
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "plantmesh/sdk/defect_list_watch.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"
#include "tests/support/child_process.h"
#include "tests/support/poll.h"

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

// A watcher as an application writes one: the SDK's ListWatch, which lists, watches
// from the list's cursor, resumes after UNAVAILABLE and lists again when the server says
// its cursor can no longer be served (a Redis that came back empty).
class Watcher {
 public:
  explicit Watcher(sdk::DefectClient client)
      : client_(std::move(client)),
        board_(sdk::DefectListWatchSource(&client_, defect::v1::ListDefectsRequest())) {
    thread_ = std::thread([this] { status_ = board_.Run({}); });
  }
  ~Watcher() { Stop(); }

  void Stop() {
    board_.Stop();
    if (thread_.joinable()) thread_.join();
  }

  std::set<std::string> defect_ids() {
    std::set<std::string> ids;
    for (const auto& [id, defect] : board_.Items()) ids.insert(id);
    return ids;
  }
  sdk::ListWatchStats stats() const { return board_.Stats(); }
  absl::Status status() const { return status_; }

 private:
  sdk::DefectClient client_;
  sdk::DefectListWatch board_;
  absl::Status status_;
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
  // Redis came back empty: a new generation, so the watcher had to list again.
  const std::string after_restart = report("VIN-REDIS-BACK");
  EXPECT_TRUE(AwaitIds(watcher, {after_restart}, absl::Seconds(30)));
  watcher.Stop();
  EXPECT_TRUE(watcher.status().ok()) << Describe(watcher.status());
  sdk::ListWatchStats stats = watcher.stats();
  EXPECT_GE(stats.lists, 2) << "the reset stream must make the watcher list again";
  std::printf("watcher: %lld lists, %lld resumes, %lld duplicates dropped; last end: %s\n",
              static_cast<long long>(stats.lists), static_cast<long long>(stats.resumes),
              static_cast<long long>(stats.duplicates), stats.last_end.c_str());
}

// A plant's Redis wants a password (and often an ACL user of PlantMesh's own): the
// server authenticates every connection it opens (relay, event hub, latest values), so
// watchers get their changes; a wrong password stops the start, naming the settings and
// never the password.
TEST(RedisDownTest, APasswordProtectedRedisIsUsedWithItsPasswordFile) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::Start("mesh pass");
  ASSERT_TRUE(redis.ok()) << redis.status();
  absl::StatusOr<std::string> dir = testing::internal::MakeTempDir("plantmesh-redis-auth-");
  ASSERT_TRUE(dir.ok()) << dir.status();
  testing::internal::RemoveTreeOnExit remove_dir(*dir);
  const std::string password_file = *dir + "/redis-password";
  std::ofstream(password_file) << "mesh pass\n";
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or =
      Mesh::Start(MeshOptions{{"--redis-password-file", password_file}, redis->get(), nullptr});
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());
  EXPECT_EQ(AwaitHealth(mesh, "SERVING", absl::Seconds(10)), "SERVING");

  Watcher watcher(mesh.Defects("manager"));
  defect::v1::CreateDefectRequest request;
  *request.mutable_defect() = SampleDefect("VIN-REDIS-AUTH-1");
  auto created = mesh.Defects("otto").CreateDefect(request);
  ASSERT_TRUE(created.ok()) << Describe(created.status());
  EXPECT_TRUE(AwaitIds(watcher, {created->defect().id()}, absl::Seconds(20)))
      << "the change did not reach the watcher through the password-protected Redis";
  watcher.Stop();
  EXPECT_TRUE(watcher.status().ok()) << Describe(watcher.status());

  // The password changed in Redis under the running server: its log says Redis refuses
  // its credentials (outside testing: only "Server closed the connection"), health says
  // NOT_SERVING, and all is well again once the password is back.
  ASSERT_TRUE((*redis)->ChangePassword("rotated").ok());
  EXPECT_TRUE(testing::PollUntil(
      [&] {
        return mesh.server().log().find("Redis refuses this server's credentials") !=
               std::string::npos;
      },
      absl::Seconds(30)))
      << mesh.server().log();
  EXPECT_EQ(mesh.server().log().find("mesh pass"), std::string::npos) << "the password logged";
  EXPECT_EQ(AwaitHealth(mesh, "NOT_SERVING", absl::Seconds(20)), "NOT_SERVING");
  ASSERT_TRUE((*redis)->ChangePassword("mesh_pass").ok());
  std::ofstream(password_file) << "mesh_pass\n";
  ASSERT_TRUE(mesh.RestartServer().ok());  // a changed password is read at start
  EXPECT_EQ(AwaitHealth(mesh, "SERVING", absl::Seconds(20)), "SERVING");

  std::ofstream(password_file) << "not the password\n";
  testing::ServerProcess::Options wrong;
  wrong.services = {"defect"};
  wrong.postgres_url = mesh.database_url();
  wrong.redis_port = (*redis)->port();
  wrong.pki = &mesh.pki();
  wrong.extra_args = {"--redis-password-file", password_file};
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> refused =
      testing::ServerProcess::Start(wrong);
  ASSERT_FALSE(refused.ok()) << "a server with a wrong Redis password started";
  const std::string message(refused.status().message());
  EXPECT_NE(message.find("AUTH refused (redis-user, redis-password-file): WRONGPASS"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("not the password"), std::string::npos) << message;
}

}  // namespace
}  // namespace plantmesh::e2e
