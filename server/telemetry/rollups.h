// The rollups QueryAggregates reads (aggregates.h): which levels the store keeps and how
// a query plans over them in the store's snapshot. Free of SQL: the store keeps the
// levels (pg_store_rollups.cc; why by a job: migration
// 0005_rollups_by_job.sql).
#pragma once

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/telemetry/aggregates.h"

namespace plantmesh::telemetry {

// The levels kept: per minute and per hour, each complete for the cells that end at or
// before `complete_before` (where the rollup job has not been yet, a query reads raw rows).
std::vector<RollupLevel> StoredRollupLevels(absl::Time complete_before);

// One part of a query's answer: the aggregate of the samples of one bucket that one
// span of the plan holds (merged into the answer with BucketMerger::AddPart).
struct BucketPart {
  absl::Time bucket_start;
  Aggregate aggregate;
};

// A query's plan, made by the store's caller from the levels the store reports in its
// snapshot (PlanAggregateQuery bound to the request), and the parts read for it.
using AggregatePlanner =
    std::function<absl::StatusOr<AggregatePlan>(const std::vector<RollupLevel>& levels)>;
struct PlannedParts {
  AggregatePlan plan;
  std::vector<BucketPart> parts;
};

}  // namespace plantmesh::telemetry
