#include "server/planning/forecast/accuracy.h"

#include <algorithm>
#include <cmath>

namespace plantmesh::planning::forecast {

void AccuracyAccumulator::Add(double actual, double forecast) {
  const double error = std::fabs(actual - forecast);
  const double scale = std::fabs(actual) + std::fabs(forecast);
  if (scale > 0.0) smape_sum_ += 200.0 * error / scale;
  if (actual != 0.0) {
    ape_sum_ += 100.0 * error / std::fabs(actual);
  } else {
    ++zero_actuals_;
  }
  ++points_;
}

ForecastAccuracy AccuracyAccumulator::Result() const {
  ForecastAccuracy result;
  result.points = points_;
  result.zero_actuals = zero_actuals_;
  // Each point's term is at most 200; their mean can round above it.
  if (points_ > 0) result.smape_percent = std::min(200.0, smape_sum_ / points_);
  const int mape_points = points_ - zero_actuals_;
  if (mape_points > 0) result.mape_percent = ape_sum_ / mape_points;
  return result;
}

}  // namespace plantmesh::planning::forecast
