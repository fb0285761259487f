#include "server/planning/domain.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/time_text.h"
#include "server/runtime/errors.h"
#include "server/runtime/text_rules.h"

namespace plantmesh::planning {
namespace {

constexpr int kMaxShifts = 6;
constexpr int kMaxBreaks = 8;
constexpr int kMaxCycleDays = 56;
constexpr size_t kMaxRotation = 336;
constexpr size_t kMaxShiftCodeChars = 8;

std::string At(absl::string_view prefix, size_t i, absl::string_view field) {
  return absl::StrCat(prefix, "[", i, "].", field);
}

bool Required(runtime::Violations& v, const std::string& value, std::string field) {
  return runtime::RequireText(v, std::move(field), value);
}

// A refusal of a rule that knows only statuses, naming the plan it refused.
absl::Status PlanRefusal(const Plan& plan, absl::Status status) {
  return runtime::WithErrorMetadata(std::move(status), "plan_id", absl::StrCat(plan.id));
}

absl::Status Illegal(PlanStatus from, absl::string_view what) {
  return runtime::WithErrorInfo(
      absl::FailedPreconditionError(
          absl::StrCat(what, " is not allowed on a plan in status ", PlanStatusName(from))),
      "ILLEGAL_TRANSITION",
      {{"current_status", std::string(PlanStatusName(from))}, {"transition", std::string(what)}});
}

}  // namespace

absl::Status ValidateLine(const Line& line) {
  runtime::Violations v;
  Required(v, line.id, "line.id");
  Required(v, line.display_name, "line.display_name");
  Required(v, line.site, "line.site");
  Required(v, line.area, "line.area");
  Required(v, line.shift_pattern_id, "line.shift_pattern_id");
  // A lower bound too (outside testing: 5e-324 was taken): below it a rate or cycle time
  // only means something else gone wrong, and its inverse overflows what plans count.
  if (!std::isfinite(line.nominal_rate_per_hour) || line.nominal_rate_per_hour < 0.001 ||
      line.nominal_rate_per_hour > 1e6) {
    v.Add("line.nominal_rate_per_hour", "must be 0.001 to 1000000 units per hour");
  }
  return v.ToStatus();
}

absl::Status ValidateProduct(const Product& product, const std::set<std::string>& known_lines,
                             const std::set<std::string>& known_products) {
  runtime::Violations v;
  Required(v, product.id, "product.id");
  Required(v, product.display_name, "product.display_name");
  Required(v, product.unit, "product.unit");
  if (product.cycle_times.size() > 100) v.Add("product.cycle_times", "at most 100");
  if (product.changeovers.size() > 200) v.Add("product.changeovers", "at most 200");
  std::set<std::string> lines;
  for (size_t i = 0; i < product.cycle_times.size(); ++i) {
    const LineCycleTime& c = product.cycle_times[i];
    if (Required(v, c.line_id, At("product.cycle_times", i, "line_id"))) {
      if (known_lines.count(c.line_id) == 0) {
        v.Add(At("product.cycle_times", i, "line_id"),
              absl::StrCat("unknown line ", runtime::QuoteForMessage(c.line_id)));
      } else if (!lines.insert(c.line_id).second) {
        v.Add(At("product.cycle_times", i, "line_id"), "line given twice");
      }
    }
    if (!std::isfinite(c.ideal_cycle_seconds) || c.ideal_cycle_seconds < 0.001 ||
        c.ideal_cycle_seconds > 86400) {
      v.Add(At("product.cycle_times", i, "ideal_cycle_seconds"), "must be 0.001 to 86400 seconds");
    }
  }
  std::set<std::pair<std::string, std::string>> pairs;
  for (size_t i = 0; i < product.changeovers.size(); ++i) {
    const Changeover& c = product.changeovers[i];
    if (Required(v, c.from_product_id, At("product.changeovers", i, "from_product_id"))) {
      if (c.from_product_id == product.id) {
        v.Add(At("product.changeovers", i, "from_product_id"), "must be another product");
      } else if (known_products.count(c.from_product_id) == 0) {
        v.Add(At("product.changeovers", i, "from_product_id"),
              absl::StrCat("unknown product ", runtime::QuoteForMessage(c.from_product_id)));
      }
    }
    if (!c.line_id.empty() && known_lines.count(c.line_id) == 0) {
      v.Add(At("product.changeovers", i, "line_id"),
            absl::StrCat("unknown line ", runtime::QuoteForMessage(c.line_id)));
    }
    if (!pairs.insert({c.from_product_id, c.line_id}).second) {
      v.Add(At("product.changeovers", i, "from_product_id"), "(from, line) given twice");
    }
    if (c.duration_minutes < 1 || c.duration_minutes > 1440) {
      v.Add(At("product.changeovers", i, "duration_minutes"), "must be 1-1440");
    }
  }
  return v.ToStatus();
}

Line Patched(const Line& current, const Line& patch, const std::vector<std::string>& paths) {
  Line after = current;
  for (const std::string& path : paths) {
    if (path == "display_name") after.display_name = patch.display_name;
    if (path == "site") after.site = patch.site;
    if (path == "area") after.area = patch.area;
    if (path == "nominal_rate_per_hour") after.nominal_rate_per_hour = patch.nominal_rate_per_hour;
  }
  return after;
}

Product Patched(const Product& current, const Product& patch,
                const std::vector<std::string>& paths) {
  Product after = current;
  for (const std::string& path : paths) {
    if (path == "display_name") after.display_name = patch.display_name;
    if (path == "unit") after.unit = patch.unit;
    if (path == "cycle_times") after.cycle_times = patch.cycle_times;
    if (path == "changeovers") after.changeovers = patch.changeovers;
  }
  return after;
}

absl::Status CheckProductChange(const Product& current, const Product& after,
                                const ProductRecords& records) {
  std::set<std::string> kept;
  for (const LineCycleTime& c : after.cycle_times) kept.insert(c.line_id);
  for (const auto& [line, plan_ids] : records.open_plans_by_line) {
    if (kept.count(line) > 0 || plan_ids.empty()) continue;
    return runtime::WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            "product ", current.id, " cannot leave line ", line, ": production plan(s) ",
            absl::StrJoin(plan_ids, ", "),
            " not closed run it there, and their output and revisions would be refused. "
            "First take it out of their items (UpdateProductionPlan while a plan is a draft, "
            "ReviseProductionPlan once published) or close them")),
        "PRODUCT_PLANNED_ON_LINE",
        {{"product_id", current.id},
         {"line_id", line},
         {"plan_ids", absl::StrJoin(plan_ids, ",")}});
  }
  if (after.unit != current.unit && records.plans + records.outputs + records.demand_days > 0) {
    return runtime::WithErrorInfo(
        absl::FailedPreconditionError(
            absl::StrCat("product ", current.id, "'s unit cannot change from ",
                         runtime::QuoteForMessage(current.unit), ": ", records.plans, " plan(s), ",
                         records.outputs, " output record(s) and ", records.demand_days,
                         " day(s) of demand count in it, and would read in another unit. A product "
                         "counted in another unit is another product")),
        "PRODUCT_HAS_RECORDS",
        {{"product_id", current.id},
         {"plans", absl::StrCat(records.plans)},
         {"outputs", absl::StrCat(records.outputs)},
         {"demand_days", absl::StrCat(records.demand_days)}});
  }
  return absl::OkStatus();
}

