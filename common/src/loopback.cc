#include "plantmesh/common/loopback.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace plantmesh::common {

bool IsLoopbackHost(std::string_view host_text) {
  // Debian's abseil has its own string_view, not an alias of std::string_view.
  const absl::string_view host(host_text.data(), host_text.size());
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  std::vector<absl::string_view> octets = absl::StrSplit(host, '.');
  if (octets.size() != 4 || octets[0] != "127") return false;
  for (absl::string_view octet : octets) {
    int value = 0;
    if (!absl::SimpleAtoi(octet, &value) || value < 0 || value > 255) return false;
  }
  return true;
}

}  // namespace plantmesh::common
