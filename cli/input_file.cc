#include "cli/input_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"

namespace plantmesh::cli {

absl::StatusOr<std::unique_ptr<std::ifstream>> OpenInputFile(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    return LocalFailure(absl::StrCat("cannot read ", path, ": it is a directory"));
  }
  errno = 0;
  auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!file->is_open()) {
    return LocalFailure(absl::StrCat("cannot read ", path, ": ",
                                     errno != 0 ? std::strerror(errno) : "it cannot be opened"));
  }
  return file;
}

}  // namespace plantmesh::cli
