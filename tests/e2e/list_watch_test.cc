// List then watch: the list's watch_cursor leaves no gap even with a writer running,
// duplicates are recognisable by revision, zone-filtered watchers are told when a
// defect leaves or enters their zone, and the SDK's ListWatch keeps a zone board equal
// to what ListDefects says.
#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/defect_list_watch.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/defect_writer.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

using defect::v1::Defect;
using defect::v1::DefectEvent;
using defect::v1::WatchDefectsRequest;
using defect::v1::WatchDefectsResponse;

constexpr absl::Duration kStreamTimeout = absl::Seconds(60);

// Every page of ListDefects; the first page's watch_cursor.
struct Listing {
  std::map<std::string, int64_t> revisions;  // id -> revision
  std::string watch_cursor;
};
absl::StatusOr<Listing> ListEverything(sdk::DefectClient& client,
                                       defect::v1::ListDefectsRequest request) {
  Listing listing;
  request.set_page_size(50);
  do {
    auto page = client.ListDefects(request);
    if (!page.ok()) return page.status();
    if (listing.watch_cursor.empty()) listing.watch_cursor = page->watch_cursor();
    for (const Defect& d : page->defects()) listing.revisions[d.id()] = d.revision();
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return listing;
}

TEST(ListWatchTest, ListThenWatchWithAConcurrentWriterHasNoGap) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start();
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());
  sdk::DefectClient reader = mesh.Defects("manager");
  DefectWriter writer(mesh.Defects("otto"), absl::Milliseconds(20), "VIN-GAP-");

  constexpr int kRuns = 50;
  int duplicates = 0;
  int from_watch = 0;
  for (int run = 0; run < kRuns; ++run) {
    absl::StatusOr<Listing> listing = ListEverything(reader, defect::v1::ListDefectsRequest());
    ASSERT_TRUE(listing.ok()) << Describe(listing.status());
    ASSERT_FALSE(listing->watch_cursor.empty());
    // Wait for two more acknowledged reports after the list, then every report
    // acknowledged so far must be in the list or arrive on the watch.
    const size_t after_list = writer.acknowledged().size();
    ASSERT_TRUE(writer.AwaitMoreThan(after_list + 1, absl::Seconds(30)));
    std::set<std::string> missing;
    for (const std::string& id : writer.acknowledged()) {
      if (listing->revisions.count(id) == 0) missing.insert(id);
    }
    WatchDefectsRequest request;
    request.set_cursor(listing->watch_cursor);
    auto stream = reader.WatchDefects(request, sdk::CallOptions::WithTimeout(kStreamTimeout));
    WatchDefectsResponse response;
    while (!missing.empty() && stream->Next(&response)) {
      const DefectEvent& event = response.event();
      auto listed = listing->revisions.find(event.defect().id());
      if (listed != listing->revisions.end()) {
        // Already in the list: a duplicate, recognisable by its revision.
        EXPECT_LE(event.revision(), listed->second) << "run " << run;
        ++duplicates;
        continue;
      }
      if (missing.erase(event.defect().id()) > 0) ++from_watch;
    }
    stream->Cancel();
    ASSERT_TRUE(missing.empty()) << "run " << run << ": " << missing.size()
                                 << " acknowledged defect(s) in neither the list nor the watch, "
                                 << "e.g. " << *missing.begin() << "; "
                                 << Describe(stream->Finish());
  }
  writer.Stop();
  EXPECT_TRUE(writer.failures().empty()) << writer.failures().front();
  RecordProperty("duplicates_dropped_by_revision", duplicates);
  RecordProperty("reports_seen_on_the_watch", from_watch);
  std::printf("%d runs: %d reports arrived on the watch, %d duplicates recognised by revision\n",
              kRuns, from_watch, duplicates);
}

// Reads one zone watcher's events on its own thread.
class ZoneWatcher {
 public:
  ZoneWatcher(const sdk::ClientOptions& options, const std::string& zone,
              const std::string& cursor) {
    absl::StatusOr<sdk::DefectClient> client = sdk::DefectClient::Connect(options);
    EXPECT_TRUE(client.ok()) << Describe(client.status());
    client_ = std::make_unique<sdk::DefectClient>(*std::move(client));
    WatchDefectsRequest request;
    request.set_zone(zone);
    request.set_cursor(cursor);
    stream_ = client_->WatchDefects(request, sdk::CallOptions::WithTimeout(kStreamTimeout));
    thread_ = std::thread([this] {
      WatchDefectsResponse response;
      while (stream_->Next(&response)) {
        absl::MutexLock lock(&mu_);
        responses_.push_back(response);
      }
    });
  }
  ~ZoneWatcher() {
    stream_->Cancel();
    thread_.join();
  }
  // Waits until a response for defect `id` with `revision` arrived; returns it.
  std::optional<WatchDefectsResponse> Await(const std::string& id, int64_t revision) {
    absl::MutexLock lock(&mu_);
    auto find = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> const WatchDefectsResponse* {
      for (const auto& r : responses_) {
        if (r.event().defect().id() == id && r.event().revision() == revision) return &r;
      }
      return nullptr;
    };
    auto found = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return find() != nullptr; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&found), absl::Seconds(30))) return std::nullopt;
    return *find();
  }
  std::vector<WatchDefectsResponse> responses() {
    absl::MutexLock lock(&mu_);
    return responses_;
  }

 private:
  std::unique_ptr<sdk::DefectClient> client_;
  std::unique_ptr<sdk::ReadStream<WatchDefectsResponse>> stream_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<WatchDefectsResponse> responses_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<Defect> MoveToZone(sdk::DefectClient& foreman, const Defect& defect,
                                  const std::string& zone) {
  defect::v1::UpdateDefectRequest update;
  update.mutable_defect()->set_id(defect.id());
  update.mutable_defect()->set_zone(zone);
  update.mutable_update_mask()->add_paths("zone");
  update.set_etag(defect.etag());
  auto updated = foreman.UpdateDefect(update);
  if (!updated.ok()) return updated.status();
  return updated->defect();
}