namespace {

// The update of one line or product: `current` when `after` describes it already (no new
// version, no new etag: holders of the etag keep it), `after` with the next version.
template <typename T>
absl::StatusOr<T> Versioned(const T& current, T after, bool same, absl::string_view kind,
                            absl::string_view etag) {
  PM_RETURN_IF_ERROR(kPlanEtag.Check("etag", absl::StrCat(kind, " ", current.id), current.version,
                                     etag, /*required=*/false));
  if (same) return current;
  after.version = current.version + 1;
  return after;
}

}  // namespace

absl::StatusOr<Line> ApplyLineUpdate(const Line& current, const Line& patch,
                                     const std::vector<std::string>& paths,
                                     absl::string_view etag) {
  Line after = Patched(current, patch, paths);
  const auto fields = [](const Line& l) {
    return std::tie(l.display_name, l.site, l.area, l.nominal_rate_per_hour);
  };
  const bool same = fields(after) == fields(current);
  return Versioned(current, std::move(after), same, "line", etag);
}

absl::StatusOr<Product> ApplyProductUpdate(const Product& current, const Product& patch,
                                           const std::vector<std::string>& paths,
                                           absl::string_view etag) {
  Product after = Patched(current, patch, paths);
  const auto fields = [](const Product& p) {
    return std::tie(p.display_name, p.unit, p.cycle_times, p.changeovers);
  };
  const bool same = fields(after) == fields(current);
  return Versioned(current, std::move(after), same, "product", etag);
}

absl::Status ValidateCrew(const Crew& crew) {
  runtime::Violations v;
  Required(v, crew.id, "crew.id");
  Required(v, crew.display_name, "crew.display_name");
  Required(v, crew.area, "crew.area");
  return v.ToStatus();
}

absl::Status ValidateMaintenance(const MaintenanceWindow& window) {
  runtime::Violations v;
  Required(v, window.line_id, "maintenance_window.line_id");
  Required(v, window.reason, "maintenance_window.reason");
  if (!InPlantRange(window.start)) v.Add("maintenance_window.start_time", kTimeRule);
  if (!InPlantRange(window.end)) {
    v.Add("maintenance_window.end_time", kTimeRule);
  } else if (!(window.start < window.end)) {
    v.Add("maintenance_window.end_time", "must be after start_time");
  } else if (window.end - window.start > absl::Hours(24 * 31)) {
    v.Add("maintenance_window.end_time", "at most 31 days after start_time");
  }
  return v.ToStatus();
}

