// The TelemetryStore conformance suite: every behaviour of the interface (store.h),
// typed over a backend, so the PostgreSQL store and the in-memory fake are held to one
// definition. Instantiate it once per backend in one test file:
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Fake, TelemetryStoreConformanceTest, FakeBackend);
//
// A backend is default-constructible and has
//   absl::Status SetUp();        // an empty store (schema applied, today's partitions)
//   TelemetryStore* store();
//   std::vector<runtime::OutboxEvent> Events();  // outbox events written, oldest first
#pragma once

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/uuid.h"
#include "server/runtime/errors.h"
#include "server/telemetry/domain.h"
#include "server/telemetry/store.h"

namespace plantmesh::telemetry::testing {

inline ChangeContext Ctx(const std::string& who, const std::string& method,
                         const std::string& request_id, absl::Time now,
                         const std::string& payload = "p") {
  return ChangeContext{{who, method, request_id, payload}, now, nullptr};
}

inline Sample NumberAt(const std::string& item, double value, absl::Time t,
                       const std::string& machine = "CNC-07") {
  Sample s;
  s.machine_id = machine;
  s.data_item_id = item;
  s.time = t;
  s.kind = ValueKind::kNumber;
  s.number = value;
  return s;
}

template <typename Backend>
class TelemetryStoreConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status up = backend_.SetUp();
    ASSERT_TRUE(up.ok()) << up;
    store_ = backend_.store();
    now_ = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  }

  Machine Cnc(const std::string& id = "CNC-07", const std::string& line = "LINE-2") {
    Machine m;
    m.id = id;
    m.display_name = "Lathe";
    m.line = line;
    m.zone = "MACHINING";
    m.ideal_cycle_time = absl::Seconds(42);
    m.data_items = {{"Xact", "Execution", Category::kEvent, 2, "", ""},
                    {"S1speed", "Spindle", Category::kSample, 5, "REVOLUTION/MINUTE", ""},
                    {"temp", "Temp", Category::kSample, 6, "CELSIUS", "FAHRENHEIT"}};
    return m;
  }

  Machine Register(const Machine& m) {
    absl::StatusOr<Replayable<Machine>> r =
        store_->RegisterMachine(m, Ctx("ops", "Register", "", now_), nullptr);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->value ? *r->value : Machine();
  }

  // Ingests with the domain's judge at now_.
  absl::StatusOr<BatchOutcome> Ingest(const std::string& writer, uint64_t sequence,
                                      std::vector<Sample> samples) {
    absl::StatusOr<std::vector<BatchOutcome>> outcomes =
        IngestTogether({Batch{writer, sequence, std::move(samples)}});
    if (!outcomes.ok()) return outcomes.status();
    return outcomes->front();
  }
  absl::StatusOr<std::vector<BatchOutcome>> IngestTogether(std::vector<Batch> batches) {
    return store_->IngestBatches(
        batches,
        [this](std::vector<Sample>& s, const Catalog& c) {
          return JudgeBatch(s, c, now_, IngestLimits{});
        },
        [](const Batch& b, const std::vector<int>& accepted) {
          return runtime::OutboxEvent{common::NewUuidV4(), "", std::to_string(accepted.size())};
        },
        {});
  }

  std::vector<StoredSample> All(const std::string& machine = "CNC-07") {
    absl::StatusOr<SampleQuery> q =
        MakeSampleQuery(machine, {}, now_ - absl::Hours(48), now_ + absl::Hours(1), 10000, "");
    EXPECT_TRUE(q.ok());
    absl::StatusOr<SamplePage> page = store_->QuerySamples(*q);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->samples : std::vector<StoredSample>();
  }

  Backend backend_;
  TelemetryStore* store_ = nullptr;
  absl::Time now_;
};

TYPED_TEST_SUITE_P(TelemetryStoreConformanceTest);

TYPED_TEST_P(TelemetryStoreConformanceTest, RegisterGetAndAlreadyExists) {
  Machine created = this->Register(this->Cnc());
  EXPECT_EQ(created.version, 1);
  EXPECT_EQ(created.create_time, this->now_);
  absl::StatusOr<Machine> got = this->store_->GetMachine("CNC-07");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->display_name, "Lathe");
  EXPECT_EQ(got->ideal_cycle_time, absl::Seconds(42));
  ASSERT_EQ(got->data_items.size(), 3u);
  EXPECT_EQ(got->data_items[0].id, "Xact");  // in the order given
  EXPECT_EQ(got->data_items[2].native_units, "FAHRENHEIT");
  EXPECT_EQ(got->data_items[1].category, Category::kSample);
  EXPECT_EQ(got->data_items[1].type, 5);
  // A taken id as every service answers it (outside testing: MACHINE_EXISTS here,
  // RESOURCE_EXISTS in the others).
  const absl::Status taken =
      this->store_->RegisterMachine(this->Cnc(), Ctx("ops", "Register", "", this->now_), nullptr)
          .status();
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(runtime::ErrorInfoOf(taken).reason, "RESOURCE_EXISTS");
  EXPECT_EQ(runtime::ErrorInfoOf(taken).metadata["resource_type"], "machine");
  EXPECT_EQ(runtime::ErrorInfoOf(taken).metadata["id"], this->Cnc().id);
  EXPECT_EQ(this->store_->GetMachine("CNC-99").status().code(), absl::StatusCode::kNotFound);
}

