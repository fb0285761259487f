// Conversions between the contract's messages (plantmesh.telemetry.v1) and the domain.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "plantmesh/telemetry/v1/telemetry.pb.h"
#include "plantmesh/telemetry/v1/telemetry_service.pb.h"
#include "server/runtime/outbox_event.h"
#include "server/telemetry/domain.h"
#include "server/telemetry/store.h"

namespace plantmesh::telemetry {

// The machine of a request (output-only fields ignored). `type_known` receives, per
// data item, whether its type number is one the contract names.
Machine MachineFromProto(const v1::Machine& proto, std::vector<bool>* type_known);
void ToProto(const Machine& machine, v1::Machine* proto);

Sample SampleFromProto(const v1::Sample& proto);
void ToProto(const Sample& sample, v1::Sample* proto);

// The answer to a committed (or duplicate) batch, within `max_bytes` (the server's send
// limit): when its rejections' messages would not fit, each is cut to an equal share
// (on a character boundary, ending in "…"; indexes and reasons stay whole). Outside
// testing: 9,999 rejections quoting a 64-character value made a 4.9 MB answer, and the
// committed batch was answered RESOURCE_EXHAUSTED. A send limit of kMinIngestAnswerBytes
// holds the answer to any batch with every message cut away (telemetry.CheckConfig).
void ToProto(const Batch& batch, const BatchOutcome& outcome, size_t max_bytes,
             v1::IngestSamplesResponse* proto);
// Per rejected sample without its message: index, reason and framing, at most.
inline constexpr size_t kRejectionFrameBytes = 16;
inline constexpr size_t kMinIngestAnswerBytes = kMaxSamplesPerBatch * kRejectionFrameBytes + 1024;

// The outbox event of a committed batch: an IngestSamplesRequest holding the batch's
// writer, sequence and accepted samples (what the live tail will fan out).
runtime::OutboxEvent BatchEvent(const Batch& batch, const std::vector<int>& accepted);

// ---- Machine states ----

void ToProto(const Downtime& downtime, v1::Downtime* proto);
void ToProto(const IngestWriterRecord& writer, v1::IngestWriter* proto);
// The outbox event of a downtime change: a DowntimeEvent. `change_type`:
// DowntimeChangeType's number (DowntimeChange's, or kDowntimeReasonSet).
runtime::OutboxEvent DowntimeOutboxEvent(const Downtime& downtime, int change_type,
                                         absl::Time change_time);

}  // namespace plantmesh::telemetry
