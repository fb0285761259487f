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
};

// Every method of every contract service whose idempotency_level is NO_SIDE_EFFECTS or
// IDEMPOTENT (generated: <build>/gen/plantmesh_contracts.pm.cc).
const std::vector<RetrySafeMethod>& GeneratedRetrySafeMethods();

// The gRPC service config that retries `methods` on UNAVAILABLE as `retry` says.
std::string RetryServiceConfigJsonFor(const std::vector<RetrySafeMethod>& methods,
                                      const RetryOptions& retry);

}  // namespace plantmesh::sdk::internal
