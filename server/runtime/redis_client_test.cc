#include "server/runtime/redis_client.h"

#include <limits>

#include "gtest/gtest.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::plantmesh::testing::FreePort;
using ::plantmesh::testing::RedisServer;
using ::plantmesh::testing::SharedRedis;

RedisOptions OptionsFor(int port) {
  RedisOptions options;
  options.port = port;
  return options;
}

TEST(StreamIdTest, ParsesOrdersAndSteps) {
  StreamId id;
  ASSERT_TRUE(StreamId::Parse("1732212345678-7", &id));
  EXPECT_EQ(id.ms, 1732212345678u);
  EXPECT_EQ(id.seq, 7u);
  EXPECT_EQ(id.ToString(), "1732212345678-7");
  for (const char* bad :
       {"", "1", "1-", "-1", "a-1", "1-b", " 1-1", "1-1 ", "+1-1", "18446744073709551616-0"}) {
    EXPECT_FALSE(StreamId::Parse(bad, &id)) << bad;
  }
  EXPECT_TRUE((StreamId{1, 9} < StreamId{2, 0}));
  EXPECT_TRUE((StreamId{2, 0} < StreamId{2, 1}));
  EXPECT_EQ((StreamId{5, 3}.Predecessor()), (StreamId{5, 2}));
  EXPECT_EQ((StreamId{5, 0}.Predecessor()), (StreamId{4, std::numeric_limits<uint64_t>::max()}));
  EXPECT_EQ((StreamId{0, 0}.Predecessor()), (StreamId{0, 0}));
}

TEST(RedisClientTest, CommandsArePipelinedAndBinarySafe) {
  RedisClient redis(OptionsFor(SharedRedis().port()));
  const std::string value("a\0b\r\nc", 6);
  absl::StatusOr<std::vector<RedisReply>> replies =
      redis.Pipeline({{"SET", "client:k", value}, {"GET", "client:k"}, {"GET", "client:none"}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->size(), 3u);
  EXPECT_EQ((*replies)[0].type, RedisReply::Type::kStatus);
  EXPECT_EQ((*replies)[1].str, value);
  EXPECT_EQ((*replies)[2].type, RedisReply::Type::kNil);

  // An error reply fails the call but leaves the connection usable.
  absl::StatusOr<RedisReply> wrong = redis.Command({"XADD", "client:k", "*", "f", "v"});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(wrong.status().message().find("WRONGTYPE"), absl::string_view::npos);
  EXPECT_TRUE(redis.connected());
  EXPECT_EQ(redis.Command({"PING"})->str, "PONG");
}

TEST(RedisClientTest, StreamInfoAndNonBlockingRead) {
  RedisClient redis(OptionsFor(SharedRedis().port()));
  absl::StatusOr<StreamInfo> missing = redis.XInfoStream("client:stream");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(missing->exists);
  absl::StatusOr<std::vector<RawStreamEntry>> empty =
      redis.XRead("client:stream", "0-0", 10, absl::ZeroDuration());
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());

  ASSERT_TRUE(redis.Command({"XADD", "client:stream", "5-1", "f", "v"}).ok());
  ASSERT_TRUE(redis.Command({"XADD", "client:stream", "6-1", "f", "w"}).ok());
  absl::StatusOr<StreamInfo> info = redis.XInfoStream("client:stream");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->exists);
  EXPECT_EQ(info->length, 2);
  EXPECT_EQ(info->entries_added, 2);
  EXPECT_EQ(info->last_generated_id, (StreamId{6, 1}));
  EXPECT_EQ(info->recorded_first_entry_id, (StreamId{5, 1}));

  absl::StatusOr<std::vector<RawStreamEntry>> after =
      redis.XRead("client:stream", "5-1", 10, absl::ZeroDuration());
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].id, "6-1");
  EXPECT_EQ((*after)[0].fields.at(0), (std::pair<std::string, std::string>{"f", "w"}));
}

TEST(RedisClientTest, UnavailableWhenDownAndReconnectsAfterRestart) {
  RedisClient nowhere(OptionsFor(FreePort()));
  EXPECT_EQ(nowhere.Command({"PING"}).status().code(), absl::StatusCode::kUnavailable);

  absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  RedisClient redis(OptionsFor((*server)->port()));
  ASSERT_TRUE(redis.Command({"PING"}).ok());
  (*server)->Stop();
  absl::StatusOr<RedisReply> down = redis.Command({"PING"});
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_FALSE(redis.connected());
  ASSERT_TRUE((*server)->Restart().ok());
  absl::StatusOr<RedisReply> back = redis.Command({"PING"});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->str, "PONG");
}

// A Redis that wants a password: the client authenticates on every new connection (as
// the default user or an ACL user), and one without the password, or with a wrong one,
// fails UNAVAILABLE saying which setting to give, never showing the password.
TEST(RedisClientTest, AuthenticatesOnEveryConnectionAndSaysWhatToSetWhenRefused) {
  absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start("s3cret pass");
  ASSERT_TRUE(server.ok()) << server.status();
  RedisOptions options = OptionsFor((*server)->port());

  RedisClient anonymous(options);
  absl::StatusOr<RedisReply> noauth = anonymous.Command({"PING"});
  EXPECT_EQ(noauth.status().code(), absl::StatusCode::kUnavailable) << noauth.status();
  EXPECT_NE(noauth.status().message().find("redis-password-file"), std::string::npos)
      << noauth.status();

  options.password = "wrong";
  RedisClient wrong(options);
  absl::StatusOr<RedisReply> refused = wrong.Command({"PING"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_NE(refused.status().message().find("AUTH refused (redis-user, redis-password-file)"),
            std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("WRONGPASS"), std::string::npos) << refused.status();
  EXPECT_EQ(refused.status().message().find("wrong"), std::string::npos) << refused.status();
  EXPECT_FALSE(wrong.connected());

  options.password = "s3cret pass";
  RedisClient redis(options);
  absl::StatusOr<RedisReply> pong = redis.Command({"PING"});
  ASSERT_TRUE(pong.ok()) << pong.status();
  // An ACL user of its own (Redis 6+), as a plant's Redis is shared with others.
  ASSERT_TRUE(redis
                  .Command({"ACL", "SETUSER", "plantmesh", "on", ">user pass", "~plantmesh:*", "&*",
                            "+@all"})
                  .ok());
  RedisOptions as_user = OptionsFor((*server)->port());
  as_user.user = "plantmesh";
  as_user.password = "user pass";
  RedisClient user(as_user);
  ASSERT_TRUE(user.Command({"SET", "plantmesh:k", "v"}).ok());
  EXPECT_EQ(user.Command({"SET", "other:k", "v"}).status().code(), absl::StatusCode::kInternal);
  as_user.password = "s3cret pass";
  absl::StatusOr<RedisReply> not_theirs = RedisClient(as_user).Command({"PING"});
  EXPECT_NE(not_theirs.status().message().find("AUTH as user 'plantmesh' refused"),
            std::string::npos)
      << not_theirs.status();

  // Authenticated again after Redis restarted (a new connection).
  (*server)->Stop();
  EXPECT_EQ(redis.Command({"PING"}).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE((*server)->Restart().ok());
  absl::StatusOr<RedisReply> back = redis.Command({"PING"});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->str, "PONG");
  ASSERT_TRUE((*server)->Flush().ok());  // the test helpers authenticate too
}

}  // namespace
}  // namespace plantmesh::runtime
