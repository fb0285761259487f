#include "plantmesh/common/blank_text.h"

#include "absl/strings/ascii.h"

namespace plantmesh::common {

bool IsBlankText(std::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace plantmesh::common
