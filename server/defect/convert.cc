#include "server/defect/convert.h"

#include "absl/strings/str_cat.h"
#include "plantmesh/common/uuid.h"
#include "server/runtime/proto_time.h"

namespace plantmesh::defect {

void ToProto(absl::Time time, google::protobuf::Timestamp* out) { runtime::TimeToProto(time, out); }

absl::Time FromProto(const google::protobuf::Timestamp& timestamp) {
  return runtime::TimeFromProto(timestamp);
}

void ToProto(const Photo& photo, pb::Photo* out) {
  out->set_id(photo.id);
  out->set_content_type(photo.content_type);
  out->set_size_bytes(photo.size_bytes);
  out->set_sha256(photo.sha256);
  out->set_uploaded_by(photo.uploaded_by);
  ToProto(photo.upload_time, out->mutable_upload_time());
  out->set_file_name(photo.file_name);
}

void ToProto(const Defect& defect, pb::Defect* out) {
  out->Clear();
  out->set_id(absl::StrCat(defect.id));
  out->set_vin(defect.vin);
  out->set_model(defect.model);
  out->set_zone(defect.zone);
  out->set_station(defect.station);
  out->set_category_code(defect.category_code);
  out->set_severity(static_cast<pb::Severity>(defect.severity));
  out->set_description(defect.description);
  out->set_detected_by(defect.detected_by);
  out->set_shift(defect.shift);
  for (const Photo& photo : defect.photos) ToProto(photo, out->add_photos());
  out->set_status(static_cast<pb::DefectStatus>(defect.status));
  if (defect.assignment) {
    pb::Assignment* a = out->mutable_assignment();
    a->set_repair_place_id(defect.assignment->repair_place_id);
    a->set_mechanic_id(defect.assignment->mechanic_id);
    a->set_assigned_by(defect.assignment->assigned_by);
    ToProto(defect.assignment->assign_time, a->mutable_assign_time());
  }
  if (defect.repair) {
    pb::Repair* r = out->mutable_repair();
    r->set_started_by(defect.repair->started_by);
    ToProto(defect.repair->start_time, r->mutable_start_time());
    r->set_finished_by(defect.repair->finished_by);
    if (defect.repair->finish_time) ToProto(*defect.repair->finish_time, r->mutable_finish_time());
    r->set_work_done(defect.repair->work_done);
    r->set_labor_minutes(defect.repair->labor_minutes);
  }
  if (defect.verification) {
    pb::Verification* v = out->mutable_verification();
    v->set_verified_by(defect.verification->verified_by);
    ToProto(defect.verification->verify_time, v->mutable_verify_time());
    v->set_accepted(defect.verification->accepted);
    v->set_rejection_reason(defect.verification->rejection_reason);
  }
  out->set_cancel_reason(defect.cancel_reason);
  out->set_reported_by(defect.reported_by);
  ToProto(defect.create_time, out->mutable_create_time());
  ToProto(defect.update_time, out->mutable_update_time());
  if (defect.close_time) ToProto(*defect.close_time, out->mutable_close_time());
  out->set_etag(EtagOf(defect.version));
  out->set_revision(defect.version);
}

void ToProto(const HistoryEntry& entry, pb::HistoryEntry* out) {
  out->set_sequence(entry.sequence);
  out->set_change_type(static_cast<pb::ChangeType>(entry.change_type));
  out->set_actor(entry.actor);
  ToProto(entry.change_time, out->mutable_change_time());
  for (const FieldChange& change : entry.changes) {
    pb::FieldChange* c = out->add_changes();
    c->set_field(change.field);
    c->set_old_value(change.old_value);
    c->set_new_value(change.new_value);
  }
  out->set_comment(entry.comment);
  out->set_request_id(entry.request_id);
}

void ToProto(const RepairPlace& place, pb::RepairPlace* out) {
  out->set_id(place.id);
  out->set_display_name(place.display_name);
  out->set_zone(place.zone);
  out->set_state(place.busy ? pb::REPAIR_PLACE_STATE_BUSY : pb::REPAIR_PLACE_STATE_FREE);
  out->set_current_defect_id(place.current_defect_id);
}

void ToProto(const Crew& crew, pb::Crew* out) {
  out->set_id(crew.id);
  out->set_display_name(crew.display_name);
  out->set_zone(crew.zone);
}

void ToProto(const Mechanic& mechanic, pb::Mechanic* out) {
  out->set_id(mechanic.id);
  out->set_display_name(mechanic.display_name);
  out->set_crew_id(mechanic.crew_id);
  out->set_identity(mechanic.identity);
}

void ToProto(const DefectCategory& category, pb::DefectCategory* out) {
  out->set_code(category.code);
  out->set_title(category.title);
  out->set_default_severity(static_cast<pb::Severity>(category.default_severity));
}

pb::DefectEvent MakeEvent(const std::string& event_id, ChangeType change_type, const Defect* before,
                          const Defect& after, const std::string& actor, absl::Time time) {
  pb::DefectEvent event;
  event.set_event_id(event_id);
  event.set_change_type(static_cast<pb::ChangeType>(change_type));
  ToProto(after, event.mutable_defect());
  event.set_actor(actor);
  ToProto(time, event.mutable_event_time());
  event.set_revision(after.version);
  if (before != nullptr && before->zone != after.zone) event.set_previous_zone(before->zone);
  return event;
}

runtime::OutboxEvent DefectOutboxEvent(ChangeType change_type, const Defect* before,
                                       const Defect& after, const std::string& actor,
                                       absl::Time time) {
  runtime::OutboxEvent event;
  event.event_id = common::NewUuidV4();
  const pb::DefectEvent message =
      MakeEvent(event.event_id, change_type, before, after, actor, time);
  event.type = absl::StrCat(pb::DefectEvent::descriptor()->full_name(), "/",
                            pb::ChangeType_Name(message.change_type()));
  message.SerializeToString(&event.payload);
  return event;
}

NewDefectInput NewDefectInputFromProto(const pb::Defect& defect) {
  NewDefectInput in;
  in.vin = defect.vin();
  in.model = defect.model();
  in.zone = defect.zone();
  in.station = defect.station();
  in.category_code = defect.category_code();
  in.severity = static_cast<Severity>(defect.severity());
  in.description = defect.description();
  in.detected_by = defect.detected_by();
  in.shift = defect.shift();
  return in;
}

RepairPlace FromProto(const pb::RepairPlace& place) {
  RepairPlace out;
  out.id = place.id();
  out.display_name = place.display_name();
  out.zone = place.zone();
  out.busy = place.state() != pb::REPAIR_PLACE_STATE_UNSPECIFIED;  // refused on create
  out.current_defect_id = place.current_defect_id();
  return out;
}

Crew FromProto(const pb::Crew& crew) { return {crew.id(), crew.display_name(), crew.zone()}; }

Mechanic FromProto(const pb::Mechanic& mechanic) {
  return {mechanic.id(), mechanic.display_name(), mechanic.crew_id(), mechanic.identity()};
}

DefectCategory FromProto(const pb::DefectCategory& category) {
  return {category.code(), category.title(), static_cast<Severity>(category.default_severity())};
}

PhotoUploadInput FromProto(const pb::PhotoUpload& upload) {
  PhotoUploadInput in;
  in.defect_id = upload.defect_id();
  in.content_type = upload.content_type();
  in.size_bytes = upload.size_bytes();
  in.sha256 = upload.sha256();
  in.file_name = upload.file_name();
  return in;
}

ListRequestInput FromProto(const pb::ListDefectsRequest& request) {
  ListRequestInput in;
  for (int status : request.statuses()) {
    in.filter.statuses.push_back(static_cast<DefectStatus>(status));
  }
  in.filter.zone = request.zone();
  in.filter.vin = request.vin();
  in.filter.shift = request.shift();
  if (request.has_create_time_from())
    in.filter.create_time_from = FromProto(request.create_time_from());
  if (request.has_create_time_to()) in.filter.create_time_to = FromProto(request.create_time_to());
  in.page_size = request.page_size();
  in.page_token = request.page_token();
  in.order_by = request.order_by();
  return in;
}

}  // namespace plantmesh::defect
