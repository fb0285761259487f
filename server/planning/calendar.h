// The shift calendar of a line, in the plant's time zone: which shifts are worked,
// when they start and end, and how much production time they plan. Pure: no gRPC, no
// SQL, no clock; time zones come from absl (the system's tzdata).
//
// Rules (also in the contract, planning.proto):
// - A shift is defined by local wall-clock start and end ("22:00"-"06:00": an end at or
//   before the start is on the next day) and belongs to the local date it starts on;
//   its id is "<date>/<code>", e.g. "2026-11-21/A" (the defect service's `shift`).
// - On the nights the clocks change, a shift lasts what the wall clock says: in
//   Europe/Berlin 22:00-06:00 lasts 7 h on 2026-03-28 and 9 h on 2026-10-24. A local time
//   the clocks skip means the moment they jump (02:30 on 2026-03-29 is 03:00 CEST); one
//   they repeat means its first occurrence (02:30 on 2026-10-25 is 02:30 CEST).
// - Breaks start at a local wall-clock time inside their shift and last their minutes of
//   real time, cut at the shift's end.
// - No shift that starts on a holiday is worked (a night shift that starts the evening
//   before runs into it as usual), nor one whose hours the clocks skip altogether (it
//   lasts nothing), nor one dated outside the plant calendar's range (kFirstPlantDay ..
//   kLastPlantDay) or beginning or ending outside its instants (InPlantRange).
// - With a rotation (cycle_days > 0), only the (cycle day, shift) pairs it lists are
//   worked, by the crew it names; without one, every shift is worked every day.
// - Planned production time = shift time less breaks and maintenance windows, each
//   instant counted once where they overlap; maintenance outside shifts costs nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace plantmesh::planning {

inline constexpr int kMinutesPerDay = 24 * 60;

struct ShiftBreak {
  int start_minute = 0;  // local wall-clock start, minutes after midnight (0-1439)
  int duration_minutes = 0;
};

struct ShiftDefinition {
  std::string code;
  int start_minute = 0;  // local wall clock, minutes after midnight (0-1439)
  int end_minute = 0;    // at or before start_minute: on the next day
  std::vector<ShiftBreak> breaks;

  // Nominal length by the wall clock, in minutes (1-1440).
  int WallMinutes() const;
};

struct RotationEntry {
  int day = 0;  // 0 .. cycle_days - 1
  std::string shift_code;
  std::string crew_id;  // "" when not said
};

struct ShiftPattern {
  std::string id;
  std::string display_name;
  std::vector<ShiftDefinition> shifts;
  int cycle_days = 0;  // 0: every shift every day
  absl::CivilDay anchor_date;
  std::vector<RotationEntry> rotation;
};

// [start, end).
struct Interval {
  absl::Time start;
  absl::Time end;
};

// One worked shift.
struct ShiftInstance {
  std::string id;  // "2026-11-21/A"
  std::string code;
  absl::CivilDay date;  // local date it starts on
  absl::Time start;
  absl::Time end;
  std::string crew_id;
  std::vector<Interval> breaks;  // real intervals, inside [start, end)
};

// What GetPlannedTime answers (durations in whole seconds).
// In whole seconds per shift (shift, breaks and maintenance each truncated, planned what
// they leave), summed over the shifts.
struct PlannedTime {
  absl::Duration planned;      // shift less breaks less maintenance
  absl::Duration shift;        // worked shift time in the range
  absl::Duration breaks;       // break time in it
  absl::Duration maintenance;  // maintenance in it outside breaks
  int shift_count = 0;         // shifts overlapping the range
};

// The plant calendar's range: every date planning takes (holidays, shift ids, demand,
// date filters) and every time (its calendar and proposal requests) lies in it, so that
// what it derives from them — the days around a time, the shifts after it, a forecast's
// horizon (at most a year), a proposal's shifts (at most 31 days) — stays within what
// PostgreSQL's date and the contract's Timestamp (up to 9999-12-31) hold.
inline constexpr absl::CivilDay kFirstPlantDay(1900, 1, 1);
inline constexpr absl::CivilDay kLastPlantDay(9990, 12, 31);
// The rule, as error messages state it.
inline constexpr char kDateRule[] = "must be a date YYYY-MM-DD within 1900-01-01..9990-12-31";
inline constexpr char kTimeRule[] =
    "must lie within 1900-01-01T00:00:00Z..9990-12-31T00:00:00Z (the plant calendar's range)";
