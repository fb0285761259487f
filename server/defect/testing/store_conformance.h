// The DefectStore conformance suite: every behaviour of the interface (store.h), typed
// over a backend, so that the PostgreSQL store and the in-memory fake are held to one
// definition. Instantiate it once per backend in one test file of a binary (it defines
// the tests, so include it in no other file):
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Fake, DefectStoreConformanceTest, FakeBackend);
//
// A backend is default-constructible and has
//   absl::Status SetUp();                   // an empty store (schema applied)
//   DefectStore* store();
//   std::vector<testing::OutboxEvent> Events();  // events written, oldest first
//   std::vector<runtime::AuditRecord> AuditRows(); // rows written with changes, oldest
//                                                  // first (time, identity, method,
//                                                  // trace_id, status_code, request_json)
// Cases that only one implementation can show (SQL, constraint names, transactions seen
// from outside) stay in that implementation's own test.
#pragma once

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/defect/v1/defect.pb.h"
#include "server/defect/convert.h"
#include "server/defect/domain.h"
#include "server/defect/store.h"
#include "server/defect/testing/fake_store.h"
#include "server/defect/testing/store_test_helpers.h"
#include "server/runtime/errors.h"

namespace plantmesh::defect::testing {

template <typename Backend>
class DefectStoreConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status up = backend_.SetUp();
    ASSERT_TRUE(up.ok()) << up;
    store_ = backend_.store();
    // The plant every case starts from: one category, one crew of two mechanics (only
    // M-1 has an identity), two repair places.
    ASSERT_TRUE(store_
                    ->CreateCategory({"PAINT-SCRATCH", "Paint scratch", Severity::kMinor},
                                     Ctx("ops", "CreateDefectCategory", "c1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateCrew({"CREW-A", "Paint repair A", "PAINT"},
                                 Ctx("ops", "CreateCrew", "cr1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateMechanic({"M-1", "Ann", "CREW-A", "spiffe://p/user/m1"},
                                     Ctx("ops", "CreateMechanic", "m1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateMechanic({"M-2", "Bob", "CREW-A", ""},
                                     Ctx("ops", "CreateMechanic", "m2"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateRepairPlace({"RP-01", "Bay 1", "PAINT", false, ""},
                                        Ctx("ops", "CreateRepairPlace", "p1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateRepairPlace({"RP-02", "Bay 2", "PAINT", false, ""},
                                        Ctx("ops", "CreateRepairPlace", "p2"), nullptr)
                    .ok());
  }

  DefectStore* store() { return store_; }
  std::vector<OutboxEvent> Events() { return backend_.Events(); }
  std::vector<runtime::AuditRecord> AuditRows() { return backend_.AuditRows(); }
  // The trace ids of AuditRows(), oldest first.
  std::vector<std::string> AuditedTraces() {
    std::vector<std::string> traces;
    for (const runtime::AuditRecord& row : AuditRows()) traces.push_back(row.trace_id);
    return traces;
  }

  Defect Create(const std::string& vin, absl::Time now = kT0) {
    absl::StatusOr<Defect> d = ValueOf(store_->CreateDefect(
        Draft(vin, now), Ctx("op", "CreateDefect", "req-" + vin, now, "hash-" + vin),
        EncodeDefect));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : Defect{};
  }

  // A change of defect `id` made by `change` (a domain transition) through `method`.
  absl::StatusOr<Replayable<Defect>> Change(
      int64_t id, const ChangeContext& context, ChangeType type,
      const std::function<absl::StatusOr<Defect>(const Defect&)>& change,
      const std::string& comment = "") {
    return ChangeWithFacts(
        id, context, type, {},
        [&](const Defect& current, const DefectFacts&) { return change(current); }, comment);
  }
  // The same, for a change whose rules need the facts `wanted`.
  absl::StatusOr<Replayable<Defect>> ChangeWithFacts(
      int64_t id, const ChangeContext& context, ChangeType type, const FactsWanted& wanted,
      const std::function<absl::StatusOr<Defect>(const Defect&, const DefectFacts&)>& change,
      const std::string& comment = "") {
    return store_->MutateDefect(
        id, context, wanted,
        [&](const Defect& current, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
          PM_ASSIGN_OR_RETURN(Defect after, change(current, facts));
          return Mutation{after, type, comment};
        },
        EncodeDefect);
  }

  // The payload of an assignment is its place: another place is another request. The
  // domain's rules decide on the facts the store read (the place and mechanic exist).
  absl::StatusOr<Replayable<Defect>> AssignAnswer(int64_t id, const std::string& place,
                                                  const std::string& rid = "",
                                                  const std::string& actor = "foreman",
                                                  const std::string& mechanic = "M-1") {
    const AssignInput input{place, mechanic};
    return ChangeWithFacts(
        id, Ctx(actor, "AssignDefect", rid, kT0, place), ChangeType::kAssigned, AssignFacts(input),
        [&](const Defect& c, const DefectFacts& facts) -> absl::StatusOr<Defect> {
          PM_ASSIGN_OR_RETURN(Defect after, Assign(c, input, actor, kT0));
          PM_RETURN_IF_ERROR(CheckAssignTargets(input, facts));
          return after;
        });
  }
  absl::StatusOr<Defect> AssignTo(int64_t id, const std::string& place,
                                  const std::string& rid = "") {
    return ValueOf(AssignAnswer(id, place, rid));
  }
  // With the domain's busy-place rule on the facts the store read.
  absl::StatusOr<Defect> Start(int64_t id, const std::string& rid = "") {
    return ValueOf(ChangeWithFacts(
        id, Ctx("m1", "StartRepair", rid), ChangeType::kRepairStarted, StartRepairFacts(),
        [](const Defect& c, const DefectFacts& facts) -> absl::StatusOr<Defect> {
          PM_ASSIGN_OR_RETURN(Defect after, StartRepair(c, "m1", kT0));
          PM_RETURN_IF_ERROR(CheckRepairPlaceFree(c, facts));
          return after;
        }));
  }
  absl::StatusOr<Defect> Finish(int64_t id, const std::string& rid = "") {
    return ValueOf(Change(id, Ctx("m1", "FinishRepair", rid), ChangeType::kRepairFinished,
                          [](const Defect& c) {
                            return FinishRepair(c, {"done", 5}, "m1", kT0);
                          }));
  }
  absl::StatusOr<Defect> CancelIt(int64_t id, absl::Time now = kT0) {
    return ValueOf(Change(id, Ctx("foreman", "CancelDefect", "", now), ChangeType::kCancelled,
                          [&](const Defect& c) { return Cancel(c, "duplicate", "foreman", now); }));
  }

  // Every defect, in id order.
  std::vector<Defect> All() {
    ListRequestInput input;
    input.order_by = "create_time";
    input.page_size = 1000;
    absl::StatusOr<ListPage> page = store_->ListDefects(*MakeListQuery(input));
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return {};
    std::vector<Defect> all = page->defects;
    std::sort(all.begin(), all.end(), [](const Defect& a, const Defect& b) { return a.id < b.id; });
    return all;
  }

  size_t HistorySize(int64_t id) {
    absl::StatusOr<std::vector<HistoryEntry>> history = store_->GetHistory(id, 0, 1000);
    EXPECT_TRUE(history.ok()) << history.status();
    return history.ok() ? history->size() : 0;
  }

  // The read of defect `id` equals `expected` (as the contract shows it).
  void ExpectStoredAs(int64_t id, const Defect& expected) {
    absl::StatusOr<Defect> got = store_->GetDefect(id);
    ASSERT_TRUE(got.ok()) << got.status();
    std::string diff;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(ProtoOf(expected), ProtoOf(*got))) << diff;
  }

 private:
  Backend backend_;
  DefectStore* store_ = nullptr;
};

TYPED_TEST_SUITE_P(DefectStoreConformanceTest);

// A call's audit as the runtime hands it to the store (CallContext::AuditOfChange).
struct CallAudit {
  explicit CallAudit(const std::string& trace_id, const std::string& request_json = "{}") {
    runtime::AuditRecord base;
    base.identity = "spiffe://p/user/caller";
    base.roles = {"admin"};
    base.method = "plantmesh.defect.v1.DefectService.Any";
    base.trace_id = trace_id;
    base.request_json = request_json;
    audit.Activate(std::move(base));
  }
  ChangeContext With(ChangeContext context) {
    context.audit = &audit;
    return context;
  }
  runtime::ChangeAudit audit;
};

TYPED_TEST_P(DefectStoreConformanceTest, CreateIsIdempotentByRequestId) {
  DefectStore* store = this->store();
  Defect first = this->Create("VIN-1");
  EXPECT_GT(first.id, 0);
  EXPECT_EQ(first.version, 1);
  // The retry: the first call's answer as recorded, nothing written.
  absl::StatusOr<Replayable<Defect>> retry = store->CreateDefect(
      Draft("VIN-1", kT0 + absl::Seconds(5)),
      Ctx("op", "CreateDefect", "req-VIN-1", kT0 + absl::Seconds(5), "hash-VIN-1"), EncodeDefect);
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->recorded_response.has_value());
  EXPECT_FALSE(retry->value.has_value());
  EXPECT_EQ(AnswerOf(*retry).id(), absl::StrCat(first.id));
  EXPECT_EQ(AnswerOf(*retry).create_time().seconds(), absl::ToUnixSeconds(first.create_time));
  EXPECT_EQ(this->All().size(), 1u);
  EXPECT_EQ(this->HistorySize(first.id), 1u);
  EXPECT_EQ(this->Events().size(), 1u);

  absl::StatusOr<Replayable<Defect>> reused = store->CreateDefect(
      Draft("VIN-2"), Ctx("op", "CreateDefect", "req-VIN-1", kT0, "another-hash"), EncodeDefect);
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  runtime::ErrorInfoView info = runtime::ErrorInfoOf(reused.status());
  EXPECT_EQ(info.reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(info.metadata["resource"], absl::StrCat("defects/", first.id));
  EXPECT_EQ(info.metadata["method"], "plantmesh.defect.v1.DefectService.CreateDefect");
  EXPECT_EQ(this->All().size(), 1u);

  // What was recorded: this caller's key with this method; whatever the payload.
  auto recorded = [&](const std::string& actor, const std::string& method, const std::string& rid) {
    absl::StatusOr<bool> answer = store->IsRequestRecorded(Ctx(actor, method, rid).request);
    EXPECT_TRUE(answer.ok()) << answer.status();
    return answer.ok() && *answer;
  };
  EXPECT_TRUE(recorded("op", "CreateDefect", "req-VIN-1"));
  EXPECT_FALSE(recorded("qc", "CreateDefect", "req-VIN-1"));
  EXPECT_FALSE(recorded("op", "UpdateDefect", "req-VIN-1"));
  EXPECT_FALSE(recorded("op", "CreateDefect", "req-VIN-9"));
  EXPECT_FALSE(recorded("op", "CreateDefect", ""));

  // Another caller's request_id is its own, even when spelled the same.
  absl::StatusOr<Defect> other = ValueOf(store->CreateDefect(
      Draft("VIN-3"), Ctx("qc", "CreateDefect", "req-VIN-1", kT0, "another-hash"), EncodeDefect));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->id, first.id);
  EXPECT_EQ(this->All().size(), 2u);

  // Without a request_id every call is a call of its own.
  absl::StatusOr<Defect> plain1 =
      ValueOf(store->CreateDefect(Draft("VIN-4"), Ctx("op", "CreateDefect"), EncodeDefect));
  absl::StatusOr<Defect> plain2 =
      ValueOf(store->CreateDefect(Draft("VIN-4"), Ctx("op", "CreateDefect"), EncodeDefect));
  ASSERT_TRUE(plain1.ok() && plain2.ok());
  EXPECT_NE(plain1->id, plain2->id);

  absl::StatusOr<Defect> got = store->GetDefect(first.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->vin, "VIN-1");
  EXPECT_EQ(got->status, DefectStatus::kReported);
  EXPECT_EQ(got->reported_by, "spiffe://p/user/op");
  absl::Status absent = store->GetDefect(plain2->id + 100).status();
  EXPECT_EQ(absent.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(absent.message(), absl::StrCat("defect ", plain2->id + 100, " not found"));
  // Outside testing: NOT_FOUND of a defect had no details, of a machine a reason.
  EXPECT_EQ(runtime::ErrorInfoOf(absent).reason, "DEFECT_NOT_FOUND");
  EXPECT_EQ(runtime::ErrorInfoOf(absent).metadata["defect_id"], absl::StrCat(plain2->id + 100));
}

// Ids come from one sequence, 1 up; a report the table refuses (its category is not in
// the catalog: the foreign key) writes nothing and uses its id up, as a PostgreSQL
// sequence does.
TYPED_TEST_P(DefectStoreConformanceTest, IdsAreASequenceAndARefusedReportWritesNothing) {
  DefectStore* store = this->store();
  Defect first = this->Create("VIN-1");
  EXPECT_EQ(first.id, 1);
  Defect unknown = Draft("VIN-2");
  unknown.category_code = "NO-SUCH";
  absl::StatusOr<Replayable<Defect>> refused =
      store->CreateDefect(unknown, Ctx("op", "CreateDefect", "bad"), EncodeDefect);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  Defect no_severity = Draft("VIN-3");
  no_severity.severity = Severity::kUnspecified;
  EXPECT_EQ(store->CreateDefect(no_severity, Ctx("op", "CreateDefect", "bad2"), EncodeDefect)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(this->All().size(), 1u);
  EXPECT_EQ(this->Events().size(), 1u);
  // Nothing recorded: the same request_id, now valid, is a call of its own.
  absl::StatusOr<Defect> again =
      ValueOf(store->CreateDefect(Draft("VIN-2"), Ctx("op", "CreateDefect", "bad"), EncodeDefect));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id, first.id + 3);
}

// What a read gives back is what the change answered, through a whole life: report,
// edit, assign, repair, reject, reassign, repair, accept; and a cancel.
TYPED_TEST_P(DefectStoreConformanceTest, ReadsGiveBackWhatChangesAnswered) {
  DefectStore* store = this->store();
  absl::Time now = kT0 + absl::Nanoseconds(1500);  // the domain keeps microseconds
  absl::StatusOr<Defect> d = ValueOf(
      store->CreateDefect(Draft("VIN-1", now), Ctx("op", "CreateDefect", "r0", now), EncodeDefect));
  ASSERT_TRUE(d.ok()) << d.status();
  this->ExpectStoredAs(d->id, *d);
  const int64_t id = d->id;
  struct Step {
    std::string method;
    std::string actor;
    ChangeType type;
    std::function<absl::StatusOr<Defect>(const Defect&, absl::Time)> change;
  };
  const std::vector<Step> steps = {
      {"UpdateDefect", "qc", ChangeType::kUpdated,
       [](const Defect& c, absl::Time t) {
         NewDefectInput in;
         in.description = "scratch on the left door";
         in.zone = "FINAL";
         return ApplyUpdate(c, in, {"description", "zone"}, t);
       }},
      {"AssignDefect", "foreman", ChangeType::kAssigned,
       [](const Defect& c, absl::Time t) {
         return Assign(c, {"RP-01", "M-1"}, "foreman", t);
       }},
      {"StartRepair", "m1", ChangeType::kRepairStarted,
       [](const Defect& c, absl::Time t) { return StartRepair(c, "m1", t); }},
      {"FinishRepair", "m1", ChangeType::kRepairFinished,
       [](const Defect& c, absl::Time t) {
         return FinishRepair(c, {"polished", 25}, "m1", t);
       }},
      {"VerifyRepair", "qc", ChangeType::kRepairRejected,
       [](const Defect& c, absl::Time t) {
         return VerifyRepair(c, {QcDecision::kReject, "still visible"}, "qc", "", t);
       }},
      {"AssignDefect", "foreman", ChangeType::kAssigned,
       [](const Defect& c, absl::Time t) {
         return Assign(c, {"RP-02", "M-2"}, "foreman", t);
       }},
      {"StartRepair", "m2", ChangeType::kRepairStarted,
       [](const Defect& c, absl::Time t) { return StartRepair(c, "m2", t); }},
      {"FinishRepair", "m2", ChangeType::kRepairFinished,
       [](const Defect& c, absl::Time t) {
         return FinishRepair(c, {"repainted", 90}, "m2", t);
       }},
      {"VerifyRepair", "qc", ChangeType::kRepairAccepted,
       [](const Defect& c, absl::Time t) {
         return VerifyRepair(c, {QcDecision::kAccept, ""}, "qc", "", t);
       }},
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(absl::StrCat(i, ": ", steps[i].method));
    now += absl::Minutes(1) + absl::Nanoseconds(777);
    absl::StatusOr<Defect> after = ValueOf(
        this->Change(id, Ctx(steps[i].actor, steps[i].method, absl::StrCat("r", i + 1), now),
                     steps[i].type, [&](const Defect& c) { return steps[i].change(c, now); }));
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(after->version, static_cast<int64_t>(i) + 2);
    this->ExpectStoredAs(id, *after);
  }
  absl::StatusOr<Defect> closed = store->GetDefect(id);
  ASSERT_TRUE(closed.ok());
  EXPECT_EQ(closed->status, DefectStatus::kClosed);
  EXPECT_EQ(closed->repair->work_done, "repainted");
  EXPECT_EQ(closed->repair->labor_minutes, 90);
  EXPECT_EQ(closed->create_time, TruncateToMicros(kT0 + absl::Nanoseconds(1500)));
  EXPECT_EQ(this->HistorySize(id), steps.size() + 1);

  Defect other = this->Create("VIN-2");
  absl::StatusOr<Defect> cancelled = this->CancelIt(other.id, kT0 + absl::Hours(1));
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  this->ExpectStoredAs(other.id, *cancelled);
  EXPECT_EQ(store->GetDefect(other.id)->cancel_reason, "duplicate");
}

// A read gives back what the table keeps, whatever a change computed: times to the
// microsecond; a report's own columns only (its update time is its create time); never
// a new create time or reporter; a repair's work and labour once it is finished.
TYPED_TEST_P(DefectStoreConformanceTest, ReadsGiveBackWhatTheTableKeeps) {
  DefectStore* store = this->store();
  Defect draft = Draft("VIN-1");
  draft.create_time = kT0 + absl::Nanoseconds(1999);
  draft.update_time = kT0 + absl::Hours(1);
  draft.version = 7;
  draft.cancel_reason = "not on a report";
  draft.assignment = Assignment{"RP-01", "M-1", "foreman", kT0};
  absl::StatusOr<Defect> created =
      ValueOf(store->CreateDefect(draft, Ctx("op", "CreateDefect"), EncodeDefect));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->version, 1);
  absl::StatusOr<Defect> kept = store->GetDefect(created->id);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->create_time, kT0 + absl::Microseconds(1));
  EXPECT_EQ(kept->update_time, kept->create_time);
  EXPECT_EQ(kept->version, 1);
  EXPECT_EQ(kept->cancel_reason, "");
  EXPECT_FALSE(kept->assignment.has_value());

  absl::StatusOr<Defect> changed = ValueOf(store->MutateDefect(
      created->id, Ctx("qc", "UpdateDefect"), FactsWanted{},
      [](const Defect& c, const DefectFacts&) -> absl::StatusOr<Mutation> {
        Defect after = c;
        after.description = "changed";
        after.create_time = kT0 + absl::Hours(2);
        after.reported_by = "someone else";
        after.update_time = kT0 + absl::Hours(3) + absl::Nanoseconds(999);
        Repair repair;
        repair.started_by = "m1";
        repair.start_time = kT0 + absl::Nanoseconds(1001);
        repair.work_done = "not finished yet";
        repair.labor_minutes = 5;
        after.repair = repair;
        return Mutation{after, ChangeType::kUpdated, ""};
      },
      EncodeDefect));
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(changed->version, 2);
  kept = store->GetDefect(created->id);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->description, "changed");
  EXPECT_EQ(kept->create_time, kT0 + absl::Microseconds(1));
  EXPECT_EQ(kept->reported_by, "spiffe://p/user/op");
  EXPECT_EQ(kept->update_time, kT0 + absl::Hours(3));
  ASSERT_TRUE(kept->repair.has_value());
  EXPECT_EQ(kept->repair->start_time, kT0 + absl::Microseconds(1));
  EXPECT_EQ(kept->repair->work_done, "");
  EXPECT_EQ(kept->repair->labor_minutes, 0);
  EXPECT_FALSE(kept->repair->finish_time.has_value());
}

TYPED_TEST_P(DefectStoreConformanceTest, StaleEtagWritesNothing) {
  DefectStore* store = this->store();
  Defect d = this->Create("VIN-1");
  ASSERT_TRUE(this->AssignTo(d.id, "RP-01").ok());  // version 2
  const size_t events = this->Events().size();
  auto update = [&](const std::string& etag) {
    return store->MutateDefect(
        d.id, Ctx("foreman", "UpdateDefect", "r-stale"), FactsWanted{},
        [&](const Defect& current, const DefectFacts&) -> absl::StatusOr<Mutation> {
          PM_RETURN_IF_ERROR(CheckEtag(current, etag, true));
          NewDefectInput in;
          in.description = "changed";
          PM_ASSIGN_OR_RETURN(Defect after, ApplyUpdate(current, in, {"description"}, kT0));
          return Mutation{after, ChangeType::kUpdated, ""};
        },
        EncodeDefect);
  };
  absl::StatusOr<Replayable<Defect>> stale = update(EtagOf(1));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(runtime::ErrorInfoOf(stale.status()).metadata["current_etag"], "v2");
  Defect now = *store->GetDefect(d.id);
  EXPECT_EQ(now.version, 2);
  EXPECT_EQ(now.description, "");
  EXPECT_EQ(this->HistorySize(d.id), 2u);
  EXPECT_EQ(this->Events().size(), events);
  // A failed call records nothing: its retry is evaluated afresh.
  absl::StatusOr<Defect> fresh = ValueOf(update(EtagOf(2)));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->description, "changed");
  EXPECT_EQ(fresh->version, 3);
}

