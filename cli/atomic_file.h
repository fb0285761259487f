// Whole-file writes that a concurrent reader (a certificate or role-binding watcher)
// never sees half done.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

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

// A file written in parts (a download) that replaces `target` (kReplace) whole when it
// is committed: the parts go to a temporary file of a unique name beside it (created
// 0600; a fixed "<name>.part" overwrote a file of that name, and two
// downloads to one path wrote into each other), which Commit syncs, gives its mode and
// renames over the target. Other hard links of the file replaced keep the old content.
class AtomicFileWriter {
 public:
  // `mode`: the permission bits; none: as a shell's `>` leaves them, those of the file
  // replaced, else 0666 less the umask. INTERNAL naming the directory when the temporary
  // file cannot be created.
  static absl::StatusOr<AtomicFileWriter> Create(const WriteTarget& target,
                                                 std::optional<mode_t> mode);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  ~AtomicFileWriter();  // discards what is not committed

  absl::Status Write(absl::string_view bytes);
  // Syncs, sets the mode and renames over the target; the writer is done.
  absl::Status Commit();
  // Removes the temporary file; the target is left as it was.
  void Discard();

 private:
  AtomicFileWriter(std::string path, std::string temp, int fd, std::optional<mode_t> mode);
  absl::Status Fail(absl::string_view what);

  std::string path_;
  std::string temp_;
  int fd_ = -1;
  std::optional<mode_t> mode_;
};

// Writes `content` to `path` with permission bits `mode` through an AtomicFileWriter
// (through a symbolic link, to the file it points to). FAILED_PRECONDITION when `path`
// is not a regular file: a certificate, key or configuration is a file of its own.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content, mode_t mode);

}  // namespace plantmesh::pki
