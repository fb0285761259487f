#include "server/defect/testing/fake_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"

namespace plantmesh::defect::testing {
namespace {

std::optional<absl::Time> TruncateToMicros(const std::optional<absl::Time>& t) {
  if (!t) return std::nullopt;
  return defect::TruncateToMicros(*t);
}

// The row PgDefectStore's INSERT writes for a report: the reported columns only, the
// update time equal to the create time.
Defect AsInserted(const Defect& d, int64_t id) {
  Defect row;
  row.id = id;
  row.version = 1;
  row.vin = d.vin;
  row.model = d.model;
  row.zone = d.zone;
  row.station = d.station;
  row.category_code = d.category_code;
  row.severity = d.severity;
  row.description = d.description;
  row.detected_by = d.detected_by;
  row.shift = d.shift;
  row.status = d.status;
  row.reported_by = d.reported_by;
  row.create_time = defect::TruncateToMicros(d.create_time);
  row.update_time = row.create_time;
  return row;
}

// The row PgDefectStore's UPDATE leaves from `d`: it writes neither the create time nor
// the reporter, and a repair's work and labour only once it is finished.
Defect AsUpdated(const Defect& stored, const Defect& d) {
  Defect row = d;
  row.photos.clear();
  row.create_time = stored.create_time;
  row.reported_by = stored.reported_by;
  row.update_time = defect::TruncateToMicros(d.update_time);
  row.close_time = TruncateToMicros(d.close_time);
  if (row.assignment) {
    row.assignment->assign_time = defect::TruncateToMicros(row.assignment->assign_time);
  }
  if (row.repair) {
    row.repair->start_time = defect::TruncateToMicros(row.repair->start_time);
    row.repair->finish_time = TruncateToMicros(row.repair->finish_time);
    if (!row.repair->finish_time) {
      row.repair->work_done.clear();
      row.repair->labor_minutes = 0;
    }
  }
  if (row.verification) {
    row.verification->verify_time = defect::TruncateToMicros(row.verification->verify_time);
  }
  return row;
}

// PgDefectStore's answer to a change of a defect without an event encoder.
absl::Status HasEventEncoder(const ChangeContext& context) {
  if (!context.encode_event) return absl::InternalError("change context without event encoder");
  return absl::OkStatus();
}

// What MapPgException makes of a violated foreign key or check (no declared meaning).
absl::Status Violates(const std::string& table, const std::string& constraint, bool check) {
  return absl::FailedPreconditionError(check ? absl::StrCat("new row for relation \"", table,
                                                            "\" violates check constraint \"",
                                                            constraint, "\" (SQLSTATE 23514)")
                                             : absl::StrCat("insert or update on table \"", table,
                                                            "\" violates foreign key constraint \"",
                                                            constraint, "\" (SQLSTATE 23503)"));
}

std::string DefectResource(int64_t id) { return absl::StrCat("defects/", id); }

template <typename T>
std::string Encode(const ResponseEncoder<T>& encode, const T& value) {
  return encode ? encode(value) : std::string();
}

// The sort time of `d` in `order`, in microseconds (the id breaks ties).
int64_t SortKey(const Defect& d, ListOrder order) {
  const bool by_update = order == ListOrder::kUpdateTimeDesc || order == ListOrder::kUpdateTime;
  return absl::ToUnixMicros(by_update ? d.update_time : d.create_time);
}

bool Matches(const Defect& d, const ListFilter& filter) {
  if (!filter.statuses.empty() && std::find(filter.statuses.begin(), filter.statuses.end(),
                                            d.status) == filter.statuses.end()) {
    return false;
  }
  if (!filter.zone.empty() && d.zone != filter.zone) return false;
  if (!filter.vin.empty() && d.vin != filter.vin) return false;
  if (!filter.shift.empty() && d.shift != filter.shift) return false;
  const int64_t created = absl::ToUnixMicros(d.create_time);
  if (filter.create_time_from && created < absl::ToUnixMicros(*filter.create_time_from)) {
    return false;
  }
  if (filter.create_time_to && created >= absl::ToUnixMicros(*filter.create_time_to)) {
    return false;
  }
  return true;
}

}  // namespace

absl::Status FakeDefectStore::TakeFailure() { return std::exchange(failure_, absl::OkStatus()); }

void FakeDefectStore::FailNextCall(absl::Status status) {
  absl::MutexLock lock(&mu_);
  failure_ = std::move(status);
}

std::vector<OutboxEvent> FakeDefectStore::Events() const {
  absl::ReaderMutexLock lock(&mu_);
  return events_;
}

std::vector<OutboxEvent> FakeDefectStore::TakeEvents() {
  absl::MutexLock lock(&mu_);
  return std::exchange(events_, {});
}

std::vector<runtime::AuditRecord> FakeDefectStore::AuditRows() const {
  absl::ReaderMutexLock lock(&mu_);
  return audit_rows_;
}

void FakeDefectStore::Audit(const ChangeContext& context) {
  if (context.audit == nullptr || context.audit->written()) return;
  audit_rows_.push_back(context.audit->Row(context.now));
  context.audit->MarkWritten();
}

size_t FakeDefectStore::RequestLogSize() const {
  absl::ReaderMutexLock lock(&mu_);
  return request_log_.size();
}

absl::StatusOr<Defect> FakeDefectStore::Read(int64_t id) const {
  auto it = defects_.find(id);
  if (it == defects_.end()) return DefectNotFound(id);
  Defect d = it->second.defect;
  for (const StoredPhoto& p : it->second.photos) d.photos.push_back(p.photo);
  return d;
}

absl::Status FakeDefectStore::CheckRow(const Defect& d) const {
  if (d.severity < Severity::kMinor || d.severity > Severity::kCritical) {
    return Violates("defects", "defects_severity_check", true);
  }
  if (d.status < DefectStatus::kReported || d.status > DefectStatus::kCancelled) {
    return Violates("defects", "defects_status_check", true);
  }
  if (categories_.count(d.category_code) == 0) {
    return Violates("defects", "defects_category_code_fkey", false);
  }
  if (d.assignment) {
    if (places_.count(d.assignment->repair_place_id) == 0) {
      return Violates("defects", "defects_repair_place_id_fkey", false);
    }
    if (mechanics_.count(d.assignment->mechanic_id) == 0) {
      return Violates("defects", "defects_mechanic_id_fkey", false);
    }
  }
  // defects_one_repair_per_place_idx, as PgDefectStore::ConstraintErrors() declares it:
  // the safety net behind the rule, for a mutator that did not ask for the occupant.
  if (d.status == DefectStatus::kInRepair && d.assignment) {
    for (const auto& [other_id, other] : defects_) {
      if (other_id != d.id && other.defect.status == DefectStatus::kInRepair &&
          other.defect.assignment &&
          other.defect.assignment->repair_place_id == d.assignment->repair_place_id) {
        return runtime::WithErrorInfo(
            absl::FailedPreconditionError(
                "repair place is busy: another defect is in repair there"),
            "REPAIR_PLACE_BUSY");
      }
    }
  }
  return absl::OkStatus();
}

void FakeDefectStore::RecordChange(StoredDefect& row, const Defect* before, const Defect& after,
                                   ChangeType type, std::vector<FieldChange> changes,
                                   std::string comment, const ChangeContext& context) {
  const absl::Time when = defect::TruncateToMicros(context.now);
  HistoryEntry entry;
  entry.sequence = static_cast<int64_t>(row.history.size()) + 1;
  entry.change_type = type;
  entry.actor = context.actor();
  entry.change_time = when;
  entry.changes = std::move(changes);
  entry.comment = std::move(comment);
  entry.request_id = context.request.request_id;
  row.history.push_back(std::move(entry));

  // The encoder's presence was checked before anything was changed (HasEventEncoder).
  events_.push_back(context.encode_event(type, before, after, context.actor(), when));
}

absl::StatusOr<Replayable<Defect>> FakeDefectStore::CreateDefect(
    const Defect& defect, const ChangeContext& context, const ResponseEncoder<Defect>& encode) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  Replayable<Defect> result;
  // The id is drawn first, as PgDefectStore draws it: the sequence moves on even when the
  // call is a replay or the insert then fails, as PostgreSQL's does.
  const int64_t id = ++last_defect_id_;
  PM_RETURN_IF_ERROR(HasEventEncoder(context));
  PM_ASSIGN_OR_RETURN(std::optional<runtime::testing::MemoryRequestLog::Entry> seen,
                      request_log_.Claim(context.request));
  if (seen) {
    result.recorded_response = seen->response;
    return result;
  }
  Defect row = AsInserted(defect, id);
  PM_RETURN_IF_ERROR(CheckRow(row));

