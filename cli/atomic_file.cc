#include "cli/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace plantmesh::pki {

absl::Status WriteFileAtomically(const std::string& path, const std::string& content, mode_t mode) {
  std::string temp = path + ".tmp.XXXXXX";
  int fd = mkstemp(temp.data());  // created 0600
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("creating a file beside ", path, ": ", std::strerror(errno)));
  }
  auto fail = [&](absl::string_view what) {
    int err = errno;
    close(fd);
    unlink(temp.c_str());
    return absl::InternalError(absl::StrCat(what, " ", temp, ": ", std::strerror(err)));
  };
  if (fchmod(fd, mode) != 0) return fail("setting the mode of");
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("writing");
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("syncing");
  if (close(fd) != 0) {
    unlink(temp.c_str());
    return absl::InternalError(absl::StrCat("closing ", temp, ": ", std::strerror(errno)));
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(temp.c_str());
    return absl::InternalError(
        absl::StrCat("renaming ", temp, " to ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace plantmesh::pki
