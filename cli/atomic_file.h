// Whole-file writes that a concurrent reader (a certificate or role-binding watcher)
// never sees half done.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace plantmesh::pki {

// What a file written by plantctl replaces. A regular file (or nothing yet) is replaced
// whole (kReplace, `path` as given); a symbolic link keeps pointing where it did and the
// file it points to is replaced (kReplace, `path` that file); a character device or a
// named pipe is written through, never replaced (kWriteThrough: /dev/null, a FIFO).
// Anything else (a directory, a socket) is FAILED_PRECONDITION naming it. Outside
// testing: as root, `--to-file /dev/null` renamed a regular file over the device.
struct WriteTarget {
  enum Kind { kReplace, kWriteThrough } kind = kReplace;
  std::string path;
};
absl::StatusOr<WriteTarget> ResolveWriteTarget(const std::string& path);

// Writes `content` to `path` with permission bits `mode` through a temporary file in
// the same directory, fsync and rename (through a symbolic link, to the file it points
// to). FAILED_PRECONDITION when `path` is not a regular file: a certificate, key or
// configuration is a file of its own.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content, mode_t mode);

}  // namespace plantmesh::pki
