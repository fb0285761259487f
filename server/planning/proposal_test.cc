// ProposePlan's horizon without servers: which days a horizon plans for and when each
// day's demand is due (across midnight and the spring DST change in Europe/Berlin), and
// the lot-sizing input built from the plant model (lines left out, changeovers mapped).
#include "server/planning/proposal.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plantmesh::planning {
namespace {

using ::testing::ElementsAre;

absl::TimeZone Berlin() {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone("Europe/Berlin", &zone));
  return zone;
}

absl::Time Local(int y, int m, int d, int hh, int mm = 0) {
  return LocalToAbsolute(Berlin(), absl::CivilMinute(y, m, d, hh, mm));
}

HorizonShift Shift(const std::string& line, const std::string& id, absl::Time start,
                   absl::Time end) {
  ShiftInstance s;
  s.id = id;
  s.start = start;
  s.end = end;
  return {line, s, end - start};
}

TEST(ProposalHorizonTest, DaysEndBeforeTheFirstShiftAfterTheHorizon) {
  const absl::TimeZone zone = Berlin();
  // 3×8 from 06:00 on the 10th, three shifts: the next one (A of the 11th) ends at 14:00
  // on the 11th; the 11th's demand could still be made by it, so only the 10th.
  EXPECT_THAT(DemandDays(zone, Local(2026, 3, 10, 6), Local(2026, 3, 11, 14)),
              ElementsAre(absl::CivilDay(2026, 3, 10)));
  // One shift a day, Monday to Friday (the 9th is a Monday): the next shift after
  // Friday's is Monday's, ending 14:00 on the 16th: the weekend is planned for.
  EXPECT_THAT(DemandDays(zone, Local(2026, 3, 9, 6), Local(2026, 3, 16, 14)),
              ElementsAre(absl::CivilDay(2026, 3, 9), absl::CivilDay(2026, 3, 10),
                          absl::CivilDay(2026, 3, 11), absl::CivilDay(2026, 3, 12),
                          absl::CivilDay(2026, 3, 13), absl::CivilDay(2026, 3, 14),
                          absl::CivilDay(2026, 3, 15)));
  // A shift after the horizon that ends at midnight serves that day: it is left out.
  EXPECT_TRUE(DemandDays(zone, Local(2026, 3, 10, 6), Local(2026, 3, 11, 0)).empty());
  // At most a year.
  EXPECT_EQ(DemandDays(zone, Local(2026, 3, 10, 6), absl::InfiniteFuture()).size(),
            static_cast<size_t>(kMaxDemandDays));
  // None after the calendar's last day (outside testing: 9990-12-31 to 9991-04-02).
  EXPECT_THAT(DemandDays(zone, Local(9990, 12, 30, 23), absl::InfiniteFuture()),
              ElementsAre(absl::CivilDay(9990, 12, 30), kLastPlantDay));
  // None before its first day (outside testing, sweep 57: from 1900-01-01T00:00Z in a zone
  // west of UTC, "1899-12-31 to 1900-01-01").
  absl::TimeZone west;
  ASSERT_TRUE(absl::LoadTimeZone("Etc/GMT+12", &west));
  EXPECT_THAT(DemandDays(west, absl::FromCivil(absl::CivilSecond(1900, 1, 1), absl::UTCTimeZone()),
                         absl::FromCivil(absl::CivilSecond(1900, 1, 3, 12), west)),
              ElementsAre(kFirstPlantDay, absl::CivilDay(1900, 1, 2)));
}

TEST(ProposalHorizonTest, ADaysDemandIsDueInTheLastPeriodThatEndsThatDay) {
  const absl::TimeZone zone = Berlin();
  // 3×8 ends: 14:00, 22:00, 06:00 (next day), ... on the night of the spring change
  // (2026-03-29: 02:00 → 03:00) too.
  const std::vector<absl::Time> ends = {Local(2026, 3, 28, 14), Local(2026, 3, 28, 22),
                                        Local(2026, 3, 29, 6), Local(2026, 3, 29, 14),
                                        Local(2026, 3, 29, 22)};
  EXPECT_EQ(DuePeriod(ends, zone, absl::CivilDay(2026, 3, 27)), -1);  // before any end
  EXPECT_EQ(DuePeriod(ends, zone, absl::CivilDay(2026, 3, 28)), 1);   // 22:00, not 06:00
  EXPECT_EQ(DuePeriod(ends, zone, absl::CivilDay(2026, 3, 29)), 4);
  // A period that ends exactly at midnight counts for the day it ends.
  EXPECT_EQ(DuePeriod({Local(2026, 3, 29, 0)}, zone, absl::CivilDay(2026, 3, 28)), 0);
}

