// What the SDK knows of all the contracts of a protoc run together, emitted once as
// plantmesh_contracts.pm.cc:
//   sdk::internal::GeneratedRetrySafeMethods()  the methods whose idempotency_level says a
//       repeat is harmless; the SDK builds its gRPC retry config from it, so no program
//       has to link or name a service's descriptors to keep retries working;
//   sdk::internal::ContractFiles()  the descriptor of every service file (linked by this
//       very reference), for tools and tests that walk every service.
#pragma once

#include <google/protobuf/compiler/code_generator.h>

#include <string>
#include <vector>

namespace plantmesh::codegen {

inline constexpr char kContractsFile[] = "plantmesh_contracts.pm.cc";

// False (with `error`) when a service file defines no message of its own.
bool ContractsGeneratable(const std::vector<const google::protobuf::FileDescriptor*>& files,
                          std::string* error);

void GenerateContracts(const std::vector<const google::protobuf::FileDescriptor*>& files,
                       google::protobuf::compiler::GeneratorContext* context);

}  // namespace plantmesh::codegen
