#include "server/defect/domain.h"

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plantmesh::defect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

const absl::Time kNow = absl::FromUnixSeconds(1795000000) + absl::Nanoseconds(123456789);

DefectCategory PaintScratch() { return {"PAINT-SCRATCH", "Paint scratch", Severity::kMinor}; }

NewDefectInput GoodInput() {
  NewDefectInput in;
  in.vin = "WVW-ZZZ-1234";
  in.model = "SEDAN-2.0";
  in.zone = "PAINT";
  in.station = "P-07";
  in.category_code = "PAINT-SCRATCH";
  in.description = "scratch on the left door";
  in.detected_by = "badge 4411";
  in.shift = "2026-11-21/A";
  return in;
}

std::set<std::string> FieldsOf(const absl::Status& status) {
  std::set<std::string> fields;
  for (const auto& v : runtime::FieldViolationsOf(status)) fields.insert(v.field);
  return fields;
}

std::string DescriptionOf(const absl::Status& status, const std::string& field) {
  for (const auto& v : runtime::FieldViolationsOf(status)) {
    if (v.field == field) return v.description;
  }
  return "";
}

Defect DefectIn(DefectStatus status) {
  Defect d = *NewDefect(GoodInput(), PaintScratch(), "spiffe://p/user/op", kNow);
  d.id = 42;
  d.status = status;
  if (status != DefectStatus::kReported) {
    d.assignment = Assignment{"RP-03", "M-107", "spiffe://p/user/foreman", kNow};
  }
  if (status == DefectStatus::kInRepair || status == DefectStatus::kRepaired ||
      status == DefectStatus::kReopened || status == DefectStatus::kClosed) {
    Repair r;
    r.started_by = "spiffe://p/user/m107";
    r.start_time = kNow;
    if (status != DefectStatus::kInRepair) {
      r.finished_by = "spiffe://p/user/m107";
      r.finish_time = kNow;
      r.work_done = "polished";
      r.labor_minutes = 20;
    }
    d.repair = r;
  }
  return d;
}

// Applies a transition with valid inputs.
absl::StatusOr<Defect> Apply(const Defect& d, Transition t, const std::string& actor) {
  switch (t) {
    case Transition::kAssign:
      return Assign(d, {"RP-01", "M-200"}, actor, kNow);
    case Transition::kStartRepair:
      return StartRepair(d, actor, kNow);
    case Transition::kFinishRepair:
      return FinishRepair(d, {"replaced clip", 15}, actor, kNow);
    case Transition::kAccept:
      return VerifyRepair(d, {QcDecision::kAccept, ""}, actor, "", kNow);
    case Transition::kReject:
      return VerifyRepair(d, {QcDecision::kReject, "still scratched"}, actor, "", kNow);
    case Transition::kCancel:
      return Cancel(d, "duplicate report", actor, kNow);
  }
  return absl::InternalError("unreachable");
}

// The whole state machine, as the contract states it.
const std::map<std::pair<DefectStatus, Transition>, DefectStatus>& LegalMoves() {
  static const auto* moves = new std::map<std::pair<DefectStatus, Transition>, DefectStatus>{
      {{DefectStatus::kReported, Transition::kAssign}, DefectStatus::kAssigned},
      {{DefectStatus::kAssigned, Transition::kAssign}, DefectStatus::kAssigned},
      {{DefectStatus::kReopened, Transition::kAssign}, DefectStatus::kAssigned},
      {{DefectStatus::kAssigned, Transition::kStartRepair}, DefectStatus::kInRepair},
      {{DefectStatus::kReopened, Transition::kStartRepair}, DefectStatus::kInRepair},
      {{DefectStatus::kInRepair, Transition::kFinishRepair}, DefectStatus::kRepaired},
      {{DefectStatus::kRepaired, Transition::kAccept}, DefectStatus::kClosed},
      {{DefectStatus::kRepaired, Transition::kReject}, DefectStatus::kReopened},
      {{DefectStatus::kReported, Transition::kCancel}, DefectStatus::kCancelled},
      {{DefectStatus::kAssigned, Transition::kCancel}, DefectStatus::kCancelled},
      {{DefectStatus::kInRepair, Transition::kCancel}, DefectStatus::kCancelled},
      {{DefectStatus::kReopened, Transition::kCancel}, DefectStatus::kCancelled},
  };
  return *moves;
}

