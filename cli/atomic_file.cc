#include "cli/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

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

// This process's umask, without changing it (umask(2) would, for every thread).
mode_t CurrentUmask() {
  FILE* status = std::fopen("/proc/self/status", "r");
  unsigned int umask_bits = 022;
  if (status != nullptr) {
    char line[256];
    while (std::fgets(line, sizeof line, status) != nullptr) {
      if (std::sscanf(line, "Umask: %o", &umask_bits) == 1) break;
    }
    std::fclose(status);
  }
  return static_cast<mode_t>(umask_bits);
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

absl::StatusOr<AtomicFileWriter> AtomicFileWriter::Create(const WriteTarget& target,
                                                          std::optional<mode_t> mode) {
  std::string temp = target.path + ".tmp.XXXXXX";
  const int fd = mkstemp(temp.data());  // created 0600
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("creating a file beside ", target.path, ": ", std::strerror(errno)));
  }
  return AtomicFileWriter(target.path, std::move(temp), fd, mode);
}

AtomicFileWriter::AtomicFileWriter(std::string path, std::string temp, int fd,
                                   std::optional<mode_t> mode)
    : path_(std::move(path)), temp_(std::move(temp)), fd_(fd), mode_(mode) {}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      temp_(std::move(other.temp_)),
      fd_(std::exchange(other.fd_, -1)),
      mode_(other.mode_) {}

AtomicFileWriter::~AtomicFileWriter() { Discard(); }

void AtomicFileWriter::Discard() {
  if (fd_ < 0) return;
  close(fd_);
  fd_ = -1;
  unlink(temp_.c_str());
}

absl::Status AtomicFileWriter::Fail(absl::string_view what) {
  const int err = errno;
  Discard();
  return absl::InternalError(absl::StrCat(what, " ", temp_, ": ", std::strerror(err)));
}

absl::Status AtomicFileWriter::Write(absl::string_view bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(temp_, " is closed"));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(fd_, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail("writing");
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Commit() {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(temp_, " is closed"));
  mode_t mode = 0;
  struct stat replaced {};
  if (mode_) {
    mode = *mode_;
  } else if (stat(path_.c_str(), &replaced) == 0) {
    mode = replaced.st_mode & 07777;
  } else {
    mode = 0666 & ~CurrentUmask();
  }
  if (fchmod(fd_, mode) != 0) return Fail("setting the mode of");
  if (fsync(fd_) != 0) return Fail("syncing");
  const int fd = std::exchange(fd_, -1);
  if (close(fd) != 0) {
    const int err = errno;
    unlink(temp_.c_str());
    return absl::InternalError(absl::StrCat("closing ", temp_, ": ", std::strerror(err)));
  }
  if (rename(temp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    unlink(temp_.c_str());
    return absl::InternalError(
        absl::StrCat("renaming ", temp_, " to ", path_, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
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
  absl::StatusOr<AtomicFileWriter> file = AtomicFileWriter::Create(*target, mode);
  if (!file.ok()) return file.status();
  if (absl::Status written = file->Write(content); !written.ok()) return written;
  return file->Commit();
}

}  // namespace plantmesh::pki