TYPED_TEST_P(TelemetryStoreConformanceTest, UnknownMachinesInTheOrderGiven) {
  this->Register(this->Cnc());
  using Ids = std::vector<std::string>;
  EXPECT_EQ(this->store_->UnknownMachines(Ids{"CNC-07"}).value(), Ids{});
  EXPECT_EQ(this->store_->UnknownMachines(Ids{"CNC-99", "CNC-07", "CNC-98"}).value(),
            (Ids{"CNC-99", "CNC-98"}));
  EXPECT_EQ(this->store_->UnknownMachines(Ids{}).value(), Ids{});
  const absl::Status missing = this->store_->GetMachine("CNC-99").status();
  EXPECT_EQ(missing, MachineNotFound("CNC-99"));
}

TYPED_TEST_P(TelemetryStoreConformanceTest, UnknownMachinesAndDataItemsInTheOrderGiven) {
  Machine cnc = this->Cnc();
  this->Register(cnc);
  using Ids = std::vector<std::string>;
  const std::string known = cnc.data_items.front().id;
  auto unknown = [&](const Ids& machines, const Ids& items) {
    absl::StatusOr<TelemetryStore::UnknownIds> found =
        this->store_->UnknownMachinesAndDataItems(machines, items, true);
    EXPECT_TRUE(found.ok()) << found.status();
    return found.ok() ? *found : TelemetryStore::UnknownIds();
  };
  EXPECT_EQ(unknown({"CNC-07"}, {known}).data_items, Ids{});
  EXPECT_EQ(unknown({"CNC-07"}, {"b", known, "a"}).data_items, (Ids{"b", "a"}));
  // Of none of the machines named (CNC-99 is not registered), which are named too.
  const TelemetryStore::UnknownIds none = unknown({"CNC-99", "CNC-07", "CNC-98"}, {known, "z"});
  EXPECT_EQ(none.machines, (Ids{"CNC-99", "CNC-98"}));
  EXPECT_EQ(none.data_items, Ids{"z"});
  EXPECT_EQ(unknown({"CNC-99"}, {known}).data_items, Ids{known});
  EXPECT_EQ(unknown({"CNC-07"}, {}).data_items, Ids{});
}

TYPED_TEST_P(TelemetryStoreConformanceTest, RegisterRetryWithRequestIdGetsFirstAnswer) {
  auto encode = [](const Machine& m) { return "answer:" + m.id; };
  absl::StatusOr<Replayable<Machine>> first =
      this->store_->RegisterMachine(this->Cnc(), Ctx("ops", "Register", "r1", this->now_), encode);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->value);
  absl::StatusOr<Replayable<Machine>> retry =
      this->store_->RegisterMachine(this->Cnc(), Ctx("ops", "Register", "r1", this->now_), encode);
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->recorded_response);
  EXPECT_EQ(*retry->recorded_response, "answer:CNC-07");
  // The same request_id with another payload is refused.
  EXPECT_EQ(
      this->store_
          ->RegisterMachine(this->Cnc(), Ctx("ops", "Register", "r1", this->now_, "other"), encode)
          .status()
          .code(),
      absl::StatusCode::kAlreadyExists);
}

TYPED_TEST_P(TelemetryStoreConformanceTest, ListPagesInRegistrationOrderWithFilters) {
  for (const char* id : {"M-3", "M-1", "M-2"}) this->Register(this->Cnc(id, "LINE-1"));
  this->Register(this->Cnc("M-4", "LINE-9"));
  absl::StatusOr<MachineQuery> q = MakeMachineQuery("LINE-1", "", 2, "");
  ASSERT_TRUE(q.ok());
  absl::StatusOr<MachinePage> page = this->store_->ListMachines(*q);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->machines.size(), 2u);
  EXPECT_EQ(page->machines[0].id, "M-3");
  EXPECT_EQ(page->machines[1].id, "M-1");
  EXPECT_EQ(page->machines[0].data_items.size(), 3u);
  EXPECT_TRUE(page->more);
  q = MakeMachineQuery("LINE-1", "", 2, NextMachinePageToken(*q, page->machines.back()));
  ASSERT_TRUE(q.ok()) << q.status();
  page = this->store_->ListMachines(*q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->machines.size(), 1u);
  EXPECT_EQ(page->machines[0].id, "M-2");
  EXPECT_FALSE(page->more);
}

