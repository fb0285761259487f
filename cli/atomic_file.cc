#include "cli/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace plantmesh::pki {

namespace {

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISFIFO(mode)) return "a named pipe";
  return "not a regular file";
}

}  // namespace

absl::StatusOr<WriteTarget> ResolveWriteTarget(const std::string& path) {
  // Links are followed one at a time, as the kernel does (relative ones from their own
  // directory, 40 at most): a chain ending at a name that does not exist yet creates the
  // file there (outside testing: realpath() fails on such a chain, and the first link
  // was replaced by a regular file).
  WriteTarget target{WriteTarget::kReplace, path};
  for (int links = 0;; ++links) {
    struct stat link_status {};
    if (lstat(target.path.c_str(), &link_status) != 0) return target;  // nothing there yet
    if (!S_ISLNK(link_status.st_mode)) break;
    if (links == 40) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": too many levels of symbolic links (a loop?)"));
    }
    std::string link(static_cast<size_t>(link_status.st_size) + 1, '\0');
    const ssize_t n = readlink(target.path.c_str(), link.data(), link.size());
    if (n <= 0 || static_cast<size_t>(n) >= link.size()) {
      return absl::FailedPreconditionError(absl::StrCat(path, ": cannot read the symbolic link ",
                                                        target.path, ": ", std::strerror(errno)));
    }
    link.resize(static_cast<size_t>(n));
    const size_t slash = target.path.rfind('/');
    target.path = link.front() == '/' || slash == std::string::npos
                      ? link
                      : absl::StrCat(target.path.substr(0, slash + 1), link);
  }
  struct stat status {};
  if (stat(target.path.c_str(), &status) != 0 || S_ISREG(status.st_mode)) return target;
  if (S_ISCHR(status.st_mode) || S_ISFIFO(status.st_mode)) {
    target.kind = WriteTarget::kWriteThrough;
    return target;
  }
  return absl::FailedPreconditionError(
      absl::StrCat(path, " is ", KindOf(status.st_mode), ", not a file to write"));
}

absl::Status WriteFileAtomically(const std::string& path_given, const std::string& content,
                                 mode_t mode) {
  absl::StatusOr<WriteTarget> target = ResolveWriteTarget(path_given);
  if (!target.ok()) return target.status();
  if (target->kind != WriteTarget::kReplace) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_given,
                     " is not a regular file: it is not replaced (a certificate, key "
                     "or configuration is a file of its own)"));
  }
  const std::string& path = target->path;
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
