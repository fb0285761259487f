// TelemetryStore in memory, for handler tests that test no SQL. Held to the same
// conformance suite as the PostgreSQL store (testing/store_conformance.h).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/runtime/testing/memory_request_log.h"
#include "server/telemetry/batch_sequences.h"
#include "server/telemetry/store.h"

namespace plantmesh::telemetry::testing {

class FakeTelemetryStore : public TelemetryStore {
 public:
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
  // The stored levels; every span is computed from the raw samples.
  absl::StatusOr<PlannedParts> AggregateParts(const std::string& machine_id,
                                              const std::string& data_item_id,
                                              const AggregatePlanner& planner) override;

  // What was stored, in storage order, and the outbox events written.
  std::vector<StoredSample> AllSamples();
  std::vector<runtime::OutboxEvent> Events();
  // Makes every later call fail with `status` (OK: works again), as a lost database.
  void FailWith(absl::Status status);

 private:
  absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Machine> machines_ ABSL_GUARDED_BY(mu_);
  // (machine, data item) an update left out -> its type then.
  std::map<std::pair<std::string, std::string>, int> retired_ ABSL_GUARDED_BY(mu_);
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  runtime::testing::MemoryRequestLog request_log_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, WriterRecord> writers_ ABSL_GUARDED_BY(mu_);  // records kept for ever
  // When each writer's last batch was committed (absl::Now(): PostgreSQL's now()).
  std::map<std::string, absl::Time> writer_commit_times_ ABSL_GUARDED_BY(mu_);
  int64_t next_batch_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<StoredSample> samples_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, StoredSample> latest_ ABSL_GUARDED_BY(mu_);
  std::vector<runtime::OutboxEvent> events_ ABSL_GUARDED_BY(mu_);

  // One batch of IngestBatches (which writes the group's event).
  BatchOutcome IngestLocked(Batch& batch, const BatchJudge& judge, const IngestAudit& audit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Machine states: moves the trackers as IngestBatch does (store.h); returns the batch's
  // late state samples.
  int AdvanceStates(const Batch& batch, const std::vector<int>& accepted, const IngestAudit& audit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Advances one machine's tracker by `moved`, storing what settles; returns its late
  // observations.
  int MoveTracker(const std::string& machine, const MachineBatch& moved)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::map<std::string, TrackerState> trackers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<StateInterval>> intervals_ ABSL_GUARDED_BY(mu_);
  std::vector<Downtime> downtimes_ ABSL_GUARDED_BY(mu_);  // by id - 1
};

}  // namespace plantmesh::telemetry::testing
