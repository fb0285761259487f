#include "server/runtime/watch.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/shutdown.h"
#include "server/runtime/stream_cursor.h"

namespace plantmesh::runtime {
namespace {

// A synchronous handler learns of cancellation only by asking: it wakes this often
// while no event arrives.
constexpr absl::Duration kCancelCheck = absl::Milliseconds(200);
constexpr size_t kBatch = 64;

}  // namespace

absl::Status ServeWatch(const CallContext& call, EventHub* hub, const std::string& stream_key,
                        const std::string& cursor,
                        const std::function<absl::StatusOr<bool>(const StreamEvent&)>& deliver) {
  if (hub == nullptr) return absl::UnavailableError("this server publishes no events");
  PM_ASSIGN_OR_RETURN(std::unique_ptr<Subscription> subscription,
                      hub->Subscribe(stream_key, cursor));
  std::vector<std::shared_ptr<const StreamEvent>> batch;
  while (!call.Cancelled()) {
    batch.clear();
    absl::Status ended = subscription->Poll(&batch, kBatch);
    for (const auto& event : batch) {
      PM_ASSIGN_OR_RETURN(bool more, deliver(*event));
      if (!more) return absl::OkStatus();  // the client left
    }
    if (!ended.ok()) return ended;
    if (batch.empty()) subscription->WaitUntil(absl::Now() + kCancelCheck);
  }
  if (Draining()) {
    return ResumableUnavailable("SERVER_DRAINING", "the server is draining",
                                subscription->cursor());
  }
  return absl::CancelledError(
      absl::StrCat("watch ended (cancelled or deadline); cursor ", subscription->cursor()));
}

}  // namespace plantmesh::runtime
