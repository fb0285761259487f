// The descriptor-driven ListWatch (dynamic_list_watch.h): it finds the watch shape of
// ListDefects from descriptors alone, filters as DefectMatches does, and runs
// ListWatch's list, de-duplication and resume over any message type.
#include "plantmesh/sdk/dynamic_list_watch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plantmesh/defect/v1/defect_service.pb.h"
#include "plantmesh/sdk/defect_list_watch.h"

namespace plantmesh::sdk {
namespace {

namespace pb = ::plantmesh::defect::v1;
using ::testing::ElementsAre;
using ::testing::Pair;

const google::protobuf::MethodDescriptor& Method(const std::string& name) {
  return *google::protobuf::DescriptorPool::generated_pool()
              ->FindServiceByName("plantmesh.defect.v1.DefectService")
              ->FindMethodByName(name);
}

TEST(FindWatchableListTest, FindsTheShapeOfListDefects) {
  absl::StatusOr<WatchableList> shape = FindWatchableList(Method("ListDefects"));
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->watch_method->name(), "WatchDefects");
  EXPECT_EQ(shape->items->name(), "defects");
  EXPECT_EQ(shape->event->name(), "event");
  EXPECT_EQ(shape->event_item->name(), "defect");
  EXPECT_EQ(shape->key->name(), "id");
  EXPECT_EQ(shape->revision->name(), "revision");
  ASSERT_NE(shape->filter_change, nullptr);
  EXPECT_FALSE(shape->filter_change_on_event);
  ASSERT_EQ(shape->shared_filters.size(), 1u);
  EXPECT_EQ(shape->shared_filters[0].first->name(), "zone");
}

TEST(FindWatchableListTest, OtherMethodsAreNotWatchableLists) {
  for (const char* name : {"GetDefect", "CreateDefect", "WatchDefects", "ListCrews"}) {
    absl::StatusOr<WatchableList> shape = FindWatchableList(Method(name));
    EXPECT_EQ(shape.status().code(), absl::StatusCode::kNotFound) << name;
  }
}

pb::Defect MakeDefect(const std::string& id, pb::DefectStatus status, const std::string& zone,
                      int64_t created_s) {
  pb::Defect defect;
  defect.set_id(id);
  defect.set_status(status);
  defect.set_zone(zone);
  defect.set_vin("VIN-" + id);
  defect.set_shift("2026-11-21/A");
  defect.mutable_create_time()->set_seconds(created_s);
  defect.set_revision(1);
  return defect;
}

TEST(DynamicListFilterMatchesTest, AgreesWithDefectMatches) {
  std::vector<pb::ListDefectsRequest> requests(7);
  requests[1].add_statuses(pb::DEFECT_STATUS_REPORTED);
  requests[2].set_zone("PAINT");
  requests[3].set_vin("VIN-2");
  requests[4].mutable_create_time_from()->set_seconds(100);
  requests[5].mutable_create_time_to()->set_seconds(100);
  requests[6].set_shift("2026-11-21/B");
  for (auto& request : requests) request.set_page_size(10);  // never a filter
  std::vector<pb::Defect> defects = {
      MakeDefect("1", pb::DEFECT_STATUS_REPORTED, "PAINT", 50),
      MakeDefect("2", pb::DEFECT_STATUS_CANCELLED, "BODY", 100),
      MakeDefect("3", pb::DEFECT_STATUS_REPORTED, "BODY", 150),
  };
  int excluded = 0;
  for (const auto& request : requests) {
    for (const auto& defect : defects) {
      const bool expected = DefectMatches(request, defect);
      excluded += expected ? 0 : 1;
      EXPECT_EQ(DynamicListFilterMatches(request, defect), expected)
          << request.ShortDebugString() << " / " << defect.ShortDebugString();
    }
  }
  EXPECT_GT(excluded, 5);  // the cases do exclude
}

// A new message of a generated type (DynamicListWatchCalls::new_message).
std::unique_ptr<google::protobuf::Message> GeneratedMessage(
    const google::protobuf::Descriptor* type) {
  return std::unique_ptr<google::protobuf::Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
}

// A scripted Watch stream: its responses, then its status.
class ScriptedStream final : public ReadStream<DynamicWatchResponse> {
 public:
  ScriptedStream(std::vector<pb::WatchDefectsResponse> responses, absl::Status end)
      : responses_(responses.begin(), responses.end()), end_(std::move(end)) {}
  bool Next(DynamicWatchResponse* out) override {
    if (responses_.empty()) return false;
    out->message = std::make_shared<pb::WatchDefectsResponse>(responses_.front());
    responses_.pop_front();
    return true;
  }
  absl::Status Finish() override { return end_; }
  void Cancel() override {}

