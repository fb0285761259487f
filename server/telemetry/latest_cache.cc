#include "server/telemetry/latest_cache.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/telemetry/v1/telemetry.pb.h"
#include "server/runtime/redis_client.h"
#include "server/telemetry/convert.h"
#include "spdlog/spdlog.h"

namespace plantmesh::telemetry {
namespace {

using runtime::RedisReply;

// KEYS[1]: a machine's hash; KEYS[2]: the event stream's generation key. ARGV[1]: the
// expiry (ms); ARGV[2]: the fill's marker value, or "" for a write-through; then field,
// value pairs, each value led by its 40-digit order. A hash of another generation is
// emptied first (its values may be of a database since restored). Per field the greater
// order wins. Lua's '<' compares with strcoll, which orders digit strings of equal length
// as numbers under any collation.
constexpr char kMergeScript[] = R"lua(
local key = KEYS[1]
local generation = redis.call('GET', KEYS[2]) or ''
local written = redis.call('HGET', key, '#generation')
if written ~= generation then
  if written or redis.call('EXISTS', key) == 1 then redis.call('DEL', key) end
  redis.call('HSET', key, '#generation', generation)
end
for i = 3, #ARGV, 2 do
  local old = redis.call('HGET', key, ARGV[i])
  if not old or string.sub(old, 1, 40) < string.sub(ARGV[i + 1], 1, 40) then
    redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  end
end
if ARGV[2] ~= '' then
  redis.call('HSET', key, '#complete', ARGV[2])
  redis.call('PEXPIRE', key, ARGV[1])
elseif redis.call('PTTL', key) == -1 then
  redis.call('PEXPIRE', key, ARGV[1])
end
return 1
)lua";

// Microseconds from 0001-01-01 (google.protobuf.Timestamp's first instant) to the epoch:
// added so that every time's order is a non-negative number.
constexpr int64_t kMicrosBeforeEpoch = int64_t{62135596800} * 1000000;
constexpr size_t kOrderDigits = 20;

std::string Digits(int64_t value) {
  char out[kOrderDigits + 1];
  std::snprintf(out, sizeof(out), "%020lld", static_cast<long long>(value));
  return std::string(out, kOrderDigits);
}

}  // namespace

std::string LatestCacheKey(const std::string& prefix, const std::string& machine_id) {
  return prefix + machine_id;
}

std::string EncodeCachedValue(const StoredSample& value) {
  v1::Sample proto;
  ToProto(value.sample, &proto);
  proto.clear_machine_id();  // the key and the field name hold them
  proto.clear_data_item_id();
  std::string out = Digits(absl::ToUnixMicros(*value.sample.time) + kMicrosBeforeEpoch);
  out += Digits(value.key);
  proto.AppendToString(&out);
  return out;
}

absl::StatusOr<StoredSample> DecodeCachedValue(const std::string& machine_id,
                                               const std::string& data_item_id,
                                               const std::string& value) {
  int64_t key = 0;
  v1::Sample proto;
  if (value.size() < 2 * kOrderDigits ||
      !absl::SimpleAtoi(absl::string_view(value).substr(kOrderDigits, kOrderDigits), &key) ||
      !proto.ParseFromArray(value.data() + 2 * kOrderDigits,
                            static_cast<int>(value.size() - 2 * kOrderDigits)) ||
      !proto.has_time()) {
    return absl::InternalError(
        absl::StrCat("latest cache: unreadable value of ", machine_id, "/", data_item_id));
  }
  proto.set_machine_id(machine_id);
  proto.set_data_item_id(data_item_id);
  return StoredSample{SampleFromProto(proto), key};
}

// One connection taken from the idle ones (or a new one) for one call, given back after.
class LatestCache::Lease {
 public:
  explicit Lease(LatestCache* cache) : cache_(cache) {
    absl::MutexLock lock(&cache_->mu_);
    if (!cache_->idle_.empty()) {
      client_ = std::move(cache_->idle_.back());
      cache_->idle_.pop_back();
    }
    if (client_ == nullptr)
      client_ = std::make_unique<runtime::RedisClient>(cache_->options_.redis);
  }
  ~Lease() {
    absl::MutexLock lock(&cache_->mu_);
    if (cache_->idle_.size() < cache_->options_.idle_connections) {
      cache_->idle_.push_back(std::move(client_));
    }
  }
  runtime::RedisClient* operator->() { return client_.get(); }

 private:
  LatestCache* cache_;
  std::unique_ptr<runtime::RedisClient> client_;
};