TEST(StateMachineTest, EveryStatusTimesEveryTransition) {
  int legal = 0;
  int illegal = 0;
  for (DefectStatus from : kAllStatuses) {
    for (Transition t : kAllTransitions) {
      SCOPED_TRACE(absl::StrCat(StatusName(from), " ", TransitionName(t)));
      auto it = LegalMoves().find({from, t});
      absl::StatusOr<DefectStatus> next = NextStatus(from, t);
      absl::StatusOr<Defect> applied = Apply(DefectIn(from), t, "spiffe://p/user/qc");
      if (it != LegalMoves().end()) {
        ++legal;
        ASSERT_TRUE(next.ok()) << next.status();
        EXPECT_EQ(*next, it->second);
        ASSERT_TRUE(applied.ok()) << applied.status();
        EXPECT_EQ(applied->status, it->second);
        EXPECT_EQ(applied->update_time, TruncateToMicros(kNow));
      } else {
        ++illegal;
        for (const absl::Status& s : {next.status(), applied.status()}) {
          EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
          EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(StatusName(from))));
          runtime::ErrorInfoView info = runtime::ErrorInfoOf(s);
          EXPECT_EQ(info.reason, "ILLEGAL_TRANSITION");
          EXPECT_EQ(info.metadata["current_status"], StatusName(from));
        }
        // Outside testing (BF L7): the refusal of one defect's change names the defect.
        EXPECT_EQ(runtime::ErrorInfoOf(applied.status()).metadata["defect_id"], "42");
      }
    }
  }
  EXPECT_EQ(legal, 12);
  EXPECT_EQ(illegal, 7 * 6 - 12);
}

// Outside testing (AD F8): the same assignment sent again wrote a history entry and
// moved assign_time; it changes nothing, another place or mechanic is a new assignment.
TEST(StateMachineTest, TheAssignmentADefectHasChangesNothing) {
  const Defect assigned =
      *Assign(DefectIn(DefectStatus::kReported), {"RP-01", "M-200"}, "foreman", kNow);
  const Defect again =
      *Assign(assigned, {"RP-01", "M-200"}, "another-foreman", kNow + absl::Hours(1));
  EXPECT_TRUE(Diff(assigned, again).empty());
  EXPECT_EQ(again.assignment->assigned_by, "foreman");
  EXPECT_EQ(again.assignment->assign_time, assigned.assignment->assign_time);

  const Defect moved = *Assign(assigned, {"RP-02", "M-200"}, "foreman", kNow + absl::Hours(1));
  EXPECT_EQ(moved.assignment->repair_place_id, "RP-02");
  EXPECT_FALSE(Diff(assigned, moved).empty());
  // A reopened defect given its last assignment again is assigned anew.
  Defect reopened = assigned;
  reopened.status = DefectStatus::kReopened;
  EXPECT_EQ(Assign(reopened, {"RP-01", "M-200"}, "foreman", kNow)->status, DefectStatus::kAssigned);
}

TEST(StateMachineTest, TransitionsRecordWhoAndWhen) {
  Defect assigned = *Assign(DefectIn(DefectStatus::kReported), {"RP-01", "M-200"}, "foreman", kNow);
  ASSERT_TRUE(assigned.assignment.has_value());
  EXPECT_EQ(assigned.assignment->repair_place_id, "RP-01");
  EXPECT_EQ(assigned.assignment->mechanic_id, "M-200");
  EXPECT_EQ(assigned.assignment->assigned_by, "foreman");

  Defect started = *StartRepair(assigned, "m200", kNow);
  EXPECT_EQ(started.repair->started_by, "m200");
  Defect finished = *FinishRepair(started, {"repainted", 45}, "m200", kNow + absl::Minutes(45));
  EXPECT_EQ(finished.repair->finished_by, "m200");
  EXPECT_EQ(finished.repair->labor_minutes, 45);
  EXPECT_FALSE(finished.close_time.has_value());

  Defect rejected =
      *VerifyRepair(finished, {QcDecision::kReject, "orange peel"}, "qc1", "m200", kNow);
  EXPECT_EQ(rejected.status, DefectStatus::kReopened);
  EXPECT_FALSE(rejected.verification->accepted);
  EXPECT_EQ(rejected.verification->rejection_reason, "orange peel");
  EXPECT_FALSE(rejected.close_time.has_value());

  Defect closed = *VerifyRepair(
      *FinishRepair(*StartRepair(rejected, "m200", kNow), {"again", 10}, "m200", kNow),
      {QcDecision::kAccept, ""}, "qc1", "m200", kNow);
  EXPECT_EQ(closed.status, DefectStatus::kClosed);
  EXPECT_TRUE(closed.verification->accepted);
  EXPECT_EQ(closed.close_time, TruncateToMicros(kNow));

  Defect cancelled = *Cancel(DefectIn(DefectStatus::kAssigned), "unit scrapped", "foreman", kNow);
  EXPECT_EQ(cancelled.cancel_reason, "unit scrapped");
  EXPECT_EQ(cancelled.close_time, TruncateToMicros(kNow));
}

TEST(FourEyesTest, VerifierWhoFinishedTheRepairIsRefused) {
  Defect repaired = DefectIn(DefectStatus::kRepaired);
  for (QcDecision decision : {QcDecision::kAccept, QcDecision::kReject}) {
    absl::StatusOr<Defect> result =
        VerifyRepair(repaired, {decision, "reason"}, repaired.repair->finished_by, "", kNow);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(runtime::ErrorInfoOf(result.status()).reason, "FOUR_EYES_REQUIRED");
  }
  EXPECT_TRUE(
      VerifyRepair(repaired, {QcDecision::kAccept, ""}, "spiffe://p/user/qc", "", kNow).ok());
}

