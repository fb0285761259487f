// The test-only notes service (tests/notes/proto): what a service folder provides —
// config section, store (all its SQL, named statements), thin handlers, descriptor.
#pragma once

#include "server/runtime/service_module.h"

namespace plantmesh::notes {

// name "notes", schema "notes", section [notes] (max-text-chars).
const runtime::ServiceDescriptor& Descriptor();

}  // namespace plantmesh::notes