  Defect created = defect;
  created.id = id;
  created.version = 1;
  StoredDefect& stored = defects_[id];
  stored.defect = std::move(row);
  RecordChange(stored, nullptr, created, ChangeType::kReported, Diff(Defect{}, created), "",
               context);
  request_log_.Record(context.request, Encode(encode, created), DefectResource(id));
  Audit(context);
  result.value = std::move(created);
  return result;
}

absl::StatusOr<Defect> FakeDefectStore::GetDefect(int64_t id) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  return Read(id);
}

absl::StatusOr<bool> FakeDefectStore::IsRequestRecorded(const runtime::IdempotencyKey& key) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  return request_log_.IsRecorded(key);
}

absl::StatusOr<ListPage> FakeDefectStore::ListDefects(const ListQuery& query) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  // PostgreSQL refuses a negative LIMIT (page_size + 1), as an internal error.
  if (query.page_size < -1) return absl::InternalError("LIMIT must not be negative");
  // (sort key, id) of every match, in the query's order, after the cursor.
  const bool descending =
      query.order == ListOrder::kCreateTimeDesc || query.order == ListOrder::kUpdateTimeDesc;
  std::vector<std::pair<int64_t, int64_t>> keys;
  for (const auto& [id, row] : defects_) {
    if (!Matches(row.defect, query.filter)) continue;
    const std::pair<int64_t, int64_t> here(SortKey(row.defect, query.order), id);
    if (query.after) {
      const std::pair<int64_t, int64_t> cursor(absl::ToUnixMicros(query.after->sort_time),
                                               query.after->id);
      if (descending ? !(here < cursor) : !(cursor < here)) continue;
    }
    keys.push_back(here);
  }
  std::sort(keys.begin(), keys.end());
  if (descending) std::reverse(keys.begin(), keys.end());

  ListPage page;
  for (const auto& [key, id] : keys) {
    if (static_cast<int>(page.defects.size()) == query.page_size) {
      page.more = true;
      break;
    }
    page.defects.push_back(*Read(id));
  }
  return page;
}