// An update that changes nothing writes nothing (no version, history or event) but the
// answer for its retries.
TYPED_TEST_P(DefectStoreConformanceTest, AnUpdateThatChangesNothingWritesNothing) {
  DefectStore* store = this->store();
  Defect d = this->Create("VIN-1");
  auto same = [&](const std::string& rid) {
    return this->Change(d.id, Ctx("qc", "UpdateDefect", rid), ChangeType::kUpdated,
                        [](const Defect& c) {
                          NewDefectInput in;
                          in.vin = c.vin;
                          return ApplyUpdate(c, in, {"vin"}, kT0 + absl::Hours(1));
                        });
  };
  absl::StatusOr<Replayable<Defect>> first = same("noop");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->value.has_value());
  EXPECT_EQ(first->value->version, 1);
  EXPECT_EQ(first->value->update_time, d.update_time);
  EXPECT_EQ(store->GetDefect(d.id)->version, 1);
  EXPECT_EQ(this->HistorySize(d.id), 1u);
  EXPECT_EQ(this->Events().size(), 1u);
  absl::StatusOr<Replayable<Defect>> retry = same("noop");
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->recorded_response.has_value());
  EXPECT_EQ(AnswerOf(*retry).etag(), EtagOf(1));
}

TYPED_TEST_P(DefectStoreConformanceTest, EveryChangeWritesOneHistoryEntryAndOneEvent) {
  DefectStore* store = this->store();
  Defect d = this->Create("VIN-1");
  ASSERT_TRUE(this->AssignTo(d.id, "RP-01").ok());
  ASSERT_TRUE(this->Start(d.id).ok());
  absl::StatusOr<Photo> photo =
      ValueOf(store->AddPhoto({d.id, "image/png", 3, std::string(64, 'a'), "a.png", "abc"},
                              Ctx("m1", "UploadDefectPhoto", "ph-1"), nullptr));
  ASSERT_TRUE(photo.ok()) << photo.status();
  // An illegal move writes neither.
  EXPECT_EQ(this->AssignTo(d.id, "RP-02").status().code(), absl::StatusCode::kFailedPrecondition);

  std::vector<OutboxEvent> events = this->Events();
  ASSERT_EQ(events.size(), 4u);
  std::vector<int> types;
  std::set<std::string> event_ids;
  for (size_t i = 0; i < events.size(); ++i) {
    v1::DefectEvent event;
    ASSERT_TRUE(event.ParseFromString(events[i].payload));
    EXPECT_EQ(event.event_id(), events[i].event_id);
    EXPECT_EQ(event.defect().id(), absl::StrCat(d.id));
    EXPECT_EQ(event.revision(), static_cast<int64_t>(i) + 1);
    EXPECT_EQ(event.defect().etag(), EtagOf(static_cast<int64_t>(i) + 1));
    EXPECT_EQ(event.event_time().seconds(), absl::ToUnixSeconds(kT0));
    EXPECT_TRUE(event.cursor().empty());
    EXPECT_TRUE(event.previous_zone().empty());
    event_ids.insert(event.event_id());
    types.push_back(static_cast<int>(event.change_type()));
  }
  EXPECT_EQ(event_ids.size(), 4u);
  EXPECT_THAT(types, ::testing::ElementsAre(1, 3, 4, 9));
  v1::DefectEvent last;
  ASSERT_TRUE(last.ParseFromString(events.back().payload));
  EXPECT_EQ(last.actor(), "m1");
  ASSERT_EQ(last.defect().photos_size(), 1);
  EXPECT_EQ(last.defect().photos(0).id(), "1");

  absl::StatusOr<std::vector<HistoryEntry>> history = store->GetHistory(d.id, 0, 1000);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 4u);
  for (size_t i = 0; i < history->size(); ++i) {
    EXPECT_EQ((*history)[i].sequence, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(static_cast<int>((*history)[i].change_type), types[i]);
    EXPECT_EQ((*history)[i].change_time, kT0);
  }
  EXPECT_EQ((*history)[0].actor, "op");
  EXPECT_EQ((*history)[0].request_id, "req-VIN-1");
  EXPECT_EQ((*history)[1].actor, "foreman");
  EXPECT_EQ((*history)[1].changes[0].field, "status");
  EXPECT_EQ((*history)[1].changes[0].old_value, "REPORTED");
  EXPECT_EQ((*history)[1].changes[0].new_value, "ASSIGNED");
  EXPECT_EQ((*history)[3].request_id, "ph-1");
  EXPECT_EQ(store->GetHistory(d.id + 1, 0, 1000).status().code(), absl::StatusCode::kNotFound);
  // A page: after a sequence, at most a limit.
  absl::StatusOr<std::vector<HistoryEntry>> page = store->GetHistory(d.id, 1, 2);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].sequence, 2);
  EXPECT_EQ((*page)[1].sequence, 3);
  EXPECT_TRUE(store->GetHistory(d.id, 4, 10)->empty());
  EXPECT_TRUE(store->GetHistory(d.id, std::numeric_limits<int64_t>::max(), 10)->empty());
  EXPECT_EQ(store->GetHistory(d.id, std::numeric_limits<int64_t>::min(), 10)->size(), 4u);
}

