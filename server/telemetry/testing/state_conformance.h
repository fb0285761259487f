// The machine-state part of the TelemetryStore conformance suite (store.h, "Machine
// states"), typed over the same backends as store_conformance.h:
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Fake, MachineStateConformanceTest, FakeBackend);
//
// Trackers moved by ingest (intervals, downtimes and their events written with the
// batch, a duplicate batch moving nothing, a pending change settled by a later batch
// without state samples), the timeline's snapshot and paging, part counts with their
// baseline, downtimes listed newest first with filters, reasons stored once per
// request_id.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/telemetry/v1/telemetry.pb.h"
#include "server/runtime/errors.h"
#include "server/telemetry/states.h"
#include "server/telemetry/testing/store_conformance.h"

namespace plantmesh::telemetry::testing {

inline Sample TextAt(const std::string& item, const std::string& text, absl::Time t,
                     const std::string& machine = "CNC-07") {
  Sample s = NumberAt(item, 0, t, machine);
  s.kind = ValueKind::kText;
  s.text = text;
  return s;
}

inline Sample ConditionAt(const std::string& item, int level, const std::string& code, absl::Time t,
                          const std::string& machine = "CNC-07") {
  Sample s = NumberAt(item, 0, t, machine);
  s.kind = ValueKind::kCondition;
  s.condition_level = level;
  s.native_code = code;
  return s;
}

template <typename Backend>
class MachineStateConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status up = backend_.SetUp();
    ASSERT_TRUE(up.ok()) << up;
    store_ = backend_.store();
    now_ = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
    t0_ = absl::FromUnixSeconds(absl::ToUnixSeconds(now_) - 3600);
  }

  void RegisterCnc(const std::string& id = "CNC-07") {
    Machine m;
    m.id = id;
    m.data_items = {{"avail", "", Category::kEvent, kTypeAvailability, "", ""},
                    {"Xact", "", Category::kEvent, kTypeExecution, "", ""},
                    {"servo", "", Category::kCondition, 16, "", ""},
                    {"parts", "", Category::kEvent, kTypePartCount, "", ""},
                    {"S1speed", "", Category::kSample, 5, "", ""}};
    absl::StatusOr<Replayable<Machine>> r =
        store_->RegisterMachine(m, Ctx("ops", "Register", "", now_), nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
  }

  // `settle_before`: IngestAudit's.
  BatchOutcome Ingest(const std::string& writer, uint64_t sequence, std::vector<Sample> samples,
                      absl::Time settle_before = absl::InfinitePast()) {
    return Ingest(writer, sequence, std::move(samples),
                  IngestAudit{nullptr, absl::InfiniteFuture(), settle_before});
  }
  // With the server's clock at `now` and a reorder window (no settling by the clock).
  BatchOutcome IngestAt(const std::string& writer, uint64_t sequence, std::vector<Sample> samples,
                        absl::Time now, absl::Duration reorder_window) {
    return Ingest(writer, sequence, std::move(samples),
                  IngestAudit{nullptr, now, absl::InfinitePast(), now - reorder_window});
  }
  BatchOutcome Ingest(const std::string& writer, uint64_t sequence, std::vector<Sample> samples,
                      const IngestAudit& audit) {
    absl::StatusOr<std::vector<BatchOutcome>> out =
        IngestTogether({Batch{writer, sequence, std::move(samples)}}, audit);
    return out.ok() ? out->front() : BatchOutcome{};
  }
  // Batches of one writer in one transaction, judged with the domain's judge at now_.
  absl::StatusOr<std::vector<BatchOutcome>> IngestTogether(
      std::vector<Batch> batches, absl::Time settle_before = absl::InfinitePast()) {
    return IngestTogether(std::move(batches),
                          IngestAudit{nullptr, absl::InfiniteFuture(), settle_before});
  }
  absl::StatusOr<std::vector<BatchOutcome>> IngestTogether(std::vector<Batch> batches,
                                                           const IngestAudit& audit) {
    absl::StatusOr<std::vector<BatchOutcome>> out = store_->IngestBatches(
        batches,
        [this](std::vector<Sample>& s, const Catalog& c) {
          return JudgeBatch(s, c, now_, IngestLimits{});
        },
        [](const Batch&, const std::vector<int>&) {
          return runtime::OutboxEvent{common::NewUuidV4(), "", "batch"};
        },
        audit);
    EXPECT_TRUE(out.ok()) << out.status();
    return out;
  }

  TimelineFacts Timeline(absl::Time start, absl::Time end,
                         std::optional<absl::Time> after = std::nullopt, int limit = 0,
                         const std::string& machine = "CNC-07") {
    absl::StatusOr<TimelineFacts> facts = store_->StateTimeline(machine, start, end, after, limit);
    EXPECT_TRUE(facts.ok()) << facts.status();
    return facts.ok() ? *facts : TimelineFacts{};
  }

  // Every machine's downtimes, newest first (one page).
  std::vector<Downtime> Downtimes() {
    absl::StatusOr<DowntimeQuery> q =
        MakeDowntimeQuery("", std::nullopt, std::nullopt, false, 0, "");
    EXPECT_TRUE(q.ok());
    absl::StatusOr<DowntimePage> page = store_->ListDowntimes(*q);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->downtimes : std::vector<Downtime>();
  }

  // The downtime events of the outbox, oldest first (batch events are skipped).
  std::vector<v1::DowntimeEvent> DowntimeEvents() {
    std::vector<v1::DowntimeEvent> out;
    for (const runtime::OutboxEvent& e : backend_.Events()) {
      v1::DowntimeEvent event;
      if (event.ParseFromString(e.payload) && event.change_type() != 0) out.push_back(event);
    }
    return out;
  }

  absl::Time T(int seconds) const { return t0_ + absl::Seconds(seconds); }

  // A recorded sequence in three batches: IDLE, RUNNING, then a stop that a servo fault
  // escalates and a restart ends (one downtime), then RUNNING again.
  void IngestRecordedSequence() {
    Ingest("w", 1,
           {TextAt("avail", "AVAILABLE", T(0)), TextAt("Xact", "READY", T(0)),
            TextAt("Xact", "ACTIVE", T(10))});
    Ingest("w", 2, {TextAt("Xact", "STOPPED", T(20)), ConditionAt("servo", 3, "SV0401", T(25))});
    Ingest("w", 3, {ConditionAt("servo", 1, "", T(30)), TextAt("Xact", "ACTIVE", T(40))});
  }

  Backend backend_;
  TelemetryStore* store_ = nullptr;
  absl::Time now_;
  absl::Time t0_;
};

