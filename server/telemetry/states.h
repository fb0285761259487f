// Machine states as the service serves them, free of gRPC, protobuf and SQL: which
// samples of a batch feed a machine's tracker (machine_state.h) and how a batch moves
// it; the queries over the timeline (ListStateIntervals, GetUtilization), downtimes
// (ListDowntimes) and their reasons (SetDowntimeReason).
//
// At ingest a machine's tracker state is read (locked) in the batch's transaction, fed
// the batch's accepted state samples oldest first, advanced to the newest accepted sample
// of the machine in the batch, and written back with what it settled: closed intervals
// and downtime changes. So the stored timeline is exactly what the acknowledged batches
// give, and a re-sent (duplicate) batch changes nothing.
//
// The reorder window ([telemetry] state-reorder-seconds, W): the timeline settles only up
// to the server's clock less W. A state sample stamped later than that is held in the
// tracker and placed, in time order with every other one of its machine, once the clock
// passes its time by W (at a batch of the machine or the settle round), so a machine's
// sources may arrive out of order by up to W: an I/O module whose buffered batch comes
// 8 s after the CNC's newer one no longer loses its stops (outside testing: DOWN 14.5 s
// reported for 9.9 s). A sample older than that (a backfill, a source more than W behind)
// is placed at once, as before; one older than the time the timeline reached is late.
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
#include "server/runtime/page_token.h"
#include "server/telemetry/domain.h"
#include "server/telemetry/machine_state.h"