TYPED_TEST_P(TelemetryStoreConformanceTest, UpdateAppliesTheMutatorAndReplaysRetries) {
  this->Register(this->Cnc());
  const absl::Time later = this->now_ + absl::Seconds(5);
  Machine patch;
  patch.data_items = {{"Xact", "Execution", Category::kEvent, 2, "", ""}};
  auto mutate = [&](const Machine& current) {
    return ApplyMachineUpdate(current, patch, {"data_items"}, "1", later);
  };
  auto encode = [](const Machine& m) { return "v" + m.etag(); };
  absl::StatusOr<Replayable<Machine>> updated =
      this->store_->UpdateMachine("CNC-07", Ctx("ops", "Update", "u1", later), mutate, encode);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->value->version, 2);
  absl::StatusOr<Machine> got = this->store_->GetMachine("CNC-07");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->data_items.size(), 1u);
  // The items it has now: the one the update kept; unknown machines in the order given.
  absl::StatusOr<TelemetryStore::ItemsNow> now =
      this->store_->DataItemsNow({"CNC-98", "CNC-07", "CNC-99"});
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->unknown_machines, (std::vector<std::string>{"CNC-98", "CNC-99"}));
  EXPECT_EQ(now->items, (std::set<std::pair<std::string, std::string>>{{"CNC-07", "Xact"}}));
  EXPECT_EQ(got->update_time, later);
  EXPECT_EQ(got->display_name, "Lathe");
  // A retry is answered from the log; a new call with the old etag is stale.
  absl::StatusOr<Replayable<Machine>> retry =
      this->store_->UpdateMachine("CNC-07", Ctx("ops", "Update", "u1", later), mutate, encode);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->recorded_response.value_or(""), "v2");
  EXPECT_EQ(this->store_->UpdateMachine("CNC-07", Ctx("ops", "Update", "u2", later), mutate, encode)
                .status()
                .code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(this->store_->UpdateMachine("NOPE", Ctx("ops", "Update", "u3", later), mutate, encode)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

// A data item removed by UpdateMachine is no longer answered (its row may stay).
TYPED_TEST_P(TelemetryStoreConformanceTest, LatestAnswersOnlyRegisteredDataItems) {
  this->Register(this->Cnc());
  const absl::Time t = this->now_ - absl::Seconds(1);
  ASSERT_TRUE(this->Ingest("w", 1, {NumberAt("temp", 20, t), NumberAt("S1speed", 5, t)}).ok());
  Machine patch;
  patch.data_items = {{"S1speed", "Spindle", Category::kSample, 5, "", ""}};
  ASSERT_TRUE(this->store_
                  ->UpdateMachine(
                      "CNC-07", Ctx("ops", "Update", "", this->now_),
                      [&](const Machine& current) {
                        return ApplyMachineUpdate(current, patch, {"data_items"}, "", this->now_);
                      },
                      nullptr)
                  .ok());
  absl::StatusOr<std::vector<StoredSample>> latest = this->store_->LatestValues({"CNC-07"}, {});
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_EQ(latest->size(), 1u);
  EXPECT_EQ((*latest)[0].sample.data_item_id, "S1speed");
}

TYPED_TEST_P(TelemetryStoreConformanceTest, MixedBatchStoresTheValidRest) {
  this->Register(this->Cnc());
  const std::vector<Sample> mixed = {
      NumberAt("S1speed", 100, this->now_), NumberAt("nope", 1, this->now_),
      NumberAt("S1speed", 1, this->now_, "CNC-99"), NumberAt("temp", std::nan(""), this->now_),
      NumberAt("temp", 21.5, this->now_)};
  absl::StatusOr<BatchOutcome> out = this->Ingest("w1", 1, mixed);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->duplicate);
  EXPECT_THAT(out->verdict.accepted, ::testing::ElementsAre(0, 4));
  ASSERT_EQ(out->verdict.rejected.size(), 3u);
  EXPECT_EQ(out->verdict.rejected[0].reason, RejectReason::kUnknownDataItem);
  EXPECT_EQ(out->verdict.rejected[1].reason, RejectReason::kUnknownMachine);
  EXPECT_EQ(out->verdict.rejected[2].reason, RejectReason::kNotFinite);
  std::vector<StoredSample> all = this->All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].sample.data_item_id, "S1speed");
  EXPECT_EQ(all[1].sample.number, 21.5);
  ASSERT_EQ(this->backend_.Events().size(), 1u);
  EXPECT_EQ(this->backend_.Events()[0].payload, "2");
  // Re-sent (its answer lost to a crash): a duplicate whose rejected samples stay
  // rejected, as first judged (outside testing: the writer counted the NaN as stored).
  absl::StatusOr<BatchOutcome> again = this->Ingest("w1", 1, mixed);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  EXPECT_TRUE(again->verdict.accepted.empty());
  ASSERT_EQ(again->verdict.rejected.size(), 3u);
  EXPECT_EQ(again->verdict.rejected[0].index, 1);
  EXPECT_EQ(again->verdict.rejected[0].reason, RejectReason::kUnknownDataItem);
  EXPECT_EQ(again->verdict.rejected[2].index, 3);
  EXPECT_EQ(again->verdict.rejected[2].reason, RejectReason::kNotFinite);
  EXPECT_EQ(again->verdict.rejected[2].message,
            "samples[3]: NOT_FINITE (rejected when this batch was first received; the batch is "
            "recorded as it was then)");
  EXPECT_EQ(this->All().size(), 2u);
}

