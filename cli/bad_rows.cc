#include "cli/bad_rows.h"

namespace plantmesh::cli {

void BadRows::Add(const absl::Status& row) {
  if (++count_ <= kBadRowsShown) *err_ << "plantctl: " << row.message() << "\n";
}

void BadRows::Summarize() const {
  if (count_ == 0) return;
  *err_ << "plantctl: " << count_ << (count_ == 1 ? " bad row in " : " bad rows in ") << source_
        << (count_ <= kBadRowsShown
                ? ""
                : " (the first " + std::to_string(kBadRowsShown) + " shown above)")
        << "; nothing was sent\n";
}

}  // namespace plantmesh::cli