TYPED_TEST_SUITE_P(MachineStateConformanceTest);

TYPED_TEST_P(MachineStateConformanceTest, IngestSettlesIntervalsAndDowntimesWithTheBatch) {
  this->RegisterCnc();
  this->IngestRecordedSequence();
  // ACTIVE at 40 is the last sample so far: not settled yet, the tracker holds it.
  TimelineFacts facts = this->Timeline(this->T(-100), this->T(100));
  const std::vector<StateInterval> closed = {
      {MachineState::kIdle, this->T(0), this->T(10)},
      {MachineState::kRunning, this->T(10), this->T(20)},
      {MachineState::kStopped, this->T(20), this->T(25)},
      {MachineState::kDown, this->T(25), this->T(30)},
  };
  EXPECT_EQ(facts.closed, closed);
  ASSERT_TRUE(facts.tracker);
  EXPECT_TRUE(TrackerPending(*facts.tracker));
  EXPECT_EQ(OpenTimeline(facts.tracker, this->T(60)),
            (std::vector<StateInterval>{{MachineState::kStopped, this->T(30), this->T(40)},
                                        {MachineState::kRunning, this->T(40), this->T(60)}}));
  // A batch with only a spindle sample settles the pending change (the machine pays
  // because its tracker is pending).
  this->Ingest("w", 4, {NumberAt("S1speed", 1200, this->T(50))});
  facts = this->Timeline(this->T(-100), this->T(100));
  ASSERT_EQ(facts.closed.size(), 5u);
  EXPECT_EQ(facts.closed[4], (StateInterval{MachineState::kStopped, this->T(30), this->T(40)}));
  ASSERT_TRUE(facts.tracker);
  EXPECT_FALSE(TrackerPending(*facts.tracker));

  // One downtime: STOPPED at 20, escalated to DOWN at 25, ended at 40.
  absl::StatusOr<DowntimeQuery> q = MakeDowntimeQuery("", std::nullopt, std::nullopt, false, 0, "");
  ASSERT_TRUE(q.ok());
  absl::StatusOr<DowntimePage> page = this->store_->ListDowntimes(*q);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->downtimes.size(), 1u);
  const Downtime& d = page->downtimes[0];
  EXPECT_EQ(d.machine_id, "CNC-07");
  EXPECT_EQ(d.state, MachineState::kDown);
  EXPECT_EQ(d.start, this->T(20));
  EXPECT_EQ(d.end, this->T(40));
  EXPECT_TRUE(d.reason_code.empty());

  std::vector<v1::DowntimeEvent> events = this->DowntimeEvents();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].change_type(), v1::DOWNTIME_CHANGE_TYPE_STARTED);
  EXPECT_EQ(events[0].downtime().state(), v1::MACHINE_STATE_STOPPED);
  EXPECT_FALSE(events[0].downtime().has_end_time());
  EXPECT_EQ(events[1].change_type(), v1::DOWNTIME_CHANGE_TYPE_ESCALATED);
  EXPECT_EQ(events[1].downtime().state(), v1::MACHINE_STATE_DOWN);
  EXPECT_EQ(events[1].change_time().seconds(), absl::ToUnixSeconds(this->T(25)));
  EXPECT_EQ(events[2].change_type(), v1::DOWNTIME_CHANGE_TYPE_ENDED);
  EXPECT_EQ(events[2].downtime().end_time().seconds(), absl::ToUnixSeconds(this->T(40)));
  for (const v1::DowntimeEvent& e : events) EXPECT_EQ(e.downtime().id(), absl::StrCat(d.id));
}