absl::StatusOr<ShiftPattern> MakeShiftPattern(const ShiftPatternInput& input,
                                              const std::set<std::string>& known_crews) {
  runtime::Violations v;
  const std::string root = "shift_pattern";
  ShiftPattern p;
  p.id = input.id;
  p.display_name = input.display_name;
  Required(v, input.id, root + ".id");
  Required(v, input.display_name, root + ".display_name");
  if (input.shifts.empty() || input.shifts.size() > kMaxShifts) {
    v.Add(root + ".shifts",
          absl::StrCat("1 to ", kMaxShifts, " shifts (", input.shifts.size(), " given)"));
    // Refused whole, its shifts not judged: each pair of them is compared below
    // (re-test: 20,000 shifts took 43 s of a core, past the caller's deadline).
    if (!input.shifts.empty()) return v.ToStatus();
  }
  std::set<std::string> codes;
  for (size_t i = 0; i < input.shifts.size(); ++i) {
    const ShiftDefinitionInput& in = input.shifts[i];
    const std::string path = absl::StrCat(root, ".shifts[", i, "]");
    ShiftDefinition s;
    s.code = in.code;
    if (Required(v, in.code, path + ".code")) {
      if (in.code.size() > kMaxShiftCodeChars) {
        v.Add(path + ".code", absl::StrCat("at most ", kMaxShiftCodeChars, " characters"));
      } else if (!codes.insert(in.code).second) {
        v.Add(path + ".code", "used by another shift of the pattern");
      }
    }
    std::optional<int> start = ParseLocalTime(in.start_time);
    std::optional<int> end = ParseLocalTime(in.end_time);
    if (!start) v.Add(path + ".start_time", "must be HH:MM, 00:00-23:59");
    if (!end) v.Add(path + ".end_time", "must be HH:MM, 00:00-23:59");
    if (!start || !end) continue;
    s.start_minute = *start;
    s.end_minute = *end;
    if (in.breaks.size() > kMaxBreaks) {
      v.Add(path + ".breaks",
            absl::StrCat("at most ", kMaxBreaks, " (", in.breaks.size(), " given)"));
      continue;  // refused whole, as the shifts are
    }
    int previous_end = 0;  // offset from the shift's start
    int break_minutes = 0;
    for (size_t b = 0; b < in.breaks.size(); ++b) {
      const std::string bpath = absl::StrCat(path, ".breaks[", b, "]");
      std::optional<int> bstart = ParseLocalTime(in.breaks[b].start_time);
      const int minutes = in.breaks[b].duration_minutes;
      if (!bstart) {
        v.Add(bpath + ".start_time", "must be HH:MM, 00:00-23:59");
        continue;
      }
      if (minutes < 1 || minutes > 240) {
        v.Add(bpath + ".duration_minutes", "must be 1-240");
        continue;
      }
      const int offset = (*bstart - s.start_minute + kMinutesPerDay) % kMinutesPerDay;
      if (offset >= s.WallMinutes()) {
        v.Add(bpath + ".start_time", "the break must start inside its shift");
      } else if (offset + minutes > s.WallMinutes()) {
        // The start is inside: the length carries it out (outside testing: the start was
        // named).
        v.Add(bpath + ".duration_minutes",
              absl::StrCat("the break runs ", offset + minutes - s.WallMinutes(),
                           " minutes past its shift's end: at most ", s.WallMinutes() - offset,
                           " from its start"));
      } else if (offset < previous_end) {
        v.Add(bpath + ".start_time", "breaks must be in order and not overlap");
      } else {
        s.breaks.push_back({*bstart, minutes});
        previous_end = offset + minutes;
        break_minutes += minutes;
        // A shift is worked: breaks that fill it leave it nothing to plan (outside
        // testing: a 240-minute break in a 4-hour shift, likely meant as 24, was accepted
        // and the shift took plans, output and downtime).
        if (break_minutes == s.WallMinutes()) {
          v.Add(bpath + ".duration_minutes",
                absl::StrCat("the breaks would take the whole shift (", break_minutes,
                             " min): a shift needs time to produce in (a day without this "
                             "shift is a rotation day without it)"));
        }
      }
    }
    p.shifts.push_back(std::move(s));
  }
  // Shifts repeat every day: compare each pair also a day apart.
  for (size_t i = 0; i < p.shifts.size(); ++i) {
    for (size_t j = i + 1; j < p.shifts.size(); ++j) {
      const ShiftDefinition& a = p.shifts[i];
      const ShiftDefinition& b = p.shifts[j];
      for (int shift_days : {-1, 0, 1}) {
        const int a0 = a.start_minute, a1 = a0 + a.WallMinutes();
        const int b0 = b.start_minute + shift_days * kMinutesPerDay, b1 = b0 + b.WallMinutes();
        if (a0 < b1 && b0 < a1) {
          v.Add(absl::StrCat(root, ".shifts[", j, "]"),
                absl::StrCat("overlaps shift ", runtime::QuoteForMessage(a.code)));
          break;
        }
      }
    }
  }
  if (input.cycle_days < 0 || input.cycle_days > kMaxCycleDays) {
    v.Add(root + ".cycle_days", absl::StrCat("must be 0-", kMaxCycleDays));
  } else if (input.cycle_days > 0) {
    p.cycle_days = input.cycle_days;
    std::optional<absl::CivilDay> anchor = ParseDate(input.anchor_date);
    if (!anchor) {
      v.Add(root + ".anchor_date", input.anchor_date.empty()
                                       ? std::string("required with cycle_days")
                                       : DateViolation(input.anchor_date));
    } else {
      p.anchor_date = *anchor;
    }
    if (input.rotation.empty() || input.rotation.size() > kMaxRotation) {
      v.Add(root + ".rotation", absl::StrCat("1 to ", kMaxRotation, " entries with cycle_days (",
                                             input.rotation.size(), " given)"));
      if (!input.rotation.empty()) return v.ToStatus();
    }
    std::set<std::pair<int, std::string>> seen;
    for (size_t i = 0; i < input.rotation.size(); ++i) {
      const RotationEntry& e = input.rotation[i];
      if (e.day < 0 || e.day >= input.cycle_days) {
        v.Add(At(root + ".rotation", i, "day"), absl::StrCat("must be 0-", input.cycle_days - 1));
      }
      if (codes.count(e.shift_code) == 0) {
        v.Add(At(root + ".rotation", i, "shift_code"), "not a shift of the pattern");
      }
      if (!e.crew_id.empty() && known_crews.count(e.crew_id) == 0) {
        v.Add(At(root + ".rotation", i, "crew_id"),
              absl::StrCat("unknown crew ", runtime::QuoteForMessage(e.crew_id)));
      }
      if (!seen.insert({e.day, e.shift_code}).second) {
        v.Add(At(root + ".rotation", i, "shift_code"), "this day's shift is listed twice");
      }
    }
    p.rotation = input.rotation;
  } else if (!input.rotation.empty() || !input.anchor_date.empty()) {
    v.Add(root + ".cycle_days", "required with rotation or anchor_date");
  }
  PM_RETURN_IF_ERROR(v.ToStatus());
  return p;
}

ShiftPatternInput InputOf(const ShiftPattern& pattern) {
  ShiftPatternInput in;
  in.id = pattern.id;
  in.display_name = pattern.display_name;
  for (const ShiftDefinition& s : pattern.shifts) {
    ShiftDefinitionInput d{
        s.code, FormatLocalTime(s.start_minute), FormatLocalTime(s.end_minute), {}};
    for (const ShiftBreak& b : s.breaks) {
      d.breaks.push_back({FormatLocalTime(b.start_minute), b.duration_minutes});
    }
    in.shifts.push_back(std::move(d));
  }
  in.cycle_days = pattern.cycle_days;
  if (pattern.cycle_days > 0) in.anchor_date = FormatDate(pattern.anchor_date);
  in.rotation = pattern.rotation;
  return in;
}

absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name, absl::string_view field) {
  absl::TimeZone zone;
  // absl treats "" (and nothing else) as UTC without saying so: refuse it here. It also
  // reads any file a path names, and the tzdata's aliases of the host's own zone
  // (outside testing: "../../../etc/localtime", "localtime", "posixrules", "Factory",
  // "posix/Europe/Berlin" and "Europe//Berlin" started the server, its zone then the
  // host's or none): IANA names only.
  const bool iana_shaped =
      !name.empty() && name.front() != '/' && name.back() != '/' &&
      !absl::StrContains(name, "..") && !absl::StrContains(name, "//") &&
      !absl::StartsWith(name, "posix/") && !absl::StartsWith(name, "right/") &&
      std::all_of(name.begin(), name.end(),
                  [](char c) {
                    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '/' ||
                           c == '_' || c == '-' || c == '+';
                  }) &&
      name != "localtime" && name != "posixrules" && name != "Factory";
  if (!iana_shaped || !absl::LoadTimeZone(name, &zone)) {
    return runtime::InvalidField(
        std::string(field),
        absl::StrCat("no time zone ", runtime::QuoteForMessage(std::string(name)),
                     " in the system's tzdata (an IANA name such as Europe/Berlin)"));
  }
  return zone;
}

absl::string_view PlanStatusName(PlanStatus status) {
  switch (status) {
    case PlanStatus::kDraft:
      return "DRAFT";
    case PlanStatus::kPublished:
      return "PUBLISHED";
    case PlanStatus::kInProgress:
      return "IN_PROGRESS";
    case PlanStatus::kClosed:
      return "CLOSED";
    case PlanStatus::kUnspecified:
      break;
  }
  return "UNSPECIFIED";
}

absl::string_view PlanTransitionName(PlanTransition transition) {
  switch (transition) {
    case PlanTransition::kPublish:
      return "PublishProductionPlan";
    case PlanTransition::kStart:
      return "StartProductionPlan";
    case PlanTransition::kClose:
      return "CloseProductionPlan";
  }
  return "";
}

std::string EtagOf(int64_t version) { return kPlanEtag.Of(version); }

absl::Status CheckEtag(const Plan& current, absl::string_view given, bool required) {
  return PlanRefusal(current, kPlanEtag.Check("etag", absl::StrCat("plan ", current.id),
                                              current.version, given, required));
}

absl::Status CheckItemCount(const std::vector<PlanItem>& items, absl::string_view prefix) {
  if (!items.empty() && items.size() <= kMaxPlanItems) return absl::OkStatus();
  return runtime::InvalidField(std::string(prefix), absl::StrCat("1 to ", kMaxPlanItems, " items (",
                                                                 items.size(), " given)"));
}

absl::Status ValidateItems(const std::vector<PlanItem>& items, absl::string_view prefix,
                           const std::set<std::string>& known_products) {
  PM_RETURN_IF_ERROR(CheckItemCount(items, prefix));
  runtime::Violations v;
  std::set<int32_t> sequences;
  for (size_t i = 0; i < items.size(); ++i) {
    const PlanItem& item = items[i];
    if (Required(v, item.product_id, At(prefix, i, "product_id")) &&
        known_products.count(item.product_id) == 0) {
      v.Add(At(prefix, i, "product_id"),
            absl::StrCat("unknown product ", runtime::QuoteForMessage(item.product_id)));
    }
    if (item.quantity < 1 || item.quantity > kMaxQuantity) {
      v.Add(At(prefix, i, "quantity"), absl::StrCat("must be 1-", kMaxQuantity));
    }
    if (item.sequence < 1 || item.sequence > 1000) {
      v.Add(At(prefix, i, "sequence"), "must be 1-1000");
    } else if (!sequences.insert(item.sequence).second) {
      v.Add(At(prefix, i, "sequence"), "used by another item");
    }
  }
  return v.ToStatus();
}

namespace {

// Why `product_id`, made on `lines` (its cycle times), is not made on `line_id`: empty when it
// is, or when the plant model does not say where it is made.
std::string NotMadeOnLine(const std::string& product_id, const std::set<std::string>& lines,
                          const std::string& line_id, absl::string_view what) {
  if (lines.empty() || lines.count(line_id) > 0) return "";
  return absl::StrCat("product ", runtime::QuoteForMessage(product_id), " is made on line(s) ",
                      absl::StrJoin(lines, ", "), " (its cycle times), not on line ",
                      runtime::QuoteForMessage(line_id), ": ", what,
                      " there, or give it a cycle time on this line first");
}

}  // namespace

absl::Status CheckItemsMadeOnLine(const std::vector<PlanItem>& items, absl::string_view prefix,
                                  const std::string& line_id, const ProductLines& lines_of) {
  runtime::Violations v;
  for (size_t i = 0; i < items.size(); ++i) {
    auto lines = lines_of.find(items[i].product_id);
    if (lines == lines_of.end()) continue;
    std::set<std::string> on;
    for (const auto& [line, cycle] : lines->second) on.insert(line);
    const std::string why = NotMadeOnLine(items[i].product_id, on, line_id, "plan it");
    if (!why.empty()) v.Add(At(prefix, i, "product_id"), why);
  }
  return v.ToStatus();
}

namespace {

// Where `items` (a plan's, in any order) pass the planned time, in running order.
struct ShiftOverrun {
  size_t index = 0;    // as the items are given
  double minutes = 0;  // the items up to and including it
};
std::optional<ShiftOverrun> FirstItemPastShift(const std::vector<PlanItem>& items,
                                               const std::string& line_id,
                                               const ProductLines& lines_of,
                                               double planned_minutes) {
  // In running order (re-test: summed as sent, the item named was not where the shift
  // fills up), each named by its index as sent.
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return items[a].sequence < items[b].sequence; });
  double minutes = 0;
  for (size_t i : order) {
    auto lines = lines_of.find(items[i].product_id);
    if (lines == lines_of.end()) continue;
    auto cycle = lines->second.find(line_id);
    if (cycle == lines->second.end()) continue;
    minutes += static_cast<double>(items[i].quantity) * cycle->second / 60;
    if (minutes > planned_minutes + 1e-9) return ShiftOverrun{i, minutes};
  }
  return std::nullopt;
}

