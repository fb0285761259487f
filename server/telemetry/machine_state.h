// Machine states of the telemetry service, free of gRPC, protobuf and SQL: the state a
// machine is in, derived from its EXECUTION, AVAILABILITY, EMERGENCY_STOP and CONDITION
// observations; the timeline and downtimes that follow; time per state and parts made in
// a range (GetUtilization). Time is always passed in.
//
// The rules (plantmesh.telemetry.v1.MachineState), first match wins:
//   1. AVAILABILITY is anything but AVAILABLE (UNAVAILABLE, the Unavailable value, other
//      text): UNAVAILABLE. The machine says its data is not valid, so a FAULT or a
//      TRIGGERED e-stop remembered from before is stale. A machine that never reported
//      AVAILABILITY counts as available (Modbus I/O modules have no such item).
//   2. A CONDITION item with an active FAULT, or EMERGENCY_STOP TRIGGERED: DOWN.
//   3. EXECUTION ACTIVE: RUNNING; READY, WAIT, OPTIONAL_STOP, PROGRAM_OPTIONAL_STOP (the
//      newer MTConnect name), PROGRAM_COMPLETED: IDLE; STOPPED, FEED_HOLD, INTERRUPTED,
//      PROGRAM_STOPPED: STOPPED.
//   4. Otherwise (no EXECUTION yet, Unavailable, unrecognised text, a number):
//      UNAVAILABLE — the state is not known.
// Text is compared without case and surrounding spaces; the text `UNAVAILABLE` counts as
// the Unavailable value (SHDR adapters send it as text).
//
// Conditions are tracked per CONDITION data item and native code, as MTConnect does: FAULT
// with a code activates it; NORMAL or WARNING with the same code clears it; NORMAL without
// a code, Unavailable, or an unrecognised value clears every fault of the item. At most
// kMaxFaultCodesPerItem codes are remembered per item; further FAULT codes set one overflow
// fault that only a clear-all ends (so the state stays DOWN rather than forgetting one).
// EXECUTION, AVAILABILITY and EMERGENCY_STOP are one value each per machine: feed one data
// item of each type (the newest observation of any item of the type wins).
//
// An input the machine no longer has (UpdateMachine removed or retyped its last item of the
// type, or the CONDITION item) is withdrawn: from the update on it has no value, as if it
// had never reported (so a removed CONDITION item's FAULT no longer holds the machine DOWN),
// and a value observed before the update (a re-added item's buffered sample) never counts.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace plantmesh::telemetry {

// Numbers match plantmesh.telemetry.v1.MachineState (stored as such).
enum class MachineState : int {
  kUnspecified = 0,
  kRunning = 1,
  kIdle = 2,
  kStopped = 3,
  kDown = 4,
  kUnavailable = 5,
};
inline constexpr MachineState kAllMachineStates[] = {MachineState::kRunning, MachineState::kIdle,
                                                     MachineState::kStopped, MachineState::kDown,
                                                     MachineState::kUnavailable};
absl::string_view MachineStateName(MachineState state);  // "RUNNING"

// True for the states that make a downtime: DOWN and STOPPED.
bool IsDowntimeState(MachineState state);

// Numbers match plantmesh.telemetry.v1.ConditionLevel.
enum class ConditionLevel : int { kUnspecified = 0, kNormal = 1, kWarning = 2, kFault = 3 };

// The data item types a state is derived from.
enum class StateInput : int {
  kExecution = 1,
  kAvailability = 2,
  kEmergencyStop = 3,
  kCondition = 4
};

// A CONDITION value.
struct ConditionValue {
  ConditionLevel level = ConditionLevel::kUnspecified;
  std::string native_code;  // the controller's alarm code, e.g. `SV0401`; may be empty
  friend bool operator==(const ConditionValue& a, const ConditionValue& b) {
    return a.level == b.level && a.native_code == b.native_code;
  }
};

// MTConnect's UNAVAILABLE: no valid value.
struct UnavailableValue {
  friend bool operator==(const UnavailableValue&, const UnavailableValue&) { return true; }
};

// A sample's value: text, number, condition or Unavailable (the Sample.value oneof).
using ObservedValue = std::variant<std::string, double, ConditionValue, UnavailableValue>;

