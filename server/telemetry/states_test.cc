// The served machine-state rules (states.h): which machines a batch moves, the timeline
// page (clipping, the current state up to now, paging across closed and open intervals),
// utilization with the open timeline, part-count values, downtime queries and reasons.
#include "server/telemetry/states.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/telemetry/tracker_state_codec.h"

namespace plantmesh::telemetry {
namespace {

using ::testing::ElementsAre;

const absl::Time kT0 = absl::FromUnixSeconds(1700049600);  // 2023-11-15T12:00:00Z

absl::Time T(int seconds) { return kT0 + absl::Seconds(seconds); }

Sample At(const std::string& machine, const std::string& item, int seconds, ValueKind kind,
          const std::string& text = "") {
  Sample s;
  s.machine_id = machine;
  s.data_item_id = item;
  s.time = T(seconds);
  s.kind = kind;
  s.text = text;
  return s;
}

TEST(StatesTest, StateInputsFollowTypeAndCategory) {
  EXPECT_EQ(StateInputOf(Category::kEvent, kTypeExecution), StateInput::kExecution);
  EXPECT_EQ(StateInputOf(Category::kEvent, kTypeAvailability), StateInput::kAvailability);
  EXPECT_EQ(StateInputOf(Category::kEvent, kTypeEmergencyStop), StateInput::kEmergencyStop);
  EXPECT_EQ(StateInputOf(Category::kCondition, 16), StateInput::kCondition);
  EXPECT_EQ(StateInputOf(Category::kEvent, kTypePartCount), std::nullopt);
  EXPECT_EQ(StateInputOf(Category::kSample, 5), std::nullopt);
}

TEST(StatesTest, AnUpdateWithdrawsTheInputsItLeavesWithoutAnItem) {
  Machine before;
  before.data_items = {{"Xact", "", Category::kEvent, kTypeExecution, "", ""},
                       {"Xact2", "", Category::kEvent, kTypeExecution, "", ""},
                       {"avail", "", Category::kEvent, kTypeAvailability, "", ""},
                       {"servo", "", Category::kCondition, 16, "", ""},
                       {"system", "", Category::kCondition, 17, "", ""},
                       {"S1", "", Category::kSample, 5, "", ""}};
  Machine after = before;
  EXPECT_TRUE(WithdrawnInputs(before, after, T(0)).empty());
  // One of two EXECUTION items, AVAILABILITY retyped, a CONDITION item gone, another
  // retyped within CONDITION; a new EMERGENCY_STOP item.
  after.data_items = {{"Xact2", "", Category::kEvent, kTypeExecution, "", ""},
                      {"avail", "", Category::kEvent, kTypePartCount, "", ""},
                      {"system", "", Category::kCondition, 18, "", ""},
                      {"estop", "", Category::kEvent, kTypeEmergencyStop, "", ""}};
  EXPECT_THAT(WithdrawnInputs(before, after, T(5)),
              ElementsAre(InputWithdrawal{T(5), StateInput::kAvailability, ""},
                          InputWithdrawal{T(5), StateInput::kCondition, "servo"}));
  after.data_items.clear();
  EXPECT_EQ(WithdrawnInputs(before, after, T(5)).size(), 4u);
}

TEST(StatesTest, WithdrawalsAreRecordedOncePerInputAndOnlyWithAValue) {
  TrackerState state;
  RecordWithdrawals(&state, {{T(5), StateInput::kExecution, ""}});
  EXPECT_TRUE(state.withdrawals.empty());  // no observation yet: nothing to withdraw
  EXPECT_FALSE(TrackerPending(state));
  state.last_time = T(1);
  RecordWithdrawals(&state,
                    {{T(5), StateInput::kExecution, ""}, {T(5), StateInput::kCondition, "servo"}});
  RecordWithdrawals(&state,
                    {{T(9), StateInput::kExecution, ""}, {T(9), StateInput::kCondition, "system"}});
  EXPECT_THAT(state.withdrawals,
              ElementsAre(InputWithdrawal{T(5), StateInput::kExecution, ""},
                          InputWithdrawal{T(5), StateInput::kCondition, "servo"},
                          InputWithdrawal{T(9), StateInput::kCondition, "system"}));
  EXPECT_TRUE(TrackerPending(state));
  // The settle round applies them once the clock passes them (by the reorder window).
  EXPECT_EQ(SettleBatch(state, absl::InfinitePast(), T(4)), std::nullopt);
  std::optional<MachineBatch> due = SettleBatch(state, absl::InfinitePast(), T(9));
  ASSERT_TRUE(due.has_value());
  StateChanges changes;
  EXPECT_TRUE(AdvanceTracker(state, *due, &changes).withdrawals.empty());
}

TEST(StatesTest, OnlyMachinesWithStateSamplesOrAPendingChangeAreMoved) {
  const StateItems items = {{"A", {{"Xact", StateInput::kExecution}}},
                            {"B", {{"Xact", StateInput::kExecution}}}};
  const std::vector<Sample> samples = {At("A", "Xact", 20, ValueKind::kText, "ACTIVE"),
                                       At("A", "Xact", 10, ValueKind::kText, "READY"),
                                       At("A", "S1", 30, ValueKind::kNumber),
                                       At("B", "S1", 40, ValueKind::kNumber),
                                       At("C", "S1", 50, ValueKind::kNumber),
                                       At("D", "Xact", 60, ValueKind::kText, "ACTIVE")};
  // Sample 5 (machine D) was rejected.
  std::map<std::string, MachineBatch> moved =
      MachineBatches(samples, {0, 1, 2, 3, 4}, items, {"C", "D"}, T(1000), absl::InfiniteFuture());
  ASSERT_EQ(moved.size(), 2u);  // A (state samples), C (pending); not B, not D
  const MachineBatch& a = moved.at("A");
  ASSERT_EQ(a.observations.size(), 2u);
  EXPECT_EQ(a.observations[0].time, T(10));  // oldest first
  EXPECT_EQ(a.newest, T(30));                // any item of the machine
  EXPECT_TRUE(moved.at("C").observations.empty());
  EXPECT_EQ(moved.at("C").newest, T(50));
}

// Outside testing: an I/O module whose clock ran 200 s ahead (within the allowed skew)
// moved the machine's tracker 200 s into the future, so the CNC's feed hold in between
// came "too late": no downtime for 200 s, and the settled timeline said running.
TEST(StatesTest, SamplesFromAClockAheadOfTheServersCountAsNow) {
  const StateItems items = {{"A", {{"Xact", StateInput::kExecution}}}};
  const std::vector<Sample> samples = {At("A", "S1", 300, ValueKind::kNumber),
                                       At("A", "Xact", 250, ValueKind::kText, "ACTIVE"),
                                       At("A", "Xact", 50, ValueKind::kText, "READY")};
  const MachineBatch a =
      MachineBatches(samples, {0, 1, 2}, items, {}, T(100), absl::InfiniteFuture()).at("A");
  EXPECT_EQ(a.newest, T(100));
  ASSERT_EQ(a.observations.size(), 2u);
  EXPECT_EQ(a.observations[0].time, T(50));
  EXPECT_EQ(a.observations[1].time, T(100));  // observed, at the latest, now

  // Re-test: two future samples keep their own order (clamped before the sort, the
  // batch's order decided, and a feed hold sent first but stamped last was lost).
  const std::vector<Sample> ahead = {At("A", "Xact", 200, ValueKind::kText, "FEED_HOLD"),
                                     At("A", "Xact", 150, ValueKind::kText, "ACTIVE")};
  const MachineBatch b =
      MachineBatches(ahead, {0, 1}, items, {}, T(100), absl::InfiniteFuture()).at("A");
  ASSERT_EQ(b.observations.size(), 2u);
  EXPECT_EQ(std::get<std::string>(b.observations[0].value), "ACTIVE");
  EXPECT_EQ(std::get<std::string>(b.observations[1].value), "FEED_HOLD");
  EXPECT_EQ(b.observations[1].time, T(100));
  StateChanges held;
  EXPECT_EQ(MachineStateTracker(AdvanceTracker(TrackerState{}, b, &held)).Derive(),
            MachineState::kStopped);

  // The tracker stays at now: a later sample of the present, of another input, is not
  // too late. (One of the same input is judged by the source's stamps: one stamped before
  // the ACTIVE's 250 s is the older, as GetLatestValues has it.)
  StateChanges changes;
  const TrackerState state = AdvanceTracker(TrackerState{}, a, &changes);
  EXPECT_EQ(state.last_time, T(100));
  MachineBatch next;
  next.observations = {{T(150), StateInput::kAvailability, "Xavail", std::string("UNAVAILABLE")},
                       {T(150), StateInput::kExecution, "Xact", std::string("FEED_HOLD")}};
  next.newest = T(150);
  const TrackerState after = AdvanceTracker(state, next, &changes);
  EXPECT_EQ(after.last_time, T(150));
  EXPECT_EQ(MachineStateTracker(after).Derive(), MachineState::kUnavailable);
  EXPECT_EQ(after.execution, MachineState::kRunning);  // the ACTIVE stamped 250 s is newer
}

// Outside testing: STOPPED stamped 60 s ahead of the server's clock, then, in a later
// batch, READY stamped 5 s ahead (older by the source's clock) left the machine IDLE for
// good, its stop a 10 ms downtime. The newer value of an input is the newer by the
// source's stamps; the timeline takes each change when it arrives.
TEST(StatesTest, OfTwoValuesStampedAheadTheNewerBySourceTimeWins) {
  const StateItems items = {{"A", {{"Xact", StateInput::kExecution}}}};
  StateChanges changes;
  TrackerState state =
      AdvanceTracker(TrackerState{},
                     MachineBatches({At("A", "Xact", -100, ValueKind::kText, "ACTIVE")}, {0}, items,
                                    {}, T(0), absl::InfiniteFuture())
                         .at("A"),
                     &changes);
  state = AdvanceTracker(state,
                         MachineBatches({At("A", "Xact", 60, ValueKind::kText, "STOPPED")}, {0},
                                        items, {}, T(1), absl::InfiniteFuture())
                             .at("A"),
                         &changes);
  const MachineBatch late = MachineBatches({At("A", "Xact", 5, ValueKind::kText, "READY")}, {0},
                                           items, {}, T(2), absl::InfiniteFuture())
                                .at("A");
  ASSERT_EQ(late.observations.size(), 1u);
  EXPECT_EQ(late.observations[0].time, T(2));
  EXPECT_EQ(late.observations[0].ahead_time, T(5));
  state = AdvanceTracker(state, late, &changes);
  EXPECT_EQ(MachineStateTracker(state).Derive(), MachineState::kStopped);
  EXPECT_THAT(OpenTimeline(state, T(70)),
              ElementsAre(StateInterval{MachineState::kStopped, T(1), T(70)}));
  EXPECT_THAT(changes.closed_intervals,
              ElementsAre(StateInterval{MachineState::kRunning, T(-100), T(1)}));
  // No downtime ended: the stop goes on.
  for (const DowntimeEvent& e : changes.downtime_events) {
    EXPECT_NE(e.change, DowntimeChange::kEnded) << absl::FormatTime(e.change_time);
  }
}

TEST(StatesTest, AdvanceSettlesUpToTheNewestSampleAndPendingSaysWhatIsLeft) {
  MachineBatch batch;
  batch.observations = {{T(0), StateInput::kExecution, "Xact", std::string("READY")},
                        {T(10), StateInput::kExecution, "Xact", std::string("ACTIVE")}};
  batch.newest = T(10);
  StateChanges changes;
  TrackerState state = AdvanceTracker(TrackerState{}, batch, &changes);
  // READY is settled from 0, ACTIVE at 10 is the newest time: not settled yet.
  EXPECT_TRUE(changes.closed_intervals.empty());
  EXPECT_TRUE(TrackerPending(state));
  MachineBatch later;  // a batch with only other data items of the machine
  later.newest = T(15);
  state = AdvanceTracker(state, later, &changes);
  EXPECT_FALSE(TrackerPending(state));
  EXPECT_THAT(changes.closed_intervals,
              ElementsAre(StateInterval{MachineState::kIdle, T(0), T(10)}));
  EXPECT_FALSE(TrackerPending(TrackerState{}));
}

// ---- The reorder window ----

// Batches of one machine as they arrive, by the server's second, fed as ingest feeds them
// (MachineBatches, AdvanceTracker, SettleDue), with the settle round every 5 s when no
// batch comes; everything it settled, and the tracker left.
struct Replayed {
  StateChanges changes;
  TrackerState tracker;
};
Replayed Replay(const std::map<int, std::vector<Sample>>& arrivals, absl::Duration window,
                int until) {
  const StateItems items = {
      {"M", {{"Xact", StateInput::kExecution}, {"estop", StateInput::kEmergencyStop}}}};
  const absl::Duration settle_after = absl::Seconds(10);
  Replayed r;
  for (int second = 0; second <= until; ++second) {
    const absl::Time now = T(second);
    auto arrived = arrivals.find(second);
    if (arrived != arrivals.end()) {
      std::vector<int> accepted(arrived->second.size());
      for (size_t i = 0; i < accepted.size(); ++i) accepted[i] = static_cast<int>(i);
      std::set<std::string> pending;
      if (TrackerPending(r.tracker)) pending.insert("M");
      for (const auto& [machine, batch] :
           MachineBatches(arrived->second, accepted, items, pending, now, now - window)) {
        r.tracker = AdvanceTracker(r.tracker, batch, &r.changes);
      }
      if (auto due = SettleDue(r.tracker, now - settle_after, now - window)) {
        r.tracker = AdvanceTracker(r.tracker, *due, &r.changes);
      }
    } else if (second % 5 == 0) {
      if (auto due = SettleBatch(r.tracker, now - settle_after, now - window)) {
        r.tracker = AdvanceTracker(r.tracker, *due, &r.changes);
      }
    }
  }
  return r;
}

// Outside testing (AP F1): a CNC reports EXECUTION, an I/O module the e-stop; the module's
// adapter froze for 8 s and then sent its buffer, older than what the CNC had sent
// meanwhile. The stop was applied at its arrival, a DOWN of 4 s became none (DOWN 14.5 s
// reported for 9.9 s in the original run). Within the window it is placed at its time.
TEST(StatesTest, ASourceLateByLessThanTheReorderWindowIsPlacedInTimeOrder) {
  std::map<int, std::vector<Sample>> arrivals;
  for (int second = 1; second <= 60; ++second) {  // the CNC, live: a spindle speed a second
    arrivals[second].push_back(At("M", "S1", second, ValueKind::kNumber));
  }
  arrivals[1].push_back(At("M", "Xact", 0, ValueKind::kText, "ACTIVE"));
  arrivals[1].push_back(At("M", "estop", 0, ValueKind::kText, "ARMED"));
  arrivals[20].push_back(At("M", "Xact", 20, ValueKind::kText, "READY"));
  arrivals[30].push_back(At("M", "Xact", 30, ValueKind::kText, "ACTIVE"));
  arrivals[15].push_back(At("M", "Xact", 15, ValueKind::kText, "ACTIVE"));  // said again
  // The I/O module's buffer, stamped 10 and 14, arrives at 16.
  arrivals[16].push_back(At("M", "estop", 10, ValueKind::kText, "TRIGGERED"));
  arrivals[16].push_back(At("M", "estop", 14, ValueKind::kText, "ARMED"));

  // What the samples say, in their own time order.
  const std::vector<StateInterval> truth = {{MachineState::kRunning, T(0), T(10)},
                                            {MachineState::kDown, T(10), T(14)},
                                            {MachineState::kRunning, T(14), T(20)},
                                            {MachineState::kIdle, T(20), T(30)}};
  const Replayed placed = Replay(arrivals, absl::Seconds(30), 200);
  EXPECT_EQ(placed.changes.closed_intervals, truth);
  EXPECT_EQ(placed.changes.late_observations, 0);
  EXPECT_THAT(
      placed.changes.downtime_events,
      ElementsAre(DowntimeEvent{DowntimeChange::kStarted, MachineState::kDown, T(10),
                                absl::InfiniteFuture(), T(10)},
                  DowntimeEvent{DowntimeChange::kEnded, MachineState::kDown, T(10), T(14), T(14)}));
  EXPECT_TRUE(placed.tracker.held.empty());

  // Without a window (state-reorder-seconds 0) the buffer comes after the tracker reached
  // 16: both samples late, the stop lost.
  const Replayed arrival_order = Replay(arrivals, absl::ZeroDuration(), 200);
  EXPECT_EQ(arrival_order.changes.late_observations, 2);
  EXPECT_TRUE(arrival_order.changes.downtime_events.empty());
}

TEST(StatesTest, HeldObservationsShowInTheOpenTimelineAndWaitForTheClock) {
  // A lone adapter reporting on change only: the stop at 100 waits for the window.
  std::map<int, std::vector<Sample>> arrivals;
  arrivals[0] = {At("M", "Xact", 0, ValueKind::kText, "ACTIVE")};
  arrivals[100] = {At("M", "Xact", 100, ValueKind::kText, "STOPPED")};
  Replayed r = Replay(arrivals, absl::Seconds(30), 101);
  // ACTIVE was placed by the round at 30, the stop waits until 130.
  ASSERT_EQ(r.tracker.held.size(), 1u);
  EXPECT_TRUE(TrackerPending(r.tracker));
  EXPECT_TRUE(r.changes.downtime_events.empty());
  // Reads see them at once.
  EXPECT_THAT(OpenTimeline(r.tracker, T(101)),
              ElementsAre(StateInterval{MachineState::kRunning, T(0), T(100)},
                          StateInterval{MachineState::kStopped, T(100), T(101)}));
  // The settle round places what the clock passed by the window, then settles it.
  EXPECT_EQ(SettleBatch(r.tracker, T(119), T(99)), std::nullopt);
  EXPECT_NE(SettleBatch(r.tracker, T(120), T(100)), std::nullopt);
  r = Replay(arrivals, absl::Seconds(30), 150);
  EXPECT_TRUE(r.tracker.held.empty());
  EXPECT_THAT(r.changes.closed_intervals,
              ElementsAre(StateInterval{MachineState::kRunning, T(0), T(100)}));
  EXPECT_THAT(r.changes.downtime_events,
              ElementsAre(DowntimeEvent{DowntimeChange::kStarted, MachineState::kStopped, T(100),
                                        absl::InfiniteFuture(), T(100)}));
}

TEST(StatesTest, ABackfillOlderThanTheWindowIsPlacedAndSettledWithItsBatch) {
  std::map<int, std::vector<Sample>> arrivals;
  arrivals[7200] = {At("M", "Xact", 0, ValueKind::kText, "ACTIVE"),
                    At("M", "Xact", 60, ValueKind::kText, "STOPPED"),
                    At("M", "Xact", 90, ValueKind::kText, "ACTIVE")};
  const Replayed r = Replay(arrivals, absl::Seconds(30), 7200);
  EXPECT_TRUE(r.tracker.held.empty());
  EXPECT_THAT(r.changes.closed_intervals,
              ElementsAre(StateInterval{MachineState::kRunning, T(0), T(60)},
                          StateInterval{MachineState::kStopped, T(60), T(90)}));
  EXPECT_EQ(r.changes.downtime_events.size(), 2u);  // started and ended
}

// Re-test (sweep 49, F1): a new machine's first samples all waited, UpdateMachine removed
// its e-stop item, the withdrawal was not recorded (no observation placed yet), and the
// TRIGGERED held the machine DOWN for good.
TEST(StatesTest, AWithdrawalIsRecordedWhileTheFirstSamplesWait) {
  MachineBatch first;
  first.observations = {{T(90), StateInput::kExecution, "Xact", std::string("ACTIVE")},
                        {T(95), StateInput::kEmergencyStop, "estop", std::string("TRIGGERED")}};
  first.newest = T(95);
  first.release_before = T(70);  // now 100, window 30
  StateChanges changes;
  TrackerState state = AdvanceTracker(TrackerState{}, first, &changes);
  ASSERT_EQ(state.held.size(), 2u);
  RecordWithdrawals(&state, {{T(100), StateInput::kEmergencyStop, ""}});
  ASSERT_EQ(state.withdrawals.size(), 1u);
  EXPECT_THAT(OpenTimeline(state, T(101)),
              ElementsAre(StateInterval{MachineState::kRunning, T(90), T(95)},
                          StateInterval{MachineState::kDown, T(95), T(100)},
                          StateInterval{MachineState::kRunning, T(100), T(101)}));
  // The clock passes them by the window: placed in time order, the downtime ends at the
  // update.
  std::optional<MachineBatch> due = SettleBatch(state, T(120), T(101));
  ASSERT_TRUE(due.has_value());
  state = AdvanceTracker(state, *due, &changes);
  EXPECT_TRUE(state.held.empty());
  EXPECT_TRUE(state.withdrawals.empty());
  EXPECT_THAT(changes.closed_intervals,
              ElementsAre(StateInterval{MachineState::kRunning, T(90), T(95)},
                          StateInterval{MachineState::kDown, T(95), T(100)}));
  ASSERT_EQ(changes.downtime_events.size(), 2u);
  EXPECT_EQ(changes.downtime_events[1].change, DowntimeChange::kEnded);
  EXPECT_EQ(changes.downtime_events[1].end, T(100));
  EXPECT_EQ(changes.late_observations, 0);
}

// Re-test (sweep 49, F2): a withdrawal was applied before the samples waiting, at the
// update's time, so those stamped before it were late and dropped from the timeline they
// had been shown in, uncounted. They are placed at their own time, then the withdrawal.
TEST(StatesTest, SamplesWaitingBeforeAWithdrawalArePlacedAtTheirOwnTime) {
  MachineBatch backfill;
  backfill.observations = {{T(0), StateInput::kExecution, "Xact", std::string("ACTIVE")},
                           {T(10), StateInput::kEmergencyStop, "estop", std::string("TRIGGERED")}};
  backfill.newest = T(10);
  backfill.release_before = T(20);
  StateChanges changes;
  TrackerState state = AdvanceTracker(TrackerState{}, backfill, &changes);
  MachineBatch waiting;  // the e-stop released at 40, waiting at 50
  waiting.observations = {{T(40), StateInput::kEmergencyStop, "estop", std::string("ARMED")}};
  waiting.newest = T(40);
  waiting.release_before = T(20);
  state = AdvanceTracker(state, waiting, &changes);
  ASSERT_EQ(state.held.size(), 1u);
  RecordWithdrawals(&state, {{T(50), StateInput::kEmergencyStop, ""}});  // item removed at 50
  const std::vector<StateInterval> shown = OpenTimeline(state, T(51));
  EXPECT_THAT(shown, ElementsAre(StateInterval{MachineState::kDown, T(10), T(40)},
                                 StateInterval{MachineState::kRunning, T(40), T(51)}));
  state = AdvanceTracker(state, *SettleBatch(state, T(100), T(100)), &changes);
  EXPECT_EQ(changes.late_observations, 0);
  EXPECT_THAT(changes.closed_intervals,
              ElementsAre(StateInterval{MachineState::kRunning, T(0), T(10)},
                          StateInterval{MachineState::kDown, T(10), T(40)}));
  EXPECT_EQ(MachineStateTracker(state).Current().start, T(40));  // running since the release
}

// Recorded withdrawals, resumed from the stored tracker, apply in their order, once.
TEST(StatesTest, RecordedWithdrawalsApplyInOrderOnce) {
  MachineBatch batch;
  batch.observations = {
      {T(0), StateInput::kExecution, "Xact", std::string("ACTIVE")},
      {T(10), StateInput::kCondition, "servo", ConditionValue{ConditionLevel::kFault, ""}}};
  batch.newest = T(10);
  StateChanges changes;
  TrackerState state = AdvanceTracker(TrackerState{}, batch, &changes);
  RecordWithdrawals(
      &state, {{T(30), StateInput::kCondition, "servo"}, {T(40), StateInput::kExecution, ""}});
  state = *DecodeTrackerState(EncodeTrackerState(state));
  MachineBatch later;
  later.newest = T(40);
  state = AdvanceTracker(state, later, &changes);
  EXPECT_TRUE(state.withdrawals.empty());
  const MachineStateTracker resumed(state);
  EXPECT_EQ(resumed.Derive(), MachineState::kUnavailable);
  EXPECT_THAT(resumed.Unsettled(), ElementsAre(StateInterval{MachineState::kRunning, T(30), T(40)},
                                               StateInterval{MachineState::kUnavailable, T(40),
                                                             absl::InfiniteFuture()}));
  later.newest = T(50);
  state = AdvanceTracker(state, later, &changes);  // none left: only time moves
  EXPECT_EQ(state.last_time, T(50));
}

TEST(StatesTest, AtMostSoManyObservationsWaitPerMachine) {
  MachineBatch batch;
  const int n = static_cast<int>(kMaxHeldObservations) + 10;
  for (int i = 0; i < n; ++i) {
    batch.observations.push_back(
        {T(i), StateInput::kExecution, "Xact", std::string(i % 2 == 0 ? "ACTIVE" : "READY")});
  }
  batch.newest = T(n);
  batch.release_before = T(-1000);  // the window would hold them all
  StateChanges changes;
  const TrackerState state = AdvanceTracker(TrackerState{}, batch, &changes);
  ASSERT_EQ(state.held.size(), kMaxHeldObservations);
  EXPECT_EQ(state.held.front().time, T(10));  // the oldest ten were placed
  EXPECT_EQ(state.last_time, T(9));
  EXPECT_EQ(changes.closed_intervals.size(), 8u);  // [0,1) … [7,8); the change at 9 pending
}

TEST(StatesTest, DowntimesAfterFoldsEachDowntimesEvents) {
  const std::vector<DowntimeEvent> events = {
      {DowntimeChange::kEnded, MachineState::kStopped, T(0), T(5), T(5)},
      {DowntimeChange::kStarted, MachineState::kStopped, T(10), absl::InfiniteFuture(), T(10)},
      {DowntimeChange::kEscalated, MachineState::kDown, T(10), absl::InfiniteFuture(), T(12)}};
  std::vector<Downtime> after = DowntimesAfter("A", events);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].start, T(0));
  EXPECT_EQ(after[0].end, T(5));
  EXPECT_EQ(after[1].state, MachineState::kDown);
  EXPECT_FALSE(after[1].end);
  EXPECT_EQ(after[1].machine_id, "A");
}

