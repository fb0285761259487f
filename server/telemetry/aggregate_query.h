// QueryAggregates without gRPC: the domain's plan (aggregates.h) over the store's
// rollup levels, the store's parts of it, merged per bucket.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/telemetry/aggregates.h"
#include "server/telemetry/store.h"

namespace plantmesh::telemetry {

// The non-empty buckets of `width` of (machine_id, data_item_id)'s numeric samples in
// [start_time, end_time) (start rounded down to the bucket), by bucket start. Errors:
// PlanAggregateQuery's (INVALID_ARGUMENT naming the request field), the store's.
absl::StatusOr<std::map<absl::Time, Aggregate>> AggregateBuckets(
    TelemetryStore& store, const std::string& machine_id, const std::string& data_item_id,
    absl::Time start_time, absl::Time end_time, BucketWidth width);

}  // namespace plantmesh::telemetry
