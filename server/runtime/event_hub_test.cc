// EventHub against a real Redis: cursor rules, generations, catch-up into the live feed,
// slow subscribers, notifications.
#include "server/runtime/event_hub.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/redis_client.h"
#include "server/runtime/stream_cursor.h"
#include "tests/support/poll.h"
#include "tests/support/redis_command_stats.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::RedisServer;

constexpr char kKey[] = "plantmesh:test:events";
constexpr absl::Duration kWait = absl::Seconds(20);

class EventHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_server_ = *std::move(redis);
    options_.redis.port = redis_server_->port();
    options_.redis.connect_timeout = absl::Milliseconds(200);
    options_.block = absl::Milliseconds(200);
    options_.first_backoff = absl::Milliseconds(20);
    options_.max_backoff = absl::Milliseconds(200);
  }

  std::unique_ptr<EventHub> StartHub() {
    auto hub = std::make_unique<EventHub>(options_, std::vector<std::string>{kKey});
    hub->Start();
    EXPECT_TRUE(hub->AwaitConnected(kWait));
    return hub;
  }

  // Publishes events "<prefix>-<i>" as the relay does (payloads padded with
  // `padding` bytes); returns their stream ids.
  std::vector<std::string> Publish(const std::string& prefix, int n, size_t padding = 0) {
    RedisClient redis(options_.redis);
    std::vector<std::pair<std::string, std::string>> events;
    for (int i = 0; i < n; ++i) {
      events.emplace_back(absl::StrCat(prefix, "-", i),
                          absl::StrCat("payload ", prefix, "-", i, std::string(padding, ' ')));
    }
    absl::StatusOr<std::vector<RedisReply>> replies =
        redis.Pipeline(StreamPublishCommands(OutboxSource{"test", kKey, retain_}, events));
    EXPECT_TRUE(replies.ok()) << replies.status();
    std::vector<std::string> ids;
    if (!replies.ok()) return ids;
    const std::vector<RedisReply>& exec = replies->back().elements;
    // [0]: SET NX, then one id per XADD, last the generation (GET).
    for (size_t i = 1; i + 1 < exec.size(); ++i) ids.push_back(exec[i].str);
    return ids;
  }

  absl::Status Command(const std::vector<std::string>& args) {
    RedisClient redis(options_.redis);
    return redis.Command(args).status();
  }

  EventHubOptions options_;
  int64_t retain_ = 100000;
  std::unique_ptr<RedisServer> redis_server_;
};

// Takes events until `count` arrived, the subscription ended, or kWait passed.
struct Taken {
  std::vector<std::string> event_ids;
  std::vector<std::string> cursors;
  absl::Status end;
  bool ended = false;
};
Taken Take(Subscription& subscription, size_t count, size_t max_events_per_poll = 1000) {
  Taken taken;
  const absl::Time deadline = absl::Now() + kWait;
  std::vector<std::shared_ptr<const StreamEvent>> batch;
  while (taken.event_ids.size() < count && absl::Now() < deadline) {
    batch.clear();
    absl::Status status = subscription.Poll(&batch, max_events_per_poll);
    for (const auto& event : batch) {
      taken.event_ids.push_back(event->event_id);
      taken.cursors.push_back(event->cursor);
    }
    if (!status.ok()) {
      taken.end = status;
      taken.ended = true;
      break;
    }
    if (batch.empty()) subscription.WaitUntil(deadline);
  }
  return taken;
}

// Waits for the end status (taking any events before it).
absl::Status AwaitEnd(Subscription& subscription) {
  Taken taken = Take(subscription, static_cast<size_t>(-1));
  return taken.ended ? taken.end : absl::DeadlineExceededError("the subscription did not end");
}

// Whether the hub's reader comes to hold only `count` subscriptions within kWait (the
// ended ones let go).
::testing::AssertionResult ComesToHold(const EventHub& hub, int64_t count) {
  int64_t held = -1;
  if (testing::PollUntil(
          [&] {
            held = hub.Stats().front().held;
            return held == count;
          },
          kWait, absl::Milliseconds(20))) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << held << " subscriptions held, not " << count;
}

std::vector<std::string> Names(const std::string& prefix, int from, int to) {
  std::vector<std::string> names;
  for (int i = from; i < to; ++i) names.push_back(absl::StrCat(prefix, "-", i));
  return names;
}

