// The defect service's `[defect]` section of the server configuration.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/runtime/config.h"

namespace plantmesh::defect {

struct DefectConfig : runtime::ServiceConfig {
  // photo-max-bytes: largest photo UploadDefectPhoto accepts (bytes).
  int64_t photo_max_bytes = 10 * 1024 * 1024;
};

// Declares the section's keys, bound to a new DefectConfig with the defaults above.
std::shared_ptr<runtime::ServiceConfig> DeclareConfig(runtime::ConfigSection& section);

// photo-max-bytes must fit in the server's upload-memory-bytes, or a photo of the
// allowed size could never be received.
std::vector<std::string> CheckConfig(const runtime::ServerConfig& server,
                                     const runtime::ServiceConfig& section);

}  // namespace plantmesh::defect
