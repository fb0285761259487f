#include "server/telemetry/tail_source.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/runtime/errors.h"

namespace plantmesh::telemetry {
namespace {

constexpr char kStartAgain[] =
    "before the current values were all sent: start the tail again without a cursor";

// The watch's end (`watch_end`) while the current values are incomplete: its reason
// without its cursor. An end that names no cursor (a failure) stays as it is.
absl::Status WithoutResumeCursor(const absl::Status& watch_end) {
  const runtime::ErrorInfoView info = runtime::ErrorInfoOf(watch_end);
  if (info.metadata.count("cursor") == 0) return watch_end;
  return runtime::WithErrorInfo(
      absl::UnavailableError(absl::StrCat("the tail ended (", info.reason, ") ", kStartAgain)),
      info.reason);
}

class Tail final : public TailSource {
 public:
  Tail(std::optional<CurrentValues> first, std::unique_ptr<TailSource> watch)
      : first_(std::move(first)), watch_(std::move(watch)) {}

  void Start(runtime::StreamControl control) override { watch_->Start(std::move(control)); }

  runtime::Pull Next(v1::StreamSamplesResponse* message, absl::Status* end) override {
    if (first_.has_value()) {
      if (draining_.load()) {
        *end = Drained();
        return runtime::Pull::kEnd;
      }
      absl::StatusOr<bool> given = first_->Next(message);
      if (!given.ok()) {
        *end = given.status();
        return runtime::Pull::kEnd;
      }
      // From the last of them on, the watch's cursor is the tail's.
      if (!*given || message->current_values_complete()) first_.reset();
      if (*given) return runtime::Pull::kMessage;
    }
    return watch_->Next(message, end);
  }

  bool EndWithoutRoom(absl::Status* end) override {
    if (!first_.has_value()) return watch_->EndWithoutRoom(end);
    // A drain too: the watch's end (SERVER_DRAINING) without its cursor.
    absl::Status watch_end;
    if (!watch_->EndWithoutRoom(&watch_end)) return false;
    *end = WithoutResumeCursor(watch_end);
    return true;
  }

  // The watch wakes the stream.
  void OnDrain() override {
    draining_.store(true);
    watch_->OnDrain();
  }
  void OnCallEnd() override { watch_->OnCallEnd(); }

 private:
  static absl::Status Drained() {
    return runtime::ServerDraining(absl::StrCat("the server is draining ", kStartAgain));
  }

  // Reset as the last of them is given (Next, on the executor, one call at a time:
  // EndWithoutRoom is asked instead of Next, never beside it).
  std::optional<CurrentValues> first_;
  std::unique_ptr<TailSource> watch_;
  std::atomic<bool> draining_{false};
};

}  // namespace

std::unique_ptr<TailSource> MakeTailSource(std::optional<CurrentValues> first,
                                           std::unique_ptr<TailSource> watch) {
  return std::make_unique<Tail>(std::move(first), std::move(watch));
}

}  // namespace plantmesh::telemetry