// The judge sees each data item's type: a PART_COUNT takes counts only.
TYPED_TEST_P(TelemetryStoreConformanceTest, TheJudgeKnowsADataItemsType) {
  Machine m = this->Cnc();
  m.data_items.push_back({"parts", "Parts", Category::kEvent, kTypePartCount, "", ""});
  this->Register(m);
  absl::StatusOr<BatchOutcome> out =
      this->Ingest("w1", 1, {NumberAt("parts", 41, this->now_), NumberAt("parts", -1, this->now_)});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->verdict.accepted, ::testing::ElementsAre(0));
  ASSERT_EQ(out->verdict.rejected.size(), 1u);
  EXPECT_EQ(out->verdict.rejected[0].reason, RejectReason::kNumberOutOfRange);
}

// The judge sees the catalog as it is when the batch commits: a machine registered, an
// item added or removed after an earlier batch named them (a replica that remembers the
// catalog, catalog_cache.h, forgets it when it changes).
TYPED_TEST_P(TelemetryStoreConformanceTest, TheJudgeSeesTheCatalogAsItIsNow) {
  auto reasons = [&](uint64_t sequence, std::vector<Sample> samples) {
    std::vector<RejectReason> out;
    absl::StatusOr<BatchOutcome> o = this->Ingest("w1", sequence, std::move(samples));
    EXPECT_TRUE(o.ok()) << o.status();
    if (!o.ok()) return out;
    for (const Rejection& r : o->verdict.rejected) out.push_back(r.reason);
    return out;
  };
  using ::testing::ElementsAre;
  using ::testing::IsEmpty;
  const Sample temp = NumberAt("temp", 20, this->now_);
  const Sample load = NumberAt("load", 7, this->now_);
  EXPECT_THAT(reasons(1, {temp, load}),
              ElementsAre(RejectReason::kUnknownMachine, RejectReason::kUnknownMachine));
  EXPECT_THAT(reasons(2, {temp, load}),  // the same ids again: the same answer
              ElementsAre(RejectReason::kUnknownMachine, RejectReason::kUnknownMachine));
  this->Register(this->Cnc());
  EXPECT_THAT(reasons(3, {temp, load}), ElementsAre(RejectReason::kUnknownDataItem));
  EXPECT_THAT(reasons(4, {temp}), IsEmpty());
  Machine patch;
  patch.data_items = {{"load", "Load", Category::kSample, 8, "PERCENT", ""}};
  auto mutate = [&](const Machine& current) {
    return ApplyMachineUpdate(current, patch, {"data_items"}, "1", this->now_);
  };
  ASSERT_TRUE(this->store_
                  ->UpdateMachine("CNC-07", Ctx("ops", "Update", "", this->now_), mutate,
                                  [](const Machine&) { return std::string(); })
                  .ok());
  EXPECT_THAT(reasons(5, {temp, load}), ElementsAre(RejectReason::kUnknownDataItem));
  EXPECT_THAT(reasons(6, {load}), IsEmpty());
  // Another machine registered: the first one's items are still known as they are.
  this->Register(this->Cnc("CNC-08"));
  EXPECT_THAT(reasons(7, {load, NumberAt("temp", 1, this->now_, "CNC-08")}), IsEmpty());
}

TYPED_TEST_P(TelemetryStoreConformanceTest, ResentBatchIsDuplicateAndStoredOnce) {
  this->Register(this->Cnc());
  std::vector<Sample> batch = {NumberAt("S1speed", 1, this->now_),
                               NumberAt("S1speed", 2, this->now_ + absl::Seconds(1))};
  ASSERT_TRUE(this->Ingest("w1", 5, batch).ok());
  absl::StatusOr<BatchOutcome> again = this->Ingest("w1", 5, batch);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  // Another writer counts its own sequence.
  absl::StatusOr<BatchOutcome> other = this->Ingest("w2", 1, batch);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->duplicate);
  EXPECT_EQ(this->All().size(), 4u);
  EXPECT_EQ(this->backend_.Events().size(), 2u);
}