// Whether `t` lies in the plant calendar's range (UTC days).
bool InPlantRange(absl::Time t);

// "YYYY-MM-DD" strictly (10 characters) within the plant calendar's range; nullopt
// otherwise (including 2026-02-30 and 0000-01-01).
std::optional<absl::CivilDay> ParseDate(absl::string_view text);
// Why ParseDate refuses `text`, as an error message states it: "required" when empty,
// "2026-02-29 does not exist (2026-02 has 28 days)" for a date the calendar lacks,
// kDateRule otherwise (outside testing: a non-existent anchor_date was called
// "required").
std::string DateViolation(absl::string_view text);
std::string FormatDate(absl::CivilDay day);
// "HH:MM" strictly, 00:00-23:59 → minutes after midnight; nullopt otherwise.
std::optional<int> ParseLocalTime(absl::string_view text);
std::string FormatLocalTime(int minute);
// "<date>/<code>".
std::string ShiftIdOf(absl::CivilDay date, absl::string_view code);
// Splits a shift id; nullopt when it is not "<YYYY-MM-DD>/<code>".
struct ShiftKey {
  absl::CivilDay date;
  std::string code;
};
std::optional<ShiftKey> ParseShiftId(absl::string_view id);
// Why `id` is no shift id, as the date fields say it (DateViolation) when its date part is
// a day that does not exist ("2026-02-29/A": "its date 2026-02-29 does not exist
// (2026-02 has 28 days)"); for an id ParseShiftId takes, "".
std::string ShiftIdViolation(absl::string_view id);

// The instant of a local wall-clock time by the rules above (skipped → the jump,
// repeated → the first occurrence).
absl::Time LocalToAbsolute(const absl::TimeZone& zone, absl::CivilMinute local);

// The calendar of one line: its pattern, the plant's holidays and the line's
// maintenance windows. Cheap to build; holds copies.
class LineCalendar {
 public:
  LineCalendar(absl::TimeZone zone, ShiftPattern pattern, std::set<absl::CivilDay> holidays,
               std::vector<Interval> maintenance);

  // Worked shifts overlapping [from, to), in time order.
  std::vector<ShiftInstance> ShiftsIn(absl::Time from, absl::Time to) const;
  // The shift running at `t` (start inclusive, end exclusive), if any.
  std::optional<ShiftInstance> ShiftAt(absl::Time t) const;
  // The worked shift with this id; nullopt when the id is malformed, names no shift of
  // the pattern, or the shift is not worked (holiday, not in the rotation).
  std::optional<ShiftInstance> ShiftById(absl::string_view id) const;
  // Why ShiftById finds no worked shift for a well-formed id, the one cause that applies
  // ("2026-12-25 is a holiday", "day 3 of the pattern's 14-day rotation has no shift N (a
  // day off)", ...); "" when it finds one (outside testing: the refusal listed five
  // possible causes).
  std::string WhyNotWorked(absl::string_view id) const;
  // Planned production time in [from, to).
  PlannedTime PlannedTimeIn(absl::Time from, absl::Time to) const;
  // Planned production time of one whole shift.
  absl::Duration PlannedTimeOf(const ShiftInstance& shift) const;

 private:
  // The shift `definition` on `date`, if worked that day; else, in `*why` (when not
  // null), why not.
  std::optional<ShiftInstance> Instance(absl::CivilDay date, const ShiftDefinition& definition,
                                        std::string* why = nullptr) const;
  // Planned figures of `shift` within `window` (a part of it).
  PlannedTime Within(const ShiftInstance& shift, Interval window) const;

  absl::TimeZone zone_;
  ShiftPattern pattern_;
  std::set<absl::CivilDay> holidays_;
  std::vector<Interval> maintenance_;
};

}  // namespace plantmesh::planning
