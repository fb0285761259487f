// SIGTERM drains: an in-flight watcher is ended with UNAVAILABLE (so it reconnects
// elsewhere), unary calls in progress complete, and the server exits 0.
#include <thread>

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

}  // namespace
}  // namespace plantmesh::e2e
