#include "server/telemetry/aggregates.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"

namespace plantmesh::telemetry {
namespace {

bool Divides(absl::Duration divisor, absl::Duration d) {
  absl::Duration remainder;
  absl::IDivDuration(d, divisor, &remainder);
  return remainder == absl::ZeroDuration();
}

absl::Time BucketEnd(absl::Time t, absl::Duration width) {  // smallest grid point >= t
  const absl::Time start = BucketStart(t, width);
  return start == t ? t : start + width;
}

void Append(std::vector<PlanSpan>* spans, PlanSpan span) {
  if (span.start >= span.end) return;
  if (!spans->empty() && spans->back().end == span.start &&
      spans->back().rollup_width == span.rollup_width) {
    spans->back().end = span.end;
    return;
  }
  spans->push_back(span);
}

// Covers [a, b) with levels[i..] (coarsest first), raw where no level fits.
void Cover(absl::Time a, absl::Time b, const std::vector<RollupLevel>& levels, size_t i,
           std::vector<PlanSpan>* spans) {
  if (a >= b) return;
  if (i == levels.size()) {
    Append(spans, {a, b, absl::ZeroDuration()});
    return;
  }
  const RollupLevel& level = levels[i];
  const absl::Time lo = BucketEnd(a, level.width);
  const absl::Time limit = std::min(b, level.complete_before);
  const absl::Time hi = limit <= lo ? lo : BucketStart(limit, level.width);
  if (lo >= hi) {
    Cover(a, b, levels, i + 1, spans);
    return;
  }
  Cover(a, lo, levels, i + 1, spans);
  Append(spans, {lo, hi, level.width});
  Cover(hi, b, levels, i + 1, spans);
}

}  // namespace

absl::Duration BucketDuration(BucketWidth width) {
  switch (width) {
    case BucketWidth::kSecond:
      return absl::Seconds(1);
    case BucketWidth::kTenSeconds:
      return absl::Seconds(10);
    case BucketWidth::kMinute:
      return absl::Minutes(1);
    case BucketWidth::kFifteenMinutes:
      return absl::Minutes(15);
    case BucketWidth::kHour:
      return absl::Hours(1);
    case BucketWidth::kDay:
      return absl::Hours(24);
    case BucketWidth::kUnspecified:
      break;
  }
  return absl::ZeroDuration();
}

absl::Time BucketStart(absl::Time t, absl::Duration width) {
  // absl::Floor rounds toward negative infinity, so 1969 is aligned like 1970.
  return absl::UnixEpoch() + absl::Floor(t - absl::UnixEpoch(), width);
}

bool Aggregate::Add(absl::Time time, double value) {
  if (!std::isfinite(value)) return false;
  Aggregate one;
  one.count = 1;
  one.min = one.max = one.sum = one.first = one.last = value;
  one.first_time = one.last_time = time;
  Merge(one);
  return true;
}

void Aggregate::Merge(const Aggregate& other) {
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  count += other.count;
  min = std::min(min, other.min);
  max = std::max(max, other.max);
  sum += other.sum;
  if (other.first_time < first_time || (other.first_time == first_time && other.first < first)) {
    first = other.first;
    first_time = other.first_time;
  }
  if (other.last_time > last_time || (other.last_time == last_time && other.last > last)) {
    last = other.last;
    last_time = other.last_time;
  }
}

double Aggregate::avg() const { return count == 0 ? 0 : sum / static_cast<double>(count); }

absl::Status ValidateRollupLevels(const std::vector<RollupLevel>& levels) {
  for (size_t i = 0; i < levels.size(); ++i) {
    const absl::Duration width = levels[i].width;
    if (width <= absl::ZeroDuration() || width == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("rollup level ", i, ": width must be positive and finite"));
    }
    if (i > 0 && (width <= levels[i - 1].width || !Divides(levels[i - 1].width, width))) {
      return absl::InvalidArgumentError(
          absl::StrCat("rollup level ", i, ": width ", absl::FormatDuration(width),
                       " must be a multiple of the previous level's ",
                       absl::FormatDuration(levels[i - 1].width), " and larger"));
    }
  }
  return absl::OkStatus();
}

namespace {

// Buckets of `bucket` from `first` (a bucket's start) until `end`, the last one partial.
int64_t BucketCount(absl::Time first, absl::Time end, absl::Duration bucket) {
  absl::Duration remainder;
  return absl::IDivDuration(end - first, bucket, &remainder) +
         (remainder > absl::ZeroDuration() ? 1 : 0);
}

}  // namespace

absl::Status CheckAggregateRange(absl::Time start_time, absl::Time end_time, BucketWidth width) {
  runtime::Violations v;
  const absl::Duration bucket = BucketDuration(width);
  if (bucket == absl::ZeroDuration()) v.Add("bucket_width", "must be given");
  const bool start_finite =
      start_time != absl::InfinitePast() && start_time != absl::InfiniteFuture();
  if (!start_finite) v.Add("start_time", "must be a finite time");
  if (end_time == absl::InfiniteFuture()) {
    v.Add("end_time", "must be a finite time");
  } else if (start_finite && end_time <= start_time) {
    v.Add("end_time", "must be after start_time");
  } else if (start_finite && bucket != absl::ZeroDuration()) {
    const absl::Time first = BucketStart(start_time, bucket);
    const int64_t count = BucketCount(first, end_time, bucket);
    if (count > kMaxAggregateBuckets) {
      // The buckets counted from the start's bucket, said so (outside testing: a range of
      // exactly 10,000 s refused for 10,000 one-second buckets read as a contradiction).
      const std::string rounded =
          first == start_time
              ? ""
              : absl::StrCat(" (start_time falls in the bucket that begins ",
                             absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", first, absl::UTCTimeZone()),
                             ")");
      v.Add("end_time",
            absl::StrCat("must be at most ", kMaxAggregateBuckets, " buckets of ",
                         absl::FormatDuration(bucket), " after start_time; this range spans ",
                         count, " buckets", rounded));
    }
  }
  return v.ToStatus();
}

absl::StatusOr<AggregatePlan> PlanAggregateQuery(absl::Time start_time, absl::Time end_time,
                                                 BucketWidth width,
                                                 const std::vector<RollupLevel>& levels) {
  PM_RETURN_IF_ERROR(CheckAggregateRange(start_time, end_time, width));
  if (absl::Status status = ValidateRollupLevels(levels); !status.ok()) return status;
  const absl::Duration bucket = BucketDuration(width);
  AggregatePlan plan;
  plan.start = BucketStart(start_time, bucket);
  plan.end = end_time;
  plan.bucket = bucket;
  plan.bucket_count = BucketCount(plan.start, plan.end, bucket);

  std::vector<RollupLevel> usable;  // coarsest first
  for (auto it = levels.rbegin(); it != levels.rend(); ++it) {
    if (Divides(it->width, bucket)) usable.push_back(*it);
  }
  Cover(plan.start, plan.end, usable, 0, &plan.spans);
  return plan;
}

void BucketMerger::AddSample(absl::Time time, double value) {
  if (time < start_ || time >= end_ || !std::isfinite(value)) return;
  buckets_[BucketStart(time, bucket_)].Add(time, value);
}

void BucketMerger::AddPart(absl::Time cell_start, const Aggregate& part) {
  if (cell_start < start_ || cell_start >= end_ || part.empty()) return;
  buckets_[BucketStart(cell_start, bucket_)].Merge(part);
}

}  // namespace plantmesh::telemetry
