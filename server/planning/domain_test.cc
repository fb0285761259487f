// The plan rules of domain.h that need no calendar or store: ComparePlanToActual, and
// lists over their limits.
#include "server/planning/domain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace plantmesh::planning {
namespace {

// Outside testing: a day's German shifts F (06-14), S (14-22) and N (22-06) came out F, N,
// S — by the text of their ids, not by time — in the rows and in the downtimes.
TEST(ComparePlanToActualTest, ShiftsAreInTimeOrderWhateverTheirCodes) {
  auto output = [](const std::string& line, const std::string& shift) {
    OutputRecord o;
    o.line_id = line;
    o.shift_id = shift;
    o.product_id = "MUESLI-05";
    o.packaged = 10;
    return o;
  };
  auto stop = [](const std::string& shift) {
    DowntimeEntry d;
    d.line_id = "PACK-1";
    d.shift_id = shift;
    d.reason_code = "JAM";
    d.duration_minutes = 5;
    return d;
  };
  const std::vector<OutputRecord> outputs = {
      output("PACK-1", "2026-10-24/N"), output("PACK-1", "2026-10-25/F"),
      output("PACK-1", "2026-10-24/S"), output("PACK-1", "2026-10-24/F"),
      output("PACK-1", "2026-10-24/X"), output("PACK-0", "2026-10-24/N")};
  const std::vector<DowntimeEntry> downtimes = {stop("2026-10-24/N"), stop("2026-10-24/S")};
  auto start_minute = [](const std::string& line, const std::string& code) -> std::optional<int> {
    if (line != "PACK-1") return std::nullopt;
    if (code == "F") return 6 * 60;
    if (code == "S") return 14 * 60;
    if (code == "N") return 22 * 60;
    return std::nullopt;  // X: no longer in the pattern
  };
  const PlanVsActual compared = ComparePlanToActual({}, outputs, downtimes, start_minute);
  std::vector<std::string> rows;
  for (const PlanVsActualRow& r : compared.rows) rows.push_back(r.line_id + " " + r.shift_id);
  EXPECT_THAT(rows, ::testing::ElementsAre("PACK-0 2026-10-24/N", "PACK-1 2026-10-24/F",
                                           "PACK-1 2026-10-24/S", "PACK-1 2026-10-24/N",
                                           "PACK-1 2026-10-24/X", "PACK-1 2026-10-25/F"));
  ASSERT_EQ(compared.downtimes.size(), 2u);
  EXPECT_EQ(compared.downtimes[0].shift_id, "2026-10-24/S");
  EXPECT_EQ(compared.downtimes[1].shift_id, "2026-10-24/N");
  EXPECT_EQ(compared.downtimes[1].minutes, 5);
}

TEST(ComparePlanToActualTest, ShiftStartsComeFromEachLinesPattern) {
  ShiftPattern german;
  german.id = "FSN";
  german.shifts = {
      {"F", 6 * 60, 14 * 60, {}}, {"S", 14 * 60, 22 * 60, {}}, {"N", 22 * 60, 6 * 60, {}}};
  ShiftPattern other;
  other.id = "AB";
  other.shifts = {{"N", 2 * 60, 12 * 60, {}}};
  Line pack1;
  pack1.id = "PACK-1";
  pack1.shift_pattern_id = "FSN";
  Line pack2;
  pack2.id = "PACK-2";
  pack2.shift_pattern_id = "AB";
  const ShiftStartMinute starts = ShiftStartsOf({pack1, pack2}, {german, other});
  EXPECT_EQ(starts("PACK-1", "S"), 14 * 60);
  EXPECT_EQ(starts("PACK-1", "N"), 22 * 60);
  EXPECT_EQ(starts("PACK-2", "N"), 2 * 60);  // its own pattern's N
  EXPECT_EQ(starts("PACK-2", "F"), std::nullopt);
  EXPECT_EQ(starts("PACK-9", "F"), std::nullopt);
}

// Re-test: CreateShiftPattern compared each pair of 20,000 shifts (43 s of a core, past
// the caller's deadline) before it refused more than 6. A list over its limit is refused
// whole: its elements are not judged (here they would overlap, and break their limits).
TEST(ListLimitsTest, AListOverItsLimitIsRefusedWholeAndNotJudged) {
  ShiftPatternInput pattern;
  pattern.id = "3X8";
  pattern.display_name = "Three shifts";
  pattern.shifts.assign(7, ShiftDefinitionInput{"A", "06:00", "14:00", {}});  // 1-6 allowed
  absl::StatusOr<ShiftPattern> made = MakeShiftPattern(pattern, {});
  ASSERT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const runtime::FieldViolation& v : runtime::FieldViolationsOf(made.status())) {
    fields.push_back(v.field);
  }
  EXPECT_THAT(fields, ::testing::ElementsAre("shift_pattern.shifts"));

