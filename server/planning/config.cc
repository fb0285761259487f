#include "server/planning/config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/planning/domain.h"
#include "server/planning/propose/lot_sizing.h"

namespace plantmesh::planning {

std::shared_ptr<runtime::ServiceConfig> DeclareConfig(runtime::ConfigSection& section) {
  auto config = std::make_shared<PlanningConfig>();
  section.Add("time-zone", &config->time_zone,
              "the plant's time zone, an IANA name of the system tzdata (e.g. Europe/Berlin): "
              "shifts, holidays and dates are local to it");
  section.Add("propose-time-limit-seconds", &config->propose_time_limit_seconds,
              "the longest ProposePlan's solver searches, in seconds (1-300): the default and "
              "the most a request's time_limit_seconds may ask for",
              1, 300);
  return config;
}

std::vector<std::string> CheckConfig(const runtime::ServerConfig& server,
                                     const runtime::ServiceConfig& section) {
  const auto& config = dynamic_cast<const PlanningConfig&>(section);
  std::vector<std::string> problems;
  absl::StatusOr<absl::TimeZone> zone = LoadZone(config.time_zone, "planning.time-zone");
  if (!zone.ok()) problems.emplace_back(zone.status().message());
  // An install without it could not answer ProposePlan: said at start, not at the first
  // call, by the servers that host planning.
  const bool hosted = std::find(server.services.begin(), server.services.end(), "planning") !=
                      server.services.end();
  if (absl::StatusOr<std::string> solver = propose::CbcSolverProgram(); hosted && !solver.ok()) {
    problems.push_back(absl::StrCat("planning: ", solver.status().message()));
  }
  return problems;
}

}  // namespace plantmesh::planning
