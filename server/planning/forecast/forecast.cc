#include "server/planning/forecast/forecast.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "server/planning/forecast/intervals.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning::forecast {
namespace {

constexpr int kPeriod = kWeeklySeason;
// Seed of the interval simulation: fixed, so the same history gives the same answer.
constexpr uint64_t kSimulationSeed = 0x706c616e6e696e67;  // "planning"

bool IsHoltWinters(Method method) { return method != Method::kSeasonalNaive; }

HoltWintersModel ModelOf(Method method) {
  HoltWintersModel model;
  model.period = kPeriod;
  model.seasonality = (method == Method::kHoltWintersMultiplicative ||
                       method == Method::kHoltWintersMultiplicativeDamped)
                          ? Seasonality::kMultiplicative
                          : Seasonality::kAdditive;
  model.damped = method == Method::kHoltWintersAdditiveDamped ||
                 method == Method::kHoltWintersMultiplicativeDamped;
  return model;
}

// y[origin − m + (j mod m)] for j = 0 … horizon − 1.
std::vector<double> SeasonalNaiveForecast(absl::Span<const double> y, int origin, int horizon) {
  std::vector<double> forecast(horizon);
  for (int j = 0; j < horizon; ++j) forecast[j] = y[origin - kPeriod + j % kPeriod];
  return forecast;
}

// Mean squared seasonal difference over y: σ² of the seasonal naive model.
// The mean square of the changes over `lag` days; nullopt when there are none.
std::optional<double> MeanSquareChange(absl::Span<const double> y, size_t lag) {
  double sum = 0.0;
  int count = 0;
  for (size_t t = lag; t < y.size(); ++t) {
    const double difference = y[t] - y[t - lag];
    sum += difference * difference;
    ++count;
  }
  if (count == 0) return std::nullopt;
  return sum / count;
}

// The seasonal-naive residual variance: the mean square of week-on-week changes. Until a
// week's worth of them is known (under 14 days of history), the day-to-day changes'
// variance is its floor: one or two week-on-week changes say little (they may happen to
// be 0), and day-to-day changes hold the weekly pattern as well, so the interval is wider,
// never falsely narrow (outside testing: 95 % intervals of zero width from 7, 8 and 9
// days of history).
double SeasonalNaiveSigma2(absl::Span<const double> y) {
  const std::optional<double> weekly = MeanSquareChange(y, kPeriod);
  if (y.size() >= 2 * kPeriod && weekly) return *weekly;
  return std::max(weekly.value_or(0.0), MeanSquareChange(y, 1).value_or(0.0));
}

double NonNegative(double value) { return std::isfinite(value) ? std::max(0.0, value) : 0.0; }

void Score(AccuracyAccumulator& accumulator, absl::Span<const double> actual,
           const std::vector<double>& forecast) {
  for (size_t j = 0; j < forecast.size(); ++j) accumulator.Add(actual[j], NonNegative(forecast[j]));
}

std::string Percent(const ForecastAccuracy& accuracy) {
  return absl::StrFormat("%.2f", accuracy.smape_percent);
}

}  // namespace

absl::string_view MethodName(Method method) {
  switch (method) {
    case Method::kSeasonalNaive:
      return "SEASONAL_NAIVE";
    case Method::kHoltWintersAdditive:
      return "HOLT_WINTERS_ADDITIVE";
    case Method::kHoltWintersAdditiveDamped:
      return "HOLT_WINTERS_ADDITIVE_DAMPED";
    case Method::kHoltWintersMultiplicative:
      return "HOLT_WINTERS_MULTIPLICATIVE";
    case Method::kHoltWintersMultiplicativeDamped:
      return "HOLT_WINTERS_MULTIPLICATIVE_DAMPED";
  }
  return "UNKNOWN";
}

absl::Status ValidateForecastOptions(const ForecastOptions& options) {
  runtime::Violations violations;
  if (options.horizon_days < 1 || options.horizon_days > kMaxHorizonDays) {
    violations.Add("horizon_days", absl::StrCat("must be between 1 and ", kMaxHorizonDays, ", got ",
                                                options.horizon_days));
  }
  if (!(options.interval_level > 0.0 && options.interval_level < 1.0)) {
    violations.Add("interval_level",
                   absl::StrCat("must be strictly between 0 and 1, got ", options.interval_level));
  }
  if (options.backtest_origins < 1) {
    violations.Add("backtest_origins", "must be at least 1");
  }
  if (options.backtest_step_days < 1) {
    violations.Add("backtest_step_days", "must be at least 1");
  }
  if (options.max_backtest_horizon_days < 1) {
    violations.Add("max_backtest_horizon_days", "must be at least 1");
  }
  if (options.simulation_paths < 100) {
    violations.Add("simulation_paths", "must be at least 100");
  }
  if (options.max_fit_days < MinimumObservationsForHeuristic(kPeriod)) {
    violations.Add("max_fit_days",
                   absl::StrCat("must be at least ", MinimumObservationsForHeuristic(kPeriod)));
  }
  return violations.ToStatus();
}

