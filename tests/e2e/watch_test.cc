// WatchDefects from a cursor: a watcher that disconnects and resumes from the last
// cursor it saw receives every change exactly once; a cursor older than what the
// server retains is refused with the oldest valid cursor, never skipped silently.
#include <atomic>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

using defect::v1::DefectEvent;
using defect::v1::WatchDefectsRequest;
using defect::v1::WatchDefectsResponse;

constexpr absl::Duration kStreamTimeout = absl::Seconds(60);

// Reads `count` events (or fewer if the stream ends), then cancels the stream.
std::vector<DefectEvent> ReadEvents(sdk::ReadStream<WatchDefectsResponse>& stream, size_t count) {
  std::vector<DefectEvent> events;
  WatchDefectsResponse response;
  while (events.size() < count && stream.Next(&response)) events.push_back(response.event());
  stream.Cancel();
  return events;
}

// Waits until the event of the report of `vin` is in the event stream: the relay
// publishes reports after they were acknowledged.
void AwaitPublished(Mesh& mesh, const std::string& vin) {
  const absl::Time deadline = absl::Now() + kStreamTimeout;
  absl::Status ended;
  while (absl::Now() < deadline) {
    WatchDefectsRequest from_start;
    from_start.set_cursor("0");
    auto stream = mesh.Defects("manager").WatchDefects(
        from_start, sdk::CallOptions::WithTimeout(kStreamTimeout));
    WatchDefectsResponse response;
    bool seen = false;  // the stream also holds other tests' events
    while (!seen && stream->Next(&response)) seen = response.event().defect().vin() == vin;
    if (seen) {
      stream->Cancel();
      return;
    }
    // While the relay still publishes, a small retention trims under the reader: again.
    ended = stream->Finish();
    if (ended.code() != absl::StatusCode::kFailedPrecondition) break;
  }
  FAIL() << vin << " was not published: " << Describe(ended);
}

std::string Report(sdk::DefectClient& client, const std::string& vin) {
  defect::v1::CreateDefectRequest request;
  *request.mutable_defect() = SampleDefect(vin);
  auto created = client.CreateDefect(request);
  EXPECT_TRUE(created.ok()) << Describe(created.status());
  return created.ok() ? created->defect().id() : "";
}

TEST(WatchTest, ResumeFromLastCursorDeliversEveryEventOnce) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  ASSERT_TRUE((*mesh)->SeedReferenceData().ok());
  sdk::DefectClient otto = (*mesh)->Defects("otto");
  sdk::DefectClient anna = (*mesh)->Defects("anna");
  sdk::DefectClient watcher = (*mesh)->Defects("mike");

  std::vector<std::string> first_batch;
  for (int i = 0; i < 5; ++i) first_batch.push_back(Report(otto, absl::StrCat("VIN-W1-", i)));

  WatchDefectsRequest from_oldest;
  from_oldest.set_cursor("0");
  auto stream = watcher.WatchDefects(from_oldest, sdk::CallOptions::WithTimeout(kStreamTimeout));
  std::vector<DefectEvent> before = ReadEvents(*stream, 3);
  ASSERT_EQ(before.size(), 3u) << Describe(stream->Finish());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].change_type(), defect::v1::CHANGE_TYPE_REPORTED);
    EXPECT_EQ(before[i].defect().id(), first_batch[i]);
    EXPECT_FALSE(before[i].event_id().empty());
    EXPECT_FALSE(before[i].cursor().empty());
  }
  const std::string last_cursor = before.back().cursor();

  // While disconnected: more reports and a transition.
  std::vector<std::string> second_batch;
  for (int i = 0; i < 4; ++i) second_batch.push_back(Report(otto, absl::StrCat("VIN-W2-", i)));
  defect::v1::AssignDefectRequest assign;
  assign.set_id(first_batch[0]);
  assign.set_repair_place_id("RP-01");
  assign.set_mechanic_id("M-107");
  ASSERT_TRUE(anna.AssignDefect(assign).ok());

  // Expected after the cursor: 2 remaining reports, 4 new reports, 1 assignment.
  WatchDefectsRequest resume;
  resume.set_cursor(last_cursor);
  auto resumed = watcher.WatchDefects(resume, sdk::CallOptions::WithTimeout(kStreamTimeout));
  std::vector<DefectEvent> after = ReadEvents(*resumed, 7);
  ASSERT_EQ(after.size(), 7u) << Describe(resumed->Finish());

  std::set<std::string> seen;
  for (const DefectEvent& e : before) seen.insert(e.event_id());
  std::vector<std::pair<std::string, defect::v1::ChangeType>> received;
  for (const DefectEvent& e : after) {
    EXPECT_TRUE(seen.insert(e.event_id()).second)
        << "event " << e.event_id() << " delivered again after resuming";
    received.emplace_back(e.defect().id(), e.change_type());
  }
  std::vector<std::pair<std::string, defect::v1::ChangeType>> expected = {
      {first_batch[3], defect::v1::CHANGE_TYPE_REPORTED},
      {first_batch[4], defect::v1::CHANGE_TYPE_REPORTED}};
  for (const std::string& id : second_batch) {
    expected.emplace_back(id, defect::v1::CHANGE_TYPE_REPORTED);
  }
  expected.emplace_back(first_batch[0], defect::v1::CHANGE_TYPE_ASSIGNED);
  EXPECT_EQ(received, expected);
  EXPECT_EQ(after.back().actor(),
            absl::StrCat("spiffe://", testing::TestPki::kTrustDomain, "/user/anna"));
  EXPECT_EQ(after.back().defect().status(), defect::v1::DEFECT_STATUS_ASSIGNED);
}

