// WatchSource and SharedWatchSource over a real EventHub (and Redis), driven as the
// reactor drives them: Start, Next (NextShared) until kPending, again after each Wake;
// EndWithoutRoom while its client is slow.
#include "server/runtime/watch.h"

#include <google/protobuf/field_mask.pb.h>
#include <google/protobuf/wrappers.pb.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/redis_client.h"
#include "tests/support/poll.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::google::protobuf::FieldMask;
using ::google::protobuf::StringValue;
using ::plantmesh::testing::RedisServer;

constexpr char kKey[] = "plantmesh:test:watch";
constexpr absl::Duration kWait = absl::Seconds(20);

// Stands in for the reactor: counts the wakes.
class WakeCounter final : public StreamTarget {
 public:
  void Wake() override {
    absl::MutexLock lock(&mu_);
    ++wakes_;
  }
  bool TryRef() override { return true; }
  void Unref() override {}
  void EndWith(absl::Status) override {}

  int wakes() {
    absl::MutexLock lock(&mu_);
    return wakes_;
  }
  // Waits until there were more than `seen` wakes.
  bool AwaitMoreThan(int seen) {
    absl::MutexLock lock(&mu_);
    auto more = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wakes_ > seen; };
    return mu_.AwaitWithTimeout(absl::Condition(&more), kWait);
  }

 private:
  absl::Mutex mu_;
  int wakes_ ABSL_GUARDED_BY(mu_) = 0;
};

class WatchSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_server_ = *std::move(redis);
    options_.redis.port = redis_server_->port();
    options_.block = absl::Milliseconds(200);
    handle_->target = &counter_;
  }
  void TearDown() override {
    // The hub's threads may still run a subscription's notification: stop them before
    // the counter they wake goes away.
    hub_.reset();
    std::lock_guard<std::mutex> lock(handle_->mu);
    handle_->target = nullptr;
  }

  void StartHub() {
    hub_ = std::make_unique<EventHub>(options_, std::vector<std::string>{kKey});
    hub_->Start();
    ASSERT_TRUE(hub_->AwaitConnected(kWait));
  }

  // Publishes events "<prefix>-<i>" as the relay does.
  void Publish(const std::string& prefix, int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) ids.push_back(absl::StrCat(prefix, "-", i));
    Publish(ids);
  }
  // Publishes events with these ids in one MULTI/EXEC, as the relay publishes a batch:
  // the hub reads them together, so a watch finds them all waiting at once.
  void Publish(const std::vector<std::string>& ids) {
    RedisClient redis(options_.redis);
    std::vector<std::pair<std::string, std::string>> events;
    for (const std::string& id : ids) events.emplace_back(id, "payload");
    ASSERT_TRUE(
        redis.Pipeline(StreamPublishCommands(OutboxSource{"test", kKey, 100000}, events)).ok());
  }

  // A watch that sends each event as "<event_id> <cursor>" (events coalesced into one
  // message joined by ';'), skipping ids that contain "skip" and failing on ids that
  // contain "bad".
  std::unique_ptr<StreamSource<StringValue>> Open(const std::string& cursor,
                                                  WatchOptions options = {}) {
    absl::StatusOr<std::unique_ptr<StreamSource<StringValue>>> source = OpenWatch<StringValue>(
        hub_.get(), kKey, cursor,
        [](const StreamEvent& event, StringValue* response) -> absl::StatusOr<bool> {
          if (absl::StrContains(event.event_id, "bad")) return absl::DataLossError("unreadable");
          if (absl::StrContains(event.event_id, "skip")) return false;
          if (!response->value().empty()) response->mutable_value()->append(";");
          absl::StrAppend(response->mutable_value(), event.event_id, " ", event.cursor);
          return true;
        },
        options);
    EXPECT_TRUE(source.ok()) << source.status();
    if (!source.ok()) return nullptr;
    (*source)->Start(StreamControl(handle_));
    return *std::move(source);
  }

  // Pulls as the reactor does: Next until it is not a message, waiting for a Wake after
  // kPending, until `count` messages came or the stream ended.
  std::vector<std::string> PullSome(StreamSource<StringValue>& source, size_t count,
                                    absl::Status* end) {
    std::vector<std::string> got;
    const absl::Time deadline = absl::Now() + kWait;
    while (got.size() < count && absl::Now() < deadline) {
      const int wakes = counter_.wakes();
      StringValue message;
      const runtime::Pull pulled = source.Next(&message, end);
      if (pulled == runtime::Pull::kEnd) return got;
      if (pulled == runtime::Pull::kMessage) {
        const std::vector<std::string> events = absl::StrSplit(message.value(), ';');
        for (const std::string& event : events) {
          got.push_back(event.substr(0, event.find(' ')));
          last_cursor_ = event.substr(event.find(' ') + 1);
        }
        events_per_message_.push_back(events.size());
        continue;
      }
      counter_.AwaitMoreThan(wakes);
    }
    *end = absl::OkStatus();
    return got;
  }

  // Declared before the hub, so destroyed after it (the hub's threads wake the counter).
  WakeCounter counter_;
  std::shared_ptr<StreamControl::Handle> handle_ = std::make_shared<StreamControl::Handle>();
  EventHubOptions options_;
  std::unique_ptr<RedisServer> redis_server_;
  std::unique_ptr<EventHub> hub_;
  std::string last_cursor_;                 // of the last message pulled
  std::vector<size_t> events_per_message_;  // of the messages pulled
};

