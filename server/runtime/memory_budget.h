// A process-wide budget of bytes that calls may hold in memory at once, e.g. the photo
// uploads being received. It is charged by bytes actually held, as they arrive (never
// by what a client declares it will send), and a charge beyond the capacity is refused
// at once (RESOURCE_EXHAUSTED) rather than waited for: a waiting stream would hold its
// share while blocking others.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"

namespace plantmesh::runtime {

class MemoryBudget {
 public:
  // A call's share of the budget, returned to it when the reservation is destroyed,
  // however the call ends (success, error, cancellation).
  class Reservation {
   public:
    Reservation() = default;  // holds nothing
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation();

    // Grows the share by `bytes` (>= 0). RESOURCE_EXHAUSTED, with nothing charged, when
    // the budget lacks them (ErrorInfo <KIND>_MEMORY_EXHAUSTED, e.g.
    // UPLOAD_MEMORY_EXHAUSTED, metadata capacity_bytes, held_bytes, needed_bytes, setting:
    // which budget, so a client tells it from a full connection pool); a reservation
    // without a budget always succeeds.
    absl::Status Grow(int64_t bytes);
    // Returns the whole share to the budget early.
    void Reset();
    int64_t bytes() const { return bytes_; }

   private:
    friend class MemoryBudget;
    explicit Reservation(MemoryBudget* budget) : budget_(budget) {}
    MemoryBudget* budget_ = nullptr;
    int64_t bytes_ = 0;
  };

  // `capacity_bytes` >= 1; `kind` ("upload", "download") and `setting` (the server
  // setting that sizes it, "upload-memory-bytes") name it in refusals. The budget
  // outlives every reservation taken from it.
  MemoryBudget(int64_t capacity_bytes, std::string kind = "call", std::string setting = "")
      : capacity_(capacity_bytes), kind_(std::move(kind)), setting_(std::move(setting)) {}

  // An empty share of this budget; a null budget gives an unlimited one.
  static Reservation Open(MemoryBudget* budget) { return Reservation(budget); }

  int64_t capacity() const { return capacity_; }
  // Bytes charged right now, by all reservations.
  int64_t used() const { return used_.load(std::memory_order_relaxed); }

 private:
  bool TryCharge(int64_t bytes);
  void Release(int64_t bytes);

  const int64_t capacity_;
  const std::string kind_;
  const std::string setting_;
  std::atomic<int64_t> used_{0};
};

}  // namespace plantmesh::runtime
