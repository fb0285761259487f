#include "server/planning/proposal.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning {
namespace {

// The first 10 of `ids` joined with `separator`, and (`count_more`) how many more: a
// message or metadata names a few, not a thousand products.
std::string FirstIds(const std::set<std::string>& ids, absl::string_view separator,
                     bool count_more) {
  std::vector<std::string> first(ids.begin(),
                                 std::next(ids.begin(), std::min<size_t>(10, ids.size())));
  std::string text = absl::StrJoin(first, separator);
  if (count_more && ids.size() > first.size()) {
    absl::StrAppend(&text, " and ", ids.size() - first.size(), " more");
  }
  return text;
}

// The instant local `day` ends (the next day's midnight, by the calendar's rules).
absl::Time EndOfDay(const absl::TimeZone& zone, absl::CivilDay day) {
  return LocalToAbsolute(zone, absl::CivilMinute(day + 1));
}

}  // namespace

std::vector<absl::CivilDay> DemandDays(const absl::TimeZone& zone, absl::Time start,
                                       absl::Time cover) {
  std::vector<absl::CivilDay> days;
  // Outside testing: a horizon at the calendar's end was said to cover 9990-12-31 to
  // 9991-04-02, days no calendar has; one from its first instant west of UTC, 1899-12-31.
  for (absl::CivilDay day = std::max(absl::ToCivilDay(start, zone), kFirstPlantDay);
       EndOfDay(zone, day) < cover && day <= kLastPlantDay &&
       static_cast<int>(days.size()) < kMaxDemandDays;
       ++day) {
    days.push_back(day);
  }
  return days;
}

int DuePeriod(const std::vector<absl::Time>& period_ends, const absl::TimeZone& zone,
              absl::CivilDay day) {
  const absl::Time due = EndOfDay(zone, day);
  // The last period that ends at or before the end of the day.
  auto after = std::upper_bound(period_ends.begin(), period_ends.end(), due);
  return static_cast<int>(after - period_ends.begin()) - 1;
}

absl::StatusOr<ProposalModel> BuildProposalModel(const ProposalFacts& facts,
                                                 absl::Duration time_limit) {
  ProposalModel model;
  propose::ProposalInput& in = model.input;
  std::set<std::string> planned;
  for (const Product& p : facts.products) planned.insert(p.id);

  // Lines with the products they can make.
  std::set<std::string> used_lines;
  for (const Line& line : facts.lines) {
    propose::ProposalLine l;
    l.id = line.id;
    for (const Product& p : facts.products) {
      for (const LineCycleTime& c : p.cycle_times) {
        if (c.line_id == line.id) l.products.push_back({p.id, c.ideal_cycle_seconds});
      }
    }
    if (l.products.empty()) {
      model.idle_lines.push_back(line.id);
      continue;
    }
    used_lines.insert(line.id);
    in.lines.push_back(std::move(l));
  }
  // Each refusal has a reason of its own, so that a client tells them apart without the
  // text (outside testing: both answered ErrorInfo reason FAILED_PRECONDITION).
  if (in.lines.empty()) {
    return runtime::WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            "none of the chosen lines (", absl::StrJoin(model.idle_lines, ", "),
            ") makes any of the products to plan (", FirstIds(planned, ", ", /*count_more=*/true),
            "): no cycle time; add one to a product (UpdateProduct) or choose its lines: "
            "nothing to propose")),
        "NO_LINE_MAKES_THE_PRODUCTS",
        {{"line_ids", absl::StrJoin(model.idle_lines, ",")},
         {"product_ids", FirstIds(planned, ",", /*count_more=*/false)},
         {"product_count", absl::StrCat(planned.size())}});
  }

  // Periods: the distinct end times of the used lines' shifts.
  for (const HorizonShift& s : facts.shifts) {
    if (used_lines.count(s.line_id) > 0) model.period_ends.push_back(s.shift.end);
  }
  std::sort(model.period_ends.begin(), model.period_ends.end());
  model.period_ends.erase(std::unique(model.period_ends.begin(), model.period_ends.end()),
                          model.period_ends.end());
  if (model.period_ends.empty()) {
    return runtime::WithErrorInfo(
        absl::FailedPreconditionError(
            "the lines have no worked shift in the horizon (holidays, days off, or no shift of "
            "their patterns starts in it)"),
        "NO_WORKED_SHIFT_IN_HORIZON", {{"line_ids", absl::StrJoin(used_lines, ",")}});
  }
  in.period_count = static_cast<int>(model.period_ends.size());
  auto period_of = [&](absl::Time end) {
    return static_cast<int>(
        std::lower_bound(model.period_ends.begin(), model.period_ends.end(), end) -
        model.period_ends.begin());
  };
  for (const HorizonShift& s : facts.shifts) {
    if (used_lines.count(s.line_id) == 0) continue;
    const int period = period_of(s.shift.end);
    for (propose::ProposalLine& l : in.lines) {
      if (l.id != s.line_id) continue;
      l.shifts.push_back({s.shift.id, period, absl::ToDoubleMinutes(s.planned)});
    }
    model.shift_at[{s.line_id, period}] = &s;
  }

  for (const Product& p : facts.products) {
    propose::ProposalProduct product;
    product.id = p.id;
    auto stock = facts.stock_on_hand.find(p.id);
    if (stock != facts.stock_on_hand.end()) product.stock_on_hand = stock->second;
    in.products.push_back(std::move(product));
    // Changeovers into p from another planned product, on a used line or on every line.
    for (const Changeover& c : p.changeovers) {
      if (planned.count(c.from_product_id) == 0) continue;
      if (!c.line_id.empty() && used_lines.count(c.line_id) == 0) continue;
      in.changeovers.push_back(
          {c.line_id, c.from_product_id, p.id, static_cast<double>(c.duration_minutes)});
    }
  }

  for (const DayDemand& d : facts.demand) {
    if (d.quantity <= 0 || planned.count(d.product_id) == 0) continue;
    in.demand.push_back(
        {d.product_id, DuePeriod(model.period_ends, facts.zone, d.day), d.quantity});
  }
  in.solver.time_limit = time_limit;
  return model;
}

}  // namespace plantmesh::planning
