#include "server/telemetry/aggregates.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"

namespace plantmesh::telemetry {

void PrintTo(const PlanSpan& s, std::ostream* os) {
  *os << (s.raw() ? std::string("raw") : absl::FormatDuration(s.rollup_width)) << " ["
      << absl::FormatTime(s.start) << ", " << absl::FormatTime(s.end) << ")";
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Time At(const std::string& text) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime("%Y-%m-%d %H:%M:%E*S", text, absl::UTCTimeZone(), &t, &error))
      << text << ": " << error;
  return t;
}

const absl::Time kEpoch = absl::UnixEpoch();
const absl::Duration kRaw = absl::ZeroDuration();

TEST(BucketTest, Durations) {
  EXPECT_EQ(BucketDuration(BucketWidth::kSecond), absl::Seconds(1));
  EXPECT_EQ(BucketDuration(BucketWidth::kTenSeconds), absl::Seconds(10));
  EXPECT_EQ(BucketDuration(BucketWidth::kMinute), absl::Minutes(1));
  EXPECT_EQ(BucketDuration(BucketWidth::kFifteenMinutes), absl::Minutes(15));
  EXPECT_EQ(BucketDuration(BucketWidth::kHour), absl::Hours(1));
  EXPECT_EQ(BucketDuration(BucketWidth::kDay), absl::Hours(24));
  EXPECT_EQ(BucketDuration(BucketWidth::kUnspecified), absl::ZeroDuration());
  EXPECT_EQ(BucketDuration(static_cast<BucketWidth>(42)), absl::ZeroDuration());
}

TEST(BucketTest, AlignmentAroundTheEpochAndBeforeIt) {
  EXPECT_EQ(BucketStart(kEpoch, absl::Seconds(1)), kEpoch);
  EXPECT_EQ(BucketStart(kEpoch - absl::Nanoseconds(1), absl::Seconds(1)),
            kEpoch - absl::Seconds(1));
  EXPECT_EQ(BucketStart(kEpoch - absl::Seconds(10.5), absl::Seconds(10)),
            kEpoch - absl::Seconds(20));
  EXPECT_EQ(BucketStart(kEpoch - absl::Seconds(10), absl::Seconds(10)), kEpoch - absl::Seconds(10));
  EXPECT_EQ(BucketStart(kEpoch + absl::Microseconds(999999), absl::Seconds(1)), kEpoch);
  EXPECT_EQ(BucketStart(At("1969-12-31 12:00:00"), absl::Hours(24)), At("1969-12-31 00:00:00"));
  EXPECT_EQ(BucketStart(At("1969-12-31 23:59:59.999999"), absl::Hours(24)),
            At("1969-12-31 00:00:00"));
}

TEST(BucketTest, DayAndQuarterHourBucketsAreUtcCalendarAligned) {
  EXPECT_EQ(BucketStart(At("2026-03-02 23:59:59.999999"), absl::Hours(24)),
            At("2026-03-02 00:00:00"));
  EXPECT_EQ(BucketStart(At("2026-03-03 00:00:00"), absl::Hours(24)), At("2026-03-03 00:00:00"));
  // 2026-03-29: daylight saving starts in Europe; UTC buckets do not care.
  EXPECT_EQ(BucketStart(At("2026-03-29 02:30:00"), absl::Hours(24)), At("2026-03-29 00:00:00"));
  EXPECT_EQ(BucketStart(At("2026-03-02 10:44:59.999"), absl::Minutes(15)),
            At("2026-03-02 10:30:00"));
  EXPECT_EQ(BucketStart(At("2026-03-02 10:45:00"), absl::Minutes(15)), At("2026-03-02 10:45:00"));
}

TEST(BucketTest, RandomTimesFallInTheirAlignedBucket) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> micros(-4'000'000'000'000'000, 4'000'000'000'000'000);
  for (int i = 0; i < 20000; ++i) {
    const absl::Time t = kEpoch + absl::Microseconds(micros(rng));
    for (BucketWidth width : kAllBucketWidths) {
      const absl::Duration w = BucketDuration(width);
      const absl::Time start = BucketStart(t, w);
      ASSERT_LE(start, t);
      ASSERT_LT(t, start + w);
      absl::Duration remainder;
      absl::IDivDuration(start - kEpoch, w, &remainder);
      ASSERT_EQ(remainder, absl::ZeroDuration()) << absl::FormatTime(t);
    }
  }
}