// One observation of a data item the state is derived from.
struct StateObservation {
  absl::Time time;  // the source's timestamp, at most the server's clock (states.h)
  StateInput input = StateInput::kExecution;
  std::string data_item_id;  // conditions are tracked per item; ignored for the others
  ObservedValue value;
  // The source's own timestamp when `time` is the server's clock instead (a source clock
  // running ahead); InfinitePast otherwise. Which of two values of one input is the newer
  // is judged by the source's times: outside testing, STOPPED stamped 60 s ahead, then
  // READY stamped 5 s ahead (older, arriving later) left the machine IDLE for good.
  absl::Time ahead_time = absl::InfinitePast();
  friend bool operator==(const StateObservation& a, const StateObservation& b) {
    return a.time == b.time && a.input == b.input && a.data_item_id == b.data_item_id &&
           a.value == b.value && a.ahead_time == b.ahead_time;
  }
};

// What one EXECUTION value means: RUNNING, IDLE, STOPPED or UNAVAILABLE (rule 3 and 4).
MachineState ExecutionState(const ObservedValue& value);

// The text values an input of type EXECUTION, AVAILABILITY or EMERGENCY_STOP takes, as
// MTConnect names them (upper case; matched without case and surrounding spaces; the
// text UNAVAILABLE besides). Empty for CONDITION, whose values are levels. Ingest refuses
// other text (outside testing: EXECUTION `RUNNING` and a typo made the machine
// UNAVAILABLE, an e-stop `PRESSED` left it RUNNING, all stored without a word).
const std::vector<absl::string_view>& StateTextValues(StateInput input);

// An input withdrawn at `time`: the machine no longer has it (the rules above).
struct InputWithdrawal {
  absl::Time time;  // of the update that withdrew it, by the server's clock
  StateInput input = StateInput::kExecution;
  std::string data_item_id;  // the CONDITION item; empty for the others
  friend bool operator==(const InputWithdrawal& a, const InputWithdrawal& b) {
    return a.time == b.time && a.input == b.input && a.data_item_id == b.data_item_id;
  }
};

// A span of one state: [start, end). `end` is absl::InfiniteFuture() while it lasts.
struct StateInterval {
  MachineState state = MachineState::kUnspecified;
  absl::Time start;
  absl::Time end = absl::InfiniteFuture();
  friend bool operator==(const StateInterval& a, const StateInterval& b) {
    return a.state == b.state && a.start == b.start && a.end == b.end;
  }
};

// A downtime is one unbroken stretch of DOWN and STOPPED: DOWN→STOPPED→DOWN is ONE
// downtime, because a fault is normally followed by the operator's reset (e-stop released,
// execution still STOPPED until the restart) and the operator explains the stop once. Its
// state is DOWN if any part of it was DOWN, else STOPPED. It is keyed by its start time.
enum class DowntimeChange : int {
  kStarted = 1,    // a new downtime began at `start` in `state`
  kEscalated = 2,  // a STOPPED downtime became DOWN (state is now kDown)
  kEnded = 3,      // it ended at `end`
};
struct DowntimeEvent {
  DowntimeChange change = DowntimeChange::kStarted;
  MachineState state = MachineState::kUnspecified;  // the downtime's state after the change
  absl::Time start;
  absl::Time end = absl::InfiniteFuture();  // set for kEnded
  // When the change happened: `start` for kStarted, `end` for kEnded, the start of the
  // DOWN interval for kEscalated.
  absl::Time change_time;
  friend bool operator==(const DowntimeEvent& a, const DowntimeEvent& b) {
    return a.change == b.change && a.state == b.state && a.start == b.start && a.end == b.end &&
           a.change_time == b.change_time;
  }
};

// What the tracker settled while taking observations, oldest first. Appended to, never
// cleared by the tracker.
struct StateChanges {
  std::vector<StateInterval> closed_intervals;
  std::vector<DowntimeEvent> downtime_events;
  // Observations older than the time the tracker had reached (kAppliedLate, kSuperseded):
  // the settled timeline does not show them at their own time.
  int late_observations = 0;
};

// What the tracker did with one observation.
enum class ObservationOutcome : int {
  kApplied = 1,  // at its own time
  // Older than the time the tracker has reached but newer than the last value of its own
  // input: applied at the tracker's time (the timeline already settled is never rewritten).
  kAppliedLate = 2,
  // Older than (not equal to) the last value of its own input: ignored, a newer value is known.
  kSuperseded = 3,
};

