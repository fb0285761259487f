// Demand forecasting cost (server/planning/forecast): one product's ForecastDemand —
// 4 Holt-Winters fits for the backtest, the seasonal-naive baseline, the refit of the
// winner and its intervals — on 2 years of daily history, and one Holt-Winters fit
// alone. The goal is 1,000 such products in under 2 s; multiply the first by
// 1,000 (per core).
//
//   build/bench/plantmesh-forecast-bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "server/planning/forecast/fit.h"
#include "server/planning/forecast/forecast.h"

namespace plantmesh::planning::forecast {
namespace {

constexpr int kDays = 730;

// Trend, a weekly season (multiplicative when `multiplicative`) and noise.
std::vector<double> History(uint64_t seed, bool multiplicative) {
  constexpr double kWeek[7] = {1.3, 1.1, 1.0, 0.95, 0.9, 1.15, 0.6};
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> noise(0.0, 0.05);
  std::vector<double> y(kDays);
  for (int t = 0; t < kDays; ++t) {
    const double level = 100.0 + 0.05 * t;
    y[t] = multiplicative ? level * kWeek[t % 7] * (1.0 + noise(generator))
                          : level + 40.0 * (kWeek[t % 7] - 1.0) + 100.0 * noise(generator);
  }
  return y;
}

void BM_ForecastDemand(benchmark::State& state) {
  DailySeries series;
  series.first_day = absl::CivilDay(2023, 1, 2);
  uint64_t seed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    series.quantity = History(++seed, state.range(0) != 0);
    state.ResumeTiming();
    absl::StatusOr<DemandForecast> forecast = ForecastDemand(series);
    benchmark::DoNotOptimize(forecast);
    if (!forecast.ok()) state.SkipWithError("ForecastDemand failed");
  }
}
BENCHMARK(BM_ForecastDemand)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("multiplicative")
    ->Unit(benchmark::kMillisecond);

void BM_FitHoltWinters(benchmark::State& state) {
  const std::vector<double> y = History(1, true);
  HoltWintersModel model;
  model.seasonality = Seasonality::kMultiplicative;
  model.damped = state.range(0) != 0;
  int evaluations = 0;
  for (auto _ : state) {
    absl::StatusOr<FittedHoltWinters> fitted = FitHoltWinters(model, y);
    if (!fitted.ok()) state.SkipWithError("fit failed");
    evaluations = fitted.ok() ? fitted->evaluations : 0;
    benchmark::DoNotOptimize(fitted);
  }
  state.counters["evaluations"] = evaluations;
}
BENCHMARK(BM_FitHoltWinters)->Arg(0)->Arg(1)->ArgName("damped")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace plantmesh::planning::forecast

BENCHMARK_MAIN();