  const std::vector<PlanItem> items(kMaxPlanItems + 1, PlanItem{"", 0, 0});
  const absl::Status refused = ValidateItems(items, "plan.items", {});
  ASSERT_EQ(runtime::FieldViolationsOf(refused).size(), 1u) << refused;
  EXPECT_EQ(runtime::FieldViolationsOf(refused)[0].field, "plan.items");
  EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr("(201 given)"));
}

// Outside testing: a 240-minute break in a 4-hour shift (likely meant as 24) was taken,
// and the shift took plans, output and downtime with no time to produce in.
TEST(ShiftPatternTest, BreaksThatFillTheirShiftAreRefused) {
  ShiftPatternInput pattern;
  pattern.id = "NIGHTS";
  pattern.display_name = "Nights";
  pattern.shifts = {ShiftDefinitionInput{"Z", "00:00", "04:00", {{"00:00", 240}}},
                    ShiftDefinitionInput{"N", "20:00", "23:00", {{"20:00", 120}, {"22:00", 60}}},
                    ShiftDefinitionInput{"E", "04:00", "08:00", {{"04:00", 239}}}};
  absl::StatusOr<ShiftPattern> made = MakeShiftPattern(pattern, {});
  ASSERT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const runtime::FieldViolation& v : runtime::FieldViolationsOf(made.status())) {
    fields.push_back(v.field);
  }
  EXPECT_THAT(fields, ::testing::ElementsAre("shift_pattern.shifts[0].breaks[0].duration_minutes",
                                             "shift_pattern.shifts[1].breaks[1].duration_minutes"));
  pattern.shifts = {ShiftDefinitionInput{"E", "04:00", "08:00", {{"04:00", 239}}}};
  EXPECT_TRUE(MakeShiftPattern(pattern, {}).ok());
}

// Outside testing: a break that starts inside its shift and runs past its end was refused
// naming its start_time.
TEST(ShiftPatternTest, ABreakPastItsShiftsEndNamesWhatCarriesItOut) {
  ShiftPatternInput pattern;
  pattern.id = "DAYS";
  pattern.display_name = "Days";
  pattern.shifts = {ShiftDefinitionInput{"F", "06:00", "14:00", {{"13:50", 20}}},
                    ShiftDefinitionInput{"S", "14:00", "22:00", {{"22:30", 10}}}};
  absl::StatusOr<ShiftPattern> made = MakeShiftPattern(pattern, {});
  ASSERT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<runtime::FieldViolation> violations = runtime::FieldViolationsOf(made.status());
  ASSERT_EQ(violations.size(), 2u) << made.status();
  EXPECT_EQ(violations[0].field, "shift_pattern.shifts[0].breaks[0].duration_minutes");
  EXPECT_EQ(violations[0].description,
            "the break runs 10 minutes past its shift's end: at most 10 from its start");
  EXPECT_EQ(violations[1].field, "shift_pattern.shifts[1].breaks[0].start_time");
  EXPECT_EQ(violations[1].description, "the break must start inside its shift");
}

}  // namespace
}  // namespace plantmesh::planning