LatestCache::LatestCache(LatestCacheOptions options, TelemetryStore* store,
                         runtime::MetricsRegistry* metrics)
    : options_(std::move(options)), store_(store), next_retry_after_(options_.retry_after) {
  if (metrics == nullptr) return;
  metrics->AddCallback("plantmesh_telemetry_latest_cache_reads_total",
                       "Machines GetLatestValues read: from a complete Redis hash (hit), from "
                       "PostgreSQL then written to Redis (fill), from PostgreSQL with Redis "
                       "failing (fallback)",
                       runtime::MetricType::kCounter, {"result"}, [this] {
                         return std::vector<runtime::CallbackSample>{
                             {{"hit"}, static_cast<double>(figures_.hits.load())},
                             {{"fill"}, static_cast<double>(figures_.fills.load())},
                             {{"fallback"}, static_cast<double>(figures_.fallbacks.load())}};
                       });
  metrics->AddCallback(
      "plantmesh_telemetry_latest_cache_write_failures_total",
      "Writes of machines' latest values to Redis (after a commit, fills, deletes) that failed",
      runtime::MetricType::kCounter, {}, [this] {
        return std::vector<runtime::CallbackSample>{
            {{}, static_cast<double>(figures_.write_failures.load())}};
      });
}

LatestCache::~LatestCache() = default;

std::string LatestCache::Key(const std::string& machine_id) const {
  return LatestCacheKey(options_.key_prefix, machine_id);
}

void LatestCache::Failed(const std::vector<std::string>& machine_ids, const absl::Status& status) {
  figures_.write_failures.fetch_add(1);
  {
    absl::MutexLock lock(&mu_);
    stale_.insert(machine_ids.begin(), machine_ids.end());
  }
  write_log_.Failed(status, options_.retry_after);
}

absl::StatusOr<std::vector<absl::StatusOr<RedisReply>>> LatestCache::Run(
    const std::vector<Command>& commands) {
  if (options_.redis_foreign && options_.redis_foreign()) {
    figures_.left_alone.fetch_add(1);
    return absl::FailedPreconditionError(
        "redis: holds another PlantMesh database's data (the outbox relay's claim)");
  }
  std::vector<std::string> stale;
  {
    absl::MutexLock lock(&mu_);
    if (options_.now() < down_until_) {
      figures_.left_alone.fetch_add(1);
      return absl::UnavailableError("redis: not tried again yet after a connection failure");
    }
    stale.assign(stale_.begin(), stale_.end());
    stale_.clear();
  }
  // The hashes a failed write may have left stale go first: the commands after them
  // find no marker and refill.
  std::vector<Command> all;
  all.reserve(stale.size() + commands.size());
  for (const std::string& machine : stale) all.push_back({"DEL", Key(machine)});
  all.insert(all.end(), commands.begin(), commands.end());
  absl::StatusOr<std::vector<absl::StatusOr<RedisReply>>> replies;
  {
    Lease lease(this);
    replies = lease->PipelineEach(all);
  }
  absl::MutexLock lock(&mu_);
  if (!replies.ok()) {
    stale_.insert(stale.begin(), stale.end());
    // Calls that were under way together fail together: one failure, one doubling.
    if (const absl::Time now = options_.now();
        absl::IsUnavailable(replies.status()) && now >= down_until_) {
      down_until_ = now + next_retry_after_;
      next_retry_after_ = std::min(next_retry_after_ * 2, options_.max_retry_after);
    }
    return replies.status();
  }
  next_retry_after_ = options_.retry_after;
  for (size_t i = 0; i < stale.size(); ++i) {
    if (!(*replies)[i].ok()) stale_.insert(stale[i]);
  }
  replies->erase(replies->begin(), replies->begin() + static_cast<ptrdiff_t>(stale.size()));
  return replies;
}

LatestCache::Command LatestCache::Merge(const std::string& key,
                                        const std::vector<StoredSample>& values, bool fill) {
  Command command = {"EVALSHA",
                     "",
                     "2",
                     key,
                     options_.generation_key,
                     absl::StrCat(absl::ToInt64Milliseconds(options_.expiry)),
                     fill ? absl::StrCat(absl::ToUnixMicros(absl::Now())) : std::string()};
  command.reserve(command.size() + 2 * values.size());
  for (const StoredSample& value : values) {
    command.push_back(value.sample.data_item_id);
    command.push_back(EncodeCachedValue(value));
  }
  return command;
}

