// TelemetryService.QueryAggregates: the domain's plan over the store's rollups
// (aggregate_query.h), converted to the contract.
#include <map>

#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/runtime/proto_time.h"
#include "server/telemetry/aggregate_query.h"
#include "server/telemetry/service.h"

namespace plantmesh::telemetry {
absl::Status TelemetryServiceImpl::HandleQueryAggregates(runtime::CallContext& call,
                                                         const v1::QueryAggregatesRequest& request,
                                                         v1::QueryAggregatesResponse* response) {
  // Every wrong field in one answer (outside testing: a bad data item id hid the range's
  // faults, bucket_width's the times').
  runtime::Violations v;
  if (request.machine_id().empty()) v.Add("machine_id", "required");
  if (request.data_item_id().empty()) {
    v.Add("data_item_id", "required");
  } else if (std::string problem = DataItemIdProblem(request.data_item_id()); !problem.empty()) {
    v.Add("data_item_id", problem);
  }
  if (!request.has_start_time()) v.Add("start_time", "required");
  if (!request.has_end_time()) v.Add("end_time", "required");
  if (request.has_start_time() && request.has_end_time()) {
    PM_RETURN_IF_ERROR(v.Take(CheckAggregateRange(
        runtime::TimeFromProto(request.start_time()), runtime::TimeFromProto(request.end_time()),
        static_cast<BucketWidth>(request.bucket_width()))));
  }
  PM_RETURN_IF_ERROR(v.ToStatus());
  using Buckets = std::map<absl::Time, Aggregate>;
  PM_ASSIGN_OR_RETURN(Buckets buckets,
                      AggregateBuckets(*store_, request.machine_id(), request.data_item_id(),
                                       runtime::TimeFromProto(request.start_time()),
                                       runtime::TimeFromProto(request.end_time()),
                                       static_cast<BucketWidth>(request.bucket_width())));
  // After the arguments were judged (in AggregateBuckets): bad input is named first.
  PM_RETURN_IF_ERROR(RequireMachinesAndDataItems({request.machine_id()}, {request.data_item_id()},
                                                 ItemsNamed::kRegisteredOrRetired));
  for (const auto& [start, aggregate] : buckets) {
    v1::Aggregate* out = response->add_aggregates();
    runtime::TimeToProto(start, out->mutable_bucket_start());
    out->set_count(aggregate.count);
    out->set_min(aggregate.min);
    out->set_max(aggregate.max);
    out->set_avg(aggregate.avg());
    out->set_first(aggregate.first);
    out->set_last(aggregate.last);
    out->set_sum(aggregate.sum);
  }
  return absl::OkStatus();
}

}  // namespace plantmesh::telemetry
