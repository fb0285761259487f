#include "server/planning/calendar.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning {
namespace {

bool AllDigits(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

absl::Time Max(absl::Time a, absl::Time b) { return a < b ? b : a; }
absl::Time Min(absl::Time a, absl::Time b) { return a < b ? a : b; }

// Total length of the union of `intervals` clipped to `window`.
absl::Duration UnionWithin(std::vector<Interval> intervals, Interval window) {
  std::vector<Interval> clipped;
  for (const Interval& i : intervals) {
    Interval c{Max(i.start, window.start), Min(i.end, window.end)};
    if (c.start < c.end) clipped.push_back(c);
  }
  std::sort(clipped.begin(), clipped.end(),
            [](const Interval& a, const Interval& b) { return a.start < b.start; });
  absl::Duration total;
  std::optional<Interval> run;
  for (const Interval& c : clipped) {
    if (run && c.start <= run->end) {
      run->end = Max(run->end, c.end);
      continue;
    }
    if (run) total += run->end - run->start;
    run = c;
  }
  if (run) total += run->end - run->start;
  return total;
}

}  // namespace

int ShiftDefinition::WallMinutes() const {
  return end_minute > start_minute ? end_minute - start_minute
                                   : end_minute + kMinutesPerDay - start_minute;
}

std::optional<absl::CivilDay> ParseDate(absl::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int y = 0, m = 0, d = 0;
  if (!AllDigits(text.substr(0, 4)) || !AllDigits(text.substr(5, 2)) ||
      !AllDigits(text.substr(8, 2)) || !absl::SimpleAtoi(text.substr(0, 4), &y) ||
      !absl::SimpleAtoi(text.substr(5, 2), &m) || !absl::SimpleAtoi(text.substr(8, 2), &d)) {
    return std::nullopt;
  }
  const absl::CivilDay day(y, m, d);
  // CivilDay normalizes (2026-02-30 is 2026-03-02): such a date does not exist.
  if (day.year() != y || day.month() != m || day.day() != d) return std::nullopt;
  if (day < kFirstPlantDay || day > kLastPlantDay) return std::nullopt;
  return day;
}

std::string DateViolation(absl::string_view text) {
  if (std::optional<std::string> missing =
          runtime::MissingTextViolation(std::string_view(text.data(), text.size()))) {
    return *std::move(missing);
  }
  int y = 0, m = 0, d = 0;
  if (text.size() == 10 && text[4] == '-' && text[7] == '-' && AllDigits(text.substr(0, 4)) &&
      AllDigits(text.substr(5, 2)) && AllDigits(text.substr(8, 2)) &&
      absl::SimpleAtoi(text.substr(0, 4), &y) && absl::SimpleAtoi(text.substr(5, 2), &m) &&
      absl::SimpleAtoi(text.substr(8, 2), &d)) {
    if (m < 1 || m > 12) return absl::StrCat(text, " does not exist (no month ", m, ")");
    const absl::CivilMonth month(y, m);
    const int days_in_month = static_cast<int>(absl::CivilDay(month + 1) - absl::CivilDay(month));
    if (d < 1 || d > days_in_month) {
      return absl::StrCat(text, " does not exist (", text.substr(0, 7), " has ", days_in_month,
                          " days)");
    }
  }
  return kDateRule;
}

bool InPlantRange(absl::Time t) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  return t >= absl::FromCivil(kFirstPlantDay, utc) && t <= absl::FromCivil(kLastPlantDay, utc);
}

std::string FormatDate(absl::CivilDay day) {
  return absl::StrFormat("%04d-%02d-%02d", day.year(), day.month(), day.day());
}

std::optional<int> ParseLocalTime(absl::string_view text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  int h = 0, m = 0;
  if (!AllDigits(text.substr(0, 2)) || !AllDigits(text.substr(3, 2)) ||
      !absl::SimpleAtoi(text.substr(0, 2), &h) || !absl::SimpleAtoi(text.substr(3, 2), &m) ||
      h > 23 || m > 59) {
    return std::nullopt;
  }
  return h * 60 + m;
}

std::string FormatLocalTime(int minute) {
  return absl::StrFormat("%02d:%02d", minute / 60, minute % 60);
}

std::string ShiftIdOf(absl::CivilDay date, absl::string_view code) {
  return absl::StrCat(FormatDate(date), "/", code);
}

std::optional<ShiftKey> ParseShiftId(absl::string_view id) {
  if (id.size() < 12 || id[10] != '/') return std::nullopt;
  std::optional<absl::CivilDay> date = ParseDate(id.substr(0, 10));
  if (!date) return std::nullopt;
  return ShiftKey{*date, std::string(id.substr(11))};
}

