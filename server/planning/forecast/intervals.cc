#include "server/planning/forecast/intervals.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace plantmesh::planning::forecast {

namespace {
constexpr double kSqrtTwoPi = 2.5066282746310002;  // √(2π)
}  // namespace

double NormalQuantile(double p) {
  if (!(p > 0.0 && p < 1.0)) return std::numeric_limits<double>::quiet_NaN();
  // P. J. Acklam's coefficients.
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  double x;
  if (p < kLow) {
    const double q = std::sqrt(-2.0 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else if (p <= 1.0 - kLow) {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  } else {
    const double q = std::sqrt(-2.0 * std::log(1.0 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  }
  // One Halley step on Φ(x) − p.
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * kSqrtTwoPi * std::exp(x * x / 2.0);
  return x - u / (1.0 + x * u / 2.0);
}

std::vector<double> AdditiveForecastVariance(const HoltWintersModel& model,
                                             const SmoothingParameters& params, double sigma2,
                                             int horizon) {
  const double phi = model.damped ? params.phi : 1.0;
  std::vector<double> variance;
  variance.reserve(horizon > 0 ? horizon : 0);
  double sum_c2 = 0.0;  // Σ_{j<h} c_j²
  double damping_sum = 0.0;
  double phi_power = 1.0;
  for (int h = 1; h <= horizon; ++h) {
    variance.push_back(sigma2 * (1.0 + sum_c2));
    // c_h, for the next horizon's sum.
    phi_power *= phi;
    damping_sum += phi_power;
    const double c = params.alpha + params.alpha * params.beta * damping_sum +
                     (h % model.period == 0 ? params.gamma : 0.0);
    sum_c2 += c * c;
  }
  return variance;
}

Interval NormalInterval(const std::vector<double>& point, const std::vector<double>& variance,
                        double level) {
  const double z = NormalQuantile(0.5 + level / 2.0);
  Interval interval;
  for (size_t i = 0; i < point.size(); ++i) {
    const double half_width = z * std::sqrt(std::max(0.0, variance[i]));
    interval.lower.push_back(point[i] - half_width);
    interval.upper.push_back(point[i] + half_width);
  }
  return interval;
}

Interval SimulatedInterval(const HoltWintersModel& model, const SmoothingParameters& params,
                           const HoltWintersState& state, double sigma2, int horizon, double level,
                           int paths, uint64_t seed) {
  const double phi = model.damped ? params.phi : 1.0;
  const size_t m = state.seasons.size();
  const double sigma = std::sqrt(std::max(0.0, sigma2));
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> noise(0.0, sigma);
  // outcomes[h * paths + p]: path p's value at step h.
  std::vector<double> outcomes(static_cast<size_t>(horizon) * paths);
  std::vector<double> ring(m);
  for (int p = 0; p < paths; ++p) {
    double level_value = state.level;
    double trend = state.trend;
    ring = state.seasons;  // ring[h % m] is used at step h (0-based)
    for (int h = 0; h < horizon; ++h) {
      const double base = level_value + phi * trend;
      const double season = ring[h % m];
      const double y = base * season + noise(generator);
      outcomes[static_cast<size_t>(h) * paths + p] = y;
      // Outside the admissible region the path keeps its last components.
      if (!(base > 0.0) || !(season > 0.0)) continue;
      const double new_level = params.alpha * y / season + (1.0 - params.alpha) * base;
      trend = params.beta * (new_level - level_value) + (1.0 - params.beta) * phi * trend;
      ring[h % m] = params.gamma * y / base + (1.0 - params.gamma) * season;
      level_value = new_level;
    }
  }
  Interval interval;
  const double tail = (1.0 - level) / 2.0;
  const auto lower_rank = static_cast<size_t>(std::floor(tail * (paths - 1)));
  const auto upper_rank = static_cast<size_t>(std::ceil((1.0 - tail) * (paths - 1)));
  for (int h = 0; h < horizon; ++h) {
    auto begin = outcomes.begin() + static_cast<std::ptrdiff_t>(h) * paths;
    auto end = begin + paths;
    std::nth_element(begin, begin + lower_rank, end);
    interval.lower.push_back(*(begin + lower_rank));
    std::nth_element(begin, begin + upper_rank, end);
    interval.upper.push_back(*(begin + upper_rank));
  }
  return interval;
}

std::vector<double> SeasonalNaiveVariance(double sigma2, int period, int horizon) {
  std::vector<double> variance;
  for (int h = 1; h <= horizon; ++h) variance.push_back(sigma2 * ((h - 1) / period + 1));
  return variance;
}

}  // namespace plantmesh::planning::forecast