 private:
  std::deque<pb::WatchDefectsResponse> responses_;
  absl::Status end_;
};

pb::WatchDefectsResponse Event(const pb::Defect& defect, const std::string& cursor) {
  pb::WatchDefectsResponse response;
  *response.mutable_event()->mutable_defect() = defect;
  response.mutable_event()->set_revision(defect.revision());
  response.mutable_event()->set_cursor(cursor);
  return response;
}

TEST(DynamicListWatchTest, ListsDropsDuplicatesAndResumesFromTheLastCursor) {
  absl::StatusOr<WatchableList> shape = FindWatchableList(Method("ListDefects"));
  ASSERT_TRUE(shape.ok());
  pb::Defect a = MakeDefect("a", pb::DEFECT_STATUS_REPORTED, "PAINT", 1);
  pb::Defect b = MakeDefect("b", pb::DEFECT_STATUS_REPORTED, "PAINT", 2);
  pb::Defect a2 = a;
  a2.set_revision(2);
  pb::Defect c = MakeDefect("c", pb::DEFECT_STATUS_REPORTED, "PAINT", 3);
  pb::Defect b_away = b;  // moved to another zone: leaves the zone filter
  b_away.set_revision(2);
  b_away.set_zone("BODY");

  std::vector<std::string> pages_asked;
  std::vector<std::string> cursors_asked;
  std::vector<std::string> zones_asked;
  DynamicListWatchCalls calls;
  calls.list = [&](const google::protobuf::Message& request)
      -> absl::StatusOr<std::unique_ptr<google::protobuf::Message>> {
    const auto& typed = dynamic_cast<const pb::ListDefectsRequest&>(request);
    pages_asked.push_back(typed.page_token());
    auto page = std::make_unique<pb::ListDefectsResponse>();
    if (typed.page_token().empty()) {
      *page->add_defects() = a;
      page->set_next_page_token("p2");
      page->set_watch_cursor("1.0-1");
    } else {
      *page->add_defects() = b;
      page->set_watch_cursor("1.0-9");  // later pages' cursors are not used
    }
    return page;
  };
  int opened = 0;
  calls.watch = [&](const google::protobuf::Message& request)
      -> std::unique_ptr<ReadStream<DynamicWatchResponse>> {
    const auto& typed = dynamic_cast<const pb::WatchDefectsRequest&>(request);
    cursors_asked.push_back(typed.cursor());
    zones_asked.push_back(typed.zone());
    if (opened++ == 0) {
      // `a` at revision 1 again (the list reflected it), then a2; the server restarts.
      return std::make_unique<ScriptedStream>(
          std::vector<pb::WatchDefectsResponse>{Event(a, "1.0-2"), Event(a2, "1.0-3")},
          absl::UnavailableError("Socket closed"));
    }
    auto left = Event(b_away, "1.0-5");
    left.set_filter_change(pb::FILTER_CHANGE_LEFT);
    // a2 redelivered after the resume, then c and b leaving the zone.
    return std::make_unique<ScriptedStream>(
        std::vector<pb::WatchDefectsResponse>{Event(a2, "1.0-3"), Event(c, "1.0-4"), left},
        absl::InvalidArgumentError("end of the script"));
  };
  calls.new_message = GeneratedMessage;
  pb::ListDefectsRequest filter;
  filter.set_zone("PAINT");
  DynamicListWatch list_watch(DynamicListWatchSource(*shape, filter, calls),
                              ListWatchOptions{absl::Milliseconds(1), absl::Milliseconds(2)});
  std::vector<std::string> listed;
  std::vector<std::pair<std::string, int64_t>> upserts;
  std::vector<std::string> removed;
  ListWatchHandlers<DynamicItem> handlers;
  handlers.on_list = [&](const std::vector<DynamicItem>& items) {
    for (const DynamicItem& item : items) listed.push_back(DynamicItemKey(*shape, *item));
  };
  handlers.on_upsert = [&](const DynamicItem& item) {
    upserts.emplace_back(DynamicItemKey(*shape, *item), DynamicItemRevision(*shape, *item));
  };
  handlers.on_remove = [&](const DynamicItem& item) {
    removed.push_back(DynamicItemKey(*shape, *item));
  };
  absl::Status ended = list_watch.Run(handlers);
  EXPECT_EQ(ended.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pages_asked, ElementsAre("", "p2"));
  EXPECT_THAT(listed, ElementsAre("a", "b"));
  EXPECT_THAT(cursors_asked, ElementsAre("1.0-1", "1.0-3"));
  EXPECT_THAT(zones_asked, ElementsAre("PAINT", "PAINT"));
  EXPECT_THAT(upserts, ElementsAre(Pair("a", 2), Pair("c", 1)));
  EXPECT_THAT(removed, ElementsAre("b"));
  EXPECT_EQ(list_watch.Stats().duplicates, 2);
  EXPECT_EQ(list_watch.Stats().resumes, 1);
}

// Outside testing: on_list got the items sorted by key text ("1, 12, 2": plantctl's
// --watch listings, and --order_by lost). It gets them in the list's order; a key that
// comes again on a later page keeps its first place with the later item.
TEST(DynamicListWatchTest, OnListGetsTheItemsInTheListsOrder) {
  absl::StatusOr<WatchableList> shape = FindWatchableList(Method("ListDefects"));
  ASSERT_TRUE(shape.ok());
  pb::Defect moved = MakeDefect("12", pb::DEFECT_STATUS_REPORTED, "PAINT", 1);
  pb::Defect moved_later = moved;
  moved_later.set_revision(2);
  DynamicListWatchCalls calls;
  calls.list = [&](const google::protobuf::Message& request)
      -> absl::StatusOr<std::unique_ptr<google::protobuf::Message>> {
    auto page = std::make_unique<pb::ListDefectsResponse>();
    page->set_watch_cursor("1.0-1");
    if (dynamic_cast<const pb::ListDefectsRequest&>(request).page_token().empty()) {
      *page->add_defects() = moved;
      *page->add_defects() = MakeDefect("2", pb::DEFECT_STATUS_REPORTED, "PAINT", 1);
      page->set_next_page_token("p2");
    } else {
      *page->add_defects() = MakeDefect("1", pb::DEFECT_STATUS_REPORTED, "PAINT", 1);
      *page->add_defects() = moved_later;
    }
    return page;
  };
  calls.watch = [](const google::protobuf::Message&) {
    return std::make_unique<ScriptedStream>(std::vector<pb::WatchDefectsResponse>{},
                                            absl::InvalidArgumentError("end of the script"));
  };
  calls.new_message = GeneratedMessage;
  DynamicListWatch list_watch(DynamicListWatchSource(*shape, pb::ListDefectsRequest(), calls),
                              ListWatchOptions{});
  std::vector<std::pair<std::string, int64_t>> listed;
  ListWatchHandlers<DynamicItem> handlers;
  handlers.on_list = [&](const std::vector<DynamicItem>& items) {
    for (const DynamicItem& item : items) {
      listed.emplace_back(DynamicItemKey(*shape, *item), DynamicItemRevision(*shape, *item));
    }
  };
  EXPECT_EQ(list_watch.Run(handlers).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(listed, ElementsAre(Pair("12", 2), Pair("2", 1), Pair("1", 1)));
}

// A PAINT board (an empty list) that watches `events`, then the script ends: the
// defects it was told of (key, revision) and its figures.
struct ScriptedBoard {
  std::vector<std::pair<std::string, int64_t>> upserts;
  ListWatchStats stats;
};
ScriptedBoard WatchOnEmptyPaintBoard(const std::vector<pb::WatchDefectsResponse>& events) {
  ScriptedBoard board;
  absl::StatusOr<WatchableList> shape = FindWatchableList(Method("ListDefects"));
  EXPECT_TRUE(shape.ok());
  if (!shape.ok()) return board;
  DynamicListWatchCalls calls;
  calls.list = [](const google::protobuf::Message&)
      -> absl::StatusOr<std::unique_ptr<google::protobuf::Message>> {
    auto page = std::make_unique<pb::ListDefectsResponse>();
    page->set_watch_cursor("1.0-1");
    return page;
  };
  calls.watch =
      [&events](
          const google::protobuf::Message&) -> std::unique_ptr<ReadStream<DynamicWatchResponse>> {
    return std::make_unique<ScriptedStream>(events,
                                            absl::InvalidArgumentError("end of the script"));
  };
  calls.new_message = GeneratedMessage;
  pb::ListDefectsRequest filter;
  filter.set_zone("PAINT");
  DynamicListWatch list_watch(DynamicListWatchSource(*shape, filter, calls),
                              ListWatchOptions{absl::Milliseconds(1), absl::Milliseconds(2)});
  ListWatchHandlers<DynamicItem> handlers;
  handlers.on_upsert = [&](const DynamicItem& item) {
    board.upserts.emplace_back(DynamicItemKey(*shape, *item), DynamicItemRevision(*shape, *item));
  };
  EXPECT_EQ(list_watch.Run(handlers).code(), absl::StatusCode::kInvalidArgument);
  board.stats = list_watch.Stats();
  return board;
}

// Defect `id` at `revision` in `zone` (outside PAINT: it left the board's filter).
pb::WatchDefectsResponse ZoneEvent(const std::string& id, const std::string& zone, int64_t revision,
                                   int cursor) {
  pb::Defect defect = MakeDefect(id, pb::DEFECT_STATUS_REPORTED, zone, 1);
  defect.set_revision(revision);
  pb::WatchDefectsResponse response = Event(defect, absl::StrCat("1.0-", cursor));
  if (zone != "PAINT") response.set_filter_change(pb::FILTER_CHANGE_LEFT);
  return response;
}

// A board that runs for months sees every defect leave its filter once: what it remembers
// of them stays bounded, and a recent one still keeps an older event from bringing it
// back (outside review: the keys that left were kept until the next relist).
TEST(DynamicListWatchTest, RemembersABoundedNumberOfKeysThatLeft) {
  constexpr int kLeft = static_cast<int>(kMaxRememberedRemovals) + 1000;
  std::vector<pb::WatchDefectsResponse> events;
  for (int i = 0; i < kLeft; ++i) {
    events.push_back(ZoneEvent(absl::StrCat("d", i), "BODY", 2, i + 2));
  }
  // The last one's revision 1 (still in PAINT) delivered again after it left.
  events.push_back(ZoneEvent(absl::StrCat("d", kLeft - 1), "PAINT", 1, kLeft + 2));
  const ScriptedBoard board = WatchOnEmptyPaintBoard(events);
  EXPECT_EQ(board.stats.remembered_removals, static_cast<int64_t>(kMaxRememberedRemovals));
  EXPECT_TRUE(board.upserts.empty());
  EXPECT_EQ(board.stats.duplicates, 1);
}

// A key that left, came back and left again is remembered from its last departure: the
// first one's place in the order, reached later, does not forget it (outside review).
TEST(DynamicListWatchTest, AKeyThatLeftAgainIsRememberedFromItsLastDeparture) {
  std::vector<pb::WatchDefectsResponse> events;
  int cursor = 2;
  events.push_back(ZoneEvent("d0", "BODY", 2, cursor++));   // leaves
  events.push_back(ZoneEvent("d0", "PAINT", 3, cursor++));  // comes back
  for (size_t i = 1; i < kMaxRememberedRemovals; ++i) {
    events.push_back(ZoneEvent(absl::StrCat("x", i), "BODY", 2, cursor++));
  }
  events.push_back(ZoneEvent("d0", "BODY", 4, cursor++));   // leaves again
  events.push_back(ZoneEvent("d0", "PAINT", 3, cursor++));  // revision 3 delivered again
  const ScriptedBoard board = WatchOnEmptyPaintBoard(events);
  EXPECT_THAT(board.upserts, ElementsAre(Pair("d0", 3)));  // its return only
  EXPECT_EQ(board.stats.duplicates, 1);
}

}  // namespace
}  // namespace plantmesh::sdk