std::string ShiftIdViolation(absl::string_view id) {
  if (ParseShiftId(id)) return "";
  if (id.size() >= 12 && id[10] == '/') {
    const std::string date = DateViolation(id.substr(0, 10));
    if (absl::StrContains(date, "does not exist")) return absl::StrCat("its date ", date);
  }
  return "must be a shift id <YYYY-MM-DD>/<code>, its date within 1900-01-01..9990-12-31";
}

absl::Time LocalToAbsolute(const absl::TimeZone& zone, absl::CivilMinute local) {
  const absl::TimeZone::TimeInfo info = zone.At(absl::CivilSecond(local));
  switch (info.kind) {
    case absl::TimeZone::TimeInfo::SKIPPED:
      return info.trans;  // the moment the clocks jump
    case absl::TimeZone::TimeInfo::REPEATED:
    case absl::TimeZone::TimeInfo::UNIQUE:
      return info.pre;  // for REPEATED, the first occurrence (the earlier offset)
  }
  return info.pre;
}

LineCalendar::LineCalendar(absl::TimeZone zone, ShiftPattern pattern,
                           std::set<absl::CivilDay> holidays, std::vector<Interval> maintenance)
    : zone_(zone),
      pattern_(std::move(pattern)),
      holidays_(std::move(holidays)),
      maintenance_(std::move(maintenance)) {}

std::optional<ShiftInstance> LineCalendar::Instance(absl::CivilDay date,
                                                    const ShiftDefinition& definition,
                                                    std::string* why) const {
  auto not_worked = [why](std::string reason) -> std::optional<ShiftInstance> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  // A shift dated outside the plant calendar is none of its shifts: its id would name a
  // date that planning refuses (outside testing: 1900-01-01T00:00Z answered 1899-12-31/N).
  if (date < kFirstPlantDay || date > kLastPlantDay) {
    return not_worked(absl::StrCat(FormatDate(date), " is outside the plant calendar"));
  }
  if (holidays_.count(date) > 0) {
    return not_worked(absl::StrCat(FormatDate(date), " is a holiday"));
  }
  std::string crew;
  if (pattern_.cycle_days > 0) {
    // Floor modulo: dates before the anchor cycle backwards.
    const int64_t offset = date - pattern_.anchor_date;
    const int day = static_cast<int>(((offset % pattern_.cycle_days) + pattern_.cycle_days) %
                                     pattern_.cycle_days);
    auto entry = std::find_if(
        pattern_.rotation.begin(), pattern_.rotation.end(),
        [&](const RotationEntry& e) { return e.day == day && e.shift_code == definition.code; });
    if (entry == pattern_.rotation.end()) {
      // Numbered as RotationEntry.day is, from 0 (re-test: counted from 1, "day 1 has no
      // shift S" named the entry of day 1 that has one).
      return not_worked(absl::StrCat("rotation day ", day, " of pattern ", pattern_.id, " (its ",
                                     pattern_.cycle_days, "-day rotation; day 0 is ",
                                     FormatDate(pattern_.anchor_date), ") has no shift ",
                                     definition.code, ": a day off"));
    }
    crew = entry->crew_id;
  }
  ShiftInstance shift;
  shift.id = ShiftIdOf(date, definition.code);
  shift.code = definition.code;
  shift.date = date;
  shift.crew_id = crew;
  const absl::CivilMinute start_local =
      absl::CivilMinute(date) + definition.start_minute;  // the local date's midnight + minutes
  shift.start = LocalToAbsolute(zone_, start_local);
  const absl::CivilDay end_date = definition.end_minute > definition.start_minute ? date : date + 1;
  shift.end = LocalToAbsolute(zone_, absl::CivilMinute(end_date) + definition.end_minute);
  // A shift whose hours the clocks skip (02:00-02:45 on the night they go forward, any
  // shift of a day a zone dropped, Pacific/Apia's 2011-12-30) lasts nothing: it is not
  // worked, so not listed, counted or plannable (outside testing: it was all three).
  if (shift.end <= shift.start) {
    return not_worked(
        absl::StrCat("its hours are skipped by the clocks that day (", zone_.name(), ")"));
  }
  // Nor is one that begins or ends outside the calendar's instants, where no query by time
  // could find it (outside testing: 9990-12-31/F was plannable, yet GetShiftAt,
  // GetPlannedTime and ListShifts refused its times, and 9990-12-30/N was found by
  // GetShiftAt but not listed).
  if (!InPlantRange(shift.start) || !InPlantRange(shift.end)) {
    return not_worked(
        "it begins or ends outside the plant calendar's instants, "
        "1900-01-01T00:00:00Z..9990-12-31T00:00:00Z");
  }
  for (const ShiftBreak& b : definition.breaks) {
    const absl::CivilDay break_date = b.start_minute >= definition.start_minute ? date : date + 1;
    const absl::Time start = LocalToAbsolute(zone_, absl::CivilMinute(break_date) + b.start_minute);
    const absl::Time end = Min(start + absl::Minutes(b.duration_minutes), shift.end);
    if (start < end) shift.breaks.push_back({start, end});
  }
  // Nor is one whose breaks take all the time the clocks leave it (re-test: 01:00-03:00
  // with a break at 01:00 was listed and plannable on the night the clocks go forward,
  // with no time to produce in). The breaks are in order; they may touch after a jump.
  absl::Time covered = shift.start;
  for (const Interval& b : shift.breaks) {
    if (b.start > covered) break;
    covered = std::max(covered, b.end);
  }
  if (covered >= shift.end) return std::nullopt;
  return shift;
}