TEST_F(WatchSourceTest, SendsWhatItsFunctionKeepsInOrderAndWakesWhenEventsArrive) {
  StartHub();
  std::unique_ptr<StreamSource<StringValue>> source = Open("");
  ASSERT_NE(source, nullptr);
  StringValue message;
  absl::Status end;
  const int wakes = counter_.wakes();
  EXPECT_EQ(source->Next(&message, &end), runtime::Pull::kPending);  // nothing yet
  Publish("a", 2);
  Publish("skip", 3);
  Publish("b", 2);
  EXPECT_TRUE(counter_.AwaitMoreThan(wakes));
  EXPECT_EQ(PullSome(*source, 4, &end), (std::vector<std::string>{"a-0", "a-1", "b-0", "b-1"}));
  EXPECT_TRUE(end.ok()) << end;
}

TEST_F(WatchSourceTest, ACoalescingWatchSendsTheEventsWaitingForItInOneMessage) {
  StartHub();
  // Six events of 7-byte payloads ("payload"), published together before the watch
  // begins, so that they all wait for it (events published one batch after the other
  // may reach a watch from "0" in two parts: the catch-up up to where the hub had read,
  // then the hub's next read).
  Publish({"c-0", "c-1", "skip-0", "d-0", "d-1", "d-2"});
  WatchOptions options;
  options.coalesce_payload_bytes = 14;  // two of them
  std::unique_ptr<StreamSource<StringValue>> source = Open("0", options);
  ASSERT_NE(source, nullptr);
  absl::Status end;
  EXPECT_EQ(PullSome(*source, 5, &end),
            (std::vector<std::string>{"c-0", "c-1", "d-0", "d-1", "d-2"}));
  EXPECT_TRUE(end.ok()) << end;
  // Two events a message; the skipped one takes its place and sends nothing.
  EXPECT_EQ(events_per_message_, (std::vector<size_t>{2, 1, 2}));
  // The cursor of a message is its last event's: resuming there misses nothing.
  const std::string after_d2 = last_cursor_;
  Publish("e", 1);
  EXPECT_EQ(PullSome(*source, 1, &end), std::vector<std::string>{"e-0"});
  std::unique_ptr<StreamSource<StringValue>> resumed = Open(after_d2, options);
  ASSERT_NE(resumed, nullptr);
  EXPECT_EQ(PullSome(*resumed, 1, &end), std::vector<std::string>{"e-0"});

  // One event larger than the budget still goes, alone.
  options.coalesce_payload_bytes = 3;
  std::unique_ptr<StreamSource<StringValue>> small = Open("0", options);
  ASSERT_NE(small, nullptr);
  events_per_message_.clear();
  EXPECT_EQ(PullSome(*small, 6, &end),
            (std::vector<std::string>{"c-0", "c-1", "d-0", "d-1", "d-2", "e-0"}));
  EXPECT_EQ(events_per_message_, std::vector<size_t>(6, 1));
}