TEST(AggregateTest, AddKeepsCountMinMaxSumFirstLast) {
  Aggregate a;
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.avg(), 0);
  const absl::Time t = At("2026-03-02 08:00:00");
  EXPECT_TRUE(a.Add(t + absl::Seconds(2), 5));
  EXPECT_TRUE(a.Add(t, -1.5));
  EXPECT_TRUE(a.Add(t + absl::Seconds(9), 3));
  EXPECT_TRUE(a.Add(t + absl::Seconds(5), 10));
  EXPECT_EQ(a.count, 4);
  EXPECT_EQ(a.min, -1.5);
  EXPECT_EQ(a.max, 10);
  EXPECT_EQ(a.sum, 16.5);
  EXPECT_EQ(a.avg(), 16.5 / 4);
  EXPECT_EQ(a.first, -1.5);
  EXPECT_EQ(a.first_time, t);
  EXPECT_EQ(a.last, 3);
  EXPECT_EQ(a.last_time, t + absl::Seconds(9));
}

TEST(AggregateTest, EqualTimesAreBrokenByValue) {
  const absl::Time t = At("2026-03-02 08:00:00");
  Aggregate a;
  a.Add(t, 7);
  a.Add(t, 2);
  a.Add(t, 9);
  EXPECT_EQ(a.first, 2);  // the smallest at the earliest time
  EXPECT_EQ(a.last, 9);   // the largest at the latest time
  Aggregate b;
  b.Add(t, 9);
  b.Add(t, 2);
  b.Add(t, 7);
  EXPECT_EQ(b.first, 2);
  EXPECT_EQ(b.last, 9);
}