// How much more than the shift's time the items take, in words that show it when the
// minutes round alike (outside testing: "take 450.0 min ... more than the 450.0 min" for
// 2 s over).
std::string Excess(double minutes, double planned_minutes) {
  const double excess = minutes - planned_minutes;
  return excess >= 0.1 ? absl::StrFormat("%.1f min more than", excess)
                       : absl::StrFormat("%.2g s more than", excess * 60);
}

}  // namespace

absl::Status CheckItemsFitShift(const std::vector<PlanItem>& items, absl::string_view prefix,
                                const std::string& line_id, const ProductLines& lines_of,
                                const std::string& shift_id, absl::Duration planned) {
  const double planned_minutes = absl::ToDoubleMinutes(planned);
  const std::optional<ShiftOverrun> overrun =
      FirstItemPastShift(items, line_id, lines_of, planned_minutes);
  if (!overrun) return absl::OkStatus();
  return runtime::InvalidField(
      At(prefix, overrun->index, "quantity"),
      absl::StrFormat("the items up to this one take %.1f min at their ideal cycle times on "
                      "line %s, %s the %.1f min shift %s plans (shift less breaks and "
                      "maintenance): plan less, or on another shift",
                      overrun->minutes, runtime::QuoteForMessage(line_id),
                      Excess(overrun->minutes, planned_minutes), planned_minutes,
                      runtime::QuoteForMessage(shift_id)));
}

absl::Status CheckPlanFitsShift(const Plan& plan, const ProductLines& lines_of,
                                absl::Duration planned) {
  const double planned_minutes = absl::ToDoubleMinutes(planned);
  const std::optional<ShiftOverrun> overrun =
      FirstItemPastShift(plan.items, plan.line_id, lines_of, planned_minutes);
  if (!overrun) return absl::OkStatus();
  return runtime::WithErrorInfo(
      absl::FailedPreconditionError(absl::StrFormat(
          "production plan %d no longer fits its shift: its items up to items[%d] take %.1f min "
          "at their ideal cycle times on line %s, %s the %.1f min shift %s plans now "
          "(shift less breaks and maintenance; a maintenance window or a slower cycle time came "
          "since it was written): plan less with UpdateProductionPlan, then publish",
          plan.id, overrun->index, overrun->minutes, runtime::QuoteForMessage(plan.line_id),
          Excess(overrun->minutes, planned_minutes), planned_minutes,
          runtime::QuoteForMessage(plan.shift_id))),
      "PLAN_EXCEEDS_SHIFT",
      {{"plan_id", absl::StrCat(plan.id)},
       {"shift_id", plan.shift_id},
       {"item", absl::StrCat(overrun->index)},
       {"needed_minutes", absl::StrFormat("%.3f", overrun->minutes)},
       {"planned_minutes", absl::StrFormat("%.3f", planned_minutes)}});
}

absl::Status CheckMadeOnLine(const Product& product, const std::string& line_id,
                             const std::string& field) {
  std::set<std::string> lines;
  for (const LineCycleTime& c : product.cycle_times) lines.insert(c.line_id);
  const std::string why = NotMadeOnLine(product.id, lines, line_id, "record it");
  return why.empty() ? absl::OkStatus() : runtime::InvalidField(field, why);
}

std::vector<PlanItem> Sequenced(std::vector<PlanItem> items) {
  std::stable_sort(items.begin(), items.end(),
                   [](const PlanItem& a, const PlanItem& b) { return a.sequence < b.sequence; });
  return items;
}

Plan NewPlan(const std::string& line_id, const ShiftInstance& shift, std::vector<PlanItem> items,
             absl::string_view actor, absl::Time now) {
  Plan p;
  p.line_id = line_id;
  p.shift_id = shift.id;
  p.shift_date = shift.date;
  p.shift_start = shift.start;
  p.shift_end = shift.end;
  p.items = Sequenced(std::move(items));
  p.status = PlanStatus::kDraft;
  p.created_by = std::string(actor);
  p.updated_by = std::string(actor);
  p.create_time = TruncateToMicros(now);
  p.update_time = p.create_time;
  p.version = 1;
  return p;
}

absl::StatusOr<PlanStatus> NextStatus(PlanStatus from, PlanTransition transition) {
  switch (transition) {
    case PlanTransition::kPublish:
      if (from == PlanStatus::kDraft) return PlanStatus::kPublished;
      break;
    case PlanTransition::kStart:
      if (from == PlanStatus::kPublished) return PlanStatus::kInProgress;
      break;
    case PlanTransition::kClose:
      if (from == PlanStatus::kInProgress) return PlanStatus::kClosed;
      break;
  }
  return Illegal(from, PlanTransitionName(transition));
}

namespace {

// FAILED_PRECONDITION SHIFT_NOT_STARTED on `field`: the shift starts after now; `rule`
// says what waits for it.
absl::Status ShiftNotStarted(const std::string& shift_id, absl::Time start, std::string_view field,
                             std::string_view rule) {
  return runtime::WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat(std::string(field), ": shift ", shift_id,
                                                 " has not begun (it starts ", Rfc3339Utc(start),
                                                 "): ", std::string(rule))),
      "SHIFT_NOT_STARTED", {{"shift_id", shift_id}});
}

Plan Touched(const Plan& current, absl::string_view actor, absl::Time now) {
  Plan after = current;
  after.updated_by = std::string(actor);
  after.update_time = TruncateToMicros(now);
  after.version = current.version + 1;
  return after;
}

}  // namespace

