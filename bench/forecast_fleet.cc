// P1: the forecast scenario — 1,000 products × 730 days of daily history, each
// forecast 28 days ahead with the rolling-origin backtest choosing its method, through
// the code ForecastDemand runs (planning::ForecastProducts: one task per product over
// a small thread pool, as the handler runs it over the runtime executor). Prints wall
// time, CPU time of the process and per-product time, with 1 thread and with every
// core. Goal on the 2-core bench machine: under 2 s wall.
//
//   build/bench/plantmesh-forecast-fleet [--products N] [--days N] [--horizon N]
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "server/planning/demand.h"
#include "server/runtime/executor.h"

namespace {

using plantmesh::planning::ProductDemandHistory;

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

// Trend, weekly season (every other product multiplicative) and noise, as bench/
// forecast_bench.cc and the e2e test make them.
std::vector<ProductDemandHistory> Histories(int products, int days) {
  constexpr double kWeek[7] = {1.3, 1.1, 1.0, 0.95, 0.9, 1.15, 0.6};
  std::vector<ProductDemandHistory> out(products);
  std::mt19937_64 random(7);
  std::normal_distribution<double> noise(0.0, 0.05);
  const absl::CivilDay first(2023, 1, 2);
  for (int p = 0; p < products; ++p) {
    out[p].product_id = "P" + std::to_string(100000 + p);
    const double base = 50.0 + p % 200;
    for (int t = 0; t < days; ++t) {
      const double level = base + 0.05 * t;
      const double y = p % 2 == 0
                           ? level * kWeek[t % 7] * (1.0 + noise(random))
                           : level + 0.4 * base * (kWeek[t % 7] - 1.0) + base * noise(random);
      out[p].days.push_back({first + t, std::max(0.0, y)});
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int products = 1000, days = 730, horizon = 28;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--products") == 0) products = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--days") == 0) days = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--horizon") == 0) horizon = std::atoi(argv[i + 1]);
  }
  const std::vector<ProductDemandHistory> histories = Histories(products, days);
  plantmesh::planning::forecast::ForecastOptions options;
  options.horizon_days = horizon;
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  plantmesh::runtime::Executor executor({cores, 1024, "forecast"});
  std::printf("P1 forecast: %d products x %d days, horizon %d, backtest selection; %d cores\n",
              products, days, horizon, cores);
  int failures = 0;
  for (int threads : {1, cores}) {
    if (threads == 1 && cores == 1) continue;
    const double cpu0 = CpuSeconds();
    const absl::Time t0 = absl::Now();
    auto spawn = [&executor](std::function<void()> task) { executor.Continue(std::move(task)); };
    std::vector<plantmesh::planning::ProductForecastResult> results =
        plantmesh::planning::ForecastProducts(histories, options, spawn, threads - 1);
    const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
    const double cpu = CpuSeconds() - cpu0;
    int naive = 0;
    for (const auto& r : results) {
      if (!r.forecast.ok())
        ++failures;
      else if (r.forecast->method == plantmesh::planning::forecast::Method::kSeasonalNaive)
        ++naive;
    }
    std::printf(
        "  threads %d: wall %.3f s, cpu %.3f s, %.3f ms/product wall, %.3f ms/product cpu; "
        "seasonal naive chosen for %d; goal < 2 s: %s (cpu / threads %.3f s: the wall time "
        "on an idle machine)\n",
        threads, wall, cpu, 1e3 * wall / products, 1e3 * cpu / products, naive,
        wall < 2.0 ? "met" : "MISSED", cpu / threads);
  }
  return failures == 0 ? 0 : 1;
}
