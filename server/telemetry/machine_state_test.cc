#include "server/telemetry/machine_state.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/telemetry/tracker_state_codec.h"

namespace plantmesh::telemetry {

// Readable failures: "RUNNING [2026-03-02T06:00:00+00:00, 2026-03-02T06:41:10+00:00)".
void PrintTo(const StateInterval& i, std::ostream* os) {
  *os << MachineStateName(i.state) << " [" << absl::FormatTime(i.start) << ", "
      << (i.end == absl::InfiniteFuture() ? "open" : absl::FormatTime(i.end)) << ")";
}
void PrintTo(const DowntimeEvent& e, std::ostream* os) {
  *os << "downtime change " << static_cast<int>(e.change) << " " << MachineStateName(e.state)
      << " start " << absl::FormatTime(e.start) << " end " << absl::FormatTime(e.end) << " at "
      << absl::FormatTime(e.change_time);
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr MachineState kRunning = MachineState::kRunning;
constexpr MachineState kIdle = MachineState::kIdle;
constexpr MachineState kStopped = MachineState::kStopped;
constexpr MachineState kDown = MachineState::kDown;
constexpr MachineState kUnavailable = MachineState::kUnavailable;
const absl::Time kOpen = absl::InfiniteFuture();

// "2026-03-02 06:41:10" in UTC. A bare "06:41:10" is on Monday 2026-03-02.
absl::Time At(const std::string& text) {
  const std::string full = text.size() == 8 ? "2026-03-02 " + text : text;
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime("%Y-%m-%d %H:%M:%S", full, absl::UTCTimeZone(), &t, &error))
      << full << ": " << error;
  return t;
}

StateObservation Exec(const std::string& time, ObservedValue value) {
  return {At(time), StateInput::kExecution, "exec", std::move(value)};
}
StateObservation Avail(const std::string& time, ObservedValue value) {
  return {At(time), StateInput::kAvailability, "avail", std::move(value)};
}
StateObservation EStop(const std::string& time, ObservedValue value) {
  return {At(time), StateInput::kEmergencyStop, "estop", std::move(value)};
}
StateObservation Cond(const std::string& time, const std::string& item, ConditionLevel level,
                      const std::string& code = "") {
  return {At(time), StateInput::kCondition, item, ConditionValue{level, code}};
}
constexpr ConditionLevel kFault = ConditionLevel::kFault;
constexpr ConditionLevel kWarning = ConditionLevel::kWarning;
constexpr ConditionLevel kNormal = ConditionLevel::kNormal;

StateInterval Iv(MachineState state, const std::string& start, const std::string& end) {
  return {state, At(start), end.empty() ? kOpen : At(end)};
}
DowntimeEvent Started(MachineState state, const std::string& start) {
  return {DowntimeChange::kStarted, state, At(start), kOpen, At(start)};
}
DowntimeEvent Escalated(const std::string& start, const std::string& at) {
  return {DowntimeChange::kEscalated, kDown, At(start), kOpen, At(at)};
}
DowntimeEvent Ended(MachineState state, const std::string& start, const std::string& end) {
  return {DowntimeChange::kEnded, state, At(start), At(end), At(end)};
}

// A morning on a Fanuc lathe as its MTConnect agent reported it.
std::vector<StateObservation> RecordedShift() {
  return {
      Avail("05:58:00", "AVAILABLE"),  // execution not known yet: UNAVAILABLE, for no time
      Exec("05:58:00", "READY"),       // same time: IDLE from 05:58:00
      Exec("06:00:00", "ACTIVE"),
      Exec("06:41:10", "FEED_HOLD"),  // operator checks a part: downtime 1 (STOPPED)
      Exec("06:43:00", "ACTIVE"),
      Cond("07:15:30", "servo", kFault, "SV0401"),  // servo alarm: downtime 2 (DOWN)
      Exec("07:15:31", "INTERRUPTED"),              // still DOWN
      Cond("07:22:00", "servo", kNormal),           // alarm reset, program still interrupted
      Exec("07:24:00", "READY"),                    // downtime 2 ends (one downtime, DOWN)
      Exec("07:25:00", "ACTIVE"),
      EStop("09:00:00", "TRIGGERED"),  // downtime 3
      Exec("09:00:00", "STOPPED"),
      EStop("09:03:00", "ARMED"),  // STOPPED until the restart
      Exec("09:04:00", "READY"),
      Avail("09:30:00", "UNAVAILABLE"),  // controller switched off
      Avail("09:45:00", "AVAILABLE"),    // back; execution still READY
      Exec("10:00:00", UnavailableValue{}),
      Exec("10:05:00", "ACTIVE"),
  };
}

TEST(MachineStateTest, RecordedShiftGivesTheHandWrittenTimelineAndDowntimes) {
  StateChanges changes;
  const std::vector<StateInterval> timeline = StateTimeline(RecordedShift(), &changes);
  EXPECT_THAT(
      timeline,
      ElementsAre(Iv(kIdle, "05:58:00", "06:00:00"), Iv(kRunning, "06:00:00", "06:41:10"),
                  Iv(kStopped, "06:41:10", "06:43:00"), Iv(kRunning, "06:43:00", "07:15:30"),
                  Iv(kDown, "07:15:30", "07:22:00"), Iv(kStopped, "07:22:00", "07:24:00"),
                  Iv(kIdle, "07:24:00", "07:25:00"), Iv(kRunning, "07:25:00", "09:00:00"),
                  Iv(kDown, "09:00:00", "09:03:00"), Iv(kStopped, "09:03:00", "09:04:00"),
                  Iv(kIdle, "09:04:00", "09:30:00"), Iv(kUnavailable, "09:30:00", "09:45:00"),
                  Iv(kIdle, "09:45:00", "10:00:00"), Iv(kUnavailable, "10:00:00", "10:05:00"),
                  Iv(kRunning, "10:05:00", "")));
  EXPECT_THAT(changes.downtime_events,
              ElementsAre(Started(kStopped, "06:41:10"), Ended(kStopped, "06:41:10", "06:43:00"),
                          Started(kDown, "07:15:30"), Ended(kDown, "07:15:30", "07:24:00"),
                          Started(kDown, "09:00:00"), Ended(kDown, "09:00:00", "09:04:00")));
}

TEST(MachineStateTest, FeedHoldThatTurnsIntoAnAlarmIsOneDowntimeEscalatedToDown) {
  StateChanges changes;
  const auto timeline = StateTimeline(
      {
          Exec("08:00:00", "ACTIVE"),
          Exec("08:10:00", "FEED_HOLD"),
          Cond("08:12:00", "spindle", kFault, "OT0500"),
          Cond("08:20:00", "spindle", kNormal, "OT0500"),
          Exec("08:21:00", "ACTIVE"),
      },
      &changes);
  EXPECT_THAT(timeline,
              ElementsAre(Iv(kRunning, "08:00:00", "08:10:00"),
                          Iv(kStopped, "08:10:00", "08:12:00"), Iv(kDown, "08:12:00", "08:20:00"),
                          Iv(kStopped, "08:20:00", "08:21:00"), Iv(kRunning, "08:21:00", "")));
  EXPECT_THAT(changes.downtime_events,
              ElementsAre(Started(kStopped, "08:10:00"), Escalated("08:10:00", "08:12:00"),
                          Ended(kDown, "08:10:00", "08:21:00")));
}

TEST(MachineStateTest, NightShiftAcrossMidnight) {
  StateChanges changes;
  const auto timeline = StateTimeline(
      {
          Exec("2026-03-02 21:30:00", "ACTIVE"),
          Exec("2026-03-02 23:50:00", "PROGRAM_COMPLETED"),
          Cond("2026-03-03 00:20:00", "system", kFault, "EX1001"),
          Cond("2026-03-03 01:05:00", "system", kNormal),
          Exec("2026-03-03 01:05:00", "ACTIVE"),
      },
      &changes);
  EXPECT_THAT(timeline, ElementsAre(Iv(kRunning, "2026-03-02 21:30:00", "2026-03-02 23:50:00"),
                                    Iv(kIdle, "2026-03-02 23:50:00", "2026-03-03 00:20:00"),
                                    Iv(kDown, "2026-03-03 00:20:00", "2026-03-03 01:05:00"),
                                    Iv(kRunning, "2026-03-03 01:05:00", "")));
  EXPECT_THAT(changes.downtime_events,
              ElementsAre(Started(kDown, "2026-03-03 00:20:00"),
                          Ended(kDown, "2026-03-03 00:20:00", "2026-03-03 01:05:00")));
}

TEST(MachineStateTest, ExecutionValues) {
  // Outside testing: "ACTIVE" and a no-break space was no state (UNAVAILABLE), while
  // " ACTIVE" was RUNNING; white space is the runtime's one rule (common::TrimInvisible).
  for (const char* v : {"ACTIVE", "active", " Active ", "ACTIVE\u00a0", "\u3000ACTIVE\u200b"})
    EXPECT_EQ(ExecutionState(v), kRunning) << v;
  for (const char* v :
       {"READY", "WAIT", "OPTIONAL_STOP", "PROGRAM_OPTIONAL_STOP", "PROGRAM_COMPLETED"}) {
    EXPECT_EQ(ExecutionState(v), kIdle) << v;
  }
  for (const char* v : {"STOPPED", "FEED_HOLD", "INTERRUPTED", "PROGRAM_STOPPED"}) {
    EXPECT_EQ(ExecutionState(v), kStopped) << v;
  }
  EXPECT_EQ(ExecutionState(UnavailableValue{}), kUnavailable);
  EXPECT_EQ(ExecutionState("UNAVAILABLE"), kUnavailable);
  EXPECT_EQ(ExecutionState("SOMETHING_NEW"), kUnavailable);
  EXPECT_EQ(ExecutionState(""), kUnavailable);
  EXPECT_EQ(ExecutionState(1.0), kUnavailable);
  EXPECT_EQ(ExecutionState(ConditionValue{kFault, ""}), kUnavailable);
}

MachineState StateAfter(const std::vector<StateObservation>& observations) {
  MachineStateTracker tracker;
  StateChanges changes;
  for (const auto& o : observations) tracker.Observe(o, &changes);
  return tracker.Current().state;
}

TEST(MachineStateTest, Precedence) {
  // No EXECUTION yet: not known.
  EXPECT_EQ(StateAfter({Avail("08:00:00", "AVAILABLE")}), kUnavailable);
  // No AVAILABILITY item at all (an I/O module): the execution decides.
  EXPECT_EQ(StateAfter({Exec("08:00:00", "ACTIVE")}), kRunning);
  // A fault beats every execution value, also an unavailable one.
  EXPECT_EQ(StateAfter({Exec("08:00:00", "ACTIVE"), Cond("08:00:01", "c", kFault)}), kDown);
  EXPECT_EQ(StateAfter({Exec("08:00:00", UnavailableValue{}), Cond("08:00:01", "c", kFault)}),
            kDown);
  EXPECT_EQ(StateAfter({Exec("08:00:00", "READY"), EStop("08:00:01", "TRIGGERED")}), kDown);
  // AVAILABILITY UNAVAILABLE beats a remembered fault (it is stale).
  EXPECT_EQ(StateAfter({Exec("08:00:00", "ACTIVE"), Cond("08:00:01", "c", kFault),
                        Avail("08:00:02", "UNAVAILABLE")}),
            kUnavailable);
  EXPECT_EQ(StateAfter({Exec("08:00:00", "ACTIVE"), Avail("08:00:02", UnavailableValue{})}),
            kUnavailable);
  EXPECT_EQ(StateAfter({Exec("08:00:00", "ACTIVE"), Avail("08:00:02", "available")}), kRunning);
  // A WARNING is no fault; an e-stop whose value is lost is not taken as triggered.
  EXPECT_EQ(StateAfter({Exec("08:00:00", "ACTIVE"), Cond("08:00:01", "c", kWarning, "W1")}),
            kRunning);
  EXPECT_EQ(StateAfter({Exec("08:00:00", "ACTIVE"), EStop("08:00:01", "TRIGGERED"),
                        EStop("08:00:02", UnavailableValue{})}),
            kRunning);
}

TEST(MachineStateTest, ConditionsAreTrackedPerItemAndNativeCode) {
  const StateObservation active = Exec("08:00:00", "ACTIVE");
  // Two alarms on one item: clearing one leaves the other.
  EXPECT_EQ(StateAfter({active, Cond("08:01:00", "servo", kFault, "SV0401"),
                        Cond("08:02:00", "servo", kFault, "SV0402"),
                        Cond("08:03:00", "servo", kNormal, "SV0401")}),
            kDown);
  // NORMAL without a code clears the item.
  EXPECT_EQ(
      StateAfter({active, Cond("08:01:00", "servo", kFault, "SV0401"),
                  Cond("08:02:00", "servo", kFault, "SV0402"), Cond("08:03:00", "servo", kNormal)}),
      kRunning);
  // A fault downgraded to a warning is no longer a fault.
  EXPECT_EQ(StateAfter({active, Cond("08:01:00", "servo", kFault, "SV0401"),
                        Cond("08:02:00", "servo", kWarning, "SV0401")}),
            kRunning);
  // Another item's NORMAL does not clear this one's fault.
  EXPECT_EQ(StateAfter({active, Cond("08:01:00", "servo", kFault, "SV0401"),
                        Cond("08:02:00", "system", kNormal)}),
            kDown);
  // Unavailable clears the item; so does text it does not know. SHDR text levels count.
  EXPECT_EQ(StateAfter({active,
                        Cond("08:01:00", "servo", kFault, "SV0401"),
                        {At("08:02:00"), StateInput::kCondition, "servo", UnavailableValue{}}}),
            kRunning);
  EXPECT_EQ(StateAfter({active, {At("08:01:00"), StateInput::kCondition, "servo", "fault"}}),
            kDown);
}

TEST(MachineStateTest, TooManyFaultCodesKeepTheMachineDownUntilTheItemIsCleared) {
  std::vector<StateObservation> observations = {Exec("08:00:00", "ACTIVE")};
  const size_t codes = kMaxFaultCodesPerItem + 1;
  for (size_t i = 0; i < codes; ++i) {
    observations.push_back(Cond("08:01:00", "servo", kFault, "A" + std::to_string(i)));
  }
  for (size_t i = 0; i < codes; ++i) {
    observations.push_back(Cond("08:02:00", "servo", kNormal, "A" + std::to_string(i)));
  }
  EXPECT_EQ(StateAfter(observations), kDown);
  MachineStateTracker tracker;
  StateChanges changes;
  for (const auto& o : observations) tracker.Observe(o, &changes);
  EXPECT_EQ(tracker.state().conditions.at("servo").fault_codes.size(), 0u);
  observations.push_back(Cond("08:03:00", "servo", kNormal));
  EXPECT_EQ(StateAfter(observations), kRunning);
}

TEST(MachineStateTest, EqualTimestampsNeverMakeAZeroLengthIntervalOrDowntime) {
  MachineStateTracker tracker;
  StateChanges changes;
  tracker.Observe(Exec("08:00:00", "ACTIVE"), &changes);
  // A fault raised and cleared at the same instant: nothing happened.
  EXPECT_EQ(tracker.Observe(Cond("09:00:00", "c", kFault), &changes), ObservationOutcome::kApplied);
  EXPECT_EQ(tracker.Current(), Iv(kDown, "09:00:00", ""));  // provisional
  EXPECT_EQ(tracker.Observe(Cond("09:00:00", "c", kNormal), &changes),
            ObservationOutcome::kApplied);
  EXPECT_EQ(tracker.Current(), Iv(kRunning, "08:00:00", ""));
  tracker.AdvanceTo(At("09:30:00"), &changes);
  EXPECT_THAT(changes.closed_intervals, IsEmpty());
  EXPECT_THAT(changes.downtime_events, IsEmpty());

  // Same input twice at one time: the later given wins.
  EXPECT_EQ(StateTimeline({Exec("08:00:00", "READY"), Exec("08:00:00", "ACTIVE")}),
            std::vector<StateInterval>{Iv(kRunning, "08:00:00", "")});
}

TEST(MachineStateTest, EqualTimestampsAcrossBatchesSettleOnce) {
  // Batch 1 ends with a feed hold at 09:00; batch 2 starts with an alarm at 09:00. The
  // downtime is DOWN from 09:00 — never a STOPPED downtime that lasted no time.
  MachineStateTracker tracker;
  StateChanges changes;
  tracker.Observe(Exec("08:00:00", "ACTIVE"), &changes);
  tracker.Observe(Exec("09:00:00", "FEED_HOLD"), &changes);
  tracker.AdvanceTo(At("09:00:00"), &changes);  // the batch's newest sample: no effect
  EXPECT_THAT(changes.downtime_events, IsEmpty());

  MachineStateTracker resumed(*DecodeTrackerState(EncodeTrackerState(tracker.state())));
  resumed.Observe(Cond("09:00:00", "c", kFault, "X"), &changes);
  resumed.Observe(Exec("09:30:00", "ACTIVE"), &changes);  // the alarm is still active
  resumed.Observe(Cond("09:40:00", "c", kNormal), &changes);
  resumed.AdvanceTo(At("10:00:00"), &changes);
  EXPECT_THAT(changes.closed_intervals,
              ElementsAre(Iv(kRunning, "08:00:00", "09:00:00"), Iv(kDown, "09:00:00", "09:40:00")));
  EXPECT_THAT(changes.downtime_events,
              ElementsAre(Started(kDown, "09:00:00"), Ended(kDown, "09:00:00", "09:40:00")));
  EXPECT_EQ(resumed.Current(), Iv(kRunning, "09:40:00", ""));
}

TEST(MachineStateTest, AdvanceToSettlesAChangeWithoutWaitingForTheNextStateValue) {
  MachineStateTracker tracker;
  StateChanges changes;
  tracker.AdvanceTo(At("07:00:00"), &changes);  // nothing known yet: no effect
  EXPECT_EQ(tracker.last_time(), absl::InfinitePast());
  EXPECT_THAT(tracker.Unsettled(), IsEmpty());
  tracker.Observe(Exec("08:00:00", "ACTIVE"), &changes);
  tracker.Observe(Cond("08:30:00", "c", kFault), &changes);
  EXPECT_THAT(changes.downtime_events, IsEmpty());  // 08:30 may still change
  EXPECT_THAT(tracker.Unsettled(),
              ElementsAre(Iv(kRunning, "08:00:00", "08:30:00"), Iv(kDown, "08:30:00", "")));
  tracker.AdvanceTo(At("08:30:05"), &changes);  // a spindle-speed sample at 08:30:05
  EXPECT_THAT(changes.downtime_events, ElementsAre(Started(kDown, "08:30:00")));
  EXPECT_THAT(changes.closed_intervals, ElementsAre(Iv(kRunning, "08:00:00", "08:30:00")));
  EXPECT_THAT(tracker.Unsettled(), ElementsAre(Iv(kDown, "08:30:00", "")));
  tracker.AdvanceTo(At("08:00:00"), &changes);  // the past: no effect
  EXPECT_EQ(tracker.last_time(), At("08:30:05"));
}

TEST(MachineStateTest, OutOfOrderObservations) {
  MachineStateTracker tracker;
  StateChanges changes;
  tracker.Observe(Exec("08:00:00", "ACTIVE"), &changes);
  tracker.Observe(Avail("08:10:00", "AVAILABLE"), &changes);
  // An older EXECUTION, newer than the last EXECUTION: applied at 08:10, history kept.
  EXPECT_EQ(tracker.Observe(Exec("08:05:00", "FEED_HOLD"), &changes),
            ObservationOutcome::kAppliedLate);
  EXPECT_EQ(tracker.Current(), Iv(kStopped, "08:10:00", ""));
  // Older than the EXECUTION just taken: superseded, ignored.
  EXPECT_EQ(tracker.Observe(Exec("08:04:00", "ACTIVE"), &changes), ObservationOutcome::kSuperseded);
  EXPECT_EQ(tracker.Current(), Iv(kStopped, "08:10:00", ""));
  // A late alarm of an item never seen: applied at 08:10.
  EXPECT_EQ(tracker.Observe(Cond("08:07:00", "c", kFault), &changes),
            ObservationOutcome::kAppliedLate);
  tracker.Observe(Exec("08:20:00", "ACTIVE"), &changes);
  EXPECT_THAT(changes.closed_intervals, ElementsAre(Iv(kRunning, "08:00:00", "08:10:00")));
  EXPECT_EQ(tracker.Current(), Iv(kDown, "08:10:00", ""));
  EXPECT_THAT(changes.downtime_events, ElementsAre(Started(kDown, "08:10:00")));
}

// Feeding the recorded shift in batches of every size, persisting the tracker between them
// (as the ingest path does), gives exactly what one pass gives.
TEST(MachineStateTest, BatchesWithPersistedStateGiveTheSameTimeline) {
  const std::vector<StateObservation> recorded = RecordedShift();
  StateChanges whole;
  StateTimeline(recorded, &whole);
  for (size_t batch = 1; batch <= recorded.size(); ++batch) {
    StateChanges changes;
    std::string stored = EncodeTrackerState(TrackerState{});
    for (size_t i = 0; i < recorded.size(); i += batch) {
      absl::StatusOr<TrackerState> state = DecodeTrackerState(stored);
      ASSERT_TRUE(state.ok()) << state.status();
      MachineStateTracker tracker(*std::move(state));
      for (size_t j = i; j < std::min(recorded.size(), i + batch); ++j) {
        tracker.Observe(recorded[j], &changes);
      }
      stored = EncodeTrackerState(tracker.state());
      ASSERT_EQ(*DecodeTrackerState(stored), tracker.state()) << stored;
    }
    MachineStateTracker(*DecodeTrackerState(stored)).AdvanceTo(absl::InfiniteFuture(), &changes);
    EXPECT_EQ(changes.closed_intervals, whole.closed_intervals) << "batch " << batch;
    EXPECT_EQ(changes.downtime_events, whole.downtime_events) << "batch " << batch;
  }
}

InputWithdrawal Withdrawn(const std::string& time, StateInput input, const std::string& item = "") {
  return {At(time), input, item};
}

// Outside testing: a CONDITION item removed while its FAULT was active held the machine
// DOWN for good. A withdrawn input has no value from the withdrawal on.
TEST(MachineStateTest, AWithdrawnInputHasNoValueFromThenOn) {
  MachineStateTracker tracker;
  StateChanges changes;
  tracker.Withdraw(Withdrawn("05:00:00", StateInput::kExecution), &changes);  // nothing yet
  EXPECT_EQ(tracker.last_time(), absl::InfinitePast());
  for (const StateObservation& o :
       {Avail("06:00:00", "AVAILABLE"), Exec("06:00:00", "ACTIVE"),
        Cond("06:10:00", "servo", kFault, "SV0401"), Cond("06:10:00", "spindle", kFault, "SP1"),
        EStop("06:20:00", "TRIGGERED")}) {
    tracker.Observe(o, &changes);
  }
  // The servo item goes at 07:00: still DOWN (the spindle fault and the e-stop), so time
  // does not move.
  tracker.Withdraw(Withdrawn("07:00:00", StateInput::kCondition, "servo"), &changes);
  EXPECT_EQ(tracker.Derive(), kDown);
  EXPECT_TRUE(tracker.state().conditions.at("servo").fault_codes.empty());
  EXPECT_EQ(tracker.last_time(), At("06:20:00"));
  tracker.Withdraw(Withdrawn("07:00:00", StateInput::kCondition, "spindle"), &changes);
  tracker.Withdraw(Withdrawn("07:30:00", StateInput::kEmergencyStop), &changes);
  EXPECT_EQ(tracker.Derive(), kRunning);
  // AVAILABILITY withdrawn: counts as available, as for a machine that never had it.
  tracker.Withdraw(Withdrawn("07:40:00", StateInput::kAvailability), &changes);
  EXPECT_EQ(tracker.Derive(), kRunning);
  tracker.Withdraw(Withdrawn("08:00:00", StateInput::kExecution), &changes);
  EXPECT_EQ(tracker.Derive(), kUnavailable);
  // A value from before the withdrawal never counts; a later one does.
  EXPECT_EQ(tracker.Observe(Exec("07:59:00", "READY"), &changes), ObservationOutcome::kSuperseded);
  EXPECT_EQ(tracker.Observe(Exec("08:30:00", "READY"), &changes), ObservationOutcome::kApplied);
  tracker.AdvanceTo(At("09:00:00"), &changes);
  EXPECT_THAT(
      changes.closed_intervals,
      ElementsAre(Iv(kRunning, "06:00:00", "06:10:00"), Iv(kDown, "06:10:00", "07:30:00"),
                  Iv(kRunning, "07:30:00", "08:00:00"), Iv(kUnavailable, "08:00:00", "08:30:00")));
  EXPECT_THAT(changes.downtime_events,
              ElementsAre(Started(kDown, "06:10:00"), Ended(kDown, "06:10:00", "07:30:00")));
  EXPECT_THAT(tracker.Unsettled(), ElementsAre(Iv(kIdle, "08:30:00", "")));
}

// Outside testing: a re-added item's buffered FAULT from before its removal held the machine
// DOWN from the update on; removing an item whose value changed nothing moved a later-
// arriving FAULT of another item to the update's time.
TEST(MachineStateTest, ASampleFromBeforeAWithdrawalNeverCountsAndOneThatChangesNothingMovesNoTime) {
  MachineStateTracker tracker;
  StateChanges changes;
  for (const StateObservation& o : {Exec("06:00:00", "ACTIVE"), Cond("06:00:00", "c1", kNormal),
                                    Cond("06:00:00", "c2", kNormal)}) {
    tracker.Observe(o, &changes);
  }
  tracker.Withdraw(Withdrawn("07:00:00", StateInput::kCondition, "c1"), &changes);
  EXPECT_EQ(tracker.last_time(), At("06:00:00"));
  EXPECT_EQ(tracker.Observe(Cond("06:10:00", "c1", kFault, "SV0401"), &changes),
            ObservationOutcome::kSuperseded);
  EXPECT_EQ(tracker.Derive(), kRunning);
  EXPECT_EQ(tracker.Observe(Cond("06:20:00", "c2", kFault, "SV0402"), &changes),
            ObservationOutcome::kApplied);
  tracker.Withdraw(Withdrawn("08:00:00", StateInput::kExecution), &changes);  // still DOWN
  EXPECT_EQ(tracker.Observe(Exec("07:50:00", "STOPPED"), &changes),
            ObservationOutcome::kSuperseded);
  tracker.AdvanceTo(At("09:00:00"), &changes);
  EXPECT_THAT(changes.closed_intervals, ElementsAre(Iv(kRunning, "06:00:00", "06:20:00")));
  EXPECT_THAT(tracker.Unsettled(), ElementsAre(Iv(kDown, "06:20:00", "")));
}

TEST(TrackerStateCodecTest, RoundTripsEveryField) {
  TrackerState s;
  s.execution = kStopped;
  s.execution_time = At("08:00:00") + absl::Nanoseconds(123456789);
  s.availability = TrackerState::Availability::kAvailable;
  s.availability_time = At("07:00:00");
  s.emergency_stop = TrackerState::EmergencyStop::kTriggered;
  s.emergency_stop_time = At("08:00:01");
  s.conditions["servo"] = {At("08:00:02"), {"", "SV0401", "SV \"0402\""}, true};
  s.conditions["system"] = {At("08:00:03"), {}, false};
  s.last_time = At("08:00:03");
  s.settled_state = kDown;
  s.settled_since = At("08:00:01");
  s.in_downtime = true;
  s.downtime_state = kDown;
  s.downtime_start = At("08:00:01");
  s.withdrawals = {{At("08:30:00"), StateInput::kCondition, "servo"},
                   {At("08:30:00"), StateInput::kExecution, ""}};
  // Every kind of value waits for the reorder window; one stamped ahead keeps its stamp.
  s.held = {{At("08:31:00"), StateInput::kExecution, "Xact", std::string("FEED_HOLD")},
            {At("08:31:00"), StateInput::kCondition, "servo",
             ConditionValue{ConditionLevel::kFault, "SV \"0401\""}},
            {At("08:31:01"), StateInput::kAvailability, "avail", UnavailableValue{}},
            {At("08:31:02"), StateInput::kEmergencyStop, "estop", 0.1 + 0.2, At("08:31:09")}};
  absl::StatusOr<TrackerState> back = DecodeTrackerState(EncodeTrackerState(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
  EXPECT_EQ(*DecodeTrackerState(EncodeTrackerState(TrackerState{})), TrackerState{});
}

TEST(TrackerStateCodecTest, RefusesTextItDidNotWrite) {
  const std::string good = EncodeTrackerState(TrackerState{});
  std::string wrong_version = good;
  wrong_version.replace(wrong_version.find("\"v\":1"), 5, "\"v\":2");
  for (
      const std::string& text :
      {std::string(""), std::string("[]"), std::string("{"), wrong_version,
       std::string(R"({"v":1})"),
       std::string(
           R"({"v":1,"execution":[9,"infinite-past"],"availability":[0,"infinite-past"],)"
           R"("emergency_stop":[0,"infinite-past"],"conditions":{},"last_time":"infinite-past",)"
           R"("settled":[0,"infinite-past"]})"),
       std::string(
           R"({"v":1,"execution":[0,"yesterday"],"availability":[0,"infinite-past"],)"
           R"("emergency_stop":[0,"infinite-past"],"conditions":{},"last_time":"infinite-past",)"
           R"("settled":[0,"infinite-past"]})"),
       std::string(R"({"v":1,"execution":[0,"infinite-past"],"availability":[0,"infinite-past"],)"
                   R"("emergency_stop":[0,"infinite-past"],"conditions":{},)"
                   R"("last_time":"2026-03-02T08:00:00Z","settled":[1,"2026-03-02T08:00:00Z"],)"
                   R"("downtime":[1,"2026-03-02T08:00:00Z"]})"),
       good.substr(0, good.size() - 1) + R"(,"withdrawals":[[0,"","2026-03-02T08:00:00Z"]]})",
       good.substr(0, good.size() - 1) + R"(,"withdrawals":[[4,7,"2026-03-02T08:00:00Z"]]})",
       good.substr(0, good.size() - 1) + R"(,"withdrawals":{}})",
       good.substr(0, good.size() - 1) + R"(,"held":[[1,"x","2026-03-02T08:00:00Z",["s","a"]]]})",
       good.substr(0, good.size() - 1) + R"(,"held":[[1,"x","2026-03-02T08:00:00Z",["c",7,""]]]})",
       good.substr(0, good.size() - 1) + R"(,"held":[[0,"x","2026-03-02T08:00:00Z",["u"]]]})",
       good.substr(0, good.size() - 1) + R"(,"held":[[1,"x","2026-03-02T08:00:00Z"]]})",
       good.substr(0, good.size() - 1) +
           R"(,"held":[[1,"x","2026-03-02T08:00:01Z",["u"]],[1,"x","2026-03-02T08:00:00Z",["u"]]]})"}) {
    absl::StatusOr<TrackerState> state = DecodeTrackerState(text);
    EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

// A whole timeline summed at once (UtilizationSum, as GetUtilization feeds it page by page).
absl::StatusOr<std::map<MachineState, absl::Duration>> Utilization(
    const std::vector<StateInterval>& intervals, absl::Time range_start, absl::Time range_end) {
  PM_ASSIGN_OR_RETURN(UtilizationSum sum, UtilizationSum::ForRange(range_start, range_end));
  for (const StateInterval& interval : intervals) PM_RETURN_IF_ERROR(sum.Add(interval));
  return sum.Total();
}

// One item's observations counted at once, in time order (stably: equal timestamps keep
// their given order), as the store streams them.
absl::StatusOr<int64_t> PartCount(std::vector<PartCountObservation> observations,
                                  absl::Time range_start, absl::Time range_end) {
  PM_ASSIGN_OR_RETURN(PartCounter counter, PartCounter::ForRange(range_start, range_end));
  std::stable_sort(
      observations.begin(), observations.end(),
      [](const PartCountObservation& a, const PartCountObservation& b) { return a.time < b.time; });
  for (const PartCountObservation& o : observations) counter.Add(o);
  return counter.parts();
}

// Monday's night shift as stored: RUNNING, IDLE, DOWN across midnight, RUNNING still open.
std::vector<StateInterval> NightShift() {
  return {Iv(kRunning, "2026-03-02 21:30:00", "2026-03-02 23:50:00"),
          Iv(kIdle, "2026-03-02 23:50:00", "2026-03-03 00:20:00"),
          Iv(kDown, "2026-03-03 00:20:00", "2026-03-03 01:05:00"),
          Iv(kRunning, "2026-03-03 01:05:00", "")};
}

std::map<MachineState, absl::Duration> Durations(absl::Duration running, absl::Duration idle,
                                                 absl::Duration stopped, absl::Duration down,
                                                 absl::Duration unavailable) {
  return {{kRunning, running},
          {kIdle, idle},
          {kStopped, stopped},
          {kDown, down},
          {kUnavailable, unavailable}};
}

TEST(UtilizationTest, ShiftAcrossMidnight) {
  auto u = Utilization(NightShift(), At("2026-03-02 22:00:00"), At("2026-03-03 06:00:00"));
  ASSERT_TRUE(u.ok()) << u.status();
  // RUNNING 22:00-23:50 and 01:05-06:00 (the open interval lasts to the range end).
  EXPECT_EQ(*u, Durations(absl::Hours(6) + absl::Minutes(45), absl::Minutes(30),
                          absl::ZeroDuration(), absl::Minutes(45), absl::ZeroDuration()));
}

TEST(UtilizationTest, CalendarDaysEitherSideOfMidnight) {
  // Monday: nothing known before 21:30.
  auto monday = Utilization(NightShift(), At("2026-03-02 00:00:00"), At("2026-03-03 00:00:00"));
  ASSERT_TRUE(monday.ok());
  EXPECT_EQ(*monday,
            Durations(absl::Hours(2) + absl::Minutes(20), absl::Minutes(10), absl::ZeroDuration(),
                      absl::ZeroDuration(), absl::Hours(21) + absl::Minutes(30)));
  // Tuesday, asked at 06:00: the caller closes the open interval at now; the rest of the day
  // is not known.
  std::vector<StateInterval> until_now = NightShift();
  until_now.back().end = At("2026-03-03 06:00:00");
  auto tuesday = Utilization(until_now, At("2026-03-03 00:00:00"), At("2026-03-04 00:00:00"));
  ASSERT_TRUE(tuesday.ok());
  EXPECT_EQ(*tuesday, Durations(absl::Hours(4) + absl::Minutes(55), absl::Minutes(20),
                                absl::ZeroDuration(), absl::Minutes(45), absl::Hours(18)));
}

TEST(UtilizationTest, TimeBeforeTheFirstStateIsUnavailable) {
  const auto timeline = StateTimeline(RecordedShift());
  auto u = Utilization(timeline, At("05:00:00"), At("07:00:00"));
  ASSERT_TRUE(u.ok());
  // UNAVAILABLE 05:00-05:58, IDLE 05:58-06:00, RUNNING 06:00-06:41:10 and 06:43-07:00,
  // STOPPED 06:41:10-06:43.
  EXPECT_EQ(
      *u, Durations(absl::Minutes(58) + absl::Seconds(10), absl::Minutes(2),
                    absl::Minutes(1) + absl::Seconds(50), absl::ZeroDuration(), absl::Minutes(58)));
  // A range before everything, and one inside a single interval.
  EXPECT_EQ(*Utilization(timeline, At("01:00:00"), At("02:00:00")),
            Durations(absl::ZeroDuration(), absl::ZeroDuration(), absl::ZeroDuration(),
                      absl::ZeroDuration(), absl::Hours(1)));
  EXPECT_EQ(*Utilization(timeline, At("07:16:00"), At("07:17:00")),
            Durations(absl::ZeroDuration(), absl::ZeroDuration(), absl::ZeroDuration(),
                      absl::Minutes(1), absl::ZeroDuration()));
}

TEST(UtilizationTest, GapsCountAsUnavailable) {
  auto u = Utilization({Iv(kRunning, "08:00:00", "09:00:00"), Iv(kIdle, "09:30:00", "10:00:00")},
                       At("08:00:00"), At("11:00:00"));
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, Durations(absl::Hours(1), absl::Minutes(30), absl::ZeroDuration(),
                          absl::ZeroDuration(), absl::Minutes(90)));
}

TEST(UtilizationTest, Errors) {
  auto bad_range = Utilization(NightShift(), At("08:00:00"), At("08:00:00"));
  EXPECT_EQ(bad_range.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(runtime::FieldViolationsOf(bad_range.status()).size(), 1u);
  EXPECT_EQ(runtime::FieldViolationsOf(bad_range.status())[0].field, "end_time");
  auto overlap = Utilization({Iv(kRunning, "08:00:00", "09:00:00"), Iv(kIdle, "08:30:00", "")},
                             At("08:00:00"), At("10:00:00"));
  EXPECT_EQ(overlap.status().code(), absl::StatusCode::kInternal);
  auto backwards =
      Utilization({Iv(kRunning, "09:00:00", "08:00:00")}, At("08:00:00"), At("10:00:00"));
  EXPECT_EQ(backwards.status().code(), absl::StatusCode::kInternal);
}

PartCountObservation Count(const std::string& time, double value) {
  return {At(time), true, value};
}
PartCountObservation CountUnavailable(const std::string& time) { return {At(time), false, 0}; }

int64_t Parts(std::vector<PartCountObservation> observations, const std::string& start,
              const std::string& end) {
  absl::StatusOr<int64_t> parts = PartCount(std::move(observations), At(start), At(end));
  EXPECT_TRUE(parts.ok()) << parts.status();
  return parts.value_or(-1);
}

TEST(PartCountTest, GrowthFromTheLastValueBeforeTheRange) {
  const std::vector<PartCountObservation> counts = {Count("07:59:00", 100), Count("08:30:00", 105),
                                                    Count("15:59:00", 110), Count("16:00:00", 120)};
  EXPECT_EQ(Parts(counts, "08:00:00", "16:00:00"), 10);  // 16:00 is outside
  // Without a value before the range, the first one in it is the baseline.
  EXPECT_EQ(Parts({counts[1], counts[2]}, "08:00:00", "16:00:00"), 5);
  // A part counted exactly at the range start belongs to the range.
  EXPECT_EQ(Parts({Count("07:59:00", 100), Count("08:00:00", 101)}, "08:00:00", "09:00:00"), 1);
  EXPECT_EQ(Parts({Count("07:59:00", 100)}, "08:00:00", "09:00:00"), 0);
  EXPECT_EQ(Parts({}, "08:00:00", "09:00:00"), 0);
}

TEST(PartCountTest, ADropIsAResetAndCountingRestartsFromTheNewValue) {
  EXPECT_EQ(Parts({Count("07:00:00", 100), Count("10:00:00", 140), Count("12:00:00", 0),
                   Count("15:00:00", 25)},
                  "08:00:00", "16:00:00"),
            65);
  // Reset to a lower value that is not zero: it is the new baseline, not parts made.
  EXPECT_EQ(Parts({Count("08:00:00", 500), Count("09:00:00", 3), Count("10:00:00", 10)}, "08:00:00",
                  "16:00:00"),
            7);
  // A reset before the range only moves the baseline.
  EXPECT_EQ(Parts({Count("06:00:00", 500), Count("07:00:00", 2), Count("09:00:00", 12)}, "08:00:00",
                  "16:00:00"),
            10);
}

TEST(PartCountTest, AcrossMidnight) {
  EXPECT_EQ(Parts({Count("2026-03-02 21:50:00", 1000), Count("2026-03-02 23:59:00", 1010),
                   Count("2026-03-03 00:30:00", 1025), Count("2026-03-03 02:00:00", 3),
                   Count("2026-03-03 05:59:00", 40), Count("2026-03-03 06:00:00", 45)},
                  "2026-03-02 22:00:00", "2026-03-03 06:00:00"),
            10 + 15 + 37);
}

TEST(PartCountTest, UnavailableAndInvalidValuesAreSkipped) {
  EXPECT_EQ(Parts({Count("08:00:00", 100), CountUnavailable("09:00:00"), Count("10:00:00", 100),
                   Count("11:00:00", 104)},
                  "08:00:00", "16:00:00"),
            4);
  EXPECT_EQ(
      Parts({Count("08:00:00", 100), Count("09:00:00", std::nan("")), Count("09:30:00", -5),
             Count("09:40:00", 1e300), Count("09:50:00", std::numeric_limits<double>::infinity()),
             Count("10:00:00", 103)},
            "08:00:00", "16:00:00"),
      3);
  // Outside testing: numbers stored before the item became PART_COUNT (ingest takes whole
  // numbers only for it) counted 5 → 7.5 → 10 as 3 + 2 parts.
  EXPECT_EQ(Parts({Count("08:00:00", 5), Count("09:00:00", 7.5), Count("10:00:00", 10)}, "08:00:00",
                  "16:00:00"),
            5);
}

TEST(PartCountTest, EqualTimestampsKeepTheirOrderAndUnsortedInputIsSorted) {
  EXPECT_EQ(Parts({Count("09:00:00", 10), Count("09:00:00", 12)}, "08:00:00", "16:00:00"), 2);
  // Given order at one time: 12 then 10 is a reset, 10 then 12 a rise.
  EXPECT_EQ(Parts({Count("08:00:00", 10), Count("09:00:00", 12), Count("09:00:00", 10)}, "08:00:00",
                  "16:00:00"),
            2);
  EXPECT_EQ(Parts({Count("11:00:00", 30), Count("08:00:00", 10), Count("09:00:00", 20)}, "08:00:00",
                  "16:00:00"),
            20);
}

TEST(PartCountTest, RefusesAnEmptyRange) {
  auto parts = PartCount({}, At("09:00:00"), At("08:00:00"));
  EXPECT_EQ(parts.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(runtime::FieldViolationsOf(parts.status()).size(), 1u);
  EXPECT_EQ(runtime::FieldViolationsOf(parts.status())[0].field, "end_time");
}

}  // namespace
}  // namespace plantmesh::telemetry