TEST(WatchTest, LiveWatcherFromNowSeesNewChangesOnly) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  ASSERT_TRUE((*mesh)->SeedReferenceData().ok());
  sdk::DefectClient otto = (*mesh)->Defects("otto");
  Report(otto, "VIN-OLD");
  // "From now" must start after the old report reached the stream (it is published
  // after it was acknowledged), or the watcher rightly sees it.
  AwaitPublished(**mesh, "VIN-OLD");

  auto stream = (*mesh)->Defects("manager").WatchDefects(
      WatchDefectsRequest(), sdk::CallOptions::WithTimeout(kStreamTimeout));
  // "From now" starts when the server has the stream; keep reporting until the
  // watcher has seen one, then check it never saw the old one.
  std::atomic<bool> stop{false};
  std::thread reporter([&] {
    for (int i = 0; i < 200 && !stop.load(); ++i) {
      Report(otto, absl::StrCat("VIN-NEW-", i));
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  std::vector<DefectEvent> events = ReadEvents(*stream, 1);
  stop = true;
  reporter.join();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0].defect().vin(), ::testing::StartsWith("VIN-NEW-"));
}

TEST(WatchTest, CursorOlderThanRetainedIsRefusedWithTheOldestCursor) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh =
      Mesh::Start(MeshOptions{{"--events-retain", "5"}, nullptr, nullptr});
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  ASSERT_TRUE((*mesh)->SeedReferenceData().ok());
  sdk::DefectClient otto = (*mesh)->Defects("otto");
  sdk::DefectClient watcher = (*mesh)->Defects("qc_engineer");

  Report(otto, "VIN-RETAIN-FIRST");
  WatchDefectsRequest from_oldest;
  from_oldest.set_cursor("0");
  auto first = watcher.WatchDefects(from_oldest, sdk::CallOptions::WithTimeout(kStreamTimeout));
  std::vector<DefectEvent> events = ReadEvents(*first, 1);
  ASSERT_EQ(events.size(), 1u) << Describe(first->Finish());
  const std::string stale_cursor = events[0].cursor();

  // Far more than retained (Redis may trim approximately, by whole nodes of 100).
  for (int i = 0; i < 250; ++i) Report(otto, absl::StrCat("VIN-RETAIN-", i));
  // All published (and trimmed): the oldest retained cursor stays where it is below.
  AwaitPublished(**mesh, "VIN-RETAIN-249");

  WatchDefectsRequest stale;
  stale.set_cursor(stale_cursor);
  auto refused = watcher.WatchDefects(stale, sdk::CallOptions::WithTimeout(kStreamTimeout));
  WatchDefectsResponse response;
  EXPECT_FALSE(refused->Next(&response)) << "delivered " << response.ShortDebugString();
  absl::Status status = refused->Finish();
  ASSERT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << Describe(status);
  const std::string oldest = sdk::ErrorMetadata(status, "oldest_cursor");
  ASSERT_FALSE(oldest.empty()) << Describe(status);

  // The oldest cursor the server named is accepted.
  WatchDefectsRequest from_named;
  from_named.set_cursor(oldest);
  auto resumed = watcher.WatchDefects(from_named, sdk::CallOptions::WithTimeout(kStreamTimeout));
  std::vector<DefectEvent> later = ReadEvents(*resumed, 1);
  ASSERT_EQ(later.size(), 1u) << Describe(resumed->Finish());
  EXPECT_THAT(later[0].defect().vin(), ::testing::StartsWith("VIN-RETAIN-"));
}

}  // namespace
}  // namespace plantmesh::e2e