// A change that moves a defect to another zone tells watchers the zone it left; the
// history entry keeps the change's comment and the field changes.
TYPED_TEST_P(DefectStoreConformanceTest, EventsNameTheZoneLeftAndHistoryKeepsTheComment) {
  Defect d = this->Create("VIN-1");
  absl::StatusOr<Defect> moved = ValueOf(this->Change(
      d.id, Ctx("qc", "UpdateDefect", "", kT0 + absl::Seconds(1)), ChangeType::kUpdated,
      [](const Defect& c) {
        NewDefectInput in;
        in.zone = "FINAL";
        return ApplyUpdate(c, in, {"zone"}, kT0 + absl::Seconds(1));
      },
      "moved by QC"));
  ASSERT_TRUE(moved.ok()) << moved.status();
  std::vector<OutboxEvent> events = this->Events();
  ASSERT_EQ(events.size(), 2u);
  v1::DefectEvent event;
  ASSERT_TRUE(event.ParseFromString(events[1].payload));
  EXPECT_EQ(event.previous_zone(), "PAINT");
  EXPECT_EQ(event.defect().zone(), "FINAL");
  EXPECT_EQ(event.actor(), "qc");
  EXPECT_EQ(event.event_time().seconds(), absl::ToUnixSeconds(kT0) + 1);
  absl::StatusOr<std::vector<HistoryEntry>> history = this->store()->GetHistory(d.id, 0, 1000);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[1].comment, "moved by QC");
  ASSERT_EQ((*history)[1].changes.size(), 1u);
  EXPECT_EQ((*history)[1].changes[0].field, "zone");
  EXPECT_EQ((*history)[1].changes[0].old_value, "PAINT");
  EXPECT_EQ((*history)[1].changes[0].new_value, "FINAL");
  EXPECT_EQ((*history)[1].request_id, "");
}