TEST(StreamCursorTest, ParsesEveryFormAndRefusesTheRest) {
  EXPECT_EQ(StreamCursor::Parse("")->kind, StreamCursor::Kind::kEnd);
  EXPECT_EQ(StreamCursor::Parse("0")->kind, StreamCursor::Kind::kStart);
  absl::StatusOr<StreamCursor> bare = StreamCursor::Parse("1732212345678-3");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->kind, StreamCursor::Kind::kAfter);
  EXPECT_TRUE(bare->generation.empty());
  EXPECT_EQ(bare->id.ToString(), "1732212345678-3");
  const std::string generation = NewStreamGeneration(kKey);
  EXPECT_EQ(generation.size(), 16u);
  EXPECT_NE(NewStreamGeneration(kKey), generation);  // random after the stream's tag
  EXPECT_EQ(NewStreamGeneration(kKey).substr(0, 4), generation.substr(0, 4));
  absl::StatusOr<StreamCursor> full =
      StreamCursor::Parse(FormatCursor(generation, StreamId{12, 4}));
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->generation, generation);
  EXPECT_EQ(full->id.ToString(), "12-4");
  for (const char* bad :
       {"yesterday", "12-", "-3", "1-2-3", "+1-0", "99999999999999999999-0", "abc.1-0",
        "0123456789abcdeF.1-0", ".1-0", "0123456789abcdef.", "0123456789abcdef.x",
        // Outside testing: leading zeros were taken; a cursor has one spelling.
        "0-00", "00-0", "0123456789abcdef.012-4", "0123456789abcdef.12-04"}) {
    absl::StatusOr<StreamCursor> parsed = StreamCursor::Parse(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    std::vector<FieldViolation> fields = FieldViolationsOf(parsed.status());
    ASSERT_EQ(fields.size(), 1u) << bad;
    EXPECT_EQ(fields[0].field, "cursor");
  }
}

TEST_F(EventHubTest, EmptyCursorIsTheCurrentEnd) {
  Publish("old", 3);
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::unique_ptr<Subscription>> sub = hub->Subscribe(kKey, "");
  ASSERT_TRUE(sub.ok()) << sub.status();
  absl::StatusOr<std::string> position = hub->CurrentCursor(kKey);
  ASSERT_TRUE(position.ok()) << position.status();
  EXPECT_EQ((*sub)->cursor(), *position);
  Publish("new", 2);
  Taken taken = Take(**sub, 2);
  EXPECT_EQ(taken.event_ids, Names("new", 0, 2)) << taken.end;
}

TEST_F(EventHubTest, OldCursorsStartAtTheOldestWhenNothingWasTrimmed) {
  std::vector<std::string> ids = Publish("e", 5);
  std::unique_ptr<EventHub> hub = StartHub();
  for (const char* cursor : {"0", "1-0", "0-0"}) {
    absl::StatusOr<std::unique_ptr<Subscription>> sub = hub->Subscribe(kKey, cursor);
    ASSERT_TRUE(sub.ok()) << sub.status();
    EXPECT_EQ(Take(**sub, 5).event_ids, Names("e", 0, 5)) << cursor;
  }
  // A bare id and the same id with the generation: the events after it.
  absl::StatusOr<std::unique_ptr<Subscription>> bare = hub->Subscribe(kKey, ids[1]);
  ASSERT_TRUE(bare.ok());
  Taken from_bare = Take(**bare, 3);
  EXPECT_EQ(from_bare.event_ids, Names("e", 2, 5));
  absl::StatusOr<std::unique_ptr<Subscription>> full = hub->Subscribe(kKey, from_bare.cursors[0]);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(Take(**full, 2).event_ids, Names("e", 3, 5));
}

TEST_F(EventHubTest, TrimmedIsSaidOnlyWhenEventsAfterTheCursorWereTrimmed) {
  std::vector<std::string> ids = Publish("e", 10);
  ASSERT_TRUE(Command({"XTRIM", kKey, "MAXLEN", "3"}).ok());  // keeps e-7..e-9
  std::unique_ptr<EventHub> hub = StartHub();

  for (std::string cursor : {std::string("1-0"), ids[1]}) {
    absl::StatusOr<std::unique_ptr<Subscription>> sub = hub->Subscribe(kKey, cursor);
    ASSERT_TRUE(sub.ok()) << sub.status();
    absl::Status status = AwaitEnd(**sub);
    ASSERT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << cursor << ": " << status;
    ErrorInfoView info = ErrorInfoOf(status);
    EXPECT_EQ(info.reason, "CURSOR_EXPIRED");
    const std::string oldest = info.metadata["oldest_cursor"];
    ASSERT_FALSE(oldest.empty());
    EXPECT_NE(status.message().find(oldest), absl::string_view::npos);
    // The named oldest cursor yields exactly what is retained.
    absl::StatusOr<std::unique_ptr<Subscription>> resumed = hub->Subscribe(kKey, oldest);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    EXPECT_EQ(Take(**resumed, 3).event_ids, Names("e", 7, 10));
  }
  // "0" is the oldest retained event, trimmed or not; a cursor inside the range works.
  absl::StatusOr<std::unique_ptr<Subscription>> from_zero = hub->Subscribe(kKey, "0");
  ASSERT_TRUE(from_zero.ok());
  EXPECT_EQ(Take(**from_zero, 3).event_ids, Names("e", 7, 10));
  absl::StatusOr<std::unique_ptr<Subscription>> inside = hub->Subscribe(kKey, ids[7]);
  ASSERT_TRUE(inside.ok());
  EXPECT_EQ(Take(**inside, 2).event_ids, Names("e", 8, 10));
}

