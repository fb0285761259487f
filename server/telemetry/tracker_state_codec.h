// TrackerState (machine_state.h) as compact JSON text, for the store to persist between
// ingest batches, and back.
//
// Shape (version 1), times as RFC 3339 UTC with full precision or "infinite-past":
//   {"v":1,"execution":[state,time],"availability":[n,time],"emergency_stop":[n,time],
//    "conditions":{"<item>":[time,["<code>",…],overflow]},"last_time":time,
//    "settled":[state,since],"downtime":[state,start],"withdrawals":[[input,"<item>",time],…],
//    "held":[[input,"<item>",time,value(,ahead_time)],…]}
//   ("downtime" only while one lasts, "withdrawals" only while some are recorded, "held"
//   only while observations wait; a value is ["t",text], ["n",number], ["c",level,code]
//   or ["u"])
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/telemetry/machine_state.h"

namespace plantmesh::telemetry {

std::string EncodeTrackerState(const TrackerState& state);

// Errors: INVALID_ARGUMENT naming the part that is wrong, for text that is not JSON, of
// another version or shape, or with values out of range. Decode(Encode(s)) == s.
absl::StatusOr<TrackerState> DecodeTrackerState(absl::string_view text);

}  // namespace plantmesh::telemetry