// Outside testing: a mechanic holding the QC role too accepted a repair a foreman had
// finished for him by override (finished_by was the foreman's). Who started it, and the
// assigned mechanic, may not verify it either.
TEST(FourEyesTest, TheMechanicAForemanFinishedForIsRefusedToo) {
  Defect repaired = DefectIn(DefectStatus::kRepaired);
  repaired.repair->started_by = "spiffe://p/user/dual";
  repaired.repair->finished_by = "spiffe://p/user/foreman";
  // Outside testing: the ErrorInfo named finished_by (the foreman) whichever rule was
  // broken; it says which part the caller had.
  for (const auto& [actor, assigned, conflict] :
       std::vector<std::tuple<const char*, const char*, const char*>>{
           {"spiffe://p/user/dual", "", "started_by"},                         // started it
           {"spiffe://p/user/m7", "spiffe://p/user/m7", "assigned_mechanic"},  // done for him
           {"spiffe://p/user/foreman", "", "finished_by"},
           // Re-test: every part, not one of them.
           {"spiffe://p/user/dual", "spiffe://p/user/dual", "assigned_mechanic,started_by"}}) {
    absl::StatusOr<Defect> result =
        VerifyRepair(repaired, {QcDecision::kAccept, ""}, actor, assigned, kNow);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied) << actor;
    const runtime::ErrorInfoView info = runtime::ErrorInfoOf(result.status());
    EXPECT_EQ(info.reason, "FOUR_EYES_REQUIRED");
    EXPECT_EQ(info.metadata.at("conflict"), conflict) << actor;
    EXPECT_EQ(info.metadata.at("identity"), actor);
    EXPECT_EQ(info.metadata.at("started_by"), "spiffe://p/user/dual");
  }
  EXPECT_TRUE(VerifyRepair(repaired, {QcDecision::kAccept, ""}, "spiffe://p/user/qc",
                           "spiffe://p/user/m7", kNow)
                  .ok());
}

TEST(EtagTest, RequiredMatchingAndStale) {
  Defect d = DefectIn(DefectStatus::kReported);
  d.version = 3;
  EXPECT_EQ(EtagOf(3), "v3");
  EXPECT_TRUE(CheckEtag(d, "", false).ok());
  EXPECT_TRUE(CheckEtag(d, "v3", true).ok());
  absl::Status missing = CheckEtag(d, "", true);
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldsOf(missing), ElementsAre("etag"));
  absl::Status stale = CheckEtag(d, "v2", false);
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted);
  runtime::ErrorInfoView info = runtime::ErrorInfoOf(stale);
  EXPECT_EQ(info.reason, "ETAG_MISMATCH");
  EXPECT_EQ(info.metadata["current_etag"], "v3");
  EXPECT_EQ(info.metadata["defect_id"], absl::StrCat(d.id));  // re-test: only in `resource`
  EXPECT_THAT(FieldsOf(CheckEtag(d, "abc", false)), ElementsAre("etag"));
}

TEST(NewDefectTest, GoodReportDefaultsSeverityFromCategory) {
  absl::StatusOr<Defect> d = NewDefect(GoodInput(), PaintScratch(), "spiffe://p/user/op", kNow);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->status, DefectStatus::kReported);
  EXPECT_EQ(d->severity, Severity::kMinor);
  EXPECT_EQ(d->reported_by, "spiffe://p/user/op");
  EXPECT_EQ(d->create_time, TruncateToMicros(kNow));
  EXPECT_EQ(d->version, 1);
  NewDefectInput critical = GoodInput();
  critical.severity = Severity::kCritical;
  EXPECT_EQ(NewDefect(critical, PaintScratch(), "op", kNow)->severity, Severity::kCritical);
}

TEST(NewDefectTest, EveryViolationAtOnce) {
  // Characters and lengths are the contract's rules (server/runtime/request_rules_test.cc);
  // so are the output-only fields (the runtime refuses them before any handler, from the
  // contract's annotations); the domain names what is missing or unknown.
  NewDefectInput in;
  in.category_code = "NO-SUCH";
  in.severity = static_cast<Severity>(9);
  absl::Status s = NewDefect(in, std::nullopt, "op", kNow).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldsOf(s), UnorderedElementsAreArray(std::set<std::string>{
                               "defect.vin", "defect.model", "defect.zone", "defect.station",
                               "defect.category_code", "defect.severity", "defect.shift"}));
  EXPECT_EQ(DescriptionOf(s, "defect.category_code"), "unknown category 'NO-SUCH'");
  EXPECT_THAT(std::string(s.message()), HasSubstr("defect.vin"));
}