// Outside testing: a batch under a committed sequence with other samples (a second
// adapter sharing the writer_id, an adapter that restarted its count) was answered
// "duplicate" and its samples lost. It is refused, as is a sequence below the writer's
// last that was never committed; the refusal names the writer and both sequences.
TYPED_TEST_P(TelemetryStoreConformanceTest,
             ASequenceReusedOrOutOfOrderIsRefusedNotCalledADuplicate) {
  this->Register(this->Cnc());
  const absl::Time t = this->now_;
  for (uint64_t sequence : {1, 2, 3, 5}) {
    ASSERT_TRUE(this->Ingest("shared-1", sequence, {NumberAt("temp", 100.0 + sequence, t)}).ok());
  }
  absl::StatusOr<BatchOutcome> reused = this->Ingest("shared-1", 2, {NumberAt("temp", 202, t)});
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_FALSE(reused->duplicate);
  EXPECT_EQ(reused->refusal.code(), absl::StatusCode::kAlreadyExists) << reused->refusal;
  EXPECT_EQ(runtime::ErrorInfoOf(reused->refusal).reason, "BATCH_SEQUENCE_REUSED");
  EXPECT_EQ(runtime::ErrorInfoOf(reused->refusal).metadata.at("last_batch_sequence"), "5");
  absl::StatusOr<BatchOutcome> behind = this->Ingest("shared-1", 4, {NumberAt("temp", 104, t)});
  ASSERT_TRUE(behind.ok()) << behind.status();
  EXPECT_EQ(behind->refusal.code(), absl::StatusCode::kFailedPrecondition) << behind->refusal;
  EXPECT_EQ(runtime::ErrorInfoOf(behind->refusal).reason, "BATCH_SEQUENCE_OUT_OF_ORDER");
  EXPECT_EQ(runtime::ErrorInfoOf(behind->refusal).metadata.at("batch_sequence"), "4");
  // A refusal in a group: the batches before it are committed, the ones after it not
  // taken (no outcome), the refused one stores nothing.
  absl::StatusOr<std::vector<BatchOutcome>> outcomes = this->IngestTogether({
      {"shared-1", 6, {NumberAt("temp", 106, t)}},
      {"shared-1", 3, {NumberAt("temp", 303, t)}},  // other samples than the committed 3
      {"shared-1", 7, {NumberAt("temp", 107, t)}},
  });
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 2u);
  EXPECT_TRUE((*outcomes)[0].refusal.ok());
  EXPECT_EQ((*outcomes)[0].verdict.accepted, (std::vector<int>{0}));
  EXPECT_EQ((*outcomes)[1].refusal.code(), absl::StatusCode::kAlreadyExists);
  std::vector<double> temps;
  for (const StoredSample& s : this->All()) temps.push_back(s.sample.number);
  std::sort(temps.begin(), temps.end());
  EXPECT_EQ(temps, (std::vector<double>{101, 102, 103, 105, 106}));
  // The exact re-send is still a duplicate; 7 was never taken, so it is new.
  EXPECT_TRUE(this->Ingest("shared-1", 3, {NumberAt("temp", 103, t)})->duplicate);
  EXPECT_FALSE(this->Ingest("shared-1", 7, {NumberAt("temp", 107, t)})->duplicate);
}

// Outside testing: one integrator sent under another's writer_id (a sequence of 9e18),
// which refused the adapter's next batches, and re-sent the adapter's batch to learn from
// "duplicate" what it had sent. A writer_id is the caller's that first sent under it.
TYPED_TEST_P(TelemetryStoreConformanceTest, AWriterIdIsTheFirstCallersOwn) {
  this->Register(this->Cnc());
  const absl::Time t = this->now_;
  auto from = [&](const std::string& caller, uint64_t sequence, double value) {
    return this->IngestTogether(
        {Batch{"mtconnect-cnc07", sequence, {NumberAt("temp", value, t)}, caller}});
  };
  ASSERT_TRUE(from("spiffe://plant/adapter", 1, 1).ok());
  for (uint64_t sequence : {uint64_t{1}, uint64_t{9'000'000'000'000'000'000u}}) {
    absl::StatusOr<std::vector<BatchOutcome>> other = from("spiffe://plant/other", sequence, 1);
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_EQ(other->size(), 1u);
    EXPECT_FALSE((*other)[0].duplicate);
    EXPECT_EQ((*other)[0].refusal.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(runtime::ErrorInfoOf((*other)[0].refusal).reason, "WRITER_ID_TAKEN");
  }
  absl::StatusOr<std::vector<BatchOutcome>> next = from("spiffe://plant/adapter", 2, 2);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE((*next)[0].refusal.ok()) << (*next)[0].refusal;
  EXPECT_EQ((*next)[0].verdict.accepted, (std::vector<int>{0}));
  EXPECT_EQ(this->All().size(), 2u);
}

// Outside testing (AP F2): after an adapter's restart nothing said which of the batches
// in flight at the crash had committed, so it sent them again. Resuming fences the
// earlier process's batches and answers the last committed one, which is then final.
TYPED_TEST_P(TelemetryStoreConformanceTest, AResumedWriterIsFencedAndToldItsLastCommittedBatch) {
  this->Register(this->Cnc());
  const absl::Time t = this->now_;
  const std::string adapter = "spiffe://plant/adapter";
  auto send = [&](const std::string& writer, const std::string& caller, uint64_t sequence,
                  double value) -> BatchOutcome {
    absl::StatusOr<std::vector<BatchOutcome>> out =
        this->IngestTogether({Batch{writer, sequence, {NumberAt("temp", value, t)}, caller}});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->front() : BatchOutcome{};
  };
  auto resume = [&](const std::string& writer, const std::string& caller, uint64_t fence) {
    return this->store_->ResumeIngestWriter(writer, caller, fence);
  };
  // Never sent: nothing committed, and nothing recorded without a fence.
  absl::StatusOr<IngestWriterRecord> none = resume("mtconnect-cnc07", adapter, 0);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->last_batch_sequence, 0u);
  EXPECT_EQ(none->fenced_through, 0u);
  EXPECT_FALSE(none->last_commit_time.has_value());

  const absl::Time before = absl::Now() - absl::Seconds(5);  // PostgreSQL's clock, a hair off
  EXPECT_TRUE(send("mtconnect-cnc07", adapter, 7, 1).refusal.ok());
  EXPECT_TRUE(send("mtconnect-cnc07", adapter, 9, 2).refusal.ok());
  // The restarted process had sent 10 to 12 too, unanswered: it fences at 12.
  absl::StatusOr<IngestWriterRecord> resumed = resume("mtconnect-cnc07", adapter, 12);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->last_batch_sequence, 9u);
  EXPECT_EQ(resumed->fenced_through, 12u);
  EXPECT_EQ(resumed->owner, adapter);
  ASSERT_TRUE(resumed->last_commit_time.has_value());
  EXPECT_GE(*resumed->last_commit_time, before);
  EXPECT_LE(*resumed->last_commit_time, absl::Now() + absl::Seconds(5));
  // The earlier process's batch 11 arriving late is refused; a re-send of 9 stays a
  // duplicate; the new process goes on above the fence.
  const BatchOutcome late = send("mtconnect-cnc07", adapter, 11, 3);
  EXPECT_EQ(late.refusal.code(), absl::StatusCode::kFailedPrecondition) << late.refusal;
  EXPECT_EQ(runtime::ErrorInfoOf(late.refusal).reason, "BATCH_SEQUENCE_FENCED");
  EXPECT_TRUE(send("mtconnect-cnc07", adapter, 9, 2).duplicate);
  EXPECT_TRUE(send("mtconnect-cnc07", adapter, 13, 4).refusal.ok());
  // A fence only rises; another caller may not fence, nor read.
  resumed = resume("mtconnect-cnc07", adapter, 5);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->fenced_through, 12u);
  EXPECT_EQ(resumed->last_batch_sequence, 13u);
  for (uint64_t fence : {uint64_t{0}, uint64_t{100}}) {
    absl::StatusOr<IngestWriterRecord> other =
        resume("mtconnect-cnc07", "spiffe://plant/other", fence);
    EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied) << fence;
    EXPECT_EQ(runtime::ErrorInfoOf(other.status()).reason, "WRITER_ID_TAKEN");
    // What was refused is the resume, not a stream's batches (outside testing).
    EXPECT_THAT(std::string(other.status().message()),
                ::testing::HasSubstr("resume a writer_id of your own (nothing was changed)"));
    EXPECT_THAT(std::string(other.status().message()),
                ::testing::Not(::testing::HasSubstr("this batch")));
  }
  EXPECT_EQ(resume("mtconnect-cnc07", adapter, 0)->fenced_through, 12u);
  // A writer that never committed: the fence records it, the caller's.
  absl::StatusOr<IngestWriterRecord> fresh = resume("w-new", adapter, 50);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->last_batch_sequence, 0u);
  EXPECT_EQ(fresh->fenced_through, 50u);
  EXPECT_EQ(runtime::ErrorInfoOf(send("w-new", adapter, 40, 5).refusal).reason,
            "BATCH_SEQUENCE_FENCED");
  EXPECT_EQ(send("w-new", "spiffe://plant/other", 51, 5).refusal.code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(send("w-new", adapter, 51, 6).refusal.ok());
  EXPECT_EQ(this->All().size(), 4u);  // 7, 9, 13, and w-new's 51
}

