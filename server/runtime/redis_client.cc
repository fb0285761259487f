#include "server/runtime/redis_client.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <string_view>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {
namespace {

// hiredis writes with plain write(): a peer that went away would raise SIGPIPE and
// kill the process. A server must survive Redis restarts, so ignore SIGPIPE unless
// the program installed its own handler.
void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      signal(SIGPIPE, SIG_IGN);
    }
  });
}

timeval ClampedTimeval(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return absl::ToTimeval(d);
}

RedisReply Convert(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(Convert(*r.element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
      break;
  }
  return out;
}

constexpr char kAuthRefusedPayload[] = "type.plantmesh.local/redis.AuthRefused";

absl::Status AuthRefused(std::string_view detail) {
  absl::Status status = DependencyUnavailable("Redis", detail);
  status.SetPayload(kAuthRefusedPayload, absl::Cord());
  return status;
}

// Takes ownership of `raw`; an error reply becomes INTERNAL with Redis's message, or
// UNAVAILABLE saying what to set when Redis wants a password it was not given (every
// command then fails alike: a configuration fault, not one command's).
absl::StatusOr<RedisReply> TakeReply(void* raw) {
  auto* reply = static_cast<redisReply*>(raw);
  absl::StatusOr<RedisReply> result;
  if (reply->type == REDIS_REPLY_ERROR) {
    const absl::string_view message(reply->str, reply->len);
    if (absl::StartsWith(message, "NOAUTH")) {
      result =
          AuthRefused(absl::StrCat("redis: ", message,
                                   " (give its password with redis-password-file, and redis-user "
                                   "for an ACL user)"));
    } else {
      result = absl::InternalError(absl::StrCat("redis: ", message));
    }
  } else {
    result = Convert(*reply);
  }
  freeReplyObject(reply);
  return result;
}

void ToArgv(const std::vector<std::string>& args, std::vector<const char*>* argv,
            std::vector<size_t>* lens) {
  argv->clear();
  lens->clear();
  for (const std::string& a : args) {
    argv->push_back(a.data());
    lens->push_back(a.size());
  }
}

}  // namespace

bool IsRedisAuthRefused(const absl::Status& status) {
  return status.GetPayload(kAuthRefusedPayload).has_value();
}

bool StreamId::Parse(absl::string_view text, StreamId* id) {
  size_t dash = text.find('-');
  if (dash == absl::string_view::npos) return false;
  absl::string_view ms = text.substr(0, dash);
  absl::string_view seq = text.substr(dash + 1);
  // SimpleAtoi accepts a sign and whitespace; a cursor is digits only.
  auto digits = [](absl::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  };
  if (!digits(ms) || !digits(seq)) return false;
  return absl::SimpleAtoi(ms, &id->ms) && absl::SimpleAtoi(seq, &id->seq);
}

StreamId StreamId::Predecessor() const {
  if (seq > 0) return {ms, seq - 1};
  if (ms > 0) return {ms - 1, std::numeric_limits<uint64_t>::max()};
  return {0, 0};
}

std::string StreamId::ToString() const { return absl::StrCat(ms, "-", seq); }

RedisClient::RedisClient(RedisOptions options) : options_(std::move(options)) {
  IgnoreSigpipeOnce();
}

RedisClient::~RedisClient() { Disconnect(); }

void RedisClient::Disconnect() {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
}

absl::Status RedisClient::ConnectionError(absl::string_view what) {
  std::string reason = context_ != nullptr && context_->err != 0 ? context_->errstr : "no reply";
  Disconnect();
  return DependencyUnavailable("Redis", absl::StrCat("redis at ", options_.host, ":", options_.port,
                                                     ": ", what, ": ", reason));
}

absl::Status RedisClient::EnsureConnected() {
  if (context_ != nullptr) return absl::OkStatus();
  context_ = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                     ClampedTimeval(options_.connect_timeout));
  if (context_ == nullptr) {
    return DependencyUnavailable("Redis",
                                 absl::StrCat("redis at ", options_.host, ":", options_.port,
                                              ": cannot allocate a connection"));
  }
  if (context_->err != 0) return ConnectionError("connect failed");
  if (redisEnableKeepAlive(context_) != REDIS_OK) return ConnectionError("keepalive");
  if (absl::Status timeout = SetSocketTimeout(options_.command_timeout); !timeout.ok()) {
    return timeout;
  }
  return Authenticate();
}

absl::Status RedisClient::Authenticate() {
  if (options_.password.empty()) return absl::OkStatus();
  std::vector<std::string> auth = {"AUTH"};
  if (!options_.user.empty()) auth.push_back(options_.user);
  auth.push_back(options_.password);
  absl::StatusOr<RedisReply> reply = Send(auth);
  if (reply.ok()) return absl::OkStatus();
  if (!connected()) return reply.status();  // the connection failed, not the credentials
  // Redis's own words (WRONGPASS ..., or "AUTH <password> called without any password
  // configured"), never the password; the connection is not used unauthenticated.
  Disconnect();
  return AuthRefused(
      absl::StrCat("redis at ", options_.host, ":", options_.port, ": AUTH",
                   options_.user.empty() ? "" : absl::StrCat(" as user '", options_.user, "'"),
                   " refused (redis-user, redis-password-file): ",
                   absl::StripPrefix(reply.status().message(), "redis: ")));
}