TEST_F(WatchSourceTest, DrainingEndsWithTheCursorOfTheLastEventTaken) {
  StartHub();
  std::unique_ptr<StreamSource<StringValue>> source = Open("");
  ASSERT_NE(source, nullptr);
  absl::Status end;
  StringValue message;
  ASSERT_EQ(source->Next(&message, &end), runtime::Pull::kPending);
  Publish("d", 5);
  // Two taken (say the client has them), three still in the subscription.
  ASSERT_EQ(PullSome(*source, 2, &end), (std::vector<std::string>{"d-0", "d-1"}));
  const int wakes = counter_.wakes();
  source->OnDrain();
  EXPECT_GT(counter_.wakes(), wakes);  // the reactor is told to pull the end
  ASSERT_EQ(source->Next(&message, &end), runtime::Pull::kEnd);
  EXPECT_EQ(end.code(), absl::StatusCode::kUnavailable) << end;
  ErrorInfoView info = ErrorInfoOf(end);
  EXPECT_EQ(info.reason, "SERVER_DRAINING");
  EXPECT_EQ(info.metadata["cursor"], last_cursor_);
  // Resuming there (on another replica) misses nothing and repeats nothing.
  std::unique_ptr<StreamSource<StringValue>> resumed = Open(info.metadata["cursor"]);
  ASSERT_NE(resumed, nullptr);
  EXPECT_EQ(PullSome(*resumed, 3, &end), (std::vector<std::string>{"d-2", "d-3", "d-4"}));
}

TEST_F(WatchSourceTest, AWatcherThatFellBehindEndsWithoutWaitingForItsClient) {
  options_.queue_capacity = 4;
  StartHub();
  std::unique_ptr<StreamSource<StringValue>> source = Open("");
  ASSERT_NE(source, nullptr);
  absl::Status end;
  StringValue message;
  ASSERT_EQ(source->Next(&message, &end), runtime::Pull::kPending);
  Publish("s", 1);
  ASSERT_EQ(PullSome(*source, 1, &end), std::vector<std::string>{"s-0"});
  // The stream is now full (its client reads nothing): the reactor stops calling Next.
  EXPECT_FALSE(source->EndWithoutRoom(&end));  // nothing has ended yet
  const int wakes = counter_.wakes();
  Publish("t", 10);  // more than its queue holds
  // The end wakes the stream although the watch was not waiting for events...
  ASSERT_TRUE(counter_.AwaitMoreThan(wakes));
  const absl::Time deadline = absl::Now() + kWait;
  bool ended = false;
  while (!(ended = source->EndWithoutRoom(&end)) && absl::Now() < deadline) {
    counter_.AwaitMoreThan(counter_.wakes());
  }
  // ...and ends it now, resumable from the last event it took.
  ASSERT_TRUE(ended);
  EXPECT_EQ(end.code(), absl::StatusCode::kUnavailable) << end;
  ErrorInfoView info = ErrorInfoOf(end);
  EXPECT_EQ(info.reason, "WATCH_TOO_SLOW");
  EXPECT_EQ(info.metadata["cursor"], last_cursor_);
  std::unique_ptr<StreamSource<StringValue>> resumed = Open(info.metadata["cursor"]);
  ASSERT_NE(resumed, nullptr);
  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(absl::StrCat("t-", i));
  EXPECT_EQ(PullSome(*resumed, 10, &end), expected);
}

TEST_F(WatchSourceTest, AnEventItsFunctionRefusesEndsTheWatchWithThatStatus) {
  StartHub();
  std::unique_ptr<StreamSource<StringValue>> source = Open("");
  ASSERT_NE(source, nullptr);
  absl::Status end;
  StringValue message;
  ASSERT_EQ(source->Next(&message, &end), runtime::Pull::kPending);
  Publish("ok", 1);
  Publish("bad", 1);
  Publish("after", 1);
  EXPECT_EQ(PullSome(*source, 3, &end), std::vector<std::string>{"ok-0"});
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
}

// Coalescing: the events taken with the refused one before it go first, as in a shared
// watch (resuming from the last message's cursor then starts at the refused one).
TEST_F(WatchSourceTest, AnEventItsFunctionRefusesEndsACoalescingWatchAfterThoseBeforeIt) {
  StartHub();
  Publish({"ok-0", "ok-1", "bad-0", "after-0"});
  WatchOptions options;
  options.coalesce_payload_bytes = 1 << 20;
  std::unique_ptr<StreamSource<StringValue>> source = Open("0", options);
  ASSERT_NE(source, nullptr);
  absl::Status end;
  EXPECT_EQ(PullSome(*source, 3, &end), (std::vector<std::string>{"ok-0", "ok-1"}));
  EXPECT_EQ(events_per_message_, std::vector<size_t>{2});
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
}

