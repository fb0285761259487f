// The services a plantmesh-server binary can host (--services picks from them). Each
// binary links one definition: server/known_services.cc for plantmesh-server, and
// tests/notes/known_services.cc for the test server that adds a test-only service.
#pragma once

#include <vector>

#include "server/runtime/service_module.h"

namespace plantmesh {

std::vector<const runtime::ServiceDescriptor*> KnownServices();

}  // namespace plantmesh