TEST(AggregateTest, NonFiniteValuesAreNotCounted) {
  Aggregate a;
  const absl::Time t = At("2026-03-02 08:00:00");
  EXPECT_FALSE(a.Add(t, std::nan("")));
  EXPECT_FALSE(a.Add(t, std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(a.Add(t, -std::numeric_limits<double>::infinity()));
  EXPECT_TRUE(a.empty());
  a.Add(t, 1);
  EXPECT_FALSE(a.Add(t, std::nan("")));
  EXPECT_EQ(a.count, 1);
  EXPECT_EQ(a.sum, 1);
}

TEST(AggregateTest, EmptyIsTheIdentityOfMerge) {
  Aggregate a;
  a.Add(At("2026-03-02 08:00:00"), 4);
  Aggregate left = a;
  left.Merge(Aggregate{});
  Aggregate right;
  right.Merge(a);
  for (const Aggregate& x : {left, right}) {
    EXPECT_EQ(x.count, 1);
    EXPECT_EQ(x.sum, 4);
    EXPECT_EQ(x.first_time, a.first_time);
  }
}

struct Sample {
  absl::Time time;
  double value;
};

// Random samples with many equal times and values of mixed sign and magnitude.
std::vector<Sample> RandomSamples(std::mt19937_64& rng, absl::Time from, absl::Duration span,
                                  int n) {
  std::uniform_int_distribution<int64_t> offset(0, absl::ToInt64Microseconds(span) - 1);
  std::uniform_int_distribution<int> kind(0, 3);
  std::uniform_real_distribution<double> real(-1000, 1000);
  std::uniform_int_distribution<int> small(-3, 3);
  std::vector<Sample> samples;
  for (int i = 0; i < n; ++i) {
    absl::Time t = from + absl::Microseconds(offset(rng));
    if (!samples.empty() && kind(rng) == 0) t = samples[rng() % samples.size()].time;
    const double value = kind(rng) == 0 ? small(rng) : real(rng) * std::pow(10.0, small(rng));
    samples.push_back({t, value});
  }
  return samples;
}

// The aggregate computed from its definition, without Add or Merge.
struct Direct {
  int64_t count = 0;
  double min = 0, max = 0, sum = 0, abs_sum = 0, first = 0, last = 0;
  absl::Time first_time, last_time;
};
Direct Compute(const std::vector<Sample>& samples) {
  Direct d;
  if (samples.empty()) return d;
  d.count = static_cast<int64_t>(samples.size());
  d.min = d.max = samples[0].value;
  auto by_time_value = [](const Sample& a, const Sample& b) {
    return a.time != b.time ? a.time < b.time : a.value < b.value;
  };
  const Sample first = *std::min_element(samples.begin(), samples.end(), by_time_value);
  const Sample last = *std::max_element(samples.begin(), samples.end(), by_time_value);
  d.first = first.value;
  d.first_time = first.time;
  d.last = last.value;
  d.last_time = last.time;
  for (const Sample& s : samples) {
    d.min = std::min(d.min, s.value);
    d.max = std::max(d.max, s.value);
    d.sum += s.value;
    d.abs_sum += std::abs(s.value);
  }
  return d;
}

void ExpectMatches(const Aggregate& a, const Direct& d, const std::string& where) {
  SCOPED_TRACE(where);
  ASSERT_EQ(a.count, d.count);
  if (d.count == 0) return;
  EXPECT_EQ(a.min, d.min);
  EXPECT_EQ(a.max, d.max);
  EXPECT_EQ(a.first, d.first);
  EXPECT_EQ(a.first_time, d.first_time);
  EXPECT_EQ(a.last, d.last);
  EXPECT_EQ(a.last_time, d.last_time);
  // The sum depends on the order of additions, by at most n·2^-53·Σ|x|.
  EXPECT_NEAR(a.sum, d.sum, 1e-12 * d.abs_sum + 1e-300);
  for (double x : {a.min, a.max, a.sum, a.first, a.last, a.avg()}) EXPECT_FALSE(std::isnan(x));
}

// Splits the samples into random parts and merges them in a random tree.
Aggregate MergeRandomly(std::mt19937_64& rng, std::vector<Sample> samples) {
  std::shuffle(samples.begin(), samples.end(), rng);
  std::vector<Aggregate> parts;
  for (size_t i = 0; i < samples.size();) {
    const size_t n = 1 + rng() % 7;
    Aggregate part;
    for (size_t j = i; j < std::min(samples.size(), i + n); ++j) {
      part.Add(samples[j].time, samples[j].value);
    }
    parts.push_back(part);
    if (rng() % 5 == 0) parts.push_back(Aggregate{});  // empty cells merge too
    i += n;
  }
  while (parts.size() > 1) {
    const size_t i = rng() % (parts.size() - 1);
    Aggregate merged = parts[i];
    merged.Merge(parts[i + 1]);
    parts[i] = merged;
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(i) + 1);
  }
  return parts.empty() ? Aggregate{} : parts[0];
}

TEST(AggregateTest, AnyGroupingOfMergesEqualsTheDirectComputation) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 300; ++round) {
    const auto samples =
        RandomSamples(rng, At("2026-03-02 08:00:00"), absl::Seconds(5), 1 + round % 200);
    const Direct direct = Compute(samples);
    ExpectMatches(MergeRandomly(rng, samples), direct, absl::StrCat("round ", round));
    ExpectMatches(MergeRandomly(rng, samples), direct, absl::StrCat("round ", round, " again"));
  }
}

TEST(AggregateTest, MergeIsCommutativeAndAssociative) {
  std::mt19937_64 rng(13);
  auto random_part = [&rng]() {
    Aggregate a;
    for (const Sample& s : RandomSamples(rng, At("2026-03-02 08:00:00"), absl::Seconds(2),
                                         static_cast<int>(rng() % 6))) {
      a.Add(s.time, s.value);
    }
    return a;
  };
  auto merged = [](Aggregate a, const Aggregate& b) {
    a.Merge(b);
    return a;
  };
  auto same = [](const Aggregate& x, const Aggregate& y, bool exact_sum) {
    if (x.count != y.count) return false;
    if (x.count == 0) return true;
    const bool sum_ok =
        exact_sum ? x.sum == y.sum : std::abs(x.sum - y.sum) <= 1e-12 * (std::abs(x.sum) + 1e4);
    return sum_ok && x.min == y.min && x.max == y.max && x.first == y.first &&
           x.first_time == y.first_time && x.last == y.last && x.last_time == y.last_time;
  };
  for (int round = 0; round < 2000; ++round) {
    const Aggregate a = random_part(), b = random_part(), c = random_part();
    // a + b == b + a exactly, also in floating point.
    ASSERT_TRUE(same(merged(a, b), merged(b, a), /*exact_sum=*/true)) << round;
    ASSERT_TRUE(same(merged(merged(a, b), c), merged(a, merged(b, c)), /*exact_sum=*/false))
        << round;
  }
}

std::vector<RollupLevel> MinuteAndHour(absl::Time complete_before = absl::InfiniteFuture()) {
  return {{absl::Minutes(1), complete_before}, {absl::Hours(1), complete_before}};
}

