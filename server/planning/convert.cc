#include "server/planning/convert.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/uuid.h"
#include "server/runtime/proto_time.h"

namespace plantmesh::planning {

absl::Time FromProto(const google::protobuf::Timestamp& proto) {
  return runtime::TimeFromProto(proto);
}

void ToProto(absl::Time time, google::protobuf::Timestamp* proto) {
  runtime::TimeToProto(time, proto);
}

Line FromProto(const v1::Line& proto) {
  return Line{proto.id(),   proto.display_name(),          proto.site(),
              proto.area(), proto.nominal_rate_per_hour(), proto.shift_pattern_id()};
}

void ToProto(const Line& line, v1::Line* proto) {
  proto->set_id(line.id);
  proto->set_display_name(line.display_name);
  proto->set_site(line.site);
  proto->set_area(line.area);
  proto->set_nominal_rate_per_hour(line.nominal_rate_per_hour);
  proto->set_shift_pattern_id(line.shift_pattern_id);
  proto->set_etag(EtagOf(line.version));
}

Product FromProto(const v1::Product& proto) {
  Product p{proto.id(), proto.display_name(), proto.unit(), {}, {}};
  for (const v1::LineCycleTime& c : proto.cycle_times()) {
    p.cycle_times.push_back({c.line_id(), c.ideal_cycle_seconds()});
  }
  for (const v1::Changeover& c : proto.changeovers()) {
    p.changeovers.push_back({c.from_product_id(), c.line_id(), c.duration_minutes()});
  }
  return p;
}

void ToProto(const Product& product, v1::Product* proto) {
  proto->set_id(product.id);
  proto->set_display_name(product.display_name);
  proto->set_unit(product.unit);
  for (const LineCycleTime& c : product.cycle_times) {
    v1::LineCycleTime* out = proto->add_cycle_times();
    out->set_line_id(c.line_id);
    out->set_ideal_cycle_seconds(c.ideal_cycle_seconds);
  }
  for (const Changeover& c : product.changeovers) {
    v1::Changeover* out = proto->add_changeovers();
    out->set_from_product_id(c.from_product_id);
    out->set_line_id(c.line_id);
    out->set_duration_minutes(c.duration_minutes);
  }
  proto->set_etag(EtagOf(product.version));
}

Crew FromProto(const v1::Crew& proto) {
  return Crew{proto.id(), proto.display_name(), proto.area()};
}

void ToProto(const Crew& crew, v1::Crew* proto) {
  proto->set_id(crew.id);
  proto->set_display_name(crew.display_name);
  proto->set_area(crew.area);
}

ShiftPatternInput FromProto(const v1::ShiftPattern& proto) {
  ShiftPatternInput in;
  in.id = proto.id();
  in.display_name = proto.display_name();
  for (const v1::ShiftDefinition& s : proto.shifts()) {
    ShiftDefinitionInput d{s.code(), s.start_time(), s.end_time(), {}};
    for (const v1::ShiftBreak& b : s.breaks())
      d.breaks.push_back({b.start_time(), b.duration_minutes()});
    in.shifts.push_back(std::move(d));
  }
  in.cycle_days = proto.cycle_days();
  in.anchor_date = proto.anchor_date();
  for (const v1::RotationEntry& e : proto.rotation()) {
    in.rotation.push_back({e.day(), e.shift_code(), e.crew_id()});
  }
  return in;
}

void ToProto(const ShiftPattern& pattern, v1::ShiftPattern* proto) {
  const ShiftPatternInput in = InputOf(pattern);
  proto->set_id(in.id);
  proto->set_display_name(in.display_name);
  for (const ShiftDefinitionInput& s : in.shifts) {
    v1::ShiftDefinition* out = proto->add_shifts();
    out->set_code(s.code);
    out->set_start_time(s.start_time);
    out->set_end_time(s.end_time);
    for (const ShiftBreakInput& b : s.breaks) {
      v1::ShiftBreak* br = out->add_breaks();
      br->set_start_time(b.start_time);
      br->set_duration_minutes(b.duration_minutes);
    }
  }
  proto->set_cycle_days(in.cycle_days);
  proto->set_anchor_date(in.anchor_date);
  for (const RotationEntry& e : in.rotation) {
    v1::RotationEntry* out = proto->add_rotation();
    out->set_day(e.day);
    out->set_shift_code(e.shift_code);
    out->set_crew_id(e.crew_id);
  }
}

void ToProto(const Holiday& holiday, v1::Holiday* proto) {
  proto->set_date(FormatDate(holiday.date));
  proto->set_display_name(holiday.display_name);
}

MaintenanceWindow FromProto(const v1::MaintenanceWindow& proto) {
  return MaintenanceWindow{0, proto.line_id(), FromProto(proto.start_time()),
                           FromProto(proto.end_time()), proto.reason()};
}

void ToProto(const MaintenanceWindow& window, v1::MaintenanceWindow* proto) {
  proto->set_id(absl::StrCat(window.id));
  proto->set_line_id(window.line_id);
  ToProto(window.start, proto->mutable_start_time());
  ToProto(window.end, proto->mutable_end_time());
  proto->set_reason(window.reason);
}

void ToProto(const ShiftInstance& shift, absl::Duration planned, v1::Shift* proto) {
  proto->set_id(shift.id);
  proto->set_code(shift.code);
  proto->set_date(FormatDate(shift.date));
  ToProto(shift.start, proto->mutable_start_time());
  ToProto(shift.end, proto->mutable_end_time());
  proto->set_crew_id(shift.crew_id);
  proto->set_planned_seconds(absl::ToInt64Seconds(planned));
}

std::vector<PlanItem> FromProto(const google::protobuf::RepeatedPtrField<v1::PlanItem>& items) {
  std::vector<PlanItem> out;
  for (const v1::PlanItem& i : items) out.push_back({i.product_id(), i.quantity(), i.sequence()});
  return out;
}

namespace {

void ItemsToProto(const std::vector<PlanItem>& items,
                  google::protobuf::RepeatedPtrField<v1::PlanItem>* out) {
  for (const PlanItem& i : items) {
    v1::PlanItem* item = out->Add();
    item->set_product_id(i.product_id);
    item->set_quantity(i.quantity);
    item->set_sequence(i.sequence);
  }
}

runtime::OutboxEvent Event(v1::PlanningEvent event, absl::string_view type_name) {
  event.set_event_id(common::NewUuidV4());
  return runtime::OutboxEvent{event.event_id(),
                              absl::StrCat("plantmesh.planning.v1.PlanningEvent/", type_name),
                              event.SerializeAsString()};
}

}  // namespace

void ToProto(const Plan& plan, v1::ProductionPlan* proto) {
  proto->set_id(absl::StrCat(plan.id));
  proto->set_line_id(plan.line_id);
  proto->set_shift_id(plan.shift_id);
  ItemsToProto(plan.items, proto->mutable_items());
  proto->set_status(static_cast<v1::PlanStatus>(plan.status));
  proto->set_revision(plan.revision);
  proto->set_revision_reason(plan.revision_reason);
  ToProto(plan.shift_start, proto->mutable_shift_start_time());
  ToProto(plan.shift_end, proto->mutable_shift_end_time());
  proto->set_created_by(plan.created_by);
  ToProto(plan.create_time, proto->mutable_create_time());
  proto->set_updated_by(plan.updated_by);
  ToProto(plan.update_time, proto->mutable_update_time());
  proto->set_etag(EtagOf(plan.version));
}

void ToProto(const PlanRevision& revision, v1::PlanRevision* proto) {
  proto->set_revision(revision.revision);
  ItemsToProto(revision.items, proto->mutable_items());
  proto->set_reason(revision.reason);
  proto->set_revised_by(revision.revised_by);
  ToProto(revision.revise_time, proto->mutable_revise_time());
}

OutputRecord FromProto(const v1::OutputRecord& proto) {
  OutputRecord o;
  o.line_id = proto.line_id();
  o.shift_id = proto.shift_id();
  o.product_id = proto.product_id();
  o.packaged = proto.packaged();
  o.marked = proto.marked();
  o.scrapped = proto.scrapped();
  o.scrap_reason = proto.scrap_reason();
  return o;
}

void ToProto(const OutputRecord& output, v1::OutputRecord* proto) {
  proto->set_id(absl::StrCat(output.id));
  proto->set_line_id(output.line_id);
  proto->set_shift_id(output.shift_id);
  proto->set_product_id(output.product_id);
  proto->set_packaged(output.packaged);
  proto->set_marked(output.marked);
  proto->set_scrapped(output.scrapped);
  proto->set_scrap_reason(output.scrap_reason);
  proto->set_recorded_by(output.recorded_by);
  ToProto(output.record_time, proto->mutable_record_time());
}

DowntimeEntry FromProto(const v1::DowntimeEntry& proto) {
  DowntimeEntry d;
  d.line_id = proto.line_id();
  d.shift_id = proto.shift_id();
  d.reason_code = proto.reason_code();
  d.duration_minutes = proto.duration_minutes();
  d.comment = proto.comment();
  return d;
}

void ToProto(const DowntimeEntry& entry, v1::DowntimeEntry* proto) {
  proto->set_id(absl::StrCat(entry.id));
  proto->set_line_id(entry.line_id);
  proto->set_shift_id(entry.shift_id);
  proto->set_reason_code(entry.reason_code);
  proto->set_duration_minutes(entry.duration_minutes);
  proto->set_comment(entry.comment);
  proto->set_recorded_by(entry.recorded_by);
  ToProto(entry.record_time, proto->mutable_record_time());
}

runtime::OutboxEvent PlanEvent(const PlanChange& change, PlanTransition transition,
                               absl::Time when) {
  v1::PlanningEvent event;
  const bool published = transition == PlanTransition::kPublish;
  event.set_type(published ? v1::PLANNING_EVENT_TYPE_PLAN_PUBLISHED
                           : v1::PLANNING_EVENT_TYPE_PLAN_STATUS_CHANGED);
  event.set_actor(change.after.updated_by);
  ToProto(when, event.mutable_event_time());
  ToProto(change.after, event.mutable_plan());
  return Event(std::move(event), published ? "PLAN_PUBLISHED" : "PLAN_STATUS_CHANGED");
}

runtime::OutboxEvent PlanRevisedEvent(const PlanChange& change, absl::Time when) {
  v1::PlanningEvent event;
  event.set_type(v1::PLANNING_EVENT_TYPE_PLAN_REVISED);
  event.set_actor(change.after.updated_by);
  ToProto(when, event.mutable_event_time());
  ToProto(change.after, event.mutable_plan());
  return Event(std::move(event), "PLAN_REVISED");
}

runtime::OutboxEvent OutputEvent(const OutputRecord& output) {
  v1::PlanningEvent event;
  event.set_type(v1::PLANNING_EVENT_TYPE_OUTPUT_RECORDED);
  event.set_actor(output.recorded_by);
  ToProto(output.record_time, event.mutable_event_time());
  ToProto(output, event.mutable_output());
  return Event(std::move(event), "OUTPUT_RECORDED");
}

runtime::OutboxEvent DowntimeEvent(const DowntimeEntry& entry) {
  v1::PlanningEvent event;
  event.set_type(v1::PLANNING_EVENT_TYPE_DOWNTIME_RECORDED);
  event.set_actor(entry.recorded_by);
  ToProto(entry.record_time, event.mutable_event_time());
  ToProto(entry, event.mutable_downtime());
  return Event(std::move(event), "DOWNTIME_RECORDED");
}

}  // namespace plantmesh::planning
