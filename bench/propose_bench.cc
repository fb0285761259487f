// ProposePlan's optimiser (server/planning/propose) on the scenario: 20 lines ×
// 21 shifts (a week of 3 × 8 h, 450 planned minutes each) × 50 products, each product on
// 4 lines, changeovers that depend on the product before, demand per product per day.
// Prints the time, objective, bound, gap and what was left short. Run by hand:
//   build/bench/plantmesh-propose-bench [time-limit-seconds=10] [load-percent=90]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/planning/propose/lot_sizing.h"

namespace propose = plantmesh::planning::propose;

// The holding part of the objective: all of it but the changeovers (nothing is short here
// when no shortfall is printed; otherwise it includes the unmet penalty).
double HoldingAndUnmet(const propose::ProposalInput& in, const propose::Proposal& proposal) {
  double changeovers = 0;
  for (const auto& s : proposal.shifts) changeovers += s.changeovers;
  return proposal.solver.objective - changeovers * in.costs.changeover_cost;
}

int main(int argc, char** argv) {
  const double limit = argc > 1 ? std::atof(argv[1]) : 10;
  const double load = argc > 2 ? std::atof(argv[2]) : 90;
  constexpr int kLines = 20, kShifts = 21, kProducts = 50, kLinesPerProduct = 4;
  constexpr double kMinutes = 450;
  propose::ProposalInput in;
  in.period_count = kShifts;
  for (int p = 0; p < kProducts; ++p) {
    in.products.push_back({absl::StrCat("SKU-", p), (p % 5) * 500L, 1.0 + (p % 7 == 0)});
  }
  in.lines.resize(kLines);
  for (int l = 0; l < kLines; ++l) {
    in.lines[l].id = absl::StrCat("LINE-", l);
    for (int t = 0; t < kShifts; ++t) {
      in.lines[l].shifts.push_back(
          {absl::StrCat("day", t / 3, "/", std::string(1, "ABC"[t % 3])), t, kMinutes});
    }
  }
  // Product p on lines p, p+5, p+10, p+15 (mod 20): 10 products per line.
  double minutes_per_unit_sum = 0;
  for (int p = 0; p < kProducts; ++p) {
    for (int j = 0; j < kLinesPerProduct; ++j) {
      const int l = (p + 5 * j) % kLines;
      const double cycle = 20 + (p * 7 + l * 3) % 21;  // 20-40 s a unit
      in.lines[l].products.push_back({in.products[p].id, cycle});
      minutes_per_unit_sum += cycle / 60;
    }
  }
  for (int l = 0; l < kLines; ++l)
    in.lines[l].initial_product_id = in.lines[l].products[0].product_id;
  for (int a = 0; a < kProducts; ++a) {
    for (int b = 0; b < kProducts; ++b) {
      if (a != b && (a - b) % 5 == 0) {
        in.changeovers.push_back(
            {"", in.products[a].id, in.products[b].id, 15.0 + (a * 13 + b * 7) % 31});
      }
    }
  }
  // Daily demand sized so that production alone would load the lines `load` percent, at
  // the mean cycle time over every (product, line) pair.
  const double capacity = kLines * kShifts * kMinutes;
  const double mean_minutes_per_unit = minutes_per_unit_sum / (kProducts * kLinesPerProduct);
  const double units_per_product_day =
      capacity * load / 100 / mean_minutes_per_unit / kProducts / 7;
  for (int p = 0; p < kProducts; ++p) {
    for (int day = 0; day < 7; ++day) {
      const double wave = 0.6 + 0.8 * ((p * 3 + day * 5) % 7) / 6.0;
      in.demand.push_back(
          {in.products[p].id, day * 3 + 2, static_cast<int64_t>(units_per_product_day * wave)});
    }
  }
  // What the instance asks in fact: the products are in 5 families (p mod 5) of 10, each
  // on its own 4 lines (changeovers are listed only within a family), so the model splits
  // into 5 independent parts; a plan can put each product on its fastest line, and stock
  // on hand covers part of the week.
  int64_t demand_units = 0;
  double fastest_minutes = 0, stock_units = 0;
  for (int p = 0; p < kProducts; ++p) {
    double fastest = 1e9;
    for (int l = 0; l < kLines; ++l) {
      for (const auto& lp : in.lines[l].products) {
        if (lp.product_id == in.products[p].id) fastest = std::min(fastest, lp.cycle_seconds / 60);
      }
    }
    int64_t units = 0;
    for (const auto& d : in.demand) units += d.product_id == in.products[p].id ? d.quantity : 0;
    demand_units += units;
    stock_units += static_cast<double>(std::min(units, in.products[p].stock_on_hand));
    fastest_minutes +=
        fastest * static_cast<double>(std::max<int64_t>(0, units - in.products[p].stock_on_hand));
  }
  in.solver.time_limit = absl::Seconds(limit);
  in.solver.relative_gap = 0.02;

  const absl::Time start = absl::Now();
  absl::StatusOr<propose::Proposal> proposal = propose::ProposePlan(in);
  const absl::Duration wall = absl::Now() - start;
  if (!proposal.ok()) {
    std::fprintf(stderr, "%s\n", proposal.status().ToString().c_str());
    return 1;
  }
  int64_t short_units = 0;
  for (const auto& s : proposal->shortfalls) short_units += s.quantity;
  int changeovers = 0;
  double load_sum = 0;
  for (const auto& s : proposal->shifts) {
    changeovers += s.changeovers;
    load_sum += s.load_percent;
  }
  const double holding = HoldingAndUnmet(in, *proposal);
  const auto& r = proposal->solver;
  std::printf(
      "propose %d lines x %d shifts x %d products (demand %.0f %% of capacity, limit %.0f s)\n"
      "  instance: stock on hand covers %.0f %% of the week's demand; the rest needs %.0f %% of\n"
      "            capacity on each product's fastest line\n"
      "  model: %d variables (%d integer), %d constraints, %d independent components\n"
      "  status %s  wall %.2f s  solver %.2f s\n"
      "  objective %.1f  bound %.1f  gap %.2f %%\n"
      "  start (earliest run-out heuristic) %.1f  combinatorial bound %.1f\n"
      "  changeovers %d (%.0f)  holding %.1f  mean load %.1f %%  short %lld of %lld units "
      "(%zu shortfalls)\n",
      kLines, kShifts, kProducts, load, limit,
      stock_units / static_cast<double>(demand_units) * 100, fastest_minutes / capacity * 100,
      r.variables, r.integer_variables, r.constraints, r.components,
      std::string(propose::SolveStatusName(r.status)).c_str(), absl::ToDoubleSeconds(wall),
      absl::ToDoubleSeconds(r.solve_time), r.objective, r.best_bound, r.gap * 100,
      r.start_objective, r.combinatorial_bound, changeovers, changeovers * in.costs.changeover_cost,
      holding, load_sum / static_cast<double>(proposal->shifts.size()),
      static_cast<long long>(short_units), static_cast<long long>(demand_units),
      proposal->shortfalls.size());
  return 0;
}
