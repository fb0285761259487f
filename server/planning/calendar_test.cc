// The shift calendar against values worked out by hand. Europe/Berlin is CET (UTC+1) in
// winter and CEST (UTC+2) in summer; in 2026 the clocks go forward on 29 March at 02:00
// CET (01:00Z) and back on 25 October at 03:00 CEST (01:00Z).
#include "server/planning/calendar.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/planning/domain.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning {
namespace {

using ::testing::ElementsAre;

absl::Time Utc(int y, int mo, int d, int h, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

absl::TimeZone Berlin() {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone("Europe/Berlin", &zone)) << "system tzdata missing";
  return zone;
}

ShiftDefinition Shift(const std::string& code, int start_h, int end_h, int break_h = -1,
                      int break_min = 30) {
  ShiftDefinition s;
  s.code = code;
  s.start_minute = start_h * 60;
  s.end_minute = end_h * 60;
  if (break_h >= 0) s.breaks.push_back({break_h * 60, break_min});
  return s;
}

// 3×8 h every day: A 06-14 (break 10:00), B 14-22 (break 18:00), N 22-06 (break 02:00),
// each break 30 min.
ShiftPattern ThreeByEight() {
  ShiftPattern p;
  p.id = "3X8";
  p.shifts = {Shift("A", 6, 14, 10), Shift("B", 14, 22, 18), Shift("N", 22, 6, 2)};
  return p;
}

LineCalendar Calendar(std::set<absl::CivilDay> holidays = {},
                      std::vector<Interval> maintenance = {}) {
  return LineCalendar(Berlin(), ThreeByEight(), std::move(holidays), std::move(maintenance));
}

std::vector<std::string> Ids(const std::vector<ShiftInstance>& shifts) {
  std::vector<std::string> ids;
  for (const ShiftInstance& s : shifts) ids.push_back(s.id);
  return ids;
}

TEST(CalendarTest, AnOrdinaryDayShift) {
  std::optional<ShiftInstance> a = Calendar().ShiftById("2026-03-10/A");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->start, Utc(2026, 3, 10, 5));  // 06:00 CET
  EXPECT_EQ(a->end, Utc(2026, 3, 10, 13));
  EXPECT_EQ(Calendar().PlannedTimeOf(*a), absl::Hours(7) + absl::Minutes(30));
}

TEST(CalendarTest, TheNightShiftBelongsToTheDateItStartsOn) {
  // 00:30Z on 11 March is 01:30 CET: the night shift that started on the 10th.
  std::optional<ShiftInstance> n = Calendar().ShiftAt(Utc(2026, 3, 11, 0, 30));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->id, "2026-03-10/N");
  EXPECT_EQ(n->start, Utc(2026, 3, 10, 21));
  EXPECT_EQ(n->end, Utc(2026, 3, 11, 5));
  ASSERT_EQ(n->breaks.size(), 1u);
  EXPECT_EQ(n->breaks[0].start, Utc(2026, 3, 11, 1));  // 02:00 CET on the 11th
  // 23:00-01:00 local across midnight: two hours, the break (02:00) is later.
  PlannedTime t = Calendar().PlannedTimeIn(Utc(2026, 3, 10, 22), Utc(2026, 3, 11, 0));
  EXPECT_EQ(t.planned, absl::Hours(2));
  EXPECT_EQ(t.shift_count, 1);
  // 01:00-03:00 local: the break counts against it.
  t = Calendar().PlannedTimeIn(Utc(2026, 3, 11, 0), Utc(2026, 3, 11, 2));
  EXPECT_EQ(t.planned, absl::Minutes(90));
  EXPECT_EQ(t.breaks, absl::Minutes(30));
}

TEST(CalendarTest, WhichShiftAtTheEdges) {
  // 14:00 CET = 13:00Z: B has started (start inclusive), A has ended (end exclusive).
  EXPECT_EQ(Calendar().ShiftAt(Utc(2026, 3, 10, 13))->id, "2026-03-10/B");
  EXPECT_EQ(Calendar().ShiftAt(Utc(2026, 3, 10, 12, 59, 59))->id, "2026-03-10/A");
  EXPECT_EQ(Calendar().ShiftAt(Utc(2026, 3, 10, 5))->id, "2026-03-10/A");
  EXPECT_EQ(Calendar().ShiftAt(Utc(2026, 3, 10, 4, 59, 59))->id, "2026-03-09/N");
}