// The history's field changes keep text that JSON must escape (quotes, backslashes,
// line breaks, tabs) and text that it need not (non-ASCII) exactly as written.
TYPED_TEST_P(DefectStoreConformanceTest, HistoryKeepsFieldValuesExactly) {
  Defect draft = Draft("VIN-1");
  draft.description = "Door \"B\" \\ left\nrear,\t4 cm, Kratzer am Türgriff";
  absl::StatusOr<Defect> d = ValueOf(this->store()->CreateDefect(
      draft, Ctx("op", "CreateDefect", "req-VIN-1", kT0, "hash-VIN-1"), EncodeDefect));
  ASSERT_TRUE(d.ok()) << d.status();
  absl::StatusOr<std::vector<HistoryEntry>> history = this->store()->GetHistory(d->id, 0, 1000);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 1u);
  bool found = false;
  for (const FieldChange& change : (*history)[0].changes) {
    if (change.field != "description") continue;
    found = true;
    EXPECT_EQ(change.old_value, "");
    EXPECT_EQ(change.new_value, draft.description);
  }
  EXPECT_TRUE(found);
}

// The issue's example: AssignDefect with a reused request_id and a different payload
// answered OK with the old result; now that is REQUEST_ID_REUSED, and a true retry gets
// the first answer back even after the defect changed since.
TYPED_TEST_P(DefectStoreConformanceTest, TransitionIsIdempotentByRequestIdAndPayload) {
  DefectStore* store = this->store();
  Defect d = this->Create("VIN-1");
  absl::StatusOr<Defect> first = this->AssignTo(d.id, "RP-01", "assign-1");
  ASSERT_TRUE(first.ok()) << first.status();

  absl::StatusOr<Replayable<Defect>> reused = this->AssignAnswer(d.id, "RP-02", "assign-1");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists) << reused.status();
  EXPECT_EQ(runtime::ErrorInfoOf(reused.status()).reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(runtime::ErrorInfoOf(reused.status()).metadata["resource"],
            absl::StrCat("defects/", d.id));
  EXPECT_EQ(store->GetDefect(d.id)->assignment->repair_place_id, "RP-01");

  ASSERT_TRUE(this->Start(d.id).ok());  // the defect moves on
  absl::StatusOr<Replayable<Defect>> retry = this->AssignAnswer(d.id, "RP-01", "assign-1");
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->recorded_response.has_value());
  EXPECT_EQ(*retry->recorded_response, EncodeDefect(*first));
  EXPECT_EQ(AnswerOf(*retry).etag(), EtagOf(first->version));
  EXPECT_EQ(AnswerOf(*retry).status(), v1::DEFECT_STATUS_ASSIGNED);
  EXPECT_EQ(this->HistorySize(d.id), 3u);
  EXPECT_EQ(this->Events().size(), 3u);
  // A retry is answered before the defect is read: even a mutator that would fail is
  // not asked.
  absl::StatusOr<Replayable<Defect>> answered = store->MutateDefect(
      d.id, Ctx("foreman", "AssignDefect", "assign-1", kT0, "RP-01"), FactsWanted{},
      [](const Defect&, const DefectFacts&) -> absl::StatusOr<Mutation> {
        return absl::InternalError("must not be called");
      },
      EncodeDefect);
  ASSERT_TRUE(answered.ok()) << answered.status();
  EXPECT_EQ(answered->recorded_response, retry->recorded_response);
}

// A request_id is scoped to the caller and the method: the same id from another method
// or another caller is a call of its own.
TYPED_TEST_P(DefectStoreConformanceTest, RequestIdsAreScopedToCallerAndMethod) {
  DefectStore* store = this->store();
  Defect d = this->Create("VIN-1");
  ASSERT_TRUE(this->AssignTo(d.id, "RP-01", "rid-1").ok());
  // StartRepair with the same request_id is its own call.
  absl::StatusOr<Defect> started = this->Start(d.id, "rid-1");
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->status, DefectStatus::kInRepair);
  ASSERT_TRUE(this->Finish(d.id, "rid-1").ok());
  // Another foreman reassigning with the same id and payload gets its own change...
  absl::StatusOr<Replayable<Defect>> other = this->AssignAnswer(d.id, "RP-01", "rid-1", "anna");
  // ...which here the state machine refuses (REPAIRED cannot be assigned): it was
  // evaluated, not answered from foreman's record.
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition) << other.status();
  // Both QC outcomes are VerifyRepair: a retry with the other decision but the same
  // payload fingerprint is the retry.
  auto verify = [&](QcDecision decision) {
    const ChangeType type =
        decision == QcDecision::kAccept ? ChangeType::kRepairAccepted : ChangeType::kRepairRejected;
    return this->Change(d.id, Ctx("qc", "VerifyRepair", "verify-1"), type, [&](const Defect& c) {
      return VerifyRepair(c, {decision, "paint runs"}, "qc", "", kT0);
    });
  };
  absl::StatusOr<Replayable<Defect>> rejected = verify(QcDecision::kReject);
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  absl::StatusOr<Replayable<Defect>> retried = verify(QcDecision::kAccept);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(AnswerOf(*retried).status(), v1::DEFECT_STATUS_REOPENED);
  EXPECT_EQ(this->HistorySize(d.id), 5u);
  EXPECT_EQ(store->GetDefect(d.id)->status, DefectStatus::kReopened);
}

// The store supplies the facts the rules need: the assigned mechanic's identity.
TYPED_TEST_P(DefectStoreConformanceTest, MutatorSeesTheAssignedMechanicsIdentity) {
  DefectStore* store = this->store();
  Defect d = this->Create("VIN-1");
  std::string seen = "unset";
  int64_t seen_version = 0;
  auto peek = [&](const Defect& c, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
    seen = facts.assigned_mechanic_identity;
    seen_version = c.version;
    return absl::CancelledError("only looking");
  };
  absl::Status looked =
      store->MutateDefect(d.id, Ctx("x", "UpdateDefect"), FactsWanted{}, peek, nullptr).status();
  EXPECT_EQ(looked.code(), absl::StatusCode::kCancelled);  // the mutator's error, as it was
  EXPECT_EQ(seen, "");
  EXPECT_EQ(seen_version, 1);
  ASSERT_TRUE(this->AssignTo(d.id, "RP-01").ok());  // to M-1
  EXPECT_FALSE(
      store->MutateDefect(d.id, Ctx("x", "UpdateDefect"), FactsWanted{}, peek, nullptr).ok());
  EXPECT_EQ(seen, "spiffe://p/user/m1");
  EXPECT_EQ(seen_version, 2);
  // M-2 has no identity.
  Defect other = this->Create("VIN-2");
  ASSERT_TRUE(ValueOf(this->AssignAnswer(other.id, "RP-02", "", "foreman", "M-2")).ok());
  EXPECT_FALSE(
      store->MutateDefect(other.id, Ctx("x", "UpdateDefect"), FactsWanted{}, peek, nullptr).ok());
  EXPECT_EQ(seen, "");
  EXPECT_EQ(this->HistorySize(d.id), 2u);
}

