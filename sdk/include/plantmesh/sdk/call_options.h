// Per-call settings of the typed clients (<file>.pm_client.h).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "plantmesh/sdk/cxx17.h"  // first: before any header that needs C++17

namespace plantmesh::sdk {

// The most CallOptions::metadata may hold: half of the 16 KiB of headers PlantMesh servers
// accept by default (max-metadata-bytes), the rest left to gRPC's own headers.
inline constexpr size_t kMaxCallMetadataBytes = 8 * 1024;

struct CallOptions {
  // Absolute deadline of the call. InfiniteFuture (the default) means: unary calls use
  // ClientOptions::default_deadline, streams have none.
  absl::Time deadline = absl::InfiniteFuture();
  // Extra request metadata, e.g. {"x-request-id", "..."} to correlate with server logs.
  // Keys: a-z, 0-9, '-', '_', '.', not starting "grpc-"; values printable ASCII, or any
  // bytes under a key ending "-bin"; at most kMaxCallMetadataBytes together (each entry's
  // key and value and 32, as HTTP/2 counts). Otherwise the call fails INVALID_ARGUMENT
  // naming it.
  std::vector<std::pair<std::string, std::string>> metadata;

  // Convenience: a deadline `timeout` from now.
  static CallOptions WithTimeout(absl::Duration timeout) {
    CallOptions options;
    options.deadline = absl::Now() + timeout;
    return options;
  }
};

}  // namespace plantmesh::sdk
