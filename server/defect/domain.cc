#include "server/defect/domain.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/time_text.h"
#include "server/runtime/page_token.h"
#include "server/runtime/spiffe_id.h"
#include "server/runtime/text_rules.h"

namespace plantmesh::defect {
namespace {

using runtime::Violations;

// A client value quoted into an error message, cut when long.
std::string Quote(absl::string_view value) {
  return runtime::QuoteForMessage(std::string_view(value.data(), value.size()));
}

constexpr int kMaxPageSize = 1000;
constexpr int kDefaultPageSize = 100;
// The range of google.protobuf.Timestamp (0001-01-01T00:00:00Z ..
// 9999-12-31T23:59:59.999999999Z), well inside what PostgreSQL's timestamptz holds.
constexpr int64_t kEarliestUnixSeconds = -62135596800;
constexpr int64_t kLatestUnixSeconds = 253402300799;

bool InTimestampRange(absl::Time t) {
  return t >= absl::FromUnixSeconds(kEarliestUnixSeconds) &&
         t < absl::FromUnixSeconds(kLatestUnixSeconds + 1);
}

void CheckTimestamp(Violations& v, const std::string& field, const std::optional<absl::Time>& t) {
  if (t && !InTimestampRange(*t)) {
    v.Add(field,
          "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z, "
          "with nanos 0-999999999");
  }
}

// Which characters a text or code may hold, and how long it may be, is the contract's
// rule (plantmesh.api.v1.text), checked for every request before a handler runs; the
// domain says which fields a call needs.
void CheckRequired(Violations& v, const std::string& field, absl::string_view value) {
  runtime::RequireText(v, field, std::string_view(value.data(), value.size()));
}

bool KnownSeverity(Severity s) {
  int n = static_cast<int>(s);
  return n >= 1 && n <= 3;
}

std::string FormatOptionalTime(const std::optional<absl::Time>& t) {
  return t ? Rfc3339Utc(*t) : std::string();
}

// One defect field of a report or update: validates `input`'s value under "defect.".
void CheckDefectField(Violations& v, absl::string_view path, const NewDefectInput& input,
                      const std::optional<DefectCategory>& category) {
  std::string field = absl::StrCat("defect.", path);
  if (path == "vin") {
    CheckRequired(v, field, input.vin);
  } else if (path == "model") {
    CheckRequired(v, field, input.model);
  } else if (path == "zone") {
    CheckRequired(v, field, input.zone);
  } else if (path == "station") {
    CheckRequired(v, field, input.station);
  } else if (path == "category_code") {
    if (input.category_code.empty()) {
      v.Add(field, "required");
    } else if (!category.has_value()) {
      v.Add(field, absl::StrCat("unknown category ", Quote(input.category_code)));
    }
  } else if (path == "severity") {
    if (input.severity != Severity::kUnspecified && !KnownSeverity(input.severity)) {
      v.Add(field, absl::StrCat("unknown severity ", static_cast<int>(input.severity)));
    }
  } else if (path == "shift") {
    CheckRequired(v, field, input.shift);
  }  // description and detected_by are optional
}

absl::Status IllegalTransition(DefectStatus from, Transition transition) {
  absl::Status status = absl::FailedPreconditionError(absl::StrCat(
      TransitionName(transition), " is not allowed while the defect is ", StatusName(from)));
  return runtime::WithErrorInfo(std::move(status), "ILLEGAL_TRANSITION",
                                {{"current_status", std::string(StatusName(from))},
                                 {"transition", std::string(TransitionName(transition))}});
}

// The list request's filter and order, for its page tokens (runtime/page_token.h).
std::string FilterFingerprintOf(const ListQuery& query) {
  std::vector<int> statuses;
  for (DefectStatus s : query.filter.statuses) statuses.push_back(static_cast<int>(s));
  std::sort(statuses.begin(), statuses.end());
  statuses.erase(std::unique(statuses.begin(), statuses.end()), statuses.end());
  return runtime::FilterFingerprint()
      .AddRaw(absl::StrCat(static_cast<int>(query.order)))
      .AddRaw(absl::StrJoin(statuses, ","))
      .AddText(query.filter.zone)
      .AddText(query.filter.vin)
      .AddText(query.filter.shift)
      .AddTime(query.filter.create_time_from)
      .AddTime(query.filter.create_time_to)
      .Hex();
}

absl::StatusOr<ListOrder> ParseOrderBy(absl::string_view order_by) {
  std::vector<std::string> words =
      absl::StrSplit(absl::AsciiStrToLower(order_by), ' ', absl::SkipEmpty());
  if (words.empty()) return ListOrder::kCreateTimeDesc;
  if (words.size() <= 2) {
    bool desc = false;
    bool direction_ok = true;
    if (words.size() == 2) {
      desc = words[1] == "desc";
      direction_ok = desc || words[1] == "asc";
    }
    if (direction_ok && words[0] == "create_time") {
      return desc ? ListOrder::kCreateTimeDesc : ListOrder::kCreateTime;
    }
    if (direction_ok && words[0] == "update_time") {
      return desc ? ListOrder::kUpdateTimeDesc : ListOrder::kUpdateTime;
    }
  }
  return absl::InvalidArgumentError("bad order_by");
}

absl::Time SortTimeOf(ListOrder order, const Defect& d) {
  return order == ListOrder::kCreateTime || order == ListOrder::kCreateTimeDesc ? d.create_time
                                                                                : d.update_time;
}

}  // namespace

absl::string_view StatusName(DefectStatus status) {
  switch (status) {
    case DefectStatus::kUnspecified:
      return "UNSPECIFIED";
    case DefectStatus::kReported:
      return "REPORTED";
    case DefectStatus::kAssigned:
      return "ASSIGNED";
    case DefectStatus::kInRepair:
      return "IN_REPAIR";
    case DefectStatus::kRepaired:
      return "REPAIRED";
    case DefectStatus::kClosed:
      return "CLOSED";
    case DefectStatus::kReopened:
      return "REOPENED";
    case DefectStatus::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

absl::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kUnspecified:
      return "";
    case Severity::kMinor:
      return "MINOR";
    case Severity::kMajor:
      return "MAJOR";
    case Severity::kCritical:
      return "CRITICAL";
  }
  return "UNKNOWN";
}

absl::string_view TransitionName(Transition transition) {
  switch (transition) {
    case Transition::kAssign:
      return "AssignDefect";
    case Transition::kStartRepair:
      return "StartRepair";
    case Transition::kFinishRepair:
      return "FinishRepair";
    case Transition::kAccept:
      return "VerifyRepair(ACCEPT)";
    case Transition::kReject:
      return "VerifyRepair(REJECT)";
    case Transition::kCancel:
      return "CancelDefect";
  }
  return "Unknown";
}

absl::string_view ChangeMethodName(ChangeType type) {
  switch (type) {
    case ChangeType::kUnspecified:
      break;
    case ChangeType::kReported:
      return "CreateDefect";
    case ChangeType::kUpdated:
      return "UpdateDefect";
    case ChangeType::kAssigned:
      return "AssignDefect";
    case ChangeType::kRepairStarted:
      return "StartRepair";
    case ChangeType::kRepairFinished:
      return "FinishRepair";
    case ChangeType::kRepairAccepted:
    case ChangeType::kRepairRejected:
      return "VerifyRepair";
    case ChangeType::kCancelled:
      return "CancelDefect";
    case ChangeType::kPhotoAdded:
      return "UploadDefectPhoto";
  }
  return "Unknown";
}

absl::Time TruncateToMicros(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

std::string EtagOf(int64_t version) { return kDefectEtag.Of(version); }

absl::Status CheckEtag(const Defect& current, absl::string_view given, bool required) {
  // Named as every refusal of one defect's change is (re-test: only in `resource`'s text).
  return runtime::WithErrorMetadata(kDefectEtag.Check("etag", absl::StrCat("defect ", current.id),
                                                      current.version, given, required),
                                    "defect_id", absl::StrCat(current.id));
}

absl::StatusOr<DefectStatus> NextStatus(DefectStatus from, Transition transition) {
  switch (transition) {
    case Transition::kAssign:
      if (from == DefectStatus::kReported || from == DefectStatus::kAssigned ||
          from == DefectStatus::kReopened) {
        return DefectStatus::kAssigned;
      }
      break;
    case Transition::kStartRepair:
      if (from == DefectStatus::kAssigned || from == DefectStatus::kReopened) {
        return DefectStatus::kInRepair;
      }
      break;
    case Transition::kFinishRepair:
      if (from == DefectStatus::kInRepair) return DefectStatus::kRepaired;
      break;
    case Transition::kAccept:
      if (from == DefectStatus::kRepaired) return DefectStatus::kClosed;
      break;
    case Transition::kReject:
      if (from == DefectStatus::kRepaired) return DefectStatus::kReopened;
      break;
    case Transition::kCancel:
      // Open defects only: once repaired the decision belongs to QC.
      if (from == DefectStatus::kReported || from == DefectStatus::kAssigned ||
          from == DefectStatus::kInRepair || from == DefectStatus::kReopened) {
        return DefectStatus::kCancelled;
      }
      break;
  }
  return IllegalTransition(from, transition);
}

namespace {

// NextStatus for one defect, its refusal naming the defect (NextStatus knows only statuses).
absl::StatusOr<DefectStatus> NextStatusOf(const Defect& current, Transition transition) {
  absl::StatusOr<DefectStatus> next = NextStatus(current.status, transition);
  if (next.ok()) return next;
  return runtime::WithErrorMetadata(next.status(), "defect_id", absl::StrCat(current.id));
}

}  // namespace

bool IsPlantCode(absl::string_view code) {
  return runtime::IsCode(std::string_view(code.data(), code.size()));
}

absl::StatusOr<Defect> NewDefect(const NewDefectInput& input,
                                 const std::optional<DefectCategory>& category,
                                 absl::string_view actor, absl::Time now) {
  Violations v;
  for (absl::string_view path : {"vin", "model", "zone", "station", "category_code", "severity",
                                 "description", "detected_by", "shift"}) {
    CheckDefectField(v, path, input, category);
  }
  PM_RETURN_IF_ERROR(v.ToStatus());
  Defect d;
  d.vin = input.vin;
  d.model = input.model;
  d.zone = input.zone;
  d.station = input.station;
  d.category_code = input.category_code;
  d.severity =
      input.severity == Severity::kUnspecified ? category->default_severity : input.severity;
  d.description = input.description;
  d.detected_by = input.detected_by;
  d.shift = input.shift;
  d.status = DefectStatus::kReported;
  d.reported_by = std::string(actor);
  d.create_time = TruncateToMicros(now);
  d.update_time = d.create_time;
  d.version = 1;
  return d;
}

const std::vector<absl::string_view>& UpdatablePaths() {
  static const auto* paths = new std::vector<absl::string_view>{
      "vin",      "model",       "zone",        "station", "category_code",
      "severity", "description", "detected_by", "shift"};
  return *paths;
}

absl::Status ValidateUpdate(const NewDefectInput& input, const std::vector<std::string>& paths,
                            absl::string_view etag, const std::optional<DefectCategory>& category) {
  Violations v;
  const auto& allowed = UpdatablePaths();
  runtime::CheckUpdatePaths(v, paths, allowed);
  for (const std::string& path : paths) {
    if (std::find(allowed.begin(), allowed.end(), path) == allowed.end()) continue;
    if (path == "severity" && input.severity == Severity::kUnspecified) {
      // Named but not set: refused like an emptied model (outside testing: it was
      // silently kept, the call answered OK).
      v.Add("defect.severity", "required: update_mask names it (MINOR, MAJOR or CRITICAL)");
    } else {
      CheckDefectField(v, path, input, category);
    }
  }
  kDefectEtag.CheckForm(v, "etag", etag, /*required=*/true);
  return v.ToStatus();
}

namespace {

// FAILED_PRECONDITION DEFECT_FROZEN for a CLOSED or CANCELLED defect.
absl::Status CheckNotFrozen(const Defect& current, absl::string_view what_they_cannot) {
  if (current.status != DefectStatus::kClosed && current.status != DefectStatus::kCancelled) {
    return absl::OkStatus();
  }
  return runtime::WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                                    "defect ", current.id, " is ", StatusName(current.status),
                                    "; closed and cancelled defects ", what_they_cannot)),
                                "DEFECT_FROZEN",
                                {{"current_status", std::string(StatusName(current.status))},
                                 {"defect_id", absl::StrCat(current.id)}});
}

}  // namespace