inline constexpr size_t kMaxFaultCodesPerItem = 32;

// Everything the tracker remembers; small (a few values, the active fault codes), so the
// ingest path persists it between batches (tracker_state_codec.h) and resumes from it.
struct TrackerState {
  enum class Availability : int { kUnknown = 0, kAvailable = 1, kUnavailable = 2 };
  enum class EmergencyStop : int { kUnknown = 0, kArmed = 1, kTriggered = 2 };
  struct ConditionItem {
    absl::Time time = absl::InfinitePast();  // of its last observation
    std::set<std::string> fault_codes;       // active FAULTs by native code ("" = no code)
    bool overflow = false;                   // a FAULT beyond kMaxFaultCodesPerItem codes
    friend bool operator==(const ConditionItem& a, const ConditionItem& b) {
      return a.time == b.time && a.fault_codes == b.fault_codes && a.overflow == b.overflow;
    }
  };

  // Inputs: the newest value of each and the source time it was observed at.
  MachineState execution = MachineState::kUnspecified;  // kUnspecified: none yet
  absl::Time execution_time = absl::InfinitePast();
  Availability availability = Availability::kUnknown;
  absl::Time availability_time = absl::InfinitePast();
  EmergencyStop emergency_stop = EmergencyStop::kUnknown;
  absl::Time emergency_stop_time = absl::InfinitePast();
  std::map<std::string, ConditionItem> conditions;  // by data item id

  // The timeline. Before the first observation last_time is InfinitePast and
  // settled_state kUnspecified. Settled: settled_state on [settled_since, last_time); the
  // state at last_time itself follows from the inputs and stays provisional until time
  // moves past it (another observation at last_time may still change it).
  absl::Time last_time = absl::InfinitePast();
  MachineState settled_state = MachineState::kUnspecified;
  absl::Time settled_since = absl::InfinitePast();

  // The downtime in progress (settled), if any.
  bool in_downtime = false;
  MachineState downtime_state = MachineState::kUnspecified;
  absl::Time downtime_start = absl::InfinitePast();

  // Withdrawals recorded with the update that made them and not applied yet (Withdraw):
  // the update's transaction cannot settle the timeline, the next move of the tracker
  // does (states.h, AdvanceTracker). At most one per input and CONDITION item.
  std::vector<InputWithdrawal> withdrawals;

  // Observations that arrived but wait for the reorder window before the tracker takes
  // them (states.h, AdvanceTracker), oldest first; the tracker itself never reads them.
  std::vector<StateObservation> held;

  friend bool operator==(const TrackerState& a, const TrackerState& b);
};

// Derives one machine's state timeline incrementally, observation by observation.
//
// Order and time: observations are expected oldest first. Equal timestamps are applied in
// the order given (the last one wins) and a state that lasts zero time is never emitted: a
// change at time t is only settled — its interval closed, its downtime event emitted — when
// time moves past t (a later observation or AdvanceTo). So a batch ending at t and the next
// starting at t still give one clean timeline. An observation older than the time reached
// is applied at that time (kAppliedLate) unless its own input already has a newer value
// (kSuperseded, ignored): late data fixes the current state but never rewrites settled
// history. Not thread-safe; one tracker per machine.
class MachineStateTracker {
 public:
  MachineStateTracker() = default;
  explicit MachineStateTracker(TrackerState state) : state_(std::move(state)) {}

  // Takes one observation; appends what it settles to `*changes`.
  ObservationOutcome Observe(const StateObservation& observation, StateChanges* changes);

  // Declares that time has reached `time` with no change of the inputs (e.g. the newest
  // sample of any data item of the machine in a batch), so a change at an earlier time
  // settles now rather than at the next state observation. Later observations older than
  // `time` count as late. No effect before the first observation or for a past time.
  void AdvanceTo(absl::Time time, StateChanges* changes);

  // Takes a withdrawal: the input has no value (EXECUTION none yet, AVAILABILITY and
  // EMERGENCY_STOP unknown, the CONDITION item's faults forgotten) and its time becomes the
  // withdrawal's, so a value observed before it (a re-added item's buffered sample) is
  // superseded. When that changes the state, time first moves to the withdrawal's (settling
  // what came before, as AdvanceTo); otherwise time stays, so older samples of the other
  // inputs still apply at their own time. No effect before the first observation.
  void Withdraw(const InputWithdrawal& withdrawal, StateChanges* changes);

