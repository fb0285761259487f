#include "server/runtime/memory_budget.h"

#include <map>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {

bool MemoryBudget::TryCharge(int64_t bytes) {
  int64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > capacity_ - used) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  return true;
}

void MemoryBudget::Release(int64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

MemoryBudget::Reservation::Reservation(Reservation&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

MemoryBudget::Reservation& MemoryBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Reset();
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

MemoryBudget::Reservation::~Reservation() { Reset(); }

absl::Status MemoryBudget::Reservation::Grow(int64_t bytes) {
  if (bytes < 0) return absl::InvalidArgumentError("MemoryBudget: negative growth");
  if (budget_ != nullptr && !budget_->TryCharge(bytes)) {
    const int64_t held = budget_->used();
    std::map<std::string, std::string> metadata = {
        {"capacity_bytes", absl::StrCat(budget_->capacity())},
        {"held_bytes", absl::StrCat(held)},
        {"needed_bytes", absl::StrCat(bytes)}};
    if (!budget_->setting_.empty()) metadata["setting"] = budget_->setting_;
    return WithRetryDelay(
        WithErrorInfo(
            absl::ResourceExhaustedError(absl::StrCat(
                "the server's ", budget_->kind_, " memory budget",
                budget_->setting_.empty() ? "" : absl::StrCat(" (", budget_->setting_, ")"),
                " is in use by other calls (", held, " of ", budget_->capacity(), " bytes held, ",
                bytes, " more needed); retry later")),
            absl::StrCat(absl::AsciiStrToUpper(budget_->kind_), "_MEMORY_EXHAUSTED"), metadata),
        kRetryWhenBusy);
  }
  bytes_ += bytes;
  return absl::OkStatus();
}

void MemoryBudget::Reservation::Reset() {
  if (budget_ != nullptr && bytes_ > 0) budget_->Release(bytes_);
  bytes_ = 0;
}

}  // namespace plantmesh::runtime
