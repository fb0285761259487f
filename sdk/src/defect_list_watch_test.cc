// DefectListWatchSource's reading of WatchDefects messages: the changes of a message in
// order, from `changes` (max_changes_per_response) or, from a server of an earlier
// version that sends one change in `event`, from that.
#include "plantmesh/sdk/defect_list_watch.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plantmesh::sdk {
namespace {

namespace pb = ::plantmesh::defect::v1;

pb::DefectEvent Event(const std::string& id, int64_t revision, const std::string& cursor) {
  pb::DefectEvent event;
  event.mutable_defect()->set_id(id);
  event.mutable_defect()->set_revision(revision);
  event.set_revision(revision);
  event.set_cursor(cursor);
  return event;
}

TEST(DefectListWatchSourceTest, ReadsEveryChangeOfAMessageInOrder) {
  ListWatchSource<pb::Defect, pb::WatchDefectsResponse> source =
      DefectListWatchSource(nullptr, pb::ListDefectsRequest());
  ASSERT_TRUE(source.changes);

  pb::WatchDefectsResponse several;
  pb::WatchDefectsResponse::Change* first = several.add_changes();
  *first->mutable_event() = Event("7", 3, "g.1-0");
  pb::WatchDefectsResponse::Change* second = several.add_changes();
  *second->mutable_event() = Event("8", 1, "g.2-0");
  second->set_filter_change(pb::FILTER_CHANGE_LEFT);
  std::vector<ListWatchChange<pb::Defect>> changes = source.changes(several);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].item.id(), "7");
  EXPECT_EQ(changes[0].revision, 3);
  EXPECT_EQ(changes[0].cursor, "g.1-0");
  EXPECT_FALSE(changes[0].left_filter);
  EXPECT_EQ(changes[1].item.id(), "8");
  EXPECT_EQ(changes[1].cursor, "g.2-0");
  EXPECT_TRUE(changes[1].left_filter);

  // A server of an earlier version (a rolling upgrade) ignores max_changes_per_response
  // and sends `event`: the change is read, not dropped with its cursor.
  pb::WatchDefectsResponse single;
  *single.mutable_event() = Event("9", 2, "g.3-0");
  single.set_filter_change(pb::FILTER_CHANGE_LEFT);
  changes = source.changes(single);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].item.id(), "9");
  EXPECT_EQ(changes[0].cursor, "g.3-0");
  EXPECT_TRUE(changes[0].left_filter);
}

// Outside testing: a mock connection without a WatchDefects action (its stream null)
// ended the test process with SIGSEGV; Run says what is missing.
TEST(DefectListWatchTest, ASourceThatOpensNoStreamEndsRunNamingIt) {
  ListWatchSource<pb::Defect, pb::WatchDefectsResponse> source =
      DefectListWatchSource(nullptr, pb::ListDefectsRequest());
  source.list_page = [](const std::string&) -> absl::StatusOr<ListWatchPage<pb::Defect>> {
    ListWatchPage<pb::Defect> page;
    page.watch_cursor = "g.1-0";
    return page;
  };
  source.watch = [](const std::string&) -> std::unique_ptr<ReadStream<pb::WatchDefectsResponse>> {
    return nullptr;
  };
  ListWatch<pb::Defect, pb::WatchDefectsResponse> watch(std::move(source));
  ListWatchHandlers<pb::Defect> handlers;
  handlers.on_list = [](const std::vector<pb::Defect>&) {};
  handlers.on_upsert = [](const pb::Defect&) {};
  handlers.on_remove = [](const pb::Defect&) {};
  const absl::Status ended = watch.Run(handlers);
  EXPECT_EQ(ended.code(), absl::StatusCode::kFailedPrecondition) << ended;
  EXPECT_THAT(std::string(ended.message()), ::testing::HasSubstr("opened no stream"));
}

