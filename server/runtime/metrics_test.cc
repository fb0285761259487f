#include "server/runtime/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace plantmesh::runtime {
namespace {

TEST(MetricsText, GoldenOutputOfEveryKind) {
  MetricsRegistry registry;
  CounterFamily* calls = registry.AddCounter("demo_calls_total", "Calls made.", {"method", "code"});
  calls->WithLabels({"Create", "OK"})->Increment(3);
  calls->WithLabels({"Create", "InvalidArgument"})->Increment();
  registry.AddGauge("demo_temperature_celsius", "Temperature.")->Get()->Set(-2.5);
  HistogramFamily* latency =
      registry.AddHistogram("demo_latency_seconds", "Latency.", {"method"}, {0.005, 0.1, 1});
  Histogram* create = latency->WithLabels({"Create"});
  create->Observe(0.001);
  create->Observe(0.005);  // on the bound: counted in le="0.005"
  create->Observe(0.5);
  create->Observe(7);
  registry.AddCallback("demo_pool_in_use", "Connections in use.", MetricType::kGauge, {}, [] {
    return std::vector<CallbackSample>{{{}, 4}};
  });

  EXPECT_EQ(registry.Scrape(),
            "# HELP demo_calls_total Calls made.\n"
            "# TYPE demo_calls_total counter\n"
            "demo_calls_total{method=\"Create\",code=\"InvalidArgument\"} 1\n"
            "demo_calls_total{method=\"Create\",code=\"OK\"} 3\n"
            "# HELP demo_temperature_celsius Temperature.\n"
            "# TYPE demo_temperature_celsius gauge\n"
            "demo_temperature_celsius -2.5\n"
            "# HELP demo_latency_seconds Latency.\n"
            "# TYPE demo_latency_seconds histogram\n"
            "demo_latency_seconds_bucket{method=\"Create\",le=\"0.005\"} 2\n"
            "demo_latency_seconds_bucket{method=\"Create\",le=\"0.1\"} 2\n"
            "demo_latency_seconds_bucket{method=\"Create\",le=\"1\"} 3\n"
            "demo_latency_seconds_bucket{method=\"Create\",le=\"+Inf\"} 4\n"
            "demo_latency_seconds_sum{method=\"Create\"} 7.506\n"
            "demo_latency_seconds_count{method=\"Create\"} 4\n"
            "# HELP demo_pool_in_use Connections in use.\n"
            "# TYPE demo_pool_in_use gauge\n"
            "demo_pool_in_use 4\n");
}

TEST(MetricsText, EscapesLabelValuesAndHelp) {
  MetricFamilySnapshot family;
  family.name = "demo_info";
  family.help = "Help with a \\ backslash\nand a newline \"quoted\".";
  family.type = MetricType::kGauge;
  family.samples.push_back({"", {{"path", "C:\\dir\n\"x\""}, {"utf8", "Prüfstand"}}, 1});
  EXPECT_EQ(WritePrometheusText({family}),
            "# HELP demo_info Help with a \\\\ backslash\\nand a newline \"quoted\".\n"
            "# TYPE demo_info gauge\n"
            "demo_info{path=\"C:\\\\dir\\n\\\"x\\\"\",utf8=\"Prüfstand\"} 1\n");
}

TEST(MetricsText, SpecialAndFractionalValues) {
  MetricFamilySnapshot family;
  family.name = "demo";
  family.type = MetricType::kGauge;
  family.samples = {{"", {{"v", "a"}}, std::numeric_limits<double>::infinity()},
                    {"", {{"v", "b"}}, -std::numeric_limits<double>::infinity()},
                    {"", {{"v", "c"}}, std::nan("")},
                    {"", {{"v", "d"}}, 0.1},
                    {"", {{"v", "e"}}, 1714567890},
                    {"", {{"v", "f"}}, 1e-7}};
  EXPECT_EQ(WritePrometheusText({family}),
            "# HELP demo \n# TYPE demo gauge\n"
            "demo{v=\"a\"} +Inf\ndemo{v=\"b\"} -Inf\ndemo{v=\"c\"} NaN\ndemo{v=\"d\"} 0.1\n"
            "demo{v=\"e\"} 1714567890\ndemo{v=\"f\"} 1e-07\n");
}

TEST(Metrics, SeriesAreCreatedOnceAndKept) {
  MetricsRegistry registry;
  CounterFamily* family = registry.AddCounter("demo_total", "x", {"a"});
  Counter* first = family->WithLabels({"1"});
  EXPECT_EQ(family->WithLabels({"1"}), first);
  EXPECT_NE(family->WithLabels({"2"}), first);
}

TEST(Metrics, CountersSumEveryThreadsShard) {
  MetricsRegistry registry;
  Counter* counter = registry.AddCounter("demo_total", "x")->Get();
  Histogram* histogram =
      registry.AddHistogram("demo_seconds", "x", {}, LatencySecondsBuckets())->Get();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        counter->Increment();
        histogram->Observe(0.002);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(counter->Value(), uint64_t{kThreads} * kPerThread);
  const Histogram::Snapshot read = histogram->Read();
  EXPECT_EQ(read.count, uint64_t{kThreads} * kPerThread);
  EXPECT_NEAR(read.sum, 0.002 * kThreads * kPerThread, 1e-6);
  EXPECT_EQ(read.cumulative[1], 0u);          // le=0.001
  EXPECT_EQ(read.cumulative[2], read.count);  // le=0.0025
}

TEST(Metrics, GaugeSetAndAdd) {
  MetricsRegistry registry;
  Gauge* gauge = registry.AddGauge("demo", "x")->Get();
  gauge->Set(3);
  gauge->Add(-1.5);
  EXPECT_DOUBLE_EQ(gauge->Value(), 1.5);
}

TEST(MetricsDeathTest, MisuseAborts) {
  MetricsRegistry registry;
  registry.AddCounter("demo_total", "x", {"a"});
  EXPECT_DEATH(registry.AddCounter("demo_total", "again"), "added twice");
  EXPECT_DEATH(registry.AddGauge("bad-name", "x"), "invalid metric name");
  EXPECT_DEATH(registry.AddGauge("demo_g", "x", {"le"}), "invalid label name");
  EXPECT_DEATH(registry.AddHistogram("demo_h", "x", {}, {1, 0.5}), "increasing");
  CounterFamily* family = registry.AddCounter("demo2_total", "x", {"a"});
  EXPECT_DEATH(family->WithLabels({"1", "2"}), "2 label values for 1 labels");
}

}  // namespace
}  // namespace plantmesh::runtime
