// The telemetry service's repository: what the handlers need from storage, independent
// of the database. The store supplies facts (a machine's data items, a writer's last
// batch) and writes; the rules are the domain's (domain.h), handed in as functions.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/runtime/audit.h"
#include "server/runtime/idempotency.h"
#include "server/runtime/outbox_event.h"
#include "server/telemetry/domain.h"
#include "server/telemetry/rollups.h"
#include "server/telemetry/states.h"

namespace plantmesh::telemetry {

template <typename T>
using Replayable = runtime::Replayable<T>;
template <typename T>
using ResponseEncoder = runtime::ResponseEncoder<T>;

// The caller and request of a machine change (request_id idempotency, audit row).
struct ChangeContext {
  runtime::IdempotencyKey request;
  absl::Time now;
  // The call's audit row, written with the change and marked written once committed;
  // nullptr: none.
  runtime::ChangeAudit* audit = nullptr;
};

// An ingest stream's audit row (the call's ChangeAudit, audit.h): written inside the first
// transaction of IngestBatches that stores a new batch, then marked written, so that
// every batch acknowledged has its stream's row as durably as its samples (outside
// testing: the row came at the stream's end, and a kill -9 left committed, answered
// batches unaudited). `audit` null: none.
struct IngestAudit {
  runtime::ChangeAudit* audit = nullptr;
  // The service's clock at the commit: the audit row's time, and the present no machine
  // state tracker passes (states.h MachineBatches).
  absl::Time now = absl::InfiniteFuture();
  // A tracker the batch leaves with a change pending since before this is settled in the
  // batch's transaction (SettleBatch), as SettlePendingStates would settle it moments
  // later (outside testing: after a backfill of yesterday's stop and restart, ListDowntimes
  // showed the downtime open for up to 15 s while ListStateIntervals showed its end).
  // InfinitePast: none.
  absl::Time settle_before = absl::InfinitePast();
  // The clock less the reorder window (state-reorder-seconds): a machine's state samples
  // stamped later wait in its tracker to be placed in time order (states.h).
  // InfiniteFuture: none waits.
  absl::Time release_before = absl::InfiniteFuture();
};

// Decides a machine change from the current, locked machine.
using MachineMutator = std::function<absl::StatusOr<Machine>(const Machine& current)>;

struct MachinePage {
  std::vector<Machine> machines;
  bool more = false;
};

// One batch of IngestSamples, as the store receives it.
struct Batch {
  std::string writer_id;
  uint64_t batch_sequence = 0;
  std::vector<Sample> samples;
  std::string caller = {};  // who sent it (CallContext::identity): a writer_id is one caller's
};

// Judges a batch on the facts read in its transaction (JudgeBatch, with the clock and
// limits bound).
using BatchJudge = std::function<Verdict(std::vector<Sample>&, const Catalog&)>;

// The outbox event of accepted samples: `batch` holding them, `accepted` their indexes;
// built by the service (opaque to the store). A committed group's events are built by
// GroupEvents.
using BatchEventEncoder =
    std::function<runtime::OutboxEvent(const Batch& batch, const std::vector<int>& accepted)>;

struct BatchOutcome {
  bool duplicate = false;  // the writer had committed this batch (JudgeSequence)
  // Not OK: the batch's sequence is refused (JudgeSequence); it is the last outcome,
  // nothing of it or of the batches after it was stored.
  absl::Status refusal;
  // Empty for a refused batch; for a duplicate, the rejections its first commit recorded
  // (DecodeRejections) and nothing accepted.
  Verdict verdict;
  // The store's number of a committed batch: its sample i is stored with key
  // SampleKey(batch_id, i) (the latest-values cache orders by it). 0 for a duplicate.
  int64_t batch_id = 0;
  // Of a committed batch, its accepted state samples older than the time their machine's
  // tracker had reached (StateChanges::late_observations): the settled timeline does not
  // show them at their own time. 0 for a duplicate.
  int late_state_count = 0;
};

// What the store records of an ingest writer.
struct IngestWriterRecord {
  std::string writer_id;
  uint64_t last_batch_sequence = 0;  // every batch up to it committed, none after; 0: none
  std::optional<absl::Time> last_commit_time;  // of that batch
  std::string owner;                           // the caller that owns the id; "" when none
  uint64_t fenced_through = 0;
};

struct SamplePage {
  std::vector<StoredSample> samples;
  bool more = false;
};

struct DowntimePage {
  std::vector<Downtime> downtimes;
  bool more = false;
};

class TelemetryStore {
 public:
  virtual ~TelemetryStore() = default;

