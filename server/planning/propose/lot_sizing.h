// ProposePlan's optimiser: a capacitated lot-sizing problem with setup carry-over,
// solved as a mixed-integer program by COIN-OR CBC. Pure: no gRPC, protobuf or SQL;
// the caller brings capacity (from the calendar), demand, stock and the plant model.
//
// Why CBC (coinor-libcbc-dev, Debian 12: 2.10.8) and not GLPK (libglpk-dev 5.0):
// - Licence: CBC is EPL-2.0, which lets the server link it without changing its own
//   licence; GLPK is GPL-3.0, which would put the whole server binary under the GPL.
// - Strength: CBC's cuts (Cgl), presolve and primal heuristics (feasibility pump, RINS)
//   close lot-sizing gaps far faster than GLPK's branch-and-cut. Neither closes the
//   20 lines × 21 shifts × 50 products gap alone (below: the search around CBC).
// - API: CBC's C interface (coin/Cbc_C_Interface.h) is small and sufficient: add columns
//   and rows, set parameters by name, Cbc_setMaximumSeconds for the time limit, a MIP
//   start, and after the limit the best incumbent (Cbc_getColSolution) with the best bound
//   (Cbc_getBestPossibleObjValue), from which the gap is computed.
// - Determinism: one thread and fixed random seeds ("threads 0", "randomSeed",
//   "randomCbcSeed"); the start heuristic and the bound are plain arithmetic. The same
//   input gives the same plan when every CBC solve finishes (optimal, or within its gap)
//   or stops on a node limit (`max_nodes`; fix-and-optimise windows have their own). A
//   solve cut short by the clock stops wherever the clock says, so on a loaded machine it
//   can end at a different incumbent; the status says which of these happened.
// - CBC 2.10's preprocessing (CglPreProcess) crashes when the time limit stops the search,
//   so it is off. CBC checks the clock only between phases, and its first LP solve of a
//   large model alone ran for minutes (2 lines × 60 products × 100 shifts: 32 s here
//   past a 1 s limit), so every CBC run is a program of its own (plantmesh-cbc-solver,
//   solver_process.h), killed half a second past its share of the limit or at once when
//   `solver.stop` says so; what it found is then lost, and the plan is the best found
//   before it.
// - Solves are serialised (one at a time in the process: each keeps a core busy); a solve
//   waiting for another counts its wait against its limit.
//
// The search (model.cc, start.cc, bound.cc), all within `solver.time_limit`, which counts
// from the call and covers validation, the starts, the bounds, every CBC solve and the
// explanation (a small share is kept for the last):
// 1. Components: lines linked by the products they make (with those products) share no
//    row of the model, so each is solved on its own and objective and bound are sums. A
//    product no line makes is a constant (its unmet demand).
// 2. A start per component: a forward "earliest run-out" simulation (a line keeps its
//    product while it is needed within a cover horizon and its cycle time is near the
//    product's fastest line, then changes over to what runs out first), over a small grid
//    of rules, the best by the model's objective. It is a plan the model allows, and CBC
//    starts from it, so no answer is worse than it.
// 3. CBC on the whole component model: all the time for components up to 1,000 integer
//    columns (which it proves optimal on small instances); for larger ones 10 % of their
//    time, then fix-and-optimise (every integer column outside a window of 4 periods held
//    at the incumbent, CBC on the window from the incumbent; windows slide by 2 periods,
//    passes repeat while they improve), then the whole model again with what is left.
// 4. The bound: per component the larger of CBC's best bound on the whole component model
//    (an LP-based bound on it, valid whatever fixing did elsewhere) and a combinatorial
//    bound (bound.cc: changeovers that any plan needs, counted over windows of periods
//    from the products that must be made in each, less those the spare capacity before
//    it could have made ahead and those the lines carry in; plus the unmet demand that no
//    plan avoids and the holding of stock on hand not yet due). The LP relaxation alone is
//    weak here: it spreads a line's setup state over all its products in fractions.
//
// The formulation (lines l, products p the line can make, periods t = 0..T-1 in time
// order; a line's shift is the period its end time falls in):
//   x[l,p,t] ≥ 0 integer   units of p made on l in t (whole units, as plans hold them)
//   y[l,p,t] ∈ {0,1}       a changeover into p on l in t
//   z[l,p,t] ∈ {0,1}       l starts t set up for p (carried over from t−1; fixed at t = 0
//                          by the line's initial product)
//   s[p,t]   ≥ 0           stock of p at the end of t (s[p,−1] = stock on hand)
//   u[p,t]   ≥ 0           demand for p due in t that is not met (lost, reported)
// Constraints:
//   capacity      Σp x·cycle/60 + Σp y·co[l,p] ≤ planned minutes[l,t]
//   set up        x[l,p,t] ≤ M[l,p,t]·(y[l,p,t] + z[l,p,t])   (M: the shift's capacity in
//                 units, at most the demand still to come)
//   runs          y[l,p,t] ≤ x[l,p,t]   (a changeover only for a run: every changeover is in
//                 the plan, where it takes its time)
//   one state     Σp z[l,p,t] ≤ 1
//   plan limits   x[l,p,t] ≤ kMaxRunUnits;  Σp y[l,p,t] ≤ kMaxRunsPerShift − 1
//   carry-over    z[l,p,t+1] ≤ y[l,p,t] + z[l,p,t]
//   last run      n[l,t] ≤ P_l·(1 − z[l,p,t+1] + y[l,p,t])  (after any changeover in t
//                 the line ends on a product it changed over to), with the continuous
//                 n[l,t] = Σq y[l,q,t] (one row per line and period, so that a line of P
//                 products costs the LP ~4P terms a period instead of P²)
//   balance       s[p,t−1] + Σl x[l,p,t] + u[p,t] = demand[p,t] + s[p,t]
// where co[l,p] is the longest changeover into p on l from any product the line makes (so
// the sequence found afterwards never needs more time than reserved). With changeover
// times that do not depend on the product before (co from every q the same), the model is
// exact; otherwise it is conservative by at most the difference.
// Objective (minimise), in strictly ordered magnitudes with the defaults:
//   Σ unmet_penalty·priority[p]·u  ≫  Σ changeover_cost·y  ≫  Σ holding_cost·s
// Demand due before the first period (due_period −1) can only be met from stock.
//
// Afterwards each (line, period) is sequenced: the carried-over product first, the
// product the line's next runs start set up for last (only when they rely on it: the
// state carried into an idle period is arbitrary), the rest in the order with the least
// changeover minutes (every order tried up to 7 runs, nearest changeover beyond; ties by
// id); load and changeover minutes are of that actual sequence.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace plantmesh::planning::propose {

