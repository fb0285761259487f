// The rules of defect and repair tracking, free of gRPC, protobuf and SQL: the status
// state machine, the four-eyes rule of QC, validation of inputs, the etag rule and the
// field diffs recorded in history. Time is always passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/runtime/errors.h"
#include "server/runtime/etag.h"
#include "server/runtime/page_token.h"

namespace plantmesh::defect {

// Numbers match plantmesh.defect.v1.DefectStatus (stored as such).
enum class DefectStatus : int {
  kUnspecified = 0,
  kReported = 1,
  kAssigned = 2,
  kInRepair = 3,
  kRepaired = 4,
  kClosed = 5,
  kReopened = 6,
  kCancelled = 7,
};
inline constexpr DefectStatus kAllStatuses[] = {DefectStatus::kReported, DefectStatus::kAssigned,
                                                DefectStatus::kInRepair, DefectStatus::kRepaired,
                                                DefectStatus::kClosed,   DefectStatus::kReopened,
                                                DefectStatus::kCancelled};

// Numbers match plantmesh.defect.v1.Severity.
enum class Severity : int { kUnspecified = 0, kMinor = 1, kMajor = 2, kCritical = 3 };

// Numbers match plantmesh.defect.v1.ChangeType.
enum class ChangeType : int {
  kUnspecified = 0,
  kReported = 1,
  kUpdated = 2,
  kAssigned = 3,
  kRepairStarted = 4,
  kRepairFinished = 5,
  kRepairAccepted = 6,
  kRepairRejected = 7,
  kCancelled = 8,
  kPhotoAdded = 9,
};

// The custom methods that move a defect between statuses.
enum class Transition { kAssign, kStartRepair, kFinishRepair, kAccept, kReject, kCancel };
inline constexpr Transition kAllTransitions[] = {
    Transition::kAssign, Transition::kStartRepair, Transition::kFinishRepair,
    Transition::kAccept, Transition::kReject,      Transition::kCancel};

absl::string_view StatusName(DefectStatus status);        // "REPORTED"
absl::string_view SeverityName(Severity severity);        // "MAJOR"
absl::string_view TransitionName(Transition transition);  // "StartRepair"
// The method that makes a change of this type: "VerifyRepair" for both QC outcomes.
absl::string_view ChangeMethodName(ChangeType type);

struct Assignment {
  std::string repair_place_id;
  std::string mechanic_id;
  std::string assigned_by;
  absl::Time assign_time;
};

struct Repair {
  std::string started_by;
  absl::Time start_time;
  std::string finished_by;  // empty while in repair
  std::optional<absl::Time> finish_time;
  std::string work_done;
  int32_t labor_minutes = 0;
};

struct Verification {
  std::string verified_by;
  absl::Time verify_time;
  bool accepted = false;
  std::string rejection_reason;
};

struct Photo {
  std::string id;
  std::string content_type;
  int64_t size_bytes = 0;
  std::string sha256;
  std::string uploaded_by;
  absl::Time upload_time;
  std::string file_name;
};

struct Defect {
  int64_t id = 0;
  std::string vin;
  std::string model;
  std::string zone;
  std::string station;
  std::string category_code;
  Severity severity = Severity::kUnspecified;
  std::string description;
  std::string detected_by;
  std::string shift;
  std::vector<Photo> photos;
  DefectStatus status = DefectStatus::kUnspecified;
  std::optional<Assignment> assignment;
  std::optional<Repair> repair;
  std::optional<Verification> verification;
  std::string cancel_reason;
  std::string reported_by;
  absl::Time create_time;
  absl::Time update_time;
  std::optional<absl::Time> close_time;
  // Incremented by every change; the etag is derived from it.
  int64_t version = 0;
};

struct FieldChange {
  std::string field;
  std::string old_value;
  std::string new_value;
};

struct HistoryEntry {
  int64_t sequence = 0;
  ChangeType change_type = ChangeType::kUnspecified;
  std::string actor;
  absl::Time change_time;
  std::vector<FieldChange> changes;
  std::string comment;
  std::string request_id;
};

struct DefectCategory {
  std::string code;
  std::string title;
  Severity default_severity = Severity::kUnspecified;
};

struct RepairPlace {
  std::string id;
  std::string display_name;
  std::string zone;
  bool busy = false;              // derived
  std::string current_defect_id;  // derived
};

struct Crew {
  std::string id;
  std::string display_name;
  std::string zone;
};

struct Mechanic {
  std::string id;
  std::string display_name;
  std::string crew_id;
  std::string identity;
};

// ---- not found ----

// NOT_FOUND "defect <id> not found" (ErrorInfo DEFECT_NOT_FOUND, metadata defect_id).
absl::Status DefectNotFound(int64_t id);
// NOT_FOUND "photo <photo_id> of defect <id> not found" (ErrorInfo PHOTO_NOT_FOUND,
// metadata defect_id, photo_id), for a defect that exists.
absl::Status PhotoNotFound(int64_t defect_id, const std::string& photo_id);

// ---- etag ----

// A defect's etag: "v" and its version ("v3").
inline constexpr runtime::EtagForm kDefectEtag{"v", ""};
std::string EtagOf(int64_t version);
// The request field `etag` against the defect's current version, as runtime/etag.h says:
// "" is OK unless `required`, another version ABORTED (ETAG_MISMATCH, current_etag), a
// text of no version INVALID_ARGUMENT.
absl::Status CheckEtag(const Defect& current, absl::string_view given, bool required);

// ---- state machine ----

// The status a transition leads to from `from`, or FAILED_PRECONDITION naming the
// current status (ErrorInfo ILLEGAL_TRANSITION, metadata current_status, transition).
absl::StatusOr<DefectStatus> NextStatus(DefectStatus from, Transition transition);

// ---- what callers send (after conversion from protobuf) ----

// The fields of a report (output-only ones set by the caller never reach the domain: the
// runtime refuses them from the contract's annotations).
struct NewDefectInput {
  std::string vin;
  std::string model;
  std::string zone;
  std::string station;
  std::string category_code;
  Severity severity = Severity::kUnspecified;  // may hold an unknown number as sent
  std::string description;
  std::string detected_by;
  std::string shift;
};

// `category` is the catalog entry for input.category_code, or nullopt when unknown.
// Returns the defect to store (id 0, version 1), or INVALID_ARGUMENT listing every
// violation with paths under "defect.".
absl::StatusOr<Defect> NewDefect(const NewDefectInput& input,
                                 const std::optional<DefectCategory>& category,
                                 absl::string_view actor, absl::Time now);

// The updatable paths of UpdateDefect.
const std::vector<absl::string_view>& UpdatablePaths();

// Checks an update before the defect is read: `paths` non-empty and updatable, etag
// present, each named field valid. `category` is the catalog entry for
// input.category_code when that path is named. INVALID_ARGUMENT lists every violation
// ("update_mask", "etag", "defect.<path>").
absl::Status ValidateUpdate(const NewDefectInput& input, const std::vector<std::string>& paths,
                            absl::string_view etag, const std::optional<DefectCategory>& category);

// Applies the fields named by `paths` (validated) from `input` to `current`.
// FAILED_PRECONDITION when the defect is closed or cancelled (records are frozen).
absl::StatusOr<Defect> ApplyUpdate(const Defect& current, const NewDefectInput& input,
                                   const std::vector<std::string>& paths, absl::Time now);

struct AssignInput {
  std::string repair_place_id;
  std::string mechanic_id;
};

// ---- facts a change's rules need besides the defect ----

// What to read, asked for by the change (store.h, DefectStore::MutateDefect).
struct FactsWanted {
  // Whether the repair place and the mechanic with these ids exist; "" asks nothing.
  std::string repair_place_id;
  std::string mechanic_id;
  // Which other defect is in repair at the repair place the defect is assigned to. The
  // store locks the place first, so that repairs starting at one place are decided one
  // after the other.
  bool repair_place_occupant = false;
};

// Read by the store in the change's transaction, with the defect locked.
struct DefectFacts {
  // The identity of the mechanic the defect is assigned to; "" when it is not assigned
  // or that mechanic has no identity. Always read.
  std::string assigned_mechanic_identity;
  // FactsWanted::repair_place_id / mechanic_id exist (false when not asked).
  bool repair_place_exists = false;
  bool mechanic_exists = false;
  // Another defect in repair at the defect's repair place; nullopt when there is none,
  // the defect is not assigned, or it was not asked.
  std::optional<int64_t> repair_place_occupant;
};

// The facts AssignDefect's rules need.
FactsWanted AssignFacts(const AssignInput& input);
// The facts StartRepair's rules need.
FactsWanted StartRepairFacts();

// Required fields only (the contract checks their form); CheckAssignTargets checks
// that they exist.
absl::Status ValidateAssign(const AssignInput& input);
// REPORTED or REOPENED → ASSIGNED (the state machine only).
absl::StatusOr<Defect> Assign(const Defect& current, const AssignInput& input,
                              absl::string_view actor, absl::Time now);
// INVALID_ARGUMENT naming repair_place_id and/or mechanic_id when `facts` (read for
// AssignFacts(input)) say they do not exist.
absl::Status CheckAssignTargets(const AssignInput& input, const DefectFacts& facts);

// ASSIGNED or REOPENED → IN_REPAIR; FAILED_PRECONDITION when the defect has no
// assignment (the state machine only).
absl::StatusOr<Defect> StartRepair(const Defect& current, absl::string_view actor, absl::Time now);
// FAILED_PRECONDITION (ErrorInfo REPAIR_PLACE_BUSY, metadata repair_place_id,
// current_defect_id) when `facts` (read for StartRepairFacts()) name another defect in
// repair at the repair place of `current`.
absl::Status CheckRepairPlaceFree(const Defect& current, const DefectFacts& facts);

struct FinishInput {
  std::string work_done;
  int32_t labor_minutes = 0;
};
// ---- who works on a repair ----

// The caller of a change, as the domain needs it.
struct Caller {
  std::string identity;            // e.g. spiffe://plantmesh.local/user/mike
  std::vector<std::string> roles;  // roles bound to it
};

// Roles that may start or finish a repair assigned to another mechanic (an override).
inline constexpr const char* kRepairOverrideRoles[] = {"foreman", "admin"};

// StartRepair and FinishRepair (`transition`) on `current`, which is assigned: only the
// identity of the assigned mechanic (`assigned_identity`, "" when the mechanic has none)
// may do them. Returns "" for that mechanic. A foreman or admin may override: returns the
// note recorded with the change (its history comment), saying so. Anyone else:
// PERMISSION_DENIED with ErrorInfo NOT_ASSIGNED_MECHANIC (metadata mechanic_id,
// assigned_identity) — the caller's identity is what is wrong, as with FOUR_EYES_REQUIRED,
// and no change of the defect's state would let this caller do it.
absl::StatusOr<std::string> CheckRepairWorker(const Defect& current, Transition transition,
                                              const Caller& caller,
                                              absl::string_view assigned_identity);

absl::Status ValidateFinish(const FinishInput& input);
absl::StatusOr<Defect> FinishRepair(const Defect& current, const FinishInput& input,
                                    absl::string_view actor, absl::Time now);

enum class QcDecision { kUnspecified = 0, kAccept = 1, kReject = 2 };
struct VerifyInput {
  QcDecision decision = QcDecision::kUnspecified;
  std::string reason;
};
absl::Status ValidateVerify(const VerifyInput& input);
// REPAIRED → CLOSED (accept) or REOPENED (reject). PERMISSION_DENIED (ErrorInfo
// FOUR_EYES_REQUIRED) when `actor` did the repair: started or finished it, or is the
// assigned mechanic's identity (`assigned_identity`, empty for none), for whom a
// foreman's override may have started or finished it.
absl::StatusOr<Defect> VerifyRepair(const Defect& current, const VerifyInput& input,
                                    absl::string_view actor, absl::string_view assigned_identity,
                                    absl::Time now);

absl::Status ValidateCancel(absl::string_view reason);
absl::StatusOr<Defect> Cancel(const Defect& current, absl::string_view reason,
                              absl::string_view actor, absl::Time now);

// The most photos a defect holds. With every field at its longest a photo's metadata
// is ~3.5 KB, so a defect, and every answer and event that carries it, stays far below
// the 4 MiB a server sends. Outside testing: 4,200 photos made a defect that no Get,
// List page or watch could send any more, and a cancel that committed but failed.
inline constexpr int kMaxPhotosPerDefect = 100;

// FAILED_PRECONDITION DEFECT_FROZEN when `current` is CLOSED or CANCELLED, or
// PHOTO_LIMIT_REACHED when it holds kMaxPhotosPerDefect.
absl::Status CheckTakesPhoto(const Defect& current);

// Adds photo metadata (id assigned by the caller) to the defect (CheckTakesPhoto first).
absl::StatusOr<Defect> AddPhoto(const Defect& current, const Photo& photo, absl::Time now);

// ---- photos ----

struct PhotoUploadInput {
  std::string defect_id;
  std::string content_type;
  int64_t size_bytes = 0;
  std::string sha256;
  std::string file_name;
};
// Paths under "metadata.".
absl::Status ValidatePhotoUpload(const PhotoUploadInput& input, int64_t max_bytes);
// The photo's bytes begin with the signature of its declared content type (JPEG: FF D8
// FF, ISO/IEC 10918-1; PNG: 89 50 4E 47 0D 0A 1A 0A, ISO/IEC 15948; WebP: "RIFF", 4
// bytes, "WEBP", RFC 9649), so a screen is never handed a PDF labelled image/jpeg.
// INVALID_ARGUMENT on "chunk" otherwise.
absl::Status ValidatePhotoBytes(absl::string_view content_type, absl::string_view bytes);
// The bytes every signature above fits in (WebP's is the longest): an upload is judged as
// soon as it has them, not after the whole photo.
inline constexpr size_t kPhotoSignatureBytes = 12;

// ---- resources ----

// Plant codes: 1-32 characters A-Z, 0-9, '-' (the contract's TEXT_KIND_CODE).
bool IsPlantCode(absl::string_view code);
absl::Status ValidateRepairPlace(const RepairPlace& place);  // paths "repair_place."
absl::Status ValidateCrew(const Crew& crew);                 // paths "crew."
// A mechanic's identity must be one authentication can give: a caller identity of
// `trust_domain` ("" = any).
absl::Status ValidateMechanic(const Mechanic& mechanic,
                              std::string_view trust_domain = "");  // paths "mechanic."

// Read by the store in CreateMechanic's transaction.
struct MechanicFacts {
  // The crew named by Mechanic::crew_id exists (read with its row share-locked).
  bool crew_exists = false;
  // The mechanic that already has Mechanic::identity ("" none, or no identity given);
  // read with creates of the same identity serialised.
  std::string identity_holder;
};
// INVALID_ARGUMENT naming mechanic.crew_id when `facts` say the crew does not exist;
// ALREADY_EXISTS (ErrorInfo IDENTITY_TAKEN, metadata mechanic_id) when another mechanic
// has the identity: one certificate would be two mechanics, and the assigned-mechanic
// check could not tell them apart (outside testing).
absl::Status CheckMechanicFacts(const Mechanic& mechanic, const MechanicFacts& facts);
absl::Status ValidateCategory(const DefectCategory& category);  // paths "category."

// ---- history ----

// Fields that differ between two versions of a defect, as text (etag, version, photos'
// bytes and update_time are not listed).
std::vector<FieldChange> Diff(const Defect& before, const Defect& after);

// ---- ids ----

// Parses a decimal defect id; INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<int64_t> ParseDefectId(absl::string_view text, absl::string_view field);
// A photo id by the same rule (INVALID_ARGUMENT naming photo_id otherwise).
absl::StatusOr<int64_t> ParsePhotoId(absl::string_view text);

// ---- listing ----

enum class ListOrder { kCreateTimeDesc, kCreateTime, kUpdateTimeDesc, kUpdateTime };

struct ListFilter {
  std::vector<DefectStatus> statuses;
  std::string zone;
  std::string vin;
  std::string shift;
  std::optional<absl::Time> create_time_from;
  std::optional<absl::Time> create_time_to;
};

// Where the previous page ended: the create_time or update_time (as ordered) of the
// last defect returned, and its id.
using ListCursor = runtime::PageCursor;

struct ListQuery {
  ListFilter filter;
  ListOrder order = ListOrder::kCreateTimeDesc;
  int page_size = 100;
  std::optional<ListCursor> after;
};

struct ListRequestInput {
  ListFilter filter;  // statuses may hold unknown numbers as sent
  int32_t page_size = 0;
  std::string page_token;
  std::string order_by;
};

// Validates page_size (0 → 100, 1-1000), order_by, statuses and the page token (which
// must come from the same filter and order): INVALID_ARGUMENT naming each field.
absl::StatusOr<ListQuery> MakeListQuery(const ListRequestInput& input);

// WatchDefectsRequest.max_changes_per_response: 0-1000, where 0 and 1 both mean one
// change per response. How many changes one response may carry (at least 1), or
// INVALID_ARGUMENT naming the field.
inline constexpr int kMaxChangesPerWatchResponse = 1000;
absl::StatusOr<int> ChangesPerWatchResponse(int64_t requested);

// The opaque next_page_token after `last` for `query`.
std::string EncodePageToken(const ListQuery& query, const Defect& last);

// Micros precision: what PostgreSQL keeps.
absl::Time TruncateToMicros(absl::Time t);

}  // namespace plantmesh::defect
