#include "bench/latency_histogram.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace plantmesh::bench {
namespace {

TEST(LatencyHistogramTest, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0);
  EXPECT_EQ(h.ValueAtPercentile(99), 0);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.ValueAtPercentile(50), 50);
  EXPECT_EQ(h.ValueAtPercentile(99), 99);
  EXPECT_EQ(h.ValueAtPercentile(100), 100);
  EXPECT_EQ(h.min(), 1);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LatencyHistogramTest, BucketsCoverEveryValueWithinOneSixtyFourth) {
  for (int64_t v :
       {int64_t{127}, int64_t{128}, int64_t{129}, int64_t{255}, int64_t{256}, int64_t{1000},
        int64_t{123456}, int64_t{987654321}, int64_t{1} << 40, (int64_t{1} << 62) + 12345}) {
    const int bucket = LatencyHistogram::BucketOf(v);
    const int64_t upper = LatencyHistogram::BucketUpperEdge(bucket);
    EXPECT_GE(upper, v) << v;
    EXPECT_LE(static_cast<double>(upper - v), static_cast<double>(v) / 64.0) << v;
    if (bucket > 0) {
      EXPECT_LT(LatencyHistogram::BucketUpperEdge(bucket - 1), v) << v;
    }
  }
}

TEST(LatencyHistogramTest, BucketsAreMonotonic) {
  int previous = -1;
  for (int64_t v = 0; v < 200000; v += 7) {
    const int bucket = LatencyHistogram::BucketOf(v);
    EXPECT_GE(bucket, previous);
    previous = bucket;
  }
}

TEST(LatencyHistogramTest, PercentilesMatchSortedValuesWithinPrecision) {
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> latency(13.0, 0.8);  // around 0.5 ms
  std::vector<int64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<int64_t>(latency(random));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const int64_t exact = values[static_cast<size_t>(p / 100.0 * values.size()) - 1];
    const int64_t reported = h.ValueAtPercentile(p);
    EXPECT_GE(reported, exact) << p;
    EXPECT_LE(static_cast<double>(reported), static_cast<double>(exact) * (1.0 + 1.0 / 32)) << p;
  }
  EXPECT_EQ(h.ValueAtPercentile(100), values.back());
  EXPECT_EQ(h.max(), values.back());
}

TEST(LatencyHistogramTest, MergeAddsCountsAndExtremes) {
  LatencyHistogram a;
  LatencyHistogram b;
  a.Record(1000);
  a.Record(2000);
  b.Record(10);
  b.Record(500000);
  a.Merge(b);
  EXPECT_EQ(a.count(), 4);
  EXPECT_EQ(a.min(), 10);
  EXPECT_EQ(a.max(), 500000);
  EXPECT_DOUBLE_EQ(a.mean(), (1000 + 2000 + 10 + 500000) / 4.0);
  LatencyHistogram empty;
  a.Merge(empty);
  EXPECT_EQ(a.count(), 4);
}

TEST(LatencyHistogramTest, NegativeValuesCountAsZero) {
  LatencyHistogram h;
  h.Record(-5);
  EXPECT_EQ(h.count(), 1);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.ValueAtPercentile(50), 0);
}

}  // namespace
}  // namespace plantmesh::bench
