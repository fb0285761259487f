// The contracts the SDK is built from (generated: <build>/gen/plantmesh_contracts.pm.cc).
#pragma once

#include <vector>

namespace google::protobuf {
class FileDescriptor;
}

namespace plantmesh::sdk::internal {

// The descriptor of every file that defines a service, in file-name order; linking this
// links them all, so tools and tests can walk every service without naming one.
std::vector<const google::protobuf::FileDescriptor*> ContractFiles();

}  // namespace plantmesh::sdk::internal
