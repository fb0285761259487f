#include "server/telemetry/aggregate_query.h"

#include <vector>

#include "plantmesh/common/status_macros.h"

namespace plantmesh::telemetry {

absl::StatusOr<std::map<absl::Time, Aggregate>> AggregateBuckets(
    TelemetryStore& store, const std::string& machine_id, const std::string& data_item_id,
    absl::Time start_time, absl::Time end_time, BucketWidth width) {
  PM_ASSIGN_OR_RETURN(AggregatePlan plan,
                      PlanAggregateQuery(start_time, end_time, width, store.RollupLevels()));
  PM_ASSIGN_OR_RETURN(std::vector<BucketPart> parts,
                      store.AggregateParts(machine_id, data_item_id, plan));
  BucketMerger merger(plan);
  for (const BucketPart& part : parts) merger.AddPart(part.bucket_start, part.aggregate);
  return merger.buckets();
}

}  // namespace plantmesh::telemetry
