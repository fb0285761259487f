// ProposePlan's horizon, between the service's facts and the lot-sizing module
// (propose/lot_sizing.h): the worked shifts of the chosen lines and the periods they fall
// in, the demand of the horizon's local days and when it is due, and the solver's input
// built from them. Pure: no gRPC, protobuf or SQL.
//
// Periods: the distinct end times of the horizon's shifts, in time order (one line's
// shifts never share one; lines on the same pattern share all of theirs). A day's demand
// is due at the end of that local day: the last period that ends by then (−1 when none
// does: only stock can meet it). The horizon plans for the local days, from start_time's,
// whose every serving shift is in it: the days that end before the first shift after the
// horizon does (the earliest such end over the lines that plan). So a Monday-to-Friday
// horizon covers the weekend's demand (due at Friday's last shift), and the last day is
// left out while shifts after the horizon could still make its demand.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/planning/calendar.h"
#include "server/planning/domain.h"
#include "server/planning/propose/lot_sizing.h"

namespace plantmesh::planning {

// Where a day's demand came from (numbers as plantmesh.planning.v1.DemandSource).
enum class DemandOrigin : int { kRequest = 1, kHistory = 2, kForecast = 3 };

// A worked shift of a line in the horizon.
struct HorizonShift {
  std::string line_id;
  ShiftInstance shift;
  absl::Duration planned;  // planned production time (less breaks and maintenance)
};

// Whole units of one product on one local day.
struct DayDemand {
  std::string product_id;
  absl::CivilDay day;
  int64_t quantity = 0;  // ≥ 0
  DemandOrigin origin = DemandOrigin::kRequest;
};

struct ProposalFacts {
  absl::TimeZone zone;
  absl::Time start_time;
  std::vector<Line> lines;  // the chosen lines, by id
  // Of those lines, by line then start; each of some length (the caller leaves out a
  // shift inside the hour the clocks skip: it would share its end with the one before).
  std::vector<HorizonShift> shifts;
  std::vector<Product> products;                 // the products to plan, by id
  std::map<std::string, int64_t> stock_on_hand;  // by product id; absent: 0
  std::vector<DayDemand> demand;                 // of those products, days of the horizon
};

// The solver's input and how its periods map back to time.
struct ProposalModel {
  propose::ProposalInput input;
  std::vector<absl::Time> period_ends;  // period → its end time
  // The shifts of the model by (line id, period), to find a proposed shift's instance.
  std::map<std::pair<std::string, int>, const HorizonShift*> shift_at;
  // Lines left out because they make none of the products.
  std::vector<std::string> idle_lines;
};

// The local days from `start`'s that end before `cover` (the end of the first shift after
// the horizon), none after the calendar's last day (kLastPlantDay), at most kMaxDemandDays;
// may be empty.
inline constexpr int kMaxDemandDays = 366;
std::vector<absl::CivilDay> DemandDays(const absl::TimeZone& zone, absl::Time start,
                                       absl::Time cover);

// The period `day`'s demand is due in (see above), from `period_ends` in time order.
int DuePeriod(const std::vector<absl::Time>& period_ends, const absl::TimeZone& zone,
              absl::CivilDay day);

// Builds the lot-sizing input: each line with the products it has a cycle time for
// (lines with none are left out), its shifts as periods, the products' changeover times
// between planned products, stock and the demand of each day (days of 0 left out) due
// in its period. FAILED_PRECONDITION when no line makes any of the products or the
// horizon has no worked shift. `facts` must outlive the result (shift_at).
absl::StatusOr<ProposalModel> BuildProposalModel(const ProposalFacts& facts,
                                                 absl::Duration time_limit);

}  // namespace plantmesh::planning