TEST(PlanTest, LongRangeReadsHourCellsAndOnlyItsEdgesFinerOrRaw) {
  auto plan = PlanAggregateQuery(At("2026-03-02 08:07:30"), At("2026-03-04 17:42:10"),
                                 BucketWidth::kHour, MinuteAndHour());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->start, At("2026-03-02 08:00:00"));  // rounded down to the bucket
  EXPECT_EQ(plan->end, At("2026-03-04 17:42:10"));
  EXPECT_EQ(plan->bucket_count, 58);  // 16 + 24 + 17 full hours and the partial 17:00
  EXPECT_THAT(
      plan->spans,
      ElementsAre(PlanSpan{At("2026-03-02 08:00:00"), At("2026-03-04 17:00:00"), absl::Hours(1)},
                  PlanSpan{At("2026-03-04 17:00:00"), At("2026-03-04 17:42:00"), absl::Minutes(1)},
                  PlanSpan{At("2026-03-04 17:42:00"), At("2026-03-04 17:42:10"), kRaw}));
}

TEST(PlanTest, LevelsThatDoNotDivideTheBucketAreNotUsed) {
  // Hour cells straddle quarter-hour buckets: minutes only.
  auto quarter = PlanAggregateQuery(At("2026-03-02 08:07:30"), At("2026-03-02 11:00:05"),
                                    BucketWidth::kFifteenMinutes, MinuteAndHour());
  ASSERT_TRUE(quarter.ok());
  EXPECT_EQ(quarter->start, At("2026-03-02 08:00:00"));
  EXPECT_THAT(
      quarter->spans,
      ElementsAre(PlanSpan{At("2026-03-02 08:00:00"), At("2026-03-02 11:00:00"), absl::Minutes(1)},
                  PlanSpan{At("2026-03-02 11:00:00"), At("2026-03-02 11:00:05"), kRaw}));
  // Seconds and ten seconds: no level fits, raw (at most 10,000 buckets).
  auto seconds = PlanAggregateQuery(At("2026-03-02 08:07:30.5"), At("2026-03-02 09:07:30"),
                                    BucketWidth::kTenSeconds, MinuteAndHour());
  ASSERT_TRUE(seconds.ok());
  EXPECT_EQ(seconds->start, At("2026-03-02 08:07:30"));
  EXPECT_EQ(seconds->bucket_count, 360);
  EXPECT_THAT(seconds->spans,
              ElementsAre(PlanSpan{At("2026-03-02 08:07:30"), At("2026-03-02 09:07:30"), kRaw}));
}

TEST(PlanTest, CellsNotRolledUpYetAreReadFinerOrRaw) {
  const std::vector<RollupLevel> levels = {{absl::Minutes(1), At("2026-03-04 17:30:00")},
                                           {absl::Hours(1), At("2026-03-04 12:20:00")}};
  auto plan = PlanAggregateQuery(At("2026-03-02 08:00:00"), At("2026-03-04 17:42:10"),
                                 BucketWidth::kDay, levels);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->start, At("2026-03-02 00:00:00"));
  EXPECT_EQ(plan->bucket_count, 3);
  EXPECT_THAT(
      plan->spans,
      ElementsAre(PlanSpan{At("2026-03-02 00:00:00"), At("2026-03-04 12:00:00"), absl::Hours(1)},
                  PlanSpan{At("2026-03-04 12:00:00"), At("2026-03-04 17:30:00"), absl::Minutes(1)},
                  PlanSpan{At("2026-03-04 17:30:00"), At("2026-03-04 17:42:10"), kRaw}));
  // Nothing rolled up yet: all raw.
  auto fresh = PlanAggregateQuery(At("2026-03-02 08:00:00"), At("2026-03-02 10:00:00"),
                                  BucketWidth::kHour, MinuteAndHour(absl::InfinitePast()));
  ASSERT_TRUE(fresh.ok());
  EXPECT_THAT(fresh->spans,
              ElementsAre(PlanSpan{At("2026-03-02 08:00:00"), At("2026-03-02 10:00:00"), kRaw}));
}

