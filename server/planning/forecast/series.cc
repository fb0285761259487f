#include "server/planning/forecast/series.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning::forecast {
namespace {

std::string Field(size_t index, const char* name) {
  return absl::StrCat("history[", index, "].", name);
}

}  // namespace

absl::StatusOr<DailySeries> BuildDailySeries(absl::Span<const DemandObservation> history,
                                             GapFill gap_fill) {
  if (history.empty()) return runtime::InvalidField("history", "has no days");
  for (size_t i = 0; i < history.size(); ++i) {
    const double quantity = history[i].quantity;
    if (!std::isfinite(quantity)) {
      return runtime::InvalidField(Field(i, "quantity"), "must be a finite number");
    }
    if (quantity < 0.0) {
      return runtime::InvalidField(Field(i, "quantity"),
                                   absl::StrCat("must not be negative, got ", quantity));
    }
  }
  // Sort positions, not records, so errors can name the caller's index.
  std::vector<size_t> order(history.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return history[a].day < history[b].day; });
  for (size_t k = 1; k < order.size(); ++k) {
    if (history[order[k]].day == history[order[k - 1]].day) {
      return runtime::InvalidField(
          Field(order[k], "day"),
          absl::StrFormat("repeats %s (also history[%d])",
                          absl::FormatCivilTime(history[order[k]].day), order[k - 1]));
    }
  }
  const absl::CivilDay first = history[order.front()].day;
  const absl::CivilDay last = history[order.back()].day;
  const absl::civil_diff_t span = last - first + 1;
  if (span > kMaxHistoryDays) {
    return runtime::InvalidField(
        "history", absl::StrCat("spans ", span, " days; at most ", kMaxHistoryDays, " are used"));
  }

  DailySeries series;
  series.first_day = first;
  series.quantity.assign(static_cast<size_t>(span), 0.0);
  std::vector<bool> present(static_cast<size_t>(span), false);
  for (const DemandObservation& observation : history) {
    const auto index = static_cast<size_t>(observation.day - first);
    series.quantity[index] = observation.quantity;
    present[index] = true;
  }
  for (size_t i = 0; i < present.size(); ++i) {
    if (present[i]) continue;
    ++series.filled_days;
    if (gap_fill == GapFill::kSameWeekdayLastWeek && i >= 7) {
      series.quantity[i] = series.quantity[i - 7];
    }
  }
  return series;
}

}  // namespace plantmesh::planning::forecast
