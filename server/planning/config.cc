#include "server/planning/config.h"

#include "absl/strings/str_cat.h"
#include "server/planning/domain.h"

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

std::vector<std::string> CheckConfig(const runtime::ServerConfig&,
                                     const runtime::ServiceConfig& section) {
  const auto& config = dynamic_cast<const PlanningConfig&>(section);
  absl::StatusOr<absl::TimeZone> zone = LoadZone(config.time_zone, "planning.time-zone");
  if (zone.ok()) return {};
  return {std::string(zone.status().message())};
}

}  // namespace plantmesh::planning