absl::StatusOr<Defect> ApplyUpdate(const Defect& current, const NewDefectInput& input,
                                   const std::vector<std::string>& paths, absl::Time now) {
  PM_RETURN_IF_ERROR(CheckNotFrozen(current, "cannot be edited"));
  Defect d = current;
  for (const std::string& path : paths) {
    if (path == "vin") d.vin = input.vin;
    if (path == "model") d.model = input.model;
    if (path == "zone") d.zone = input.zone;
    if (path == "station") d.station = input.station;
    if (path == "category_code") d.category_code = input.category_code;
    // ValidateUpdate refuses an unspecified severity: a defect always has one.
    if (path == "severity" && input.severity != Severity::kUnspecified) d.severity = input.severity;
    if (path == "description") d.description = input.description;
    if (path == "detected_by") d.detected_by = input.detected_by;
    if (path == "shift") d.shift = input.shift;
  }
  d.update_time = TruncateToMicros(now);
  return d;
}

absl::Status ValidateAssign(const AssignInput& input) {
  Violations v;
  CheckRequired(v, "repair_place_id", input.repair_place_id);
  CheckRequired(v, "mechanic_id", input.mechanic_id);
  return v.ToStatus();
}

FactsWanted AssignFacts(const AssignInput& input) {
  FactsWanted wanted;
  wanted.repair_place_id = input.repair_place_id;
  wanted.mechanic_id = input.mechanic_id;
  return wanted;
}