// Group commit: each batch of the group is judged as it would be alone, one after the
// other, in one transaction.
TYPED_TEST_P(TelemetryStoreConformanceTest, BatchesCommittedTogetherAreEachStoredOnceInOrder) {
  this->Register(this->Cnc());
  const absl::Time t = this->now_;
  ASSERT_TRUE(this->Ingest("w1", 2, {NumberAt("temp", 1, t)}).ok());
  absl::StatusOr<std::vector<BatchOutcome>> outcomes = this->IngestTogether({
      {"w1", 2, {NumberAt("temp", 1, t)}},  // stored before: a duplicate
      {"w1", 3, {NumberAt("temp", 3, t), NumberAt("nope", 0, t)}},
      {"w1", 3, {NumberAt("temp", 3, t), NumberAt("nope", 0, t)}},  // re-sent within the group
      {"w1", 4, {NumberAt("nope", 0, t)}},  // nothing accepted: numbered, no event
      {"w1", 6, {NumberAt("temp", 6, t), NumberAt("S1speed", 6, t)}},
      {"w1", 5, {NumberAt("temp", 5, t)}},  // below the group's 6, never committed: refused
  });
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 6u);
  std::vector<bool> duplicate;
  for (const BatchOutcome& o : *outcomes) duplicate.push_back(o.duplicate);
  EXPECT_EQ(duplicate, (std::vector<bool>{true, false, true, false, false, false}));
  EXPECT_EQ((*outcomes)[5].refusal.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*outcomes)[1].verdict.accepted, (std::vector<int>{0}));
  ASSERT_EQ((*outcomes)[1].verdict.rejected.size(), 1u);
  EXPECT_EQ((*outcomes)[1].verdict.rejected[0].index, 1);
  // The copy re-sent within the group: its first copy's rejection, nothing accepted.
  EXPECT_TRUE((*outcomes)[2].verdict.accepted.empty());
  ASSERT_EQ((*outcomes)[2].verdict.rejected.size(), 1u);
  EXPECT_EQ((*outcomes)[2].verdict.rejected[0].reason, RejectReason::kUnknownDataItem);
  EXPECT_TRUE((*outcomes)[0].verdict.rejected.empty());
  EXPECT_TRUE((*outcomes)[3].verdict.accepted.empty());
  EXPECT_EQ((*outcomes)[4].verdict.accepted, (std::vector<int>{0, 1}));
  // Each stored batch has its own number; a duplicate none.
  EXPECT_EQ((*outcomes)[0].batch_id, 0);
  EXPECT_NE((*outcomes)[1].batch_id, 0);
  EXPECT_NE((*outcomes)[3].batch_id, 0);
  EXPECT_NE((*outcomes)[4].batch_id, 0);
  EXPECT_NE((*outcomes)[1].batch_id, (*outcomes)[4].batch_id);
  std::vector<double> temps;
  for (const StoredSample& s : this->All()) {
    if (s.sample.data_item_id == "temp") temps.push_back(s.sample.number);
  }
  std::sort(temps.begin(), temps.end());
  EXPECT_EQ(temps, (std::vector<double>{1, 3, 6}));
  // One event per transaction that stored samples: the first batch's, and the group's
  // with the samples its batches stored, in order (the encoder here writes the count).
  ASSERT_EQ(this->backend_.Events().size(), 2u);
  EXPECT_EQ(this->backend_.Events()[1].payload, "3");
  // The writer's sequence moved to the group's highest, and its batches are on record.
  absl::StatusOr<BatchOutcome> again =
      this->Ingest("w1", 6, {NumberAt("temp", 6, t), NumberAt("S1speed", 6, t)});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  // Batches of two writers are not one group: refused, nothing stored.
  outcomes = this->IngestTogether(
      {{"w2", 1, {NumberAt("temp", 8, t)}}, {"w3", 1, {NumberAt("temp", 9, t)}}});
  EXPECT_EQ(outcomes.status().code(), absl::StatusCode::kInternal) << outcomes.status();
  EXPECT_EQ(this->All().size(), 4u);
}

