// Process-wide absl::Mutex settings for PlantMesh's programs.
//
// Debian builds abseil without NDEBUG, so by default every absl::Mutex::Lock runs
// abseil's lock-order (deadlock) detection: a lookup in one process-wide graph under one
// global lock. gRPC's own locks are absl::Mutex as well, so every call pays it many
// times, and all threads meet at that global lock (measured: two nested locks cost
// ~196 ns with it, ~27 ns without). Programs (server, plantctl, bench tools) call
// UseReleaseMutexSettings() first thing in main(); unit tests keep the detection, where
// it finds lock-order bugs. A program linking the SDK may call it as well.
#pragma once

namespace plantmesh::common {

// Turns off absl::Mutex deadlock detection for the whole process. Call it before other
// threads start.
void UseReleaseMutexSettings();

}  // namespace plantmesh::common