FactsWanted StartRepairFacts() {
  FactsWanted wanted;
  wanted.repair_place_occupant = true;
  return wanted;
}

absl::StatusOr<Defect> Assign(const Defect& current, const AssignInput& input,
                              absl::string_view actor, absl::Time now) {
  PM_ASSIGN_OR_RETURN(DefectStatus next, NextStatusOf(current, Transition::kAssign));
  // The place and mechanic it has: nothing changes (outside testing: the same assignment
  // sent again wrote a history entry and moved assign_time, as if assigned anew).
  if (current.status == DefectStatus::kAssigned && current.assignment &&
      current.assignment->repair_place_id == input.repair_place_id &&
      current.assignment->mechanic_id == input.mechanic_id) {
    return current;
  }
  Defect d = current;
  d.status = next;
  d.assignment = Assignment{input.repair_place_id, input.mechanic_id, std::string(actor),
                            TruncateToMicros(now)};
  d.update_time = TruncateToMicros(now);
  return d;
}

absl::Status CheckAssignTargets(const AssignInput& input, const DefectFacts& facts) {
  Violations v;
  if (!facts.repair_place_exists) {
    v.Add("repair_place_id", absl::StrCat("unknown repair place ", Quote(input.repair_place_id)));
  }
  if (!facts.mechanic_exists) {
    v.Add("mechanic_id", absl::StrCat("unknown mechanic ", Quote(input.mechanic_id)));
  }
  return v.ToStatus();
}