TEST(CalendarTest, SpringForwardShortensTheNightShift) {
  std::optional<ShiftInstance> n = Calendar().ShiftById("2026-03-28/N");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->start, Utc(2026, 3, 28, 21));  // 22:00 CET
  EXPECT_EQ(n->end, Utc(2026, 3, 29, 4));     // 06:00 CEST
  EXPECT_EQ(n->end - n->start, absl::Hours(7));
  // Its break at 02:00 falls in the skipped hour: it starts when the clocks jump
  // (01:00Z, 03:00 CEST).
  ASSERT_EQ(n->breaks.size(), 1u);
  EXPECT_EQ(n->breaks[0].start, Utc(2026, 3, 29, 1));
  EXPECT_EQ(Calendar().PlannedTimeOf(*n), absl::Hours(6) + absl::Minutes(30));
  // 03:15 CEST is 01:15Z: still the night shift of the 28th.
  EXPECT_EQ(Calendar().ShiftAt(Utc(2026, 3, 29, 1, 15))->id, "2026-03-28/N");
  // The morning shift is back to 8 h, now on CEST.
  std::optional<ShiftInstance> a = Calendar().ShiftById("2026-03-29/A");
  EXPECT_EQ(a->start, Utc(2026, 3, 29, 4));
  EXPECT_EQ(a->end, Utc(2026, 3, 29, 12));
}

// Outside testing: a shift inside the skipped hour was listed with no length, counted
// and plannable.
TEST(CalendarTest, AShiftTheClocksSkipIsNotWorked) {
  ShiftPattern p;
  p.id = "SKIP";
  ShiftDefinition skipped;
  skipped.code = "S";
  skipped.start_minute = 2 * 60;     // 02:00
  skipped.end_minute = 2 * 60 + 45;  // 02:45: all of it skipped on 2026-03-29
  p.shifts = {skipped, Shift("A", 6, 14)};
  LineCalendar calendar(Berlin(), p, {}, {});
  EXPECT_THAT(Ids(calendar.ShiftsIn(Utc(2026, 3, 28, 0), Utc(2026, 3, 30, 0))),
              ElementsAre("2026-03-28/S", "2026-03-28/A", "2026-03-29/A"));
  EXPECT_FALSE(calendar.ShiftById("2026-03-29/S").has_value());
  EXPECT_TRUE(calendar.ShiftById("2026-03-30/S").has_value());
  EXPECT_EQ(calendar.PlannedTimeIn(Utc(2026, 3, 29, 0), Utc(2026, 3, 30, 0)).shift_count, 1);

  // Pacific/Apia skipped 2011-12-30 (from UTC-10 to UTC+14 at its start): its day and
  // evening shifts are not worked; its night shift runs from the jump (10:00Z) to 06:00 on
  // the 31st (16:00Z), as a shift starting at a skipped time does.
  absl::TimeZone apia;
  ASSERT_TRUE(absl::LoadTimeZone("Pacific/Apia", &apia));
  LineCalendar apia_calendar(apia, ThreeByEight(), {}, {});
  const std::vector<ShiftInstance> around =
      apia_calendar.ShiftsIn(Utc(2011, 12, 30, 0), Utc(2011, 12, 31, 0));
  EXPECT_THAT(Ids(around),
              ElementsAre("2011-12-29/B", "2011-12-29/N", "2011-12-30/N", "2011-12-31/A"));
  for (const ShiftInstance& shift : around) EXPECT_LT(shift.start, shift.end) << shift.id;

  // Re-test: a shift the clocks leave only its break is not worked either.
  ShiftPattern q;  // 01:00-03:00 (1 h on 2027-03-28), a break at 01:00 of 60 minutes
  q.id = "SHORT";
  q.shifts = {Shift("Z", 1, 3, /*break_h=*/1, /*break_min=*/60)};
  LineCalendar short_calendar(Berlin(), q, {}, {});
  EXPECT_FALSE(short_calendar.ShiftById("2027-03-28/Z").has_value());
  ASSERT_TRUE(short_calendar.ShiftById("2027-03-27/Z").has_value());
  EXPECT_EQ(short_calendar.PlannedTimeOf(*short_calendar.ShiftById("2027-03-27/Z")),
            absl::Hours(1));
}