// The recorded sequence and the spindle batch that settles it, committed together (an
// ingest stream's group): the trackers move batch after batch as they would one by one
// (the last batch pays for the machine only because the one before left it pending).
TYPED_TEST_P(MachineStateConformanceTest, BatchesCommittedTogetherMoveTheTrackersInOrder) {
  this->RegisterCnc();
  const std::vector<Batch> group = {
      {"w",
       1,
       {TextAt("avail", "AVAILABLE", this->T(0)), TextAt("Xact", "READY", this->T(0)),
        TextAt("Xact", "ACTIVE", this->T(10))}},
      {"w",
       2,
       {TextAt("Xact", "STOPPED", this->T(20)), ConditionAt("servo", 3, "SV0401", this->T(25))}},
      {"w",
       2,
       {TextAt("Xact", "STOPPED", this->T(20)),
        ConditionAt("servo", 3, "SV0401", this->T(25))}},  // re-sent: moves nothing
      {"w", 3, {ConditionAt("servo", 1, "", this->T(30)), TextAt("Xact", "ACTIVE", this->T(40))}},
      {"w", 4, {NumberAt("S1speed", 1200, this->T(50))}},
  };
  absl::StatusOr<std::vector<BatchOutcome>> outcomes = this->IngestTogether(group);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  TimelineFacts facts = this->Timeline(this->T(-100), this->T(100));
  const std::vector<StateInterval> closed = {
      {MachineState::kIdle, this->T(0), this->T(10)},
      {MachineState::kRunning, this->T(10), this->T(20)},
      {MachineState::kStopped, this->T(20), this->T(25)},
      {MachineState::kDown, this->T(25), this->T(30)},
      {MachineState::kStopped, this->T(30), this->T(40)},
  };
  EXPECT_EQ(facts.closed, closed);
  ASSERT_TRUE(facts.tracker);
  EXPECT_FALSE(TrackerPending(*facts.tracker));
  std::vector<v1::DowntimeEvent> events = this->DowntimeEvents();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].change_type(), v1::DOWNTIME_CHANGE_TYPE_STARTED);
  EXPECT_EQ(events[1].change_type(), v1::DOWNTIME_CHANGE_TYPE_ESCALATED);
  EXPECT_EQ(events[2].change_type(), v1::DOWNTIME_CHANGE_TYPE_ENDED);
}

// Outside testing: a stop reported by an adapter that then stays silent (EXECUTION only
// on change) showed as the current state but as no downtime until the machine's next
// sample. The settle round (StateSettleJob) settles what is older than its cut-off.
TYPED_TEST_P(MachineStateConformanceTest, AChangeNoLaterSampleSettlesIsSettledByTheClock) {
  this->RegisterCnc();
  this->Ingest("w", 1,
               {TextAt("avail", "AVAILABLE", this->T(0)), TextAt("Xact", "ACTIVE", this->T(0)),
                TextAt("Xact", "STOPPED", this->T(10))});
  EXPECT_TRUE(this->Downtimes().empty());
  absl::StatusOr<int> settled =
      this->store_->SettlePendingStates(this->T(10), absl::InfiniteFuture());
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(*settled, 0);  // not older than the cut-off
  settled = this->store_->SettlePendingStates(this->T(15), absl::InfiniteFuture());
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(*settled, 1);
  std::vector<Downtime> listed = this->Downtimes();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, MachineState::kStopped);
  EXPECT_EQ(listed[0].start, this->T(10));
  EXPECT_FALSE(listed[0].end);
  std::vector<v1::DowntimeEvent> events = this->DowntimeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].change_type(), v1::DOWNTIME_CHANGE_TYPE_STARTED);
  // Nothing more to settle; the restart ends the same downtime.
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(100), absl::InfiniteFuture()), 0);
  this->Ingest("w", 2, {TextAt("Xact", "ACTIVE", this->T(60))});
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(100), absl::InfiniteFuture()), 1);
  listed = this->Downtimes();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].end, this->T(60));
}

// Outside testing: after a backfill of yesterday's stop and restart, ListDowntimes showed
// the downtime open for up to 15 s (until the settle round) while ListStateIntervals showed
// its end. A change the settle round would settle at once settles in the batch.
TYPED_TEST_P(MachineStateConformanceTest, ABatchSettlesWhatTheClockAlreadySettles) {
  this->RegisterCnc();
  // The restart at 20 is not older than the cut-off: it waits for the clock.
  this->Ingest("w", 1,
               {TextAt("avail", "AVAILABLE", this->T(0)), TextAt("Xact", "ACTIVE", this->T(0)),
                TextAt("Xact", "FEED_HOLD", this->T(10)), TextAt("Xact", "ACTIVE", this->T(20))},
               this->T(15));
  std::vector<Downtime> listed = this->Downtimes();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_FALSE(listed[0].end);
  // Older than the cut-off: settled with its batch.
  this->Ingest("w", 2,
               {TextAt("Xact", "FEED_HOLD", this->T(30)), TextAt("Xact", "ACTIVE", this->T(40))},
               this->T(45));
  listed = this->Downtimes();
  ASSERT_EQ(listed.size(), 2u);  // newest first
  EXPECT_EQ(listed[0].start, this->T(30));
  EXPECT_EQ(listed[0].end, this->T(40));
  EXPECT_EQ(listed[1].end, this->T(20));
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(100), absl::InfiniteFuture()),
            0);                                  // nothing left to settle
  EXPECT_EQ(this->DowntimeEvents().size(), 4u);  // each started and ended once
}

