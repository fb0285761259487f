#include "server/telemetry/convert.h"

#include "absl/strings/str_cat.h"
#include "plantmesh/common/uuid.h"
#include "server/runtime/errors.h"
#include "server/runtime/proto_time.h"
#include "server/runtime/text_rules.h"

namespace plantmesh::telemetry {
Machine MachineFromProto(const v1::Machine& proto, std::vector<bool>* type_known) {
  Machine m;
  m.id = proto.id();
  m.display_name = proto.display_name();
  m.line = proto.line();
  m.zone = proto.zone();
  if (proto.has_ideal_cycle_time()) {
    m.ideal_cycle_time = absl::Seconds(proto.ideal_cycle_time().seconds()) +
                         absl::Nanoseconds(proto.ideal_cycle_time().nanos());
  }
  for (const v1::DataItem& item : proto.data_items()) {
    DataItem d;
    d.id = item.id();
    d.name = item.name();
    d.category = v1::DataItemCategory_IsValid(item.category())
                     ? static_cast<Category>(item.category())
                     : Category::kUnspecified;
    d.type = item.type();
    d.units = item.units();
    d.native_units = item.native_units();
    if (type_known != nullptr) type_known->push_back(v1::DataItemType_IsValid(item.type()));
    m.data_items.push_back(std::move(d));
  }
  return m;
}

void ToProto(const Machine& m, v1::Machine* proto) {
  proto->Clear();
  proto->set_id(m.id);
  proto->set_display_name(m.display_name);
  proto->set_line(m.line);
  proto->set_zone(m.zone);
  if (m.ideal_cycle_time) {
    const int64_t micros = absl::ToInt64Microseconds(*m.ideal_cycle_time);
    proto->mutable_ideal_cycle_time()->set_seconds(micros / 1000000);
    proto->mutable_ideal_cycle_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  }
  for (const DataItem& d : m.data_items) {
    v1::DataItem* item = proto->add_data_items();
    item->set_id(d.id);
    item->set_name(d.name);
    item->set_category(static_cast<v1::DataItemCategory>(d.category));
    item->set_type(static_cast<v1::DataItemType>(d.type));
    item->set_units(d.units);
    item->set_native_units(d.native_units);
  }
  runtime::TimeToProto(m.create_time, proto->mutable_create_time());
  runtime::TimeToProto(m.update_time, proto->mutable_update_time());
  proto->set_etag(m.etag());
}

Sample SampleFromProto(const v1::Sample& proto) {
  Sample s;
  s.machine_id = proto.machine_id();
  s.data_item_id = proto.data_item_id();
  if (proto.has_time()) {
    if (std::optional<std::string> violation =
            runtime::TimestampViolation(proto.time().seconds(), proto.time().nanos())) {
      s.time_malformed = true;  // judged per sample (JudgeSample), never stored shifted
      s.time_violation = *std::move(violation);
    } else {
      s.time = runtime::TimeFromProto(proto.time());  // to the microsecond, as stored
    }
  }
  switch (proto.value_case()) {
    case v1::Sample::kNumber:
      s.kind = ValueKind::kNumber;
      // -0.0 is 0 (outside testing: a PART_COUNT of -0.0 was served back as -0.0).
      s.number = proto.number() == 0 ? 0.0 : proto.number();
      break;
    case v1::Sample::kText:
      s.kind = ValueKind::kText;
      s.text = proto.text();
      break;
    case v1::Sample::kCondition:
      s.kind = ValueKind::kCondition;
      s.condition_level = proto.condition().level();
      s.native_code = proto.condition().native_code();
      s.message = proto.condition().message();
      break;
    case v1::Sample::kUnavailable:
      s.kind = ValueKind::kUnavailable;
      break;
    case v1::Sample::kWritten:
      s.kind = ValueKind::kWritten;  // read by the item's category when judged
      s.text = proto.written();
      break;
    default:
      s.kind = ValueKind::kNone;
  }
  s.source_sequence = proto.source_sequence();
  return s;
}

void ToProto(const Sample& s, v1::Sample* proto) {
  proto->set_machine_id(s.machine_id);
  proto->set_data_item_id(s.data_item_id);
  if (s.time) runtime::TimeToProto(*s.time, proto->mutable_time());
  switch (s.kind) {
    case ValueKind::kNumber:
      proto->set_number(s.number);
      break;
    case ValueKind::kText:
      proto->set_text(s.text);
      break;
    case ValueKind::kCondition: {
      v1::ConditionValue* c = proto->mutable_condition();
      c->set_level(static_cast<v1::ConditionLevel>(s.condition_level));
      c->set_native_code(s.native_code);
      c->set_message(s.message);
      break;
    }
    case ValueKind::kUnavailable:
      proto->mutable_unavailable();
      break;
    default:
      break;
  }
  proto->set_source_sequence(s.source_sequence);
}

void ToProto(const Batch& batch, const BatchOutcome& outcome, size_t max_bytes,
             v1::IngestSamplesResponse* proto) {
  proto->set_batch_sequence(batch.batch_sequence);
  // A duplicate's rejections are those its first commit recorded: those samples stay
  // rejected, the rest were stored then.
  const std::vector<Rejection>& rejected = outcome.verdict.rejected;
  if (outcome.duplicate) {
    proto->set_duplicate_count(static_cast<int32_t>(batch.samples.size() - rejected.size()));
  } else {
    proto->set_accepted_count(static_cast<int32_t>(outcome.verdict.accepted.size()));
    proto->set_late_state_count(outcome.late_state_count);
  }
  proto->set_rejected_count(static_cast<int32_t>(rejected.size()));
  // Room for the counts and the batch sequence; the rest is the rejections'.
  constexpr size_t kHeaderBytes = 64;
  size_t messages = 0;
  for (const Rejection& r : rejected) messages += r.message.size();
  const size_t frames = rejected.size() * kRejectionFrameBytes + kHeaderBytes;
  const size_t share = rejected.empty() || frames + messages <= max_bytes
                           ? SIZE_MAX
                           : (max_bytes > frames ? (max_bytes - frames) / rejected.size() : 0);
  for (const Rejection& r : rejected) {
    v1::RejectedSample* out = proto->add_rejected_samples();
    out->set_index(r.index);
    out->set_reason(static_cast<v1::RejectReason>(r.reason));
    out->set_message(share == SIZE_MAX ? r.message : runtime::CutToBytes(r.message, share));
  }
}

runtime::OutboxEvent BatchEvent(const Batch& batch, const std::vector<int>& accepted) {
  v1::IngestSamplesRequest event;
  event.set_writer_id(batch.writer_id);
  event.set_batch_sequence(batch.batch_sequence);
  for (int i : accepted) ToProto(batch.samples[static_cast<size_t>(i)], event.add_samples());
  return runtime::OutboxEvent{common::NewUuidV4(), "plantmesh.telemetry.v1.IngestSamplesRequest",
                              event.SerializeAsString()};
}

void ToProto(const IngestWriterRecord& writer, v1::IngestWriter* proto) {
  proto->set_writer_id(writer.writer_id);
  proto->set_last_batch_sequence(writer.last_batch_sequence);
  if (writer.last_commit_time) {
    runtime::TimeToProto(*writer.last_commit_time, proto->mutable_last_commit_time());
  }
  proto->set_owner(writer.owner);
  proto->set_fenced_through(writer.fenced_through);
}

void ToProto(const Downtime& d, v1::Downtime* proto) {
  proto->Clear();
  proto->set_id(absl::StrCat(d.id));
  proto->set_machine_id(d.machine_id);
  proto->set_state(static_cast<v1::MachineState>(d.state));
  runtime::TimeToProto(d.start, proto->mutable_start_time());
  if (d.end) runtime::TimeToProto(*d.end, proto->mutable_end_time());
  proto->set_reason_code(d.reason_code);
  proto->set_comment(d.comment);
  proto->set_reason_set_by(d.reason_set_by);
  if (d.reason_set_time) runtime::TimeToProto(*d.reason_set_time, proto->mutable_reason_set_time());
}

runtime::OutboxEvent DowntimeOutboxEvent(const Downtime& downtime, int change_type,
                                         absl::Time change_time) {
  v1::DowntimeEvent event;
  event.set_change_type(static_cast<v1::DowntimeChangeType>(change_type));
  ToProto(downtime, event.mutable_downtime());
  runtime::TimeToProto(change_time, event.mutable_change_time());
  return runtime::OutboxEvent{common::NewUuidV4(),
                              absl::StrCat("plantmesh.telemetry.v1.DowntimeEvent/",
                                           v1::DowntimeChangeType_Name(event.change_type())),
                              event.SerializeAsString()};
}

}  // namespace plantmesh::telemetry
