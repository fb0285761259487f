// Holt-Winters exponential smoothing with an additive, optionally damped trend and an
// additive or multiplicative season of period m (7 for daily demand), in the
// error-correction form of Hyndman & Athanasopoulos, "Forecasting: Principles and
// Practice", 2nd ed., section 7.3, which is also what statsmodels'
// ExponentialSmoothing (0.13) computes. For observation y_t, with ŝ = s_{t-m}:
//
//   additive season:        l_t = α (y_t − ŝ) + (1 − α)(l_{t−1} + φ b_{t−1})
//                           s_t = γ (y_t − l_{t−1} − φ b_{t−1}) + (1 − γ) ŝ
//   multiplicative season:  l_t = α y_t / ŝ   + (1 − α)(l_{t−1} + φ b_{t−1})
//                           s_t = γ y_t / (l_{t−1} + φ b_{t−1}) + (1 − γ) ŝ
//   both:                   b_t = β (l_t − l_{t−1}) + (1 − β) φ b_{t−1}
//
// One-step prediction ŷ_t = (l_{t−1} + φ b_{t−1}) + ŝ (or × ŝ); the h-step forecast
// from the end n is (l_n + (φ + φ² + … + φ^h) b_n) + s_{n+h−m(k+1)} (or ×), k = ⌊(h−1)/m⌋.
// Without damping φ = 1. (statsmodels 0.13.5 takes s_{n−m} instead of s_n at h = m, 2m, …,
// its bug #9538; testdata/make_statsmodels_reference.py records both.)
//
// Everything here is pure arithmetic on doubles; nothing allocates in the recursion.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace plantmesh::planning::forecast {

// Days in the weekly season of daily demand.
inline constexpr int kWeeklySeason = 7;

enum class Seasonality { kAdditive, kMultiplicative };

// Which Holt-Winters variant: the season's kind, and whether the trend is damped.
struct HoltWintersModel {
  Seasonality seasonality = Seasonality::kAdditive;
  bool damped = false;
  int period = kWeeklySeason;  // m, ≥ 2
};

// The smoothing parameters in statsmodels' (and fpp2's) convention: each in [0, 1];
// phi in (0, 1], and exactly 1 for an undamped model.
struct SmoothingParameters {
  double alpha = 0.0;  // level
  double beta = 0.0;   // trend
  double gamma = 0.0;  // season
  double phi = 1.0;    // damping
};

// The components at one time t (after observing y_t).
struct HoltWintersState {
  double level = 0.0;
  double trend = 0.0;  // additive: units per day
  // The m seasonal components in the order they will next be used: seasons[0] applies
  // to y_{t+1}, seasons[m-1] to y_{t+m}. At t = 0 (before any data) this is the
  // order of statsmodels' `initial_seasonal`.
  std::vector<double> seasons;
};

// The result of running the recursions over a series.
struct Smoothed {
  // ŷ_t for each observation, when asked for; else empty.
  std::vector<double> fitted;
  // Σ (y_t − ŷ_t)²; +infinity when the recursions left the admissible region (a
  // non-finite value, or for a multiplicative season a non-positive level+trend or
  // seasonal factor), which the optimiser treats as "not here".
  double sse = 0.0;
  HoltWintersState final_state;
  // States after observations origins[i] − 1 (so the state from which y_{origins[i]}
  // onward is forecast), for each origin asked for, in the same order.
  std::vector<HoltWintersState> states_at_origins;
};

// Runs the recursions from `initial` over `y`. `origins` must be ascending, each in
// [0, y.size()]. With `keep_fitted` false nothing is allocated per observation.
Smoothed Smooth(const HoltWintersModel& model, const SmoothingParameters& params,
                const HoltWintersState& initial, absl::Span<const double> y, bool keep_fitted,
                absl::Span<const int> origins = {});

// Point forecasts for h = 1 … horizon from `state` (the formula above).
std::vector<double> PointForecast(const HoltWintersModel& model, const SmoothingParameters& params,
                                  const HoltWintersState& state, int horizon);

// Observations the initial-state heuristic needs: two seasons, and 10 seasonally
// adjusted values after the centred moving average loses ⌊m/2⌋ at each end.
int MinimumObservationsForHeuristic(int period);

// Initial level, trend and seasons from the start of `y` by statsmodels' "heuristic"
// initialisation (Hyndman et al. 2008, section 2.6.1): a centred moving average of
// order m (2×m for even m) over the first min(5, n/m) seasons (at least enough for 10
// adjusted values) gives the trend-cycle; the seasons are the per-position means of y
// minus (or over) it, normalised to sum 0 (or mean 1); level and trend are the
// intercept and slope of a least-squares line through the first 10 trend-cycle values.
// INVALID_ARGUMENT when y is shorter than MinimumObservationsForHeuristic, or, for a
// multiplicative season, when the trend-cycle is not strictly positive.
absl::StatusOr<HoltWintersState> HeuristicInitialState(const HoltWintersModel& model,
                                                       absl::Span<const double> y);

}  // namespace plantmesh::planning::forecast