// Outside testing: UpdateMachine removed a CONDITION item with an active FAULT and the
// machine stayed DOWN for good (no sample of the item could ever clear it). An input the
// update withdraws has no value from the update on: the timeline changes at the update,
// the downtime ends, and it is settled like any change (StateSettleJob or a batch).
TYPED_TEST_P(MachineStateConformanceTest, AnInputAnUpdateWithdrawsHasNoValueFromTheUpdateOn) {
  this->RegisterCnc();
  this->Ingest("w", 1,
               {TextAt("avail", "AVAILABLE", this->T(0)), TextAt("Xact", "ACTIVE", this->T(0)),
                ConditionAt("servo", 3, "SV0401", this->T(10))});
  auto update = [&](absl::Time at, const std::string& request_id, std::vector<DataItem> items) {
    Machine patch;
    patch.data_items = std::move(items);
    absl::StatusOr<Replayable<Machine>> updated = this->store_->UpdateMachine(
        "CNC-07", Ctx("ops", "Update", request_id, at),
        [&](const Machine& current) {
          return ApplyMachineUpdate(current, patch, {"data_items"}, "", at);
        },
        nullptr);
    ASSERT_TRUE(updated.ok()) << updated.status();
  };
  const DataItem avail{"avail", "", Category::kEvent, kTypeAvailability, "", ""};
  const DataItem xact{"Xact", "", Category::kEvent, kTypeExecution, "", ""};
  update(this->T(100), "u1", {avail, xact});  // the servo item is gone
  // Read before anything moved the tracker: the withdrawal already counts.
  const std::vector<StateInterval> read =
      OpenTimeline(this->Timeline(this->T(-100), this->T(1000)).tracker, this->T(150));
  EXPECT_THAT(read, ::testing::ElementsAre(
                        StateInterval{MachineState::kRunning, this->T(0), this->T(10)},
                        StateInterval{MachineState::kDown, this->T(10), this->T(100)},
                        StateInterval{MachineState::kRunning, this->T(100), this->T(150)}));
  // The settle round applies it at once, then settles what it changed after the cut-off.
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(50), absl::InfiniteFuture()), 1);
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(100), absl::InfiniteFuture()), 0);
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(101), absl::InfiniteFuture()), 1);
  TimelineFacts facts = this->Timeline(this->T(-100), this->T(1000));
  EXPECT_THAT(facts.closed, ::testing::ElementsAre(
                                StateInterval{MachineState::kRunning, this->T(0), this->T(10)},
                                StateInterval{MachineState::kDown, this->T(10), this->T(100)}));
  std::vector<v1::DowntimeEvent> events = this->DowntimeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].change_type(), v1::DOWNTIME_CHANGE_TYPE_STARTED);
  EXPECT_EQ(events[1].change_type(), v1::DOWNTIME_CHANGE_TYPE_ENDED);
  EXPECT_EQ(events[1].downtime().end_time().seconds(), absl::ToUnixSeconds(this->T(100)));

  // An update that keeps every state input withdraws nothing.
  update(this->T(200), "u2", {xact, avail});
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(1000), absl::InfiniteFuture()), 0);
  // EXECUTION retyped: the state is not known from then on. A sample stamped before the
  // update is placed at its own time, before the withdrawal, which waits until a sample
  // or the clock passes its time (re-test: applied first, it made such samples late).
  update(this->T(300), "u3", {avail, {"Xact", "", Category::kSample, 5, "", ""}});
  EXPECT_EQ(this->Ingest("w", 2, {TextAt("avail", "AVAILABLE", this->T(250))}).late_state_count, 0);
  facts = this->Timeline(this->T(-100), this->T(1000));
  ASSERT_TRUE(facts.tracker);
  EXPECT_EQ(facts.tracker->withdrawals.size(), 1u);
  EXPECT_THAT(OpenTimeline(facts.tracker, this->T(400)),
              ::testing::ElementsAre(
                  StateInterval{MachineState::kRunning, this->T(100), this->T(300)},
                  StateInterval{MachineState::kUnavailable, this->T(300), this->T(400)}));
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(1000), absl::InfiniteFuture()), 1);
  facts = this->Timeline(this->T(-100), this->T(1000));
  ASSERT_TRUE(facts.tracker);
  EXPECT_TRUE(facts.tracker->withdrawals.empty());
  ASSERT_FALSE(facts.closed.empty());
  EXPECT_EQ(facts.closed.back(),
            (StateInterval{MachineState::kRunning, this->T(100), this->T(300)}));
  EXPECT_THAT(OpenTimeline(facts.tracker, this->T(400)),
              ::testing::ElementsAre(
                  StateInterval{MachineState::kUnavailable, this->T(300), this->T(400)}));
}

TYPED_TEST_P(MachineStateConformanceTest, DuplicateBatchMovesNothing) {
  this->RegisterCnc();
  this->IngestRecordedSequence();
  const TimelineFacts before = this->Timeline(this->T(-100), this->T(100));
  const size_t events = this->backend_.Events().size();
  // Batch 2 again (after a reconnect): a duplicate, the stop and the fault not re-applied.
  BatchOutcome again = this->Ingest(
      "w", 2,
      {TextAt("Xact", "STOPPED", this->T(20)), ConditionAt("servo", 3, "SV0401", this->T(25))});
  EXPECT_TRUE(again.duplicate);
  const TimelineFacts after = this->Timeline(this->T(-100), this->T(100));
  EXPECT_EQ(after.closed, before.closed);
  ASSERT_TRUE(after.tracker);
  EXPECT_EQ(*after.tracker, *before.tracker);
  EXPECT_EQ(this->backend_.Events().size(), events);
}