namespace {

// ForecastDemand's work, on the history as it is given (ForecastDemand scales it first).
absl::StatusOr<DemandForecast> ForecastUnscaled(const DailySeries& history,
                                                const ForecastOptions& options) {
  const absl::Span<const double> y(history.quantity);
  const int n = static_cast<int>(y.size());
  if (n < kPeriod) {
    // Which days (outside testing: "has 1 days" for a product with 61 imported days, one
    // of them dated 9990-12-31, the window's end).
    return absl::FailedPreconditionError(absl::StrCat(
        "the demand history has ", n, n == 1 ? " day" : " days", " within the ", kMaxHistoryDays,
        " days up to its last record, dated ", absl::FormatCivilTime(history.last_day()),
        "; a forecast needs at least ", kPeriod,
        " (a record imported with a wrong date is taken back by DeleteDemand)"));
  }
  bool all_positive = true;
  for (double value : y) {
    if (!std::isfinite(value) || value < 0.0) {
      return runtime::InvalidField("history", "has a negative or non-finite quantity");
    }
    if (value == 0.0) all_positive = false;
  }

  DemandForecast out;
  out.interval_level = options.interval_level;

  // --- Backtest layout.
  const int hw_training = MinimumObservationsForHeuristic(kPeriod);
  const int horizon_bt =
      std::min({options.horizon_days, options.max_backtest_horizon_days, n - kPeriod});
  const bool holt_winters_possible = horizon_bt >= 1 && n - horizon_bt >= hw_training;
  const int min_training = holt_winters_possible ? hw_training : kPeriod;
  std::vector<int> origins;  // ascending
  if (horizon_bt >= 1) {
    for (int k = 0; k < options.backtest_origins; ++k) {
      const int origin = n - horizon_bt - k * options.backtest_step_days;
      if (origin < min_training) break;
      origins.insert(origins.begin(), origin);
    }
  }
  out.backtest_origins = static_cast<int>(origins.size());
  out.backtest_horizon_days = origins.empty() ? 0 : horizon_bt;

  // --- Candidates.
  for (Method method : kAllMethods) {
    CandidateResult candidate;
    candidate.method = method;
    const HoltWintersModel model = ModelOf(method);
    if (origins.empty()) {
      candidate.note = absl::StrCat("no backtest: ", n, " days of history are too few");
    } else if (method == Method::kSeasonalNaive) {
      AccuracyAccumulator accumulator;
      for (int origin : origins) {
        Score(accumulator, y.subspan(origin, horizon_bt),
              SeasonalNaiveForecast(y, origin, horizon_bt));
      }
      candidate.evaluated = true;
      candidate.accuracy = accumulator.Result();
    } else if (!holt_winters_possible) {
      candidate.note = absl::StrCat("Holt-Winters needs ", hw_training + horizon_bt,
                                    " days of history here, there are ", n);
    } else if (model.seasonality == Seasonality::kMultiplicative && !all_positive) {
      candidate.note = "the history has days of zero demand: a multiplicative season is undefined";
    } else {
      // Fit on the window before the earliest origin, then roll through the origins.
      const int window_start = std::max(0, origins.front() - options.max_fit_days);
      const absl::Span<const double> window = y.subspan(window_start);
      std::vector<int> window_origins;
      for (int origin : origins) window_origins.push_back(origin - window_start);
      absl::StatusOr<FittedHoltWinters> fitted =
          FitHoltWinters(model, window.first(window_origins.front()), options.fit);
      if (!fitted.ok()) {
        candidate.note = std::string(fitted.status().message());
      } else {
        const Smoothed run =
            Smooth(model, fitted->params, fitted->initial, window.first(window_origins.back()),
                   /*keep_fitted=*/false, window_origins);
        if (!std::isfinite(run.sse) || run.states_at_origins.size() != origins.size()) {
          candidate.note = "the fitted recursions left the admissible region in the backtest";
        } else {
          AccuracyAccumulator accumulator;
          for (size_t k = 0; k < origins.size(); ++k) {
            Score(accumulator, y.subspan(origins[k], horizon_bt),
                  PointForecast(model, fitted->params, run.states_at_origins[k], horizon_bt));
          }
          candidate.evaluated = true;
          candidate.accuracy = accumulator.Result();
          candidate.params = fitted->params;
        }
      }
    }
    out.candidates.push_back(std::move(candidate));
  }

  // --- Selection: lowest sMAPE, ties to the earlier candidate.
  const CandidateResult* best = nullptr;
  for (const CandidateResult& candidate : out.candidates) {
    if (!candidate.evaluated) continue;
    if (best == nullptr || candidate.accuracy.smape_percent < best->accuracy.smape_percent) {
      best = &candidate;
    }
  }
  const CandidateResult& baseline = out.candidates.front();
  if (baseline.evaluated) out.baseline_accuracy = baseline.accuracy;
  Method chosen = best != nullptr ? best->method : Method::kSeasonalNaive;
  if (best == nullptr) {
    out.explanation = absl::StrCat("seasonal naive without a backtest: ", n,
                                   " days of history leave no day to test on",
                                   n <= kPeriod ? "; the interval from day-to-day changes (one "
                                                  "week has no week-on-week change)"
                                                : "");
  } else if (chosen == Method::kSeasonalNaive) {
    out.explanation =
        holt_winters_possible
            ? absl::StrCat("seasonal naive had the lowest backtest sMAPE (",
                           Percent(best->accuracy), " %)")
            : absl::StrCat("seasonal naive only: ",
                           baseline.note.empty() ? out.candidates[1].note : baseline.note);
  } else {
    out.explanation = absl::StrCat(MethodName(chosen), " had the lowest backtest sMAPE (",
                                   Percent(best->accuracy), " % against the baseline's ",
                                   Percent(baseline.accuracy), " %)");
  }

  // --- The forecast itself, from the whole history.
  const int horizon = options.horizon_days;
  std::vector<double> point;
  Interval interval;
  if (IsHoltWinters(chosen)) {
    const HoltWintersModel model = ModelOf(chosen);
    const absl::Span<const double> window = y.subspan(std::max(0, n - options.max_fit_days));
    FitOptions fit_options = options.fit;
    fit_options.start = best->params;  // the backtest's fit, to most of the same days
    absl::StatusOr<FittedHoltWinters> fitted = FitHoltWinters(model, window, fit_options);
    const Smoothed run = fitted.ok() ? Smooth(model, fitted->params, fitted->initial, window,
                                              /*keep_fitted=*/false)
                                     : Smoothed{};
    if (!fitted.ok() || !std::isfinite(run.sse)) {
      out.explanation = absl::StrCat(MethodName(chosen),
                                     " won the backtest but could not be fitted to the latest "
                                     "history; seasonal naive instead");
      chosen = Method::kSeasonalNaive;
    } else {
      const int parameters = model.damped ? 4 : 3;
      const double sigma2 = run.sse / std::max(1, static_cast<int>(window.size()) - parameters);
      point = PointForecast(model, fitted->params, run.final_state, horizon);
      interval = model.seasonality == Seasonality::kAdditive
                     ? NormalInterval(
                           point, AdditiveForecastVariance(model, fitted->params, sigma2, horizon),
                           options.interval_level)
                     : SimulatedInterval(model, fitted->params, run.final_state, sigma2, horizon,
                                         options.interval_level, options.simulation_paths,
                                         kSimulationSeed);
      out.params = fitted->params;
    }
  }
  if (chosen == Method::kSeasonalNaive) {
    point = SeasonalNaiveForecast(y, n, horizon);
    interval =
        NormalInterval(point, SeasonalNaiveVariance(SeasonalNaiveSigma2(y), kPeriod, horizon),
                       options.interval_level);
  }
  out.method = chosen;
  for (const CandidateResult& candidate : out.candidates) {
    if (candidate.method == chosen && candidate.evaluated) out.chosen_accuracy = candidate.accuracy;
  }

  out.days.reserve(horizon);
  for (int j = 0; j < horizon; ++j) {
    ForecastDay day;
    day.day = history.last_day() + (j + 1);
    day.quantity = NonNegative(point[j]);
    day.lower = std::min(day.quantity, NonNegative(interval.lower[j]));
    day.upper = std::max(day.quantity, NonNegative(interval.upper[j]));
    out.days.push_back(day);
  }
  return out;
}

}  // namespace