// Outside testing: at 1900-01-01T00:00Z a night shift dated 1899-12-31 was answered, an
// id that planning refuses everywhere else.
TEST(CalendarTest, NoShiftIsDatedBeforeThePlantCalendar) {
  const std::optional<ShiftInstance> first = Calendar().ShiftAt(Utc(1900, 1, 1, 0));
  EXPECT_FALSE(first.has_value()) << first->id;  // the N of 1899-12-31, 22:00 local
  EXPECT_THAT(Ids(Calendar().ShiftsIn(Utc(1899, 12, 31, 0), Utc(1900, 1, 1, 12))),
              ElementsAre("1900-01-01/A"));
}

// Outside testing (sweep 45): 9990-12-31/F was plannable while every query by time refused
// its times, and 9990-12-30/N was found at a time but not listed. A shift lies within the
// calendar's instants (up to 9990-12-31T00:00Z) or is not worked.
TEST(CalendarTest, NoShiftEndsAfterThePlantCalendar) {
  const LineCalendar calendar = Calendar();
  EXPECT_TRUE(calendar.ShiftById("9990-12-30/B").has_value());   // 13:00-21:00Z
  EXPECT_FALSE(calendar.ShiftById("9990-12-30/N").has_value());  // ends 9990-12-31T05:00Z
  EXPECT_FALSE(calendar.ShiftById("9990-12-31/A").has_value());
  EXPECT_FALSE(calendar.ShiftAt(Utc(9990, 12, 30, 23)).has_value());
  EXPECT_THAT(Ids(calendar.ShiftsIn(Utc(9990, 12, 30, 12), Utc(9990, 12, 31, 0))),
              ElementsAre("9990-12-30/A", "9990-12-30/B"));
}

TEST(CalendarTest, TheLocalDayOfSpringForwardHas23Hours) {
  // 29 March local: 00:00 CET (28th 23:00Z) to 00:00 CEST on the 30th (29th 22:00Z).
  PlannedTime t = Calendar().PlannedTimeIn(Utc(2026, 3, 28, 23), Utc(2026, 3, 29, 22));
  // N(28) 23:00Z-04:00Z 5 h, A 8 h, B 8 h, N(29) 20:00Z-22:00Z 2 h.
  EXPECT_EQ(t.shift, absl::Hours(23));
  EXPECT_EQ(t.breaks, absl::Minutes(90));
  EXPECT_EQ(t.planned, absl::Hours(21) + absl::Minutes(30));
  EXPECT_EQ(t.shift_count, 4);
}

TEST(CalendarTest, FallBackLengthensTheNightShift) {
  std::optional<ShiftInstance> n = Calendar().ShiftById("2026-10-24/N");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->start, Utc(2026, 10, 24, 20));  // 22:00 CEST
  EXPECT_EQ(n->end, Utc(2026, 10, 25, 5));     // 06:00 CET
  EXPECT_EQ(n->end - n->start, absl::Hours(9));
  // 02:00 happens twice: the break is at the first (02:00 CEST = 00:00Z).
  ASSERT_EQ(n->breaks.size(), 1u);
  EXPECT_EQ(n->breaks[0].start, Utc(2026, 10, 25, 0));
  EXPECT_EQ(Calendar().PlannedTimeOf(*n), absl::Hours(8) + absl::Minutes(30));
  // The second 02:30 (CET, 01:30Z) is still that night shift.
  EXPECT_EQ(Calendar().ShiftAt(Utc(2026, 10, 25, 1, 30))->id, "2026-10-24/N");
  // 25 October local lasts 25 h: 24th 22:00Z to 25th 23:00Z.
  PlannedTime day = Calendar().PlannedTimeIn(Utc(2026, 10, 24, 22), Utc(2026, 10, 25, 23));
  // N(24) 22:00Z-05:00Z 7 h (its break inside), A 8 h, B 8 h, N(25) 21:00Z-23:00Z 2 h.
  EXPECT_EQ(day.shift, absl::Hours(25));
  EXPECT_EQ(day.breaks, absl::Minutes(90));
  EXPECT_EQ(day.planned, absl::Hours(23) + absl::Minutes(30));
}