absl::Status CheckRepairPlaceFree(const Defect& current, const DefectFacts& facts) {
  if (!current.assignment || !facts.repair_place_occupant) return absl::OkStatus();
  const std::string& place = current.assignment->repair_place_id;
  const std::string other = absl::StrCat(*facts.repair_place_occupant);
  return runtime::WithErrorInfo(
      absl::FailedPreconditionError(
          absl::StrCat("repair place ", place, " is busy: defect ", other, " is in repair there")),
      "REPAIR_PLACE_BUSY",
      {{"repair_place_id", place},
       {"current_defect_id", other},
       {"defect_id", absl::StrCat(current.id)}});
}

absl::StatusOr<Defect> StartRepair(const Defect& current, absl::string_view actor, absl::Time now) {
  PM_ASSIGN_OR_RETURN(DefectStatus next, NextStatusOf(current, Transition::kStartRepair));
  if (!current.assignment.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("defect ", current.id, " has no repair place assigned"));
  }
  Defect d = current;
  d.status = next;
  Repair repair;
  repair.started_by = std::string(actor);
  repair.start_time = TruncateToMicros(now);
  d.repair = std::move(repair);
  d.update_time = TruncateToMicros(now);
  return d;
}

absl::StatusOr<std::string> CheckRepairWorker(const Defect& current, Transition transition,
                                              const Caller& caller,
                                              absl::string_view assigned_identity) {
  const std::string mechanic_id =
      current.assignment ? current.assignment->mechanic_id : std::string();
  if (!assigned_identity.empty() && caller.identity == assigned_identity) return std::string();
  for (const char* role : kRepairOverrideRoles) {
    if (std::find(caller.roles.begin(), caller.roles.end(), role) != caller.roles.end()) {
      return absl::StrCat("override: ", TransitionName(transition), " by ", role, " ",
                          caller.identity, " for mechanic ", mechanic_id, " (",
                          assigned_identity.empty() ? "no identity" : assigned_identity, ")");
    }
  }
  std::string reason =
      assigned_identity.empty()
          ? absl::StrCat("mechanic ", mechanic_id, " has no identity, so only a foreman or admin")
          : absl::StrCat("only mechanic ", mechanic_id, " (", assigned_identity,
                         ") or a foreman or admin");
  return runtime::WithErrorInfo(
      absl::PermissionDeniedError(
          absl::StrCat("defect ", current.id, " is assigned to mechanic ", mechanic_id, ": ",
                       reason, " may ", TransitionName(transition), ", not ", caller.identity)),
      "NOT_ASSIGNED_MECHANIC",
      {{"mechanic_id", mechanic_id},
       {"assigned_identity", std::string(assigned_identity)},
       {"defect_id", absl::StrCat(current.id)}});
}