TEST(NewDefectTest, OptionalTextMayBeEmpty) {
  NewDefectInput in = GoodInput();
  in.description = "";
  in.detected_by = "";
  EXPECT_TRUE(NewDefect(in, PaintScratch(), "op", kNow).ok());
  in.vin = "";
  EXPECT_THAT(FieldsOf(NewDefect(in, PaintScratch(), "op", kNow).status()),
              ElementsAre("defect.vin"));
}

TEST(UpdateTest, ValidatesMaskEtagAndNamedFieldsOnly) {
  NewDefectInput in;  // all empty: only named fields are checked
  in.zone = "";
  absl::Status s = ValidateUpdate(in, {"zone", "status", "vin"}, "", std::nullopt);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldsOf(s), UnorderedElementsAreArray(std::set<std::string>{
                               "defect.zone", "update_mask.paths[1]", "defect.vin", "etag"}));
  EXPECT_THAT(FieldsOf(ValidateUpdate(in, {}, "v1", std::nullopt)), ElementsAre("update_mask"));
  NewDefectInput cat;
  cat.category_code = "NOPE";
  EXPECT_EQ(DescriptionOf(ValidateUpdate(cat, {"category_code"}, "v1", std::nullopt),
                          "defect.category_code"),
            "unknown category 'NOPE'");
  NewDefectInput good;
  good.description = "deeper than thought";
  EXPECT_TRUE(ValidateUpdate(good, {"description"}, "v1", std::nullopt).ok());
  // Outside testing: severity named with no value was kept silently and answered OK.
  EXPECT_EQ(
      DescriptionOf(ValidateUpdate(good, {"severity"}, "v1", std::nullopt), "defect.severity"),
      "required: update_mask names it (MINOR, MAJOR or CRITICAL)");
  good.severity = Severity::kMajor;
  EXPECT_TRUE(ValidateUpdate(good, {"severity"}, "v1", std::nullopt).ok());
  // A path named twice: refused for every update by the runtime (request_rules_test).
}

TEST(UpdateTest, AppliesOnlyNamedFieldsAndDiffs) {
  Defect before = DefectIn(DefectStatus::kReported);
  NewDefectInput in;
  in.description = "deeper than thought";
  in.zone = "SHOULD-NOT-APPLY";
  absl::StatusOr<Defect> after = ApplyUpdate(before, in, {"description"}, kNow + absl::Hours(1));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->zone, before.zone);
  EXPECT_EQ(after->description, "deeper than thought");
  std::vector<FieldChange> changes = Diff(before, *after);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].field, "description");
  EXPECT_EQ(changes[0].old_value, "scratch on the left door");
  EXPECT_EQ(changes[0].new_value, "deeper than thought");

  for (DefectStatus frozen : {DefectStatus::kClosed, DefectStatus::kCancelled}) {
    const absl::Status refused = ApplyUpdate(DefectIn(frozen), in, {"description"}, kNow).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
    runtime::ErrorInfoView info = runtime::ErrorInfoOf(refused);
    EXPECT_EQ(info.reason, "DEFECT_FROZEN");
    EXPECT_EQ(info.metadata["defect_id"], "42");
  }
}

TEST(DiffTest, TransitionChangesAreListed) {
  Defect before = DefectIn(DefectStatus::kReported);
  Defect after = *Assign(before, {"RP-09", "M-1"}, "foreman", kNow);
  std::vector<std::string> fields;
  for (const FieldChange& c : Diff(before, after)) fields.push_back(c.field);
  EXPECT_THAT(fields, ElementsAre("status", "assignment.repair_place_id", "assignment.mechanic_id",
                                  "assignment.assigned_by", "assignment.assign_time"));
  EXPECT_EQ(Diff(before, after)[0].old_value, "REPORTED");
  EXPECT_EQ(Diff(before, after)[0].new_value, "ASSIGNED");
}