TEST(CalendarTest, NoShiftStartsOnAHoliday) {
  LineCalendar calendar = Calendar({absl::CivilDay(2026, 12, 25)});
  EXPECT_FALSE(calendar.ShiftById("2026-12-25/A").has_value());
  EXPECT_FALSE(calendar.ShiftAt(Utc(2026, 12, 25, 9)).has_value());  // 10:00 CET
  // The night shift of Christmas Eve runs into the holiday as usual.
  EXPECT_EQ(calendar.ShiftAt(Utc(2026, 12, 25, 2))->id, "2026-12-24/N");
  // 25 December local (24th 23:00Z - 25th 23:00Z): 00:00-06:00 of that night shift,
  // less its break.
  PlannedTime t = calendar.PlannedTimeIn(Utc(2026, 12, 24, 23), Utc(2026, 12, 25, 23));
  EXPECT_EQ(t.planned, absl::Hours(5) + absl::Minutes(30));
  EXPECT_EQ(t.shift_count, 1);
  EXPECT_THAT(Ids(calendar.ShiftsIn(Utc(2026, 12, 24, 13), Utc(2026, 12, 26, 6))),
              ElementsAre("2026-12-24/B", "2026-12-24/N", "2026-12-26/A"));
}

TEST(CalendarTest, MaintenanceAcrossAShiftEdgeIsCutAtEachShift) {
  // 13:00-15:00 CET on 10 March: the last hour of A and the first of B.
  LineCalendar calendar = Calendar({}, {{Utc(2026, 3, 10, 12), Utc(2026, 3, 10, 14)}});
  EXPECT_EQ(calendar.PlannedTimeOf(*calendar.ShiftById("2026-03-10/A")),
            absl::Hours(6) + absl::Minutes(30));
  EXPECT_EQ(calendar.PlannedTimeOf(*calendar.ShiftById("2026-03-10/B")),
            absl::Hours(6) + absl::Minutes(30));
  PlannedTime day = calendar.PlannedTimeIn(Utc(2026, 3, 10, 5), Utc(2026, 3, 10, 21));
  EXPECT_EQ(day.maintenance, absl::Hours(2));
  EXPECT_EQ(day.planned, absl::Hours(13));
}

TEST(CalendarTest, MaintenanceOverlappingABreakCountsOnce) {
  // 09:45-10:15 CET against A's break 10:00-10:30: 45 minutes lost, not 60.
  LineCalendar calendar = Calendar({}, {{Utc(2026, 3, 10, 8, 45), Utc(2026, 3, 10, 9, 15)}});
  PlannedTime t = calendar.PlannedTimeIn(Utc(2026, 3, 10, 5), Utc(2026, 3, 10, 13));
  EXPECT_EQ(t.breaks, absl::Minutes(30));
  EXPECT_EQ(t.maintenance, absl::Minutes(15));
  EXPECT_EQ(t.planned, absl::Hours(7) + absl::Minutes(15));
}

// Re-test (sweep 49): a maintenance window of 999.5 s gave one shift three planned times
// (ListShifts 26000 s, GetPlannedTime 26001 s, ProposePlan 26000.5 s). One, in whole
// seconds whose parts add up.
TEST(CalendarTest, AShiftHasOnePlannedTimeInWholeSeconds) {
  LineCalendar calendar = Calendar(
      {}, {{Utc(2026, 3, 10, 6, 0, 0) + absl::Milliseconds(500), Utc(2026, 3, 10, 6, 16, 40)}});
  const std::optional<ShiftInstance> a = calendar.ShiftById("2026-03-10/A");  // 05:00-13:00Z
  ASSERT_TRUE(a.has_value());
  const PlannedTime whole = calendar.PlannedTimeIn(a->start, a->end);
  EXPECT_EQ(whole.shift, absl::Hours(8));
  EXPECT_EQ(whole.breaks, absl::Minutes(30));
  EXPECT_EQ(whole.maintenance, absl::Seconds(999));
  EXPECT_EQ(whole.planned, absl::Seconds(26001));
  EXPECT_EQ(calendar.PlannedTimeOf(*a), whole.planned);
}

TEST(CalendarTest, MaintenanceOutsideShiftsCostsNothing) {
  ShiftPattern day_only;
  day_only.id = "1X8";
  day_only.shifts = {Shift("A", 6, 14)};
  LineCalendar calendar(Berlin(), day_only, {}, {{Utc(2026, 3, 10, 15), Utc(2026, 3, 10, 20)}});
  EXPECT_EQ(calendar.PlannedTimeIn(Utc(2026, 3, 10, 0), Utc(2026, 3, 11, 0)).planned,
            absl::Hours(8));
  EXPECT_FALSE(calendar.ShiftAt(Utc(2026, 3, 10, 16)).has_value());
}