TEST(ListWatchTest, ZoneMoveIsSeenByBothZoneWatchers) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start();
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());
  sdk::DefectClient otto = mesh.Defects("otto");
  sdk::DefectClient anna = mesh.Defects("anna");
  auto listed = otto.ListDefects(defect::v1::ListDefectsRequest());
  ASSERT_TRUE(listed.ok()) << Describe(listed.status());
  ZoneWatcher paint(mesh.OptionsFor("manager"), "PAINT", listed->watch_cursor());
  ZoneWatcher body(mesh.OptionsFor("manager"), "BODY", listed->watch_cursor());

  defect::v1::CreateDefectRequest report;
  *report.mutable_defect() = SampleDefect("VIN-MOVE");  // zone PAINT
  auto created = otto.CreateDefect(report);
  ASSERT_TRUE(created.ok()) << Describe(created.status());
  absl::StatusOr<Defect> moved = MoveToZone(anna, created->defect(), "BODY");
  ASSERT_TRUE(moved.ok()) << Describe(moved.status());
  ASSERT_EQ(moved->revision(), 2);
  const std::string id = moved->id();

  // PAINT: the report, then the move out, marked LEFT so the board removes the card.
  std::optional<WatchDefectsResponse> reported = paint.Await(id, 1);
  ASSERT_TRUE(reported.has_value());
  EXPECT_EQ(reported->filter_change(), defect::v1::FILTER_CHANGE_UNSPECIFIED);
  std::optional<WatchDefectsResponse> left = paint.Await(id, 2);
  ASSERT_TRUE(left.has_value()) << "the PAINT watcher was never told the defect left";
  EXPECT_EQ(left->filter_change(), defect::v1::FILTER_CHANGE_LEFT);
  EXPECT_EQ(left->event().previous_zone(), "PAINT");
  EXPECT_EQ(left->event().defect().zone(), "BODY");
  EXPECT_EQ(left->event().change_type(), defect::v1::CHANGE_TYPE_UPDATED);

  // BODY: the move in, marked ENTERED (it never saw the report, which was not its zone).
  std::optional<WatchDefectsResponse> entered = body.Await(id, 2);
  ASSERT_TRUE(entered.has_value()) << "the BODY watcher never saw the defect arrive";
  EXPECT_EQ(entered->filter_change(), defect::v1::FILTER_CHANGE_ENTERED);
  EXPECT_EQ(entered->event().previous_zone(), "PAINT");
  for (const WatchDefectsResponse& r : body.responses()) {
    EXPECT_NE(r.event().revision(), 1) << "BODY got PAINT's report: " << r.ShortDebugString();
  }
}

TEST(ListWatchTest, SdkListWatchKeepsAZoneBoardEqualToTheList) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start();
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());
  sdk::DefectClient otto = mesh.Defects("otto");
  sdk::DefectClient anna = mesh.Defects("anna");
  auto report = [&](int i, const std::string& zone) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(absl::StrCat("VIN-BOARD-", i));
    request.mutable_defect()->set_zone(zone);
    auto created = otto.CreateDefect(request);
    EXPECT_TRUE(created.ok()) << Describe(created.status());
    return created.ok() ? created->defect() : Defect();
  };
  for (int i = 0; i < 5; ++i) report(i, i % 2 == 0 ? "PAINT" : "BODY");

  sdk::DefectClient board_client = mesh.Defects("manager");
  defect::v1::ListDefectsRequest filter;
  filter.set_zone("PAINT");
  sdk::DefectListWatch board(sdk::DefectListWatchSource(&board_client, filter));
  absl::Mutex mu;
  int lists = 0;
  sdk::ListWatchHandlers<Defect> handlers;
  handlers.on_list = [&](const std::vector<Defect>&) {
    absl::MutexLock lock(&mu);
    ++lists;
  };
  absl::Status run_status;
  std::thread runner([&] { run_status = board.Run(handlers); });

  // Reports in both zones and moves both ways, while the board runs.
  for (int i = 5; i < 25; ++i) {
    Defect d = report(i, i % 2 == 0 ? "PAINT" : "BODY");
    if (i % 3 == 0) {
      absl::StatusOr<Defect> moved = MoveToZone(anna, d, d.zone() == "PAINT" ? "BODY" : "PAINT");
      ASSERT_TRUE(moved.ok()) << Describe(moved.status());
    }
  }
  auto want = otto.ListAllDefects(filter);
  ASSERT_TRUE(want.ok()) << Describe(want.status());
  std::map<std::string, int64_t> expected;
  for (const Defect& d : *want) expected[d.id()] = d.revision();
  auto board_now = [&] {
    std::map<std::string, int64_t> got;
    for (const auto& [id, d] : board.Items()) got[id] = d.revision();
    return got;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (board_now() != expected && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(board_now(), expected);
  board.Stop();
  runner.join();
  EXPECT_TRUE(run_status.ok()) << Describe(run_status);
  sdk::ListWatchStats stats = board.Stats();
  EXPECT_GE(stats.lists, 1);
  std::printf("board: %lld lists, %lld events, %lld duplicates dropped\n",
              static_cast<long long>(stats.lists), static_cast<long long>(stats.events),
              static_cast<long long>(stats.duplicates));
}

}  // namespace
}  // namespace plantmesh::e2e
