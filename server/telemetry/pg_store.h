// TelemetryStore on PostgreSQL (schema `telemetry`). The only file of the service that
// speaks SQL: machines and queries through the runtime's libpqxx pool (named
// statements), ingest through plain libpq connections (binary COPY, LibpqPool) with
// the writer's dedup row, the batch's pending record (rollups and latest values, applied
// by the rollup job) and the outbox event in the same transaction; and the day
// partitions of the samples.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/runtime/pg_pool.h"
#include "server/telemetry/catalog_cache.h"
#include "server/telemetry/libpq_pool.h"
#include "server/telemetry/store.h"

namespace plantmesh::telemetry {

class PgTelemetryStore : public TelemetryStore {
 public:
  // `pool` outlives the store and runs PrepareStatements on each new connection;
  // `ingest` holds the connections IngestBatches copies through.
  PgTelemetryStore(runtime::PgPool* pool, std::unique_ptr<LibpqPool> ingest);
  // The ingest pool's options for `url` with `connections` connections, the store's
  // ingest statements prepared on each.
  static LibpqPoolOptions IngestPoolOptions(const std::string& url, int connections,
                                            absl::Duration statement_timeout,
                                            absl::Duration lock_timeout);

  // Registers the store's named statements on a libpqxx connection.
  static void PrepareStatements(pqxx::connection& conn);

  absl::StatusOr<Replayable<Machine>> RegisterMachine(
      const Machine& machine, const ChangeContext& context,
      const ResponseEncoder<Machine>& encode) override;
  absl::StatusOr<Machine> GetMachine(const std::string& id) override;
  absl::StatusOr<MachinePage> ListMachines(const MachineQuery& query) override;
  absl::StatusOr<Replayable<Machine>> UpdateMachine(
      const std::string& id, const ChangeContext& context, const MachineMutator& mutator,
      const ResponseEncoder<Machine>& encode) override;
  using TelemetryStore::IngestBatch;
  absl::StatusOr<std::vector<BatchOutcome>> IngestBatches(std::vector<Batch>& batches,
                                                          const BatchJudge& judge,
                                                          const BatchEventEncoder& encode,
                                                          const IngestAudit& audit) override;
  absl::StatusOr<IngestWriterRecord> ResumeIngestWriter(const std::string& writer_id,
                                                        const std::string& caller,
                                                        uint64_t fence) override;
  absl::StatusOr<std::vector<std::string>> UnknownMachines(
      const std::vector<std::string>& machine_ids) override;
  absl::StatusOr<UnknownIds> UnknownMachinesAndDataItems(
      const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids,
      bool retired_are_known) override;
  absl::StatusOr<ItemsNow> DataItemsNow(const std::vector<std::string>& machine_ids) override;
  absl::StatusOr<std::vector<StoredSample>> LatestValues(
      const std::vector<std::string>& machine_ids,
      const std::vector<std::string>& data_item_ids) override;
  absl::StatusOr<SamplePage> QuerySamples(const SampleQuery& query) override;
  absl::StatusOr<PlannedParts> AggregateParts(const std::string& machine_id,
                                              const std::string& data_item_id,
                                              const AggregatePlanner& planner) override;

  // Machine states (states.h).
  absl::StatusOr<int> SettlePendingStates(absl::Time before, absl::Time release_before) override;
  absl::StatusOr<TimelineFacts> StateTimeline(const std::string& machine_id, absl::Time start,
                                              absl::Time end, std::optional<absl::Time> after_start,
                                              int limit) override;
  absl::Status PartCountObservations(const std::string& machine_id, absl::Time start,
                                     absl::Time end, const PartCountVisitor& visit) override;
  absl::StatusOr<DowntimePage> ListDowntimes(const DowntimeQuery& query) override;
  absl::StatusOr<Replayable<Downtime>> SetDowntimeReason(
      int64_t id, const DowntimeReason& reason, const ChangeContext& context,
      const ResponseEncoder<Downtime>& encode) override;

  // Rollups and latest values (the rollup job). One round: takes the oldest batches not
  // rolled up yet, up to about `max_samples` samples (at least one batch), merges their
  // numeric samples into the minute and hour rollups, moves latest_values forward to
  // their newest samples and forgets them, in one transaction. One replica at a time:
  // `busy` when another one's round holds the lock (nothing done).
  struct RollupRound {
    bool busy = false;
    int64_t batches = 0;       // batches rolled up (0: none was pending)
    int64_t samples = 0;       // their samples
    int64_t minute_cells = 0;  // cells written
    int64_t hour_cells = 0;
    int64_t latest_values = 0;  // latest values moved forward
  };
  absl::StatusOr<RollupRound> RollUpPending(int64_t max_samples);

  // Partitions. Creates the day partitions `days` that do not exist yet (under an
  // advisory lock, so replicas do not race); returns the names it created.
  absl::StatusOr<std::vector<std::string>> CreatePartitions(const std::vector<absl::Time>& days);
  // Drops every day partition whose day DayExpired at `now`; returns the names dropped.
  absl::StatusOr<std::vector<std::string>> DropExpiredPartitions(absl::Time now,
                                                                 absl::Duration retention);
  // Retention of the state history: deletes the state intervals and the ended downtimes
  // that ended before `now - retention` (their samples are dropped with their day).
  // The downtime still open and the tracker (the current state) stay. Counts deleted.
  struct ExpiredStates {
    int64_t intervals = 0;
    int64_t downtimes = 0;
  };
  absl::StatusOr<ExpiredStates> DropExpiredStates(absl::Time now, absl::Duration retention);
  // Deletes the ingest batches' records (batch_sequences.h) committed before `before`;
  // counts them. A sequence of theirs not above its writer's last is refused from then on.
  absl::StatusOr<int64_t> DeleteExpiredBatchRecords(absl::Time before);
  // The day partitions that exist, oldest first.
  absl::StatusOr<std::vector<std::string>> ListPartitions();
  // PostgreSQL's clock (clock_timestamp()): what retention is judged by, so that every
  // replica drops the same days whatever its own clock says.
  absl::StatusOr<absl::Time> DatabaseNow();

 private:
  absl::Status Run(const std::function<absl::Status(pqxx::connection&)>& body);

  runtime::PgPool* pool_;
  std::unique_ptr<LibpqPool> ingest_;
  // Days whose partition is known to exist: a batch with a sample of another day
  // creates it in its own transaction before the COPY.
  absl::Mutex days_mu_;
  std::set<absl::Time> days_ ABSL_GUARDED_BY(days_mu_);
  // The catalog as the ingest transactions last read it (catalog_cache.h).
  absl::Mutex catalog_mu_;
  CatalogCache catalog_cache_ ABSL_GUARDED_BY(catalog_mu_);
};

}  // namespace plantmesh::telemetry
