// WatchDefects from a cursor: a watcher that disconnects and resumes from the last
// cursor it saw receives every change exactly once; a cursor older than what the
// server retains is refused with the oldest valid cursor, never skipped silently.
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <utility>

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
  // Cancelled only when complete, so that Finish tells why a short stream ended.
  if (events.size() == count) stream.Cancel();
  return events;
}

std::string Report(sdk::DefectClient& client, const std::string& vin) {
  defect::v1::CreateDefectRequest request;
  *request.mutable_defect() = SampleDefect(vin);
  auto created = client.CreateDefect(request);
  EXPECT_TRUE(created.ok()) << Describe(created.status());
  return created.ok() ? created->defect().id() : "";
}

// A mesh on a Redis of its own (the shared one holds other tests' events, some trimmed),
// its reference data seeded. The mesh goes before its Redis.
struct MeshOnItsOwnRedis {
  std::unique_ptr<testing::RedisServer> redis;
  std::unique_ptr<Mesh> mesh;
};
absl::StatusOr<MeshOnItsOwnRedis> StartOnItsOwnRedis() {
  MeshOnItsOwnRedis own;
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis = testing::RedisServer::Start();
  if (!redis.ok()) return redis.status();
  own.redis = *std::move(redis);
  absl::StatusOr<std::unique_ptr<Mesh>> mesh =
      Mesh::Start(MeshOptions{{}, own.redis.get(), nullptr});
  if (!mesh.ok()) return mesh.status();
  own.mesh = *std::move(mesh);
  absl::Status seeded = own.mesh->SeedReferenceData();
  if (!seeded.ok()) return seeded;
  return own;
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

// "From now" means from the list's snapshot: a change acknowledged before the watch
// started may come again (the relay publishes after the commit), recognisable by its
// revision; nothing older is ever new, and every newer change arrives.
TEST(WatchTest, LiveWatcherFromNowSeesNewChangesOnly) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  ASSERT_TRUE((*mesh)->SeedReferenceData().ok());
  sdk::DefectClient otto = (*mesh)->Defects("otto");
  const std::string old_id = Report(otto, "VIN-OLD");

  sdk::DefectClient manager = (*mesh)->Defects("manager");
  auto listed = manager.ListDefects(defect::v1::ListDefectsRequest());
  ASSERT_TRUE(listed.ok()) << Describe(listed.status());
  ASSERT_FALSE(listed->watch_cursor().empty());
  std::map<std::string, int64_t> known;  // id -> revision the list showed
  for (const defect::v1::Defect& d : listed->defects()) known[d.id()] = d.revision();
  ASSERT_EQ(known.count(old_id), 1u);

  WatchDefectsRequest from_list;
  from_list.set_cursor(listed->watch_cursor());
  auto stream = manager.WatchDefects(from_list, sdk::CallOptions::WithTimeout(kStreamTimeout));
  const std::string new_id = Report(otto, "VIN-NEW");
  std::vector<DefectEvent> events;
  WatchDefectsResponse response;
  while (stream->Next(&response)) {
    events.push_back(response.event());
    if (response.event().defect().id() == new_id) break;
  }
  stream->Cancel();
  ASSERT_FALSE(events.empty()) << Describe(stream->Finish());
  EXPECT_EQ(events.back().defect().id(), new_id);
  EXPECT_EQ(events.back().defect().vin(), "VIN-NEW");
  EXPECT_EQ(events.back().revision(), 1);
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto it = known.find(events[i].defect().id());
    ASSERT_NE(it, known.end()) << "an event that is neither new nor listed: "
                               << events[i].ShortDebugString();
    EXPECT_LE(events[i].revision(), it->second) << "a duplicate must be recognisable";
  }
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
  // The relay publishes after the commits: wait until the last report is in the stream,
  // after which nothing trims it any more and "oldest" stays put. (A watcher from "0"
  // may itself be cut with CURSOR_EXPIRED while the relay trims: then look again.)
  bool published = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!published && absl::Now() < deadline) {
    auto tail = watcher.WatchDefects(from_oldest, sdk::CallOptions::WithTimeout(kStreamTimeout));
    WatchDefectsResponse last;
    while (!published && tail->Next(&last)) {
      published = last.event().defect().vin() == "VIN-RETAIN-249";
    }
    if (published) tail->Cancel();
    absl::Status ended = tail->Finish();
    if (!published) {
      ASSERT_EQ(ended.code(), absl::StatusCode::kFailedPrecondition) << Describe(ended);
    }
  }
  ASSERT_TRUE(published);

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

  // With events trimmed, `1-0` is refused too, and `0` is the oldest retained event.
  WatchDefectsRequest one;
  one.set_cursor("1-0");
  auto refused_one = watcher.WatchDefects(one, sdk::CallOptions::WithTimeout(kStreamTimeout));
  EXPECT_FALSE(refused_one->Next(&response));
  absl::Status one_status = refused_one->Finish();
  EXPECT_EQ(one_status.code(), absl::StatusCode::kFailedPrecondition) << Describe(one_status);
  EXPECT_EQ(sdk::ErrorReason(one_status), "CURSOR_EXPIRED");
  auto from_zero = watcher.WatchDefects(from_oldest, sdk::CallOptions::WithTimeout(kStreamTimeout));
  std::vector<DefectEvent> oldest_retained = ReadEvents(*from_zero, 1);
  ASSERT_EQ(oldest_retained.size(), 1u) << Describe(from_zero->Finish());
  EXPECT_EQ(oldest_retained[0].cursor(), later[0].cursor());
}

