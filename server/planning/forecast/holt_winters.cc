#include "server/planning/forecast/holt_winters.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace plantmesh::planning::forecast {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Copies a ring of seasons (ring[i % m] is used by observation i) into "next first"
// order for a state after `observed` observations.
std::vector<double> Unroll(const std::vector<double>& ring, size_t observed) {
  const size_t m = ring.size();
  std::vector<double> seasons(m);
  for (size_t j = 0; j < m; ++j) seasons[j] = ring[(observed + j) % m];
  return seasons;
}

}  // namespace

Smoothed Smooth(const HoltWintersModel& model, const SmoothingParameters& params,
                const HoltWintersState& initial, absl::Span<const double> y, bool keep_fitted,
                absl::Span<const int> origins) {
  const size_t m = initial.seasons.size();
  const bool multiplicative = model.seasonality == Seasonality::kMultiplicative;
  const double alpha = params.alpha;
  const double beta = params.beta;
  const double gamma = params.gamma;
  const double phi = model.damped ? params.phi : 1.0;

  Smoothed out;
  if (keep_fitted) out.fitted.resize(y.size());
  out.states_at_origins.reserve(origins.size());
  // ring[i % m] is the seasonal component observation i uses; after observing y_i it
  // is replaced by s_i, which observation i + m uses.
  std::vector<double> ring = initial.seasons;
  double level = initial.level;
  double trend = initial.trend;
  double sse = 0.0;
  size_t next_origin = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    while (next_origin < origins.size() && static_cast<size_t>(origins[next_origin]) == i) {
      out.states_at_origins.push_back({level, trend, Unroll(ring, i)});
      ++next_origin;
    }
    const double season = ring[i % m];
    const double base = level + phi * trend;  // l_{t-1} + φ b_{t-1}
    double predicted;
    double new_level;
    double new_season;
    if (multiplicative) {
      if (!(base > 0.0) || !(season > 0.0)) {
        sse = kInfinity;
        break;
      }
      predicted = base * season;
      new_level = alpha * y[i] / season + (1.0 - alpha) * base;
      new_season = gamma * y[i] / base + (1.0 - gamma) * season;
    } else {
      predicted = base + season;
      new_level = alpha * (y[i] - season) + (1.0 - alpha) * base;
      new_season = gamma * (y[i] - base) + (1.0 - gamma) * season;
    }
    const double new_trend = beta * (new_level - level) + (1.0 - beta) * phi * trend;
    const double error = y[i] - predicted;
    sse += error * error;
    if (keep_fitted) out.fitted[i] = predicted;
    level = new_level;
    trend = new_trend;
    ring[i % m] = new_season;
  }
  if (!std::isfinite(sse)) {
    out.sse = kInfinity;
    return out;
  }
  while (next_origin < origins.size() && static_cast<size_t>(origins[next_origin]) == y.size()) {
    out.states_at_origins.push_back({level, trend, Unroll(ring, y.size())});
    ++next_origin;
  }
  out.sse = sse;
  out.final_state = {level, trend, Unroll(ring, y.size())};
  return out;
}

std::vector<double> PointForecast(const HoltWintersModel& model, const SmoothingParameters& params,
                                  const HoltWintersState& state, int horizon) {
  const double phi = model.damped ? params.phi : 1.0;
  const size_t m = state.seasons.size();
  std::vector<double> forecast;
  forecast.reserve(horizon > 0 ? horizon : 0);
  double damping_sum = 0.0;  // φ + φ² + … + φ^h
  double phi_power = 1.0;
  for (int h = 1; h <= horizon; ++h) {
    phi_power *= phi;
    damping_sum += phi_power;
    const double base = state.level + damping_sum * state.trend;
    const double season = state.seasons[(h - 1) % m];
    forecast.push_back(model.seasonality == Seasonality::kMultiplicative ? base * season
                                                                         : base + season);
  }
  return forecast;
}

int MinimumObservationsForHeuristic(int period) {
  return std::max(2 * period, 10 + 2 * (period / 2));
}

absl::StatusOr<HoltWintersState> HeuristicInitialState(const HoltWintersModel& model,
                                                       absl::Span<const double> y) {
  const int m = model.period;
  if (m < 2) return absl::InvalidArgumentError("period must be at least 2");
  const int n = static_cast<int>(y.size());
  const int minimum = MinimumObservationsForHeuristic(m);
  if (n < minimum) {
    return absl::InvalidArgumentError(
        absl::StrCat("the heuristic initial state needs ", minimum, " observations, got ", n));
  }
  const bool multiplicative = model.seasonality == Seasonality::kMultiplicative;
  // Seasons used: between 2 and 5, enough for 10 adjusted values (statsmodels' rule).
  const int cycles = std::max(std::min(5, n / m), (minimum + m - 1) / m);
  const int length = std::min(n, cycles * m);
  const int half = m / 2;

  // Centred moving average of order m (2×m for even m), defined on [half, length-1-half].
  std::vector<double> trend_cycle;
  trend_cycle.reserve(length);
  for (int i = half; i + half < length; ++i) {
    double sum = 0.0;
    if (m % 2 == 1) {
      for (int k = i - half; k <= i + half; ++k) sum += y[k];
      trend_cycle.push_back(sum / m);
    } else {
      sum = 0.5 * y[i - half] + 0.5 * y[i + half];
      for (int k = i - half + 1; k <= i + half - 1; ++k) sum += y[k];
      trend_cycle.push_back(sum / m);
    }
  }

  // Mean adjusted value per position in the season.
  std::vector<double> season_sum(m, 0.0);
  std::vector<int> season_count(m, 0);
  for (int i = half; i + half < length; ++i) {
    const double cycle_value = trend_cycle[i - half];
    if (multiplicative && !(cycle_value > 0.0)) {
      return absl::InvalidArgumentError(
          "a multiplicative season needs a positive moving average at the start of the series");
    }
    season_sum[i % m] += multiplicative ? y[i] / cycle_value : y[i] - cycle_value;
    ++season_count[i % m];
  }
  HoltWintersState state;
  state.seasons.resize(m);
  double mean = 0.0;
  for (int j = 0; j < m; ++j) {
    state.seasons[j] = season_sum[j] / season_count[j];
    mean += state.seasons[j] / m;
  }
  for (double& season : state.seasons) {
    if (multiplicative) {
      season /= mean;
    } else {
      season -= mean;
    }
  }

  // Least-squares line through the first 10 trend-cycle values at x = 1 … 10.
  constexpr int kPoints = 10;
  double sum_x = 0.0, sum_y = 0.0, sum_xx = 0.0, sum_xy = 0.0;
  for (int k = 0; k < kPoints; ++k) {
    const double x = k + 1;
    sum_x += x;
    sum_y += trend_cycle[k];
    sum_xx += x * x;
    sum_xy += x * trend_cycle[k];
  }
  const double slope = (kPoints * sum_xy - sum_x * sum_y) / (kPoints * sum_xx - sum_x * sum_x);
  state.trend = slope;
  state.level = (sum_y - slope * sum_x) / kPoints;
  if (multiplicative) {
    for (double season : state.seasons) {
      if (!(season > 0.0)) {
        return absl::InvalidArgumentError(
            "a multiplicative season needs positive seasonal factors at the start of the series");
      }
    }
  }
  return state;
}

}  // namespace plantmesh::planning::forecast