  // Stores a new machine (version 1, create/update time = context.now). With a
  // request_id, a retry gets the first answer; another machine with the same id is
  // ALREADY_EXISTS.
  virtual absl::StatusOr<Replayable<Machine>> RegisterMachine(
      const Machine& machine, const ChangeContext& context,
      const ResponseEncoder<Machine>& encode) = 0;
  // NOT_FOUND when absent.
  virtual absl::StatusOr<Machine> GetMachine(const std::string& id) = 0;
  // Registration order, after query.after.
  virtual absl::StatusOr<MachinePage> ListMachines(const MachineQuery& query) = 0;
  // Locks the machine and stores what `mutator` decides. NOT_FOUND when absent.
  virtual absl::StatusOr<Replayable<Machine>> UpdateMachine(
      const std::string& id, const ChangeContext& context, const MachineMutator& mutator,
      const ResponseEncoder<Machine>& encode) = 0;

  // Stores one batch exactly once per (writer, sequence), in one transaction: the
  // writer's row locked, its record read (last sequence, fingerprints of the batch's
  // sequence: batch_sequences.h) — a duplicate writes nothing, a refused sequence is
  // the outcome's refusal; otherwise the batch is recorded, the data items of the batch's machines
  // are read, `judge` decides, the accepted samples are stored, the latest values move forward
  // (never back to an older time), one outbox event is written when anything was accepted
  // (`encode`), and the writer's sequence becomes the batch's. All or nothing: a lost
  // database is UNAVAILABLE and leaves no part of the batch.
  absl::StatusOr<BatchOutcome> IngestBatch(const Batch& batch, const BatchJudge& judge,
                                           const BatchEventEncoder& encode);
  // Several batches of one writer, in order, in one transaction (group commit: a
  // transaction's fixed cost shared by the batches an ingest stream had waiting): each
  // stored, found a duplicate or refused exactly as IngestBatch would have, one after
  // the other (the batches earlier in `batches` count as committed), one outcome per
  // batch up to the first refused one, which is the last: the batches before it are
  // committed. The group's outbox events: GroupEvents. The stream's audit row: `audit`.
  // All or nothing otherwise. INTERNAL for batches of different writers or none.
  virtual absl::StatusOr<std::vector<BatchOutcome>> IngestBatches(std::vector<Batch>& batches,
                                                                  const BatchJudge& judge,
                                                                  const BatchEventEncoder& encode,
                                                                  const IngestAudit& audit) = 0;

  // ResumeIngestWriter: in one transaction, waits for (locks) the writer's row, raises its
  // fence to `fence` (0: leaves it) and answers its record. PERMISSION_DENIED
  // (WRITER_ID_TAKEN, JudgeOwner) when `caller` does not own the writer id; a writer
  // without a row gets one only for a fence (owned by `caller`).
  virtual absl::StatusOr<IngestWriterRecord> ResumeIngestWriter(const std::string& writer_id,
                                                                const std::string& caller,
                                                                uint64_t fence) = 0;

  // Of `machine_ids`, those that are not registered, in the order given (none: all are).
  virtual absl::StatusOr<std::vector<std::string>> UnknownMachines(
      const std::vector<std::string>& machine_ids) = 0;
  // UnknownMachines, and of `data_item_ids` those that no machine of `machine_ids` has
  // now, in the order given (none: each is a data item of at least one of them); in one
  // read, for the reads that filter by data item. With `retired_are_known` an item that
  // UpdateMachine left out counts as had too (its samples are history: QuerySamples,
  // QueryAggregates); without, only registered items do (latest values, live tails).
  struct UnknownIds {
    std::vector<std::string> machines;
    std::vector<std::string> data_items;
  };
  virtual absl::StatusOr<UnknownIds> UnknownMachinesAndDataItems(
      const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids,
      bool retired_are_known) = 0;