TEST(PlanTest, BeforeTheEpoch) {
  auto plan = PlanAggregateQuery(At("1969-12-31 22:30:10"), At("1970-01-01 01:00:30"),
                                 BucketWidth::kMinute, MinuteAndHour());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->start, At("1969-12-31 22:30:00"));
  EXPECT_THAT(
      plan->spans,
      ElementsAre(PlanSpan{At("1969-12-31 22:30:00"), At("1970-01-01 01:00:00"), absl::Minutes(1)},
                  PlanSpan{At("1970-01-01 01:00:00"), At("1970-01-01 01:00:30"), kRaw}));
}

std::string FieldOf(const absl::Status& status) {
  const auto violations = runtime::FieldViolationsOf(status);
  return violations.size() == 1 ? violations[0].field : "";
}

TEST(PlanTest, Errors) {
  const absl::Time t = At("2026-03-02 08:00:00");
  EXPECT_EQ(
      FieldOf(PlanAggregateQuery(t, t + absl::Hours(1), BucketWidth::kUnspecified, {}).status()),
      "bucket_width");
  EXPECT_EQ(FieldOf(PlanAggregateQuery(t, t, BucketWidth::kHour, {}).status()), "end_time");
  EXPECT_EQ(FieldOf(PlanAggregateQuery(t, t - absl::Hours(1), BucketWidth::kHour, {}).status()),
            "end_time");
  EXPECT_TRUE(PlanAggregateQuery(t, t + absl::Seconds(10000), BucketWidth::kSecond, {}).ok());
  EXPECT_EQ(FieldOf(PlanAggregateQuery(t, t + absl::Seconds(10000) + absl::Nanoseconds(1),
                                       BucketWidth::kSecond, {})
                        .status()),
            "end_time");
  EXPECT_EQ(
      FieldOf(PlanAggregateQuery(t, t + absl::Hours(24 * 10001), BucketWidth::kDay, {}).status()),
      "end_time");
  // A start rounded down counts: 10,000 seconds from 08:00:00.5 is 10,001 buckets, and
  // the refusal says so (outside testing: it read as a contradiction).
  const absl::Status rounded =
      PlanAggregateQuery(t + absl::Milliseconds(500),
                         t + absl::Milliseconds(500) + absl::Seconds(10000), BucketWidth::kSecond,
                         {})
          .status();
  EXPECT_EQ(FieldOf(rounded), "end_time");
  EXPECT_THAT(std::string(rounded.message()),
              HasSubstr("must be at most 10000 buckets of 1s after start_time; this range spans "
                        "10001 buckets (start_time falls in the bucket that begins "
                        "2026-03-02T08:00:00Z)"));
}