// Only the assigned mechanic's identity may start or finish a repair; a foreman or admin
// may override, and the override is noted; anyone else is refused.
TEST(RepairWorkerTest, OnlyTheAssignedMechanicOrAnOverride) {
  const std::string mike = "spiffe://plantmesh.local/user/mike";
  const std::string mark = "spiffe://plantmesh.local/user/mark";
  const std::string anna = "spiffe://plantmesh.local/user/anna";
  Defect assigned = DefectIn(DefectStatus::kAssigned);
  assigned.id = 42;
  assigned.assignment = Assignment{"RP-01", "M-107", "foreman", kNow};
  struct Case {
    const char* name;
    Caller caller;
    std::string assigned_identity;
    absl::StatusCode code;
    std::string note;  // substring of the override note; "" = none
  };
  const std::vector<Case> cases = {
      {"the assigned mechanic", {mike, {"mechanic"}}, mike, absl::StatusCode::kOk, ""},
      {"another mechanic", {mark, {"mechanic"}}, mike, absl::StatusCode::kPermissionDenied, ""},
      {"a mechanic when the assignee has no identity",
       {mike, {"mechanic"}},
       "",
       absl::StatusCode::kPermissionDenied,
       ""},
      {"a foreman overrides", {anna, {"foreman"}}, mike, absl::StatusCode::kOk, "by foreman"},
      {"an admin overrides", {anna, {"admin"}}, mike, absl::StatusCode::kOk, "by admin"},
      {"a foreman overrides an assignee without identity",
       {anna, {"foreman"}},
       "",
       absl::StatusCode::kOk,
       "no identity"},
      {"an operator", {anna, {"operator"}}, mike, absl::StatusCode::kPermissionDenied, ""},
      {"no roles", {anna, {}}, mike, absl::StatusCode::kPermissionDenied, ""},
      // The assignee doing it as a foreman too is no override.
      {"the assignee who is also foreman",
       {mike, {"foreman", "mechanic"}},
       mike,
       absl::StatusCode::kOk,
       ""},
  };
  for (Transition transition : {Transition::kStartRepair, Transition::kFinishRepair}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(absl::StrCat(TransitionName(transition), ": ", c.name));
      absl::StatusOr<std::string> note =
          CheckRepairWorker(assigned, transition, c.caller, c.assigned_identity);
      ASSERT_EQ(note.status().code(), c.code) << note.status();
      if (!note.ok()) {
        const runtime::ErrorInfoView info = runtime::ErrorInfoOf(note.status());
        EXPECT_EQ(info.reason, "NOT_ASSIGNED_MECHANIC");
        EXPECT_EQ(info.metadata.at("mechanic_id"), "M-107");
        EXPECT_EQ(info.metadata.at("assigned_identity"), c.assigned_identity);
        EXPECT_EQ(info.metadata.at("defect_id"), absl::StrCat(assigned.id));
        EXPECT_THAT(note.status().message(), HasSubstr(std::string(TransitionName(transition))));
      } else if (c.note.empty()) {
        EXPECT_EQ(*note, "");
      } else {
        EXPECT_THAT(*note, HasSubstr("override"));
        EXPECT_THAT(*note, HasSubstr(c.note));
        EXPECT_THAT(*note, HasSubstr("M-107"));
        EXPECT_THAT(*note, HasSubstr(c.caller.identity));
      }
    }
  }
}

// The rules that need facts decide on what the store read, with no store: what to ask
// for, and the error naming the request field.
TEST(FactsTest, AssignAsksForItsTargetsAndNamesTheUnknownOnes) {
  const AssignInput input{"RP-99", "M-99"};
  FactsWanted wanted = AssignFacts(input);
  EXPECT_EQ(wanted.repair_place_id, "RP-99");
  EXPECT_EQ(wanted.mechanic_id, "M-99");
  EXPECT_FALSE(wanted.repair_place_occupant);

  DefectFacts facts;  // neither exists
  absl::Status both = CheckAssignTargets(input, facts);
  EXPECT_EQ(both.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldsOf(both), UnorderedElementsAre("repair_place_id", "mechanic_id"));
  EXPECT_THAT(both.message(), HasSubstr("unknown repair place 'RP-99'"));
  EXPECT_THAT(both.message(), HasSubstr("unknown mechanic 'M-99'"));
  facts.repair_place_exists = true;
  EXPECT_THAT(FieldsOf(CheckAssignTargets(input, facts)), ElementsAre("mechanic_id"));
  facts.mechanic_exists = true;
  EXPECT_TRUE(CheckAssignTargets(input, facts).ok());
  facts.repair_place_exists = false;
  EXPECT_THAT(FieldsOf(CheckAssignTargets(input, facts)), ElementsAre("repair_place_id"));
}

TEST(FactsTest, StartRepairAsksForTheOccupantAndRefusesABusyPlace) {
  FactsWanted wanted = StartRepairFacts();
  EXPECT_TRUE(wanted.repair_place_occupant);
  EXPECT_EQ(wanted.repair_place_id, "");
  EXPECT_EQ(wanted.mechanic_id, "");

  Defect assigned = DefectIn(DefectStatus::kAssigned);  // at RP-03
  DefectFacts facts;
  EXPECT_TRUE(CheckRepairPlaceFree(assigned, facts).ok());
  facts.repair_place_occupant = 41;
  absl::Status busy = CheckRepairPlaceFree(assigned, facts);
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(busy.message(), "repair place RP-03 is busy: defect 41 is in repair there");
  runtime::ErrorInfoView info = runtime::ErrorInfoOf(busy);
  EXPECT_EQ(info.reason, "REPAIR_PLACE_BUSY");
  EXPECT_EQ(info.metadata["repair_place_id"], "RP-03");
  EXPECT_EQ(info.metadata["current_defect_id"], "41");
  EXPECT_EQ(info.metadata["defect_id"], "42");
  // Without an assignment there is no place to be busy (StartRepair refuses that).
  EXPECT_TRUE(CheckRepairPlaceFree(DefectIn(DefectStatus::kReported), facts).ok());
}