TEST_F(EventHubTest, CursorNewerThanTheNewestEventIsInvalid) {
  Publish("e", 2);
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::unique_ptr<Subscription>> sub = hub->Subscribe(kKey, "99999999999999-0");
  ASSERT_TRUE(sub.ok()) << sub.status();
  absl::Status status = AwaitEnd(**sub);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  std::vector<FieldViolation> fields = FieldViolationsOf(status);
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].field, "cursor");
  ErrorInfoView info = ErrorInfoOf(status);
  EXPECT_EQ(info.reason, "CURSOR_FROM_FUTURE");
  EXPECT_EQ(info.metadata["newest_cursor"], *hub->CurrentCursor(kKey));
  EXPECT_NE(status.message().find(info.metadata["newest_cursor"]), absl::string_view::npos);
  // Malformed cursors are refused at once.
  EXPECT_EQ(hub->Subscribe(kKey, "soon").status().code(), absl::StatusCode::kInvalidArgument);
}

// The relay starts a new generation in place after a restore of the database (one
// MULTI/EXEC: new generation key, stream emptied; OutboxRelay). Entries added after it
// reach no subscriber of the old generation, even one whose XREAD was blocked across it.
TEST_F(EventHubTest, AGenerationStartedInPlaceEndsOldSubscribersAndServesNoNewEntryToThem) {
  Publish("before", 3);
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::string> old_cursor = hub->CurrentCursor(kKey);
  ASSERT_TRUE(old_cursor.ok());
  absl::StatusOr<std::unique_ptr<Subscription>> live = hub->Subscribe(kKey, "");
  ASSERT_TRUE(live.ok());
  RedisClient redis(options_.redis);
  // Wait until the hub's reader is blocked in XREAD (the case to test).
  std::string clients;
  ASSERT_TRUE(testing::PollUntil(
      [&] {
        absl::StatusOr<RedisReply> list = redis.Command({"CLIENT", "LIST"});
        clients = list.ok() ? list->str : list.status().ToString();
        return absl::StrContains(clients, "flags=b ");
      },
      kWait, absl::Milliseconds(1)))
      << clients;
  absl::StatusOr<StreamInfo> info = redis.XInfoStream(kKey);
  ASSERT_TRUE(info.ok()) << info.status();
  const std::string generation = NewStreamGeneration(kKey);
  // The reset and the first new entry in one transaction: a reader blocked in XREAD
  // wakes with an entry of the new generation.
  ASSERT_TRUE(redis
                  .Pipeline({{"MULTI"},
                             {"SET", GenerationKey(kKey), generation},
                             {"XTRIM", kKey, "MAXLEN", "0"},
                             {"XSETID", kKey, info->last_generated_id.ToString(), "ENTRIESADDED",
                              "0", "MAXDELETEDID", "0-0"},
                             {"XADD", kKey, "*", "event_id", "after-0", "payload", "after"},
                             {"EXEC"}})
                  .ok());
  Taken taken = Take(**live, 1);
  EXPECT_TRUE(taken.event_ids.empty()) << taken.event_ids[0];
  ASSERT_TRUE(taken.ended);
  EXPECT_EQ(taken.end.code(), absl::StatusCode::kFailedPrecondition) << taken.end;
  EXPECT_EQ(ErrorInfoOf(taken.end).reason, "CURSOR_GENERATION_CHANGED");
  EXPECT_EQ(hub->Subscribe(kKey, *old_cursor).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The new generation from its start: the new entry only, no trimmed gap reported.
  absl::StatusOr<std::unique_ptr<Subscription>> fresh =
      hub->Subscribe(kKey, absl::StrCat(generation, ".", info->last_generated_id.ToString()));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  Taken again = Take(**fresh, 1);
  ASSERT_EQ(again.event_ids, std::vector<std::string>{"after-0"}) << again.end;
  absl::StatusOr<std::unique_ptr<Subscription>> oldest = hub->Subscribe(kKey, "0");
  ASSERT_TRUE(oldest.ok()) << oldest.status();
  Taken from_oldest = Take(**oldest, 1);
  EXPECT_EQ(from_oldest.event_ids, std::vector<std::string>{"after-0"}) << from_oldest.end;
}

TEST_F(EventHubTest, ARedisThatCameBackEmptyIsANewGeneration) {
  std::vector<std::string> ids = Publish("before", 3);
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::string> old_cursor = hub->CurrentCursor(kKey);
  ASSERT_TRUE(old_cursor.ok());
  absl::StatusOr<std::unique_ptr<Subscription>> live = hub->Subscribe(kKey, "");
  ASSERT_TRUE(live.ok());

  ASSERT_TRUE(redis_server_->Restart().ok());  // no persistence: empty
  absl::Status ended = AwaitEnd(**live);
  ASSERT_EQ(ended.code(), absl::StatusCode::kFailedPrecondition) << ended;
  EXPECT_EQ(ErrorInfoOf(ended).reason, "CURSOR_GENERATION_CHANGED");
  EXPECT_NE(ended.message().find("a watch lists again"), absl::string_view::npos);

  // Every cursor of the old generation is refused, at once.
  absl::StatusOr<std::unique_ptr<Subscription>> stale = hub->Subscribe(kKey, *old_cursor);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition) << stale.status();
  absl::StatusOr<std::string> new_cursor = hub->CurrentCursor(kKey);
  ASSERT_TRUE(new_cursor.ok());
  EXPECT_NE(StreamCursor::Parse(*new_cursor)->generation,
            StreamCursor::Parse(*old_cursor)->generation);

  // The new generation works, and a bare cursor is taken in it.
  absl::StatusOr<std::unique_ptr<Subscription>> fresh = hub->Subscribe(kKey, *new_cursor);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  std::vector<std::string> after = Publish("after", 2);
  Taken taken = Take(**fresh, 2);
  EXPECT_EQ(taken.event_ids, Names("after", 0, 2)) << taken.end;
  EXPECT_EQ(StreamCursor::Parse(taken.cursors[0])->generation,
            StreamCursor::Parse(*new_cursor)->generation);
  absl::StatusOr<std::unique_ptr<Subscription>> bare = hub->Subscribe(kKey, after[0]);
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(Take(**bare, 1).event_ids, Names("after", 1, 2));

  // A reset without a restart (FLUSHALL on the same connection) is seen too.
  absl::StatusOr<std::unique_ptr<Subscription>> again = hub->Subscribe(kKey, "");
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(Command({"FLUSHALL"}).ok());
  EXPECT_EQ(AwaitEnd(**again).code(), absl::StatusCode::kFailedPrecondition);
}