// What PgDefectStore's defect_lock, place_lock and place_occupant read. The one lock of
// this store already serializes repairs starting at one place.
absl::StatusOr<DefectFacts> FakeDefectStore::FactsOf(const Defect& current,
                                                     const FactsWanted& wanted) const {
  DefectFacts facts;
  if (current.assignment) {
    auto mechanic = mechanics_.find(current.assignment->mechanic_id);
    if (mechanic != mechanics_.end()) facts.assigned_mechanic_identity = mechanic->second.identity;
  }
  facts.repair_place_exists =
      !wanted.repair_place_id.empty() && places_.count(wanted.repair_place_id) > 0;
  facts.mechanic_exists = !wanted.mechanic_id.empty() && mechanics_.count(wanted.mechanic_id) > 0;
  if (wanted.repair_place_occupant && current.assignment) {
    const std::string& place = current.assignment->repair_place_id;
    for (const auto& [other_id, other] : defects_) {
      if (other_id != current.id && other.defect.status == DefectStatus::kInRepair &&
          other.defect.assignment && other.defect.assignment->repair_place_id == place) {
        facts.repair_place_occupant = other_id;
        break;
      }
    }
  }
  return facts;
}

absl::StatusOr<Replayable<Defect>> FakeDefectStore::MutateDefect(
    int64_t id, const ChangeContext& context, const FactsWanted& wanted, const Mutator& mutator,
    const ResponseEncoder<Defect>& encode) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  Replayable<Defect> result;
  // The key first: a retry is answered without reading the defect.
  PM_ASSIGN_OR_RETURN(std::optional<runtime::testing::MemoryRequestLog::Entry> seen,
                      request_log_.Claim(context.request));
  if (seen) {
    result.recorded_response = seen->response;
    return result;
  }
  PM_ASSIGN_OR_RETURN(Defect current, Read(id));
  StoredDefect& stored = defects_.at(id);
  PM_ASSIGN_OR_RETURN(DefectFacts facts, FactsOf(current, wanted));
  if (!mutator) return absl::InternalError("database client error: bad_function_call");
  PM_ASSIGN_OR_RETURN(Mutation mutation, mutator(current, facts));
  Defect& after = mutation.after;

  std::vector<FieldChange> changes = Diff(current, after);
  if (changes.empty()) {
    // Nothing to change, nothing to record but the answer, for a retry, and the audit.
    request_log_.Record(context.request, Encode(encode, current), DefectResource(id));
    Audit(context);
    result.value = std::move(current);
    return result;
  }
  after.id = id;
  after.version = current.version + 1;
  Defect row = AsUpdated(stored.defect, after);
  PM_RETURN_IF_ERROR(CheckRow(row));
  PM_RETURN_IF_ERROR(HasEventEncoder(context));
  stored.defect = std::move(row);
  RecordChange(stored, &current, after, mutation.change_type, std::move(changes), mutation.comment,
               context);
  request_log_.Record(context.request, Encode(encode, after), DefectResource(id));
  Audit(context);
  result.value = std::move(after);
  return result;
}