  // In one read: of `machine_ids`, those not registered (in the order given), and the
  // (machine id, data item id) of every data item the others have now (not those
  // UpdateMachine left out).
  struct ItemsNow {
    std::vector<std::string> unknown_machines;
    std::set<std::pair<std::string, std::string>> items;
  };
  virtual absl::StatusOr<ItemsNow> DataItemsNow(const std::vector<std::string>& machine_ids) = 0;

  // The newest sample, with its key, of each data item of `machine_ids` (only
  // `data_item_ids` when not empty) that is registered now (a data item removed by
  // UpdateMachine is not answered), by machine then data item id, bytewise.
  virtual absl::StatusOr<std::vector<StoredSample>> LatestValues(
      const std::vector<std::string>& machine_ids,
      const std::vector<std::string>& data_item_ids) = 0;

  // One page of a machine's samples in [start, end), by (time, key).
  virtual absl::StatusOr<SamplePage> QuerySamples(const SampleQuery& query) = 0;

  // ---- Machine states (states.h) ----
  // IngestBatch also moves the tracker of each machine MachineBatches names (those with
  // accepted state samples, and those with a pending tracker and any accepted sample):
  // tracker rows read and locked once per batch, the closed intervals and downtimes it
  // settles stored, and one outbox event per downtime change (DowntimeOutboxEvent), all
  // in the batch's transaction. A duplicate batch moves nothing.

  // Settles, in one transaction, each tracker whose change has been pending since before
  // `before` or that holds observations stamped at or before `release_before`
  // (SettleBatch), as a batch moving it would: intervals, downtimes and their events
  // written. Returns how many trackers it moved.
  virtual absl::StatusOr<int> SettlePendingStates(absl::Time before, absl::Time release_before) = 0;