// Outside testing: a StreamSamples cursor given to WatchDefects was "generation changed",
// which tells a client to list again (its retry then met the same cursor). A generation
// names its stream; one of a Redis from before the tags still counts as reset.
TEST_F(EventHubTest, ACursorOfAnotherStreamIsInvalidNotAReset) {
  const std::string other = NewStreamGeneration("plantmesh:other:events");
  EXPECT_TRUE(IsGenerationOfStream(NewStreamGeneration(kKey), kKey));
  EXPECT_FALSE(IsGenerationOfStream(other, kKey));
  Publish("before", 1);
  std::unique_ptr<EventHub> hub = StartHub();
  const std::string foreign = absl::StrCat(other, ".1-0");
  absl::StatusOr<std::unique_ptr<Subscription>> refused = hub->Subscribe(kKey, foreign);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_EQ(ErrorInfoOf(refused.status()).reason, "CURSOR_OF_ANOTHER_STREAM");
  ASSERT_EQ(FieldViolationsOf(refused.status()).size(), 1u);
  EXPECT_EQ(FieldViolationsOf(refused.status())[0].field, "cursor");

  // A stream whose generation predates the tags (16 random digits): a cursor of another
  // generation cannot be told apart from one of a reset, and is one.
  ASSERT_TRUE(Command({"FLUSHALL"}).ok());
  ASSERT_TRUE(Command({"SET", GenerationKey(kKey), "0123456789abcdef"}).ok());
  hub = StartHub();
  Publish("after", 1);
  ASSERT_TRUE(testing::PollUntil(
      [&] {
        absl::StatusOr<std::string> cursor = hub->CurrentCursor(kKey);
        return cursor.ok() && StreamCursor::Parse(*cursor)->generation == "0123456789abcdef";
      },
      kWait));
  refused = hub->Subscribe(kKey, foreign);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_EQ(ErrorInfoOf(refused.status()).reason, "CURSOR_GENERATION_CHANGED");
  // Outside testing: a tail was told to "list again", which tails cannot.
  EXPECT_THAT(std::string(refused.status().message()),
              ::testing::HasSubstr("a watch lists again and watches from the list's "
                                   "watch_cursor, a tail starts without a cursor"));
}