absl::StatusOr<std::vector<HistoryEntry>> FakeDefectStore::GetHistory(int64_t id,
                                                                      int64_t after_sequence,
                                                                      size_t limit) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  auto it = defects_.find(id);
  if (it == defects_.end()) return DefectNotFound(id);
  std::vector<HistoryEntry> page;
  for (const HistoryEntry& entry : it->second.history) {
    if (page.size() >= limit) break;
    if (entry.sequence > after_sequence) page.push_back(entry);
  }
  return page;
}

absl::StatusOr<Replayable<Photo>> FakeDefectStore::AddPhoto(const NewPhoto& photo,
                                                            const ChangeContext& context,
                                                            const ResponseEncoder<Photo>& encode) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  Replayable<Photo> result;
  PM_ASSIGN_OR_RETURN(std::optional<runtime::testing::MemoryRequestLog::Entry> seen,
                      request_log_.Claim(context.request));
  if (seen) {
    result.recorded_response = seen->response;
    return result;
  }
  PM_ASSIGN_OR_RETURN(Defect current, Read(photo.defect_id));
  StoredDefect& stored = defects_.at(photo.defect_id);
  const int photo_no = static_cast<int>(stored.photos.size()) + 1;
  Photo kept;
  kept.id = absl::StrCat(photo_no);
  kept.content_type = photo.content_type;
  kept.size_bytes = photo.size_bytes;
  kept.sha256 = photo.sha256;
  kept.file_name = photo.file_name;
  kept.uploaded_by = context.actor();
  kept.upload_time = defect::TruncateToMicros(context.now);
  PM_ASSIGN_OR_RETURN(Defect after, defect::AddPhoto(current, kept, context.now));
  after.version = current.version + 1;
  Defect row = AsUpdated(stored.defect, after);
  PM_RETURN_IF_ERROR(CheckRow(row));
  PM_RETURN_IF_ERROR(HasEventEncoder(context));

  stored.photos.push_back({kept, photo.bytes});
  stored.defect = std::move(row);
  RecordChange(stored, &current, after, ChangeType::kPhotoAdded, Diff(current, after), "", context);
  request_log_.Record(context.request, Encode(encode, kept),
                      absl::StrCat(DefectResource(photo.defect_id), "/photos/", photo_no));
  Audit(context);
  result.value = std::move(kept);
  return result;
}

absl::StatusOr<PhotoContent> FakeDefectStore::GetPhoto(int64_t defect_id,
                                                       const std::string& photo_id) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  PM_ASSIGN_OR_RETURN(const int64_t photo_no, ParsePhotoId(photo_id));
  auto it = defects_.find(defect_id);
  if (it == defects_.end()) return DefectNotFound(defect_id);
  if (static_cast<uint64_t>(photo_no) > it->second.photos.size()) {
    return PhotoNotFound(defect_id, photo_id);
  }
  const StoredPhoto& stored = it->second.photos[photo_no - 1];
  return PhotoContent{stored.photo, stored.bytes};
}

absl::StatusOr<std::optional<DefectCategory>> FakeDefectStore::FindCategory(
    const std::string& code) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  auto it = categories_.find(code);
  if (it == categories_.end()) return std::nullopt;
  return it->second;
}

template <typename T, typename Insert>
absl::StatusOr<Replayable<T>> FakeDefectStore::CreateResource(const ChangeContext& context,
                                                              const ResponseEncoder<T>& encode,
                                                              const T& created,
                                                              const std::string& resource,
                                                              Insert insert) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  Replayable<T> result;
  PM_ASSIGN_OR_RETURN(std::optional<runtime::testing::MemoryRequestLog::Entry> seen,
                      request_log_.Claim(context.request));
  if (seen) {
    result.recorded_response = seen->response;
    return result;
  }
  PM_RETURN_IF_ERROR(insert());
  request_log_.Record(context.request, Encode(encode, created), resource);
  Audit(context);
  result.value = created;
  return result;
}

