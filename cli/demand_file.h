// Daily demand history from a CSV file, for `plantctl planning import-demand`.
//
// CSV (RFC 4180 quoting, as cli/sample_file.h; UTF-8, with or without a byte order mark;
// LF or CRLF, CR alone refused; blanks around a field are no part of it): the first line is the
// header `product_id,date,quantity` (the three columns in any order; other columns are an error).
// date is a local date `YYYY-MM-DD`; quantity a decimal number 0-1,000,000,000 in the product's
// unit (`12`, `12.5`, `1.5e3`; not hexadecimal). Empty lines are skipped. Whether the product
// exists is the server's to say.
//
// Errors name the source, the line and the column:
//   demand.csv:17: quantity: "-3" must be 0-1000000000
#pragma once

#include <cstdint>
#include <istream>
#include <string>

#include "absl/status/statusor.h"
#include "plantmesh/planning/v1/planning_service.pb.h"

namespace plantmesh::cli {

// The contract's limit of a day's demand (planning.v1.DemandRecord.quantity).
inline constexpr double kMaxDemandQuantity = 1e9;
// The contract's range of a record's date (planning.v1.DemandRecord.date), and the most
// records one import takes (ImportDemand): a file beyond either is refused whole before
// anything is sent, by --dry-run too (outside testing: both passed --dry-run, then the
// server refused them, exit 13).
inline constexpr char kFirstDemandDate[] = "1900-01-01";
inline constexpr char kLastDemandDate[] = "9990-12-31";
inline constexpr int64_t kMaxDemandRecords = 1000000;

class DemandReader {
 public:
  // `in` is not owned; `source` names it in errors.
  DemandReader(std::istream* in, std::string source);

  // The next record: true with *record filled, false at the end of the input, or
  // INVALID_ARGUMENT "source:line: column: what is wrong".
  absl::StatusOr<bool> Next(::plantmesh::planning::v1::DemandRecord* record);
  // After an error: true when it was one row's (Next goes on with the next row), false
  // when reading cannot go on (the header).
  bool row_error() const { return row_error_; }

  // The line of the record Next returned last (from 1, the header counted).
  int64_t line() const { return line_; }
  int64_t bytes_read() const { return bytes_read_; }

 private:
  absl::Status ReadHeader(const std::string& text);
  absl::Status LineError(const std::string& column, const std::string& what) const;

  std::istream* in_;
  std::string source_;
  int64_t line_ = 0;
  int64_t bytes_read_ = 0;
  bool header_read_ = false;
  bool row_error_ = false;
  int product_column_ = -1, date_column_ = -1, quantity_column_ = -1;
};

}  // namespace plantmesh::cli