// The store reads the facts a change asks for; it decides nothing with them.
TYPED_TEST_P(DefectStoreConformanceTest, MutatorSeesTheFactsItAskedFor) {
  DefectStore* store = this->store();
  Defect a = this->Create("VIN-A");
  Defect b = this->Create("VIN-B");
  DefectFacts seen;
  auto peek = [&](const Defect&, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
    seen = facts;
    return absl::CancelledError("only looking");
  };
  auto look = [&](int64_t id, const FactsWanted& wanted) {
    seen = DefectFacts{};
    seen.repair_place_exists = seen.mechanic_exists = true;  // must be overwritten
    seen.repair_place_occupant = -1;
    EXPECT_EQ(
        store->MutateDefect(id, Ctx("x", "UpdateDefect"), wanted, peek, nullptr).status().code(),
        absl::StatusCode::kCancelled);
  };
  // Nothing asked: nothing but the assigned mechanic's identity.
  look(a.id, FactsWanted{});
  EXPECT_FALSE(seen.repair_place_exists);
  EXPECT_FALSE(seen.mechanic_exists);
  EXPECT_FALSE(seen.repair_place_occupant.has_value());
  look(a.id, AssignFacts({"RP-01", "M-2"}));
  EXPECT_TRUE(seen.repair_place_exists);
  EXPECT_TRUE(seen.mechanic_exists);
  look(a.id, AssignFacts({"RP-99", "M-1"}));
  EXPECT_FALSE(seen.repair_place_exists);
  EXPECT_TRUE(seen.mechanic_exists);
  look(a.id, AssignFacts({"RP-02", "M-99"}));
  EXPECT_TRUE(seen.repair_place_exists);
  EXPECT_FALSE(seen.mechanic_exists);
  // Not assigned: no place, so no occupant.
  look(a.id, StartRepairFacts());
  EXPECT_FALSE(seen.repair_place_occupant.has_value());
  ASSERT_TRUE(this->AssignTo(a.id, "RP-01").ok());
  ASSERT_TRUE(this->AssignTo(b.id, "RP-01").ok());
  look(b.id, StartRepairFacts());
  EXPECT_FALSE(seen.repair_place_occupant.has_value());
  ASSERT_TRUE(this->Start(a.id).ok());
  look(b.id, StartRepairFacts());
  EXPECT_EQ(seen.repair_place_occupant, a.id);
  EXPECT_EQ(seen.assigned_mechanic_identity, "spiffe://p/user/m1");
  // A defect is not its own place's occupant; and unasked, the occupant is not read.
  look(a.id, StartRepairFacts());
  EXPECT_FALSE(seen.repair_place_occupant.has_value());
  look(b.id, FactsWanted{});
  EXPECT_FALSE(seen.repair_place_occupant.has_value());
  EXPECT_EQ(this->HistorySize(b.id), 2u);
}

// With the domain's rule on the store's facts (AssignAnswer), unknown ids are named.
TYPED_TEST_P(DefectStoreConformanceTest, AssignRequiresExistingPlaceAndMechanic) {
  DefectStore* store = this->store();
  Defect d = this->Create("VIN-1");
  absl::StatusOr<Replayable<Defect>> r =
      this->AssignAnswer(d.id, "RP-99", "a-1", "foreman", "M-99");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  std::set<std::string> fields;
  for (const auto& v : runtime::FieldViolationsOf(r.status())) fields.insert(v.field);
  EXPECT_EQ(fields, (std::set<std::string>{"repair_place_id", "mechanic_id"}));
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("unknown repair place 'RP-99'"));
  absl::StatusOr<Replayable<Defect>> place_only = this->AssignAnswer(d.id, "RP-99", "");
  ASSERT_EQ(runtime::FieldViolationsOf(place_only.status()).size(), 1u);
  EXPECT_EQ(runtime::FieldViolationsOf(place_only.status())[0].field, "repair_place_id");
  EXPECT_EQ(store->GetDefect(d.id)->status, DefectStatus::kReported);
  EXPECT_EQ(this->HistorySize(d.id), 1u);
  // Refused, so not recorded: the same request_id with valid ids is a new call, not
  // REQUEST_ID_REUSED (the payload of AssignAnswer is its place).
  absl::StatusOr<Defect> assigned = ValueOf(this->AssignAnswer(d.id, "RP-01", "a-1"));
  EXPECT_TRUE(assigned.ok()) << assigned.status();
  EXPECT_EQ(store->MutateDefect(999, Ctx("x", "UpdateDefect"), FactsWanted{}, nullptr, nullptr)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

// A change that did not ask for the occupant meets the database's safety net, the
// unique index on busy places: FAILED_PRECONDITION REPAIR_PLACE_BUSY all the same.
TYPED_TEST_P(DefectStoreConformanceTest, BusyPlaceSafetyNetHoldsWithoutTheFacts) {
  DefectStore* store = this->store();
  Defect a = this->Create("VIN-A");
  Defect b = this->Create("VIN-B");
  ASSERT_TRUE(this->AssignTo(a.id, "RP-01").ok());
  ASSERT_TRUE(this->AssignTo(b.id, "RP-01").ok());
  ASSERT_TRUE(this->Start(a.id).ok());
  absl::StatusOr<Defect> unchecked =
      ValueOf(this->Change(b.id, Ctx("m1", "StartRepair"), ChangeType::kRepairStarted,
                           [](const Defect& c) { return StartRepair(c, "m1", kT0); }));
  EXPECT_EQ(unchecked.status().code(), absl::StatusCode::kFailedPrecondition) << unchecked.status();
  EXPECT_EQ(runtime::ErrorInfoOf(unchecked.status()).reason, "REPAIR_PLACE_BUSY");
  EXPECT_EQ(store->GetDefect(b.id)->status, DefectStatus::kAssigned);
  EXPECT_EQ(this->HistorySize(b.id), 2u);
}

TYPED_TEST_P(DefectStoreConformanceTest, StartRepairOnABusyPlaceIsRefused) {
  DefectStore* store = this->store();
  Defect a = this->Create("VIN-A");
  Defect b = this->Create("VIN-B");
  ASSERT_TRUE(this->AssignTo(a.id, "RP-01").ok());
  ASSERT_TRUE(this->AssignTo(b.id, "RP-01").ok());
  ASSERT_TRUE(this->Start(a.id).ok());
  absl::StatusOr<Defect> refused = this->Start(b.id);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            absl::StrCat("repair place RP-01 is busy: defect ", a.id, " is in repair there"));
  runtime::ErrorInfoView info = runtime::ErrorInfoOf(refused.status());
  EXPECT_EQ(info.reason, "REPAIR_PLACE_BUSY");
  EXPECT_EQ(info.metadata["current_defect_id"], absl::StrCat(a.id));
  EXPECT_EQ(info.metadata["repair_place_id"], "RP-01");
  EXPECT_EQ(store->GetDefect(b.id)->status, DefectStatus::kAssigned);

  std::vector<RepairPlace> places = *store->ListRepairPlaces("");
  ASSERT_EQ(places.size(), 2u);
  EXPECT_EQ(places[0].id, "RP-01");
  EXPECT_TRUE(places[0].busy);
  EXPECT_EQ(places[0].current_defect_id, absl::StrCat(a.id));
  EXPECT_FALSE(places[1].busy);
  EXPECT_EQ(places[1].current_defect_id, "");

  // Once the first repair finishes the place is free again.
  ASSERT_TRUE(this->Finish(a.id).ok());
  EXPECT_FALSE((*store->ListRepairPlaces("PAINT"))[0].busy);
  EXPECT_TRUE(this->Start(b.id).ok());
  EXPECT_EQ((*store->ListRepairPlaces("PAINT"))[0].current_defect_id, absl::StrCat(b.id));
}

// Two repairs starting at one place at the same time: exactly one wins, whatever the
// timing.
TYPED_TEST_P(DefectStoreConformanceTest, ConcurrentStartRepairAtOnePlaceOneWins) {
  DefectStore* store = this->store();
  for (int round = 0; round < 10; ++round) {
    Defect a = this->Create(absl::StrCat("VIN-A", round));
    Defect b = this->Create(absl::StrCat("VIN-B", round));
    ASSERT_TRUE(this->AssignTo(a.id, "RP-02").ok());
    ASSERT_TRUE(this->AssignTo(b.id, "RP-02").ok());
    std::mutex mu;
    std::condition_variable cv;
    int ready = 0;
    std::vector<absl::Status> results(2);
    auto run = [&](int i, int64_t id) {
      {
        std::unique_lock<std::mutex> lock(mu);
        ++ready;
        cv.notify_all();
        cv.wait(lock, [&] { return ready == 2; });
      }
      results[i] = this->Start(id).status();
    };
    std::thread t1(run, 0, a.id);
    std::thread t2(run, 1, b.id);
    t1.join();
    t2.join();
    int ok = 0;
    for (const absl::Status& s : results) {
      if (s.ok()) {
        ++ok;
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
      }
    }
    EXPECT_EQ(ok, 1) << results[0] << " / " << results[1];
    ListRequestInput in_repair;
    in_repair.filter.statuses = {DefectStatus::kInRepair};
    EXPECT_EQ(store->ListDefects(*MakeListQuery(in_repair))->defects.size(), 1u);
    // Free the place for the next round.
    ASSERT_TRUE(this->CancelIt(a.id).ok());
    ASSERT_TRUE(this->CancelIt(b.id).ok());
  }
}

// Calls with one request_id at the same time change once; every other call gets the
// first one's answer.
TYPED_TEST_P(DefectStoreConformanceTest, ConcurrentCallsWithOneRequestIdChangeOnce) {
  DefectStore* store = this->store();
  constexpr int kCalls = 4;
  std::vector<absl::StatusOr<Replayable<Defect>>> answers(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      answers[i] = store->CreateDefect(Draft("VIN-1"), Ctx("op", "CreateDefect", "same", kT0, "h"),
                                       EncodeDefect);
    });
  }
  for (std::thread& t : threads) t.join();
  int made = 0;
  std::set<std::string> ids;
  for (const auto& answer : answers) {
    // PostgreSQL may ask a call to retry when the first call's claim is released at
    // the wrong moment (ABORTED); any other outcome is a bug.
    if (!answer.ok()) {
      EXPECT_EQ(answer.status().code(), absl::StatusCode::kAborted) << answer.status();
      continue;
    }
    if (answer->value) ++made;
    ids.insert(AnswerOf(*answer).id());
  }
  EXPECT_EQ(made, 1);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(this->All().size(), 1u);
  EXPECT_EQ(this->Events().size(), 1u);
}