absl::StatusOr<Replayable<DefectCategory>> FakeDefectStore::CreateCategory(
    const DefectCategory& category, const ChangeContext& context,
    const ResponseEncoder<DefectCategory>& encode) {
  return CreateResource<DefectCategory>(
      context, encode, category, absl::StrCat("categories/", category.code), [&]() -> absl::Status {
        // The check comes before the conflict, as in PostgreSQL's INSERT.
        if (category.default_severity < Severity::kMinor ||
            category.default_severity > Severity::kCritical) {
          return Violates("categories", "categories_default_severity_check", true);
        }
        if (!categories_.emplace(category.code, category).second) {
          return runtime::ResourceExists("defect category", category.code);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<DefectCategory>> FakeDefectStore::ListCategories() {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  std::vector<DefectCategory> out;
  for (const auto& [code, category] : categories_) out.push_back(category);
  return out;
}

absl::StatusOr<Replayable<RepairPlace>> FakeDefectStore::CreateRepairPlace(
    const RepairPlace& place, const ChangeContext& context,
    const ResponseEncoder<RepairPlace>& encode) {
  RepairPlace created = place;
  created.busy = false;
  created.current_defect_id.clear();
  return CreateResource<RepairPlace>(
      context, encode, created, absl::StrCat("repairPlaces/", place.id), [&]() -> absl::Status {
        if (!places_.emplace(place.id, created).second) {
          return runtime::ResourceExists("repair place", place.id);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<RepairPlace>> FakeDefectStore::ListRepairPlaces(
    const std::string& zone) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  std::vector<RepairPlace> out;
  for (const auto& [id, place] : places_) {
    if (!zone.empty() && place.zone != zone) continue;
    RepairPlace p = place;
    // Derived, as PostgreSQL's join derives it: the defect in repair there.
    for (const auto& [defect_id, row] : defects_) {
      if (row.defect.status == DefectStatus::kInRepair && row.defect.assignment &&
          row.defect.assignment->repair_place_id == id) {
        p.busy = true;
        p.current_defect_id = absl::StrCat(defect_id);
        break;
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<Replayable<Crew>> FakeDefectStore::CreateCrew(const Crew& crew,
                                                             const ChangeContext& context,
                                                             const ResponseEncoder<Crew>& encode) {
  return CreateResource<Crew>(context, encode, crew, absl::StrCat("crews/", crew.id),
                              [&]() -> absl::Status {
                                if (!crews_.emplace(crew.id, crew).second) {
                                  return runtime::ResourceExists("crew", crew.id);
                                }
                                return absl::OkStatus();
                              });
}

absl::StatusOr<std::vector<Crew>> FakeDefectStore::ListCrews(const std::string& zone) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  std::vector<Crew> out;
  for (const auto& [id, crew] : crews_) {
    if (zone.empty() || crew.zone == zone) out.push_back(crew);
  }
  return out;
}

absl::StatusOr<std::optional<Crew>> FakeDefectStore::FindCrew(const std::string& id) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  auto it = crews_.find(id);
  if (it == crews_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<Replayable<Mechanic>> FakeDefectStore::CreateMechanic(
    const Mechanic& mechanic, const ChangeContext& context, const ResponseEncoder<Mechanic>& encode,
    const MechanicRule& rule) {
  return CreateResource<Mechanic>(
      context, encode, mechanic, absl::StrCat("mechanics/", mechanic.id), [&]() -> absl::Status {
        MechanicFacts facts;
        facts.crew_exists = crews_.count(mechanic.crew_id) > 0;
        for (const auto& [id, other] : mechanics_) {
          if (!mechanic.identity.empty() && other.identity == mechanic.identity) {
            facts.identity_holder = id;  // the first by id, as the PostgreSQL store reads it
            break;
          }
        }
        PM_RETURN_IF_ERROR(rule(facts));
        if (!mechanics_.emplace(mechanic.id, mechanic).second) {
          return runtime::ResourceExists("mechanic", mechanic.id);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<Mechanic>> FakeDefectStore::ListMechanics(const std::string& crew_id) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(TakeFailure());
  std::vector<Mechanic> out;
  for (const auto& [id, mechanic] : mechanics_) {
    if (crew_id.empty() || mechanic.crew_id == crew_id) out.push_back(mechanic);
  }
  return out;
}

}  // namespace plantmesh::defect::testing