// The refused event's end is owed to the client also when it has no room for more: a
// drain (or an overflow) then must not end the watch resumable past the events taken
// with the refused one (outside review: the client resumed after "after-0", skipping the
// refused event and the good one after it).
TEST_F(WatchSourceTest, AnOwedEndIsTheEndAlsoWithoutRoom) {
  StartHub();
  Publish({"ok-0", "ok-1", "bad-0", "after-0"});
  WatchOptions options;
  options.coalesce_payload_bytes = 1 << 20;
  std::unique_ptr<StreamSource<StringValue>> source = Open("0", options);
  ASSERT_NE(source, nullptr);
  absl::Status end;
  ASSERT_EQ(PullSome(*source, 2, &end), (std::vector<std::string>{"ok-0", "ok-1"}));
  source->OnDrain();
  ASSERT_TRUE(source->EndWithoutRoom(&end));
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
}

TEST_F(WatchSourceTest, CursorErrorsAndAMissingHub) {
  StartHub();
  absl::StatusOr<std::unique_ptr<StreamSource<StringValue>>> malformed = OpenWatch<StringValue>(
      hub_.get(), kKey, "not a cursor",
      [](const StreamEvent&, StringValue*) -> absl::StatusOr<bool> { return true; });
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<StreamSource<StringValue>>> no_hub = OpenWatch<StringValue>(
      nullptr, kKey, "",
      [](const StreamEvent&, StringValue*) -> absl::StatusOr<bool> { return true; });
  EXPECT_EQ(no_hub.status().code(), absl::StatusCode::kUnavailable);
}

// A shared watch's responses: "<event_id> v<variant>"; variant 1 for ids that contain
// "moved" when the watcher is "zoned", skipping ids that contain "skip" for it; counts
// the builds.
std::atomic<int> shared_builds{0};
absl::Status BuildShared(const StreamEvent& event, int variant, StringValue* response) {
  shared_builds.fetch_add(1);
  if (absl::StrContains(event.event_id, "bad")) return absl::DataLossError("unreadable");
  response->set_value(absl::StrCat(event.event_id, " v", variant));
  return absl::OkStatus();
}

std::unique_ptr<StreamSource<StringValue>> OpenShared(
    EventHub* hub, bool zoned, std::shared_ptr<StreamControl::Handle> handle) {
  SharedWatchResponses<StringValue> responses;
  responses.select = [zoned](const StreamEvent& event) -> absl::StatusOr<int> {
    if (!zoned) return 0;
    if (absl::StrContains(event.event_id, "skip")) return kSkipEvent;
    return absl::StrContains(event.event_id, "moved") ? 1 : 0;
  };
  responses.build = &BuildShared;
  absl::StatusOr<std::unique_ptr<StreamSource<StringValue>>> source =
      OpenSharedWatch<StringValue>(hub, kKey, "", std::move(responses));
  EXPECT_TRUE(source.ok()) << source.status();
  if (!source.ok()) return nullptr;
  (*source)->Start(StreamControl(std::move(handle)));
  return *std::move(source);
}

// What the reactor writes: up to `count` shared messages (or fewer once the watch ends).
template <class Response>
std::vector<std::shared_ptr<const grpc::ByteBuffer>> PullShared(StreamSource<Response>& source,
                                                                size_t count, absl::Status* end) {
  auto* shared = dynamic_cast<SharedMessageSource*>(&source);
  EXPECT_NE(shared, nullptr) << "a shared watch is a SharedMessageSource";
  std::vector<std::shared_ptr<const grpc::ByteBuffer>> got;
  const absl::Time deadline = absl::Now() + kWait;
  // kPending: the events are on their way from Redis; look again.
  std::shared_ptr<const grpc::ByteBuffer> bytes;
  Pull pulled = Pull::kPending;
  auto next = [&] { return (pulled = shared->NextShared(&bytes, end)) != Pull::kPending; };
  while (shared != nullptr && got.size() < count &&
         testing::PollUntil(next, deadline - absl::Now())) {
    if (pulled == Pull::kEnd) return got;
    got.push_back(std::move(bytes));
  }
  *end = absl::OkStatus();
  return got;
}

std::string ValueOf(const grpc::ByteBuffer& bytes) {
  grpc::ByteBuffer copy(bytes);
  StringValue message;
  EXPECT_TRUE(grpc::SerializationTraits<StringValue>::Deserialize(&copy, &message).ok());
  return message.value();
}

