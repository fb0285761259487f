// The planning service's `[planning]` section of the server configuration.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/runtime/config.h"

namespace plantmesh::planning {

struct PlanningConfig : runtime::ServiceConfig {
  // time-zone: the plant's IANA time zone (system tzdata); shifts, holidays and dates
  // are local to it.
  std::string time_zone = "UTC";
  // propose-time-limit-seconds: the longest a ProposePlan's solver may search (1-300);
  // a request may ask for less, not more.
  int64_t propose_time_limit_seconds = 10;
};

std::shared_ptr<runtime::ServiceConfig> DeclareConfig(runtime::ConfigSection& section);

// time-zone must name a zone of the system's tzdata, and ProposePlan's CBC solver program
// must be installed (propose::CbcSolverProgram).
std::vector<std::string> CheckConfig(const runtime::ServerConfig& server,
                                     const runtime::ServiceConfig& section);

}  // namespace plantmesh::planning