// A group's samples go out in events of at most kEventSampleBytes: outside testing, a
// batch of 4 MiB accepted as one event could not be sent to any tail.
TYPED_TEST_P(TelemetryStoreConformanceTest, AGroupsSamplesGoOutInEventsOfAtMostAMebibyte) {
  Machine m = this->Cnc();
  m.data_items.push_back({"prog", "Program", Category::kEvent, 13, "", ""});
  this->Register(m);
  std::vector<Sample> programs;
  for (int i = 0; i < 2500; ++i) {
    Sample s = NumberAt("prog", 0, this->now_);
    s.kind = ValueKind::kText;
    s.text = std::string(500, static_cast<char>('A' + i % 26));
    programs.push_back(std::move(s));
  }
  const size_t before = this->backend_.Events().size();
  ASSERT_TRUE(
      this->IngestTogether({{"w1", 1, programs}, {"w1", 2, {NumberAt("temp", 1, this->now_)}}})
          .ok());
  const std::vector<runtime::OutboxEvent> events = this->backend_.Events();
  ASSERT_EQ(events.size() - before, 2u);  // 2500 x 574 bytes at most: 1,435,000
  // The encoder here writes the count: the first event as many samples as fit, the
  // second the rest and the next batch's.
  const size_t fit = kEventSampleBytes / SampleWireBytesBound(programs[0]);
  EXPECT_EQ(events[before].payload, std::to_string(fit));
  EXPECT_EQ(events[before + 1].payload, std::to_string(2500 - fit + 1));
}

TYPED_TEST_P(TelemetryStoreConformanceTest, LatestKeepsTheNewestTimeAcrossOutOfOrderBatches) {
  Machine cnc = this->Cnc();
  cnc.data_items.push_back({"mode", "Mode", Category::kEvent, 1, "", ""});  // OTHER: any text
  this->Register(cnc);
  const absl::Time t = this->now_;
  ASSERT_TRUE(this->Ingest("w", 1, {NumberAt("temp", 20, t), NumberAt("S1speed", 5, t)}).ok());
  // Older sample arrives later: stored, but not the latest.
  ASSERT_TRUE(this->Ingest("w", 2, {NumberAt("temp", 19, t - absl::Seconds(10))}).ok());
  // Equal time: the later-stored one is the latest.
  ASSERT_TRUE(this->Ingest("w", 3, {NumberAt("S1speed", 6, t)}).ok());
  Sample unavailable = NumberAt("mode", 0, t);
  unavailable.kind = ValueKind::kUnavailable;
  Sample text = NumberAt("mode", 0, t - absl::Seconds(1));
  text.kind = ValueKind::kText;
  text.text = "ACTIVE \"quoted\" {braces},\\";
  ASSERT_TRUE(this->Ingest("w", 4, {unavailable, text}).ok());
  absl::StatusOr<std::vector<StoredSample>> latest = this->store_->LatestValues({"CNC-07"}, {});
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_EQ(latest->size(), 3u);  // by data item id, bytewise: S1speed, mode, temp
  EXPECT_EQ((*latest)[0].sample.data_item_id, "S1speed");
  EXPECT_EQ((*latest)[0].sample.number, 6);
  EXPECT_EQ((*latest)[1].sample.data_item_id, "mode");
  EXPECT_EQ((*latest)[1].sample.kind, ValueKind::kUnavailable);
  EXPECT_EQ((*latest)[2].sample.number, 20);
  // Keys as stored: the batch's number and the sample's index (batch 4 stored mode
  // first, the equal-time S1speed was the only sample of batch 3).
  EXPECT_GT((*latest)[1].key, (*latest)[0].key);
  latest = this->store_->LatestValues({"CNC-07"}, {"temp", "nope"});
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 1u);
  // Every sample is kept, oldest first; equal times in storage order.
  std::vector<StoredSample> all = this->All();
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[0].sample.number, 19);
  EXPECT_EQ(all[1].sample.kind, ValueKind::kText);
  EXPECT_EQ(all[1].sample.text, "ACTIVE \"quoted\" {braces},\\");
  EXPECT_EQ(all[2].sample.number, 20);
  EXPECT_EQ(all[3].sample.number, 5);
  EXPECT_EQ(all[4].sample.number, 6);
  EXPECT_EQ(all[5].sample.kind, ValueKind::kUnavailable);
}

