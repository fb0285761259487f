#include "server/telemetry/machine_state.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/time_text.h"
#include "server/runtime/errors.h"
#include "server/telemetry/domain.h"

namespace plantmesh::telemetry {
namespace {

// Upper-case text without surrounding spaces; "" for values that are not text.
std::string NormalizedText(const ObservedValue& value) {
  const auto* text = std::get_if<std::string>(&value);
  if (text == nullptr) return "";
  return absl::AsciiStrToUpper(MatchedText(*text));
}

}  // namespace

absl::string_view MachineStateName(MachineState state) {
  switch (state) {
    case MachineState::kUnspecified:
      return "UNSPECIFIED";
    case MachineState::kRunning:
      return "RUNNING";
    case MachineState::kIdle:
      return "IDLE";
    case MachineState::kStopped:
      return "STOPPED";
    case MachineState::kDown:
      return "DOWN";
    case MachineState::kUnavailable:
      return "UNAVAILABLE";
  }
  return "UNSPECIFIED";
}

bool IsDowntimeState(MachineState state) {
  return state == MachineState::kDown || state == MachineState::kStopped;
}

namespace {

struct ExecutionValue {
  absl::string_view text;
  MachineState state;
};
constexpr ExecutionValue kExecutionValues[] = {
    {"ACTIVE", MachineState::kRunning},
    {"READY", MachineState::kIdle},
    {"WAIT", MachineState::kIdle},
    {"OPTIONAL_STOP", MachineState::kIdle},
    {"PROGRAM_OPTIONAL_STOP", MachineState::kIdle},
    {"PROGRAM_COMPLETED", MachineState::kIdle},
    {"STOPPED", MachineState::kStopped},
    {"FEED_HOLD", MachineState::kStopped},
    {"INTERRUPTED", MachineState::kStopped},
    {"PROGRAM_STOPPED", MachineState::kStopped},
};

}  // namespace

MachineState ExecutionState(const ObservedValue& value) {
  const std::string text = NormalizedText(value);
  for (const ExecutionValue& v : kExecutionValues) {
    if (text == v.text) return v.state;
  }
  return MachineState::kUnavailable;
}

const std::vector<absl::string_view>& StateTextValues(StateInput input) {
  // Made once: ingest looks them up for every state sample.
  static const auto* const kExecution = [] {
    auto* words = new std::vector<absl::string_view>;
    for (const ExecutionValue& v : kExecutionValues) words->push_back(v.text);
    return words;
  }();
  static const auto* const kAvailability =
      new std::vector<absl::string_view>{"AVAILABLE", "UNAVAILABLE"};
  static const auto* const kEmergencyStop =
      new std::vector<absl::string_view>{"ARMED", "TRIGGERED"};
  static const auto* const kNone = new std::vector<absl::string_view>;
  switch (input) {
    case StateInput::kExecution:
      return *kExecution;
    case StateInput::kAvailability:
      return *kAvailability;
    case StateInput::kEmergencyStop:
      return *kEmergencyStop;
    case StateInput::kCondition:
      break;
  }
  return *kNone;
}

bool operator==(const TrackerState& a, const TrackerState& b) {
  return a.execution == b.execution && a.execution_time == b.execution_time &&
         a.availability == b.availability && a.availability_time == b.availability_time &&
         a.emergency_stop == b.emergency_stop && a.emergency_stop_time == b.emergency_stop_time &&
         a.conditions == b.conditions && a.last_time == b.last_time &&
         a.settled_state == b.settled_state && a.settled_since == b.settled_since &&
         a.in_downtime == b.in_downtime && a.downtime_state == b.downtime_state &&
         a.downtime_start == b.downtime_start && a.withdrawals == b.withdrawals && a.held == b.held;
}

MachineState MachineStateTracker::Derive() const {
  if (state_.availability == TrackerState::Availability::kUnavailable) {
    return MachineState::kUnavailable;
  }
  bool fault = state_.emergency_stop == TrackerState::EmergencyStop::kTriggered;
  for (const auto& [id, item] : state_.conditions) {
    fault = fault || item.overflow || !item.fault_codes.empty();
  }
  if (fault) return MachineState::kDown;
  if (state_.execution == MachineState::kUnspecified) return MachineState::kUnavailable;
  return state_.execution;
}

StateInterval MachineStateTracker::Current() const {
  if (state_.last_time == absl::InfinitePast()) {
    return {MachineState::kUnspecified, absl::InfinitePast(), absl::InfiniteFuture()};
  }
  const MachineState now = Derive();
  return {now, now == state_.settled_state ? state_.settled_since : state_.last_time,
          absl::InfiniteFuture()};
}

std::vector<StateInterval> MachineStateTracker::Unsettled() const {
  std::vector<StateInterval> intervals;
  if (state_.last_time == absl::InfinitePast()) return intervals;
  const StateInterval current = Current();
  if (current.start != state_.settled_since && state_.settled_state != MachineState::kUnspecified) {
    intervals.push_back({state_.settled_state, state_.settled_since, current.start});
  }
  intervals.push_back(current);
  return intervals;
}

bool MachineStateTracker::Apply(const StateObservation& observation) {
  const absl::Time t = std::max(observation.time, observation.ahead_time);
  const ObservedValue& value = observation.value;
  switch (observation.input) {
    case StateInput::kExecution:
      if (t < state_.execution_time) return false;
      state_.execution_time = t;
      state_.execution = ExecutionState(value);
      return true;
    case StateInput::kAvailability:
      if (t < state_.availability_time) return false;
      state_.availability_time = t;
      state_.availability = NormalizedText(value) == "AVAILABLE"
                                ? TrackerState::Availability::kAvailable
                                : TrackerState::Availability::kUnavailable;
      return true;
    case StateInput::kEmergencyStop: {
      if (t < state_.emergency_stop_time) return false;
      state_.emergency_stop_time = t;
      const std::string text = NormalizedText(value);
      state_.emergency_stop = text == "TRIGGERED" ? TrackerState::EmergencyStop::kTriggered
                              : text == "ARMED"   ? TrackerState::EmergencyStop::kArmed
                                                  : TrackerState::EmergencyStop::kUnknown;
      return true;
    }
    case StateInput::kCondition: {
      TrackerState::ConditionItem& item = state_.conditions[observation.data_item_id];
      if (t < item.time) return false;
      item.time = t;
      ConditionValue condition;
      if (const auto* c = std::get_if<ConditionValue>(&value)) {
        condition = *c;
      } else {
        // SHDR sends condition levels as text; anything else says nothing about faults.
        const std::string text = NormalizedText(value);
        condition.level = text == "FAULT"     ? ConditionLevel::kFault
                          : text == "WARNING" ? ConditionLevel::kWarning
                          : text == "NORMAL"  ? ConditionLevel::kNormal
                                              : ConditionLevel::kUnspecified;
      }
      switch (condition.level) {
        case ConditionLevel::kFault:
          if (item.fault_codes.count(condition.native_code) > 0) break;
          if (item.fault_codes.size() < kMaxFaultCodesPerItem) {
            item.fault_codes.insert(condition.native_code);
          } else {
            item.overflow = true;
          }
          break;
        case ConditionLevel::kWarning:
          item.fault_codes.erase(condition.native_code);
          break;
        case ConditionLevel::kNormal:
          if (!condition.native_code.empty()) {
            item.fault_codes.erase(condition.native_code);
            break;
          }
          [[fallthrough]];
        case ConditionLevel::kUnspecified:
          item.fault_codes.clear();
          item.overflow = false;
          break;
      }
      // The item stays in the map even with nothing active: its time still decides which
      // later-arriving observation is superseded. The map is bounded by the machine's items.
      return true;
    }
  }
  return false;
}

void MachineStateTracker::Settle(absl::Time time, StateChanges* changes) {
  const absl::Time at = state_.last_time;
  const MachineState now = Derive();
  if (now != state_.settled_state) {
    if (state_.settled_state != MachineState::kUnspecified && state_.settled_since < at) {
      changes->closed_intervals.push_back({state_.settled_state, state_.settled_since, at});
    }
    const bool is_downtime = IsDowntimeState(now);
    if (!state_.in_downtime && is_downtime) {
      state_.in_downtime = true;
      state_.downtime_state = now;
      state_.downtime_start = at;
      changes->downtime_events.push_back(
          {DowntimeChange::kStarted, now, at, absl::InfiniteFuture(), at});
    } else if (state_.in_downtime && is_downtime) {
      if (now == MachineState::kDown && state_.downtime_state != MachineState::kDown) {
        state_.downtime_state = MachineState::kDown;
        changes->downtime_events.push_back({DowntimeChange::kEscalated, MachineState::kDown,
                                            state_.downtime_start, absl::InfiniteFuture(), at});
      }
    } else if (state_.in_downtime && !is_downtime) {
      changes->downtime_events.push_back(
          {DowntimeChange::kEnded, state_.downtime_state, state_.downtime_start, at, at});
      state_.in_downtime = false;
      state_.downtime_state = MachineState::kUnspecified;
      state_.downtime_start = absl::InfinitePast();
    }
    state_.settled_state = now;
    state_.settled_since = at;
  }
  state_.last_time = time;
}

ObservationOutcome MachineStateTracker::Observe(const StateObservation& observation,
                                                StateChanges* changes) {
  const absl::Time t = observation.time;
  if (state_.last_time == absl::InfinitePast()) {
    // The first observation starts the timeline; nothing is known before it.
    state_.last_time = t;
    state_.settled_since = t;
  } else if (t > state_.last_time) {
    Settle(t, changes);
  }
  if (!Apply(observation)) return ObservationOutcome::kSuperseded;
  return t < state_.last_time ? ObservationOutcome::kAppliedLate : ObservationOutcome::kApplied;
}

void MachineStateTracker::ClearInput(const InputWithdrawal& withdrawal) {
  switch (withdrawal.input) {
    case StateInput::kExecution:
      state_.execution = MachineState::kUnspecified;
      state_.execution_time = std::max(state_.execution_time, withdrawal.time);
      break;
    case StateInput::kAvailability:
      state_.availability = TrackerState::Availability::kUnknown;
      state_.availability_time = std::max(state_.availability_time, withdrawal.time);
      break;
    case StateInput::kEmergencyStop:
      state_.emergency_stop = TrackerState::EmergencyStop::kUnknown;
      state_.emergency_stop_time = std::max(state_.emergency_stop_time, withdrawal.time);
      break;
    case StateInput::kCondition: {
      // Kept, empty, for its time: a sample of a re-added item from before is superseded.
      TrackerState::ConditionItem& item = state_.conditions[withdrawal.data_item_id];
      item.fault_codes.clear();
      item.overflow = false;
      item.time = std::max(item.time, withdrawal.time);
      break;
    }
  }
}

void MachineStateTracker::Withdraw(const InputWithdrawal& withdrawal, StateChanges* changes) {
  if (state_.last_time == absl::InfinitePast()) return;
  MachineStateTracker cleared(state_);
  cleared.ClearInput(withdrawal);
  // Time moves only for a change: a withdrawal that changes nothing leaves later samples of
  // the other inputs, older than it, to apply at their own time.
  if (cleared.Derive() != Derive() && withdrawal.time > state_.last_time) {
    Settle(withdrawal.time, changes);
  }
  ClearInput(withdrawal);
}

void MachineStateTracker::AdvanceTo(absl::Time time, StateChanges* changes) {
  if (state_.last_time == absl::InfinitePast() || time <= state_.last_time) return;
  Settle(time, changes);
}

std::vector<StateInterval> StateTimeline(const std::vector<StateObservation>& observations,
                                         StateChanges* changes) {
  StateChanges local;
  if (changes == nullptr) changes = &local;
  MachineStateTracker tracker;
  const size_t first_closed = changes->closed_intervals.size();
  for (const StateObservation& observation : observations) tracker.Observe(observation, changes);
  tracker.AdvanceTo(absl::InfiniteFuture(), changes);
  std::vector<StateInterval> timeline(
      changes->closed_intervals.begin() + static_cast<std::ptrdiff_t>(first_closed),
      changes->closed_intervals.end());
  for (const StateInterval& interval : tracker.Unsettled()) timeline.push_back(interval);
  return timeline;
}

absl::StatusOr<UtilizationSum> UtilizationSum::ForRange(absl::Time range_start,
                                                        absl::Time range_end) {
  if (range_end <= range_start) {
    return runtime::InvalidField("end_time", "must be after start_time");
  }
  return UtilizationSum(range_start, range_end);
}

UtilizationSum::UtilizationSum(absl::Time range_start, absl::Time range_end)
    : range_start_(range_start), range_end_(range_end), covered_until_(range_start) {
  for (MachineState state : kAllMachineStates) durations_[state] = absl::ZeroDuration();
}

absl::Status UtilizationSum::Add(const StateInterval& interval) {
  if (interval.end < interval.start) {
    return absl::InternalError(
        absl::StrCat("state interval ends before it starts at ", Rfc3339Utc(interval.start)));
  }
  if (interval.start < previous_end_) {
    return absl::InternalError(absl::StrCat("state intervals overlap or are out of order at ",
                                            Rfc3339Utc(interval.start)));
  }
  previous_end_ = interval.end;
  const absl::Time start = std::max(interval.start, range_start_);
  const absl::Time end = std::min(interval.end, range_end_);
  if (start >= end) return absl::OkStatus();
  durations_[MachineState::kUnavailable] += start - covered_until_;
  const MachineState state =
      durations_.count(interval.state) > 0 ? interval.state : MachineState::kUnavailable;
  durations_[state] += end - start;
  covered_until_ = end;
  return absl::OkStatus();
}

std::map<MachineState, absl::Duration> UtilizationSum::Total() const {
  std::map<MachineState, absl::Duration> total = durations_;
  total[MachineState::kUnavailable] += range_end_ - covered_until_;
  return total;
}

absl::StatusOr<PartCounter> PartCounter::ForRange(absl::Time range_start, absl::Time range_end) {
  if (range_end <= range_start) {
    return runtime::InvalidField("end_time", "must be after start_time");
  }
  return PartCounter(range_start, range_end);
}

bool IsPartCount(const PartCountObservation& o) {
  // Whole numbers only, as ingest takes for PART_COUNT: a value stored before its item
  // became PART_COUNT may be anything (outside testing: 7.5 counted as parts, rounded).
  return o.available && std::isfinite(o.value) && o.value >= 0 && o.value <= kMaxPartCount &&
         std::trunc(o.value) == o.value;
}

void PartCounter::Add(const PartCountObservation& o) {
  if (o.time >= range_end_ || !IsPartCount(o)) return;
  const int64_t count = std::llround(o.value);
  if (have_baseline_ && o.time >= range_start_ && count > baseline_) {
    const int64_t rise = count - baseline_;
    saturated_ = saturated_ || parts_ > std::numeric_limits<int64_t>::max() - rise;
    parts_ = saturated_ ? std::numeric_limits<int64_t>::max() : parts_ + rise;
  }
  // A rise, a reset or a value before the range: counting goes on from this value.
  baseline_ = count;
  have_baseline_ = true;
}

}  // namespace plantmesh::telemetry
