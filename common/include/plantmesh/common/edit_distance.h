// How far apart two names are, for "did you mean …?" (plantctl's commands and flags, the
// server's environment variables).
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace plantmesh::common {

// Levenshtein distance (insertions, deletions, substitutions) in bytes.
size_t EditDistance(absl::string_view a, absl::string_view b);

}  // namespace plantmesh::common