TEST(TransitionInputTest, Validation) {
  EXPECT_THAT(FieldsOf(ValidateAssign({"", ""})),
              UnorderedElementsAreArray(std::set<std::string>{"repair_place_id", "mechanic_id"}));
  EXPECT_TRUE(ValidateAssign({"RP-1", "M-1"}).ok());
  EXPECT_THAT(FieldsOf(ValidateFinish({"", 0})),
              UnorderedElementsAreArray(std::set<std::string>{"work_done", "labor_minutes"}));
  EXPECT_THAT(FieldsOf(ValidateFinish({"x", 1441})), ElementsAre("labor_minutes"));
  EXPECT_TRUE(ValidateFinish({"x", 1440}).ok());
  EXPECT_THAT(FieldsOf(ValidateVerify({QcDecision::kUnspecified, ""})), ElementsAre("decision"));
  EXPECT_THAT(FieldsOf(ValidateVerify({QcDecision::kReject, ""})), ElementsAre("reason"));
  EXPECT_TRUE(ValidateVerify({QcDecision::kAccept, ""}).ok());
  EXPECT_TRUE(ValidateVerify({QcDecision::kReject, "bubbles"}).ok());
  EXPECT_THAT(FieldsOf(ValidateCancel("")), ElementsAre("reason"));
  EXPECT_TRUE(ValidateCancel("duplicate").ok());
}

TEST(PhotoUploadTest, Validation) {
  PhotoUploadInput good{"17", "image/png", 1000, std::string(64, 'a'), "door.png"};
  EXPECT_TRUE(ValidatePhotoUpload(good, 1000).ok());
  PhotoUploadInput bad{"x", "image/gif", 1001, std::string(64, 'A'), "door.png"};
  EXPECT_THAT(
      FieldsOf(ValidatePhotoUpload(bad, 1000)),
      UnorderedElementsAreArray(std::set<std::string>{"metadata.defect_id", "metadata.content_type",
                                                      "metadata.size_bytes", "metadata.sha256"}));
  PhotoUploadInput empty{"1", "image/webp", 0, std::string(63, 'a'), ""};
  EXPECT_THAT(
      FieldsOf(ValidatePhotoUpload(empty, 1000)),
      UnorderedElementsAreArray(std::set<std::string>{"metadata.size_bytes", "metadata.sha256"}));
}

TEST(PhotoUploadTest, ADefectHoldsAtMostItsPhotoLimit) {
  Defect d;
  d.id = 7;
  d.photos.resize(kMaxPhotosPerDefect - 1);
  absl::StatusOr<Defect> added = AddPhoto(d, Photo{}, kNow);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->photos.size(), static_cast<size_t>(kMaxPhotosPerDefect));
  absl::Status full = CheckTakesPhoto(*added);
  EXPECT_EQ(full.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(runtime::ErrorInfoOf(full).metadata["defect_id"], "7");
  EXPECT_EQ(AddPhoto(*added, Photo{}, kNow).status().code(), absl::StatusCode::kFailedPrecondition);
}

// Outside testing (AD F9): a photo was added to a closed or cancelled defect, whose
// fields no edit can change any more.
TEST(PhotoUploadTest, AClosedOrCancelledDefectTakesNoNewPhoto) {
  for (DefectStatus frozen : {DefectStatus::kClosed, DefectStatus::kCancelled}) {
    const absl::Status refused = AddPhoto(DefectIn(frozen), Photo{}, kNow).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(refused.message()),
                HasSubstr("closed and cancelled defects take no new photo"));
  }
  for (DefectStatus open : {DefectStatus::kReported, DefectStatus::kInRepair,
                            DefectStatus::kRepaired, DefectStatus::kReopened}) {
    EXPECT_TRUE(AddPhoto(DefectIn(open), Photo{}, kNow).ok());
  }
}

TEST(PhotoUploadTest, TheBytesBeginWithTheSignatureOfTheDeclaredType) {
  EXPECT_TRUE(ValidatePhotoBytes("image/jpeg", "\xFF\xD8\xFF\xE0 JFIF").ok());
  EXPECT_TRUE(ValidatePhotoBytes("image/png", "\x89PNG\r\n\x1A\n IHDR").ok());
  EXPECT_TRUE(ValidatePhotoBytes("image/webp", std::string("RIFF\x24\0\0\0WEBPVP8 ", 16)).ok());
  // A PDF, a PNG declared as JPEG, a truncated RIFF, a WAV (RIFF but not WebP), nothing.
  EXPECT_THAT(FieldsOf(ValidatePhotoBytes("image/jpeg", "%PDF-1.7")), ElementsAre("chunk"));
  EXPECT_THAT(FieldsOf(ValidatePhotoBytes("image/jpeg", "\x89PNG\r\n\x1A\n")),
              ElementsAre("chunk"));
  EXPECT_THAT(FieldsOf(ValidatePhotoBytes("image/webp", std::string("RIFF\x24\0\0", 7))),
              ElementsAre("chunk"));
  EXPECT_THAT(FieldsOf(ValidatePhotoBytes("image/webp", std::string("RIFF\x24\0\0\0WAVE", 12))),
              ElementsAre("chunk"));
  EXPECT_THAT(FieldsOf(ValidatePhotoBytes("image/png", "")), ElementsAre("chunk"));
  EXPECT_THAT(ValidatePhotoBytes("image/png", "GIF89a").message(),
              HasSubstr("not image/png: they do not begin with its file signature"));
}

