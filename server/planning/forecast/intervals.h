// Prediction intervals around point forecasts.
//
// - Holt-Winters with an additive season: the exact h-step variance of the linear
//   (class 1) model, Hyndman, Koehler, Ord & Snyder, "Forecasting with Exponential
//   Smoothing" (2008), section 6.3:  v_h = σ² [1 + Σ_{j=1}^{h−1} c_j²],
//   c_j = α + αβ (φ + … + φ^j) + γ·[j mod m = 0]   (αβ is the ETS trend gain of our β),
//   and the interval ŷ_h ± z·√v_h.
// - Holt-Winters with a multiplicative season has no closed form: the interval is the
//   empirical quantiles of `paths` simulated futures, each running the recursions on
//   y = ŷ + ε with ε ~ N(0, σ²) (the additive-error model the SSE fit assumes), from a
//   fixed seed so the same input gives the same interval.
// - Seasonal naive: v_h = σ² (k + 1), k = ⌊(h − 1)/m⌋ (fpp3, section 5.5), σ² the mean
//   squared seasonal difference y_t − y_{t−m}.
// σ² of a Holt-Winters fit is SSE / (n − number of smoothing parameters).
#pragma once

#include <cstdint>
#include <vector>

#include "server/planning/forecast/holt_winters.h"

namespace plantmesh::planning::forecast {

// The standard normal quantile Φ⁻¹(p) for p in (0, 1) (Acklam's rational approximation
// refined by one Halley step: about 1e-15 relative).
double NormalQuantile(double p);

struct Interval {
  std::vector<double> lower;
  std::vector<double> upper;
};

// Variances v_1 … v_horizon of an additive-season model.
std::vector<double> AdditiveForecastVariance(const HoltWintersModel& model,
                                             const SmoothingParameters& params, double sigma2,
                                             int horizon);

// Central `level` interval (e.g. 0.95) from normal variances around `point`.
Interval NormalInterval(const std::vector<double>& point, const std::vector<double>& variance,
                        double level);

// Central `level` interval of a multiplicative-season model by simulation from `state`.
Interval SimulatedInterval(const HoltWintersModel& model, const SmoothingParameters& params,
                           const HoltWintersState& state, double sigma2, int horizon, double level,
                           int paths, uint64_t seed);

// Seasonal naive variances for h = 1 … horizon.
std::vector<double> SeasonalNaiveVariance(double sigma2, int period, int horizon);

}  // namespace plantmesh::planning::forecast
