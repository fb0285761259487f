// Aggregates of numeric samples (QueryAggregates), free of gRPC, protobuf and SQL: bucket
// alignment, a partial aggregate that merges (so per-minute rollups make hours and days
// and combine with raw rows at a range's edges), and the plan of a query — which spans of
// the range come from which rollup level and which raw edges are scanned.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace plantmesh::telemetry {

// Numbers match plantmesh.telemetry.v1.BucketWidth.
enum class BucketWidth : int {
  kUnspecified = 0,
  kSecond = 1,
  kTenSeconds = 2,
  kMinute = 3,
  kFifteenMinutes = 4,
  kHour = 5,
  kDay = 6,
};
inline constexpr BucketWidth kAllBucketWidths[] = {
    BucketWidth::kSecond,         BucketWidth::kTenSeconds, BucketWidth::kMinute,
    BucketWidth::kFifteenMinutes, BucketWidth::kHour,       BucketWidth::kDay};

// The width's duration (a day is 86,400 s: UTC has no daylight saving time and the Unix
// time scale no leap seconds); ZeroDuration() for kUnspecified or an unknown number.
absl::Duration BucketDuration(BucketWidth width);

// Start of the bucket of `width` (> 0) that holds `t`: buckets are [k·width, (k+1)·width)
// from the Unix epoch, rounded toward the past also before 1970.
absl::Time BucketStart(absl::Time t, absl::Duration width);

// count, min, max, sum, first and last of a set of numeric samples. Merge is commutative
// and associative — exactly for count, min, max, first and last, and up to rounding for
// sum (a double: error at most about count·2^-53·Σ|value|, the same as any summation
// order, PostgreSQL's included). So any grouping of samples into parts gives the same
// aggregate. Ties of time are broken by value, making first/last a total order:
//   first = the smallest value among the samples at the earliest time,
//   last  = the largest value among the samples at the latest time
// (SQL: ORDER BY time, value LIMIT 1 and ORDER BY time DESC, value DESC LIMIT 1).
struct Aggregate {
  int64_t count = 0;  // 0: empty, the other fields mean nothing
  double min = 0;
  double max = 0;
  double sum = 0;
  double first = 0;
  absl::Time first_time;
  double last = 0;
  absl::Time last_time;

  // Adds one sample. Values that are not finite are not counted (ingest refuses them), so
  // an aggregate never holds NaN; returns false for them.
  bool Add(absl::Time time, double value);
  // Adds the samples of `other`; an empty one changes nothing.
  void Merge(const Aggregate& other);
  bool empty() const { return count == 0; }
  // sum / count; 0 for an empty aggregate.
  double avg() const;
};

// The most buckets one query may ask for (QueryAggregatesRequest.end_time).
inline constexpr int64_t kMaxAggregateBuckets = 10'000;

// A rollup level the store keeps: one Aggregate per epoch-aligned cell of `width`, complete
// for every cell that ends at or before `complete_before` (a background job fills cells as
// data arrives; later cells are read raw or from a finer level).
struct RollupLevel {
  absl::Duration width;
  absl::Time complete_before = absl::InfinitePast();
};

// One span of a plan: [start, end) read from raw samples (rollup_width == 0) or from the
// rollup level of `rollup_width` (start and end then on its grid).
struct PlanSpan {
  absl::Time start;
  absl::Time end;
  absl::Duration rollup_width;  // ZeroDuration(): raw samples
  bool raw() const { return rollup_width == absl::ZeroDuration(); }
  friend bool operator==(const PlanSpan& a, const PlanSpan& b) {
    return a.start == b.start && a.end == b.end && a.rollup_width == b.rollup_width;
  }
};

// How to answer one query: buckets of `bucket` width from `start` (the requested start
// rounded down to the bucket) to `end` (the requested end, exclusive: the last bucket holds
// only the samples before it). `spans` cover [start, end) in order without gaps or overlap.
// Each rollup cell read lies in exactly one bucket (a level is used only when its width
// divides the bucket width), so merging every raw sample and every rollup cell into the
// bucket of its time gives the answer. The coarsest usable level covers the middle; finer
// levels, then raw samples, only the edges it cannot: raw samples are read for less than two
// cells of the finest usable level (plus any time after its complete_before).
struct AggregatePlan {
  absl::Time start;
  absl::Time end;
  absl::Duration bucket;
  int64_t bucket_count = 0;  // buckets in [start, end), the last one possibly partial
  std::vector<PlanSpan> spans;
};

// Checks the levels the store keeps: widths > 0, ascending, each dividing the next (so a
// coarse level's edges lie on every finer grid). INVALID_ARGUMENT saying which is wrong.
// Suggested: 1 minute and 1 hour (a day of hour cells is 24 rows).
absl::Status ValidateRollupLevels(const std::vector<RollupLevel>& levels);

// The request's own faults, every one named (INVALID_ARGUMENT): bucket_width not given;
// start_time or end_time not finite; end_time not after start_time; more than
// kMaxAggregateBuckets buckets between them. PlanAggregateQuery runs it first.
absl::Status CheckAggregateRange(absl::Time start_time, absl::Time end_time, BucketWidth width);

// Plans a query of [start_time, end_time) in buckets of `width` over `levels` (validated
// with ValidateRollupLevels; a level whose width does not divide the bucket is not used).
// Errors: CheckAggregateRange's; levels invalid.
absl::StatusOr<AggregatePlan> PlanAggregateQuery(absl::Time start_time, absl::Time end_time,
                                                 BucketWidth width,
                                                 const std::vector<RollupLevel>& levels);

// Collects the parts of a query's answer: raw samples and rollup cells merged into the
// bucket of their time. Parts outside [plan.start, plan.end) are ignored.
class BucketMerger {
 public:
  explicit BucketMerger(const AggregatePlan& plan)
      : start_(plan.start), end_(plan.end), bucket_(plan.bucket) {}
  void AddSample(absl::Time time, double value);
  // A rollup cell (or any partial aggregate) starting at `cell_start`.
  void AddPart(absl::Time cell_start, const Aggregate& part);
  // Non-empty buckets by start, oldest first.
  const std::map<absl::Time, Aggregate>& buckets() const { return buckets_; }

 private:
  absl::Time start_;
  absl::Time end_;
  absl::Duration bucket_;
  std::map<absl::Time, Aggregate> buckets_;
};

}  // namespace plantmesh::telemetry
