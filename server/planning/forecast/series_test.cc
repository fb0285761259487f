#include "server/planning/forecast/series.h"

#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning::forecast {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::CivilDay Day(int day) { return absl::CivilDay(2024, 3, 1) + day; }

TEST(DailySeriesTest, SortsRecordsAndFillsGapsWithZero) {
  const std::vector<DemandObservation> history = {
      {Day(3), 4.0}, {Day(0), 1.0}, {Day(1), 2.0}, {Day(5), 6.0}};
  absl::StatusOr<DailySeries> series = BuildDailySeries(history);
  ASSERT_TRUE(series.ok()) << series.status();
  EXPECT_EQ(series->first_day, Day(0));
  EXPECT_EQ(series->last_day(), Day(5));
  EXPECT_THAT(series->quantity, ElementsAre(1.0, 2.0, 0.0, 4.0, 0.0, 6.0));
  EXPECT_EQ(series->filled_days, 2);
}

TEST(DailySeriesTest, SameWeekdayLastWeekCopiesTheValueSevenDaysBefore) {
  std::vector<DemandObservation> history;
  for (int d = 0; d < 14; ++d) {
    if (d == 2 || d == 10) continue;  // day 2 has no week before it; day 10 has day 3
    history.push_back({Day(d), 10.0 + d});
  }
  absl::StatusOr<DailySeries> series = BuildDailySeries(history, GapFill::kSameWeekdayLastWeek);
  ASSERT_TRUE(series.ok()) << series.status();
  EXPECT_EQ(series->quantity[2], 0.0);
  EXPECT_EQ(series->quantity[10], 13.0);
  EXPECT_EQ(series->filled_days, 2);
}

TEST(DailySeriesTest, BadRecordsAreInvalidArgumentNamingTheField) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    std::vector<DemandObservation> history;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{}, "history"},
      {{{Day(0), 1.0}, {Day(1), -2.0}}, "history[1].quantity"},
      {{{Day(0), nan}}, "history[0].quantity"},
      {{{Day(0), 1.0}, {Day(1), 1.0}, {Day(0), 3.0}}, "history[2].day"},
      {{{Day(0), 1.0}, {Day(kMaxHistoryDays), 1.0}}, "history"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<DailySeries> series = BuildDailySeries(c.history);
    ASSERT_FALSE(series.ok()) << c.field;
    EXPECT_EQ(series.status().code(), absl::StatusCode::kInvalidArgument);
    const std::vector<runtime::FieldViolation> violations =
        runtime::FieldViolationsOf(series.status());
    ASSERT_EQ(violations.size(), 1u) << series.status();
    EXPECT_EQ(violations[0].field, c.field) << series.status();
  }
  absl::StatusOr<DailySeries> repeated =
      BuildDailySeries(std::vector<DemandObservation>{{Day(0), 1.0}, {Day(0), 2.0}});
  EXPECT_THAT(repeated.status().message(), HasSubstr("2024-03-01"));
}

TEST(DailySeriesTest, LongestHistoryIsAccepted) {
  absl::StatusOr<DailySeries> series = BuildDailySeries(
      std::vector<DemandObservation>{{Day(0), 1.0}, {Day(kMaxHistoryDays - 1), 1.0}});
  ASSERT_TRUE(series.ok()) << series.status();
  EXPECT_EQ(series->quantity.size(), static_cast<size_t>(kMaxHistoryDays));
}

}  // namespace
}  // namespace plantmesh::planning::forecast
