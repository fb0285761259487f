// The FileDescriptorSet (with source info and imports) of every service contract,
// compiled into plantctl by cli/CMakeLists.txt from proto/.
#pragma once

#include <cstddef>

namespace plantmesh::cli {

extern const unsigned char kEmbeddedDescriptorSet[];
extern const std::size_t kEmbeddedDescriptorSetSize;

}  // namespace plantmesh::cli
