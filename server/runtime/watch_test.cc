// WatchSource over a real EventHub (and Redis), driven as the reactor drives it: Start,
// Next until kPending, again after each Wake; EndWithoutRoom while its client is slow.
#include "server/runtime/watch.h"

#include <google/protobuf/wrappers.pb.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/redis_client.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

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
    RedisClient redis(options_.redis);
    std::vector<std::pair<std::string, std::string>> events;
    for (int i = 0; i < n; ++i) events.emplace_back(absl::StrCat(prefix, "-", i), "payload");
    ASSERT_TRUE(
        redis.Pipeline(StreamPublishCommands(OutboxSource{"test", kKey, 100000}, events)).ok());
  }

  // A watch that sends each event as "<event_id> <cursor>", skipping ids that contain
  // "skip" and failing on ids that contain "bad".
  std::unique_ptr<StreamSource<StringValue>> Open(const std::string& cursor) {
    absl::StatusOr<std::unique_ptr<StreamSource<StringValue>>> source = OpenWatch<StringValue>(
        hub_.get(), kKey, cursor,
        [](const StreamEvent& event, StringValue* response) -> absl::StatusOr<bool> {
          if (absl::StrContains(event.event_id, "bad")) return absl::DataLossError("unreadable");
          if (absl::StrContains(event.event_id, "skip")) return false;
          response->set_value(absl::StrCat(event.event_id, " ", event.cursor));
          return true;
        });
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
        got.push_back(message.value().substr(0, message.value().find(' ')));
        last_cursor_ = message.value().substr(message.value().find(' ') + 1);
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
  std::string last_cursor_;  // of the last message pulled
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

}  // namespace
}  // namespace plantmesh::runtime