TEST(WatchTest, CursorCasesWithoutTrimming) {
  absl::StatusOr<MeshOnItsOwnRedis> own = StartOnItsOwnRedis();
  ASSERT_TRUE(own.ok()) << own.status();
  sdk::DefectClient otto = own->mesh->Defects("otto");
  sdk::DefectClient watcher = own->mesh->Defects("manager");
  const std::string first = Report(otto, "VIN-CURSOR-1");
  Report(otto, "VIN-CURSOR-2");

  // Nothing was trimmed: `0` and `1-0` both start at the oldest event.
  for (const char* cursor : {"0", "1-0"}) {
    WatchDefectsRequest request;
    request.set_cursor(cursor);
    auto stream = watcher.WatchDefects(request, sdk::CallOptions::WithTimeout(kStreamTimeout));
    std::vector<DefectEvent> events = ReadEvents(*stream, 2);
    ASSERT_EQ(events.size(), 2u) << cursor << ": " << Describe(stream->Finish());
    EXPECT_EQ(events[0].defect().id(), first) << cursor;
    // Every cursor the server hands out carries the stream's generation.
    EXPECT_THAT(events[0].cursor(), ::testing::MatchesRegex("[0-9a-f]{16}\\.[0-9]+-[0-9]+"));
  }

  // A cursor newer than the newest event: INVALID_ARGUMENT naming `cursor`, with the
  // newest valid cursor (it used to keep the stream open forever).
  WatchDefectsRequest future;
  future.set_cursor("99999999999999-0");
  auto refused = watcher.WatchDefects(future, sdk::CallOptions::WithTimeout(kStreamTimeout));
  WatchDefectsResponse response;
  EXPECT_FALSE(refused->Next(&response)) << response.ShortDebugString();
  absl::Status status = refused->Finish();
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << Describe(status);
  std::vector<sdk::FieldViolationView> fields = sdk::FieldViolations(status);
  ASSERT_EQ(fields.size(), 1u) << Describe(status);
  EXPECT_EQ(fields[0].field, "cursor");
  const std::string newest = sdk::ErrorMetadata(status, "newest_cursor");
  ASSERT_FALSE(newest.empty()) << Describe(status);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(newest));
  // ... and that one is accepted: the next change follows it.
  WatchDefectsRequest from_newest;
  from_newest.set_cursor(newest);
  auto stream = watcher.WatchDefects(from_newest, sdk::CallOptions::WithTimeout(kStreamTimeout));
  const std::string third = Report(otto, "VIN-CURSOR-3");
  std::vector<DefectEvent> events = ReadEvents(*stream, 1);
  ASSERT_EQ(events.size(), 1u) << Describe(stream->Finish());
  EXPECT_EQ(events[0].defect().id(), third);
}

