// GetLatestValues' read cache in Redis, in front of the store's LatestValues (PostgreSQL:
// telemetry.latest_values merged with the batches the rollup job has not applied yet),
// which stays the truth: exact at every commit; the cache only saves reading it.
//
// Layout: one hash per machine, key `<prefix><machine id>` (LatestCacheKey): field = data
// item id, value = the sample's order (its time and sample key, 40 digits) followed by the
// serialized telemetry.v1.Sample (EncodeCachedValue); field "#complete" (no data item id
// holds '#') marks a hash filled from PostgreSQL; field "#generation" holds the telemetry
// event stream's generation (the outbox relay's) when the hash was written.
//
// Guarantees:
// - Never backwards: every write is one Lua script (EVALSHA) that keeps, per field, the
//   sample of greater (time, sample key), the order of latest_values, so replicas writing
//   at once, out-of-order batches and fills racing write-throughs cannot move a value
//   back.
// - Written after commit only: WriteThrough is called once a batch committed; a failed
//   write is logged (at most every 10 s) and counted, it never fails the ingest.
// - Trusted only when complete: Read answers a machine from its hash only when "#complete"
//   is set; otherwise it reads the store and fills the hash with what it read (merged as
//   above) and the marker, with an expiry of `expiry` set at that fill. Write-throughs
//   never extend an expiry (one that creates the key gives it one, so no key lives
//   without). So whatever a write lost between commit and Redis (a crash, a timeout) left
//   stale is read again from PostgreSQL at most `expiry` after the fill, and a Redis
//   restarted empty (no marker) refills instead of answering part of a machine.
// - Trusted only within its generation: a hash is answered only while "#generation"
//   equals the event stream's generation, and a write into a hash of another generation
//   empties it first. The relay starts a new generation when the stream holds events the
//   database does not (a database restored from a backup under a running Redis), so no
//   value the restored database lost is answered (outside testing: it was, until the
//   hash expired, up to latest-cache-seconds).
// - A write that failed in a running process is repaired sooner: the machine is
//   remembered and its hash deleted at the next successful contact with Redis.
// - Redis unavailable or erroring: Read answers from the store (the error logged at most
//   every 10 s); after a connection failure or a timeout Redis is left alone for
//   `retry_after`, doubled after each failure in a row up to `max_retry_after`, so calls
//   do not keep waiting on a Redis that does not answer (outside testing: a stopped
//   Redis held ingest answers and reads 2 s in every 3).
// - Invalidate (after a registration change committed) deletes the machine's hash. A fill
//   or write-through that read before the change and lands after it may bring a removed
//   data item back into the hash until it expires: GetLatestValues filters what Read
//   answers by the items the machines have now (TelemetryStore::DataItemsNow), so a
//   removed item is not answered.
//
// Thread-safe; Redis connections (runtime::RedisClient, one per concurrent call) are
// kept for reuse.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/failure_log.h"
#include "server/runtime/metrics.h"
#include "server/runtime/redis_client.h"
#include "server/telemetry/store.h"

namespace plantmesh::telemetry {

inline constexpr char kLatestCachePrefix[] = "plantmesh:telemetry:latest:";
inline constexpr char kLatestCompleteField[] = "#complete";
inline constexpr char kLatestGenerationField[] = "#generation";

struct LatestCacheOptions {
  runtime::RedisOptions redis;
  std::string key_prefix = kLatestCachePrefix;
  // The Redis key of the telemetry event stream's generation (runtime::GenerationKey).
  std::string generation_key = "plantmesh:telemetry:events:generation";
  absl::Duration expiry = absl::Seconds(60);  // [telemetry] latest-cache-seconds
  absl::Duration retry_after = absl::Seconds(1);
  absl::Duration max_retry_after = absl::Seconds(30);
  std::function<absl::Time()> now = absl::Now;  // for retry_after (tests set their own)
  size_t idle_connections = 8;                  // kept open between calls
  // True while Redis holds another PlantMesh database's data (the outbox relay's claim,
  // redis_owner.h): Redis is then not used, reads come from the store. Null: never.
  std::function<bool()> redis_foreign;
};

// What the cache did since it started (per machine read), for metrics and tests.
struct LatestCacheFigures {
  std::atomic<int64_t> hits{0};            // machines answered from a complete hash
  std::atomic<int64_t> fills{0};           // machines read from the store and written back
  std::atomic<int64_t> fallbacks{0};       // machines read from the store, Redis failing
  std::atomic<int64_t> write_failures{0};  // write-throughs, fills, deletes that failed
  std::atomic<int64_t> left_alone{0};      // Redis not tried (retry_after since a failure)
};

class LatestCache {
 public:
  // `store` outlives the cache. `metrics` (may be null) gets
  // plantmesh_telemetry_latest_cache_reads_total{result=hit|fill|fallback} and
  // plantmesh_telemetry_latest_cache_write_failures_total.
  LatestCache(LatestCacheOptions options, TelemetryStore* store, runtime::MetricsRegistry* metrics);
  ~LatestCache();

