// A synchronous Redis connection (hiredis 0.14) for the outbox relay and stream readers:
// connect and command timeouts, reconnect after any error, pipelining, and the few
// typed stream commands the runtime needs. Replies are copied out of hiredis into plain
// values, so no hiredis header leaks to callers. Not thread-safe: one per thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/runtime/event_stream.h"

struct redisContext;

namespace plantmesh::runtime {

// One RESP2 reply. A top-level error reply is a status, never a RedisReply; an error
// inside an array (EXEC's replies) is an element of type kError.
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;  // kString (binary-safe), kStatus and kError
  long long integer = 0;
  std::vector<RedisReply> elements;  // kArray
};

// A stream entry id `<ms>-<seq>`, ordered as Redis orders them.
struct StreamId {
  uint64_t ms = 0;
  uint64_t seq = 0;

  // Parses "<ms>-<seq>"; false for anything else.
  static bool Parse(absl::string_view text, StreamId* id);
  // The greatest id smaller than this one (0-0 stays 0-0).
  StreamId Predecessor() const;
  std::string ToString() const;
  friend bool operator<(const StreamId& a, const StreamId& b) {
    return a.ms != b.ms ? a.ms < b.ms : a.seq < b.seq;
  }
  friend bool operator==(const StreamId& a, const StreamId& b) {
    return a.ms == b.ms && a.seq == b.seq;
  }
};

// What XINFO STREAM reports (Redis 7.0 fields); exists=false when the key is missing.
struct StreamInfo {
  bool exists = false;
  int64_t length = 0;
  int64_t entries_added = 0;
  StreamId last_generated_id;
  StreamId max_deleted_entry_id;
  StreamId recorded_first_entry_id;
};

// An entry of XREAD, with its field/value pairs in order.
struct RawStreamEntry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
};

// The entries of an XREAD reply ([[key, [[id, [field, value, ...]], ...]]], or nil) or
// of an XRANGE reply ([[id, [field, value, ...]], ...]). INTERNAL for any other shape.
absl::StatusOr<std::vector<RawStreamEntry>> ParseXReadReply(const RedisReply& reply);
absl::StatusOr<std::vector<RawStreamEntry>> ParseXRangeReply(const RedisReply& reply);
// XINFO STREAM's reply; a missing key is exists=false (pass the error status).
absl::StatusOr<StreamInfo> ParseXInfoStreamReply(const absl::StatusOr<RedisReply>& reply);

// Whether `status` says Redis refused this client's credentials (AUTH refused, or a
// password Redis wants was not given): a configuration fault that retrying does not mend.
bool IsRedisAuthRefused(const absl::Status& status);

class RedisClient {
 public:
  explicit RedisClient(RedisOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Sends one command (binary-safe arguments) and returns its reply. Connects (and
  // authenticates) first when not connected. UNAVAILABLE when Redis cannot be reached,
  // refused AUTH, wants a password it was not given, or the command timed out (the
  // connection is then dropped and reopened on the next call); INTERNAL carrying
  // Redis's message for any other error reply.
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& argv);

  // Sends all commands in one write and reads every reply. Fails as a whole if the
  // connection fails or any reply is an error (all replies are still read first).
  // `server_wait` is how long one of the commands may legitimately block in Redis
  // (XREAD BLOCK): the socket waits that much longer than the command timeout.
  absl::StatusOr<std::vector<RedisReply>> Pipeline(
      const std::vector<std::vector<std::string>>& commands,
      absl::Duration server_wait = absl::ZeroDuration());
  // The same, with each reply or error reply on its own; only a connection failure
  // fails the whole.
  absl::StatusOr<std::vector<absl::StatusOr<RedisReply>>> PipelineEach(
      const std::vector<std::vector<std::string>>& commands,
      absl::Duration server_wait = absl::ZeroDuration());

  // XINFO STREAM key.
  absl::StatusOr<StreamInfo> XInfoStream(const std::string& key);

  // XREAD COUNT count [BLOCK block] STREAMS key after; empty on timeout. A zero
  // `block` returns at once.
  absl::StatusOr<std::vector<RawStreamEntry>> XRead(const std::string& key,
                                                    const std::string& after, int count,
                                                    absl::Duration block);

  bool connected() const { return context_ != nullptr; }
  void Disconnect();

 private:
  // Connects, sets the command timeout and authenticates (options_.password).
  absl::Status EnsureConnected();
  absl::Status Authenticate();
  // One command on the open connection (Command without connecting first).
  absl::StatusOr<RedisReply> Send(const std::vector<std::string>& args);
  absl::Status SetSocketTimeout(absl::Duration timeout);
  // Marks the connection dead and returns UNAVAILABLE naming what failed.
  absl::Status ConnectionError(absl::string_view what);

  RedisOptions options_;
  redisContext* context_ = nullptr;
};

}  // namespace plantmesh::runtime