// A product a line can make, at its ideal cycle time.
struct LineProduct {
  std::string product_id;
  double cycle_seconds = 0;  // > 0: seconds per unit on this line
};

// One worked shift of a line in the horizon.
struct LineShift {
  std::string shift_id;        // as the calendar names it, e.g. "2026-11-21/A"; unique per line
  int period = 0;              // 0 .. period_count−1, the period its end falls in
  double planned_minutes = 0;  // 0..kMaxShiftMinutes: shift less breaks, maintenance
};

struct ProposalLine {
  std::string id;
  std::vector<LineProduct> products;  // at least one; product ids unique
  std::vector<LineShift> shifts;      // periods unique per line
  // What the line is set up for before the horizon ("" = nothing: the first run changes
  // over). Must be one of `products` when set.
  std::string initial_product_id;
};

// The time to change a line from one product to another. Pairs not listed take 0.
struct ChangeoverTime {
  std::string line_id;  // "" = every line; a line's own entry wins over ""
  std::string from_product_id;
  std::string to_product_id;
  double minutes = 0;  // ≥ 0
};

struct ProposalProduct {
  std::string id;
  int64_t stock_on_hand = 0;  // ≥ 0 units at the start of the horizon
  double priority = 1;        // > 0: multiplies the unmet-demand penalty
};

struct Demand {
  std::string product_id;
  int due_period = 0;    // −1 .. period_count−1: production in periods ≤ this one counts
  int64_t quantity = 0;  // ≥ 1 units
};

struct Costs {
  double unmet_penalty_per_unit = 1000;  // > 0
  double changeover_cost = 100;          // ≥ 0 per changeover
  double holding_cost_per_unit = 0.001;  // ≥ 0 per unit of stock per period
};

struct SolverOptions {
  absl::Duration time_limit = absl::Seconds(10);  // > 0
  // Stop when the best plan is proven within either gap of the optimum: relative (0-1)
  // or absolute (objective units). The absolute default is half the smallest change of
  // cost a plan can make (one unit in stock for one period, Costs::holding_cost_per_unit),
  // so "optimal" holds for every tier of the objective; a relative gap alone would not
  // (outside testing: with 100 units unmet, 0.01 % of the objective let 200 unit-shifts
  // of needless stock through as OPTIMAL).
  double relative_gap = 0;
  double absolute_gap = 0.0005;
  std::optional<int> max_nodes;  // a deterministic work limit
  // Polled while the solver runs (every 20 ms): true ends the solve at once with the best
  // plan found so far, as the time limit does (a cancelled call, a draining server).
  std::function<bool()> stop;
  // The solver program (CbcSolverProgram()), looked up once by the service at start: the
  // environment is not read while calls run. Empty: looked up for this solve.
  std::string program;
};

// The most periods a model has; the caller refuses a larger horizon as the request's.
inline constexpr int kMaxPeriods = 1000;
// The longest planned time of one shift. A shift is at most 24 hours by the wall clock;
// a change of the clocks adds what it adds: an hour in Europe/Berlin (a 06:00-06:00 shift
// on the last Sunday of October lasts 25 hours), two in Antarctica/Troll, a day where a
// zone moved across the date line. 48 hours holds them all.
inline constexpr double kMaxShiftMinutes = 2880;

