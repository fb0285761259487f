// A domain event as a store writes it to its service's outbox: opaque to the store. The
// service (or its domain) builds it, the store writes `event_id` and `payload` in the
// change's transaction, the relay (event_stream.h) publishes the payload byte for byte.
#pragma once

#include <string>

namespace plantmesh::runtime {

struct OutboxEvent {
  std::string event_id;  // a UUID, unique per event; consumers drop duplicates by it
  // What kind of event, for logs and tests (e.g. "plantmesh.defect.v1.DefectEvent/REPORTED").
  // Not a column of the outbox: the payload carries its own type.
  std::string type;
  std::string payload;  // the serialized event
};

}  // namespace plantmesh::runtime