TEST(PlanTest, RollupLevelsMustNest) {
  EXPECT_TRUE(ValidateRollupLevels({}).ok());
  EXPECT_TRUE(ValidateRollupLevels(MinuteAndHour()).ok());
  EXPECT_TRUE(ValidateRollupLevels({{absl::Seconds(10), {}},
                                    {absl::Minutes(1), {}},
                                    {absl::Minutes(15), {}},
                                    {absl::Hours(24), {}}})
                  .ok());
  for (const std::vector<RollupLevel>& bad :
       std::vector<std::vector<RollupLevel>>{{{absl::ZeroDuration(), {}}},
                                             {{absl::Seconds(-1), {}}},
                                             {{absl::Hours(1), {}}, {absl::Minutes(1), {}}},
                                             {{absl::Minutes(1), {}}, {absl::Minutes(1), {}}},
                                             {{absl::Minutes(7), {}}, {absl::Hours(1), {}}}}) {
    EXPECT_EQ(ValidateRollupLevels(bad).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(PlanAggregateQuery(At("2026-03-02 08:00:00"), At("2026-03-02 09:00:00"),
                                 BucketWidth::kHour, bad)
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// Random queries over random data: the plan covers the range exactly, reads raw samples only
// at the edges, and executing it — raw samples plus rollup cells built from the same
// samples — gives the buckets computed directly from the raw samples.
TEST(PlanTest, ExecutingAPlanEqualsTheDirectComputationOnRawSamples) {
  std::mt19937_64 rng(17);
  const std::vector<absl::Duration> level_widths = {absl::Seconds(10), absl::Minutes(1),
                                                    absl::Hours(1)};
  for (int round = 0; round < 400; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const BucketWidth width = kAllBucketWidths[rng() % 6];
    const absl::Duration bucket = BucketDuration(width);
    // Around the epoch in half the rounds.
    const absl::Time origin = round % 2 == 0 ? kEpoch : At("2026-03-02 00:00:00");
    const int64_t max_span_us = std::min<int64_t>(absl::ToInt64Microseconds(bucket) * 9000,
                                                  absl::ToInt64Microseconds(absl::Hours(24 * 9)));
    const absl::Time start =
        origin + absl::Microseconds(static_cast<int64_t>(rng() % 7'200'000'000) - 3'600'000'000);
    const absl::Time end = start + absl::Microseconds(1 + rng() % max_span_us);

    // Watermarks: everywhere, nowhere, or somewhere in the range.
    std::vector<RollupLevel> levels;
    for (const absl::Duration w : level_widths) {
      const int pick = static_cast<int>(rng() % 3);
      const absl::Time complete_before =
          pick == 0 ? absl::InfiniteFuture()
          : pick == 1
              ? absl::InfinitePast()
              : BucketStart(start + (end - start) * (static_cast<double>(rng() % 1000) / 1000), w);
      levels.push_back({w, complete_before});
    }
    absl::StatusOr<AggregatePlan> plan = PlanAggregateQuery(start, end, width, levels);
    ASSERT_TRUE(plan.ok()) << plan.status();

    // The spans tile [plan.start, plan.end); rollup spans lie on their grid, in complete
    // cells, with a width that divides the bucket; raw time is bounded.
    absl::Time cursor = plan->start;
    absl::Duration raw_time;
    absl::Duration finest_usable = absl::InfiniteDuration();
    bool every_level_complete = true;
    for (const RollupLevel& level : levels) {
      absl::Duration rem;
      absl::IDivDuration(bucket, level.width, &rem);
      if (rem == absl::ZeroDuration()) {
        finest_usable = std::min(finest_usable, level.width);
        every_level_complete = every_level_complete && level.complete_before >= plan->end;
      }
    }
    for (const PlanSpan& span : plan->spans) {
      ASSERT_EQ(span.start, cursor);
      ASSERT_LT(span.start, span.end);
      cursor = span.end;
      if (span.raw()) {
        raw_time += span.end - span.start;
        continue;
      }
      ASSERT_EQ(BucketStart(span.start, span.rollup_width), span.start);
      ASSERT_EQ(BucketStart(span.end, span.rollup_width), span.end);
      absl::Duration rem;
      absl::IDivDuration(bucket, span.rollup_width, &rem);
      ASSERT_EQ(rem, absl::ZeroDuration());
      for (const RollupLevel& level : levels) {
        if (level.width == span.rollup_width) {
          ASSERT_LE(span.end, level.complete_before);
        }
      }
    }
    ASSERT_EQ(cursor, plan->end);
    if (finest_usable != absl::InfiniteDuration() && every_level_complete) {
      ASSERT_LT(raw_time, 2 * finest_usable);
    }

    // Data: samples spread over the range and a little beyond it.
    const auto samples =
        RandomSamples(rng, plan->start - absl::Seconds(5), (end - plan->start) + absl::Seconds(10),
                      static_cast<int>(rng() % 400));
    std::map<absl::Duration, std::map<absl::Time, Aggregate>> rollups;
    for (const RollupLevel& level : levels) {
      for (const Sample& s : samples) {
        rollups[level.width][BucketStart(s.time, level.width)].Add(s.time, s.value);
      }
    }
    BucketMerger merger(*plan);
    for (const PlanSpan& span : plan->spans) {
      if (span.raw()) {
        for (const Sample& s : samples) {
          if (s.time >= span.start && s.time < span.end) merger.AddSample(s.time, s.value);
        }
        continue;
      }
      const auto& cells = rollups[span.rollup_width];
      for (auto it = cells.lower_bound(span.start); it != cells.end() && it->first < span.end;
           ++it) {
        merger.AddPart(it->first, it->second);
      }
    }
    std::map<absl::Time, std::vector<Sample>> expected;
    for (const Sample& s : samples) {
      if (s.time >= plan->start && s.time < plan->end) {
        expected[BucketStart(s.time, bucket)].push_back(s);
      }
    }
    ASSERT_EQ(merger.buckets().size(), expected.size());
    for (const auto& [bucket_start, bucket_samples] : expected) {
      auto it = merger.buckets().find(bucket_start);
      ASSERT_NE(it, merger.buckets().end()) << absl::FormatTime(bucket_start);
      ExpectMatches(it->second, Compute(bucket_samples), absl::FormatTime(bucket_start));
    }
  }
}

}  // namespace
}  // namespace plantmesh::telemetry