TimelineFacts Facts() {
  TimelineFacts facts;
  facts.closed = {{MachineState::kIdle, T(0), T(10)}, {MachineState::kRunning, T(10), T(20)}};
  MachineStateTracker tracker;
  StateChanges ignored;
  tracker.Observe({T(0), StateInput::kExecution, "Xact", std::string("READY")}, &ignored);
  tracker.Observe({T(10), StateInput::kExecution, "Xact", std::string("ACTIVE")}, &ignored);
  tracker.Observe({T(20), StateInput::kExecution, "Xact", std::string("STOPPED")}, &ignored);
  tracker.Observe({T(30), StateInput::kExecution, "Xact", std::string("ACTIVE")}, &ignored);
  facts.tracker = tracker.state();  // settled STOPPED [20, 30), ACTIVE at 30 pending
  return facts;
}

TEST(StatesTest, TimelinePageClipsAndEndsTheCurrentStateAtNow) {
  absl::StatusOr<StateIntervalQuery> q = MakeStateIntervalQuery("A", T(5), T(100), 0, "");
  ASSERT_TRUE(q.ok()) << q.status();
  StateIntervalPage page = TimelinePage(*q, Facts(), T(50));
  ASSERT_EQ(page.intervals.size(), 4u);
  EXPECT_EQ(page.intervals[0].interval, (StateInterval{MachineState::kIdle, T(5), T(10)}));
  EXPECT_EQ(page.intervals[0].start, T(0));  // the cursor is the unclipped start
  EXPECT_EQ(page.intervals[2].interval, (StateInterval{MachineState::kStopped, T(20), T(30)}));
  EXPECT_EQ(page.intervals[3].interval, (StateInterval{MachineState::kRunning, T(30), T(50)}));
  EXPECT_TRUE(page.intervals[3].current);
  EXPECT_FALSE(page.intervals[2].current);
  EXPECT_FALSE(page.more);
  // A range that ended before now clips the current state at its end.
  q = MakeStateIntervalQuery("A", T(5), T(40), 0, "");
  page = TimelinePage(*q, Facts(), T(50));
  EXPECT_EQ(page.intervals.back().interval.end, T(40));
  // A range before the first state has nothing.
  q = MakeStateIntervalQuery("A", T(-50), T(-1), 0, "");
  EXPECT_TRUE(TimelinePage(*q, Facts(), T(50)).intervals.empty());
}

