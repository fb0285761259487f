// The one way tests wait for state that another process or thread changes and that
// they cannot wait on directly (rows in PostgreSQL, a Redis client list, a scraped
// metric, a server's answer): look again every `interval` until it holds or `timeout`
// passes. Never a bare sleep: the wait ends as soon as the condition holds, and the
// deadline is generous for a busy CI machine.
#pragma once

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace plantmesh::testing {

// True when `condition()` held before `timeout` passed. `condition` runs once per look
// and may consume what it finds (e.g. the next message of a stream).
template <typename Condition>
bool PollUntil(Condition condition, absl::Duration timeout,
               absl::Duration interval = absl::Milliseconds(5)) {
  const absl::Time deadline = absl::Now() + timeout;
  bool held = false;
  while (!(held = condition()) && absl::Now() < deadline) absl::SleepFor(interval);
  return held;
}

}  // namespace plantmesh::testing
