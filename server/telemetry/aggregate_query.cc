#include "server/telemetry/aggregate_query.h"

#include <vector>

#include "plantmesh/common/status_macros.h"

namespace plantmesh::telemetry {

absl::StatusOr<std::map<absl::Time, Aggregate>> AggregateBuckets(
    TelemetryStore& store, const std::string& machine_id, const std::string& data_item_id,
    absl::Time start_time, absl::Time end_time, BucketWidth width) {
  PM_ASSIGN_OR_RETURN(
      PlannedParts planned,
      store.AggregateParts(machine_id, data_item_id, [&](const std::vector<RollupLevel>& levels) {
        return PlanAggregateQuery(start_time, end_time, width, levels);
      }));
  BucketMerger merger(planned.plan);
  for (const BucketPart& part : planned.parts) merger.AddPart(part.bucket_start, part.aggregate);
  return merger.buckets();
}

}  // namespace plantmesh::telemetry
