// The telemetry service's `[telemetry]` section of the server configuration.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/runtime/config.h"
#include "server/telemetry/domain.h"

namespace plantmesh::telemetry {

struct TelemetryConfig : runtime::ServiceConfig {
  // retention-days: raw samples are kept this many days; older day partitions are
  // dropped whole, older samples are rejected (TIME_OUT_OF_RANGE).
  int64_t retention_days = 30;
  // state-retention-days: state intervals and ended downtimes are kept this many days
  // after they ended (utilization and OEE look back further than raw samples); at least
  // retention-days.
  int64_t state_retention_days = 400;
  // state-settle-seconds: a machine state change that no later sample of the machine
  // settles is settled this long after it by the server's clock (StateSettleJob).
  int64_t state_settle_seconds = 10;
  // state-reorder-seconds: the reorder window of machine states (states.h): a machine's
  // state samples arriving out of order by up to this long are placed in time order; its
  // settled timeline and downtimes lag the server's clock by as much. 0: arrival order.
  int64_t state_reorder_seconds = 30;
  // max-future-skew-seconds: how far ahead of the server's clock a sample's time may be
  // (TIME_IN_FUTURE beyond).
  int64_t max_future_skew_seconds = 300;
  // batch-record-hours: how long a committed ingest batch's record (its sequence and a
  // fingerprint of its samples, batch_sequences.h) is kept: a batch re-sent within it is
  // recognised (a duplicate, or refused for other samples); a sequence not above its
  // writer's last and no longer on record is refused.
  int64_t batch_record_hours = 24;
  // partitions-ahead-days: day partitions kept created ahead of today.
  int64_t partitions_ahead_days = 3;
  // partition-check-seconds: how often the background job creates partitions ahead and
  // drops expired ones.
  int64_t partition_check_seconds = 3600;
  // ingest-connections: plain libpq connections kept for binary COPY (one per batch
  // being committed at a time).
  int64_t ingest_connections = 4;
  // ingest-pending-acks: batches an ingest stream reads ahead and commits together at
  // most (group commit, 1-32: a group's transaction stays short), and so its answers
  // waiting for a client that reads none (at most twice as many, plus one): the stream
  // then reads no more batches until the client reads (its writes wait: HTTP/2 flow
  // control). Nothing is refused for a slow reader. (Outside testing: the default was 64
  // and the range 1-4096, though no value above 32 did anything more.)
  int64_t ingest_pending_acks = 32;
  // latest-cache-seconds: how long a machine's latest values in Redis are trusted after
  // they were filled from PostgreSQL (then read again from it: what a lost write to
  // Redis left behind lasts at most this long); 0: no cache, every GetLatestValues
  // reads PostgreSQL.
  int64_t latest_cache_seconds = 60;
  // rollup-interval-ms: how often the rollup job merges newly ingested samples into the
  // minute and hour rollups (QueryAggregates reads raw rows for what it has not merged
  // yet, so this bounds a query's extra work, never its correctness).
  int64_t rollup_interval_ms = 1000;

  IngestLimits limits() const;
};

// Declares the section's keys, bound to a new TelemetryConfig with the defaults above.
std::shared_ptr<runtime::ServiceConfig> DeclareConfig(runtime::ConfigSection& section);

// No cross-section rule yet (the section's own ranges are checked by its declaration).
std::vector<std::string> CheckConfig(const runtime::ServerConfig& server,
                                     const runtime::ServiceConfig& section);

}  // namespace plantmesh::telemetry
