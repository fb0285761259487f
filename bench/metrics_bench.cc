// Cost of one observation in the runtime's metrics (server/runtime/metrics.h), per
// call of the guarded base: a counter increment and a histogram observation, alone and
// from several threads on one series (one method called by every handler thread).
// Baseline: one std::atomic shared by the threads, the simplest lock-free counter.
//   build/bench/plantmesh-metrics-bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <atomic>

#include "absl/time/time.h"
#include "server/runtime/call_metrics.h"
#include "server/runtime/metrics.h"

namespace plantmesh::runtime {
namespace {

MetricsRegistry& Registry() {
  static MetricsRegistry* registry = new MetricsRegistry();
  return *registry;
}

Counter* SharedCounter() {
  static Counter* counter = Registry().AddCounter("bench_calls_total", "x")->Get();
  return counter;
}

Histogram* SharedHistogram() {
  static Histogram* histogram =
      Registry().AddHistogram("bench_seconds", "x", {}, LatencySecondsBuckets())->Get();
  return histogram;
}

CallMetrics::Method* SharedMethod() {
  static CallMetrics* metrics = new CallMetrics(&Registry());
  static CallMetrics::Method* method =
      metrics->ForMethod("plantmesh.defect.v1.DefectService.CreateDefect");
  return method;
}

std::atomic<uint64_t> plain_atomic{0};

void BM_SharedAtomic(benchmark::State& state) {
  for (auto _ : state) plain_atomic.fetch_add(1, std::memory_order_relaxed);
}
BENCHMARK(BM_SharedAtomic)->Threads(1)->Threads(2)->Threads(4);

void BM_CounterIncrement(benchmark::State& state) {
  Counter* counter = SharedCounter();
  for (auto _ : state) counter->Increment();
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(2)->Threads(4);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram* histogram = SharedHistogram();
  double value = 0.0001;
  for (auto _ : state) {
    histogram->Observe(value);
    value = value < 5 ? value * 1.7 : 0.0001;  // walk over the buckets
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2)->Threads(4);

// What End() adds per call: the code's counter and the latency histogram.
void BM_CallHandled(benchmark::State& state) {
  CallMetrics::Method* method = SharedMethod();
  for (auto _ : state) method->Handled(absl::StatusCode::kOk, absl::Microseconds(1500));
}
BENCHMARK(BM_CallHandled)->Threads(1)->Threads(2)->Threads(4);

}  // namespace
}  // namespace plantmesh::runtime

BENCHMARK_MAIN();
