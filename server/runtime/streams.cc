#include "server/runtime/streams.h"

#include <utility>

namespace plantmesh::runtime {
namespace {

// A reference on the handle's target, or null when it is gone or being released.
StreamTarget* Acquire(StreamControl::Handle& handle) {
  std::lock_guard<std::mutex> lock(handle.mu);
  if (handle.target == nullptr || !handle.target->TryRef()) return nullptr;
  return handle.target;
}

}  // namespace

void StreamControl::Wake() const {
  if (handle_ == nullptr) return;
  StreamTarget* target = Acquire(*handle_);
  if (target == nullptr) return;
  target->Wake();
  target->Unref();  // outside the handle's lock: the last Unref clears the handle
}

size_t StreamControl::MessagesWaiting() const {
  if (handle_ == nullptr) return 0;
  StreamTarget* target = Acquire(*handle_);
  if (target == nullptr) return 0;
  const size_t waiting = target->MessagesWaiting();
  target->Unref();
  return waiting;
}

void StreamControl::End(absl::Status status) const {
  if (handle_ == nullptr) return;
  StreamTarget* target = Acquire(*handle_);
  if (target == nullptr) return;
  target->EndWith(std::move(status));
  target->Unref();
}

}  // namespace plantmesh::runtime