// Outside testing (sweep 42): a buffered batch of one adapter, older than what another
// adapter's batch had moved the machine's timeline to, left its stop out of the timeline
// and the ingest answer said nothing. The answer counts such samples.
TYPED_TEST_P(MachineStateConformanceTest, ABatchCountsItsStateSamplesOlderThanTheTimeline) {
  this->RegisterCnc();
  BatchOutcome on_time =
      this->Ingest("cnc", 1,
                   {TextAt("avail", "AVAILABLE", this->T(0)), TextAt("Xact", "ACTIVE", this->T(0)),
                    TextAt("Xact", "ACTIVE", this->T(100))});
  EXPECT_EQ(on_time.late_state_count, 0);
  // The other adapter's buffered batch: a stop and a restart before T(100), a fault
  // raised and cleared, and a spindle speed (not a state input).
  const std::vector<Sample> buffered = {
      TextAt("Xact", "STOPPED", this->T(50)), ConditionAt("servo", 3, "SV0401", this->T(52)),
      NumberAt("S1speed", 0, this->T(55)), ConditionAt("servo", 1, "", this->T(58)),
      TextAt("Xact", "ACTIVE", this->T(60))};
  BatchOutcome late = this->Ingest("io", 1, buffered);
  EXPECT_EQ(late.verdict.accepted.size(), 5u);
  EXPECT_EQ(late.late_state_count, 4);
  // The settled timeline stays as the first batch made it.
  const TimelineFacts facts = this->Timeline(this->T(-100), this->T(200));
  EXPECT_TRUE(facts.closed.empty());
  // Re-sent: a duplicate, nothing counted.
  BatchOutcome again = this->Ingest("io", 1, buffered);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.late_state_count, 0);
  // In time order again: nothing late.
  EXPECT_EQ(this->Ingest("cnc", 2, {TextAt("Xact", "READY", this->T(110))}).late_state_count, 0);
}

// Outside testing (AP F1): an I/O module's buffered batch came after the CNC's newer one
// and its fault was lost. Within the reorder window it waits in the tracker (across
// batches and writers, stored with it), reads show it at once, and it is placed at its
// own time when the clock passes it by the window.
TYPED_TEST_P(MachineStateConformanceTest, StateSamplesWithinTheReorderWindowArePlacedInTimeOrder) {
  this->RegisterCnc();
  const absl::Duration window = absl::Seconds(30);
  EXPECT_EQ(
      this->IngestAt("cnc", 1,
                     {TextAt("avail", "AVAILABLE", this->T(0)),
                      TextAt("Xact", "ACTIVE", this->T(0)), NumberAt("S1speed", 0, this->T(1))},
                     this->T(1), window)
          .late_state_count,
      0);
  EXPECT_EQ(
      this->IngestAt("cnc", 2,
                     {TextAt("Xact", "ACTIVE", this->T(15)), NumberAt("S1speed", 0, this->T(15))},
                     this->T(15), window)
          .late_state_count,
      0);
  // The I/O module's buffer, stamped before the CNC's last sample.
  EXPECT_EQ(this->IngestAt("io", 1,
                           {ConditionAt("servo", 3, "SV0401", this->T(10)),
                            ConditionAt("servo", 1, "", this->T(14))},
                           this->T(16), window)
                .late_state_count,
            0);
  TimelineFacts facts = this->Timeline(this->T(-100), this->T(200));
  EXPECT_TRUE(facts.closed.empty());  // nothing settled within the window
  ASSERT_TRUE(facts.tracker.has_value());
  EXPECT_EQ(facts.tracker->held.size(), 5u);
  EXPECT_THAT(
      OpenTimeline(facts.tracker, this->T(16)),
      ::testing::ElementsAre(StateInterval{MachineState::kRunning, this->T(0), this->T(10)},
                             StateInterval{MachineState::kDown, this->T(10), this->T(14)},
                             StateInterval{MachineState::kRunning, this->T(14), this->T(16)}));
  EXPECT_TRUE(this->Downtimes().empty());
  // Not due before the clock passes them by the window; then placed and settled.
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(5), this->T(-1)), 0);
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(40), this->T(20)), 1);
  facts = this->Timeline(this->T(-100), this->T(200));
  EXPECT_THAT(facts.closed,
              ::testing::ElementsAre(StateInterval{MachineState::kRunning, this->T(0), this->T(10)},
                                     StateInterval{MachineState::kDown, this->T(10), this->T(14)}));
  ASSERT_TRUE(facts.tracker.has_value());
  EXPECT_TRUE(facts.tracker->held.empty());
  const std::vector<Downtime> downtimes = this->Downtimes();
  ASSERT_EQ(downtimes.size(), 1u);
  EXPECT_EQ(downtimes[0].state, MachineState::kDown);
  EXPECT_EQ(downtimes[0].start, this->T(10));
  EXPECT_EQ(downtimes[0].end, this->T(14));
  EXPECT_EQ(this->DowntimeEvents().size(), 2u);  // started, ended
  // Nothing is left to do.
  EXPECT_EQ(*this->store_->SettlePendingStates(this->T(100), this->T(100)), 0);
}