absl::Status ValidateFinish(const FinishInput& input) {
  Violations v;
  CheckRequired(v, "work_done", input.work_done);
  if (input.labor_minutes < 1 || input.labor_minutes > 1440) {
    v.Add("labor_minutes", absl::StrCat("must be 1-1440 (got ", input.labor_minutes, ")"));
  }
  return v.ToStatus();
}

absl::StatusOr<Defect> FinishRepair(const Defect& current, const FinishInput& input,
                                    absl::string_view actor, absl::Time now) {
  PM_ASSIGN_OR_RETURN(DefectStatus next, NextStatusOf(current, Transition::kFinishRepair));
  Defect d = current;
  d.status = next;
  Repair repair = current.repair.value_or(Repair{});
  repair.finished_by = std::string(actor);
  repair.finish_time = TruncateToMicros(now);
  repair.work_done = input.work_done;
  repair.labor_minutes = input.labor_minutes;
  d.repair = std::move(repair);
  d.update_time = TruncateToMicros(now);
  return d;
}

absl::Status ValidateVerify(const VerifyInput& input) {
  Violations v;
  if (input.decision != QcDecision::kAccept && input.decision != QcDecision::kReject) {
    v.Add("decision", "required: ACCEPT or REJECT");
  }
  if (input.decision == QcDecision::kReject) CheckRequired(v, "reason", input.reason);
  return v.ToStatus();
}

absl::StatusOr<Defect> VerifyRepair(const Defect& current, const VerifyInput& input,
                                    absl::string_view actor, absl::string_view assigned_identity,
                                    absl::Time now) {
  Transition transition =
      input.decision == QcDecision::kAccept ? Transition::kAccept : Transition::kReject;
  PM_ASSIGN_OR_RETURN(DefectStatus next, NextStatusOf(current, transition));
  const std::string finished_by = current.repair ? current.repair->finished_by : std::string();
  const std::string started_by = current.repair ? current.repair->started_by : std::string();
  // Outside testing: a mechanic whose repair a foreman finished by override (so the
  // foreman is finished_by) accepted it himself, holding the QC role too.
  // Every part the caller had, in words and as the ErrorInfo's `conflict` (outside
  // testing: the metadata named finished_by whichever rule the caller broke, and a caller
  // with several parts was told one).
  std::vector<std::string> did, conflict;
  if (!assigned_identity.empty() && assigned_identity == actor) {
    did.push_back("is the assigned mechanic");
    conflict.push_back("assigned_mechanic");
  }
  if (!started_by.empty() && started_by == actor) {
    did.push_back("started the repair");
    conflict.push_back("started_by");
  }
  if (!finished_by.empty() && finished_by == actor) {
    did.push_back("finished the repair");
    conflict.push_back("finished_by");
  }
  if (!did.empty()) {
    return runtime::WithErrorInfo(
        absl::PermissionDeniedError(
            absl::StrCat("four eyes: ", actor, " ", absl::StrJoin(did, " and "), " of defect ",
                         current.id, " and cannot verify it; another QC engineer must")),
        "FOUR_EYES_REQUIRED",
        {{"defect_id", absl::StrCat(current.id)},
         {"identity", std::string(actor)},
         {"conflict", absl::StrJoin(conflict, ",")},
         {"assigned_mechanic", std::string(assigned_identity)},
         {"started_by", started_by},
         {"finished_by", finished_by}});
  }
  Defect d = current;
  d.status = next;
  Verification verification;
  verification.verified_by = std::string(actor);
  verification.verify_time = TruncateToMicros(now);
  verification.accepted = input.decision == QcDecision::kAccept;
  if (!verification.accepted) verification.rejection_reason = input.reason;
  d.verification = std::move(verification);
  if (next == DefectStatus::kClosed) d.close_time = TruncateToMicros(now);
  d.update_time = TruncateToMicros(now);
  return d;
}

absl::Status ValidateCancel(absl::string_view reason) {
  Violations v;
  CheckRequired(v, "reason", reason);
  return v.ToStatus();
}

absl::StatusOr<Defect> Cancel(const Defect& current, absl::string_view reason,
                              absl::string_view actor, absl::Time now) {
  PM_ASSIGN_OR_RETURN(DefectStatus next, NextStatusOf(current, Transition::kCancel));
  Defect d = current;
  d.status = next;
  d.cancel_reason = std::string(reason);
  d.close_time = TruncateToMicros(now);
  d.update_time = TruncateToMicros(now);
  return d;
}