// Live events: the hub hands every subscriber the same event (a watcher catching up
// reads its own copies of older ones from Redis).
TEST_F(WatchSourceTest, SharedWatchesSerializeEachVariantOfAnEventOnceForEveryWatcher) {
  StartHub();
  shared_builds.store(0);
  std::unique_ptr<StreamSource<StringValue>> all_a = OpenShared(hub_.get(), false, handle_);
  std::unique_ptr<StreamSource<StringValue>> all_b = OpenShared(hub_.get(), false, handle_);
  std::unique_ptr<StreamSource<StringValue>> zoned = OpenShared(hub_.get(), true, handle_);
  std::unique_ptr<StreamSource<StringValue>> typed = OpenShared(hub_.get(), true, handle_);
  ASSERT_TRUE(all_a != nullptr && all_b != nullptr && zoned != nullptr && typed != nullptr);
  Publish("plain", 1);
  Publish("moved", 1);
  Publish("skip", 1);
  absl::Status end;
  auto a = PullShared(*all_a, 3, &end);
  auto b = PullShared(*all_b, 3, &end);
  auto z = PullShared(*zoned, 2, &end);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  ASSERT_EQ(z.size(), 2u);
  EXPECT_EQ(ValueOf(*a[0]), "plain-0 v0");
  EXPECT_EQ(ValueOf(*a[1]), "moved-0 v0");
  EXPECT_EQ(ValueOf(*a[2]), "skip-0 v0");
  EXPECT_EQ(ValueOf(*z[0]), "plain-0 v0");
  EXPECT_EQ(ValueOf(*z[1]), "moved-0 v1");
  // The same bytes for every watcher of a variant: one build per event and variant.
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a[i].get(), b[i].get()) << i;
  EXPECT_EQ(z[0].get(), a[0].get());
  EXPECT_NE(z[1].get(), a[1].get());
  EXPECT_EQ(shared_builds.load(), 4);
  // The typed Next (for callers other than the reactor) builds this watcher's own copy.
  EXPECT_EQ(PullSome(*typed, 2, &end), (std::vector<std::string>{"plain-0", "moved-0"}));
  EXPECT_EQ(last_cursor_, "v1");
}

TEST_F(WatchSourceTest, ASharedResponseThatCannotBeBuiltEndsEveryWatchThatSelectsIt) {
  StartHub();
  std::unique_ptr<StreamSource<StringValue>> first = OpenShared(hub_.get(), false, handle_);
  std::unique_ptr<StreamSource<StringValue>> second = OpenShared(hub_.get(), false, handle_);
  ASSERT_TRUE(first != nullptr && second != nullptr);
  Publish("ok", 1);
  Publish("bad", 1);
  absl::Status end;
  EXPECT_EQ(PullShared(*first, 2, &end).size(), 1u);
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
  end = absl::OkStatus();
  EXPECT_EQ(PullShared(*second, 2, &end).size(), 1u);
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
}

// A coalescing shared watch's parts: a FieldMask path "<event_id> v<variant> <cursor>"
// each (a repeated field, so parts concatenate); the same variants and skips as
// OpenShared's; counts the builds.
std::atomic<int> part_builds{0};
absl::Status BuildPart(const StreamEvent& event, int variant, FieldMask* response) {
  part_builds.fetch_add(1);
  if (absl::StrContains(event.event_id, "bad")) return absl::DataLossError("unreadable");
  response->add_paths(absl::StrCat(event.event_id, " v", variant, " ", event.cursor));
  return absl::OkStatus();
}
absl::Status BuildWhole(const StreamEvent&, int, FieldMask*) {
  return absl::InternalError("a coalescing watch builds parts only");
}

std::unique_ptr<StreamSource<FieldMask>> OpenCoalescing(
    EventHub* hub, const std::string& cursor, bool zoned, size_t max_events,
    size_t max_payload_bytes, std::shared_ptr<StreamControl::Handle> handle) {
  SharedWatchResponses<FieldMask> responses;
  responses.select = [zoned](const StreamEvent& event) -> absl::StatusOr<int> {
    if (absl::StrContains(event.event_id, "unselectable")) return absl::DataLossError("no zone");
    if (!zoned) return 0;
    if (absl::StrContains(event.event_id, "skip")) return kSkipEvent;
    return absl::StrContains(event.event_id, "moved") ? 1 : 0;
  };
  responses.build = &BuildWhole;
  responses.build_part = &BuildPart;
  responses.max_events_per_response = max_events;
  responses.max_payload_bytes = max_payload_bytes;
  absl::StatusOr<std::unique_ptr<StreamSource<FieldMask>>> source =
      OpenSharedWatch<FieldMask>(hub, kKey, cursor, std::move(responses));
  EXPECT_TRUE(source.ok()) << source.status();
  if (!source.ok()) return nullptr;
  (*source)->Start(StreamControl(std::move(handle)));
  return *std::move(source);
}

