// Adding a service: one line here (README, "Adding a service").
#include "server/known_services.h"

#include "server/defect/module.h"
#include "server/planning/module.h"
#include "server/telemetry/module.h"

namespace plantmesh {

std::vector<const runtime::ServiceDescriptor*> KnownServices() {
  return {
      &defect::Descriptor(),
      &telemetry::Descriptor(),
      &planning::Descriptor(),
  };
}

}  // namespace plantmesh