namespace plantmesh::telemetry {

// DataItemType numbers the states and part counts are derived from: domain.h.

// What a data item feeds: EXECUTION, AVAILABILITY and EMERGENCY_STOP by type, every
// CONDITION item by category; nullopt: nothing.
std::optional<StateInput> StateInputOf(Category category, int type);

// The state-relevant data items of the machines of a batch: machine -> item -> input.
using StateItems = std::map<std::string, std::map<std::string, StateInput>>;

// The state-relevant data items of a catalog (StateInputOf of each).
StateItems StateItemsOf(const Catalog& catalog);

// A sample's value as the tracker sees it. A number stays a number (not a state);
// kNone cannot occur for an accepted sample and reads as Unavailable.
ObservedValue ObservedValueOf(const Sample& sample);

// What one batch brings to one machine's tracker.
struct MachineBatch {
  // Its accepted state samples, oldest first (equal times in batch order).
  std::vector<StateObservation> observations;
  // The newest time of any accepted sample of the machine in the batch.
  absl::Time newest = absl::InfinitePast();
  // The server's clock less the reorder window: the tracker moves to the earlier of this
  // and `newest`; observations (held before or brought now) stamped later wait.
  absl::Time release_before = absl::InfiniteFuture();
};

// At most this many observations wait per machine: beyond, the oldest are placed at once
// (a flapping input would otherwise grow the tracker's row without bound).
inline constexpr size_t kMaxHeldObservations = 256;

// The machines whose tracker the batch moves: those with an accepted state sample, and
// those of `pending` (trackers with a change not yet settled) with any accepted sample.
// Other machines are not touched (they pay nothing). Times after `now` (the server's
// clock: a source whose clock runs ahead, within max-future-skew-seconds) count as `now`,
// in their own order (the observations are sorted by the times given, then clamped):
// a tracker never passes the present, where it would take every other source's state
// change until then as too late (outside testing: an I/O module 200 s fast hid the CNC's
// feed hold for 200 s, and the settled timeline kept it as running). `release_before`:
// IngestAudit's, each batch's.
std::map<std::string, MachineBatch> MachineBatches(const std::vector<Sample>& samples,
                                                   const std::vector<int>& accepted,
                                                   const StateItems& items,
                                                   const std::set<std::string>& pending,
                                                   absl::Time now, absl::Time release_before);

// True when the tracker's state at last_time differs from its settled state (the next
// advance of time settles a change: closes an interval, maybe a downtime event), it has
// withdrawals recorded or observations held.
bool TrackerPending(const TrackerState& state);

// The state inputs `before` feeds and `after` (the same machine updated) no longer does,
// withdrawn at `at`: EXECUTION, AVAILABILITY and EMERGENCY_STOP when no item of the type is
// left, each CONDITION item that is gone or no longer a CONDITION; in StateInput's order,
// CONDITION items by id.
std::vector<InputWithdrawal> WithdrawnInputs(const Machine& before, const Machine& after,
                                             absl::Time at);

// Records `withdrawals` in `*state` for the tracker's next move (UpdateMachine's
// transaction): nothing for a tracker without an observation, placed or waiting (it has
// no value to withdraw); an input or item already recorded keeps its first record: every batch of
// the machine applies the records before its samples, so none of the item's samples counted in
// between, and the first record's time is when the state changed.
void RecordWithdrawals(TrackerState* state, const std::vector<InputWithdrawal>& withdrawals);

// What moves a tracker by the server's clock when no sample of its machine does (the
// settle round). Held observations stamped at or before `release_before` (the clock less
// the reorder window) are placed. A change at the last observation placed that has been
// pending since before `before` (state-settle-seconds ago) is settled: time moves one
// microsecond past it, so only another observation at exactly that time would come too
// late (superseded) — an adapter that reports EXECUTION only when it changes would
// otherwise leave a stop unsettled, so no downtime to list or give a reason to, until its
// next sample. Recorded withdrawals are due as held observations are, by their time
// (what they change settles in a later round). nullopt when nothing is due.
std::optional<MachineBatch> SettleBatch(const TrackerState& state, absl::Time before,
                                        absl::Time release_before);

// SettleBatch for a tracker a batch just moved, `before` InfinitePast meaning never
// (IngestAudit::settle_before).
std::optional<MachineBatch> SettleDue(const TrackerState& state, absl::Time before,
                                      absl::Time release_before);

// Feeds a tracker resumed from `state` the observations it held and `batch`'s and the
// withdrawals it recorded, in time order (held ones first at equal times, a withdrawal
// before an observation of its time), up to the earlier of batch.newest and
// batch.release_before, and keeps the rest waiting (the oldest observations beyond
// kMaxHeldObservations placed too); then advances time to that point.
// Appends what settles to `*changes` and counts the late observations there.
TrackerState AdvanceTracker(const TrackerState& state, const MachineBatch& batch,
                            StateChanges* changes);

// A downtime as stored and served.
struct Downtime {
  int64_t id = 0;  // the store's; shown as decimal text
  std::string machine_id;
  MachineState state = MachineState::kUnspecified;  // kStopped or kDown
  absl::Time start;
  std::optional<absl::Time> end;  // unset while it lasts
  std::string reason_code;        // "" until given
  std::string comment;
  std::string reason_set_by;  // the identity that gave the reason
  std::optional<absl::Time> reason_set_time;
};

// DowntimeChangeType's numbers: 1-3 are DowntimeChange's, then a reason given.
inline constexpr int kDowntimeReasonSet = 4;

// The stored downtime a batch's DowntimeEvents lead to, per (machine, start), in the
// order first seen: state and end after the last event (reason fields empty: the store
// keeps what it has).
std::vector<Downtime> DowntimesAfter(const std::string& machine_id,
                                     const std::vector<DowntimeEvent>& events);

// ---- ListStateIntervals, GetUtilization ----

inline constexpr int kDefaultStatePageSize = 100;
inline constexpr int kMaxStatePageSize = 1000;
inline constexpr absl::Duration kMaxUtilizationRange = absl::Hours(24 * 366);

struct StateIntervalQuery {
  std::string machine_id;
  absl::Time start_time;  // inclusive
  absl::Time end_time;    // exclusive
  int page_size = kDefaultStatePageSize;
  std::optional<runtime::PageCursor> after;  // (unclipped start, 0) of the last one seen
};
// INVALID_ARGUMENT naming machine_id, start_time, end_time, page_size or page_token.
absl::StatusOr<StateIntervalQuery> MakeStateIntervalQuery(const std::string& machine_id,
                                                          std::optional<absl::Time> start_time,
                                                          std::optional<absl::Time> end_time,
                                                          int32_t page_size,
                                                          const std::string& page_token);

// What the store reads, in one snapshot: the machine's closed intervals that overlap a
// range (after a cursor, oldest first; for a page at most page_size + 1 of them) and its
// tracker.
struct TimelineFacts {
  std::vector<StateInterval> closed;
  std::optional<TrackerState> tracker;  // nullopt: no state sample yet
};

// One listed interval: clipped to the range; `start` is the unclipped start (the page
// cursor); `current` for the state the machine is in now.
struct ListedInterval {
  StateInterval interval;
  absl::Time start;
  bool current = false;
};
struct StateIntervalPage {
  std::vector<ListedInterval> intervals;
  bool more = false;
};

// The timeline after the closed intervals: the tracker's unsettled intervals (after the
// withdrawals it recorded and the observations it holds, which may close some first),
// the current one ending at `now` (never before it starts). Empty without a tracker.
std::vector<StateInterval> OpenTimeline(const std::optional<TrackerState>& tracker, absl::Time now);

// A page of the timeline: the closed intervals of `facts`, then, once the closed ones are
// exhausted, the open timeline at `now`, each overlapping the range and clipped to it.
StateIntervalPage TimelinePage(const StateIntervalQuery& query, const TimelineFacts& facts,
                               absl::Time now);
std::string NextStateIntervalPageToken(const StateIntervalQuery& query, const ListedInterval& last);

// GetUtilization's range: INVALID_ARGUMENT naming machine_id, start_time or end_time
// (missing, not after start_time, longer than 366 days).
absl::Status CheckUtilizationRange(const std::string& machine_id,
                                   std::optional<absl::Time> start_time,
                                   std::optional<absl::Time> end_time);

// One page of a machine's timeline as TelemetryStore::StateTimeline reads it over the
// query's range: closed intervals starting after `after_start` (if set), at most `limit`,
// and the tracker, in one snapshot.
using TimelinePageReader =
    std::function<absl::StatusOr<TimelineFacts>(std::optional<absl::Time> after_start, int limit)>;
inline constexpr int kUtilizationPageSize = 10000;

// Time per state in [start, end): every closed interval overlapping it, read `page_size` at
// a time (a year of a machine that changes state every few seconds never sits in memory),
// then the open timeline at `now` from the last page's tracker (time after now counts as
// UNAVAILABLE, as time before the first state). The last page's snapshot holds every
// interval closed after the earlier pages were read, so the sum is of one timeline.
absl::StatusOr<std::map<MachineState, absl::Duration>> UtilizationOf(
    const TimelinePageReader& read, absl::Time start, absl::Time end, absl::Time now,
    int page_size = kUtilizationPageSize);

// Parts made in [start, end) over several PART_COUNT items, each counted on its own
// (PartCounter: each item's observations oldest first, its baseline before `start` first),
// folded as the store streams them.
class PartCountSum {
 public:
  // Errors: INVALID_ARGUMENT (field `end_time`) if end is not after start.
  static absl::StatusOr<PartCountSum> ForRange(absl::Time start, absl::Time end);
  void Add(const std::string& item, const PartCountObservation& observation);
  int64_t parts() const;  // saturates at int64's maximum
  // The parts as GetUtilization answers them: OUT_OF_RANGE when they pass int64's maximum
  // (outside testing: 1,100 rises of 2^53 were answered 2^63-1, a plausible wrong count).
  absl::StatusOr<int64_t> PartCount() const;

