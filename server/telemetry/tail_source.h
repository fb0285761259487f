// StreamSamples' source: the current values (a tail without a cursor), then the changes
// of its watch. Until the current values are all sent the tail has no cursor to resume
// from (the watch's would skip the values not yet sent, and the client would never
// learn of them): a tail that must end then — the server drains, or the changes waiting
// for it filled its queue — ends UNAVAILABLE with the watch's reason and no cursor, so
// that the client starts again without one. Afterwards the watch's ends pass as they
// are, with their cursors.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>

#include "plantmesh/telemetry/v1/telemetry_service.pb.h"
#include "server/runtime/streams.h"
#include "server/telemetry/current_values.h"
#include "server/telemetry/store.h"

namespace plantmesh::telemetry {

using TailSource = runtime::StreamSource<v1::StreamSamplesResponse>;

// Room in a tail's message beside its samples: the cursor (at most 256 characters), the
// flags and the framing, with a margin.
inline constexpr size_t kTailFrameBytes = size_t{16} << 10;
// The smallest send limit a tail works with (telemetry.CheckConfig): its messages hold
// at most kCurrentValuesMessageBytes of current values, or of the events that waited
// for it (WatchOptions::coalesce_payload_bytes), or one committed group's event (at
// most kEventSampleBytes of samples) alone.
inline constexpr size_t kMinTailSendBytes =
    std::max(kCurrentValuesMessageBytes, kEventSampleBytes) + kTailFrameBytes;

// `first`: the current values, or nullopt for a tail that resumes from a cursor.
std::unique_ptr<TailSource> MakeTailSource(std::optional<CurrentValues> first,
                                           std::unique_ptr<TailSource> watch);

}  // namespace plantmesh::telemetry
