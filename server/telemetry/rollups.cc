#include "server/telemetry/rollups.h"

#include <map>
#include <tuple>
#include <utility>

namespace plantmesh::telemetry {

std::vector<RollupLevel> StoredRollupLevels() {
  return {RollupLevel{absl::Minutes(1), absl::InfiniteFuture()},
          RollupLevel{absl::Hours(1), absl::InfiniteFuture()}};
}

std::vector<RollupCell> RollupCells(const std::vector<Sample>& samples,
                                    const std::vector<int>& accepted, absl::Duration width) {
  std::map<std::tuple<std::string, std::string, absl::Time>, Aggregate> cells;
  for (int i : accepted) {
    const Sample& s = samples[static_cast<size_t>(i)];
    if (s.kind != ValueKind::kNumber || !s.time) continue;
    const absl::Time time = absl::FromUnixMicros(absl::ToUnixMicros(*s.time));
    cells[{s.machine_id, s.data_item_id, BucketStart(time, width)}].Add(time, s.number);
  }
  std::vector<RollupCell> out;
  out.reserve(cells.size());
  for (auto& [key, aggregate] : cells) {
    if (aggregate.empty()) continue;  // only non-finite numbers (refused before)
    out.push_back(RollupCell{std::get<0>(key), std::get<1>(key), std::get<2>(key), aggregate});
  }
  return out;
}

}  // namespace plantmesh::telemetry