  // In one snapshot: the machine's closed state intervals that overlap [start, end),
  // starting after `after_start` (if set), oldest first, at most `limit` (0: all), and its
  // tracker. NOT_FOUND for a machine that is not registered.
  virtual absl::StatusOr<TimelineFacts> StateTimeline(const std::string& machine_id,
                                                      absl::Time start, absl::Time end,
                                                      std::optional<absl::Time> after_start,
                                                      int limit) = 0;
  // Streams to `visit` the observations of each PART_COUNT data item of the machine in
  // [start, end) (PartCountObservationOf of its samples), in one snapshot: first each
  // item's newest count before `start` (IsPartCount: a number or text; the baseline) if it
  // has one, then the range's by
  // time (equal times in storage order), items interleaved. Read in pages, so a long range
  // never sits in memory. NOT_FOUND for a machine that is not registered.
  using PartCountVisitor =
      std::function<void(const std::string& item, const PartCountObservation& observation)>;
  virtual absl::Status PartCountObservations(const std::string& machine_id, absl::Time start,
                                             absl::Time end, const PartCountVisitor& visit) = 0;
  // One page of downtimes, newest first (ListsBefore), filtered (Matches).
  virtual absl::StatusOr<DowntimePage> ListDowntimes(const DowntimeQuery& query) = 0;
  // Locks the downtime and stores `reason` as given by context.request.identity at
  // context.now (WithReason), with the audit row and a REASON_SET outbox event. With a
  // request_id, a retry gets the first answer. NOT_FOUND for an unknown id.
  virtual absl::StatusOr<Replayable<Downtime>> SetDowntimeReason(
      int64_t id, const DowntimeReason& reason, const ChangeContext& context,
      const ResponseEncoder<Downtime>& encode) = 0;
  // ---- Aggregates (QueryAggregates) ----
  // Plans a query over the rollup levels as they stand in one snapshot (`planner` gets
  // them, each with its complete_before) and reads the plan's parts from that snapshot:
  // for each span, one part per bucket of plan.bucket that has samples there, read from
  // raw samples or from the span's rollup level. Merged with BucketMerger::AddPart they
  // give the answer. Errors: the planner's, the store's.
  virtual absl::StatusOr<PlannedParts> AggregateParts(const std::string& machine_id,
                                                      const std::string& data_item_id,
                                                      const AggregatePlanner& planner) = 0;
};

inline absl::StatusOr<BatchOutcome> TelemetryStore::IngestBatch(const Batch& batch,
                                                                const BatchJudge& judge,
                                                                const BatchEventEncoder& encode) {
  std::vector<Batch> one = {batch};
  absl::StatusOr<std::vector<BatchOutcome>> outcomes = IngestBatches(one, judge, encode, {});
  if (!outcomes.ok()) return outcomes.status();
  return std::move(outcomes->front());
}

// The most sample bytes one event of a group carries (a bound on the samples' wire
// size, SampleWireBytesBound): a tail sends a message of at most ~1 MiB of events, or
// one event alone, within the server's send limit (kMinTailSendBytes). Outside testing:
// one accepted batch of 4 MiB could never be sent to a tail, which then failed at it on
// every resume.
inline constexpr size_t kEventSampleBytes = size_t{1} << 20;

// At least the bytes a sample takes in an event (telemetry.v1.Sample, with its tag and
// length): its texts, and 64 for the time, the value's number or level, the sequence,
// tags and lengths.
inline size_t SampleWireBytesBound(const Sample& s) {
  return 64 + s.machine_id.size() + s.data_item_id.size() + s.text.size() + s.native_code.size() +
         s.message.size();
}

// The outbox events of a committed group (IngestBatches): `encode` of batches of the
// group's writer holding the accepted samples of its stored batches in order, each
// with the sequence of the last batch it holds samples of and at most kEventSampleBytes
// of samples (SampleWireBytesBound; a larger batch is split); none when no batch
// accepted any. Events of a group, not of each batch: a group of 100-sample batches
// wrote ~8 outbox rows, each relayed and published on its own (B2, bench/README.md).
inline std::vector<runtime::OutboxEvent> GroupEvents(const std::vector<Batch>& batches,
                                                     const std::vector<BatchOutcome>& outcomes,
                                                     const BatchEventEncoder& encode) {
  std::vector<size_t> stored;
  size_t bytes = 0;
  for (size_t b = 0; b < outcomes.size() && b < batches.size(); ++b) {
    if (!outcomes[b].refusal.ok()) break;
    if (outcomes[b].verdict.accepted.empty()) continue;
    stored.push_back(b);
    for (int i : outcomes[b].verdict.accepted) {
      bytes += SampleWireBytesBound(batches[b].samples[static_cast<size_t>(i)]);
    }
  }
  std::vector<runtime::OutboxEvent> events;
  if (stored.size() == 1 && bytes <= kEventSampleBytes) {
    events.push_back(encode(batches[stored[0]], outcomes[stored[0]].verdict.accepted));
    return events;
  }
  Batch event{batches.front().writer_id, 0, {}};
  bytes = 0;
  auto flush = [&] {
    if (event.samples.empty()) return;
    std::vector<int> all(event.samples.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    events.push_back(encode(event, all));
    event.samples.clear();
    bytes = 0;
  };
  for (size_t b : stored) {
    for (int i : outcomes[b].verdict.accepted) {
      const Sample& sample = batches[b].samples[static_cast<size_t>(i)];
      const size_t size = SampleWireBytesBound(sample);
      if (bytes + size > kEventSampleBytes) flush();
      event.batch_sequence = batches[b].batch_sequence;
      event.samples.push_back(sample);
      bytes += size;
    }
  }
  flush();
  return events;
}

// IngestBatches' precondition: at least one batch, all of one writer.
inline absl::Status CheckOneWriter(const std::vector<Batch>& batches) {
  for (const Batch& batch : batches) {
    if (batch.writer_id != batches.front().writer_id || batch.caller != batches.front().caller) {
      return absl::InternalError("IngestBatches takes the batches of one writer and caller");
    }
  }
  if (batches.empty()) return absl::InternalError("IngestBatches was given no batch");
  return absl::OkStatus();
}

}  // namespace plantmesh::telemetry