// max_changes_per_response: what waits for a watcher comes in fewer messages, in
// `changes`, in order; the last change's cursor resumes after the whole message.
TEST(WatchTest, SeveralChangesPerResponseCarryEveryChangeInOrder) {
  absl::StatusOr<MeshOnItsOwnRedis> own = StartOnItsOwnRedis();
  ASSERT_TRUE(own.ok()) << own.status();
  sdk::DefectClient otto = own->mesh->Defects("otto");
  sdk::DefectClient watcher = own->mesh->Defects("manager");
  std::vector<std::string> reported;
  for (int i = 0; i < 12; ++i) reported.push_back(Report(otto, absl::StrCat("VIN-MANY-", i)));

  // Read from `cursor` until `count` changes came; the message sizes into *sizes.
  auto read = [&](const std::string& cursor, size_t count, std::vector<int>* sizes) {
    WatchDefectsRequest request;
    request.set_cursor(cursor);
    request.set_max_changes_per_response(5);
    auto stream = watcher.WatchDefects(request, sdk::CallOptions::WithTimeout(kStreamTimeout));
    std::vector<DefectEvent> events;
    WatchDefectsResponse response;
    while (events.size() < count && stream->Next(&response)) {
      EXPECT_FALSE(response.has_event()) << "one change per response is the default's shape";
      sizes->push_back(response.changes_size());
      for (const WatchDefectsResponse::Change& change : response.changes()) {
        events.push_back(change.event());
      }
    }
    if (events.size() >= count) stream->Cancel();
    EXPECT_GE(events.size(), count) << Describe(stream->Finish());
    return events;
  };
  // From `0` all twelve wait when the watch begins: messages of at most five.
  std::vector<int> sizes;
  std::vector<DefectEvent> events = read("0", reported.size(), &sizes);
  ASSERT_EQ(events.size(), reported.size());
  for (size_t i = 0; i < reported.size(); ++i) EXPECT_EQ(events[i].defect().id(), reported[i]);
  EXPECT_THAT(sizes, ::testing::Each(::testing::AllOf(::testing::Ge(1), ::testing::Le(5))));
  EXPECT_LT(sizes.size(), reported.size()) << "the waiting changes were not coalesced";
  // Resuming after the first message's last change: the rest, nothing twice.
  const std::string after_first = events[sizes[0] - 1].cursor();
  std::vector<int> resumed_sizes;
  std::vector<DefectEvent> rest = read(after_first, reported.size() - sizes[0], &resumed_sizes);
  ASSERT_EQ(rest.size(), reported.size() - sizes[0]);
  EXPECT_EQ(rest.front().defect().id(), reported[sizes[0]]);
  EXPECT_EQ(rest.back().defect().id(), reported.back());

  // Outside 0-1000: INVALID_ARGUMENT naming the field, before any change.
  for (int refused : {-1, 1001}) {
    WatchDefectsRequest request;
    request.set_cursor("0");
    request.set_max_changes_per_response(refused);
    auto stream = watcher.WatchDefects(request, sdk::CallOptions::WithTimeout(kStreamTimeout));
    WatchDefectsResponse response;
    EXPECT_FALSE(stream->Next(&response)) << refused;
    absl::Status status = stream->Finish();
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << Describe(status);
    std::vector<sdk::FieldViolationView> fields = sdk::FieldViolations(status);
    ASSERT_EQ(fields.size(), 1u) << Describe(status);
    EXPECT_EQ(fields[0].field, "max_changes_per_response");
    EXPECT_THAT(fields[0].description, ::testing::HasSubstr("must be 0-1000"));
  }
}

TEST(WatchTest, RedisRestartedEmptyTellsWatchersToListAgain) {
  absl::StatusOr<MeshOnItsOwnRedis> own = StartOnItsOwnRedis();
  ASSERT_TRUE(own.ok()) << own.status();
  sdk::DefectClient otto = own->mesh->Defects("otto");
  sdk::DefectClient watcher = own->mesh->Defects("manager");
  Report(otto, "VIN-GEN-1");
  WatchDefectsRequest from_oldest;
  from_oldest.set_cursor("0");
  auto live = watcher.WatchDefects(from_oldest, sdk::CallOptions::WithTimeout(kStreamTimeout));
  WatchDefectsResponse response;
  ASSERT_TRUE(live->Next(&response)) << Describe(live->Finish());
  const std::string old_cursor = response.event().cursor();

  ASSERT_TRUE(own->redis->Restart().ok());  // no persistence: it comes back empty
  Report(otto, "VIN-GEN-2");
  while (live->Next(&response)) {
  }
  absl::Status ended = live->Finish();
  EXPECT_EQ(ended.code(), absl::StatusCode::kFailedPrecondition) << Describe(ended);
  EXPECT_EQ(sdk::ErrorReason(ended), "CURSOR_GENERATION_CHANGED");

  // The old cursor is refused from now on, never silently served from the new stream.
  WatchDefectsRequest stale;
  stale.set_cursor(old_cursor);
  auto refused = watcher.WatchDefects(stale, sdk::CallOptions::WithTimeout(kStreamTimeout));
  EXPECT_FALSE(refused->Next(&response));
  absl::Status stale_status = refused->Finish();
  EXPECT_EQ(stale_status.code(), absl::StatusCode::kFailedPrecondition) << Describe(stale_status);

  // Listing again gives a cursor of the new generation that works.
  auto listed = watcher.ListDefects(defect::v1::ListDefectsRequest());
  ASSERT_TRUE(listed.ok()) << Describe(listed.status());
  EXPECT_EQ(listed->defects_size(), 2);
  ASSERT_FALSE(listed->watch_cursor().empty());
  EXPECT_NE(listed->watch_cursor().substr(0, 16), old_cursor.substr(0, 16));
  WatchDefectsRequest again;
  again.set_cursor(listed->watch_cursor());
  auto resumed = watcher.WatchDefects(again, sdk::CallOptions::WithTimeout(kStreamTimeout));
  const std::string third = Report(otto, "VIN-GEN-3");
  bool seen = false;
  while (!seen && resumed->Next(&response)) seen = response.event().defect().id() == third;
  resumed->Cancel();
  EXPECT_TRUE(seen) << Describe(resumed->Finish());
}

}  // namespace
}  // namespace plantmesh::e2e
