// The bad rows a file check found (`plantctl telemetry ingest` and `planning
// import-demand` check a file whole before they send anything): each of the first
// kBadRowsShown is said as it is found, the rest are counted, and the summary says how
// many there were. Outside testing: the check stopped at the first bad row, and a file
// with many took one run per row to fix.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace plantmesh::cli {

inline constexpr int64_t kBadRowsShown = 20;

class BadRows {
 public:
  // `err` is not owned; `source` names the file in the summary.
  BadRows(std::ostream* err, std::string source) : err_(err), source_(std::move(source)) {}

  // Says "plantctl: <the row's error>" for the first kBadRowsShown rows.
  void Add(const absl::Status& row);
  int64_t count() const { return count_; }
  // When there were any: "plantctl: N bad rows in SOURCE (all shown above | the first 20
  // shown above); nothing was sent".
  void Summarize() const;

 private:
  std::ostream* err_;
  std::string source_;
  int64_t count_ = 0;
};

}  // namespace plantmesh::cli