absl::Status CheckTakesPhoto(const Defect& current) {
  // Its record is final as its fields are (outside testing, AD F9: photos were added to
  // closed and cancelled defects that no edit could change).
  PM_RETURN_IF_ERROR(CheckNotFrozen(current, "take no new photo"));
  if (current.photos.size() < static_cast<size_t>(kMaxPhotosPerDefect)) return absl::OkStatus();
  return runtime::WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat("defect ", current.id, " holds ",
                                                 current.photos.size(),
                                                 " photos, the most a defect holds")),
      "PHOTO_LIMIT_REACHED",
      {{"max_photos", absl::StrCat(kMaxPhotosPerDefect)}, {"defect_id", absl::StrCat(current.id)}});
}

absl::StatusOr<Defect> AddPhoto(const Defect& current, const Photo& photo, absl::Time now) {
  PM_RETURN_IF_ERROR(CheckTakesPhoto(current));
  Defect d = current;
  d.photos.push_back(photo);
  d.update_time = TruncateToMicros(now);
  return d;
}

absl::Status ValidatePhotoUpload(const PhotoUploadInput& input, int64_t max_bytes) {
  Violations v;
  if (input.defect_id.empty()) {
    v.Add("metadata.defect_id", "required");
  } else if (!ParseDefectId(input.defect_id, "metadata.defect_id").ok()) {
    v.Add("metadata.defect_id", absl::StrCat(Quote(input.defect_id), " is not a defect id"));
  }
  if (input.content_type != "image/jpeg" && input.content_type != "image/png" &&
      input.content_type != "image/webp") {
    v.Add("metadata.content_type",
          absl::StrCat(Quote(input.content_type),
                       " is not one of image/jpeg, image/png, image/webp"));
  }
  if (input.size_bytes <= 0 || input.size_bytes > max_bytes) {
    v.Add("metadata.size_bytes",
          absl::StrCat("must be 1-", max_bytes, " bytes (got ", input.size_bytes, ")"));
  }
  bool hex = input.sha256.size() == 64 &&
             std::all_of(input.sha256.begin(), input.sha256.end(),
                         [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  if (!hex) v.Add("metadata.sha256", "must be 64 lowercase hex characters");
  return v.ToStatus();
}

absl::Status ValidatePhotoBytes(absl::string_view content_type, absl::string_view bytes) {
  const bool signed_as_declared =
      content_type == "image/jpeg"  ? absl::StartsWith(bytes, "\xFF\xD8\xFF")
      : content_type == "image/png" ? absl::StartsWith(bytes, "\x89PNG\r\n\x1A\n")
      : content_type == "image/webp"
          ? bytes.size() >= 12 && absl::StartsWith(bytes, "RIFF") && bytes.substr(8, 4) == "WEBP"
          : false;
  if (signed_as_declared) return absl::OkStatus();
  return runtime::InvalidField("chunk",
                               absl::StrCat("the bytes are not ", content_type,
                                            ": they do not begin with its file signature"));
}

absl::Status ValidateRepairPlace(const RepairPlace& place) {
  Violations v;
  CheckRequired(v, "repair_place.id", place.id);
  CheckRequired(v, "repair_place.display_name", place.display_name);
  CheckRequired(v, "repair_place.zone", place.zone);
  return v.ToStatus();
}

absl::Status ValidateCrew(const Crew& crew) {
  Violations v;
  CheckRequired(v, "crew.id", crew.id);
  CheckRequired(v, "crew.display_name", crew.display_name);
  CheckRequired(v, "crew.zone", crew.zone);
  return v.ToStatus();
}

absl::Status ValidateMechanic(const Mechanic& mechanic, std::string_view trust_domain) {
  Violations v;
  CheckRequired(v, "mechanic.id", mechanic.id);
  CheckRequired(v, "mechanic.display_name", mechanic.display_name);
  CheckRequired(v, "mechanic.crew_id", mechanic.crew_id);
  // As authentication reads a client certificate's identity (outside testing: "./",
  // an upper-case trust domain, a trailing '/' and the trust domain alone were stored,
  // identities no caller can have, so nobody could start that mechanic's repairs).
  if (!mechanic.identity.empty()) {
    if (absl::StatusOr<runtime::SpiffeId> id = runtime::ParseCallerIdentity(mechanic.identity);
        !id.ok()) {
      v.Add("mechanic.identity", std::string(id.status().message()));
    } else if (!trust_domain.empty() && id->trust_domain != trust_domain) {
      // Outside testing: spiffe://evil.local/... was stored, an identity this server never
      // authenticates.
      v.Add("mechanic.identity", absl::StrCat("not in the trust domain ", std::string(trust_domain),
                                              ", the only one this server authenticates"));
    } else if (absl::StartsWith(id->path, "/service/") || absl::StartsWith(id->path, "/server/")) {
      // Outside testing: a service's identity was taken for a mechanic, who then was a
      // PlantMesh workload (plantctl pki issue --kind service|server).
      v.Add("mechanic.identity",
            "a PlantMesh workload's identity (/service/..., /server/...), not a person's: a "
            "mechanic is a user (/user/NAME) or their tablet (/device/NAME)");
    }
  }
  return v.ToStatus();
}

absl::Status CheckMechanicFacts(const Mechanic& mechanic, const MechanicFacts& facts) {
  if (!facts.identity_holder.empty() && facts.identity_holder != mechanic.id) {
    return runtime::WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                                      "mechanic.identity: ", mechanic.identity, " is mechanic ",
                                      facts.identity_holder, "'s: one identity is one mechanic")),
                                  "IDENTITY_TAKEN", {{"mechanic_id", facts.identity_holder}});
  }
  if (facts.crew_exists) return absl::OkStatus();
  return runtime::InvalidField(
      "mechanic.crew_id",
      absl::StrCat("unknown crew ", runtime::QuoteForMessage(mechanic.crew_id)));
}