TYPED_TEST_P(DefectStoreConformanceTest, KeysetPagingReturnsEachDefectOnceInOrder) {
  DefectStore* store = this->store();
  constexpr int kDefects = 1000;
  std::map<int64_t, Defect> all;
  for (int i = 0; i < kDefects; ++i) {
    // Three defects share each create time: the id breaks the tie.
    Defect d = this->Create(absl::StrCat("V", i), kT0 + absl::Seconds(i / 3));
    all[d.id] = d;
  }
  // Every seventh defect changes later, in reverse order of creation.
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->first % 7 != 0) continue;
    absl::Time when =
        kT0 + absl::Hours(1) + absl::Seconds(static_cast<double>(all.size() - it->first) / 2);
    absl::StatusOr<Defect> updated = ValueOf(this->Change(
        it->first, Ctx("qc", "UpdateDefect", "", when), ChangeType::kUpdated, [&](const Defect& c) {
          NewDefectInput in;
          in.description = "later";
          return ApplyUpdate(c, in, {"description"}, when);
        }));
    ASSERT_TRUE(updated.ok()) << updated.status();
    it->second = *updated;
  }
  for (const char* order_by :
       {"create_time desc", "create_time", "update_time desc", "update_time"}) {
    SCOPED_TRACE(order_by);
    ListRequestInput input;
    input.order_by = order_by;
    input.page_size = 97;
    input.filter.zone = "PAINT";
    std::vector<int64_t> seen;
    for (int pages = 0; pages < 100; ++pages) {
      absl::StatusOr<ListQuery> query = MakeListQuery(input);
      ASSERT_TRUE(query.ok()) << query.status();
      absl::StatusOr<ListPage> page = store->ListDefects(*query);
      ASSERT_TRUE(page.ok()) << page.status();
      EXPECT_LE(page->defects.size(), 97u);
      for (const Defect& d : page->defects) seen.push_back(d.id);
      if (!page->more) break;
      input.page_token = EncodePageToken(*query, page->defects.back());
    }
    std::vector<int64_t> expected;
    for (const auto& [id, d] : all) expected.push_back(id);
    const bool by_create = absl::StartsWith(order_by, "create");
    const bool desc = absl::EndsWith(order_by, "desc");
    std::sort(expected.begin(), expected.end(), [&](int64_t x, int64_t y) {
      absl::Time tx = by_create ? all[x].create_time : all[x].update_time;
      absl::Time ty = by_create ? all[y].create_time : all[y].update_time;
      if (tx != ty) return desc ? tx > ty : tx < ty;
      return desc ? x > y : x < y;
    });
    EXPECT_EQ(seen.size(), static_cast<size_t>(kDefects));
    EXPECT_EQ(seen, expected);
  }
  // A page that ends exactly at the last defect says no more follow.
  ListRequestInput exact;
  exact.page_size = kDefects;
  absl::StatusOr<ListPage> whole = store->ListDefects(*MakeListQuery(exact));
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->defects.size(), static_cast<size_t>(kDefects));
  EXPECT_FALSE(whole->more);
  // Filters apply: one VIN, and a status none has.
  ListRequestInput by_vin;
  by_vin.filter.vin = "V10";
  EXPECT_EQ(store->ListDefects(*MakeListQuery(by_vin))->defects.size(), 1u);
  ListRequestInput closed;
  closed.filter.statuses = {DefectStatus::kClosed};
  EXPECT_TRUE(store->ListDefects(*MakeListQuery(closed))->defects.empty());
  ListRequestInput window;
  window.filter.create_time_from = kT0 + absl::Seconds(10);
  window.filter.create_time_to = kT0 + absl::Seconds(20);
  EXPECT_EQ(store->ListDefects(*MakeListQuery(window))->defects.size(), 30u);
}

TYPED_TEST_P(DefectStoreConformanceTest, ListFiltersCombine) {
  DefectStore* store = this->store();
  Defect a = this->Create("VIN-A", kT0);
  Defect b = this->Create("VIN-B", kT0 + absl::Seconds(1));
  Defect c = this->Create("VIN-C", kT0 + absl::Seconds(2));
  ASSERT_TRUE(this->AssignTo(b.id, "RP-01").ok());
  ASSERT_TRUE(ValueOf(this->Change(c.id, Ctx("qc", "UpdateDefect"), ChangeType::kUpdated,
                                   [](const Defect& d) {
                                     NewDefectInput in;
                                     in.zone = "FINAL";
                                     in.shift = "2026-11-21/B";
                                     return ApplyUpdate(d, in, {"zone", "shift"}, kT0);
                                   }))
                  .ok());
  auto ids = [&](const ListFilter& filter) {
    ListRequestInput input;
    input.filter = filter;
    input.order_by = "create_time";
    absl::StatusOr<ListQuery> query = MakeListQuery(input);
    EXPECT_TRUE(query.ok()) << query.status();
    std::vector<int64_t> out;
    if (!query.ok()) return out;
    absl::StatusOr<ListPage> page = store->ListDefects(*query);
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const Defect& d : page->defects) out.push_back(d.id);
    }
    return out;
  };
  using ::testing::ElementsAre;
  ListFilter f;
  f.statuses = {DefectStatus::kReported, DefectStatus::kAssigned};
  EXPECT_THAT(ids(f), ElementsAre(a.id, b.id, c.id));
  f.statuses = {DefectStatus::kAssigned};
  EXPECT_THAT(ids(f), ElementsAre(b.id));
  f = {};
  f.zone = "PAINT";
  EXPECT_THAT(ids(f), ElementsAre(a.id, b.id));
  f.zone = "paint";  // codes compare exactly
  EXPECT_THAT(ids(f), ElementsAre());
  f = {};
  f.shift = "2026-11-21/B";
  EXPECT_THAT(ids(f), ElementsAre(c.id));
  f = {};
  f.zone = "PAINT";
  f.statuses = {DefectStatus::kReported};
  EXPECT_THAT(ids(f), ElementsAre(a.id));
  // The window is [from, to): from is in, to is out.
  f = {};
  f.create_time_from = kT0 + absl::Seconds(1);
  EXPECT_THAT(ids(f), ElementsAre(b.id, c.id));
  f.create_time_to = kT0 + absl::Seconds(2);
  EXPECT_THAT(ids(f), ElementsAre(b.id));
  // Listed defects carry their photos.
  ASSERT_TRUE(store
                  ->AddPhoto({a.id, "image/png", 1, std::string(64, 'a'), "", "x"},
                             Ctx("op", "UploadDefectPhoto"), nullptr)
                  .ok());
  ListRequestInput input;
  input.order_by = "create_time";
  absl::StatusOr<ListPage> page = store->ListDefects(*MakeListQuery(input));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->defects.size(), 3u);
  EXPECT_EQ(page->defects[0].photos.size(), 1u);
  EXPECT_EQ(page->defects[1].photos.size(), 0u);
}

