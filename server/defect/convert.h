// Conversions between the contract's messages (plantmesh.defect.v1) and the domain.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "plantmesh/defect/v1/defect.pb.h"
#include "plantmesh/defect/v1/defect_service.pb.h"
#include "plantmesh/defect/v1/resources.pb.h"
#include "server/defect/domain.h"
#include "server/runtime/outbox_event.h"

namespace plantmesh::defect {

namespace pb = ::plantmesh::defect::v1;

void ToProto(absl::Time time, google::protobuf::Timestamp* out);
// A Timestamp with nanos outside 0..999999999 has no meaning: it becomes
// absl::InfiniteFuture(), which MakeListQuery rejects as out of range.
absl::Time FromProto(const google::protobuf::Timestamp& timestamp);

void ToProto(const Defect& defect, pb::Defect* out);
void ToProto(const Photo& photo, pb::Photo* out);
void ToProto(const HistoryEntry& entry, pb::HistoryEntry* out);
void ToProto(const RepairPlace& place, pb::RepairPlace* out);
void ToProto(const Crew& crew, pb::Crew* out);
void ToProto(const Mechanic& mechanic, pb::Mechanic* out);
void ToProto(const DefectCategory& category, pb::DefectCategory* out);

// The event delivered to watchers after a change (cursor left empty: the stream sets it).
// `before` is the defect before the change (nullptr for a report): its zone becomes
// previous_zone when the change moved the defect to another zone.
pb::DefectEvent MakeEvent(const std::string& event_id, ChangeType change_type, const Defect* before,
                          const Defect& after, const std::string& actor, absl::Time time);

// The outbox event of a change (EventEncoder, store.h): MakeEvent with a new event id,
// serialized.
runtime::OutboxEvent DefectOutboxEvent(ChangeType change_type, const Defect* before,
                                       const Defect& after, const std::string& actor,
                                       absl::Time time);

// The writable fields of a defect.
NewDefectInput NewDefectInputFromProto(const pb::Defect& defect);

RepairPlace FromProto(const pb::RepairPlace& place);
Crew FromProto(const pb::Crew& crew);
Mechanic FromProto(const pb::Mechanic& mechanic);
DefectCategory FromProto(const pb::DefectCategory& category);
PhotoUploadInput FromProto(const pb::PhotoUpload& upload);
ListRequestInput FromProto(const pb::ListDefectsRequest& request);

}  // namespace plantmesh::defect
