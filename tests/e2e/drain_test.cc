// SIGTERM drains: an in-flight watcher is ended with UNAVAILABLE (so it reconnects
// elsewhere), unary calls in progress complete (an acknowledged report is stored), and
// the server exits 0.
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

TEST(DrainTest, SigtermEndsWatchersWithUnavailableAndExitsZero) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or =
      Mesh::Start(MeshOptions{{"--drain-seconds", "5"}, nullptr, nullptr});
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());

  defect::v1::CreateDefectRequest request;
  *request.mutable_defect() = SampleDefect("VIN-DRAIN");
  ASSERT_TRUE(mesh.Defects("otto").CreateDefect(request).ok());

  // The watcher is surely established once it has received the first event.
  defect::v1::WatchDefectsRequest watch;
  watch.set_cursor("0");
  auto stream = mesh.Defects("manager").WatchDefects(watch);
  defect::v1::WatchDefectsResponse response;
  ASSERT_TRUE(stream->Next(&response)) << Describe(stream->Finish());

  absl::Time sent = absl::Now();
  std::thread terminator(
      [&mesh] { EXPECT_EQ(mesh.server().Terminate(), 0) << mesh.server().log(); });
  while (stream->Next(&response)) {
  }
  absl::Status ended = stream->Finish();
  terminator.join();
  EXPECT_EQ(ended.code(), absl::StatusCode::kUnavailable) << Describe(ended);
  EXPECT_LT(absl::Now() - sent, absl::Seconds(20)) << "drain took longer than its deadline";
  EXPECT_FALSE(mesh.server().running());
}

TEST(DrainTest, CallsAfterExitAreUnavailable) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start();
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  sdk::SystemClient client = mesh.System("anna");
  ASSERT_TRUE(client.WhoAmI(system::v1::WhoAmIRequest()).ok());
  ASSERT_EQ(mesh.server().Terminate(), 0) << mesh.server().log();
  auto after =
      client.WhoAmI(system::v1::WhoAmIRequest(), sdk::CallOptions::WithTimeout(absl::Seconds(5)));
  EXPECT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable) << Describe(after.status());
}

TEST(DrainTest, ReportsInFlightAtSigtermAreStoredWhenAcknowledged) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or =
      Mesh::Start(MeshOptions{{"--drain-seconds", "10"}, nullptr, nullptr});
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());

  // No SDK retries: the test wants the server's own answer to each call.
  sdk::ClientOptions options = mesh.OptionsFor("otto");
  options.retry.max_attempts = 1;

  struct Outcome {
    std::string vin;
    absl::StatusCode code;
    std::string id;  // when OK
    std::string message;
  };
  constexpr int kCallers = 16;
  constexpr int kAcknowledgedBeforeSigterm = 60;
  absl::Mutex mu;
  std::vector<Outcome> outcomes;
  int acknowledged = 0;
  int stopped = 0;  // callers that have ended
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      absl::StatusOr<sdk::DefectClient> client = sdk::DefectClient::Connect(options);
      ASSERT_TRUE(client.ok()) << Describe(client.status());
      // Reports back to back until the server stops answering.
      for (int i = 0;; ++i) {
        defect::v1::CreateDefectRequest request;
        *request.mutable_defect() = SampleDefect(absl::StrCat("VIN-DRAIN-", c, "-", i));
        auto created = client->CreateDefect(request);
        absl::MutexLock lock(&mu);
        outcomes.push_back({request.defect().vin(), created.status().code(),
                            created.ok() ? created->defect().id() : "",
                            created.ok() ? "" : Describe(created.status())});
        if (!created.ok()) {
          ++stopped;
          return;
        }
        ++acknowledged;
      }
    });
  }
  {
    absl::MutexLock lock(&mu);
    auto enough_or_failed = [&] {
      return acknowledged >= kAcknowledgedBeforeSigterm || stopped > 0;
    };
    mu.Await(absl::Condition(&enough_or_failed));
    ASSERT_EQ(stopped, 0) << "a report failed before SIGTERM: " << outcomes.back().message;
  }
  const int exit_code = mesh.server().Terminate();
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(exit_code, 0) << mesh.server().log();

  pqxx::connection connection(mesh.database_url());
  pqxx::work tx(connection);
  std::map<std::string, std::string> stored;  // id -> vin
  for (const auto& row : tx.exec("SELECT id, vin FROM defect.defects")) {
    stored[row[0].c_str()] = row[1].c_str();
  }
  int ok = 0;
  std::map<absl::StatusCode, int> failures;
  for (const Outcome& outcome : outcomes) {
    if (outcome.code == absl::StatusCode::kOk) {
      ++ok;
      auto it = stored.find(outcome.id);
      EXPECT_TRUE(it != stored.end() && it->second == outcome.vin)
          << "acknowledged report " << outcome.vin << " (id " << outcome.id
          << ") is not in the database";
      continue;
    }
    ++failures[outcome.code];
    EXPECT_TRUE(outcome.code == absl::StatusCode::kUnavailable ||
                outcome.code == absl::StatusCode::kCancelled)
        << outcome.vin << ": " << outcome.message;
  }
  EXPECT_GE(ok, kAcknowledgedBeforeSigterm);
  RecordProperty("acknowledged", ok);
  RecordProperty("refused", static_cast<int>(outcomes.size()) - ok);
}

}  // namespace
}  // namespace plantmesh::e2e
