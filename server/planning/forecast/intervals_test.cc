#include "server/planning/forecast/intervals.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace plantmesh::planning::forecast {
namespace {

TEST(IntervalsTest, NormalQuantileMatchesTables) {
  EXPECT_NEAR(NormalQuantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(NormalQuantile(0.5), 0.0, 1e-15);
  EXPECT_NEAR(NormalQuantile(0.9), 1.2815515655446004, 1e-12);
  EXPECT_NEAR(NormalQuantile(0.001), -3.090232306167813, 1e-11);
  EXPECT_TRUE(std::isnan(NormalQuantile(1.0)));
}

TEST(IntervalsTest, AdditiveVarianceFollowsTheClassOneFormula) {
  HoltWintersModel model;  // additive, undamped, m = 7
  // β = γ = 0: simple exponential smoothing's v_h = σ² (1 + (h − 1) α²).
  SmoothingParameters params{0.3, 0.0, 0.0, 1.0};
  std::vector<double> variance = AdditiveForecastVariance(model, params, 4.0, 10);
  for (int h = 1; h <= 10; ++h) {
    EXPECT_NEAR(variance[h - 1], 4.0 * (1.0 + (h - 1) * 0.09), 1e-12) << h;
  }
  // With a season, c_7 gains γ: v_8 − v_7 = σ² (α + αβ·7 + γ)².
  params = {0.3, 0.1, 0.2, 1.0};
  variance = AdditiveForecastVariance(model, params, 1.0, 8);
  const double c7 = 0.3 + 0.3 * 0.1 * 7.0 + 0.2;
  EXPECT_NEAR(variance[7] - variance[6], c7 * c7, 1e-12);
  // Damped: c_1 = α + αβφ.
  model.damped = true;
  params.phi = 0.9;
  variance = AdditiveForecastVariance(model, params, 1.0, 2);
  EXPECT_NEAR(variance[1], 1.0 + std::pow(0.3 + 0.3 * 0.1 * 0.9, 2), 1e-12);
}

TEST(IntervalsTest, SeasonalNaiveVarianceGrowsPerSeason) {
  const std::vector<double> variance = SeasonalNaiveVariance(2.0, 7, 15);
  EXPECT_EQ(variance[0], 2.0);
  EXPECT_EQ(variance[6], 2.0);
  EXPECT_EQ(variance[7], 4.0);
  EXPECT_EQ(variance[14], 6.0);
}

TEST(IntervalsTest, SimulatedIntervalIsNormalAtOneStepAndDeterministic) {
  HoltWintersModel model;
  model.seasonality = Seasonality::kMultiplicative;
  const SmoothingParameters params{0.2, 0.1, 0.1, 1.0};
  const HoltWintersState state{100.0, 1.0, {1.2, 1.1, 1.0, 0.9, 0.8, 1.0, 1.0}};
  const Interval a = SimulatedInterval(model, params, state, 25.0, 14, 0.95, 4000, 7);
  const Interval b = SimulatedInterval(model, params, state, 25.0, 14, 0.95, 4000, 7);
  EXPECT_EQ(a.lower, b.lower);
  EXPECT_EQ(a.upper, b.upper);
  // One step ahead the outcome is ŷ + ε exactly: ŷ ± 1.96·5, to sampling error.
  const double point = (100.0 + 1.0) * 1.2;
  EXPECT_NEAR(a.lower[0], point - 1.96 * 5.0, 0.6);
  EXPECT_NEAR(a.upper[0], point + 1.96 * 5.0, 0.6);
  for (int h = 0; h < 14; ++h) EXPECT_LT(a.lower[h], a.upper[h]);
  // Uncertainty accumulates: the same weekday a week later is wider.
  EXPECT_GT(a.upper[7] - a.lower[7], a.upper[0] - a.lower[0]);
}

}  // namespace
}  // namespace plantmesh::planning::forecast
