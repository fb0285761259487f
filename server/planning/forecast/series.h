// Daily demand history of one product as a dense series, one value per calendar day.
//
// Gaps: a day between the first and the last record that has no record is filled by
// `GapFill`. The default, kZero, reads a missing day as "nothing was demanded" (the
// import writes one record per product and day with demand, so absence means none);
// kSameWeekdayLastWeek copies the value seven days earlier (zero in the first week),
// for feeds known to drop days. Days before the first or after the last record are not
// part of the series: the forecast starts the day after the last record.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/types/span.h"

namespace plantmesh::planning::forecast {

// One record of the history: demand (in the product's unit, ≥ 0) on one calendar day
// in the plant's time zone.
struct DemandObservation {
  absl::CivilDay day;
  double quantity = 0.0;
};

enum class GapFill { kZero, kSameWeekdayLastWeek };

// Longest history accepted, in days (ten years).
inline constexpr int kMaxHistoryDays = 3653;

struct DailySeries {
  absl::CivilDay first_day;
  std::vector<double> quantity;  // quantity[i] is the demand on first_day + i
  int filled_days = 0;           // days that had no record and were filled

  absl::CivilDay last_day() const {
    return first_day + static_cast<absl::civil_diff_t>(quantity.size()) - 1;
  }
};

// Builds the dense series from records in any order. INVALID_ARGUMENT naming the field,
// e.g. "history[3].quantity", for a negative or non-finite quantity, a day given twice,
// an empty history, or one spanning more than kMaxHistoryDays.
absl::StatusOr<DailySeries> BuildDailySeries(absl::Span<const DemandObservation> history,
                                             GapFill gap_fill = GapFill::kZero);

}  // namespace plantmesh::planning::forecast
