// The SDK's retry policy, emitted once for all the service files of a protoc run:
// plantmesh_retry_policy.pm.cc defines sdk::internal::GeneratedRetrySafeMethods(), the
// methods whose idempotency_level says a repeat is harmless. The SDK builds its gRPC
// service config from it, so no program has to link or name a service's descriptors to
// keep retries working.
#pragma once

#include <google/protobuf/compiler/code_generator.h>

#include <vector>

namespace plantmesh::codegen {

inline constexpr char kRetryPolicyFile[] = "plantmesh_retry_policy.pm.cc";

void GenerateRetryPolicy(const std::vector<const google::protobuf::FileDescriptor*>& files,
                         google::protobuf::compiler::GeneratorContext* context);

}  // namespace plantmesh::codegen