absl::StatusOr<DemandForecast> ForecastDemand(const DailySeries& history,
                                              const ForecastOptions& options) {
  if (absl::Status status = ValidateForecastOptions(options); !status.ok()) return status;
  // Every method is equivariant to the series' scale (the points and intervals scale with
  // it; the parameters and the errors in percent do not), but squares of quantities under
  // ~1e-154 are 0 in doubles: the history is forecast with its largest day brought into
  // [0.5, 1) by a power of two, which changes no digit of any value, and scaled back
  // (outside testing: days alternating 0 and 1e-300 gave 95 % intervals of zero width and
  // an sMAPE of 200.00000000000003).
  double largest = 0;
  for (double value : history.quantity) largest = std::max(largest, value);
  if (!(largest > 0) || !std::isfinite(largest)) return ForecastUnscaled(history, options);
  int exponent = 0;
  std::frexp(largest, &exponent);
  DailySeries scaled = history;
  for (double& value : scaled.quantity) value = std::ldexp(value, -exponent);
  absl::StatusOr<DemandForecast> forecast = ForecastUnscaled(scaled, options);
  if (!forecast.ok()) return forecast;
  for (ForecastDay& day : forecast->days) {
    day.quantity = std::ldexp(day.quantity, exponent);
    day.lower = std::ldexp(day.lower, exponent);
    day.upper = std::ldexp(day.upper, exponent);
  }
  return forecast;
}

}  // namespace plantmesh::planning::forecast