TEST(StatesTest, TimelinePagesAcrossClosedAndOpenIntervals) {
  std::vector<MachineState> seen;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<StateIntervalQuery> q = MakeStateIntervalQuery("A", T(0), T(100), 3, token);
    ASSERT_TRUE(q.ok()) << q.status();
    // The store's part: closed ones after the cursor, at most page_size + 1.
    TimelineFacts facts = Facts();
    std::vector<StateInterval> closed;
    for (const StateInterval& i : facts.closed) {
      if (!q->after || i.start > q->after->sort_time) closed.push_back(i);
    }
    facts.closed = closed;
    StateIntervalPage page = TimelinePage(*q, facts, T(50));
    for (const ListedInterval& i : page.intervals) seen.push_back(i.interval.state);
    token = page.more ? NextStateIntervalPageToken(*q, page.intervals.back()) : "";
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 2);
  EXPECT_THAT(seen, ElementsAre(MachineState::kIdle, MachineState::kRunning, MachineState::kStopped,
                                MachineState::kRunning));
  // A token of another range is refused.
  absl::StatusOr<StateIntervalQuery> q = MakeStateIntervalQuery("A", T(0), T(100), 3, "");
  const std::string other = NextStateIntervalPageToken(*q, {{}, T(10), false});
  EXPECT_EQ(MakeStateIntervalQuery("A", T(0), T(99), 3, other).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StatesTest, QueriesNameTheWrongField) {
  EXPECT_EQ(MakeStateIntervalQuery("", T(0), T(1), 0, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(MakeStateIntervalQuery("A", T(1), T(1), 0, "").ok());
  EXPECT_FALSE(MakeStateIntervalQuery("A", std::nullopt, T(1), 0, "").ok());
  EXPECT_FALSE(MakeStateIntervalQuery("A", T(0), T(1), 1001, "").ok());
  EXPECT_TRUE(CheckUtilizationRange("A", T(0), T(0) + absl::Hours(24 * 366)).ok());
  EXPECT_FALSE(CheckUtilizationRange("A", T(0), T(1) + absl::Hours(24 * 366)).ok());
  EXPECT_FALSE(CheckUtilizationRange("A", T(1), T(0)).ok());
  EXPECT_FALSE(MakeDowntimeQuery("", T(1), T(0), false, 0, "").ok());
  EXPECT_FALSE(MakeDowntimeQuery("", std::nullopt, std::nullopt, false, -1, "").ok());
  runtime::Violations violations;
  EXPECT_EQ(ParseDowntimeId("17", violations), 17);
  for (const char* bad : {"", "0", "-3", "+3", " 3", "3x", "03", "9223372036854775808"}) {
    EXPECT_EQ(ParseDowntimeId(bad, violations), std::nullopt) << bad;
  }
  CheckDowntimeReason({"", "comment"}, violations);
  EXPECT_EQ(violations.items().size(), 9u);
}

// Reads `facts` as the store does: at most `limit` closed intervals after `after` a page,
// and the tracker; counts the reads.
TimelinePageReader PagesOf(const TimelineFacts& facts, int* reads) {
  return
      [facts, reads](std::optional<absl::Time> after, int limit) -> absl::StatusOr<TimelineFacts> {
        ++*reads;
        TimelineFacts page;
        page.tracker = facts.tracker;
        for (const StateInterval& i : facts.closed) {
          if (after && i.start <= *after) continue;
          if (page.closed.size() == static_cast<size_t>(limit)) break;
          page.closed.push_back(i);
        }
        return page;
      };
}

TEST(StatesTest, UtilizationCountsTheOpenTimelineUpToNow) {
  for (int page_size : {1, 2, kUtilizationPageSize}) {
    int reads = 0;
    absl::StatusOr<std::map<MachineState, absl::Duration>> used =
        UtilizationOf(PagesOf(Facts(), &reads), T(-10), T(60), T(50), page_size);
    ASSERT_TRUE(used.ok()) << used.status();
    EXPECT_EQ(used->at(MachineState::kIdle), absl::Seconds(10));
    EXPECT_EQ(used->at(MachineState::kRunning), absl::Seconds(10 + 20));
    EXPECT_EQ(used->at(MachineState::kStopped), absl::Seconds(10));
    // Before the first state and after now.
    EXPECT_EQ(used->at(MachineState::kUnavailable), absl::Seconds(10 + 10));
    // Two closed intervals: page by page until a page is not full.
    EXPECT_EQ(reads, 2 / page_size + 1) << page_size;
  }
  // No tracker, no intervals: all UNAVAILABLE.
  int reads = 0;
  absl::StatusOr<std::map<MachineState, absl::Duration>> used =
      UtilizationOf(PagesOf(TimelineFacts{}, &reads), T(0), T(60), T(50));
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(used->at(MachineState::kUnavailable), absl::Seconds(60));
  EXPECT_EQ(UtilizationOf(PagesOf(TimelineFacts{}, &reads), T(60), T(60), T(50)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Outside testing: STOPPED stamped 2 minutes ahead of the server's clock (within
// max-future-skew) was served as the current state, starting in the future, and counted
// in GetUtilization as time already spent.
TEST(StatesTest, StatesAMachineClockAheadOfOursReportedCountFromNowOn) {
  MachineStateTracker tracker;
  StateChanges changes;
  tracker.Observe({T(-60), StateInput::kExecution, "Xact", std::string("ACTIVE")}, &changes);
  tracker.Observe({T(120), StateInput::kExecution, "Xact", std::string("STOPPED")}, &changes);
  TimelineFacts facts;
  facts.tracker = tracker.state();
  EXPECT_THAT(OpenTimeline(facts.tracker, T(1)),
              ElementsAre(StateInterval{MachineState::kRunning, T(-60), T(1)}));
  int reads = 0;
  absl::StatusOr<std::map<MachineState, absl::Duration>> used =
      UtilizationOf(PagesOf(facts, &reads), T(-60), T(300), T(1));
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(used->at(MachineState::kRunning), absl::Seconds(61));
  EXPECT_EQ(used->at(MachineState::kStopped), absl::ZeroDuration());
  EXPECT_EQ(used->at(MachineState::kUnavailable), absl::Seconds(299));
  // Once now has passed it, the stop is the current state.
  EXPECT_THAT(OpenTimeline(facts.tracker, T(130)),
              ElementsAre(StateInterval{MachineState::kRunning, T(-60), T(120)},
                          StateInterval{MachineState::kStopped, T(120), T(130)}));
}

TEST(StatesTest, PartCountsPerItemAndTheirValues) {
  absl::StatusOr<PartCountSum> parts = PartCountSum::ForRange(T(0), T(60));
  ASSERT_TRUE(parts.ok());
  // Items interleaved, as the store streams them.
  parts->Add("a", {T(0), true, 10});
  parts->Add("b", {T(5), true, 1});
  parts->Add("b", {T(6), false, 0});
  parts->Add("b", {T(7), true, 4});
  parts->Add("a", {T(10), true, 13});
  EXPECT_EQ(parts->parts(), 3 + 3);
  parts->Add("c", {T(11), true, 9.0e15});
  parts->Add("c", {T(12), true, 9.007e15});
  parts->Add("d", {T(11), true, 0});
  parts->Add("d", {T(12), true, 9.007e15});
  EXPECT_EQ(parts->parts(), 6 + 7000000000000 + 9007000000000000);
  EXPECT_EQ(*parts->PartCount(), 6 + 7000000000000 + 9007000000000000);
  EXPECT_EQ(PartCountSum::ForRange(T(1), T(0)).status().code(), absl::StatusCode::kInvalidArgument);
  Sample text = At("A", "parts", 0, ValueKind::kText, " 42 ");
  ASSERT_TRUE(PartCountObservationOf(text));
  EXPECT_EQ(PartCountObservationOf(text)->value, 42);
  text.text = "unavailable";
  EXPECT_FALSE(PartCountObservationOf(text)->available);
  text.text = "many";
  EXPECT_FALSE(PartCountObservationOf(text));
  EXPECT_FALSE(PartCountObservationOf(At("A", "parts", 0, ValueKind::kCondition)));
}

// Outside testing (BH L1): exactly 2^63-1 parts was refused as past the most part_count
// holds. 0, 2^53 (1,023 times), 0, then 2^53-1: 1,023 × 2^53 + 2^53 - 1 = 2^63 - 1.
TEST(StatesTest, PartCountAtInt64sMaximumIsACountOneMoreIsRefused) {
  const double top = 9007199254740992.0;  // 2^53
  for (const double last : {top - 1, top}) {
    absl::StatusOr<PartCountSum> parts = PartCountSum::ForRange(T(0), T(3000));
    ASSERT_TRUE(parts.ok());
    int t = 0;
    for (int i = 0; i < 1023; ++i) {
      parts->Add("a", {T(t++), true, 0});
      parts->Add("a", {T(t++), true, top});
    }
    parts->Add("a", {T(t++), true, 0});
    parts->Add("a", {T(t++), true, last});
    absl::StatusOr<int64_t> count = parts->PartCount();
    if (last < top) {
      ASSERT_TRUE(count.ok()) << count.status();
      EXPECT_EQ(*count, std::numeric_limits<int64_t>::max());
    } else {
      EXPECT_EQ(count.status().code(), absl::StatusCode::kOutOfRange);
    }
  }
  // Across items alike: the sum reaching the maximum is a count, passing it is not.
  absl::StatusOr<PartCountSum> two = PartCountSum::ForRange(T(0), T(3000));
  ASSERT_TRUE(two.ok());
  for (int i = 0; i < 512; ++i) {
    two->Add("a", {T(2 * i), true, 0});
    two->Add("a", {T(2 * i + 1), true, top});
  }
  two->Add("b", {T(0), true, 0});
  for (int i = 0; i < 511; ++i) {
    two->Add("b", {T(2 * i + 1), true, top});
    two->Add("b", {T(2 * i + 2), true, 0});
  }
  two->Add("b", {T(2000), true, top - 1});
  ASSERT_TRUE(two->PartCount().ok()) << two->PartCount().status();
  EXPECT_EQ(*two->PartCount(), std::numeric_limits<int64_t>::max());
  two->Add("b", {T(2001), true, top});
  EXPECT_EQ(two->PartCount().status().code(), absl::StatusCode::kOutOfRange);
}

TEST(StatesTest, DowntimesListNewestFirstWithFilters) {
  Downtime a{1, "A", MachineState::kStopped, T(10), T(20), "", "", "", std::nullopt};
  Downtime b{2, "B", MachineState::kDown, T(10), std::nullopt, "TOOL", "", "x", T(30)};
  Downtime c{3, "A", MachineState::kDown, T(30), std::nullopt, "", "", "", std::nullopt};
  EXPECT_TRUE(ListsBefore(c, b));
  EXPECT_TRUE(ListsBefore(b, a));  // equal start: the higher id first
  absl::StatusOr<DowntimeQuery> q = MakeDowntimeQuery("A", T(10), T(30), true, 0, "");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(Matches(*q, a));
  EXPECT_FALSE(Matches(*q, b));  // another machine, and explained
  EXPECT_FALSE(Matches(*q, c));  // began at the end of the range
  q = MakeDowntimeQuery(
      "", std::nullopt, std::nullopt, false, 0,
      NextDowntimePageToken(*MakeDowntimeQuery("", std::nullopt, std::nullopt, false, 0, ""), b));
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(Matches(*q, a));
  EXPECT_FALSE(Matches(*q, b));
  EXPECT_FALSE(Matches(*q, c));
  const Downtime explained = WithReason(a, {"NO-MATERIAL", "empty"}, "otto", T(99));
  EXPECT_EQ(explained.reason_code, "NO-MATERIAL");
  EXPECT_EQ(explained.reason_set_by, "otto");
  EXPECT_EQ(explained.reason_set_time, T(99));
  EXPECT_EQ(explained.end, a.end);
}

}  // namespace
}  // namespace plantmesh::telemetry
