// A log-linear latency histogram in the spirit of HdrHistogram: every power of two is
// split into 64 equal buckets, so any recorded value is known within 1/64 (1.6 %) of
// itself, from 1 ns up to hours, in a fixed 30 KiB of counters. Recording is O(1) and
// allocation-free; each load worker owns one and they are merged at the end.
#pragma once

#include <array>
#include <cstdint>

namespace plantmesh::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  // Records one value in nanoseconds (negative values count as 0).
  void Record(int64_t nanos);
  void Merge(const LatencyHistogram& other);

  int64_t count() const { return count_; }
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return max_; }
  double mean() const;

  // The smallest value v such that at least `percentile` % of the recorded values are
  // <= v, reported as the upper edge of v's bucket (as HdrHistogram reports
  // "highest equivalent value"), never above max(). 0 when empty.
  int64_t ValueAtPercentile(double percentile) const;

  // Bucket arithmetic, exposed for tests.
  static int BucketOf(int64_t nanos);
  static int64_t BucketUpperEdge(int bucket);

 private:
  static constexpr int kSubBucketBits = 6;  // 64 buckets per octave
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  static constexpr int kBucketCount = 2 * kSubBuckets + (63 - kSubBucketBits) * kSubBuckets;

  std::array<int64_t, kBucketCount> counts_;
  int64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace plantmesh::bench