 private:
  explicit PartCountSum(PartCounter counter) : empty_(counter) {}
  // The parts (saturated) and whether they passed int64's maximum.
  std::pair<int64_t, bool> Sum() const;
  PartCounter empty_;  // the counter each new item starts from
  std::map<std::string, PartCounter> by_item_;
};

// A PART_COUNT sample as a count: a number, Unavailable, or text of a count (ParsePartCountText);
// nullopt for anything else.
std::optional<PartCountObservation> PartCountObservationOf(const Sample& sample);

// ---- ListDowntimes, SetDowntimeReason ----

inline constexpr int kDefaultDowntimePageSize = 100;
inline constexpr int kMaxDowntimePageSize = 1000;
inline constexpr int kMaxDowntimeCommentChars = 4000;

struct DowntimeQuery {
  std::string machine_id;                // "" = any
  std::optional<absl::Time> start_time;  // began at or after
  std::optional<absl::Time> end_time;    // began before
  bool without_reason = false;
  int page_size = kDefaultDowntimePageSize;
  std::optional<runtime::PageCursor> after;  // (start, id) of the last one seen; newest first
};
absl::StatusOr<DowntimeQuery> MakeDowntimeQuery(const std::string& machine_id,
                                                std::optional<absl::Time> start_time,
                                                std::optional<absl::Time> end_time,
                                                bool without_reason, int32_t page_size,
                                                const std::string& page_token);
std::string NextDowntimePageToken(const DowntimeQuery& query, const Downtime& last);

// Newest first: by start descending, then id descending. True when `a` lists before `b`.
bool ListsBefore(const Downtime& a, const Downtime& b);
// Whether `d` passes the query's filters and comes after its cursor.
bool Matches(const DowntimeQuery& query, const Downtime& d);

// The reason an operator gives.
struct DowntimeReason {
  std::string reason_code;
  std::string comment;
};
// The downtime id of a request; unless a positive decimal, a violation of field `id`
// and nullopt.
std::optional<int64_t> ParseDowntimeId(const std::string& id, runtime::Violations& violations);
// Beyond the contract's text rules: reason_code required (a violation of `reason_code`).
void CheckDowntimeReason(const DowntimeReason& reason, runtime::Violations& violations);
// `current` with the reason given by `who` at `now`.
Downtime WithReason(const Downtime& current, const DowntimeReason& reason, const std::string& who,
                    absl::Time now);

}  // namespace plantmesh::telemetry