  // The newest sample of each data item of `machine_ids` (registered machines), only
  // `data_item_ids` (sorted, unique) when not empty, by machine then data item id
  // (bytewise), as TelemetryStore::LatestValues answers it. Fails only as the store does.
  absl::StatusOr<std::vector<StoredSample>> Read(const std::vector<std::string>& machine_ids,
                                                 const std::vector<std::string>& data_item_ids);

  // After `batches` committed as `outcomes` (one transaction; outcomes end at a refused
  // batch, if any): merges the newest accepted sample of each data item into its
  // machine's hash, in one round trip. Never fails (see above).
  void WriteThrough(const std::vector<Batch>& batches, const std::vector<BatchOutcome>& outcomes);

  // After a registration change of `machine_id` committed: deletes its hash.
  void Invalidate(const std::string& machine_id);

  const LatestCacheFigures& figures() const { return figures_; }
  // The runs of failed reads and writes so far, as logged (diagnostics, tests).
  const runtime::FailureLog& read_log() const { return read_log_; }
  const runtime::FailureLog& write_log() const { return write_log_; }

 private:
  class Lease;
  using Command = std::vector<std::string>;

  // Runs `commands` on one connection, after deleting the hashes of machines whose write
  // failed earlier. UNAVAILABLE while Redis is left alone after a connection failure.
  absl::StatusOr<std::vector<absl::StatusOr<runtime::RedisReply>>> Run(
      const std::vector<Command>& commands);
  // The merge script's EVALSHA for `key` (loaded on first use, again after NOSCRIPT):
  // `fill` also sets the marker and the expiry.
  Command Merge(const std::string& key, const std::vector<StoredSample>& values, bool fill);
  absl::Status RunMerges(const std::vector<std::string>& machine_ids,
                         const std::vector<Command>& merges);
  void Failed(const std::vector<std::string>& machine_ids, const absl::Status& status);
  // A write went through: the end of a run of write failures, once no hash is stale.
  void WriteSucceeded();
  std::string Key(const std::string& machine_id) const;

  const LatestCacheOptions options_;
  TelemetryStore* const store_;
  LatestCacheFigures figures_;

  absl::Mutex mu_;
  std::vector<std::unique_ptr<runtime::RedisClient>> idle_ ABSL_GUARDED_BY(mu_);
  std::string script_sha_ ABSL_GUARDED_BY(mu_);
  absl::Time down_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration next_retry_after_ ABSL_GUARDED_BY(mu_);  // after the next failure
  std::set<std::string> stale_ ABSL_GUARDED_BY(mu_);      // machines whose write failed
  // Redis failing: logged when it starts, every 10 s while it lasts, when it ends; reads
  // and writes apart, since a Redis may refuse writes and answer reads (maxmemory reached
  // with noeviction, a read-only replica): one log for both began a new run at every
  // batch, a warning and a "works again" line each (outside testing: ~60 lines a second).
  runtime::FailureLog read_log_{"telemetry: latest-values cache reads (answered from PostgreSQL)",
                                absl::Seconds(10)};
  runtime::FailureLog write_log_{
      "telemetry: latest-values cache writes (reads answered from PostgreSQL until they work)",
      absl::Seconds(10)};
};

// ---- The layout (tests read and write it) ----

// `<prefix><machine id>`.
std::string LatestCacheKey(const std::string& prefix, const std::string& machine_id);
// The 40-digit order of (time, key), then the sample without its machine and data item id.
std::string EncodeCachedValue(const StoredSample& value);
// The sample of field `data_item_id` of `machine_id`'s hash; INTERNAL when unreadable.
absl::StatusOr<StoredSample> DecodeCachedValue(const std::string& machine_id,
                                               const std::string& data_item_id,
                                               const std::string& value);

}  // namespace plantmesh::telemetry
