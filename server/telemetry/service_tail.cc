// TelemetryService.StreamSamples: a live tail on the process's event hub over the
// telemetry event stream (a committed group of batches' accepted samples in events of
// at most ~1 MiB: store.h GroupEvents, convert.h BatchEvent), filtered per subscriber by
// machines and data items, the events waiting for a tail in one message
// (WatchOptions::coalesce_payload_bytes). Without a
// cursor the first messages hold the current values (current_values.h: read as the
// client pulls them, after the hub's position was taken, so the tail from that position
// misses nothing the snapshot does not show).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/runtime/stream_cursor.h"
#include "server/runtime/watch.h"
#include "server/telemetry/current_values.h"
#include "server/telemetry/service.h"
#include "server/telemetry/tail_source.h"

namespace plantmesh::telemetry {
namespace {

// Which samples one tail wants.
struct Selection {
  std::set<std::string> machine_ids;
  std::set<std::string> data_item_ids;  // empty: all

  bool Wants(const v1::Sample& sample) const {
    return machine_ids.count(sample.machine_id()) != 0 &&
           (data_item_ids.empty() || data_item_ids.count(sample.data_item_id()) != 0);
  }
};

// A batch's sample indices by machine (keys view the decoded batch the event owns).
using MachineIndex = absl::flat_hash_map<std::string_view, std::vector<int>>;

// Made once per event for every tail that asks (StreamEvent::Derived).
const MachineIndex& IndexOf(const runtime::StreamEvent& entry,
                            const v1::IngestSamplesRequest& batch) {
  std::shared_ptr<const void> made =
      entry.Derived(reinterpret_cast<uintptr_t>(&IndexOf), 0, [&]() -> std::shared_ptr<const void> {
        auto index = std::make_shared<MachineIndex>();
        for (int i = 0; i < batch.samples_size(); ++i) {
          (*index)[batch.samples(i).machine_id()].push_back(i);
        }
        return index;
      });
  // The event keeps its derived values as long as it lives.
  return *static_cast<const MachineIndex*>(made.get());
}

// What a tail gets for one committed batch: its selected samples appended to
// `*response` with the batch's cursor, or nothing (skipped, `*response` unchanged).
absl::StatusOr<bool> TailResponseOf(const runtime::StreamEvent& entry, const Selection& selection,
                                    v1::StreamSamplesResponse* response) {
  // Parsed once for every tail of this process.
  const v1::IngestSamplesRequest* batch = entry.Decoded<v1::IngestSamplesRequest>();
  if (batch == nullptr) {
    return absl::DataLossError(
        absl::StrCat("event at cursor ", entry.cursor, " is not a committed batch of samples"));
  }
  // Other events of the stream (downtime changes) are numbered so that they read as a
  // batch without writer and samples: nothing for a tail.
  if (batch->writer_id().empty()) return false;
  // A tail shows a few of the batch's machines: it looks them up in the batch's index
  // instead of testing every sample (200 tails x 500 samples a batch otherwise).
  const MachineIndex& index = IndexOf(entry, *batch);
  std::vector<int> selected;
  for (const std::string& machine_id : selection.machine_ids) {
    auto found = index.find(machine_id);
    if (found == index.end()) continue;
    for (int i : found->second) {
      if (selection.Wants(batch->samples(i))) selected.push_back(i);
    }
  }
  if (selected.empty()) return false;
  std::sort(selected.begin(), selected.end());  // in the batch's order
  for (int i : selected) *response->add_samples() = batch->samples(i);
  response->set_cursor(entry.cursor);
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TelemetryServiceImpl::StreamSamplesSource>>
TelemetryServiceImpl::HandleStreamSamples(runtime::CallContext& call,
                                          const v1::StreamSamplesRequest& request) {
  auto selection = std::make_shared<Selection>();
  const std::vector<std::string> machines(request.machine_ids().begin(),
                                          request.machine_ids().end());
  const std::vector<std::string> items(request.data_item_ids().begin(),
                                       request.data_item_ids().end());
  // The selection's faults and the cursor's form in one answer, before the store is read.
  runtime::Violations violations;
  PM_RETURN_IF_ERROR(violations.Take(CheckLatestSelection(machines, items)));
  PM_RETURN_IF_ERROR(violations.Take(runtime::StreamCursor::Parse(request.cursor()).status()));
  PM_RETURN_IF_ERROR(violations.ToStatus());
  PM_RETURN_IF_ERROR(RequireMachinesAndDataItems(machines, items, ItemsNamed::kRegistered));
  selection->machine_ids.insert(machines.begin(), machines.end());
  selection->data_item_ids.insert(items.begin(), items.end());
  if (deps_.events == nullptr) {
    return absl::UnavailableError("this server publishes no events: live tails need Redis");
  }

  std::string cursor = request.cursor();
  std::optional<CurrentValues> first;
  if (cursor.empty()) {
    // The position first, then the snapshot: a batch committed after the snapshot was
    // read is published after this position, so the tail from here misses nothing.
    PM_ASSIGN_OR_RETURN(cursor, deps_.events->CurrentCursor(kEventStreamKey));
    // From PostgreSQL, never the latest-values cache: only a snapshot read after the
    // position is sure to hold every batch published before it. Each read is.
    first.emplace(
        std::vector<std::string>(selection->machine_ids.begin(), selection->machine_ids.end()),
        selection->data_item_ids.size(), kCurrentValuesMessageBytes, cursor,
        [store = store_, items](const std::vector<std::string>& machine_ids) {
          return store->LatestValues(machine_ids, items);
        });
  }
  // A tail that fell behind gets the batches waiting for it in one message: with 200
  // screens, a message per batch each cost the server more (a write, a TLS record and
  // an HTTP/2 frame per message) than the samples in it.
  runtime::WatchOptions coalesced;
  coalesced.coalesce_payload_bytes = kCurrentValuesMessageBytes;
  PM_ASSIGN_OR_RETURN(
      std::unique_ptr<TailSource> watch,
      runtime::OpenWatch<v1::StreamSamplesResponse>(
          deps_.events, kEventStreamKey, cursor,
          [selection](const runtime::StreamEvent& entry, v1::StreamSamplesResponse* response) {
            return TailResponseOf(entry, *selection, response);
          },
          coalesced));
  return MakeTailSource(std::move(first), std::move(watch));
}

}  // namespace plantmesh::telemetry
