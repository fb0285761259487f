#include "server/defect/config.h"

namespace plantmesh::defect {

std::shared_ptr<runtime::ServiceConfig> DeclareConfig(runtime::ConfigSection& section) {
  auto config = std::make_shared<DefectConfig>();
  section.Add("photo-max-bytes", &config->photo_max_bytes,
              "largest defect photo accepted by UploadDefectPhoto (bytes)", 1, int64_t{1} << 32);
  return config;
}

}  // namespace plantmesh::defect