absl::Status ValidateCategory(const DefectCategory& category) {
  Violations v;
  CheckRequired(v, "category.code", category.code);
  CheckRequired(v, "category.title", category.title);
  if (!KnownSeverity(category.default_severity)) {
    v.Add("category.default_severity", "required: MINOR, MAJOR or CRITICAL");
  }
  return v.ToStatus();
}

std::vector<FieldChange> Diff(const Defect& before, const Defect& after) {
  std::vector<FieldChange> out;
  auto add = [&out](std::string field, std::string old_value, std::string new_value) {
    if (old_value != new_value) {
      out.push_back({std::move(field), std::move(old_value), std::move(new_value)});
    }
  };
  add("vin", before.vin, after.vin);
  add("model", before.model, after.model);
  add("zone", before.zone, after.zone);
  add("station", before.station, after.station);
  add("category_code", before.category_code, after.category_code);
  add("severity", std::string(SeverityName(before.severity)),
      std::string(SeverityName(after.severity)));
  add("description", before.description, after.description);
  add("detected_by", before.detected_by, after.detected_by);
  add("shift", before.shift, after.shift);
  add("status",
      before.status == DefectStatus::kUnspecified ? "" : std::string(StatusName(before.status)),
      std::string(StatusName(after.status)));
  const Assignment no_assignment;
  const Assignment& ab = before.assignment ? *before.assignment : no_assignment;
  const Assignment& aa = after.assignment ? *after.assignment : no_assignment;
  add("assignment.repair_place_id", ab.repair_place_id, aa.repair_place_id);
  add("assignment.mechanic_id", ab.mechanic_id, aa.mechanic_id);
  add("assignment.assigned_by", ab.assigned_by, aa.assigned_by);
  add("assignment.assign_time", before.assignment ? Rfc3339Utc(ab.assign_time) : "",
      after.assignment ? Rfc3339Utc(aa.assign_time) : "");
  const Repair no_repair;
  const Repair& rb = before.repair ? *before.repair : no_repair;
  const Repair& ra = after.repair ? *after.repair : no_repair;
  add("repair.started_by", rb.started_by, ra.started_by);
  add("repair.start_time", before.repair ? Rfc3339Utc(rb.start_time) : "",
      after.repair ? Rfc3339Utc(ra.start_time) : "");
  add("repair.finished_by", rb.finished_by, ra.finished_by);
  add("repair.finish_time", FormatOptionalTime(rb.finish_time), FormatOptionalTime(ra.finish_time));
  add("repair.work_done", rb.work_done, ra.work_done);
  add("repair.labor_minutes", rb.labor_minutes ? absl::StrCat(rb.labor_minutes) : "",
      ra.labor_minutes ? absl::StrCat(ra.labor_minutes) : "");
  const Verification no_verification;
  const Verification& vb = before.verification ? *before.verification : no_verification;
  const Verification& va = after.verification ? *after.verification : no_verification;
  add("verification.verified_by", vb.verified_by, va.verified_by);
  add("verification.verify_time", before.verification ? Rfc3339Utc(vb.verify_time) : "",
      after.verification ? Rfc3339Utc(va.verify_time) : "");
  add("verification.accepted", before.verification ? (vb.accepted ? "true" : "false") : "",
      after.verification ? (va.accepted ? "true" : "false") : "");
  add("verification.rejection_reason", vb.rejection_reason, va.rejection_reason);
  add("cancel_reason", before.cancel_reason, after.cancel_reason);
  add("close_time", FormatOptionalTime(before.close_time), FormatOptionalTime(after.close_time));
  for (size_t i = before.photos.size(); i < after.photos.size(); ++i) {
    const Photo& p = after.photos[i];
    out.push_back({"photos", "",
                   absl::StrCat(p.id, " ", p.file_name, " (", p.content_type, ", ", p.size_bytes,
                                " bytes)")});
  }
  return out;
}

