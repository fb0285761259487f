#include "cli/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/exit_codes.h"
#include "plantmesh/common/blank_text.h"
#include "plantmesh/common/unicode_form.h"
#include "plantmesh/common/utf8.h"

namespace plantmesh::cli {
namespace {

// Non-regular files read so far, by the path given: the descriptor of an unlinked
// temporary copy, open until plantctl exits.
std::mutex spooled_mu;
std::map<std::string, int>& Spooled() {
  static auto* spooled = new std::map<std::string, int>();
  return *spooled;
}

absl::Status UnreadableFile(const std::string& path, const char* why) {
  return LocalFailure(absl::StrCat("cannot read ", InputName(path), ": ", why));
}

// Writes all of `data` to `fd`; false with errno set.
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t w = write(fd, data, size);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    data += w;
    size -= static_cast<size_t>(w);
  }
  return true;
}

// Copies what `path` gives into an unlinked temporary file, once; its descriptor.
absl::StatusOr<int> Spool(const std::string& path) {
  std::lock_guard<std::mutex> lock(spooled_mu);
  auto it = Spooled().find(path);
  if (it != Spooled().end()) return it->second;
  const int in = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return UnreadableFile(path, std::strerror(errno));
  const char* dir = std::getenv("TMPDIR");
  std::string temp =
      absl::StrCat(dir != nullptr && *dir != '\0' ? dir : "/tmp", "/plantctl.XXXXXX");
  const int copy = mkostemp(temp.data(), O_CLOEXEC);
  if (copy < 0) {
    const int err = errno;
    close(in);
    return LocalFailure(absl::StrCat("cannot read ", path, ": no temporary copy in ", temp, ": ",
                                     std::strerror(err)));
  }
  unlink(temp.c_str());
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = read(in, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n > 0 && WriteAll(copy, buffer, static_cast<size_t>(n))) continue;
    const int err = errno;
    close(in);
    close(copy);
    if (n < 0) return UnreadableFile(path, std::strerror(err));
    return LocalFailure(absl::StrCat("cannot read ", path, ": its temporary copy in ",
                                     temp.substr(0, temp.rfind('/')),
                                     " (TMPDIR) cannot be written: ", std::strerror(err)));
  }
  close(in);
  Spooled()[path] = copy;
  return copy;
}

}  // namespace

std::string QuoteInput(absl::string_view text) {
  const std::string_view view(text.data(), text.size());
  std::string out = "\"";
  size_t at = 0;
  for (size_t chars = 0; at < view.size() && chars < kQuotedInputChars; ++chars) {
    const common::Utf8Char d = common::DecodeUtf8At(view, at);
    // A character that shows nothing, or a control, as the server's messages show it
    // (re-test: a date with U+200B after it read "2026-11-04" is not a date).
    if (d.code_point == common::kNotUtf8) {
      absl::StrAppendFormat(&out, "\\x%02X", static_cast<unsigned char>(view[at]));
    } else if (common::DisplaysEscaped(d.code_point)) {
      common::AppendCodePointEscape(&out, d.code_point);
    } else {
      out.append(view.substr(at, d.length));
    }
    at += d.length;
  }
  if (at == view.size()) return out + "\"";
  return absl::StrCat(out, "…\" (", text.size(), " bytes)");
}

std::string BlankAroundRefusal(absl::string_view value) {
  const std::string around = common::BlankAround(std::string_view(value.data(), value.size()));
  if (around.empty()) return "";
  return absl::StrCat(QuoteInput(value), " ", around, " (the server refuses it)");
}

std::string InputName(const std::string& path) {
  return path == "/dev/stdin" ? "standard input" : path;
}

absl::StatusOr<std::unique_ptr<std::ifstream>> OpenInputFile(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    return UnreadableFile(path, "it is a directory");
  }
  // A named pipe, a process substitution (/dev/fd/63) or a device gives its bytes once,
  // and plantctl reads a file twice (a check before the call, then the call): read once
  // into a temporary copy, and every opening reads that (outside testing: a FIFO's second
  // opening blocked for ever, and `<(cat file)` read as an empty file the second time).
  struct stat status {};
  if (stat(path.c_str(), &status) == 0 && !S_ISREG(status.st_mode)) {
    absl::StatusOr<int> copy = Spool(path);
    if (!copy.ok()) return copy.status();
    auto file =
        std::make_unique<std::ifstream>(absl::StrCat("/proc/self/fd/", *copy), std::ios::binary);
    if (!file->is_open()) return UnreadableFile(path, "its temporary copy cannot be opened");
    return file;
  }
  errno = 0;
  auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!file->is_open()) {
    return UnreadableFile(path, errno != 0 ? std::strerror(errno) : "it cannot be opened");
  }
  return file;
}

}  // namespace plantmesh::cli
