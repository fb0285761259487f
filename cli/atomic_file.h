// Whole-file writes that a concurrent reader (a certificate or role-binding watcher)
// never sees half done.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"

namespace plantmesh::pki {

// Writes `content` to `path` with permission bits `mode` through a temporary file in
// the same directory, fsync and rename.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content, mode_t mode);

}  // namespace plantmesh::pki
