#include "server/defect/config.h"

#include "absl/strings/str_cat.h"

namespace plantmesh::defect {

std::shared_ptr<runtime::ServiceConfig> DeclareConfig(runtime::ConfigSection& section) {
  auto config = std::make_shared<DefectConfig>();
  section.Add("photo-max-bytes", &config->photo_max_bytes,
              "largest defect photo accepted by UploadDefectPhoto (bytes)", 1, int64_t{1} << 32);
  return config;
}

std::vector<std::string> CheckConfig(const runtime::ServerConfig& server,
                                     const runtime::ServiceConfig& section) {
  const auto& config = dynamic_cast<const DefectConfig&>(section);
  std::vector<std::string> problems;
  if (config.photo_max_bytes > server.upload_memory_bytes) {
    problems.push_back(absl::StrCat("defect.photo-max-bytes: must be <= upload-memory-bytes (",
                                    server.upload_memory_bytes, ")"));
  }
  if (config.photo_max_bytes > server.download_memory_bytes) {
    problems.push_back(absl::StrCat("defect.photo-max-bytes: must be <= download-memory-bytes (",
                                    server.download_memory_bytes, ")"));
  }
  return problems;
}

}  // namespace plantmesh::defect