// Outside testing: once another database's server claimed the Redis, the relay stopped
// publishing, but watchers went on receiving that database's events.
TEST_F(EventHubTest, ARedisAnotherDatabaseHoldsIsNotReadUntilTheClaimIsThisDatabasesAgain) {
  options_.installation = "this-database";
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::unique_ptr<Subscription>> live = hub->Subscribe(kKey, "");
  ASSERT_TRUE(live.ok()) << live.status();
  Publish("ours", 1);
  Taken taken = Take(**live, 1);
  ASSERT_EQ(taken.event_ids, Names("ours", 0, 1)) << taken.end;

  // Another database's server claims it (as after a FLUSHALL it won the race for).
  ASSERT_TRUE(Command({"SET", "plantmesh:installation", "another-database"}).ok());
  absl::Status ended = AwaitEnd(**live);
  ASSERT_EQ(ended.code(), absl::StatusCode::kUnavailable) << ended;
  EXPECT_EQ(ErrorInfoOf(ended).reason, "REDIS_HELD_BY_ANOTHER_DATABASE");
  EXPECT_EQ(ErrorInfoOf(ended).metadata["cursor"], taken.cursors.back());
  EXPECT_TRUE(absl::StrContains(ended.message(), "another-database")) << ended;
  EXPECT_FALSE(hub->connected(kKey));
  absl::StatusOr<std::unique_ptr<Subscription>> refused = hub->Subscribe(kKey, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_EQ(ErrorInfoOf(refused.status()).reason, "REDIS_HELD_BY_ANOTHER_DATABASE");

  // Claimed for this database again (the other server's operator fixed the mix-up).
  ASSERT_TRUE(Command({"SET", "plantmesh:installation", "this-database"}).ok());
  absl::StatusOr<std::unique_ptr<Subscription>> again;
  ASSERT_TRUE(testing::PollUntil(
      [&] {
        again = hub->Subscribe(kKey, "");
        return again.ok();
      },
      kWait))
      << again.status();
  Publish("ours-again", 1);
  EXPECT_EQ(Take(**again, 1).event_ids, Names("ours-again", 0, 1));
}

TEST_F(EventHubTest, CatchUpJoinsTheLiveFeedWithoutGapOrDuplicate) {
  options_.catch_up_page = 16;  // many pages while the writer goes on
  std::unique_ptr<EventHub> hub = StartHub();
  constexpr int kRounds = 100;
  constexpr int kPerRound = 10;
  std::atomic<bool> done{false};
  absl::Mutex mu;
  std::vector<std::string> cursors;  // of every event published so far, in order
  std::thread writer([&] {
    for (int round = 0; round < kRounds; ++round) {
      std::vector<std::string> ids = Publish(absl::StrCat("r", round), kPerRound);
      absl::MutexLock lock(&mu);
      cursors.insert(cursors.end(), ids.begin(), ids.end());
    }
    done = true;
  });
  // Subscribers from "0" and from cursors behind the live position, made while writing.
  struct Started {
    std::unique_ptr<Subscription> subscription;
    size_t first_expected;  // index into the full event list
  };
  std::vector<Started> started;
  while (!done.load() || started.size() < 3) {
    size_t known;
    std::string cursor;
    {
      absl::MutexLock lock(&mu);
      known = cursors.size();
      if (known > 0) cursor = cursors[known / 2];
    }
    if (known == 0) continue;
    absl::StatusOr<std::unique_ptr<Subscription>> from_zero = hub->Subscribe(kKey, "0");
    absl::StatusOr<std::unique_ptr<Subscription>> from_middle = hub->Subscribe(kKey, cursor);
    ASSERT_TRUE(from_zero.ok() && from_middle.ok());
    started.push_back({*std::move(from_zero), 0});
    started.push_back({*std::move(from_middle), known / 2 + 1});
    // The next pair starts once the writer published more, so the subscriptions are
    // spread over the writing.
    absl::MutexLock lock(&mu);
    auto more = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return cursors.size() > known || done.load();
    };
    mu.AwaitWithTimeout(absl::Condition(&more), kWait);
  }
  writer.join();
  std::vector<std::string> all;
  for (int round = 0; round < kRounds; ++round) {
    for (const std::string& name : Names(absl::StrCat("r", round), 0, kPerRound)) {
      all.push_back(name);
    }
  }
  for (Started& s : started) {
    std::vector<std::string> expected(all.begin() + static_cast<long>(s.first_expected), all.end());
    Taken taken = Take(*s.subscription, expected.size());
    ASSERT_EQ(taken.event_ids, expected) << "from event " << s.first_expected << ": " << taken.end;
  }
}

// The relay delivers at least once: a batch whose commit failed is sent again right
// after the first sending, with the same event ids.
TEST_F(EventHubTest, EventsTheRelaySendsAgainReachNoSubscriberTwice) {
  Publish("before", 3);
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::unique_ptr<Subscription>> live = hub->Subscribe(kKey, "");
  ASSERT_TRUE(live.ok()) << live.status();
  // A re-sent batch the hub read when it was first sent, and one sent before the hub
  // started (the reader learns the latest ids from Redis when it starts).
  Publish("e", 2);
  Publish("e", 2);
  Publish("before", 3);
  Publish("after", 1);
  EXPECT_EQ(Take(**live, 3).event_ids, (std::vector<std::string>{"e-0", "e-1", "after-0"}));

  // A subscriber catching up from the oldest event drops the repeats in its backlog.
  absl::StatusOr<std::unique_ptr<Subscription>> from_oldest = hub->Subscribe(kKey, "0");
  ASSERT_TRUE(from_oldest.ok()) << from_oldest.status();
  EXPECT_EQ(
      Take(**from_oldest, 6).event_ids,
      (std::vector<std::string>{"before-0", "before-1", "before-2", "e-0", "e-1", "after-0"}));
}