TEST(CalendarTest, ARotationOfFourCrewsOnTwelveHourShifts) {
  ShiftPattern p;
  p.id = "2X12";
  p.shifts = {Shift("D", 6, 18), Shift("N", 18, 6)};
  p.cycle_days = 4;
  p.anchor_date = absl::CivilDay(2026, 3, 2);
  p.rotation = {{0, "D", "CREW-A"}, {0, "N", "CREW-C"}, {1, "D", "CREW-B"}, {1, "N", "CREW-D"},
                {2, "D", "CREW-C"}, {2, "N", "CREW-A"}, {3, "D", "CREW-D"}, {3, "N", "CREW-B"}};
  LineCalendar calendar(Berlin(), p, {}, {});
  // 7 March is cycle day 5 mod 4 = 1.
  std::optional<ShiftInstance> d = calendar.ShiftAt(Utc(2026, 3, 7, 11));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->id, "2026-03-07/D");
  EXPECT_EQ(d->crew_id, "CREW-B");
  EXPECT_EQ(d->end - d->start, absl::Hours(12));
  // Before the anchor the cycle runs backwards: 1 March is day 3.
  EXPECT_EQ(calendar.ShiftAt(Utc(2026, 3, 1, 11))->crew_id, "CREW-D");
  EXPECT_EQ(calendar.ShiftAt(Utc(2026, 3, 1, 20))->crew_id, "CREW-B");
}

TEST(CalendarTest, ARotationLeavesDaysOff) {
  // Monday to Friday from the anchor Monday 2 March 2026: no shift on the weekend.
  ShiftPattern p;
  p.id = "1X8-WEEK";
  p.shifts = {Shift("A", 6, 14)};
  p.cycle_days = 7;
  p.anchor_date = absl::CivilDay(2026, 3, 2);
  for (int day = 0; day < 5; ++day) p.rotation.push_back({day, "A", ""});
  LineCalendar calendar(Berlin(), p, {}, {});
  EXPECT_TRUE(calendar.ShiftById("2026-03-06/A").has_value());   // Friday
  EXPECT_FALSE(calendar.ShiftById("2026-03-07/A").has_value());  // Saturday
  EXPECT_EQ(calendar.PlannedTimeIn(Utc(2026, 3, 2, 0), Utc(2026, 3, 9, 0)).planned,
            absl::Hours(40));
}

// Outside testing (sweep 47): "not a worked shift" listed five possible causes though
// the calendar knows which applies.
TEST(CalendarTest, WhyAShiftIsNotWorkedNamesTheOneCause) {
  ShiftPattern p;
  p.id = "1X8-WEEK";
  ShiftDefinition skipped;
  skipped.code = "S";
  skipped.start_minute = 2 * 60;     // 02:00
  skipped.end_minute = 2 * 60 + 45;  // 02:45: all of it skipped on 2026-03-29
  p.shifts = {Shift("A", 6, 14), skipped};
  p.cycle_days = 7;
  p.anchor_date = absl::CivilDay(2026, 3, 2);  // a Monday
  for (int day = 0; day < 7; ++day) {
    if (day < 5) p.rotation.push_back({day, "A", ""});
    p.rotation.push_back({day, "S", ""});
  }
  LineCalendar calendar(Berlin(), p, {absl::CivilDay(2026, 3, 4)}, {});
  EXPECT_EQ(calendar.WhyNotWorked("2026-03-06/A"), "");
  EXPECT_EQ(calendar.WhyNotWorked("2026-03-04/A"), "2026-03-04 is a holiday");
  EXPECT_EQ(calendar.WhyNotWorked("2026-03-07/A"),
            "rotation day 5 of pattern 1X8-WEEK (its 7-day rotation; day 0 is 2026-03-02) has no "
            "shift A: a day off");
  // Re-test: numbered from 1, the day of the anchor date was "day 1", which is another
  // RotationEntry.day.
  EXPECT_THAT(calendar.WhyNotWorked("2026-03-08/A"), ::testing::StartsWith("rotation day 6 "));
  EXPECT_EQ(calendar.WhyNotWorked("2026-03-06/N"),
            "pattern 1X8-WEEK has no shift N (its shifts: A, S)");
  EXPECT_EQ(calendar.WhyNotWorked("2026-03-29/S"),
            "its hours are skipped by the clocks that day (Europe/Berlin)");
  EXPECT_EQ(calendar.WhyNotWorked("9990-12-31/A"),
            "it begins or ends outside the plant calendar's instants, "
            "1900-01-01T00:00:00Z..9990-12-31T00:00:00Z");
  EXPECT_EQ(calendar.WhyNotWorked("2026-02-30/A"),
            "its date 2026-02-30 does not exist (2026-02 has 28 days)");
}

