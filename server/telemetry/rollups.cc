#include "server/telemetry/rollups.h"

namespace plantmesh::telemetry {

std::vector<RollupLevel> StoredRollupLevels(absl::Time complete_before) {
  return {RollupLevel{absl::Minutes(1), complete_before},
          RollupLevel{absl::Hours(1), complete_before}};
}

}  // namespace plantmesh::telemetry