TEST(ResourceTest, Validation) {
  EXPECT_TRUE(ValidateRepairPlace({"RP-03", "Paint bay 3", "PAINT", false, ""}).ok());
  // state and current_defect_id are output only: the runtime refuses them on create.
  EXPECT_THAT(FieldsOf(ValidateRepairPlace({"", "", "", true, "5"})),
              UnorderedElementsAreArray(std::set<std::string>{
                  "repair_place.id", "repair_place.display_name", "repair_place.zone"}));
  EXPECT_THAT(FieldsOf(ValidateCrew({"", "", ""})),
              UnorderedElementsAreArray(
                  std::set<std::string>{"crew.id", "crew.display_name", "crew.zone"}));
  EXPECT_TRUE(ValidateMechanic({"M-107", "Ann Lee", "CREW-A", "spiffe://p/user/m107"}).ok());
  EXPECT_THAT(
      FieldsOf(ValidateMechanic({"", "", "", "m107"})),
      UnorderedElementsAreArray(std::set<std::string>{"mechanic.id", "mechanic.display_name",
                                                      "mechanic.crew_id", "mechanic.identity"}));
  // Outside testing: identities no certificate can carry (authentication refuses them)
  // were stored, so the mechanic could never start a repair.
  for (const char* unusable :
       {"spiffe://plantmesh.local/user/./mike", "spiffe://PLANTMESH.local/user/mike",
        "spiffe://plantmesh.local/user/mike/", "spiffe://plantmesh.local/user/mike?x=1",
        "spiffe://plantmesh.local"}) {
    EXPECT_THAT(FieldsOf(ValidateMechanic({"M-1", "Mike", "CREW-A", unusable})),
                ElementsAre("mechanic.identity"))
        << unusable;
  }
  // Another trust domain: no certificate this server accepts carries it.
  EXPECT_THAT(FieldsOf(ValidateMechanic({"M-1", "Mike", "CREW-A", "spiffe://evil.local/user/mike"},
                                        "plantmesh.local")),
              ElementsAre("mechanic.identity"));
  EXPECT_TRUE(ValidateMechanic({"M-1", "Mike", "CREW-A", "spiffe://plantmesh.local/user/mike"},
                               "plantmesh.local")
                  .ok());
  EXPECT_TRUE(ValidateMechanic({"M-1", "Mike", "CREW-A", "spiffe://plantmesh.local/device/tab-7"},
                               "plantmesh.local")
                  .ok());
  // Outside testing: a service's identity was taken for a mechanic.
  for (const char* workload :
       {"spiffe://plantmesh.local/service/telemetry", "spiffe://plantmesh.local/server/defect"}) {
    EXPECT_THAT(FieldsOf(ValidateMechanic({"M-1", "Mike", "CREW-A", workload}, "plantmesh.local")),
                ElementsAre("mechanic.identity"))
        << workload;
  }
  EXPECT_TRUE(ValidateCategory(PaintScratch()).ok());
  EXPECT_THAT(FieldsOf(ValidateCategory({"", "", Severity::kUnspecified})),
              UnorderedElementsAreArray(std::set<std::string>{"category.code", "category.title",
                                                              "category.default_severity"}));
}

TEST(DefectIdTest, Parse) {
  EXPECT_EQ(*ParseDefectId("17", "id"), 17);
  // The largest id there is (outside testing: it was "not a positive decimal").
  EXPECT_EQ(*ParseDefectId("9223372036854775807", "id"), INT64_MAX);
  // "01" is not another spelling of 1 (outside testing: it read defect 1).
  for (const char* bad : {"", "0", "-1", "1a", "01", "+1", " 1", "99999999999999999999"}) {
    EXPECT_THAT(FieldsOf(ParseDefectId(bad, "id").status()), ElementsAre("id")) << bad;
  }
}

TEST(WatchQueryTest, ChangesPerResponseIsZeroToAThousand) {
  EXPECT_EQ(*ChangesPerWatchResponse(0), 1);  // the default: one change per response
  EXPECT_EQ(*ChangesPerWatchResponse(1), 1);
  EXPECT_EQ(*ChangesPerWatchResponse(1000), 1000);
  for (int64_t bad : {int64_t{-1}, int64_t{1001}, int64_t{INT32_MIN}, int64_t{INT32_MAX}}) {
    absl::Status refused = ChangesPerWatchResponse(bad).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(FieldsOf(refused), ElementsAre("max_changes_per_response")) << bad;
  }
}