absl::Status LatestCache::RunMerges(const std::vector<std::string>& machine_ids,
                                    const std::vector<Command>& merges) {
  std::vector<Command> pending = merges;
  std::vector<std::string> pending_machines = machine_ids;
  bool failed = false;
  // Twice at most: a Redis that restarted (or SCRIPT FLUSH) answers NOSCRIPT once.
  for (int attempt = 0; attempt < 2 && !pending.empty(); ++attempt) {
    std::string sha;
    {
      absl::MutexLock lock(&mu_);
      sha = script_sha_;
    }
    if (sha.empty()) {
      PM_ASSIGN_OR_RETURN(std::vector<absl::StatusOr<RedisReply>> loaded,
                          Run({{"SCRIPT", "LOAD", kMergeScript}}));
      if (!loaded[0].ok()) return loaded[0].status();
      sha = loaded[0]->str;
      absl::MutexLock lock(&mu_);
      script_sha_ = sha;
    }
    for (Command& command : pending) command[1] = sha;
    PM_ASSIGN_OR_RETURN(std::vector<absl::StatusOr<RedisReply>> replies, Run(pending));
    std::vector<Command> again;
    std::vector<std::string> again_machines;
    for (size_t i = 0; i < replies.size(); ++i) {
      if (replies[i].ok()) continue;
      if (absl::StrContains(replies[i].status().message(), "NOSCRIPT")) {
        again.push_back(std::move(pending[i]));
        again_machines.push_back(pending_machines[i]);
      } else {
        Failed({pending_machines[i]}, replies[i].status());
        failed = true;
      }
    }
    if (!again.empty()) {
      absl::MutexLock lock(&mu_);
      script_sha_.clear();
    }
    pending = std::move(again);
    pending_machines = std::move(again_machines);
  }
  if (!pending.empty()) {
    Failed(pending_machines, absl::InternalError("redis: NOSCRIPT twice"));
  } else if (!failed) {
    WriteSucceeded();
  }
  return absl::OkStatus();
}

void LatestCache::WriteThrough(const std::vector<Batch>& batches,
                               const std::vector<BatchOutcome>& outcomes) {
  // Per machine and data item, the newest of the batches, by (time, sample key) as the
  // script orders them: one script call per machine and one round trip for the group.
  std::map<std::string, std::map<std::string, StoredSample>> newest;
  for (size_t b = 0; b < outcomes.size() && b < batches.size(); ++b) {
    const BatchOutcome& outcome = outcomes[b];
    if (!outcome.refusal.ok()) break;
    if (outcome.duplicate) continue;
    for (int i : NewestPerDataItem(batches[b].samples, outcome.verdict.accepted)) {
      const Sample& s = batches[b].samples[static_cast<size_t>(i)];
      StoredSample candidate{s, SampleKey(outcome.batch_id, i)};
      auto [it, added] = newest[s.machine_id].try_emplace(s.data_item_id, candidate);
      if (!added && std::tie(*it->second.sample.time, it->second.key) <
                        std::tie(*candidate.sample.time, candidate.key)) {
        it->second = std::move(candidate);
      }
    }
  }
  if (newest.empty()) return;
  std::vector<std::string> machines;
  std::vector<Command> merges;
  for (const auto& [machine, items] : newest) {
    std::vector<StoredSample> values;
    values.reserve(items.size());
    for (const auto& entry : items) values.push_back(entry.second);
    machines.push_back(machine);
    merges.push_back(Merge(Key(machine), values, /*fill=*/false));
  }
  if (absl::Status s = RunMerges(machines, merges); !s.ok()) Failed(machines, s);
}

void LatestCache::Invalidate(const std::string& machine_id) {
  absl::StatusOr<std::vector<absl::StatusOr<RedisReply>>> replies = Run({{"DEL", Key(machine_id)}});
  absl::Status status = replies.ok() ? (*replies)[0].status() : replies.status();
  if (status.ok()) {
    WriteSucceeded();
  } else {
    Failed({machine_id}, status);
  }
}

void LatestCache::WriteSucceeded() {
  {
    absl::MutexLock lock(&mu_);
    if (!stale_.empty()) return;  // a hash a failed write left may still be stale
  }
  write_log_.Succeeded();
}