absl::StatusOr<PlanChange> UpdateDraft(const Plan& current, std::vector<PlanItem> items,
                                       absl::string_view actor, absl::Time now) {
  // A closed plan never changes again: Revise is no way out of it (outside testing: a
  // closed plan's update was told to revise it, which was refused in turn).
  if (current.status == PlanStatus::kClosed) {
    return PlanRefusal(current, Illegal(current.status, "UpdateProductionPlan"));
  }
  if (current.status != PlanStatus::kDraft) {
    return runtime::WithErrorInfo(
        absl::FailedPreconditionError(
            absl::StrCat("the plan is ", PlanStatusName(current.status),
                         ": a released plan changes only by ReviseProductionPlan, with a reason")),
        "PLAN_PUBLISHED",
        {{"current_status", std::string(PlanStatusName(current.status))},
         {"plan_id", absl::StrCat(current.id)}});
  }
  std::vector<PlanItem> sequenced = Sequenced(std::move(items));
  // The items it has: nothing changes, no version, no new etag (re-test: the same items
  // made a new version, and holders of the old etag were refused).
  if (sequenced == current.items) return PlanChange{current, std::nullopt};
  PlanChange change{Touched(current, actor, now), std::nullopt};
  change.after.items = std::move(sequenced);
  return change;
}

absl::StatusOr<PlanChange> Revise(const Plan& current, std::vector<PlanItem> items,
                                  absl::string_view reason, absl::string_view actor,
                                  absl::Time now) {
  if (reason.empty()) return runtime::InvalidField("reason", "required: say why the plan changes");
  if (current.status == PlanStatus::kDraft) {
    return runtime::WithErrorInfo(
        absl::FailedPreconditionError(
            "the plan is a DRAFT: change it with UpdateProductionPlan, revisions start when it "
            "is published"),
        "PLAN_NOT_PUBLISHED", {{"current_status", "DRAFT"}, {"plan_id", absl::StrCat(current.id)}});
  }
  if (current.status != PlanStatus::kPublished && current.status != PlanStatus::kInProgress) {
    return PlanRefusal(current, Illegal(current.status, "ReviseProductionPlan"));
  }
  std::vector<PlanItem> sequenced = Sequenced(std::move(items));
  // The items it has: no revision (outside testing: an ERP re-sending its current plan at
  // every sync made a revision and a PLAN_REVISED event each time).
  if (sequenced == current.items) return PlanChange{current, std::nullopt};
  PlanChange change{Touched(current, actor, now), std::nullopt};
  change.after.items = std::move(sequenced);
  change.after.revision = current.revision + 1;
  change.after.revision_reason = std::string(reason);
  change.revision =
      PlanRevision{change.after.revision, change.after.items, change.after.revision_reason,
                   std::string(actor), change.after.update_time};
  return change;
}

absl::StatusOr<PlanChange> Move(const Plan& current, PlanTransition transition,
                                absl::string_view actor, absl::Time now) {
  absl::StatusOr<PlanStatus> next_or = NextStatus(current.status, transition);
  if (!next_or.ok()) return PlanRefusal(current, next_or.status());
  const PlanStatus next = *next_or;
  // A plan runs in its shift (outside testing: one was started and closed 2.5 months
  // before its shift, and could then never be revised).
  if (transition != PlanTransition::kPublish && now < current.shift_start) {
    return PlanRefusal(current,
                       ShiftNotStarted(current.shift_id, current.shift_start, "id",
                                       "a plan is started and closed once its shift has begun"));
  }
  PlanChange change{Touched(current, actor, now), std::nullopt};
  change.after.status = next;
  if (transition == PlanTransition::kPublish) {
    change.after.revision = 1;
    change.revision = PlanRevision{1, change.after.items, "published", std::string(actor),
                                   change.after.update_time};
  }
  return change;
}

absl::StatusOr<int64_t> ParseId(absl::string_view text, absl::string_view field) {
  if (text.empty()) return runtime::InvalidField(std::string(field), "required");
  const std::optional<int64_t> id =
      runtime::ParseDecimalId(std::string_view(text.data(), text.size()));
  if (!id) {
    return runtime::InvalidField(std::string(field),
                                 absl::StrCat("must be ", runtime::kDecimalIdRule));
  }
  return *id;
}

absl::Status ValidateOutput(const OutputRecord& output) {
  runtime::Violations v;
  Required(v, output.line_id, "output.line_id");
  Required(v, output.shift_id, "output.shift_id");
  Required(v, output.product_id, "output.product_id");
  const std::pair<const char*, int64_t> quantities[] = {{"output.packaged", output.packaged},
                                                        {"output.marked", output.marked},
                                                        {"output.scrapped", output.scrapped}};
  for (const auto& [field, value] : quantities) {
    if (value < 0 || value > kMaxQuantity) {
      v.Add(field, absl::StrCat("must be 0-", kMaxQuantity));
    }
  }
  if (output.packaged == 0 && output.marked == 0 && output.scrapped == 0) {
    v.Add("output.packaged", "at least one of packaged, marked and scrapped must be above 0");
  }
  if (output.scrapped > 0 && output.scrap_reason.empty()) {
    v.Add("output.scrap_reason", "required when scrapped > 0 (e.g. SHELL-WASTE)");
  } else if (output.scrapped == 0 && !output.scrap_reason.empty()) {
    v.Add("output.scrap_reason", "must be empty when nothing is scrapped");
  }
  return v.ToStatus();
}

absl::Status ValidateDowntime(const DowntimeEntry& entry, const ShiftInstance& shift) {
  runtime::Violations v;
  Required(v, entry.reason_code, "downtime.reason_code");
  // A worked shift lasts at least a minute: one whose hours the clocks skip is not worked
  // (calendar.h), so it is refused as the downtime's shift before this.
  const int64_t shift_minutes = absl::ToInt64Minutes(shift.end - shift.start);
  if (entry.duration_minutes < 1 || entry.duration_minutes > shift_minutes) {
    v.Add("downtime.duration_minutes",
          absl::StrCat("must be 1-", shift_minutes, " (the shift's length)"));
  }
  return v.ToStatus();
}

absl::Status RequireShiftStarted(const ShiftInstance& shift, absl::Time now,
                                 std::string_view field) {
  if (shift.start <= now) return absl::OkStatus();
  return ShiftNotStarted(shift.id, shift.start, field,
                         "actual output and downtime are recorded for shifts that have begun");
}