// A subscriber that takes one event at a time drops the repeats of its catch-up too,
// also when the whole catch-up came in one page, which it then takes after the catch-up
// is done (outside review: the repeats came through then).
TEST_F(EventHubTest, ASubscriberTakingOneEventAtATimeDropsTheRepeatsOfItsCatchUp) {
  options_.read_bytes = 64 << 20;  // one page for the catch-up below
  Publish("before", 3);
  Publish("e", 2);
  Publish("e", 2);
  Publish("before", 3);
  Publish("after", 1);
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::unique_ptr<Subscription>> one_at_a_time = hub->Subscribe(kKey, "0");
  ASSERT_TRUE(one_at_a_time.ok()) << one_at_a_time.status();
  EXPECT_EQ(
      Take(**one_at_a_time, 6, 1).event_ids,
      (std::vector<std::string>{"before-0", "before-1", "before-2", "e-0", "e-1", "after-0"}));
}

// A subscription that ended (refused, cancelled) is let go by its stream's reader even
// when no event comes (outside review: a client refused in a loop for a cursor from the
// future grew a quiet stream's hub by ~1 KB a call, the subscriber metric at 0).
TEST_F(EventHubTest, EndedSubscriptionsOfAQuietStreamAreLetGo) {
  Publish("e", 2);
  std::unique_ptr<EventHub> hub = StartHub();
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::unique_ptr<Subscription>> future = hub->Subscribe(kKey, "99999999999999-0");
    ASSERT_TRUE(future.ok()) << future.status();
    EXPECT_EQ(AwaitEnd(**future).code(), absl::StatusCode::kInvalidArgument);
    absl::StatusOr<std::unique_ptr<Subscription>> cancelled = hub->Subscribe(kKey, "");
    ASSERT_TRUE(cancelled.ok()) << cancelled.status();
    (*cancelled)->Cancel();
  }
  absl::StatusOr<std::unique_ptr<Subscription>> open = hub->Subscribe(kKey, "");
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_TRUE(ComesToHold(*hub, 1));
  EXPECT_EQ(hub->Stats().front().subscribers, 1);
}

// Outside testing (BI M2): a watch opened before the hub first reached Redis (a server
// started while Redis was frozen) was a plain UNAVAILABLE without a retry delay, and
// screens reconnecting after the restart tried again at once, dozens of times.
TEST_F(EventHubTest, AWatchBeforeRedisWasFirstReachedIsADependencyOutOfReachWithItsRetryDelay) {
  redis_server_->Stop();
  EventHub hub(options_, std::vector<std::string>{kKey});
  hub.Start();
  for (const absl::Status& refused :
       {hub.Subscribe(kKey, "").status(), hub.CurrentCursor(kKey).status()}) {
    EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
    EXPECT_EQ(ErrorInfoOf(refused).reason, "DEPENDENCY_UNAVAILABLE") << refused;
    EXPECT_EQ(ErrorInfoOf(refused).metadata["dependency"], "Redis");
    EXPECT_EQ(RetryDelayOf(refused), kRetryAfterOutage);
    // What the client is told (ForClient): which dependency, and to list again.
    std::string error_id;
    const absl::Status told = ForClient(refused, &error_id);
    EXPECT_TRUE(absl::StrContains(told.message(),
                                  "the server's Redis is not reached yet; retry later (a watch "
                                  "or tail resumes from its last cursor; a list's watch_cursor "
                                  "is empty until then)"))
        << told;
    EXPECT_EQ(RetryDelayOf(told), kRetryAfterOutage);
  }
}

// Outside review: while Redis was down nothing swept them, so clients that watched again
// and again during an outage grew the hub until Redis came back.
TEST_F(EventHubTest, EndedSubscriptionsAreLetGoWhileRedisIsDown) {
  std::unique_ptr<EventHub> hub = StartHub();
  redis_server_->Stop();
  ASSERT_TRUE(
      testing::PollUntil([&] { return !hub->connected(kKey); }, kWait, absl::Milliseconds(20)));
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::unique_ptr<Subscription>> cancelled = hub->Subscribe(kKey, "");
    ASSERT_TRUE(cancelled.ok()) << cancelled.status();
    (*cancelled)->Cancel();
  }
  absl::StatusOr<std::unique_ptr<Subscription>> open = hub->Subscribe(kKey, "");
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_TRUE(ComesToHold(*hub, 1));
  EXPECT_FALSE(hub->connected(kKey));
}

// Outside testing: a telemetry restart read its stream's last 4,096 entries of ~1 MiB in
// one XREVRANGE (5 GB of memory; Redis stalled for every service). Large entries are read
// in pages of about read_bytes: the ids the reader learns at start, its live reads and a
// subscriber's catch-up; a re-sent event beyond the first page is still recognised.
TEST_F(EventHubTest, LargeEventsAreReadInPagesOfAboutReadBytes) {
  options_.read_bytes = 1 << 20;
  RedisClient redis(options_.redis);
  constexpr size_t kLarge = 200 << 10;
  Publish("before", 40, kLarge);
  const int64_t reads_before = testing::CallsOf(redis, "xrevrange");
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::unique_ptr<Subscription>> live = hub->Subscribe(kKey, "");
  ASSERT_TRUE(live.ok()) << live.status();
  // 40 entries of 200 KiB, about 1 MiB a page (the reader reads them after connecting).
  EXPECT_TRUE(testing::PollUntil(
      [&] { return testing::CallsOf(redis, "xrevrange") - reads_before >= 8; }, kWait));
  Publish("before", 1, kLarge);  // the oldest, sent again
  Publish("live", 30, kLarge);   // more than one read holds
  EXPECT_EQ(Take(**live, 30).event_ids, Names("live", 0, 30));

  absl::StatusOr<std::unique_ptr<Subscription>> from_oldest = hub->Subscribe(kKey, "0");
  ASSERT_TRUE(from_oldest.ok()) << from_oldest.status();
  std::vector<std::string> expected = Names("before", 0, 40);
  for (const std::string& name : Names("live", 0, 30)) expected.push_back(name);
  EXPECT_EQ(Take(**from_oldest, expected.size()).event_ids, expected);
}