// The paths of each message, parsed as the client does.
std::vector<std::vector<std::string>> PathsOf(
    const std::vector<std::shared_ptr<const grpc::ByteBuffer>>& messages) {
  std::vector<std::vector<std::string>> paths;
  for (const std::shared_ptr<const grpc::ByteBuffer>& bytes : messages) {
    grpc::ByteBuffer copy(*bytes);
    FieldMask message;
    EXPECT_TRUE(grpc::SerializationTraits<FieldMask>::Deserialize(&copy, &message).ok());
    std::vector<std::string>& got = paths.emplace_back();
    for (const std::string& path : message.paths()) got.push_back(path.substr(0, path.rfind(' ')));
  }
  return paths;
}

// The typed Next as a caller other than the reactor uses it: again while kPending (the
// events are on their way from the hub), until a message or the end.
Pull PullTyped(StreamSource<FieldMask>& source, FieldMask* message, absl::Status* end) {
  Pull pulled = Pull::kPending;
  testing::PollUntil([&] { return (pulled = source.Next(message, end)) != Pull::kPending; }, kWait);
  return pulled;
}

std::string CursorOfLast(const grpc::ByteBuffer& bytes) {
  grpc::ByteBuffer copy(bytes);
  FieldMask message;
  EXPECT_TRUE(grpc::SerializationTraits<FieldMask>::Deserialize(&copy, &message).ok());
  if (message.paths().empty()) return "";
  const std::string& last = message.paths(message.paths_size() - 1);
  return last.substr(last.rfind(' ') + 1);
}

TEST_F(WatchSourceTest, ACoalescingSharedWatchSendsWhatWaitsAsOneMessageOfSharedParts) {
  StartHub();
  part_builds.store(0);
  // Live watches (a watcher catching up from a cursor reads its own copies of older
  // events, built for it alone).
  std::unique_ptr<StreamSource<FieldMask>> all =
      OpenCoalescing(hub_.get(), "", false, 100, 1 << 20, handle_);
  std::unique_ptr<StreamSource<FieldMask>> zoned =
      OpenCoalescing(hub_.get(), "", true, 100, 1 << 20, handle_);
  std::unique_ptr<StreamSource<FieldMask>> by_count =
      OpenCoalescing(hub_.get(), "", false, 4, 1 << 20, handle_);
  std::unique_ptr<StreamSource<FieldMask>> by_bytes =
      OpenCoalescing(hub_.get(), "", false, 100, 14, handle_);
  std::unique_ptr<StreamSource<FieldMask>> typed =
      OpenCoalescing(hub_.get(), "", true, 100, 1 << 20, handle_);
  ASSERT_TRUE(all != nullptr && zoned != nullptr && by_count != nullptr && by_bytes != nullptr &&
              typed != nullptr);
  // Six events of 7-byte payloads, published together: they wait for every watch at once.
  Publish({"c-0", "c-1", "skip-0", "moved-0", "d-0", "d-1"});
  absl::Status end;
  auto all_messages = PullShared(*all, 1, &end);
  EXPECT_EQ(PathsOf(all_messages),
            (std::vector<std::vector<std::string>>{
                {"c-0 v0", "c-1 v0", "skip-0 v0", "moved-0 v0", "d-0 v0", "d-1 v0"}}));
  EXPECT_EQ(PathsOf(PullShared(*zoned, 1, &end)),
            (std::vector<std::vector<std::string>>{
                {"c-0 v0", "c-1 v0", "moved-0 v1", "d-0 v0", "d-1 v0"}}));
  EXPECT_EQ(PathsOf(PullShared(*by_count, 2, &end)),
            (std::vector<std::vector<std::string>>{{"c-0 v0", "c-1 v0", "skip-0 v0", "moved-0 v0"},
                                                   {"d-0 v0", "d-1 v0"}}));
  EXPECT_EQ(PathsOf(PullShared(*by_bytes, 3, &end)),
            (std::vector<std::vector<std::string>>{
                {"c-0 v0", "c-1 v0"}, {"skip-0 v0", "moved-0 v0"}, {"d-0 v0", "d-1 v0"}}));
  EXPECT_TRUE(end.ok()) << end;
  // Each part built once for every watcher: six events in variant 0, one in variant 1.
  EXPECT_EQ(part_builds.load(), 7);
  // The typed Next (for callers other than the reactor) builds this watcher's own copy.
  FieldMask message;
  ASSERT_EQ(PullTyped(*typed, &message, &end), Pull::kMessage) << end;
  ASSERT_EQ(message.paths_size(), 5);
  EXPECT_EQ(message.paths(2).substr(0, message.paths(2).rfind(' ')), "moved-0 v1");

  // A live event, alone; the cursor of a message's last part resumes after all of it.
  ASSERT_EQ(all_messages.size(), 1u);
  const std::string after_d1 = CursorOfLast(*all_messages[0]);
  Publish("e", 1);
  EXPECT_EQ(PathsOf(PullShared(*all, 1, &end)),
            (std::vector<std::vector<std::string>>{{"e-0 v0"}}));
  std::unique_ptr<StreamSource<FieldMask>> resumed =
      OpenCoalescing(hub_.get(), after_d1, false, 100, 1 << 20, handle_);
  ASSERT_NE(resumed, nullptr);
  EXPECT_EQ(PathsOf(PullShared(*resumed, 1, &end)),
            (std::vector<std::vector<std::string>>{{"e-0 v0"}}));
}