namespace {

// A resource number by runtime::ParseDecimalId's rule; INVALID_ARGUMENT naming `field`,
// "'x' is not a <kind> id (...)", otherwise.
absl::StatusOr<int64_t> ParseIdOf(absl::string_view text, absl::string_view field,
                                  absl::string_view kind) {
  const std::optional<int64_t> id =
      runtime::ParseDecimalId(std::string_view(text.data(), text.size()));
  if (!id) {
    return runtime::InvalidField(
        std::string(field),
        absl::StrCat(Quote(text), " is not a ", kind, " id (", runtime::kDecimalIdRule, ")"));
  }
  return *id;
}

}  // namespace

absl::StatusOr<int64_t> ParseDefectId(absl::string_view text, absl::string_view field) {
  return ParseIdOf(text, field, "defect");
}

absl::StatusOr<int64_t> ParsePhotoId(absl::string_view text) {
  return ParseIdOf(text, "photo_id", "photo");
}

absl::StatusOr<int> ChangesPerWatchResponse(int64_t requested) {
  if (requested < 0 || requested > kMaxChangesPerWatchResponse) {
    return runtime::InvalidField(
        "max_changes_per_response",
        absl::StrCat("must be 0-", kMaxChangesPerWatchResponse, " (got ", requested, ")"));
  }
  return std::max<int>(static_cast<int>(requested), 1);
}

absl::StatusOr<ListQuery> MakeListQuery(const ListRequestInput& input) {
  Violations v;
  ListQuery query;
  query.filter = input.filter;
  for (size_t i = 0; i < input.filter.statuses.size(); ++i) {
    int n = static_cast<int>(input.filter.statuses[i]);
    // (0, UNSPECIFIED, is refused before, as every service's: request_rules.h.)
    if (n < 1 || n > 7) {
      v.Add(absl::StrCat("statuses[", i, "]"), absl::StrCat("unknown status ", n));
    }
  }
  query.page_size = runtime::PageSizeOr(v, input.page_size, kDefaultPageSize, kMaxPageSize);
  absl::StatusOr<ListOrder> order = ParseOrderBy(input.order_by);
  if (!order.ok()) {
    v.Add("order_by", absl::StrCat(Quote(input.order_by),
                                   " is not one of: create_time desc, create_time, "
                                   "update_time desc, update_time"));
  } else {
    query.order = *order;
  }
  CheckTimestamp(v, "create_time_from", query.filter.create_time_from);
  CheckTimestamp(v, "create_time_to", query.filter.create_time_to);
  if (query.filter.create_time_from && query.filter.create_time_to &&
      *query.filter.create_time_from >= *query.filter.create_time_to) {
    v.Add("create_time_to", "must be after create_time_from");
  }
  if (!input.page_token.empty()) {
    std::optional<runtime::PageCursor> after = runtime::DecodePageToken(
        input.page_token, order.ok() ? FilterFingerprintOf(query) : std::string(), "ListDefects",
        v);
    if (after) query.after = *after;
  }
  PM_RETURN_IF_ERROR(v.ToStatus());
  return query;
}

std::string EncodePageToken(const ListQuery& query, const Defect& last) {
  return runtime::EncodePageToken({SortTimeOf(query.order, last), last.id},
                                  FilterFingerprintOf(query), "ListDefects");
}

absl::Status DefectNotFound(int64_t id) {
  return runtime::WithErrorInfo(absl::NotFoundError(absl::StrCat("defect ", id, " not found")),
                                "DEFECT_NOT_FOUND", {{"defect_id", absl::StrCat(id)}});
}

absl::Status PhotoNotFound(int64_t defect_id, const std::string& photo_id) {
  return runtime::WithErrorInfo(
      absl::NotFoundError(absl::StrCat("photo ", runtime::QuoteForMessage(photo_id), " of defect ",
                                       defect_id, " not found")),
      "PHOTO_NOT_FOUND", {{"defect_id", absl::StrCat(defect_id)}, {"photo_id", photo_id}});
}

}  // namespace plantmesh::defect