TEST(StreamEventTest, DecodesThePayloadOnceForEveryReader) {
  google::protobuf::StringValue value;
  value.set_value("zone PAINT");
  StreamEvent event;
  event.payload = value.SerializeAsString();
  const google::protobuf::StringValue* first = event.Decoded<google::protobuf::StringValue>();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->value(), "zone PAINT");
  EXPECT_EQ(event.Decoded<google::protobuf::StringValue>(), first);  // the same message
  // The readers of one stream agree on its type: another type is not handed out.
  EXPECT_EQ(event.Decoded<google::protobuf::Int64Value>(), nullptr);

  StreamEvent broken;
  broken.payload = "\xff\xff";
  EXPECT_EQ(broken.Decoded<google::protobuf::StringValue>(), nullptr);
}

TEST_F(EventHubTest, ASlowSubscriberIsEndedResumablyWithoutSlowingTheOthers) {
  options_.queue_capacity = 8;
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::unique_ptr<Subscription>> slow = hub->Subscribe(kKey, "");
  absl::StatusOr<std::unique_ptr<Subscription>> fast = hub->Subscribe(kKey, "");
  ASSERT_TRUE(slow.ok() && fast.ok());
  // The fast one keeps up: each event is published once it took the one before (a
  // reader thread racing the writer could itself fall 8 behind on a busy machine).
  Taken fast_taken;
  for (int i = 0; i < 50 && !fast_taken.ended; ++i) {
    Publish(absl::StrCat("e", i), 1);
    Taken one = Take(**fast, 1);
    fast_taken.event_ids.insert(fast_taken.event_ids.end(), one.event_ids.begin(),
                                one.event_ids.end());
    fast_taken.end = one.end;
    fast_taken.ended = one.ended;
  }
  std::vector<std::string> expected;
  for (int i = 0; i < 50; ++i) expected.push_back(absl::StrCat("e", i, "-0"));
  EXPECT_EQ(fast_taken.event_ids, expected) << fast_taken.end;

  // The slow one gets what fitted in its queue, then UNAVAILABLE with where to resume.
  Taken slow_taken = Take(**slow, 1000);
  ASSERT_TRUE(slow_taken.ended);
  EXPECT_EQ(slow_taken.end.code(), absl::StatusCode::kUnavailable) << slow_taken.end;
  ErrorInfoView info = ErrorInfoOf(slow_taken.end);
  EXPECT_EQ(info.reason, "WATCH_TOO_SLOW");
  ASSERT_EQ(slow_taken.event_ids.size(), 8u);
  EXPECT_EQ(info.metadata["cursor"], slow_taken.cursors.back());
  absl::StatusOr<std::unique_ptr<Subscription>> resumed =
      hub->Subscribe(kKey, info.metadata["cursor"]);
  ASSERT_TRUE(resumed.ok());
  Taken rest = Take(**resumed, 42);
  slow_taken.event_ids.insert(slow_taken.event_ids.end(), rest.event_ids.begin(),
                              rest.event_ids.end());
  EXPECT_EQ(slow_taken.event_ids, expected);
}

// A slow subscriber keeps the events it has not taken alive: its queue is bounded in
// bytes as well (a telemetry event holds up to ~1 MiB).
TEST_F(EventHubTest, ASlowSubscribersQueueIsBoundedInBytesToo) {
  options_.queue_bytes = 800 << 10;
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::unique_ptr<Subscription>> slow = hub->Subscribe(kKey, "");
  absl::StatusOr<std::unique_ptr<Subscription>> fast = hub->Subscribe(kKey, "");
  ASSERT_TRUE(slow.ok() && fast.ok());
  for (int i = 0; i < 20; ++i) {
    Publish(absl::StrCat("e", i), 1, 100 << 10);
    ASSERT_EQ(Take(**fast, 1).event_ids, std::vector<std::string>{absl::StrCat("e", i, "-0")});
  }
  Taken slow_taken = Take(**slow, 1000);
  ASSERT_TRUE(slow_taken.ended);
  EXPECT_EQ(ErrorInfoOf(slow_taken.end).reason, "WATCH_TOO_SLOW") << slow_taken.end;
  EXPECT_EQ(slow_taken.event_ids.size(), 7u);  // 7 × (100 KiB + its name) fit in 800 KiB
}

