// protobuf ↔ domain for the planning service (plantmesh.planning.v1), and the outbox
// events it writes.
#pragma once

#include <vector>

#include "plantmesh/planning/v1/planning.pb.h"
#include "server/planning/calendar.h"
#include "server/planning/domain.h"
#include "server/runtime/outbox_event.h"

namespace plantmesh::planning {

// The Redis stream the outbox relay feeds.
inline constexpr char kEventStreamKey[] = "plantmesh:planning:events";

Line FromProto(const v1::Line& proto);
void ToProto(const Line& line, v1::Line* proto);
Product FromProto(const v1::Product& proto);
void ToProto(const Product& product, v1::Product* proto);
Crew FromProto(const v1::Crew& proto);
void ToProto(const Crew& crew, v1::Crew* proto);
ShiftPatternInput FromProto(const v1::ShiftPattern& proto);
void ToProto(const ShiftPattern& pattern, v1::ShiftPattern* proto);
void ToProto(const Holiday& holiday, v1::Holiday* proto);
MaintenanceWindow FromProto(const v1::MaintenanceWindow& proto);
void ToProto(const MaintenanceWindow& window, v1::MaintenanceWindow* proto);
// `planned` is the shift's planned production time.
void ToProto(const ShiftInstance& shift, absl::Duration planned, v1::Shift* proto);
std::vector<PlanItem> FromProto(const google::protobuf::RepeatedPtrField<v1::PlanItem>& items);
void ToProto(const Plan& plan, v1::ProductionPlan* proto);
void ToProto(const PlanRevision& revision, v1::PlanRevision* proto);
OutputRecord FromProto(const v1::OutputRecord& proto);
void ToProto(const OutputRecord& output, v1::OutputRecord* proto);
DowntimeEntry FromProto(const v1::DowntimeEntry& proto);
void ToProto(const DowntimeEntry& entry, v1::DowntimeEntry* proto);

absl::Time FromProto(const google::protobuf::Timestamp& proto);
void ToProto(absl::Time time, google::protobuf::Timestamp* proto);

// The events of the planning stream (a serialized v1::PlanningEvent with a new UUID).
runtime::OutboxEvent PlanEvent(const PlanChange& change, PlanTransition transition,
                               absl::Time when);
runtime::OutboxEvent PlanRevisedEvent(const PlanChange& change, absl::Time when);
runtime::OutboxEvent OutputEvent(const OutputRecord& output);
runtime::OutboxEvent DowntimeEvent(const DowntimeEntry& entry);

}  // namespace plantmesh::planning
