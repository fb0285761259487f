// Watches that outlive a server restart: `plantctl <service> watch-<x>` resumes from
// the last cursor it printed when the stream ends with a resumable status, and
// `plantctl <service> list-<x> --watch` lists every page, prints the rows, then keeps
// them current through the SDK's ListWatch (over dynamic messages:
// plantmesh/sdk/dynamic_list_watch.h). Both run until Ctrl-C (exit 0) or an error that
// resuming cannot fix.
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "cli/command_tree.h"
#include "cli/contract_catalog.h"
#include "cli/method_runner.h"
#include "google/protobuf/message.h"

namespace plantmesh::cli {

// A server-streaming method whose request has a string `cursor` and whose responses
// carry one (at their root or in a singular message field such as `event`).
bool IsResumableWatch(const MethodCommand& command);

// Runs such a watch: prints each response as RunMethod does; when the stream ends
// with UNAVAILABLE, RESOURCE_EXHAUSTED (a slow watcher cut off), ABORTED or
// DEADLINE_EXCEEDED, says so on stderr and opens it again from the last cursor
// received (or the one the status names), with backoff (100 ms doubling to 5 s).
absl::Status RunResumingWatch(const MethodBinding& binding, const ContractCatalog& catalog,
                              const google::protobuf::Message& request, const RunEnvironment& env);

// RunResumingWatch's loop for any caller: each response (an event delivered again left
// out) goes to `on_response` instead of the printer; resumes are noted on
// env.printer. `plantctl telemetry tail` draws its table with it. With
// `what_was_missed` set, a cursor the server can no longer serve (FAILED_PRECONDITION
// CURSOR_GENERATION_CHANGED: Redis came back empty; CURSOR_EXPIRED: trimmed) starts the
// watch again without one, noted with what `what_was_missed` says may not have been shown
// and where to read it — right only for a watch whose first message is the whole current
// state (StreamSamples), never for a change log (a gap would go unseen).
absl::Status FollowResumingWatch(
    const MethodCommand& command, const ContractCatalog& catalog,
    const google::protobuf::Message& request, const RunEnvironment& env,
    const std::function<void(const google::protobuf::Message&)>& on_response,
    const std::function<std::string()>& what_was_missed = nullptr);

// `list-<x> --watch` (binding.watch set; the method is a watchable List, see
// sdk::FindWatchableList). Prints the listed items (a table in table form, else one
// JSON line or CSV row per item), then each item that changed, as it changes (an
// event the list already reflected is dropped); an item that leaves the list's
// filter is a note on stderr, as are resumes and relists.
absl::Status RunListWatch(const MethodBinding& binding, const ContractCatalog& catalog,
                          const google::protobuf::Message& request, const RunEnvironment& env);

}  // namespace plantmesh::cli