absl::Status AdmitDowntime(const DowntimeEntry& entry, const ShiftInstance& shift,
                           int64_t recorded_minutes, absl::Time now) {
  const int64_t shift_minutes = absl::ToInt64Minutes(shift.end - shift.start);
  const int64_t elapsed_minutes = std::clamp<int64_t>(
      absl::ToInt64Minutes(absl::Ceil(now - shift.start, absl::Minutes(1))), 0, shift_minutes);
  if (recorded_minutes + entry.duration_minutes <= elapsed_minutes) return absl::OkStatus();
  const std::string why = absl::StrCat(
      "downtime.duration_minutes: ", entry.duration_minutes, " more minutes would make ",
      recorded_minutes + entry.duration_minutes, " minutes of downtime in shift ", shift.id,
      elapsed_minutes < shift_minutes ? absl::StrCat(", which has run ", elapsed_minutes,
                                                     " of its ", shift_minutes, " minutes so far")
                                      : absl::StrCat(", which lasts ", shift_minutes),
      " (", recorded_minutes, " recorded already)");
  return runtime::WithErrorInfo(absl::FailedPreconditionError(why), "DOWNTIME_EXCEEDS_SHIFT",
                                {{"shift_id", shift.id},
                                 {"recorded_minutes", absl::StrCat(recorded_minutes)},
                                 {"shift_minutes", absl::StrCat(shift_minutes)},
                                 {"elapsed_minutes", absl::StrCat(elapsed_minutes)}});
}

ShiftStartMinute ShiftStartsOf(const std::vector<Line>& lines,
                               const std::vector<ShiftPattern>& patterns) {
  std::map<std::pair<std::string, std::string>, int> starts;  // (line, code) -> minute
  for (const Line& line : lines) {
    for (const ShiftPattern& pattern : patterns) {
      if (pattern.id != line.shift_pattern_id) continue;
      for (const ShiftDefinition& shift : pattern.shifts) {
        starts[{line.id, shift.code}] = shift.start_minute;
      }
    }
  }
  return [starts = std::move(starts)](const std::string& line,
                                      const std::string& code) -> std::optional<int> {
    auto it = starts.find({line, code});
    return it == starts.end() ? std::nullopt : std::optional<int>(it->second);
  };
}

PlanVsActual ComparePlanToActual(const std::vector<Plan>& plans,
                                 const std::vector<OutputRecord>& outputs,
                                 const std::vector<DowntimeEntry>& downtimes,
                                 const ShiftStartMinute& start_minute) {
  // A shift's place in time on its line: date, start minute (unknown: after the known),
  // code; an id that is no shift id (none is stored) by its text, after the rest.
  using ShiftOrder = std::tuple<absl::CivilDay, int, std::string>;
  auto order = [&](const std::string& line, const std::string& shift) -> ShiftOrder {
    const std::optional<ShiftKey> key = ParseShiftId(shift);
    if (!key) return {kLastPlantDay + 1, 0, shift};
    return {key->date, start_minute(line, key->code).value_or(24 * 60), key->code};
  };
  using Key = std::tuple<std::string, ShiftOrder, std::string>;
  std::map<Key, PlanVsActualRow> rows;
  auto row = [&](const std::string& line, const std::string& shift,
                 const std::string& product) -> PlanVsActualRow& {
    PlanVsActualRow& r = rows[Key{line, order(line, shift), product}];
    r.line_id = line;
    r.shift_id = shift;
    r.product_id = product;
    return r;
  };
  for (const Plan& plan : plans) {
    if (plan.status == PlanStatus::kDraft) continue;
    for (const PlanItem& item : plan.items) {
      row(plan.line_id, plan.shift_id, item.product_id).planned += item.quantity;
    }
  }
  for (const OutputRecord& o : outputs) {
    PlanVsActualRow& r = row(o.line_id, o.shift_id, o.product_id);
    r.actual += o.packaged;
    r.marked += o.marked;
    r.scrapped += o.scrapped;
  }
  PlanVsActual out;
  for (auto& [key, r] : rows) {
    if (r.planned > 0) r.attainment_percent = 100.0 * r.actual / r.planned;
    if (r.actual + r.scrapped > 0) r.scrap_percent = 100.0 * r.scrapped / (r.actual + r.scrapped);
    out.rows.push_back(std::move(r));
  }
  std::map<std::tuple<std::string, ShiftOrder, std::string>, std::map<std::string, int64_t>> stops;
  for (const DowntimeEntry& d : downtimes) {
    stops[{d.line_id, order(d.line_id, d.shift_id), d.shift_id}][d.reason_code] +=
        d.duration_minutes;
  }
  for (const auto& [key, reasons] : stops) {
    ShiftDowntime s{std::get<0>(key), std::get<2>(key), 0, {}};
    for (const auto& [reason, minutes] : reasons) {
      s.minutes += minutes;
      s.by_reason.emplace_back(reason, minutes);
    }
    out.downtimes.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<DateRange> MakeDateRange(absl::string_view from, absl::string_view to, int max_days,
                                        absl::string_view from_field, absl::string_view to_field) {
  runtime::Violations v;
  std::optional<absl::CivilDay> f = ParseDate(from);
  std::optional<absl::CivilDay> t = ParseDate(to);
  if (!f) v.Add(std::string(from_field), DateViolation(from));
  if (!t) v.Add(std::string(to_field), DateViolation(to));
  if (f && t) {
    if (*t < *f) {
      v.Add(std::string(to_field), "must not be before the first date");
    } else if (*t - *f > max_days) {
      v.Add(std::string(to_field), absl::StrCat("at most ", max_days, " days after the first"));
    }
  }
  PM_RETURN_IF_ERROR(v.ToStatus());
  return DateRange{*f, *t};
}

absl::Status CheckTimeRange(absl::Time start, absl::Time end, absl::Duration max) {
  runtime::Violations v;
  if (!InPlantRange(start)) v.Add("start_time", kTimeRule);
  if (!InPlantRange(end)) {
    v.Add("end_time", kTimeRule);
  } else if (InPlantRange(start) && !(start < end)) {
    v.Add("end_time", "must be after start_time");
  } else if (InPlantRange(start) && end - start > max) {
    v.Add("end_time",
          absl::StrCat("at most ", absl::ToInt64Hours(max) / 24, " days after start_time"));
  }
  return v.ToStatus();
}

std::string ChangedResource(const Line& line) { return absl::StrCat("lines/", line.id); }
std::string ChangedResource(const Product& product) {
  return absl::StrCat("products/", product.id);
}
std::string ChangedResource(const Crew& crew) { return absl::StrCat("crews/", crew.id); }
std::string ChangedResource(const ShiftPattern& pattern) {
  return absl::StrCat("shiftPatterns/", pattern.id);
}
std::string ChangedResource(const Holiday& holiday) {
  return absl::StrCat("holidays/", absl::FormatCivilTime(holiday.date));
}
std::string ChangedResource(const MaintenanceWindow& window) {
  return absl::StrCat("maintenanceWindows/", window.id);
}
std::string ChangedResource(const Plan& plan) { return absl::StrCat("productionPlans/", plan.id); }
std::string ChangedResource(const OutputRecord& output) {
  return absl::StrCat("outputs/", output.id);
}
std::string ChangedResource(const DowntimeEntry& downtime) {
  return absl::StrCat("downtimes/", downtime.id);
}
std::string DemandResource(const std::string& product_id) {
  return product_id.empty() ? "demand" : absl::StrCat("products/", product_id, "/demand");
}

absl::Status PlanExists(int64_t plan_id, absl::string_view line_id, absl::string_view shift_id) {
  const std::string id = absl::StrCat(plan_id);
  return runtime::WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat("line ", line_id, " has production plan ", id,
                                                 " for shift ", shift_id,
                                                 " already: change that plan instead")),
      "PLAN_EXISTS",
      {{"plan_id", id}, {"line_id", std::string(line_id)}, {"shift_id", std::string(shift_id)}});
}