absl::Status RedisClient::SetSocketTimeout(absl::Duration timeout) {
  if (redisSetTimeout(context_, ClampedTimeval(timeout)) != REDIS_OK) {
    return ConnectionError("setting the command timeout");
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisReply> RedisClient::Command(const std::vector<std::string>& args) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  return Send(args);
}

absl::StatusOr<RedisReply> RedisClient::Send(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  ToArgv(args, &argv, &lens);
  void* raw = redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lens.data());
  if (raw == nullptr) return ConnectionError(args.empty() ? "command" : args[0]);
  return TakeReply(raw);
}

absl::StatusOr<std::vector<RedisReply>> RedisClient::Pipeline(
    const std::vector<std::vector<std::string>>& commands, absl::Duration server_wait) {
  absl::StatusOr<std::vector<absl::StatusOr<RedisReply>>> each =
      PipelineEach(commands, server_wait);
  if (!each.ok()) return each.status();
  std::vector<RedisReply> replies;
  replies.reserve(each->size());
  for (absl::StatusOr<RedisReply>& reply : *each) {
    if (!reply.ok()) return reply.status();
    replies.push_back(*std::move(reply));
  }
  return replies;
}

absl::StatusOr<std::vector<absl::StatusOr<RedisReply>>> RedisClient::PipelineEach(
    const std::vector<std::vector<std::string>>& commands, absl::Duration server_wait) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  const bool longer = server_wait > absl::ZeroDuration();
  if (longer) {
    if (absl::Status s = SetSocketTimeout(server_wait + options_.command_timeout); !s.ok()) {
      return s;
    }
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& args : commands) {
    ToArgv(args, &argv, &lens);
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      return ConnectionError("pipelining");
    }
  }
  std::vector<absl::StatusOr<RedisReply>> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      return ConnectionError("reading pipelined replies");
    }
    replies.push_back(TakeReply(raw));
  }
  if (longer) {
    if (absl::Status s = SetSocketTimeout(options_.command_timeout); !s.ok()) return s;
  }
  return replies;
}

absl::StatusOr<StreamInfo> RedisClient::XInfoStream(const std::string& key) {
  absl::StatusOr<RedisReply> reply = Command({"XINFO", "STREAM", key});
  // A missing key is an error reply on a healthy connection.
  if (!reply.ok() && !connected()) return reply.status();
  return ParseXInfoStreamReply(reply);
}

absl::StatusOr<StreamInfo> ParseXInfoStreamReply(const absl::StatusOr<RedisReply>& reply) {
  StreamInfo info;
  if (!reply.ok()) {
    if (absl::StrContains(reply.status().message(), "no such key")) return info;
    return reply.status();
  }
  if (reply->type != RedisReply::Type::kArray || reply->elements.size() % 2 != 0) {
    return absl::InternalError("redis: unexpected XINFO STREAM reply");
  }
  info.exists = true;
  const auto& e = reply->elements;
  for (size_t i = 0; i + 1 < e.size(); i += 2) {
    const std::string& name = e[i].str;
    const RedisReply& value = e[i + 1];
    if (name == "length") {
      info.length = value.integer;
    } else if (name == "entries-added") {
      info.entries_added = value.integer;
    } else if (name == "last-generated-id") {
      StreamId::Parse(value.str, &info.last_generated_id);
    } else if (name == "max-deleted-entry-id") {
      StreamId::Parse(value.str, &info.max_deleted_entry_id);
    } else if (name == "recorded-first-entry-id") {
      StreamId::Parse(value.str, &info.recorded_first_entry_id);
    }
  }
  return info;
}

absl::StatusOr<std::vector<RawStreamEntry>> ParseXRangeReply(const RedisReply& reply) {
  std::vector<RawStreamEntry> entries;
  if (reply.type == RedisReply::Type::kNil) return entries;
  for (const RedisReply& item : reply.elements) {
    if (item.elements.size() != 2) return absl::InternalError("redis: unexpected stream entry");
    RawStreamEntry entry;
    entry.id = item.elements[0].str;
    const auto& kv = item.elements[1].elements;
    for (size_t i = 0; i + 1 < kv.size(); i += 2) {
      entry.fields.emplace_back(kv[i].str, kv[i + 1].str);
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::vector<RawStreamEntry>> ParseXReadReply(const RedisReply& reply) {
  std::vector<RawStreamEntry> entries;
  if (reply.type == RedisReply::Type::kNil) return entries;
  for (const RedisReply& stream : reply.elements) {
    if (stream.elements.size() != 2) return absl::InternalError("redis: unexpected XREAD reply");
    absl::StatusOr<std::vector<RawStreamEntry>> part = ParseXRangeReply(stream.elements[1]);
    if (!part.ok()) return part.status();
    for (RawStreamEntry& entry : *part) entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::vector<RawStreamEntry>> RedisClient::XRead(const std::string& key,
                                                               const std::string& after, int count,
                                                               absl::Duration block) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  // The socket must wait longer than the server blocks, or a quiet stream would look
  // like a dead connection.
  if (absl::Status s = SetSocketTimeout(block + options_.command_timeout); !s.ok()) return s;
  std::vector<std::string> command = {"XREAD", "COUNT", absl::StrCat(count)};
  // BLOCK 0 would wait forever: a zero wait means "do not block".
  if (block > absl::ZeroDuration()) {
    int64_t block_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(block));
    command.insert(command.end(), {"BLOCK", absl::StrCat(block_ms)});
  }
  command.insert(command.end(), {"STREAMS", key, after});
  absl::StatusOr<RedisReply> reply = Command(command);
  if (connected()) {
    if (absl::Status s = SetSocketTimeout(options_.command_timeout); !s.ok()) return s;
  }
  if (!reply.ok()) return reply.status();
  return ParseXReadReply(*reply);
}

}  // namespace plantmesh::runtime