TYPED_TEST_P(TelemetryStoreConformanceTest, ConditionAndSourceSequenceRoundTrip) {
  Machine m = this->Cnc();
  m.data_items.push_back({"servo", "Servo", Category::kCondition, 16, "", ""});
  this->Register(m);
  Sample c = NumberAt("servo", 0, this->now_);
  c.kind = ValueKind::kCondition;
  c.condition_level = 3;
  c.native_code = "SV0401";
  c.message = "SERVO ALARM: V-READY OFF";
  c.source_sequence = 18446744073709551615ull;
  ASSERT_TRUE(this->Ingest("w", 1, {c}).ok());
  std::vector<StoredSample> all = this->All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].sample.condition_level, 3);
  EXPECT_EQ(all[0].sample.native_code, "SV0401");
  EXPECT_EQ(all[0].sample.message, "SERVO ALARM: V-READY OFF");
  EXPECT_EQ(all[0].sample.source_sequence, 18446744073709551615ull);
  EXPECT_EQ(all[0].sample.time, this->now_);
}

TYPED_TEST_P(TelemetryStoreConformanceTest, QuerySamplesPagesByTimeAndFilters) {
  this->Register(this->Cnc());
  this->Register(this->Cnc("CNC-08"));
  std::vector<Sample> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back(NumberAt("S1speed", i, this->now_ - absl::Seconds(10 - i)));
    batch.push_back(NumberAt("temp", 100 + i, this->now_ - absl::Seconds(10 - i)));
  }
  batch.push_back(NumberAt("temp", 1, this->now_, "CNC-08"));
  ASSERT_TRUE(this->Ingest("w", 1, batch).ok());
  absl::StatusOr<SampleQuery> q = MakeSampleQuery(
      "CNC-07", {"S1speed"}, this->now_ - absl::Seconds(9), this->now_ - absl::Seconds(6), 2, "");
  ASSERT_TRUE(q.ok());
  absl::StatusOr<SamplePage> page = this->store_->QuerySamples(*q);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->samples.size(), 2u);
  EXPECT_EQ(page->samples[0].sample.number, 1);  // [now-9, now-6): values 1, 2, 3
  EXPECT_EQ(page->samples[1].sample.number, 2);
  EXPECT_TRUE(page->more);
  q = MakeSampleQuery("CNC-07", {"S1speed"}, this->now_ - absl::Seconds(9),
                      this->now_ - absl::Seconds(6), 2,
                      NextSamplePageToken(*q, page->samples.back()));
  ASSERT_TRUE(q.ok()) << q.status();
  page = this->store_->QuerySamples(*q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->samples.size(), 1u);
  EXPECT_EQ(page->samples[0].sample.number, 3);
  EXPECT_FALSE(page->more);
  EXPECT_EQ(this->All().size(), 10u);
  EXPECT_EQ(this->All("CNC-08").size(), 1u);
}

REGISTER_TYPED_TEST_SUITE_P(
    TelemetryStoreConformanceTest, RegisterGetAndAlreadyExists, UnknownMachinesInTheOrderGiven,
    UnknownMachinesAndDataItemsInTheOrderGiven, RegisterRetryWithRequestIdGetsFirstAnswer,
    ListPagesInRegistrationOrderWithFilters, UpdateAppliesTheMutatorAndReplaysRetries,
    LatestAnswersOnlyRegisteredDataItems, MixedBatchStoresTheValidRest, TheJudgeKnowsADataItemsType,
    TheJudgeSeesTheCatalogAsItIsNow, ResentBatchIsDuplicateAndStoredOnce,
    ASequenceReusedOrOutOfOrderIsRefusedNotCalledADuplicate, AWriterIdIsTheFirstCallersOwn,
    AResumedWriterIsFencedAndToldItsLastCommittedBatch,
    BatchesCommittedTogetherAreEachStoredOnceInOrder, AGroupsSamplesGoOutInEventsOfAtMostAMebibyte,
    LatestKeepsTheNewestTimeAcrossOutOfOrderBatches, ConditionAndSourceSequenceRoundTrip,
    QuerySamplesPagesByTimeAndFilters);

}  // namespace plantmesh::telemetry::testing
