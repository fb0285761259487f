// The retry service config of MakeChannel (through RetryServiceConfigJson), built from
// the list protoc-gen-plantmesh emits for the contracts the SDK is built from.
#pragma once

#include <string>
#include <vector>

#include "plantmesh/sdk/client_options.h"

namespace plantmesh::sdk::internal {

struct RetrySafeMethod {
  const char* service;  // fully qualified, e.g. "plantmesh.defect.v1.DefectService"
  const char* method;   // e.g. "GetDefect"
  // The client sends a stream (ImportDemand, IngestSamples): never retried by gRPC.
  bool client_streaming = false;
};

// Every method of every contract service whose idempotency_level is NO_SIDE_EFFECTS or
// IDEMPOTENT (generated: <build>/gen/plantmesh_contracts.pm.cc).
const std::vector<RetrySafeMethod>& GeneratedRetrySafeMethods();

// The gRPC service config that retries `methods` on UNAVAILABLE as `retry` says, but for
// those where the client streams: gRPC 1.51 replays a failed client stream from its retry
// buffer (256 KiB a call) and half-closes the new attempt, so a retry could deliver a
// prefix of the stream as if it were whole (outside testing: an ImportDemand of 12,000
// records cut by a server restart stored 6,637 and answered OK). Those fail UNAVAILABLE,
// and their caller retries the whole stream with the same request_id.
std::string RetryServiceConfigJsonFor(const std::vector<RetrySafeMethod>& methods,
                                      const RetryOptions& retry);

}  // namespace plantmesh::sdk::internal