TEST_F(EventHubTest, PollTakesTheFirstEventThenOnlyWhatFitsThePayloadBudget) {
  std::unique_ptr<EventHub> hub = StartHub();
  Publish("p", 5);  // payloads "payload p-<i>", 11 bytes each
  // From "0": the five come in one catch-up page.
  absl::StatusOr<std::unique_ptr<Subscription>> sub = hub->Subscribe(kKey, "0");
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_TRUE((*sub)->WaitUntil(absl::Now() + kWait));
  std::vector<std::shared_ptr<const StreamEvent>> batch;
  ASSERT_TRUE((*sub)->Poll(&batch, 10, 5).ok());  // the first, though larger than 5
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0]->event_id, "p-0");
  std::vector<std::string> rest;
  for (int poll = 0; poll < 2; ++poll) {
    batch.clear();
    ASSERT_TRUE((*sub)->Poll(&batch, 10, 25).ok());
    EXPECT_EQ(batch.size(), 2u);  // 22 bytes of 25; a third would make 33
    for (const auto& event : batch) rest.push_back(event->event_id);
  }
  EXPECT_EQ(rest, Names("p", 1, 5));
  EXPECT_EQ((*sub)->cursor(), batch.back()->cursor);
}

TEST_F(EventHubTest, NotifiesWhenEventsOrTheEndArrive) {
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::unique_ptr<Subscription>> sub = hub->Subscribe(kKey, "");
  ASSERT_TRUE(sub.ok());
  absl::Mutex mu;
  int notified = 0;
  (*sub)->SetNotify([&] {
    absl::MutexLock lock(&mu);
    ++notified;
  });
  auto await_notified = [&](int n) {
    absl::MutexLock lock(&mu);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return notified >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&reached), kWait);
  };
  Publish("a", 1);
  ASSERT_TRUE(await_notified(1));
  std::vector<std::shared_ptr<const StreamEvent>> batch;
  EXPECT_TRUE((*sub)->Poll(&batch, 10).ok());
  ASSERT_EQ(batch.size(), 1u);
  batch.clear();
  EXPECT_TRUE((*sub)->Poll(&batch, 10).ok());  // nothing more: arms the notification
  EXPECT_TRUE(batch.empty());
  Publish("b", 1);
  ASSERT_TRUE(await_notified(2));
  hub->Stop();  // ends it: notified again once the event is taken
  batch.clear();
  EXPECT_TRUE((*sub)->Poll(&batch, 10).ok());
  EXPECT_EQ(batch.size(), 1u);
  batch.clear();
  absl::Status end = (*sub)->Poll(&batch, 10);
  EXPECT_EQ(end.code(), absl::StatusCode::kUnavailable) << end;
  EXPECT_EQ(ErrorInfoOf(end).metadata["cursor"], (*sub)->cursor());
}

TEST_F(EventHubTest, SubscribersStayWhenTheConnectionBreaksAndGetWhatFollows) {
  std::unique_ptr<EventHub> hub = StartHub();
  Publish("before", 2);
  absl::StatusOr<std::unique_ptr<Subscription>> sub = hub->Subscribe(kKey, "0");
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(Take(**sub, 2).event_ids, Names("before", 0, 2));
  // Redis drops every connection (as a failover or a network cut does) but keeps its
  // data: the hub reconnects in the same generation and the subscription goes on.
  ASSERT_TRUE(Command({"CLIENT", "KILL", "TYPE", "normal"}).ok());
  Publish("after", 3);
  Taken taken = Take(**sub, 3);
  EXPECT_FALSE(taken.ended) << taken.end;
  EXPECT_EQ(taken.event_ids, Names("after", 0, 3));
}

TEST_F(EventHubTest, AHubBehindTheTrimmingEndsItsSubscribersInsteadOfSkipping) {
  std::unique_ptr<EventHub> hub = StartHub();
  absl::StatusOr<std::unique_ptr<Subscription>> live = hub->Subscribe(kKey, "");
  ASSERT_TRUE(live.ok());
  // Ten events and a trim to one, atomically: the hub can only ever see the last.
  std::vector<std::vector<std::string>> commands = {{"MULTI"}};
  for (int i = 0; i < 10; ++i) {
    commands.push_back({"XADD", kKey, "*", "event_id", absl::StrCat("e-", i), "payload", "x"});
  }
  commands.push_back({"XTRIM", kKey, "MAXLEN", "1"});
  commands.push_back({"EXEC"});
  RedisClient redis(options_.redis);
  ASSERT_TRUE(redis.Pipeline(commands).ok());
  absl::Status end = AwaitEnd(**live);
  EXPECT_EQ(end.code(), absl::StatusCode::kFailedPrecondition) << end;
  EXPECT_EQ(ErrorInfoOf(end).reason, "CURSOR_EXPIRED");
}

}  // namespace
}  // namespace plantmesh::runtime