std::vector<ShiftInstance> LineCalendar::ShiftsIn(absl::Time from, absl::Time to) const {
  std::vector<ShiftInstance> out;
  if (!(from < to)) return out;
  // A shift lasts at most 24 h by the wall clock (25 h on a night the clocks go back):
  // one starting two local days before `from` cannot reach it.
  const absl::CivilDay first = absl::ToCivilDay(from, zone_) - 2;
  const absl::CivilDay last = absl::ToCivilDay(to, zone_);
  for (absl::CivilDay day = first; day <= last; ++day) {
    for (const ShiftDefinition& definition : pattern_.shifts) {
      std::optional<ShiftInstance> shift = Instance(day, definition);
      if (shift && shift->start < to && from < shift->end) out.push_back(*std::move(shift));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ShiftInstance& a, const ShiftInstance& b) { return a.start < b.start; });
  return out;
}

std::optional<ShiftInstance> LineCalendar::ShiftAt(absl::Time t) const {
  for (ShiftInstance& shift : ShiftsIn(t, t + absl::Nanoseconds(1))) {
    if (shift.start <= t && t < shift.end) return std::move(shift);
  }
  return std::nullopt;
}

std::string LineCalendar::WhyNotWorked(absl::string_view id) const {
  std::optional<ShiftKey> key = ParseShiftId(id);
  if (!key) return ShiftIdViolation(id);
  std::vector<std::string> codes;
  for (const ShiftDefinition& definition : pattern_.shifts) {
    if (definition.code != key->code) {
      codes.push_back(definition.code);
      continue;
    }
    std::string why;
    return Instance(key->date, definition, &why) ? "" : why;
  }
  return absl::StrCat("pattern ", pattern_.id, " has no shift ", key->code,
                      " (its shifts: ", absl::StrJoin(codes, ", "), ")");
}

std::optional<ShiftInstance> LineCalendar::ShiftById(absl::string_view id) const {
  std::optional<ShiftKey> key = ParseShiftId(id);
  if (!key) return std::nullopt;
  for (const ShiftDefinition& definition : pattern_.shifts) {
    if (definition.code == key->code) return Instance(key->date, definition);
  }
  return std::nullopt;
}

PlannedTime LineCalendar::Within(const ShiftInstance& shift, Interval window) const {
  // Each part truncated to whole seconds, planned what they leave, so that every method
  // answers one planned time per shift and the parts add up (re-test: a maintenance
  // window of 999.5 s gave 26000 s in ListShifts, 26001 s in GetPlannedTime and 26000.5 s
  // to ProposePlan and the plan capacity check).
  const absl::Duration second = absl::Seconds(1);
  PlannedTime t;
  t.shift_count = 1;
  t.shift = absl::Floor(window.end - window.start, second);
  const absl::Duration breaks = UnionWithin(shift.breaks, window);
  t.breaks = absl::Floor(breaks, second);
  std::vector<Interval> idle = shift.breaks;
  idle.insert(idle.end(), maintenance_.begin(), maintenance_.end());
  t.maintenance = absl::Floor(UnionWithin(std::move(idle), window) - breaks, second);
  t.planned = std::max(t.shift - t.breaks - t.maintenance, absl::ZeroDuration());
  return t;
}

PlannedTime LineCalendar::PlannedTimeIn(absl::Time from, absl::Time to) const {
  PlannedTime total;
  for (const ShiftInstance& shift : ShiftsIn(from, to)) {
    const PlannedTime part = Within(shift, {Max(from, shift.start), Min(to, shift.end)});
    total.planned += part.planned;
    total.shift += part.shift;
    total.breaks += part.breaks;
    total.maintenance += part.maintenance;
    total.shift_count += 1;
  }
  return total;
}

absl::Duration LineCalendar::PlannedTimeOf(const ShiftInstance& shift) const {
  return Within(shift, {shift.start, shift.end}).planned;
}

}  // namespace plantmesh::planning
