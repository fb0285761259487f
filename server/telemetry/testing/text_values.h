// For tests of a tail's current values: what TelemetryStore::LatestValues answers for
// machines of `items` EVENT data items ("program000", ...) with 512-character texts.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "server/telemetry/domain.h"

namespace plantmesh::telemetry::testing {

inline std::vector<StoredSample> TextValuesOf(const std::vector<std::string>& machine_ids,
                                              int items) {
  std::vector<StoredSample> out;
  for (const std::string& machine_id : machine_ids) {
    for (int i = 0; i < items; ++i) {
      StoredSample value;
      value.sample.machine_id = machine_id;
      value.sample.data_item_id = absl::StrFormat("program%03d", i);
      value.sample.time = absl::FromUnixSeconds(1800000000);
      value.sample.kind = ValueKind::kText;
      value.sample.text = std::string(512, 'x');
      out.push_back(std::move(value));
    }
  }
  return out;
}

}  // namespace plantmesh::telemetry::testing
