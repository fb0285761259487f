// Watch*/tail RPCs on today's synchronous handlers: one loop over an EventHub
// subscription with the ends every watch shares. (A callback reactor drives the same
// Subscription through SetNotify and Poll instead.)
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/runtime/call_context.h"
#include "server/runtime/event_hub.h"

namespace plantmesh::runtime {

// Subscribes to `stream_key` from `cursor` (rules in event_hub.h) and passes each event
// to `deliver`, in stream order, until the watch ends:
//   - `deliver` returns false (the client left): OK;
//   - `deliver` fails: that status (e.g. DATA_LOSS for an event it cannot read);
//   - the subscription ends: its status (cursor errors, WATCH_TOO_SLOW, a reset stream);
//   - the server drains: UNAVAILABLE with ErrorInfo SERVER_DRAINING and metadata
//     `cursor` (where to resume, on another replica);
//   - the call is cancelled or its deadline passes: CANCELLED.
// UNAVAILABLE when `hub` is null (the server has no event stream).
absl::Status ServeWatch(const CallContext& call, EventHub* hub, const std::string& stream_key,
                        const std::string& cursor,
                        const std::function<absl::StatusOr<bool>(const StreamEvent&)>& deliver);

}  // namespace plantmesh::runtime