// An event that cannot be built (or selected) ends the watch with its error, after the
// events taken with it before it: one a message, they went before the error too.
TEST_F(WatchSourceTest, ACoalescedEventThatCannotBeBuiltEndsTheWatchAfterThoseBeforeIt) {
  StartHub();
  Publish({"ok-0", "ok-1", "bad-0", "after-0"});
  std::unique_ptr<StreamSource<FieldMask>> source =
      OpenCoalescing(hub_.get(), "0", false, 100, 1 << 20, handle_);
  ASSERT_NE(source, nullptr);
  absl::Status end;
  EXPECT_EQ(PathsOf(PullShared(*source, 2, &end)),
            (std::vector<std::vector<std::string>>{{"ok-0 v0", "ok-1 v0"}}));
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
}

TEST_F(WatchSourceTest, ASharedWatchsOwedEndIsTheEndAlsoWithoutRoom) {
  StartHub();
  Publish({"ok-0", "ok-1", "bad-0", "after-0"});
  std::unique_ptr<StreamSource<FieldMask>> source =
      OpenCoalescing(hub_.get(), "0", false, 100, 1 << 20, handle_);
  ASSERT_NE(source, nullptr);
  absl::Status end;
  ASSERT_EQ(PathsOf(PullShared(*source, 1, &end)),
            (std::vector<std::vector<std::string>>{{"ok-0 v0", "ok-1 v0"}}));
  source->OnDrain();
  ASSERT_TRUE(source->EndWithoutRoom(&end));
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
}

TEST_F(WatchSourceTest, ACoalescedEventThatCannotBeSelectedEndsTheWatchAfterThoseBeforeIt) {
  StartHub();
  Publish({"ok-0", "unselectable-0", "after-0"});
  std::unique_ptr<StreamSource<FieldMask>> source =
      OpenCoalescing(hub_.get(), "0", false, 100, 1 << 20, handle_);
  ASSERT_NE(source, nullptr);
  absl::Status end;
  EXPECT_EQ(PathsOf(PullShared(*source, 2, &end)),
            (std::vector<std::vector<std::string>>{{"ok-0 v0"}}));
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
  // The typed Next does the same.
  std::unique_ptr<StreamSource<FieldMask>> typed =
      OpenCoalescing(hub_.get(), "0", false, 100, 1 << 20, handle_);
  ASSERT_NE(typed, nullptr);
  FieldMask message;
  ASSERT_EQ(PullTyped(*typed, &message, &end), Pull::kMessage) << end;
  EXPECT_EQ(message.paths_size(), 1);
  EXPECT_EQ(PullTyped(*typed, &message, &end), Pull::kEnd);
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
}

}  // namespace
}  // namespace plantmesh::runtime
