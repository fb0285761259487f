// Demand forecast of one product: method chosen by a rolling-origin backtest, point
// forecasts with prediction intervals, and the backtest errors of the chosen method
// and of the seasonal-naive baseline.
//
// Candidates, in this order (a tie goes to the earlier, simpler one):
//   SEASONAL_NAIVE (the baseline: the same weekday last week), and Holt-Winters with a
//   trend and a weekly season: ADDITIVE, ADDITIVE_DAMPED, MULTIPLICATIVE,
//   MULTIPLICATIVE_DAMPED (holt_winters.h; parameters fitted by fit.h).
//
// Backtest: horizon H = min(horizon_days, max_backtest_horizon_days, n − 7). Origins
// o = n − H, n − H − step, … (at most backtest_origins of them), each leaving at least
// the training days the candidates need. Each Holt-Winters candidate is fitted once, on
// the days before the earliest origin (at most max_fit_days of them, initial states from
// the start of that window), and with those parameters the recursions run on
// through the later days, forecasting H days from every origin (a rolling origin with
// fixed parameters: Tashman 2000's "non-updated" scheme, so that a product costs one fit
// per candidate rather than one per origin). The baseline forecasts from each origin
// with the data before it. All forecasts are clamped at zero before scoring, as the
// final forecast is. The method with the lowest sMAPE (accuracy.h) over all origins and
// days wins; it is then refitted on the latest max_fit_days of the history, starting
// from its backtest parameters, for the forecast itself.
//
// Short or special histories (the reason is in `explanation`):
//   fewer than 7 days: FAILED_PRECONDITION (not even a week to repeat);
//   fewer than 16 + H days (Holt-Winters needs 16 training days, holt_winters.h — two
//   seasons and the moving average's margins): seasonal naive only;
//   fewer than 8 days: no backtest at all (no errors reported), seasonal naive;
//   fewer than 14 days: the seasonal-naive interval is at least as wide as the day-to-day
//   changes make it (a week-on-week change or two says little);
//   any day with zero demand: no multiplicative candidates (a multiplicative season of
//   zero cannot be estimated), additive ones still compete.
// Outputs are always finite: point forecasts and lower bounds are ≥ 0.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "server/planning/forecast/accuracy.h"
#include "server/planning/forecast/fit.h"
#include "server/planning/forecast/holt_winters.h"
#include "server/planning/forecast/series.h"

namespace plantmesh::planning::forecast {

enum class Method {
  kSeasonalNaive,
  kHoltWintersAdditive,
  kHoltWintersAdditiveDamped,
  kHoltWintersMultiplicative,
  kHoltWintersMultiplicativeDamped,
};
inline constexpr Method kAllMethods[] = {
    Method::kSeasonalNaive, Method::kHoltWintersAdditive, Method::kHoltWintersAdditiveDamped,
    Method::kHoltWintersMultiplicative, Method::kHoltWintersMultiplicativeDamped};

// "SEASONAL_NAIVE", "HOLT_WINTERS_ADDITIVE", "HOLT_WINTERS_ADDITIVE_DAMPED", …
absl::string_view MethodName(Method method);

inline constexpr int kMaxHorizonDays = 366;

struct ForecastOptions {
  int horizon_days = 28;               // days after the last history day, 1 … 366
  double interval_level = 0.95;        // central coverage of the interval, in (0, 1)
  int backtest_origins = 4;            // at most, ≥ 1
  int backtest_step_days = 7;          // between origins, ≥ 1
  int max_backtest_horizon_days = 28;  // ≥ 1
  int simulation_paths = 1000;         // multiplicative intervals (intervals.h), ≥ 100
  // Holt-Winters fits (backtest and final) use at most this many of the latest days,
  // ≥ 16: older demand says little about today's smoothing parameters, and a fit's cost
  // grows with its length.
  int max_fit_days = 364;
  FitOptions fit;
};

struct ForecastDay {
  absl::CivilDay day;
  double quantity = 0.0;  // point forecast, ≥ 0
  double lower = 0.0;     // ≥ 0
  double upper = 0.0;     // ≥ quantity
};

// One candidate's backtest.
struct CandidateResult {
  Method method = Method::kSeasonalNaive;
  bool evaluated = false;  // false: not a candidate here, `note` says why
  std::string note;
  ForecastAccuracy accuracy;   // when evaluated
  SmoothingParameters params;  // Holt-Winters: as fitted before the earliest origin
};

struct DemandForecast {
  Method method = Method::kSeasonalNaive;
  // Holt-Winters: the parameters fitted for the forecast (on the latest max_fit_days).
  std::optional<SmoothingParameters> params;
  std::vector<ForecastDay> days;  // horizon_days of them, from the day after the history
  double interval_level = 0.0;

  int backtest_origins = 0;  // 0: no backtest was possible
  int backtest_horizon_days = 0;
  std::optional<ForecastAccuracy> chosen_accuracy;    // the chosen method's backtest
  std::optional<ForecastAccuracy> baseline_accuracy;  // seasonal naive's backtest
  std::vector<CandidateResult> candidates;            // every method, in kAllMethods order
  std::string explanation;                            // why this method, in one sentence
};

// INVALID_ARGUMENT naming the option (e.g. "horizon_days") for options out of range;
// FAILED_PRECONDITION for a history shorter than one week.
absl::StatusOr<DemandForecast> ForecastDemand(const DailySeries& history,
                                              const ForecastOptions& options = {});

// The options check alone, for handlers that validate before loading history.
absl::Status ValidateForecastOptions(const ForecastOptions& options);

}  // namespace plantmesh::planning::forecast