TYPED_TEST_P(MachineStateConformanceTest, TimelinePagesByStartAndKeepsMachinesApart) {
  this->RegisterCnc();
  this->RegisterCnc("CNC-08");
  this->IngestRecordedSequence();
  this->Ingest("w8", 1,
               {TextAt("Xact", "ACTIVE", this->T(5), "CNC-08"),
                TextAt("Xact", "READY", this->T(15), "CNC-08"),
                NumberAt("S1speed", 0, this->T(16), "CNC-08")});
  // Overlapping [12, 27): RUNNING [10, 20), STOPPED [20, 25), DOWN [25, 30).
  TimelineFacts facts = this->Timeline(this->T(12), this->T(27));
  ASSERT_EQ(facts.closed.size(), 3u);
  EXPECT_EQ(facts.closed[0].start, this->T(10));
  // A page of 2 after the one starting at 10.
  facts = this->Timeline(this->T(12), this->T(27), this->T(10), 2);
  ASSERT_EQ(facts.closed.size(), 2u);
  EXPECT_EQ(facts.closed[0].start, this->T(20));
  EXPECT_EQ(facts.closed[1].start, this->T(25));
  // The other machine's timeline is its own (READY at 15 settled by the later spindle
  // sample of the same batch).
  facts = this->Timeline(this->T(-100), this->T(100), std::nullopt, 0, "CNC-08");
  EXPECT_EQ(facts.closed,
            (std::vector<StateInterval>{{MachineState::kRunning, this->T(5), this->T(15)}}));
  // A machine without state samples has no tracker; an unknown one is NOT_FOUND.
  this->RegisterCnc("CNC-09");
  facts = this->Timeline(this->T(-100), this->T(100), std::nullopt, 0, "CNC-09");
  EXPECT_TRUE(facts.closed.empty());
  EXPECT_FALSE(facts.tracker);
  EXPECT_EQ(
      this->store_->StateTimeline("NOPE", this->T(0), this->T(1), std::nullopt, 0).status().code(),
      absl::StatusCode::kNotFound);
}

TYPED_TEST_P(MachineStateConformanceTest, PartCountsWithTheirBaseline) {
  this->RegisterCnc();
  Sample off = NumberAt("parts", 0, this->T(25));
  off.kind = ValueKind::kUnavailable;
  this->Ingest("w", 1,
               {NumberAt("parts", 10, this->T(0)), NumberAt("parts", 12, this->T(5)),
                NumberAt("parts", 15, this->T(20)), off, NumberAt("parts", 2, this->T(30)),
                NumberAt("parts", 4, this->T(40)), NumberAt("S1speed", 9, this->T(21))});
  std::vector<PartCountObservation> parts;
  absl::StatusOr<PartCountSum> sum = PartCountSum::ForRange(this->T(10), this->T(40));
  ASSERT_TRUE(sum.ok());
  absl::Status read = this->store_->PartCountObservations(
      "CNC-07", this->T(10), this->T(40),
      [&](const std::string& item, const PartCountObservation& o) {
        EXPECT_EQ(item, "parts");
        parts.push_back(o);
        sum->Add(item, o);
      });
  ASSERT_TRUE(read.ok()) << read;
  // Baseline 12 (at 5), then 15, Unavailable, 2 in the range; 4 at 40 is outside.
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0].value, 12);
  EXPECT_EQ(parts[0].time, this->T(5));
  EXPECT_FALSE(parts[2].available);
  EXPECT_EQ(parts[3].value, 2);
  EXPECT_EQ(sum->parts(), 3);  // 12 -> 15; the reset to 2 adds nothing
  EXPECT_EQ(this->store_
                ->PartCountObservations("NOPE", this->T(0), this->T(1),
                                        [](const std::string&, const PartCountObservation&) {})
                .code(),
            absl::StatusCode::kNotFound);
}