// What one production plan holds (planning/domain.h, ValidateItems): a shift's runs become
// a draft plan's items, so in one shift the model makes at most kMaxRunUnits of a product
// and changes a line over at most kMaxRunsPerShift − 1 times (the first run may be carried
// over). Outside testing: a 0.001 s cycle proposed a 28,800,000-unit run, and 250 small
// demands 250 runs in one shift, which create_drafts could not store.
inline constexpr int64_t kMaxRunUnits = 10'000'000;
inline constexpr int kMaxRunsPerShift = 200;

struct ProposalInput {
  int period_count = 0;  // 1..kMaxPeriods
  std::vector<ProposalLine> lines;
  std::vector<ProposalProduct> products;  // every product named elsewhere; ids unique
  std::vector<ChangeoverTime> changeovers;
  std::vector<Demand> demand;
  Costs costs;
  SolverOptions solver;
};

// ---- the proposal ----

struct Run {
  std::string product_id;
  int64_t quantity = 0;           // ≥ 1 units
  int sequence = 0;               // 1.. within the shift
  double changeover_minutes = 0;  // before this run (0: set up already, or no time listed)
  double production_minutes = 0;  // quantity × cycle time
  bool changeover = false;        // the line changes over to this product before the run
};

struct ShiftProposal {
  std::string line_id;
  std::string shift_id;
  int period = 0;
  double planned_minutes = 0;
  std::vector<Run> runs;  // in sequence
  int changeovers = 0;
  double changeover_minutes = 0;
  double production_minutes = 0;
  double load_percent = 0;  // (production + changeover) / planned × 100; 0 with no planned time
};

enum class ShortfallReason {
  kNoLine,            // no line in the proposal makes the product
  kBeforeFirstShift,  // due before any shift of the horizon ends; stock did not cover it
  kCapacity,          // the lines that make it are full (≥ 99 %, or their shifts hold the most a
                      // plan holds) in the periods up to the due one
  kPriority,          // capacity was free somewhere in time but went to other products or to
                      // fewer changeovers: the cheaper choice by the objective's weights
};

struct Shortfall {
  std::string product_id;
  int due_period = 0;
  int64_t quantity = 0;  // units of the demand due then that the plan does not meet
  ShortfallReason reason = ShortfallReason::kCapacity;
  std::string explanation;  // one sentence naming the lines and periods
};

enum class SolveStatus {
  kOptimal,    // proven optimal within relative_gap or absolute_gap
  kTimeLimit,  // stopped by the time limit: the best incumbent, with its gap
  kNodeLimit,  // stopped by max_nodes: the best incumbent, with its gap
};

struct SolverReport {
  SolveStatus status = SolveStatus::kOptimal;
  double objective = 0;  // of the returned plan, by the model's objective
  // A lower bound on the model's optimum: per component the larger of CBC's best bound on
  // the whole component model and the combinatorial bound (both valid, see the top of the
  // file), summed; never above `objective`.
  double best_bound = 0;
  double gap = 0;             // (objective − bound) / max(|objective|, 1e-9), 0 when equal
  absl::Duration solve_time;  // the solver's run, including a wait for another solve
  int variables = 0;
  int constraints = 0;
  int integer_variables = 0;
  int components = 0;              // independent parts the model split into
  double start_objective = 0;      // of the MIP start (the earliest-run-out plan)
  double combinatorial_bound = 0;  // its part of the bound, summed over components
};

struct Proposal {
  std::vector<ShiftProposal> shifts;  // by line (input order), then period
  std::vector<Shortfall> shortfalls;  // by product id, then due period
  SolverReport solver;
};

absl::string_view ShortfallReasonName(ShortfallReason reason);  // "CAPACITY"
absl::string_view SolveStatusName(SolveStatus status);          // "TIME_LIMIT"

// Checks the input: INVALID_ARGUMENT naming the field ("lines[2].shifts[0].period",
// "demand[4].product_id", "solver.time_limit", ...) on the first violations.
absl::Status ValidateInput(const ProposalInput& input);

// Validates, builds and solves the model, and explains the best plan found.
// INVALID_ARGUMENT for bad input; INTERNAL when the solver fails. A search stopped by a
// limit before any plan of its own answers the plan it started from (the MIP start: the
// earliest-run-out plan above), with status TIME_LIMIT/NODE_LIMIT and its gap.
absl::StatusOr<Proposal> ProposePlan(const ProposalInput& input);

// The program every CBC run of ProposePlan is started in (plantmesh-cbc-solver,
// solver_process.h): $PLANTMESH_CBC_SOLVER when set; the build tree's when this process's
// own program is in the build tree (tests, bench); else ../libexec/plantmesh/ from this
// process's program (the package installs the server in /usr/bin and the solver in
// /usr/libexec/plantmesh). FAILED_PRECONDITION naming the path when it is not an
// executable file: the service checks it at start.
absl::StatusOr<std::string> CbcSolverProgram();

// The model's objective of a plan for `input` (stock, unmet and holding recomputed from
// the runs, demand met earliest due first): what ProposePlan minimises.
double ObjectiveOf(const ProposalInput& input, const std::vector<ShiftProposal>& shifts);

}  // namespace plantmesh::planning::propose
