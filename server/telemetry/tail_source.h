// StreamSamples' source: the current values (a tail without a cursor), then the changes
// of its watch. Until the current values are all sent the tail has no cursor to resume
// from (the watch's would skip the values not yet sent, and the client would never
// learn of them): a tail that must end then — the server drains, or the changes waiting
// for it filled its queue — ends UNAVAILABLE with the watch's reason and no cursor, so
// that the client starts again without one. Afterwards the watch's ends pass as they
// are, with their cursors.
#pragma once

#include <memory>
#include <optional>

#include "plantmesh/telemetry/v1/telemetry_service.pb.h"
#include "server/runtime/streams.h"
#include "server/telemetry/current_values.h"

namespace plantmesh::telemetry {

using TailSource = runtime::StreamSource<v1::StreamSamplesResponse>;

// `first`: the current values, or nullopt for a tail that resumes from a cursor.
std::unique_ptr<TailSource> MakeTailSource(std::optional<CurrentValues> first,
                                           std::unique_ptr<TailSource> watch);

}  // namespace plantmesh::telemetry