TEST(ListQueryTest, DefaultsAndLimits) {
  ListRequestInput in;
  absl::StatusOr<ListQuery> q = MakeListQuery(in);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->page_size, 100);
  EXPECT_EQ(q->order, ListOrder::kCreateTimeDesc);
  in.page_size = 1000;
  in.order_by = "  update_time   ASC ";
  EXPECT_EQ(MakeListQuery(in)->order, ListOrder::kUpdateTime);
  in.page_size = 1001;
  in.order_by = "vin desc";
  in.filter.statuses = {DefectStatus::kReported, static_cast<DefectStatus>(0)};
  in.filter.create_time_from = kNow;
  in.filter.create_time_to = kNow;
  EXPECT_THAT(FieldsOf(MakeListQuery(in).status()),
              UnorderedElementsAreArray(
                  std::set<std::string>{"page_size", "order_by", "statuses[1]", "create_time_to"}));
}

TEST(ListQueryTest, PageTokenRoundTripAndFilterMismatch) {
  ListRequestInput in;
  in.filter.zone = "PAINT";
  in.order_by = "update_time desc";
  ListQuery q = *MakeListQuery(in);
  Defect last = DefectIn(DefectStatus::kReported);
  last.update_time = TruncateToMicros(kNow);
  in.page_token = EncodePageToken(q, last);
  absl::StatusOr<ListQuery> next = MakeListQuery(in);
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->after.has_value());
  EXPECT_EQ(next->after->id, 42);
  EXPECT_EQ(next->after->sort_time, TruncateToMicros(kNow));

  ListRequestInput other = in;
  other.filter.zone = "ASSEMBLY";
  EXPECT_THAT(FieldsOf(MakeListQuery(other).status()), ElementsAre("page_token"));
  other = in;
  other.order_by = "create_time";
  EXPECT_THAT(FieldsOf(MakeListQuery(other).status()), ElementsAre("page_token"));
  other = in;
  other.page_token = "garbage!";
  EXPECT_THAT(FieldsOf(MakeListQuery(other).status()), ElementsAre("page_token"));
  other = in;
  other.page_size = 7;  // page size may change between pages
  EXPECT_TRUE(MakeListQuery(other).ok());
  // Outside testing (sweep 58): a bad order_by hid a text that is no token at all; a real
  // token is not judged against an order that is none.
  other.page_token = "junk";
  other.order_by = "severity";
  EXPECT_THAT(FieldsOf(MakeListQuery(other).status()), ElementsAre("order_by", "page_token"));
  other.page_token = in.page_token;
  EXPECT_THAT(FieldsOf(MakeListQuery(other).status()), ElementsAre("order_by"));
}

TEST(ListQueryTest, TimestampsOutsideTheProtobufRangeAreInvalidArguments) {
  ListRequestInput in;
  in.filter.create_time_from = absl::FromUnixSeconds(-62135596800);  // 0001-01-01
  in.filter.create_time_to = absl::FromUnixSeconds(253402300799) + absl::Nanoseconds(999999999);
  EXPECT_TRUE(MakeListQuery(in).ok()) << MakeListQuery(in).status();

  in.filter.create_time_from = absl::FromUnixSeconds(-62135596801);  // year 0
  in.filter.create_time_to = absl::FromUnixSeconds(253402300800);    // year 10000
  absl::Status status = MakeListQuery(in).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldsOf(status), UnorderedElementsAre("create_time_from", "create_time_to"));
  // An invalid Timestamp (bad nanos) arrives as InfiniteFuture.
  in.filter.create_time_from.reset();
  in.filter.create_time_to = absl::InfiniteFuture();
  EXPECT_THAT(FieldsOf(MakeListQuery(in).status()), ElementsAre("create_time_to"));
}

TEST(ListQueryTest, PageTokenWithOutOfRangeTimeIsInvalidArgument) {
  ListRequestInput in;
  ListQuery q = *MakeListQuery(in);
  Defect last = DefectIn(DefectStatus::kReported);
  last.create_time = TruncateToMicros(kNow);
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(EncodePageToken(q, last), &raw));
  std::vector<std::string> parts = absl::StrSplit(raw, '|');
  ASSERT_EQ(parts.size(), 4u);
  for (const char* micros : {"-9223372036854775807", "9223372036854775807", "253402300800000000"}) {
    parts[1] = micros;
    in.page_token = absl::WebSafeBase64Escape(absl::StrJoin(parts, "|"));
    absl::Status status = MakeListQuery(in).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << micros;
    EXPECT_THAT(FieldsOf(status), ElementsAre("page_token")) << micros;
  }
}

TEST(ListQueryTest, HugeClientValuesAreCutInMessages) {
  ListRequestInput in;
  in.order_by = std::string(1 << 20, 'z');
  absl::Status status = MakeListQuery(in).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(DescriptionOf(status, "order_by"), HasSubstr("(1048576 bytes)"));
  EXPECT_LT(status.message().size(), 400u) << status.message().size();
}

}  // namespace
}  // namespace plantmesh::defect
