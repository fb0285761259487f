// The rollups QueryAggregates reads (aggregates.h): which levels the store keeps, and
// the partial aggregates one committed batch adds to them. Free of SQL: the store
// upserts what RollupCells returns in the batch's own transaction (pg_store.cc, section
// "Rollups and aggregates"), so a rollup holds exactly the committed samples — a re-sent
// batch is a duplicate before anything is written, and counts nothing twice.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/telemetry/aggregates.h"
#include "server/telemetry/domain.h"

namespace plantmesh::telemetry {

// The levels kept: per minute and per hour, both complete at every time (maintained
// in the ingest transaction, so complete_before is the infinite future).
std::vector<RollupLevel> StoredRollupLevels();

// One cell of a rollup level: the numeric samples of one data item in
// [cell_start, cell_start + width).
struct RollupCell {
  std::string machine_id;
  std::string data_item_id;
  absl::Time cell_start;
  Aggregate aggregate;
};

// The cells of `width` that the numeric samples among `accepted` (indexes into
// `samples`) fall in, one per (machine, data item, cell), ordered by those three (the
// order the store locks rows in, so concurrent batches cannot deadlock). Times are cut
// to microseconds first, as stored, so first/last ties break as they do in SQL.
std::vector<RollupCell> RollupCells(const std::vector<Sample>& samples,
                                    const std::vector<int>& accepted, absl::Duration width);

// One part of a query's answer: the aggregate of the samples of one bucket that one
// span of the plan holds (merged into the answer with BucketMerger::AddPart).
struct BucketPart {
  absl::Time bucket_start;
  Aggregate aggregate;
};

}  // namespace plantmesh::telemetry
