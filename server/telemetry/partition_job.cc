#include "server/telemetry/partition_job.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace plantmesh::telemetry {

PartitionJob::PartitionJob(PgTelemetryStore* store, const TelemetryConfig& config,
                           std::function<absl::Time()> now)
    : store_(store), config_(config), now_(std::move(now)) {
  thread_ = std::thread([this, first = RunOnce()] { Loop(first); });
}

absl::Duration PartitionJob::RetryIn() const {
  return std::min(absl::Seconds(config_.partition_check_seconds), absl::Minutes(1));
}

PartitionJob::~PartitionJob() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status PartitionJob::RunOnce() {
  const absl::Duration retry_in = RetryIn();
  // Retention by PostgreSQL's clock, not this process's: a replica whose clock ran ahead
  // (a VM booted on a wrong RTC, a mistyped `date`) dropped every day of the shared
  // database at start, today's included (outside testing: 40 days ahead, 1.5 M samples and
  // every writer's batch records gone).
  absl::StatusOr<absl::Time> database_now = store_->DatabaseNow();
  clock_failures_.Record(database_now.status(), retry_in);
  if (!database_now.ok()) return database_now.status();
  const absl::Time now = *database_now;
  const absl::Duration skew = now_() - now;
  if (absl::AbsDuration(skew) > kClockSkewWarning) {
    spdlog::warn(
        "telemetry: this server's clock is {} {} PostgreSQL's; partitions and retention follow "
        "PostgreSQL's clock, ingest's time checks this server's: set both right (NTP)",
        absl::FormatDuration(absl::AbsDuration(skew)),
        skew > absl::ZeroDuration() ? "ahead of" : "behind");
  }
  const IngestLimits limits = config_.limits();
  absl::StatusOr<std::vector<std::string>> created = store_->CreatePartitions(
      DaysToKeep(now, limits.retention, static_cast<int>(config_.partitions_ahead_days)));
  if (created.ok()) {
    if (!created->empty()) {
      spdlog::info("telemetry: created sample partitions {}", absl::StrJoin(*created, ", "));
    }
  }
  create_failures_.Record(created.status(), retry_in);
  absl::StatusOr<std::vector<std::string>> dropped =
      store_->DropExpiredPartitions(now, limits.retention);
  if (dropped.ok()) {
    if (!dropped->empty()) {
      spdlog::info("telemetry: dropped sample partitions older than {} days: {}",
                   config_.retention_days, absl::StrJoin(*dropped, ", "));
    }
  }
  drop_failures_.Record(dropped.status(), retry_in);
  absl::StatusOr<PgTelemetryStore::ExpiredStates> states =
      store_->DropExpiredStates(now, absl::Hours(24) * config_.state_retention_days);
  if (states.ok()) {
    if (states->intervals > 0 || states->downtimes > 0) {
      spdlog::info(
          "telemetry: deleted {} state intervals and {} downtimes that ended more than {} days "
          "ago",
          states->intervals, states->downtimes, config_.state_retention_days);
    }
  }
  state_failures_.Record(states.status(), retry_in);
  absl::StatusOr<int64_t> records =
      store_->DeleteExpiredBatchRecords(now - absl::Hours(config_.batch_record_hours));
  if (records.ok()) {
    if (*records > 0) {
      spdlog::info("telemetry: deleted {} ingest batch records older than {} hours", *records,
                   config_.batch_record_hours);
    }
  }
  record_failures_.Record(records.status(), retry_in);
  if (!created.ok()) return created.status();
  if (!dropped.ok()) return dropped.status();
  if (!states.ok()) return states.status();
  return records.status();
}

void PartitionJob::Loop(absl::Status last) {
  const absl::Duration period = absl::Seconds(config_.partition_check_seconds);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped), last.ok() ? period : RetryIn())) {
        return;
      }
    }
    last = RunOnce();
  }
}

}  // namespace plantmesh::telemetry
