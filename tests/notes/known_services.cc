// The test server's services: the product's, plus the test-only notes service — the
// one registration line a new service needs.
#include "server/known_services.h"

#include "server/defect/module.h"
#include "tests/notes/notes.h"

namespace plantmesh {

std::vector<const runtime::ServiceDescriptor*> KnownServices() {
  return {
      &defect::Descriptor(),
      &notes::Descriptor(),
  };
}

}  // namespace plantmesh