absl::Status PlanOfShiftExists(int64_t plan_id, absl::string_view line_id,
                               absl::string_view shift_id) {
  const std::string id = absl::StrCat(plan_id);
  return runtime::WithErrorInfo(
      absl::AlreadyExistsError(absl::StrCat("production plan ", id, " already exists for line ",
                                            line_id, " and shift ", shift_id)),
      "RESOURCE_EXISTS",
      {{"resource_type", "production plan"},
       {"id", id},
       {"line_id", std::string(line_id)},
       {"shift_id", std::string(shift_id)}});
}

absl::Status DemandHistoryInsufficient(const std::string& product_id, const std::string& what) {
  return runtime::WithErrorInfo(
      runtime::WithPreconditionFailure(
          absl::FailedPreconditionError(absl::StrCat("product ", product_id, what)),
          "DEMAND_HISTORY", product_id,
          std::string(absl::StripPrefix(absl::StripPrefix(what, ":"), " "))),
      "DEMAND_HISTORY_INSUFFICIENT", {{"product_id", product_id}});
}

namespace {

// NOT_FOUND "<kind> '<id>' not found" with ErrorInfo `reason` (metadata `key`: id).
absl::Status NotFound(absl::string_view kind, absl::string_view reason, absl::string_view key,
                      absl::string_view id) {
  return runtime::WithErrorInfo(
      absl::NotFoundError(
          absl::StrCat(kind, " ", runtime::QuoteForMessage(std::string(id)), " not found")),
      std::string(reason), {{std::string(key), std::string(id)}});
}

}  // namespace

absl::Status PlanNotFound(int64_t id) {
  return NotFound("production plan", "PLAN_NOT_FOUND", "plan_id", absl::StrCat(id));
}

absl::Status LineNotFound(absl::string_view id) {
  return NotFound("line", "LINE_NOT_FOUND", "line_id", id);
}

absl::Status ProductNotFound(absl::string_view id) {
  return NotFound("product", "PRODUCT_NOT_FOUND", "product_id", id);
}

absl::Status HolidayNotFound(absl::CivilDay date) {
  return NotFound("holiday", "HOLIDAY_NOT_FOUND", "date", FormatDate(date));
}

absl::Status MaintenanceWindowNotFound(int64_t id) {
  return NotFound("maintenance window", "MAINTENANCE_WINDOW_NOT_FOUND", "maintenance_window_id",
                  absl::StrCat(id));
}

absl::Status DayHasProductionRecords(absl::CivilDay date, const DayRecords& records) {
  const std::string day = FormatDate(date);
  return runtime::WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat(
          day, " cannot become a holiday: its shifts have ", records.plans, " production plan(s), ",
          records.outputs, " output record(s) and ", records.downtimes,
          " downtime entr(ies), which its shifts would strand as not worked. Declare a "
          "holiday before its day is planned; to take planned time out of a planned day, "
          "plan maintenance windows over it")),
      "DAY_HAS_PRODUCTION_RECORDS",
      {{"date", day},
       {"plans", absl::StrCat(records.plans)},
       {"outputs", absl::StrCat(records.outputs)},
       {"downtimes", absl::StrCat(records.downtimes)}});
}

absl::Status ShiftOnHoliday(absl::string_view shift_id, absl::CivilDay date) {
  const std::string day = FormatDate(date);
  return runtime::WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat("shift ", shift_id, " is not worked: ", day,
                                                 " was declared a holiday while this call ran")),
      "SHIFT_NOT_WORKED", {{"shift_id", std::string(shift_id)}, {"date", day}});
}

absl::Status UnknownReference(std::string field, absl::string_view kind, absl::string_view id) {
  return runtime::InvalidField(
      std::move(field),
      absl::StrCat("unknown ", kind, " ", runtime::QuoteForMessage(std::string(id))));
}

absl::Time TruncateToMicros(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

}  // namespace plantmesh::planning