TEST(ProposalHorizonTest, BuildsTheLotSizingInputFromThePlantModel) {
  ProposalFacts facts;
  facts.zone = Berlin();
  facts.start_time = Local(2026, 3, 10, 6);
  facts.lines = {{"PACK-1", "", "", "", 900, "2X12"},
                 {"PACK-2", "", "", "", 900, "2X12"},
                 {"PACK-3", "", "", "", 900, "2X12"}};
  for (const char* line : {"PACK-1", "PACK-2", "PACK-3"}) {
    facts.shifts.push_back(
        Shift(line, "2026-03-10/D", Local(2026, 3, 10, 6), Local(2026, 3, 10, 18)));
    facts.shifts.push_back(
        Shift(line, "2026-03-10/N", Local(2026, 3, 10, 18), Local(2026, 3, 11, 6)));
  }
  Product granola{"GRANOLA", "", "pcs", {{"PACK-1", 6}}, {{"MUESLI", "", 20}, {"OATS", "", 5}}};
  Product muesli{"MUESLI", "", "pcs", {{"PACK-1", 4}, {"PACK-2", 4}}, {{"GRANOLA", "PACK-1", 30}}};
  facts.products = {granola, muesli};  // OATS (PACK-3's product) is not planned
  facts.stock_on_hand = {{"GRANOLA", 700}};
  facts.demand = {{"GRANOLA", absl::CivilDay(2026, 3, 10), 5000, DemandOrigin::kForecast},
                  {"MUESLI", absl::CivilDay(2026, 3, 10), 0, DemandOrigin::kForecast}};
  absl::StatusOr<ProposalModel> model = BuildProposalModel(facts, absl::Seconds(3));
  ASSERT_TRUE(model.ok()) << model.status();
  const propose::ProposalInput& in = model->input;
  EXPECT_THAT(model->idle_lines, ElementsAre("PACK-3"));
  ASSERT_EQ(in.lines.size(), 2u);
  EXPECT_EQ(in.lines[0].id, "PACK-1");
  ASSERT_EQ(in.lines[0].products.size(), 2u);
  EXPECT_EQ(in.lines[0].products[0].product_id, "GRANOLA");
  EXPECT_DOUBLE_EQ(in.lines[0].products[0].cycle_seconds, 6);
  ASSERT_EQ(in.lines[1].shifts.size(), 2u);
  EXPECT_EQ(in.lines[1].shifts[1].shift_id, "2026-03-10/N");
  EXPECT_EQ(in.lines[1].shifts[1].period, 1);
  EXPECT_DOUBLE_EQ(in.lines[1].shifts[1].planned_minutes, 720);
  EXPECT_EQ(in.period_count, 2);
  // Changeovers between planned products only, the line's own kept.
  ASSERT_EQ(in.changeovers.size(), 2u);
  EXPECT_EQ(in.changeovers[0].from_product_id, "MUESLI");
  EXPECT_EQ(in.changeovers[0].to_product_id, "GRANOLA");
  EXPECT_EQ(in.changeovers[0].line_id, "");
  EXPECT_DOUBLE_EQ(in.changeovers[0].minutes, 20);
  EXPECT_EQ(in.changeovers[1].line_id, "PACK-1");
  EXPECT_DOUBLE_EQ(in.changeovers[1].minutes, 30);
  ASSERT_EQ(in.products.size(), 2u);
  EXPECT_EQ(in.products[0].stock_on_hand, 700);
  EXPECT_EQ(in.products[1].stock_on_hand, 0);
  // The day of 0 is left out; the 10th is due at the end of the day shift.
  ASSERT_EQ(in.demand.size(), 1u);
  EXPECT_EQ(in.demand[0].due_period, 0);
  EXPECT_EQ(in.demand[0].quantity, 5000);
  EXPECT_EQ(in.solver.time_limit, absl::Seconds(3));
  EXPECT_EQ(model->shift_at.at({"PACK-2", 1})->shift.id, "2026-03-10/N");
  EXPECT_TRUE(propose::ValidateInput(in).ok()) << propose::ValidateInput(in);
}

TEST(ProposalHorizonTest, NothingToProposeIsAFailedPrecondition) {
  ProposalFacts facts;
  facts.zone = Berlin();
  facts.lines = {{"PACK-1", "", "", "", 900, "2X12"}};
  facts.products = {{"GRANOLA", "", "pcs", {{"PACK-2", 6}}, {}}};
  // Outside testing: both refusals had the reason FAILED_PRECONDITION alone.
  absl::Status no_line = BuildProposalModel(facts, absl::Seconds(1)).status();
  EXPECT_EQ(no_line.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(runtime::ErrorInfoOf(no_line).reason, "NO_LINE_MAKES_THE_PRODUCTS") << no_line;
  EXPECT_THAT(std::string(no_line.message()),
              ::testing::HasSubstr("none of the chosen lines (PACK-1) makes any of the products "
                                   "to plan (GRANOLA)"));
  facts.products[0].cycle_times[0].line_id = "PACK-1";
  absl::Status no_shift = BuildProposalModel(facts, absl::Seconds(1)).status();
  EXPECT_EQ(no_shift.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(runtime::ErrorInfoOf(no_shift).reason, "NO_WORKED_SHIFT_IN_HORIZON") << no_shift;
}

}  // namespace
}  // namespace plantmesh::planning