  // The state now, provisional at last_time(): state and since when; end InfiniteFuture.
  // kUnspecified before the first observation.
  StateInterval Current() const;
  // The timeline after the last closed interval, for a reader that wants it complete now:
  // the settled state up to last_time() if the state changed at last_time(), then
  // Current(). Empty before the first observation.
  std::vector<StateInterval> Unsettled() const;
  // The state the inputs give now (rules 1-4).
  MachineState Derive() const;
  absl::Time last_time() const { return state_.last_time; }

  const TrackerState& state() const { return state_; }

 private:
  // Moves time to `time` (> last_time), settling the provisional state at last_time.
  void Settle(absl::Time time, StateChanges* changes);
  // Applies a value to its input; false when a newer value of the input is known.
  bool Apply(const StateObservation& observation);
  // Withdraw's change of the input alone.
  void ClearInput(const InputWithdrawal& withdrawal);

  TrackerState state_;
};

// The whole timeline of a complete sequence, oldest first: a tracker fed every observation,
// then advanced past the last one so that every change settles (also the downtime events at
// the last time); the last interval is open (end InfiniteFuture).
std::vector<StateInterval> StateTimeline(const std::vector<StateObservation>& observations,
                                         StateChanges* changes = nullptr);

// Time in each state within [range_start, range_end), summed interval by interval so a
// long range never needs its whole timeline in memory. Intervals come oldest first, not
// overlapping (an end of InfiniteFuture lasts to the range end). Time not covered by an
// interval — before the first, in a gap, after the last — counts as UNAVAILABLE, so the
// durations always sum to range_end - range_start.
class UtilizationSum {
 public:
  // Errors: INVALID_ARGUMENT (field `end_time`) if range_end is not after range_start.
  static absl::StatusOr<UtilizationSum> ForRange(absl::Time range_start, absl::Time range_end);
  // INTERNAL if the interval is out of order, overlaps the one before or ends before it
  // starts (a store fault).
  absl::Status Add(const StateInterval& interval);
  // Every state of kAllMachineStates has an entry.
  std::map<MachineState, absl::Duration> Total() const;

 private:
  UtilizationSum(absl::Time range_start, absl::Time range_end);
  absl::Time range_start_, range_end_;
  std::map<MachineState, absl::Duration> durations_;
  absl::Time covered_until_;                        // everything before it is counted
  absl::Time previous_end_ = absl::InfinitePast();  // of the last interval added
};

// One PART_COUNT observation: a number, or no value (Unavailable).
struct PartCountObservation {
  absl::Time time;
  bool available = true;
  double value = 0;
};

// True for an observation PartCounter counts: available, a whole number 0 to 2^53.
bool IsPartCount(const PartCountObservation& observation);

// Parts made in [range_start, range_end) by one PART_COUNT item: the growth of its count,
// folded observation by observation (oldest first; equal timestamps in their order). The
// baseline is the last value before range_start (observations before the range serve only
// as baseline), else the first value in the range. Each rise adds its size; a drop is a
// reset and counting restarts from the new value (the drop adds nothing). Unavailable
// values are skipped (a machine switched off keeps its count), and so are values that are
// not whole, negative, not finite or above 2^53 (not counts). Observations at or after range_end
// are ignored. The sum saturates at int64's maximum (saturated() then says so).
class PartCounter {
 public:
  // Errors: INVALID_ARGUMENT (field `end_time`) if range_end is not after range_start.
  static absl::StatusOr<PartCounter> ForRange(absl::Time range_start, absl::Time range_end);
  void Add(const PartCountObservation& observation);
  int64_t parts() const { return parts_; }
  bool saturated() const { return saturated_; }

 private:
  PartCounter(absl::Time range_start, absl::Time range_end)
      : range_start_(range_start), range_end_(range_end) {}
  absl::Time range_start_, range_end_;
  bool have_baseline_ = false;
  int64_t baseline_ = 0;
  int64_t parts_ = 0;
  bool saturated_ = false;
};

}  // namespace plantmesh::telemetry
