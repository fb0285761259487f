// Building the retry service config from contract descriptors (used by MakeChannel
// through RetryServiceConfigJson; separate so tests can feed their own descriptors).
#pragma once

#include <string>
#include <vector>

#include "plantmesh/sdk/client_options.h"

namespace google::protobuf {
class FileDescriptor;
}

namespace plantmesh::sdk::internal {

// The linked (generated) descriptors of every plantmesh/* file with a plantmesh.*
// package, sorted by file name.
std::vector<const google::protobuf::FileDescriptor*> LinkedPlantMeshFiles();

// The service config for the services of `files` whose package starts with
// "plantmesh.".
std::string RetryServiceConfigJsonFor(
    const std::vector<const google::protobuf::FileDescriptor*>& files, const RetryOptions& retry);

}  // namespace plantmesh::sdk::internal
