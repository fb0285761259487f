#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/redis_client.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::RedisServer;
using ::plantmesh::testing::SharedRedis;

RedisOptions OptionsFor(int port) {
  RedisOptions options;
  options.port = port;
  options.command_timeout = absl::Seconds(2);
  return options;
}

// Appends `n` events to `key` and returns their ids.
std::vector<std::string> AddEvents(RedisClient& redis, const std::string& key, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<RedisReply> id =
        redis.Command({"XADD", key, "*", "event_id", absl::StrCat("event-", i), "payload",
                       std::string("bin\0ary-", 8) + std::to_string(i)});
    EXPECT_TRUE(id.ok()) << id.status();
    ids.push_back(id.ok() ? id->str : "");
  }
  return ids;
}

TEST(EventStreamReaderTest, ResolvesCursors) {
  RedisClient redis(OptionsFor(SharedRedis().port()));
  const std::string key = "test:resolve";
  EventStreamReader reader(OptionsFor(SharedRedis().port()), key);

  // A stream that does not exist yet: new events start after 0-0.
  absl::StatusOr<std::string> fresh = reader.Resolve("");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(*fresh, "0-0");

  std::vector<std::string> ids = AddEvents(redis, key, 3);
  EXPECT_EQ(reader.Resolve("").value_or(""), ids.back());
  EXPECT_EQ(reader.Resolve("0").value_or(""), "0-0");
  EXPECT_EQ(reader.Resolve(ids[1]).value_or(""), ids[1]);
  for (const char* bad : {"yesterday", "12-", "-3", "1-2-3", "+1-0", "99999999999999999999-0"}) {
    EXPECT_EQ(reader.Resolve(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(EventStreamReaderTest, ReadsAfterACursorAndTimesOutEmpty) {
  RedisClient redis(OptionsFor(SharedRedis().port()));
  const std::string key = "test:read";
  std::vector<std::string> ids = AddEvents(redis, key, 5);
  EventStreamReader reader(OptionsFor(SharedRedis().port()), key);

  absl::StatusOr<std::vector<StreamEntry>> all = reader.ReadAfter("0-0", absl::Seconds(1), 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*all)[i].cursor, ids[i]);
    EXPECT_EQ((*all)[i].event_id, absl::StrCat("event-", i));
    EXPECT_EQ((*all)[i].payload, std::string("bin\0ary-", 8) + std::to_string(i));
  }

  absl::StatusOr<std::vector<StreamEntry>> rest = reader.ReadAfter(ids[2], absl::Seconds(1), 1);
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_EQ(rest->size(), 1u);  // max_count
  EXPECT_EQ((*rest)[0].cursor, ids[3]);

  absl::StatusOr<std::vector<StreamEntry>> none =
      reader.ReadAfter(ids.back(), absl::Milliseconds(50), 10);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TEST(EventStreamReaderTest, RefusesTrimmedCursorsWithTheOldestUsableOne) {
  RedisClient redis(OptionsFor(SharedRedis().port()));
  const std::string key = "test:trimmed";
  std::vector<std::string> ids = AddEvents(redis, key, 10);
  EventStreamReader reader(OptionsFor(SharedRedis().port()), key);

  // A watcher that saw ids[1], and one that is still current.
  absl::StatusOr<std::string> lagging = reader.Resolve(ids[1]);
  ASSERT_TRUE(lagging.ok()) << lagging.status();
  ASSERT_TRUE(redis.Command({"XTRIM", key, "MAXLEN", "3"}).ok());  // keeps ids[7..9]

  absl::StatusOr<std::string> refused = reader.Resolve(ids[1]);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_TRUE(refused.status().GetPayload(std::string(kPreconditionFailureTypeUrl)).has_value());
  ErrorInfoView info = ErrorInfoOf(refused.status());
  EXPECT_EQ(info.reason, "CURSOR_EXPIRED");
  const std::string oldest = info.metadata["oldest_cursor"];
  ASSERT_FALSE(oldest.empty());
  EXPECT_NE(refused.status().message().find(oldest), absl::string_view::npos);

  // The lagging watcher's next read is refused too: no silent gap.
  EXPECT_EQ(reader.ReadAfter(*lagging, absl::Milliseconds(50), 100).status().code(),
            absl::StatusCode::kFailedPrecondition);

  // Resuming from oldest_cursor yields exactly what is retained.
  ASSERT_TRUE(reader.Resolve(oldest).ok());
  absl::StatusOr<std::vector<StreamEntry>> retained =
      reader.ReadAfter(oldest, absl::Seconds(1), 100);
  ASSERT_TRUE(retained.ok()) << retained.status();
  ASSERT_EQ(retained->size(), 3u);
  EXPECT_EQ((*retained)[0].cursor, ids[7]);

  // Cursors inside the retained range, and "0", still work.
  EXPECT_TRUE(reader.Resolve(ids[8]).ok());
  EXPECT_TRUE(reader.Resolve("0").ok());
  absl::StatusOr<std::vector<StreamEntry>> from_start =
      reader.ReadAfter("0-0", absl::Seconds(1), 100);
  ASSERT_TRUE(from_start.ok()) << from_start.status();
  EXPECT_EQ(from_start->size(), 3u);
}

TEST(EventStreamReaderTest, UnavailableWhileRedisIsDownThenRecovers) {
  absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  EventStreamReader reader(OptionsFor((*server)->port()), "test:down");
  ASSERT_TRUE(reader.Resolve("").ok());

  (*server)->Stop();
  EXPECT_EQ(reader.Resolve("").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(reader.ReadAfter("0-0", absl::Milliseconds(10), 1).status().code(),
            absl::StatusCode::kUnavailable);

  ASSERT_TRUE((*server)->Restart().ok());
  absl::StatusOr<std::string> again = reader.Resolve("");
  EXPECT_TRUE(again.ok()) << again.status();
}

}  // namespace
}  // namespace plantmesh::runtime