TYPED_TEST_P(DefectStoreConformanceTest, PhotosAreStoredOnceAndReadBack) {
  DefectStore* store = this->store();
  Defect d = this->Create("VIN-1");
  std::string bytes(300000, '\x7f');
  bytes[5] = '\0';
  NewPhoto photo{d.id,       "image/jpeg", static_cast<int64_t>(bytes.size()), std::string(64, 'b'),
                 "door.jpg", bytes};
  auto encode = [](const Photo& p) {
    v1::Photo proto;
    ToProto(p, &proto);
    return proto.SerializeAsString();
  };
  const absl::Time now = kT0 + absl::Nanoseconds(2500);
  absl::StatusOr<Photo> stored =
      ValueOf(store->AddPhoto(photo, Ctx("op", "UploadDefectPhoto", "up-1", now), encode));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->id, "1");
  EXPECT_EQ(stored->uploaded_by, "op");
  EXPECT_EQ(stored->upload_time, TruncateToMicros(now));
  absl::StatusOr<Replayable<Photo>> retry =
      store->AddPhoto(photo, Ctx("op", "UploadDefectPhoto", "up-1"), encode);
  ASSERT_TRUE(retry.ok());
  v1::Photo recorded;
  ASSERT_TRUE(recorded.ParseFromString(retry->recorded_response.value_or("")));
  EXPECT_EQ(recorded.id(), "1");
  EXPECT_EQ(this->HistorySize(d.id), 2u);
  absl::StatusOr<PhotoContent> content = store->GetPhoto(d.id, "1");
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(content->bytes, bytes);
  EXPECT_EQ(content->photo.file_name, "door.jpg");
  EXPECT_EQ(content->photo.size_bytes, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(content->photo.upload_time, TruncateToMicros(now));
  Defect after = *store->GetDefect(d.id);
  ASSERT_EQ(after.photos.size(), 1u);
  EXPECT_EQ(after.version, 2);
  EXPECT_EQ(after.update_time, TruncateToMicros(now));
  // The next photo is number 2; another caller's "up-1" is its own upload.
  absl::StatusOr<Photo> second =
      ValueOf(store->AddPhoto(photo, Ctx("qc", "UploadDefectPhoto", "up-1"), encode));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->id, "2");
  NewPhoto other = photo;
  other.file_name = "hood.jpg";
  EXPECT_EQ(runtime::ErrorInfoOf(
                store->AddPhoto(other, Ctx("qc", "UploadDefectPhoto", "up-1", kT0, "other"), encode)
                    .status())
                .metadata["resource"],
            absl::StrCat("defects/", d.id, "/photos/2"));
  EXPECT_EQ(store->GetDefect(d.id)->photos.size(), 2u);

  const absl::Status no_photo = store->GetPhoto(d.id, "3").status();
  EXPECT_EQ(no_photo.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runtime::ErrorInfoOf(no_photo).reason, "PHOTO_NOT_FOUND");
  EXPECT_EQ(runtime::ErrorInfoOf(no_photo).metadata["photo_id"], "3");
  const absl::Status no_defect = store->GetPhoto(d.id + 1, "1").status();
  EXPECT_EQ(no_defect.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runtime::ErrorInfoOf(no_defect).reason, "DEFECT_NOT_FOUND");
  // Outside testing: a photo id above 2147483647 (the stored number's width) was refused
  // as "not a photo id (... at most 9223372036854775807)"; every id of the rule names a
  // photo, or none.
  for (const char* none : {"2147483648", "99999999999", "9223372036854775807"}) {
    EXPECT_EQ(store->GetPhoto(d.id, none).status().code(), absl::StatusCode::kNotFound) << none;
  }
  for (const char* bad : {"0", "-1", "x", "", "+1", "01", "9223372036854775808"}) {
    absl::Status status = store->GetPhoto(d.id, bad).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(runtime::FieldViolationsOf(status).at(0).field, "photo_id") << bad;
  }
  EXPECT_EQ(store
                ->AddPhoto({999, "image/png", 1, std::string(64, 'c'), "", "x"},
                           Ctx("op", "UploadDefectPhoto"), encode)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TYPED_TEST_P(DefectStoreConformanceTest, ResourcesAreIdempotentAndClashesRefused) {
  DefectStore* store = this->store();
  auto encode = [](const RepairPlace& p) { return "place " + p.id; };
  absl::StatusOr<Replayable<RepairPlace>> retry = store->CreateRepairPlace(
      {"RP-01", "Bay 1", "PAINT", false, ""}, Ctx("ops", "CreateRepairPlace", "p1"), encode);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->recorded_response, "");  // recorded by SetUp without an encoder
  absl::StatusOr<Replayable<RepairPlace>> made = store->CreateRepairPlace(
      {"RP-03", "Bay 3", "FINAL", true, "7"}, Ctx("ops", "CreateRepairPlace", "p3"), encode);
  ASSERT_TRUE(made.ok() && made->value.has_value());
  EXPECT_FALSE(made->value->busy);  // derived, never taken from the caller
  EXPECT_EQ(made->value->current_defect_id, "");
  EXPECT_EQ(store
                ->CreateRepairPlace({"RP-03", "Bay 3", "FINAL", false, ""},
                                    Ctx("ops", "CreateRepairPlace", "p3"), encode)
                ->recorded_response,
            "place RP-03");
  // A taken id is ALREADY_EXISTS naming the resource, not a request_id matter.
  absl::Status taken = store
                           ->CreateRepairPlace({"RP-01", "Bay 1", "PAINT", false, ""},
                                               Ctx("ops", "CreateRepairPlace", "other"), encode)
                           .status();
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(taken.message(), "repair place 'RP-01' already exists");
  EXPECT_EQ(runtime::ErrorInfoOf(taken).reason, "RESOURCE_EXISTS");
  EXPECT_EQ(runtime::ErrorInfoOf(taken).metadata["resource_type"], "repair place");
  EXPECT_EQ(runtime::ErrorInfoOf(taken).metadata["id"], "RP-01");
  // Refused, so not recorded: "other" with a free id is a call of its own.
  EXPECT_TRUE(ValueOf(store->CreateRepairPlace({"RP-04", "Bay 4", "PAINT", false, ""},
                                               Ctx("ops", "CreateRepairPlace", "other"), encode))
                  .ok());
  absl::Status crew_taken =
      store->CreateCrew({"CREW-A", "x", "PAINT"}, Ctx("ops", "CreateCrew", "cr9"), nullptr)
          .status();
  EXPECT_EQ(crew_taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(runtime::ErrorInfoOf(crew_taken).metadata["resource_type"], "crew");
  absl::Status mechanic_taken = store
                                    ->CreateMechanic({"M-1", "Ann", "CREW-A", ""},
                                                     Ctx("ops", "CreateMechanic", "m9"), nullptr)
                                    .status();
  EXPECT_EQ(mechanic_taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(runtime::ErrorInfoOf(mechanic_taken).metadata["resource_type"], "mechanic");
  absl::Status category_taken =
      store
          ->CreateCategory({"PAINT-SCRATCH", "x", Severity::kMajor},
                           Ctx("ops", "CreateDefectCategory", "c9"), nullptr)
          .status();
  EXPECT_EQ(category_taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(runtime::ErrorInfoOf(category_taken).metadata["resource_type"], "defect category");
  // A severity outside the enum is refused by the table's check, before the clash.
  EXPECT_EQ(store
                ->CreateCategory({"PAINT-SCRATCH", "x", Severity::kUnspecified},
                                 Ctx("ops", "CreateDefectCategory", "c10"), nullptr)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  // The same request_id with another payload is a reuse.
  absl::Status reused = store
                            ->CreateCrew({"CREW-B", "x", "PAINT"},
                                         Ctx("ops", "CreateCrew", "cr1", kT0, "other"), nullptr)
                            .status();
  EXPECT_EQ(runtime::ErrorInfoOf(reused).reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(runtime::ErrorInfoOf(reused).metadata["resource"], "crews/CREW-A");
  absl::Status no_crew = store
                             ->CreateMechanic({"M-9", "Zed", "CREW-Z", ""},
                                              Ctx("ops", "CreateMechanic", "m9"), nullptr)
                             .status();
  EXPECT_EQ(no_crew.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(runtime::FieldViolationsOf(no_crew)[0].field, "mechanic.crew_id");
  // Outside testing: a second mechanic with mike's identity was stored, one certificate
  // for two mechanics. An identity is one mechanic's; an empty one is no one's.
  absl::Status identity_taken =
      store
          ->CreateMechanic({"M-3", "Ann again", "CREW-A", "spiffe://p/user/m1"},
                           Ctx("ops", "CreateMechanic", "m11"), nullptr)
          .status();
  EXPECT_EQ(identity_taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(runtime::ErrorInfoOf(identity_taken).reason, "IDENTITY_TAKEN");
  EXPECT_EQ(runtime::ErrorInfoOf(identity_taken).metadata["mechanic_id"], "M-1");
  EXPECT_TRUE(store
                  ->CreateMechanic({"M-4", "Dan", "CREW-A", ""},
                                   Ctx("ops", "CreateMechanic", "m12"), nullptr)
                  .ok());
  // An unknown crew is checked before a taken id.
  EXPECT_EQ(store
                ->CreateMechanic({"M-1", "Ann", "CREW-Z", ""}, Ctx("ops", "CreateMechanic", "m10"),
                                 nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // The store supplies the facts and the rule decides: a refusal stores nothing and
  // comes back as the rule gave it.
  std::vector<bool> crew_exists;
  const absl::Status refused = absl::FailedPreconditionError("the rule refused");
  auto rule = [&](const MechanicFacts& facts) {
    crew_exists.push_back(facts.crew_exists);
    return refused;
  };
  EXPECT_EQ(store
                ->CreateMechanic({"M-20", "Al", "CREW-A", ""}, Ctx("ops", "CreateMechanic", "m20"),
                                 nullptr, rule)
                .status(),
            refused);
  EXPECT_EQ(store
                ->CreateMechanic({"M-21", "Bo", "CREW-Z", ""}, Ctx("ops", "CreateMechanic", "m21"),
                                 nullptr, rule)
                .status(),
            refused);
  EXPECT_EQ(crew_exists, (std::vector<bool>{true, false}));
  absl::StatusOr<std::vector<Mechanic>> mechanics = store->ListMechanics("CREW-A");
  ASSERT_TRUE(mechanics.ok()) << mechanics.status();
  for (const Mechanic& m : *mechanics) EXPECT_NE(m.id, "M-20");
}

TYPED_TEST_P(DefectStoreConformanceTest, ResourcesListInIdOrderByFilter) {
  DefectStore* store = this->store();
  // Created out of order, in two zones and two crews.
  for (const char* id : {"RP-10", "RP-03", "RP-1"}) {
    ASSERT_TRUE(store
                    ->CreateRepairPlace({id, absl::StrCat("Bay ", id), "FINAL", false, ""},
                                        Ctx("ops", "CreateRepairPlace"), nullptr)
                    .ok());
  }
  ASSERT_TRUE(
      store->CreateCrew({"CREW-0", "Final", "FINAL"}, Ctx("ops", "CreateCrew"), nullptr).ok());
  ASSERT_TRUE(
      store->CreateMechanic({"M-0", "Cy", "CREW-0", ""}, Ctx("ops", "CreateMechanic"), nullptr)
          .ok());
  ASSERT_TRUE(store
                  ->CreateCategory({"BODY-DENT", "Dent", Severity::kMajor},
                                   Ctx("ops", "CreateDefectCategory"), nullptr)
                  .ok());
  auto place_ids = [&](const std::string& zone) {
    std::vector<std::string> ids;
    absl::StatusOr<std::vector<RepairPlace>> places = store->ListRepairPlaces(zone);
    EXPECT_TRUE(places.ok()) << places.status();
    if (!places.ok()) return ids;
    for (const RepairPlace& p : *places) ids.push_back(p.id);
    return ids;
  };
  using ::testing::ElementsAre;
  EXPECT_THAT(place_ids(""), ElementsAre("RP-01", "RP-02", "RP-03", "RP-1", "RP-10"));
  EXPECT_THAT(place_ids("FINAL"), ElementsAre("RP-03", "RP-1", "RP-10"));
  EXPECT_THAT(place_ids("NONE"), ElementsAre());
  std::vector<RepairPlace> final_places = *store->ListRepairPlaces("FINAL");
  EXPECT_EQ(final_places[2].display_name, "Bay RP-10");
  EXPECT_EQ(final_places[2].zone, "FINAL");

  std::vector<Crew> crews = *store->ListCrews("");
  ASSERT_EQ(crews.size(), 2u);
  EXPECT_EQ(crews[0].id, "CREW-0");
  EXPECT_EQ(crews[1].display_name, "Paint repair A");
  EXPECT_EQ(store->ListCrews("PAINT")->size(), 1u);
  absl::StatusOr<std::optional<Crew>> crew = store->FindCrew("CREW-A");
  ASSERT_TRUE(crew.ok() && crew->has_value()) << crew.status();
  EXPECT_EQ((*crew)->display_name, "Paint repair A");
  EXPECT_FALSE(store->FindCrew("CREW-Z")->has_value());

  std::vector<Mechanic> mechanics = *store->ListMechanics("");
  ASSERT_EQ(mechanics.size(), 3u);
  EXPECT_EQ(mechanics[0].id, "M-0");
  EXPECT_EQ(mechanics[1].identity, "spiffe://p/user/m1");
  EXPECT_EQ(mechanics[2].crew_id, "CREW-A");
  EXPECT_EQ(store->ListMechanics("CREW-A")->size(), 2u);
  EXPECT_EQ(store->ListMechanics("CREW-Z")->size(), 0u);

  std::vector<DefectCategory> categories = *store->ListCategories();
  ASSERT_EQ(categories.size(), 2u);
  EXPECT_EQ(categories[0].code, "BODY-DENT");
  EXPECT_EQ(categories[0].default_severity, Severity::kMajor);
  absl::StatusOr<std::optional<DefectCategory>> found = store->FindCategory("PAINT-SCRATCH");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->title, "Paint scratch");
  EXPECT_EQ((*found)->default_severity, Severity::kMinor);
  EXPECT_FALSE(store->FindCategory("NOPE")->has_value());
}

// Issue 6: an acknowledged change's audit row is written with the change (one per call,
// never twice); a replay, a refused change and a failed one write none.
TYPED_TEST_P(DefectStoreConformanceTest, EveryAcknowledgedChangeHasOneAuditRowWrittenWithIt) {
  DefectStore* store = this->store();
  CallAudit create("t-create");
  absl::StatusOr<Defect> d = ValueOf(store->CreateDefect(
      Draft("VIN-1"), create.With(Ctx("op", "CreateDefect", "r-1")), EncodeDefect));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(create.audit.written());
  EXPECT_THAT(this->AuditedTraces(), ::testing::ElementsAre("t-create"));

  // The same call again (its row is written): no second row.
  ASSERT_TRUE(store
                  ->CreateDefect(Draft("VIN-2"), create.With(Ctx("op", "CreateDefect", "r-2")),
                                 EncodeDefect)
                  .ok());
  // A retry of the first: its own call, answered from the request log, audited by the
  // runtime on its own (not here).
  CallAudit replay("t-replay");
  absl::StatusOr<Replayable<Defect>> again = store->CreateDefect(
      Draft("VIN-1"), replay.With(Ctx("op", "CreateDefect", "r-1")), EncodeDefect);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->recorded_response.has_value());
  EXPECT_FALSE(replay.audit.written());

  // A refused change (the domain's error) and a refused report write nothing.
  CallAudit refused("t-refused");
  EXPECT_FALSE(this->Change(d->id, refused.With(Ctx("qc", "UpdateDefect")), ChangeType::kUpdated,
                            [](const Defect&) -> absl::StatusOr<Defect> {
                              return absl::FailedPreconditionError("stale etag");
                            })
                   .ok());
  EXPECT_FALSE(refused.audit.written());
  Defect unknown_category = Draft("VIN-3");
  unknown_category.category_code = "NOPE";
  CallAudit bad_report("t-bad-report");
  EXPECT_FALSE(store
                   ->CreateDefect(unknown_category,
                                  bad_report.With(Ctx("op", "CreateDefect", "r-3")), EncodeDefect)
                   .ok());
  EXPECT_FALSE(bad_report.audit.written());

  // A transition, an update that changes nothing, a photo, a resource: one row each.
  CallAudit assign("t-assign");
  ASSERT_TRUE(this->Change(d->id, assign.With(Ctx("foreman", "AssignDefect", "a-1")),
                           ChangeType::kAssigned,
                           [](const Defect& c) {
                             return Assign(c, {"RP-01", "M-1"}, "foreman", kT0);
                           })
                  .ok());
  CallAudit noop("t-noop");
  ASSERT_TRUE(this->Change(d->id, noop.With(Ctx("qc", "UpdateDefect")), ChangeType::kUpdated,
                           [](const Defect& c) {
                             NewDefectInput in;
                             in.vin = c.vin;
                             return ApplyUpdate(c, in, {"vin"}, kT0);
                           })
                  .ok());
  CallAudit photo("t-photo");
  ASSERT_TRUE(store
                  ->AddPhoto({d->id, "image/png", 3, std::string(64, 'c'), "a.png", "abc"},
                             photo.With(Ctx("op", "UploadDefectPhoto", "p-1")), nullptr)
                  .ok());
  CallAudit crew("t-crew");
  ASSERT_TRUE(
      store
          ->CreateCrew({"CREW-B", "B", "BODY"}, crew.With(Ctx("ops", "CreateCrew", "c-b")), nullptr)
          .ok());
  CallAudit clash("t-clash");
  EXPECT_FALSE(store
                   ->CreateCrew({"CREW-B", "B", "BODY"},
                                clash.With(Ctx("ops", "CreateCrew", "c-b2")), nullptr)
                   .ok());
  EXPECT_FALSE(clash.audit.written());

  EXPECT_THAT(this->AuditedTraces(),
              ::testing::ElementsAre("t-create", "t-assign", "t-noop", "t-photo", "t-crew"));
  for (const runtime::AuditRecord& row : this->AuditRows()) {
    EXPECT_EQ(row.status_code, 0) << row.trace_id;
    EXPECT_EQ(row.identity, "spiffe://p/user/caller");
    EXPECT_EQ(row.method, "plantmesh.defect.v1.DefectService.Any");
    EXPECT_EQ(row.time, kT0);
  }
}

// No value a client sends can make the audit row unstorable, and so fail the change it
// commits with: NUL (escaped in the JSON), invalid UTF-8, huge requests.
TYPED_TEST_P(DefectStoreConformanceTest, AuditRowsStoreWhateverTheClientSent) {
  DefectStore* store = this->store();
  const std::string huge =
      absl::StrCat(R"({"defect":{"description":")", std::string(100000, 'x'), R"("}})");
  CallAudit nul("t-nul", R"({"defect":{"description":"a\u0000b","\u0000key":1}})");
  CallAudit big("t-huge", huge);
  constexpr char kTrace[] = "t-\xff\xfe-bytes\0";
  constexpr char kNotJson[] = "not json \xc3\x28 \0 end";
  CallAudit bytes(std::string(kTrace, sizeof(kTrace) - 1),
                  std::string(kNotJson, sizeof(kNotJson) - 1));
  for (CallAudit* call : {&nul, &big, &bytes}) {
    absl::StatusOr<Replayable<Defect>> created =
        store->CreateDefect(Draft(absl::StrCat("VIN-", call->audit.request_json().size())),
                            call->With(Ctx("op", "CreateDefect", "")), EncodeDefect);
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_TRUE(call->audit.written());
  }
  EXPECT_EQ(this->AuditRows().size(), 3u);
  EXPECT_EQ(this->All().size(), 3u);
}

REGISTER_TYPED_TEST_SUITE_P(
    DefectStoreConformanceTest, CreateIsIdempotentByRequestId,
    IdsAreASequenceAndARefusedReportWritesNothing, ReadsGiveBackWhatChangesAnswered,
    ReadsGiveBackWhatTheTableKeeps, StaleEtagWritesNothing, AnUpdateThatChangesNothingWritesNothing,
    EveryChangeWritesOneHistoryEntryAndOneEvent, EventsNameTheZoneLeftAndHistoryKeepsTheComment,
    HistoryKeepsFieldValuesExactly, TransitionIsIdempotentByRequestIdAndPayload,
    RequestIdsAreScopedToCallerAndMethod, MutatorSeesTheAssignedMechanicsIdentity,
    MutatorSeesTheFactsItAskedFor, AssignRequiresExistingPlaceAndMechanic,
    BusyPlaceSafetyNetHoldsWithoutTheFacts, StartRepairOnABusyPlaceIsRefused,
    ConcurrentStartRepairAtOnePlaceOneWins, ConcurrentCallsWithOneRequestIdChangeOnce,
    KeysetPagingReturnsEachDefectOnceInOrder, ListFiltersCombine, PhotosAreStoredOnceAndReadBack,
    ResourcesAreIdempotentAndClashesRefused, ResourcesListInIdOrderByFilter,
    EveryAcknowledgedChangeHasOneAuditRowWrittenWithIt, AuditRowsStoreWhateverTheClientSent);

}  // namespace plantmesh::defect::testing
