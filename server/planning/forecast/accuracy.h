// Forecast error measures of a backtest, in percent.
//
//   sMAPE = mean of 200·|a − f| / (|a| + |f|), in [0, 200]; a point with a = f = 0
//           counts as 0 (a perfect forecast of no demand).
//   MAPE  = mean of 100·|a − f| / |a| over the points with a ≠ 0: a day of zero demand
//           has no percentage error and is left out (and counted in zero_actuals);
//           when every actual is zero there is no MAPE.
//
// Model selection uses sMAPE, which is defined on every point, zeros included.
#pragma once

#include <optional>

namespace plantmesh::planning::forecast {

struct ForecastAccuracy {
  double smape_percent = 0.0;
  std::optional<double> mape_percent;  // absent when every actual was zero
  int points = 0;                      // forecast/actual pairs scored
  int zero_actuals = 0;                // of those, left out of MAPE
};

class AccuracyAccumulator {
 public:
  void Add(double actual, double forecast);
  // Zero points give sMAPE 0 and no MAPE.
  ForecastAccuracy Result() const;

 private:
  double smape_sum_ = 0.0;
  double ape_sum_ = 0.0;
  int points_ = 0;
  int zero_actuals_ = 0;
};

}  // namespace plantmesh::planning::forecast
