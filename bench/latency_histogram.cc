#include "bench/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace plantmesh::bench {

LatencyHistogram::LatencyHistogram() { counts_.fill(0); }

int LatencyHistogram::BucketOf(int64_t nanos) {
  if (nanos < 2 * kSubBuckets) return nanos < 0 ? 0 : static_cast<int>(nanos);
  const int msb = 63 - __builtin_clzll(static_cast<uint64_t>(nanos));
  const int shift = msb - kSubBucketBits;  // (nanos >> shift) is in [64, 128)
  const int sub = static_cast<int>(nanos >> shift) - kSubBuckets;
  return 2 * kSubBuckets + (shift - 1) * kSubBuckets + sub;
}

int64_t LatencyHistogram::BucketUpperEdge(int bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  const int k = bucket - 2 * kSubBuckets;
  const int shift = k / kSubBuckets + 1;
  const uint64_t sub = k % kSubBuckets + kSubBuckets;
  // Unsigned: the top bucket's edge is exactly INT64_MAX, (128 << 56) - 1.
  return static_cast<int64_t>(((sub + 1) << shift) - 1);
}

void LatencyHistogram::Record(int64_t nanos) {
  nanos = std::max<int64_t>(nanos, 0);
  ++counts_[BucketOf(nanos)];
  if (count_ == 0 || nanos < min_) min_ = nanos;
  max_ = std::max(max_, nanos);
  ++count_;
  sum_ += nanos;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (int i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / count_);
}

int64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // Rank of the wanted value, 1-based; at least the first value.
  const auto rank = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(percentile / 100.0 * static_cast<double>(count_))));
  int64_t seen = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(BucketUpperEdge(i), max_);
  }
  return max_;
}

}  // namespace plantmesh::bench
