#include "server/planning/forecast/forecast.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning::forecast {
namespace {

using ::testing::HasSubstr;

constexpr double kAdditiveWeek[7] = {30.0, 12.0, 5.0, 0.0, -8.0, -15.0, -24.0};
constexpr double kMultiplicativeWeek[7] = {1.3, 1.1, 1.0, 0.95, 0.9, 1.15, 0.6};

DailySeries Series(std::vector<double> quantity) {
  DailySeries series;
  series.first_day = absl::CivilDay(2023, 1, 2);
  series.quantity = std::move(quantity);
  return series;
}

// level + slope·t + weekly pattern (additive) or × pattern (multiplicative), with
// Gaussian noise of `noise` (additive) or relative `noise` (multiplicative), ≥ 0.
std::vector<double> Weekly(int days, double level, double slope, bool multiplicative, double noise,
                           uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> y(days);
  for (int t = 0; t < days; ++t) {
    const double trend = level + slope * t;
    const double value =
        multiplicative ? trend * kMultiplicativeWeek[t % 7] * (1.0 + noise * normal(generator))
                       : trend + kAdditiveWeek[t % 7] + noise * normal(generator);
    y[t] = std::max(0.0, value);
  }
  return y;
}

const CandidateResult& CandidateOf(const DemandForecast& forecast, Method method) {
  for (const CandidateResult& candidate : forecast.candidates) {
    if (candidate.method == method) return candidate;
  }
  static const CandidateResult kNone;
  ADD_FAILURE() << "no candidate " << MethodName(method);
  return kNone;
}

void PrintFigures(const char* name, const DemandForecast& forecast) {
  std::printf(
      "%s: chose %s, backtest %d origins x %d days; sMAPE chosen %.3f %% vs baseline "
      "%.3f %%; MAPE chosen %.3f %% vs baseline %.3f %%\n",
      name, std::string(MethodName(forecast.method)).c_str(), forecast.backtest_origins,
      forecast.backtest_horizon_days,
      forecast.chosen_accuracy ? forecast.chosen_accuracy->smape_percent : -1.0,
      forecast.baseline_accuracy ? forecast.baseline_accuracy->smape_percent : -1.0,
      forecast.chosen_accuracy ? forecast.chosen_accuracy->mape_percent.value_or(-1.0) : -1.0,
      forecast.baseline_accuracy ? forecast.baseline_accuracy->mape_percent.value_or(-1.0) : -1.0);
}

// Every number finite, point and bounds ≥ 0, lower ≤ point ≤ upper, consecutive days.
void ExpectWellFormed(const DailySeries& history, const DemandForecast& forecast, int horizon) {
  ASSERT_EQ(forecast.days.size(), static_cast<size_t>(horizon));
  for (int j = 0; j < horizon; ++j) {
    const ForecastDay& day = forecast.days[j];
    EXPECT_EQ(day.day, history.last_day() + (j + 1));
    EXPECT_TRUE(std::isfinite(day.quantity) && std::isfinite(day.lower) && std::isfinite(day.upper))
        << j;
    EXPECT_GE(day.lower, 0.0);
    EXPECT_LE(day.lower, day.quantity);
    EXPECT_LE(day.quantity, day.upper);
  }
  for (const CandidateResult& candidate : forecast.candidates) {
    if (!candidate.evaluated) {
      EXPECT_FALSE(candidate.note.empty()) << MethodName(candidate.method);
      continue;
    }
    EXPECT_TRUE(std::isfinite(candidate.accuracy.smape_percent));
    if (candidate.accuracy.mape_percent) {
      EXPECT_TRUE(std::isfinite(*candidate.accuracy.mape_percent));
    }
  }
  if (forecast.params) {
    EXPECT_TRUE(std::isfinite(forecast.params->alpha) && std::isfinite(forecast.params->beta) &&
                std::isfinite(forecast.params->gamma) && std::isfinite(forecast.params->phi));
  }
  EXPECT_FALSE(forecast.explanation.empty());
}

TEST(ForecastDemandTest, NoisyWeeklySeasonBeatsTheSeasonalNaiveBaseline) {
  // Two years of a weekly pattern with noise: the naive forecast copies last week's
  // noise, Holt-Winters averages it away.
  const DailySeries history = Series(Weekly(730, 200.0, 0.0, false, 8.0, 1));
  ForecastOptions options;
  options.horizon_days = 28;
  absl::StatusOr<DemandForecast> forecast = ForecastDemand(history, options);
  ASSERT_TRUE(forecast.ok()) << forecast.status();
  PrintFigures("weekly season + noise", *forecast);
  ExpectWellFormed(history, *forecast, 28);
  EXPECT_NE(forecast->method, Method::kSeasonalNaive);
  ASSERT_TRUE(forecast->chosen_accuracy && forecast->baseline_accuracy);
  EXPECT_LT(forecast->chosen_accuracy->smape_percent, forecast->baseline_accuracy->smape_percent);
  ASSERT_TRUE(forecast->chosen_accuracy->mape_percent && forecast->baseline_accuracy->mape_percent);
  EXPECT_LT(*forecast->chosen_accuracy->mape_percent, *forecast->baseline_accuracy->mape_percent);
  EXPECT_EQ(forecast->backtest_origins, 4);
  EXPECT_EQ(forecast->backtest_horizon_days, 28);
  EXPECT_EQ(forecast->chosen_accuracy->points, 4 * 28);
  // The forecast keeps the weekly shape: the pattern's peak day above its trough day.
  const absl::Weekday peak = absl::GetWeekday(history.first_day);  // day 0 has +30
  double peak_value = 0.0, trough_value = 0.0;
  for (const ForecastDay& day : forecast->days) {
    if (absl::GetWeekday(day.day) == peak) peak_value = day.quantity;
    if (absl::GetWeekday(day.day) == absl::GetWeekday(history.first_day + 6)) {
      trough_value = day.quantity;
    }
  }
  EXPECT_GT(peak_value - trough_value, 40.0);
}

TEST(ForecastDemandTest, SeasonsWithTrendAreFollowed) {
  const DailySeries history = Series(Weekly(364, 100.0, 0.8, false, 4.0, 2));
  ForecastOptions options;
  options.horizon_days = 21;
  absl::StatusOr<DemandForecast> forecast = ForecastDemand(history, options);
  ASSERT_TRUE(forecast.ok()) << forecast.status();
  PrintFigures("trend + weekly season", *forecast);
  ExpectWellFormed(history, *forecast, 21);
  EXPECT_NE(forecast->method, Method::kSeasonalNaive);
  EXPECT_LT(forecast->chosen_accuracy->smape_percent, forecast->baseline_accuracy->smape_percent);
  // Three weeks ahead is 0.8·14 above one week ahead on the same weekday (the naive
  // forecast would repeat last week); damping may take a little of it.
  const double growth = forecast->days[14].quantity - forecast->days[0].quantity;
  EXPECT_GT(growth, 0.5 * 0.8 * 14);
  EXPECT_LT(growth, 1.5 * 0.8 * 14);
}

TEST(ForecastDemandTest, GrowingSeasonalSwingIsMultiplicative) {
  // The weekly swing grows with the level (50 → 600): a multiplicative season.
  const DailySeries history = Series(Weekly(546, 50.0, 1.0, true, 0.03, 3));
  absl::StatusOr<DemandForecast> forecast = ForecastDemand(history);
  ASSERT_TRUE(forecast.ok()) << forecast.status();
  PrintFigures("multiplicative season", *forecast);
  ExpectWellFormed(history, *forecast, 28);
  for (const CandidateResult& candidate : forecast->candidates) {
    std::printf("  %-36s sMAPE %.3f %%\n", std::string(MethodName(candidate.method)).c_str(),
                candidate.accuracy.smape_percent);
    EXPECT_TRUE(candidate.evaluated) << MethodName(candidate.method) << ": " << candidate.note;
  }
  EXPECT_TRUE(forecast->method == Method::kHoltWintersMultiplicative ||
              forecast->method == Method::kHoltWintersMultiplicativeDamped)
      << MethodName(forecast->method);
  EXPECT_LT(CandidateOf(*forecast, forecast->method).accuracy.smape_percent,
            CandidateOf(*forecast, Method::kHoltWintersAdditive).accuracy.smape_percent);
}

TEST(ForecastDemandTest, ZeroDemandDaysRuleOutMultiplicativeSeasons) {
  // Closed on the seventh day of every week.
  std::vector<double> y = Weekly(300, 80.0, 0.0, false, 3.0, 4);
  for (size_t t = 6; t < y.size(); t += 7) y[t] = 0.0;
  const DailySeries history = Series(y);
  absl::StatusOr<DemandForecast> forecast = ForecastDemand(history);
  ASSERT_TRUE(forecast.ok()) << forecast.status();
  PrintFigures("zero demand on one weekday", *forecast);
  ExpectWellFormed(history, *forecast, 28);
  for (Method method :
       {Method::kHoltWintersMultiplicative, Method::kHoltWintersMultiplicativeDamped}) {
    const CandidateResult& candidate = CandidateOf(*forecast, method);
    EXPECT_FALSE(candidate.evaluated);
    EXPECT_THAT(candidate.note, HasSubstr("zero demand"));
  }
  EXPECT_TRUE(CandidateOf(*forecast, Method::kHoltWintersAdditive).evaluated);
  // The closed days are left out of MAPE and counted.
  ASSERT_TRUE(forecast->baseline_accuracy.has_value());
  EXPECT_EQ(forecast->baseline_accuracy->zero_actuals, 4 * 4);
  // The closed weekday is forecast near zero.
  for (const ForecastDay& day : forecast->days) {
    if ((day.day - history.first_day) % 7 == 6) {
      EXPECT_LT(day.quantity, 15.0);
    }
  }
}

TEST(ForecastDemandTest, FewerThanTwoSeasonsIsSeasonalNaiveOnly) {
  const std::vector<double> two_weeks_short = Weekly(13, 50.0, 0.0, false, 1.0, 5);
  const DailySeries history = Series(two_weeks_short);
  ForecastOptions options;
  options.horizon_days = 10;
  absl::StatusOr<DemandForecast> forecast = ForecastDemand(history, options);
  ASSERT_TRUE(forecast.ok()) << forecast.status();
  ExpectWellFormed(history, *forecast, 10);
  EXPECT_EQ(forecast->method, Method::kSeasonalNaive);
  EXPECT_FALSE(forecast->params.has_value());
  for (const CandidateResult& candidate : forecast->candidates) {
    if (candidate.method == Method::kSeasonalNaive) continue;
    EXPECT_FALSE(candidate.evaluated);
    EXPECT_THAT(candidate.note, HasSubstr("Holt-Winters needs"));
  }
  EXPECT_THAT(forecast->explanation, HasSubstr("seasonal naive only"));
  // The baseline still has a backtest (6 days after the first week) and its figures.
  EXPECT_EQ(forecast->backtest_horizon_days, 6);
  ASSERT_TRUE(forecast->baseline_accuracy.has_value());
  EXPECT_EQ(forecast->chosen_accuracy->smape_percent, forecast->baseline_accuracy->smape_percent);
  // Seasonal naive repeats the last week.
  for (int j = 0; j < 10; ++j) {
    EXPECT_DOUBLE_EQ(forecast->days[j].quantity, two_weeks_short[13 - 7 + j % 7]) << j;
  }
}

TEST(ForecastDemandTest, OneWeekHasNoBacktestAndLessIsRefused) {
  const DailySeries week = Series({1, 2, 3, 4, 5, 6, 7});
  absl::StatusOr<DemandForecast> forecast = ForecastDemand(week);
  ASSERT_TRUE(forecast.ok()) << forecast.status();
  ExpectWellFormed(week, *forecast, 28);
  EXPECT_EQ(forecast->method, Method::kSeasonalNaive);
  EXPECT_EQ(forecast->backtest_origins, 0);
  EXPECT_FALSE(forecast->chosen_accuracy.has_value());
  EXPECT_FALSE(forecast->baseline_accuracy.has_value());
  EXPECT_EQ(forecast->days[7].quantity, 1.0);
  // No week-on-week change to measure: the interval comes from the day-to-day changes
  // (1 each: σ = 1), not of zero width (outside testing).
  EXPECT_GT(forecast->days[0].upper, forecast->days[0].quantity + 1.9);
  EXPECT_THAT(forecast->explanation, HasSubstr("day-to-day"));

  // Eight or nine days: one or two week-on-week changes (here 0) do not make it narrow.
  for (const DailySeries& short_history : {Series({100, 120, 90, 110, 130, 80, 105, 100}),
                                           Series({100, 120, 90, 110, 130, 80, 105, 100, 120})}) {
    absl::StatusOr<DemandForecast> few = ForecastDemand(short_history);
    ASSERT_TRUE(few.ok()) << few.status();
    EXPECT_GT(few->days[0].upper - few->days[0].quantity, 40) << few->days[0].quantity;
  }

  absl::StatusOr<DemandForecast> refused = ForecastDemand(Series({1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("6 days"));
}

TEST(ForecastDemandTest, DegenerateSeriesGiveFiniteOutputs) {
  std::vector<std::pair<const char*, std::vector<double>>> cases;
  cases.emplace_back("all zero", std::vector<double>(200, 0.0));
  cases.emplace_back("constant", std::vector<double>(200, 42.0));
  std::vector<double> spikes(200, 0.0);
  for (size_t t = 0; t < spikes.size(); t += 29) spikes[t] = 1e4;
  cases.emplace_back("rare spikes", spikes);
  std::vector<double> huge = Weekly(200, 1e9, 1e6, true, 0.05, 6);
  cases.emplace_back("huge values", huge);
  std::vector<double> collapse = Weekly(200, 500.0, -2.4, false, 5.0, 7);
  cases.emplace_back("demand collapsing to zero", collapse);
  for (const auto& [name, y] : cases) {
    SCOPED_TRACE(name);
    const DailySeries history = Series(y);
    absl::StatusOr<DemandForecast> forecast = ForecastDemand(history);
    ASSERT_TRUE(forecast.ok()) << forecast.status();
    ExpectWellFormed(history, *forecast, 28);
  }
}

// Outside testing: ten days alternating 0 and 1e-300 (a quantity ImportDemand takes) gave
// 95 % intervals of zero width and an sMAPE of 200.00000000000003: squares of such
// quantities are 0 in doubles. A forecast is the same at every scale.
TEST(ForecastDemandTest, TinyQuantitiesAreForecastAsAtAnyOtherScale) {
  std::vector<double> alternating(10);
  for (size_t t = 0; t < alternating.size(); ++t) alternating[t] = t % 2 == 0 ? 0.0 : 1e-300;
  ForecastOptions three_days;
  three_days.horizon_days = 3;
  absl::StatusOr<DemandForecast> tiny = ForecastDemand(Series(alternating), three_days);
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  ASSERT_TRUE(tiny->chosen_accuracy.has_value());
  EXPECT_LE(tiny->chosen_accuracy->smape_percent, 200.0);
  EXPECT_LE(tiny->baseline_accuracy->smape_percent, 200.0);
  for (const ForecastDay& day : tiny->days) EXPECT_GT(day.upper, day.lower) << day.day;

  const std::vector<double> y = Weekly(200, 60.0, 0.1, false, 3.0, 11);
  std::vector<double> scaled_down = y;
  for (double& value : scaled_down) value *= 1e-300;
  absl::StatusOr<DemandForecast> at_one = ForecastDemand(Series(y));
  absl::StatusOr<DemandForecast> at_tiny = ForecastDemand(Series(scaled_down));
  ASSERT_TRUE(at_one.ok() && at_tiny.ok());
  EXPECT_EQ(at_tiny->method, at_one->method);
  // The same up to the fit's tolerance: the parameter search starts from inputs that
  // differ in their last bits.
  EXPECT_NEAR(at_tiny->chosen_accuracy->smape_percent, at_one->chosen_accuracy->smape_percent,
              1e-5);
  ASSERT_EQ(at_tiny->days.size(), at_one->days.size());
  for (size_t j = 0; j < at_one->days.size(); ++j) {
    const ForecastDay& one = at_one->days[j];
    const ForecastDay& down = at_tiny->days[j];
    EXPECT_NEAR(down.quantity / 1e-300, one.quantity, 1e-6 * one.quantity) << j;
    EXPECT_NEAR(down.lower / 1e-300, one.lower, 1e-6 * one.upper) << j;
    EXPECT_NEAR(down.upper / 1e-300, one.upper, 1e-6 * one.upper) << j;
    EXPECT_GT(down.upper, down.lower) << j;
  }
}

TEST(ForecastDemandTest, ConstantDemandTiesGoToTheBaseline) {
  const DailySeries history = Series(std::vector<double>(120, 42.0));
  absl::StatusOr<DemandForecast> forecast = ForecastDemand(history);
  ASSERT_TRUE(forecast.ok()) << forecast.status();
  EXPECT_EQ(forecast->method, Method::kSeasonalNaive);
  EXPECT_EQ(forecast->chosen_accuracy->smape_percent, 0.0);
  for (const ForecastDay& day : forecast->days) {
    EXPECT_EQ(day.quantity, 42.0);
    EXPECT_EQ(day.lower, 42.0);
    EXPECT_EQ(day.upper, 42.0);
  }
}

TEST(ForecastDemandTest, SameHistoryGivesTheSameForecast) {
  const DailySeries history = Series(Weekly(400, 60.0, 0.1, true, 0.05, 8));
  absl::StatusOr<DemandForecast> a = ForecastDemand(history);
  absl::StatusOr<DemandForecast> b = ForecastDemand(history);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->method, b->method);
  for (size_t j = 0; j < a->days.size(); ++j) {
    EXPECT_EQ(a->days[j].quantity, b->days[j].quantity);
    EXPECT_EQ(a->days[j].lower, b->days[j].lower);
    EXPECT_EQ(a->days[j].upper, b->days[j].upper);
  }
}

TEST(ForecastDemandTest, IntervalsWidenWithTheHorizonAndTheLevel) {
  const DailySeries history = Series(Weekly(365, 300.0, 0.0, false, 10.0, 9));
  ForecastOptions options;
  options.horizon_days = 56;
  options.interval_level = 0.8;
  absl::StatusOr<DemandForecast> narrow = ForecastDemand(history, options);
  options.interval_level = 0.99;
  absl::StatusOr<DemandForecast> wide = ForecastDemand(history, options);
  ASSERT_TRUE(narrow.ok() && wide.ok());
  ASSERT_EQ(narrow->method, wide->method);
  const auto width = [](const ForecastDay& day) { return day.upper - day.lower; };
  EXPECT_GT(width(wide->days[0]), width(narrow->days[0]));
  EXPECT_GT(width(wide->days[55]), width(wide->days[0]));
  // About ±1.28σ at 80 % one day ahead, σ ≈ the noise's 10.
  EXPECT_GT(width(narrow->days[0]), 2 * 1.28 * 8.0);
  EXPECT_LT(width(narrow->days[0]), 2 * 1.28 * 13.0);
}

TEST(ForecastDemandTest, BadOptionsAreInvalidArgumentNamingTheField) {
  const DailySeries history = Series(Weekly(60, 10.0, 0.0, false, 1.0, 10));
  struct Case {
    ForecastOptions options;
    std::string field;
  };
  std::vector<Case> cases(6);
  cases[0].options.horizon_days = 0;
  cases[0].field = "horizon_days";
  cases[1].options.horizon_days = kMaxHorizonDays + 1;
  cases[1].field = "horizon_days";
  cases[2].options.interval_level = 1.0;
  cases[2].field = "interval_level";
  cases[3].options.interval_level = std::nan("");
  cases[3].field = "interval_level";
  cases[4].options.backtest_origins = 0;
  cases[4].field = "backtest_origins";
  cases[5].options.max_fit_days = 15;
  cases[5].field = "max_fit_days";
  for (const Case& c : cases) {
    absl::StatusOr<DemandForecast> forecast = ForecastDemand(history, c.options);
    ASSERT_EQ(forecast.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    const auto violations = runtime::FieldViolationsOf(forecast.status());
    ASSERT_EQ(violations.size(), 1u);
    EXPECT_EQ(violations[0].field, c.field);
  }
}

}  // namespace
}  // namespace plantmesh::planning::forecast