// Outside testing: an adapter upgrade renamed the PART_COUNT item (UpdateMachine with the
// new id in place of the old one), and the parts of every range before it went to 0: only
// items registered as PART_COUNT now were counted. A left-out item keeps its type
// (retired); one named again is what it is registered as.
TYPED_TEST_P(MachineStateConformanceTest, ARenamedPartCounterKeepsItsPastParts) {
  this->RegisterCnc();
  this->Ingest("w", 1,
               {NumberAt("parts", 10, this->T(0)), NumberAt("parts", 14, this->T(10)),
                NumberAt("S1speed", 3, this->T(10))});
  auto update = [&](absl::Time at, const std::string& request_id, std::vector<DataItem> items) {
    Machine patch;
    patch.data_items = std::move(items);
    ASSERT_TRUE(this->store_
                    ->UpdateMachine(
                        "CNC-07", Ctx("ops", "Update", request_id, at),
                        [&](const Machine& current) {
                          return ApplyMachineUpdate(current, patch, {"data_items"}, "", at);
                        },
                        nullptr)
                    .ok());
  };
  const DataItem renamed{"PartCountAct", "", Category::kEvent, kTypePartCount, "", ""};
  const DataItem speed{"S1speed", "", Category::kSample, 5, "", ""};
  update(this->T(20), "rename", {renamed, speed});
  this->Ingest(
      "w", 2, {NumberAt("PartCountAct", 0, this->T(30)), NumberAt("PartCountAct", 5, this->T(40))});
  auto parts = [&](absl::Time start, absl::Time end) -> int64_t {
    absl::StatusOr<PartCountSum> sum = PartCountSum::ForRange(start, end);
    EXPECT_TRUE(sum.ok());
    EXPECT_TRUE(
        this->store_
            ->PartCountObservations(
                "CNC-07", start, end,
                [&](const std::string& item, const PartCountObservation& o) { sum->Add(item, o); })
            .ok());
    return sum.ok() ? sum->parts() : -1;
  };
  EXPECT_EQ(parts(this->T(0), this->T(20)), 4);  // before the rename, as it was
  EXPECT_EQ(parts(this->T(0), this->T(50)), 9);  // both items
  // Its samples are still named by their id in reads of history, not in live ones.
  using Ids = std::vector<std::string>;
  EXPECT_EQ(this->store_->UnknownMachinesAndDataItems({"CNC-07"}, {"parts"}, true)->data_items,
            Ids{});
  EXPECT_EQ(this->store_->UnknownMachinesAndDataItems({"CNC-07"}, {"parts"}, false)->data_items,
            Ids{"parts"});

  // Registered again under its id as a SAMPLE (a wrong type corrected): it is what it
  // is registered as, over its whole history.
  update(this->T(60), "retype",
         {renamed, speed, DataItem{"parts", "", Category::kSample, 5, "", ""}});
  EXPECT_EQ(parts(this->T(0), this->T(50)), 5);
}

// Outside testing: a count sent as text was never a baseline (only numbers were), so two
// back-to-back ranges counted the growth from it twice. The baseline is the newest count
// before the range, number or text, past values that are none (Unavailable).
TYPED_TEST_P(MachineStateConformanceTest, ACountSentAsTextIsABaselineToo) {
  this->RegisterCnc();
  Sample off = NumberAt("parts", 0, this->T(12));
  off.kind = ValueKind::kUnavailable;
  this->Ingest("w", 1,
               {NumberAt("parts", 10, this->T(0)), TextAt("parts", "15", this->T(10)), off,
                NumberAt("parts", 40, this->T(20))});
  auto parts = [&](int from, int to) {
    absl::StatusOr<PartCountSum> sum = PartCountSum::ForRange(this->T(from), this->T(to));
    EXPECT_TRUE(sum.ok());
    EXPECT_TRUE(
        this->store_
            ->PartCountObservations(
                "CNC-07", this->T(from), this->T(to),
                [&](const std::string& item, const PartCountObservation& o) { sum->Add(item, o); })
            .ok());
    return sum->parts();
  };
  EXPECT_EQ(parts(0, 100), 30);
  EXPECT_EQ(parts(0, 15), 5);
  EXPECT_EQ(parts(15, 100), 25);  // from the text's 15, past the Unavailable after it
}

// Outside testing: GetUtilization held every PART_COUNT sample of its range (up to 366
// days) in memory at once. They are streamed in pages; this many rows take several.
TYPED_TEST_P(MachineStateConformanceTest, PartCountsOfALongRangeStreamInOrder) {
  this->RegisterCnc();
  constexpr int kSamples = 25000;
  std::vector<Sample> samples;
  for (int i = 0; i < kSamples; ++i) {
    // Two samples a second, the count rising by one each and reset every 10,000.
    samples.push_back(NumberAt("parts", i % 10000, this->T(-13000) + absl::Milliseconds(500) * i));
  }
  for (size_t from = 0; from < samples.size(); from += 5000) {
    this->Ingest("w", from / 5000 + 1,
                 std::vector<Sample>(samples.begin() + static_cast<std::ptrdiff_t>(from),
                                     samples.begin() + static_cast<std::ptrdiff_t>(from + 5000)));
  }
  absl::StatusOr<PartCountSum> sum = PartCountSum::ForRange(this->T(-12999), this->T(0));
  ASSERT_TRUE(sum.ok());
  absl::Time previous = absl::InfinitePast();
  int visited = 0;
  ASSERT_TRUE(
      this->store_
          ->PartCountObservations("CNC-07", this->T(-12999), this->T(0),
                                  [&](const std::string& item, const PartCountObservation& o) {
                                    EXPECT_GE(o.time, previous);
                                    previous = o.time;
                                    ++visited;
                                    sum->Add(item, o);
                                  })
          .ok());
  EXPECT_EQ(visited, kSamples - 2 + 1);       // the baseline at T(-12999.5), then the range's
  EXPECT_EQ(sum->parts(), kSamples - 2 - 2);  // two resets add nothing
}