TEST(CalendarTest, ShiftIdsAndLocalTimesParseStrictly) {
  EXPECT_EQ(ParseDate("2026-03-29"), absl::CivilDay(2026, 3, 29));
  EXPECT_FALSE(ParseDate("2026-02-30").has_value());
  EXPECT_FALSE(ParseDate("2026-3-29").has_value());
  EXPECT_EQ(ParseLocalTime("06:30"), 390);
  EXPECT_FALSE(ParseLocalTime("24:00").has_value());
  EXPECT_FALSE(ParseLocalTime("6:30").has_value());
  EXPECT_EQ(ShiftIdOf(absl::CivilDay(2026, 11, 21), "A"), "2026-11-21/A");
  EXPECT_FALSE(ParseShiftId("2026-11-21").has_value());
  // Outside testing: "2026-02-29/A" got the generic words, every date field the reason.
  EXPECT_EQ(ShiftIdViolation("2026-02-29/A"),
            "its date 2026-02-29 does not exist (2026-02 has 28 days)");
  EXPECT_EQ(ShiftIdViolation("2026-11-21"),
            "must be a shift id <YYYY-MM-DD>/<code>, its date within 1900-01-01..9990-12-31");
  EXPECT_EQ(ShiftIdViolation("2026-11-21/A"), "");
  EXPECT_FALSE(Calendar().ShiftById("2026-03-10/X").has_value());
  EXPECT_FALSE(Calendar().ShiftById("garbage").has_value());
}

// Outside testing: anchor_date "2026-02-29" was refused as "required with cycle_days".
TEST(CalendarTest, ADateTheCalendarLacksIsNamedAsSuch) {
  EXPECT_EQ(DateViolation(""), "required");
  EXPECT_EQ(DateViolation(" "), "required: only white space or invisible characters given");
  EXPECT_EQ(DateViolation("2026-02-29"), "2026-02-29 does not exist (2026-02 has 28 days)");
  EXPECT_EQ(DateViolation("2028-02-30"), "2028-02-30 does not exist (2028-02 has 29 days)");
  EXPECT_EQ(DateViolation("2026-04-31"), "2026-04-31 does not exist (2026-04 has 30 days)");
  EXPECT_EQ(DateViolation("2026-13-01"), "2026-13-01 does not exist (no month 13)");
  EXPECT_EQ(DateViolation("2026-00-10"), "2026-00-10 does not exist (no month 0)");
  EXPECT_EQ(DateViolation("2026-01-00"), "2026-01-00 does not exist (2026-01 has 31 days)");
  // Out of the plant calendar's range, or not the format: the rule.
  EXPECT_EQ(DateViolation("0000-01-01"), kDateRule);
  EXPECT_EQ(DateViolation("9999-12-31"), kDateRule);
  EXPECT_EQ(DateViolation("2026-3-29"), kDateRule);
  EXPECT_EQ(DateViolation("2026/03/29"), kDateRule);
}

TEST(CalendarTest, ATimeZoneTheTzdataDoesNotHaveNamesTheField) {
  EXPECT_TRUE(LoadZone("Europe/Berlin", "planning.time-zone").ok());
  EXPECT_TRUE(LoadZone("Etc/GMT+1", "planning.time-zone").ok());
  for (const char* name :
       {"Mars/Olympus_Mons", "", "localtime", "posixrules", "Factory", "../../../etc/localtime",
        "/usr/share/zoneinfo/Europe/Berlin", "Europe/../Europe/Berlin", "posix/Europe/Berlin",
        "Europe//Berlin", "right/UTC"}) {
    absl::StatusOr<absl::TimeZone> zone = LoadZone(name, "planning.time-zone");
    EXPECT_EQ(zone.status().code(), absl::StatusCode::kInvalidArgument) << name;
    ASSERT_EQ(runtime::FieldViolationsOf(zone.status()).size(), 1u);
    EXPECT_EQ(runtime::FieldViolationsOf(zone.status())[0].field, "planning.time-zone");
  }
}

}  // namespace
}  // namespace plantmesh::planning