absl::StatusOr<std::vector<StoredSample>> LatestCache::Read(
    const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids) {
  // The generation first: a hash of another one is not trusted (after a database restore
  // the relay starts a new generation, and the hashes hold values the database lost:
  // outside testing, a value no table held was answered until the hash expired).
  std::vector<Command> reads = {{"GET", options_.generation_key}};
  reads.reserve(machine_ids.size() + 1);
  for (const std::string& machine : machine_ids) {
    if (data_item_ids.empty()) {
      reads.push_back({"HGETALL", Key(machine)});
    } else {
      Command read = {"HMGET", Key(machine), kLatestCompleteField, kLatestGenerationField};
      read.insert(read.end(), data_item_ids.begin(), data_item_ids.end());
      reads.push_back(std::move(read));
    }
  }
  absl::StatusOr<std::vector<absl::StatusOr<RedisReply>>> replies = Run(reads);
  if (replies.ok() && !(*replies)[0].ok()) replies = (*replies)[0].status();
  if (!replies.ok()) {
    read_log_.Failed(replies.status(), options_.retry_after);
    figures_.fallbacks.fetch_add(static_cast<int64_t>(machine_ids.size()));
    return store_->LatestValues(machine_ids, data_item_ids);
  }
  const std::string generation = (*replies)[0]->str;  // "" when none (nil)
  std::vector<StoredSample> out;
  std::vector<std::string> missing;
  bool all_readable = true;
  for (size_t m = 0; m < machine_ids.size(); ++m) {
    const std::string& machine = machine_ids[m];
    const absl::StatusOr<RedisReply>& reply = (*replies)[m + 1];
    std::vector<StoredSample> values;
    bool marked = false;
    std::optional<std::string> hash_generation;
    absl::Status readable = reply.status();
    if (readable.ok() && data_item_ids.empty()) {
      const std::vector<RedisReply>& e = reply->elements;
      for (size_t i = 0; i + 1 < e.size() && readable.ok(); i += 2) {
        if (e[i].str == kLatestCompleteField) {
          marked = true;
          continue;
        }
        if (e[i].str == kLatestGenerationField) {
          hash_generation = e[i + 1].str;
          continue;
        }
        absl::StatusOr<StoredSample> value = DecodeCachedValue(machine, e[i].str, e[i + 1].str);
        readable = value.status();
        if (value.ok()) values.push_back(*std::move(value));
      }
    } else if (readable.ok()) {
      const std::vector<RedisReply>& e = reply->elements;
      marked = e.size() >= 2 && e[0].type == RedisReply::Type::kString;
      if (marked && e[1].type == RedisReply::Type::kString) hash_generation = e[1].str;
      for (size_t i = 2; i < e.size() && marked && readable.ok(); ++i) {
        if (e[i].type != RedisReply::Type::kString) continue;  // no value yet
        absl::StatusOr<StoredSample> value =
            DecodeCachedValue(machine, data_item_ids[i - 2], e[i].str);
        readable = value.status();
        if (value.ok()) values.push_back(*std::move(value));
      }
    }
    const bool complete = marked && hash_generation == generation;
    if (!readable.ok()) read_log_.Failed(readable, options_.retry_after);
    all_readable = all_readable && readable.ok();
    if (readable.ok() && complete) {
      figures_.hits.fetch_add(1);
      out.insert(out.end(), values.begin(), values.end());
    } else {
      missing.push_back(machine);
    }
  }
  if (all_readable) read_log_.Succeeded();
  if (!missing.empty()) {
    // The whole machine, whatever the filter: only a whole machine can be marked complete.
    PM_ASSIGN_OR_RETURN(std::vector<StoredSample> read, store_->LatestValues(missing, {}));
    std::map<std::string, std::vector<StoredSample>> by_machine;
    for (const std::string& machine : missing) by_machine[machine];
    for (StoredSample& value : read) {
      if (data_item_ids.empty() || std::binary_search(data_item_ids.begin(), data_item_ids.end(),
                                                      value.sample.data_item_id)) {
        out.push_back(value);
      }
      by_machine[value.sample.machine_id].push_back(std::move(value));
    }
    std::vector<std::string> machines;
    std::vector<Command> fills;
    for (const auto& [machine, values] : by_machine) {
      machines.push_back(machine);
      fills.push_back(Merge(Key(machine), values, /*fill=*/true));
    }
    figures_.fills.fetch_add(static_cast<int64_t>(missing.size()));
    if (absl::Status s = RunMerges(machines, fills); !s.ok()) Failed(machines, s);
  }
  std::sort(out.begin(), out.end(), [](const StoredSample& a, const StoredSample& b) {
    return std::tie(a.sample.machine_id, a.sample.data_item_id) <
           std::tie(b.sample.machine_id, b.sample.data_item_id);
  });
  return out;
}

}  // namespace plantmesh::telemetry