// Outside testing: a board whose lists failed (no server, a refused certificate) showed
// nothing for good, Stats() as if it had never started: each failed list is counted,
// its error kept until a list succeeds, and on_retry told with the wait.
TEST(DefectListWatchTest, FailedListsAreToldToOnRetryAndStats) {
  ListWatchSource<pb::Defect, pb::WatchDefectsResponse> source =
      DefectListWatchSource(nullptr, pb::ListDefectsRequest());
  int attempts = 0;
  source.list_page = [&attempts](const std::string&) -> absl::StatusOr<ListWatchPage<pb::Defect>> {
    if (++attempts <= 2) return absl::UnavailableError("no server at 127.0.0.1:1");
    ListWatchPage<pb::Defect> page;
    page.watch_cursor = "g.1-0";
    return page;
  };
  source.watch = [](const std::string&) -> std::unique_ptr<ReadStream<pb::WatchDefectsResponse>> {
    return nullptr;
  };
  ListWatch<pb::Defect, pb::WatchDefectsResponse> watch(
      std::move(source), ListWatchOptions{absl::Milliseconds(1), absl::Milliseconds(2)});
  std::vector<std::string> retries;
  std::vector<ListWatchStats> stats_at_retry;
  ListWatchHandlers<pb::Defect> handlers;
  handlers.on_list = [&](const std::vector<pb::Defect>&) {
    EXPECT_TRUE(watch.Stats().last_list_error.empty()) << "cleared by the list that succeeded";
  };
  handlers.on_retry = [&](const absl::Status& error, absl::Duration retry_in) {
    retries.push_back(absl::StrCat(error.message(), " / ", absl::FormatDuration(retry_in)));
    stats_at_retry.push_back(watch.Stats());
  };
  const absl::Status ended = watch.Run(handlers);  // at the null stream, after the third list
  EXPECT_EQ(ended.code(), absl::StatusCode::kFailedPrecondition) << ended;
  EXPECT_THAT(retries, ::testing::ElementsAre("no server at 127.0.0.1:1 / 1ms",
                                              "no server at 127.0.0.1:1 / 2ms"));
  ASSERT_EQ(stats_at_retry.size(), 2u);
  EXPECT_EQ(stats_at_retry[1].list_failures, 2);
  EXPECT_THAT(stats_at_retry[1].last_list_error, ::testing::HasSubstr("no server at 127.0.0.1:1"));
  EXPECT_EQ(watch.Stats().lists, 1);
  EXPECT_EQ(watch.Stats().list_failures, 2);
}

// A watch stream that stays open `open_for` on the test's clock, delivers nothing, then
// ends UNAVAILABLE (a server restart on a quiet line).
class QuietStream final : public ReadStream<pb::WatchDefectsResponse> {
 public:
  QuietStream(absl::Time* clock, absl::Duration open_for) : clock_(clock), open_for_(open_for) {}
  bool Next(pb::WatchDefectsResponse*) override {
    *clock_ += open_for_;
    return false;
  }
  absl::Status Finish() override { return absl::UnavailableError("Socket closed"); }
  void Cancel() override {}

 private:
  absl::Time* clock_;
  absl::Duration open_for_;
};

// Outside testing: a quiet board's resume waits doubled over six server restarts (100 ms
// to 3.2 s), each after a stream that had been open and healthy for seconds, because only
// a stream that delivered something reset them. A stream open for max_backoff does too.
TEST(DefectListWatchTest, AStreamOpenForMaxBackoffStartsTheBackoffAgain) {
  ListWatchSource<pb::Defect, pb::WatchDefectsResponse> source =
      DefectListWatchSource(nullptr, pb::ListDefectsRequest());
  source.list_page = [](const std::string&) -> absl::StatusOr<ListWatchPage<pb::Defect>> {
    ListWatchPage<pb::Defect> page;
    page.watch_cursor = "g.1-0";
    return page;
  };
  absl::Time clock = absl::UnixEpoch();
  const std::vector<absl::Duration> open_for = {absl::ZeroDuration(), absl::ZeroDuration(),
                                                absl::ZeroDuration(), absl::Seconds(1),
                                                absl::Milliseconds(999)};
  size_t opened = 0;
  source.watch = [&](const std::string&) -> std::unique_ptr<ReadStream<pb::WatchDefectsResponse>> {
    return std::make_unique<QuietStream>(&clock, open_for[std::min(opened++, open_for.size() - 1)]);
  };
  ListWatch<pb::Defect, pb::WatchDefectsResponse> watch(
      std::move(source), ListWatchOptions{absl::Milliseconds(1), absl::Seconds(1)},
      [&clock] { return clock; });
  std::vector<absl::Duration> waits;
  ListWatchHandlers<pb::Defect> handlers;
  handlers.on_list = [](const std::vector<pb::Defect>&) {};
  handlers.on_retry = [&](const absl::Status&, absl::Duration retry_in) {
    waits.push_back(retry_in);
    if (waits.size() == open_for.size()) watch.Stop();
  };
  EXPECT_TRUE(watch.Run(handlers).ok());
  // The fourth stream was open for max_backoff: the next wait starts again; the fifth,
  // open a millisecond less, does not.
  EXPECT_THAT(waits, ::testing::ElementsAre(absl::Milliseconds(1), absl::Milliseconds(2),
                                            absl::Milliseconds(4), absl::Milliseconds(1),
                                            absl::Milliseconds(2)));
}

}  // namespace
}  // namespace plantmesh::sdk
