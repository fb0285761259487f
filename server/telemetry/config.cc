#include "server/telemetry/config.h"

#include "absl/strings/str_cat.h"
#include "server/runtime/page_fit.h"
#include "server/telemetry/convert.h"
#include "server/telemetry/tail_source.h"

namespace plantmesh::telemetry {

IngestLimits TelemetryConfig::limits() const {
  IngestLimits limits;
  limits.retention = absl::Hours(24) * retention_days;
  limits.max_future_skew = absl::Seconds(max_future_skew_seconds);
  return limits;
}

std::shared_ptr<runtime::ServiceConfig> DeclareConfig(runtime::ConfigSection& section) {
  auto config = std::make_shared<TelemetryConfig>();
  section.Add("retention-days", &config->retention_days,
              "days raw samples are kept; older day partitions are dropped whole and older "
              "samples rejected",
              1, 3650);
  section.Add("state-retention-days", &config->state_retention_days,
              "days state intervals and ended downtimes are kept after they ended (utilization "
              "and OEE history); at least retention-days",
              1, 3650);
  section.Add("state-settle-seconds", &config->state_settle_seconds,
              "a machine state change no later sample settles (a stop, then silence) is "
              "settled this long after it, so its downtime is listed",
              1, 3600);
  section.Add("state-reorder-seconds", &config->state_reorder_seconds,
              "state samples of a machine arriving out of order by up to this long (two "
              "sources, one buffering) are placed in time order, at most 256 waiting per "
              "machine (beyond, the oldest are placed at once); its state timeline and "
              "downtimes settle this much behind the server's clock",
              0, 600);
  section.Add("max-future-skew-seconds", &config->max_future_skew_seconds,
              "how far ahead of the server's clock a sample's time may be", 0, 86400);
  section.Add("batch-record-hours", &config->batch_record_hours,
              "how long a committed ingest batch's sequence and fingerprint are kept: a batch "
              "re-sent within it is a duplicate (or refused for other samples)",
              1, 8760);
  section.Add("partitions-ahead-days", &config->partitions_ahead_days,
              "day partitions of samples kept created ahead of today", 1, 60);
  section.Add("partition-check-seconds", &config->partition_check_seconds,
              "how often partitions are created ahead and expired ones dropped", 1, 86400);
  section.Add("ingest-connections", &config->ingest_connections,
              "PostgreSQL connections for IngestSamples' binary COPY (batches committed at once)",
              1, 64);
  section.Add("ingest-pending-acks", &config->ingest_pending_acks,
              "batches an ingest stream commits together at most; a client that reads no "
              "answers holds the stream back after twice as many (flow control)",
              1, 32);
  section.Add("latest-cache-seconds", &config->latest_cache_seconds,
              "how long a machine's latest values cached in Redis are trusted after a fill from "
              "PostgreSQL (the longest a lost cache write can leave a value stale); 0: no cache",
              0, 3600);
  section.Add("rollup-interval-ms", &config->rollup_interval_ms,
              "how often newly ingested samples are merged into the minute and hour rollups "
              "(aggregate queries read raw rows for the rest)",
              10, 60000);
  return config;
}

std::vector<std::string> CheckConfig(const runtime::ServerConfig& server,
                                     const runtime::ServiceConfig& section) {
  const auto& config = static_cast<const TelemetryConfig&>(section);
  std::vector<std::string> problems;
  if (config.state_retention_days < config.retention_days) {
    problems.push_back(
        "telemetry.state-retention-days: shorter than retention-days (state intervals "
        "would go before the samples they were derived from)");
  }
  // Both must fit; the tail's bound is the larger.
  static_assert(kMinTailSendBytes >= kMinIngestAnswerBytes);
  if (runtime::MaxSendBytes(&server) < kMinTailSendBytes) {
    problems.push_back(absl::StrCat(
        "max-send-message-bytes: at least ", kMinTailSendBytes,
        " with telemetry (a live tail's message of one committed group's samples, and the "
        "answer to a batch of ",
        kMaxSamplesPerBatch, " rejected samples, their messages cut away, must fit one message)"));
  }
  return problems;
}

}  // namespace plantmesh::telemetry