TYPED_TEST_P(MachineStateConformanceTest, DowntimesNewestFirstAndReasonsOncePerRequestId) {
  this->RegisterCnc();
  this->RegisterCnc("CNC-08");
  // CNC-07: downtimes at 10 (ended 20) and 30 (still on); CNC-08: one at 15.
  this->Ingest(
      "w", 1,
      {TextAt("Xact", "ACTIVE", this->T(0)), TextAt("Xact", "STOPPED", this->T(10)),
       TextAt("Xact", "ACTIVE", this->T(20)), TextAt("Xact", "FEED_HOLD", this->T(30)),
       NumberAt("S1speed", 0, this->T(31)), TextAt("Xact", "INTERRUPTED", this->T(15), "CNC-08"),
       NumberAt("S1speed", 0, this->T(16), "CNC-08")});
  auto list = [&](const std::string& machine, bool without_reason, int page_size,
                  const std::string& token = "") {
    absl::StatusOr<DowntimeQuery> q =
        MakeDowntimeQuery(machine, std::nullopt, std::nullopt, without_reason, page_size, token);
    EXPECT_TRUE(q.ok()) << q.status();
    absl::StatusOr<DowntimePage> page = this->store_->ListDowntimes(*q);
    EXPECT_TRUE(page.ok()) << page.status();
    return std::make_pair(*q, page.ok() ? *page : DowntimePage{});
  };
  auto [q, page] = list("", false, 2);
  ASSERT_EQ(page.downtimes.size(), 2u);
  EXPECT_EQ(page.downtimes[0].start, this->T(30));
  EXPECT_FALSE(page.downtimes[0].end);
  EXPECT_EQ(page.downtimes[0].state, MachineState::kStopped);
  EXPECT_EQ(page.downtimes[1].machine_id, "CNC-08");
  EXPECT_TRUE(page.more);
  auto [q2, rest] = list("", false, 2, NextDowntimePageToken(q, page.downtimes.back()));
  ASSERT_EQ(rest.downtimes.size(), 1u);
  EXPECT_EQ(rest.downtimes[0].start, this->T(10));
  EXPECT_EQ(rest.downtimes[0].end, this->T(20));
  EXPECT_FALSE(rest.more);

  // A reason, retried with its request_id: stored once, the retry gets the first answer.
  const int64_t id = rest.downtimes[0].id;
  auto encode = [](const Downtime& d) { return absl::StrCat("reason:", d.reason_code); };
  const absl::Time at = this->now_;
  absl::StatusOr<Replayable<Downtime>> set = this->store_->SetDowntimeReason(
      id, {"TOOL-BREAK", "insert chipped"}, Ctx("otto", "SetDowntimeReason", "r1", at), encode);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_TRUE(set->value);
  EXPECT_EQ(set->value->reason_code, "TOOL-BREAK");
  EXPECT_EQ(set->value->reason_set_by, "otto");
  EXPECT_EQ(set->value->reason_set_time, at);
  absl::StatusOr<Replayable<Downtime>> retry = this->store_->SetDowntimeReason(
      id, {"TOOL-BREAK", "insert chipped"}, Ctx("otto", "SetDowntimeReason", "r1", at), encode);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->recorded_response.value_or(""), "reason:TOOL-BREAK");
  const std::vector<v1::DowntimeEvent> events = this->DowntimeEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().change_type(), v1::DOWNTIME_CHANGE_TYPE_REASON_SET);
  EXPECT_EQ(events.back().downtime().comment(), "insert chipped");
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const v1::DowntimeEvent& e) {
                            return e.change_type() == v1::DOWNTIME_CHANGE_TYPE_REASON_SET;
                          }),
            1);
  const absl::Status absent =
      this->store_
          ->SetDowntimeReason(999999, {"X", ""}, Ctx("otto", "SetDowntimeReason", "r2", at), encode)
          .status();
  EXPECT_EQ(absent.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runtime::ErrorInfoOf(absent).reason, "DOWNTIME_NOT_FOUND");
  EXPECT_EQ(runtime::ErrorInfoOf(absent).metadata["downtime_id"], "999999");

  // Filters: one machine; only those without a reason.
  auto [q3, mine] = list("CNC-07", true, 10);
  ASSERT_EQ(mine.downtimes.size(), 1u);
  EXPECT_EQ(mine.downtimes[0].start, this->T(30));
  auto [q4, all_mine] = list("CNC-07", false, 10);
  ASSERT_EQ(all_mine.downtimes.size(), 2u);
  EXPECT_EQ(all_mine.downtimes[1].comment, "insert chipped");
}

REGISTER_TYPED_TEST_SUITE_P(
    MachineStateConformanceTest, IngestSettlesIntervalsAndDowntimesWithTheBatch,
    BatchesCommittedTogetherMoveTheTrackersInOrder, AChangeNoLaterSampleSettlesIsSettledByTheClock,
    ABatchSettlesWhatTheClockAlreadySettles, AnInputAnUpdateWithdrawsHasNoValueFromTheUpdateOn,
    DuplicateBatchMovesNothing, ABatchCountsItsStateSamplesOlderThanTheTimeline,
    StateSamplesWithinTheReorderWindowArePlacedInTimeOrder,
    TimelinePagesByStartAndKeepsMachinesApart, PartCountsWithTheirBaseline,
    ARenamedPartCounterKeepsItsPastParts, ACountSentAsTextIsABaselineToo,
    PartCountsOfALongRangeStreamInOrder, DowntimesNewestFirstAndReasonsOncePerRequestId);

}  // namespace plantmesh::telemetry::testing
