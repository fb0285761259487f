// Machine samples from a file, for `plantctl telemetry ingest`: CSV or JSON lines.
//
// CSV (RFC 4180 quoting; UTF-8, with or without a byte order mark; LF or CRLF line ends,
// CR alone is refused; a quoted field cannot span lines; blanks around a field are no
// part of it, but in a value read as text):
// the first line is a header naming the columns, in any order:
//   machine_id, data_item_id, time, value   required
//   kind                                     optional: number | text | condition |
//                                            unavailable (any case); empty: guessed
//   source_sequence                          optional: the source's own sequence, 0-2^64-1
//   units                                    optional, not sent (`telemetry tail -o csv`
//                                            writes it; the server knows the item's units)
// time is RFC 3339 with a zone (`2024-05-01T10:00:00.250Z`, `...+02:00`). The value by
// kind:
//   number       a decimal number (`12.5`, `-3e2`, not hexadecimal; `nan`/`inf` are sent
//                as such and the server rejects them as NOT_FINITE)
//   text         the field as it is (may be empty)
//   condition    LEVEL[:NATIVE_CODE[:MESSAGE]], LEVEL one of normal, warning, fault, e.g.
//                `fault:SV0401:SERVO ALARM: V-READY OFF` (the message may hold colons)
//   unavailable  empty or `UNAVAILABLE` (MTConnect's "no value")
//   (empty)      `UNAVAILABLE` -> unavailable; other non-empty text -> Sample.written,
//                which the server reads by the data item's category (SAMPLE a number,
//                EVENT text as written, CONDITION a condition); empty -> an error (say
//                kind text for "")
// Empty lines are skipped.
//
// JSON lines: one telemetry.v1.Sample per line in protobuf's JSON mapping, e.g.
//   {"machineId":"cnc07","dataItemId":"Xload","time":"2024-05-01T10:00:00Z","number":12.5}
// (field names in lowerCamel or as in the .proto; unknown fields are errors). Empty
// lines are skipped.
//
// Errors name the source, the line and the field:
//   samples.csv:17: time: "2024-13-01T00:00:00Z" is not an RFC 3339 time
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "plantmesh/telemetry/v1/telemetry.pb.h"

namespace plantmesh::cli {

enum class SampleFileFormat { kCsv, kJsonLines };

// "csv" or "jsonl" (also "ndjson", "json"); INVALID_ARGUMENT otherwise.
absl::StatusOr<SampleFileFormat> ParseSampleFileFormat(absl::string_view name);

// The format of `path` by its extension (.csv; .jsonl, .ndjson, .json), else by the
// first non-blank character of `first_line` (`{`: JSON lines, otherwise CSV).
SampleFileFormat GuessSampleFileFormat(absl::string_view path, absl::string_view first_line);

// `first_line` without a UTF-8 byte order mark in front (what spreadsheet programs
// write at the start of a "CSV UTF-8" file), for the readers of such files.
absl::string_view WithoutByteOrderMark(absl::string_view first_line);

// Splits one CSV line into fields (RFC 4180 quoting, a trailing CR dropped).
// INVALID_ARGUMENT for an unterminated quote or text after a closing quote.
absl::StatusOr<std::vector<std::string>> SplitCsvLine(absl::string_view line);

// For a header line that is one field: "; columns are separated by commas, and this
// line has semicolons" (a spreadsheet's regional list separator) or tabs; empty when the
// line has neither (outside testing: such a file was told of one unknown column).
std::string SeparatorHint(absl::string_view header_line);

// The value and kind columns of `sample` in a sample file, as SampleReader reads them back
// to the same value: a number in its shortest exact decimal ("123456789.123"), a text as
// it is, a condition "fault:SV0401:SERVO ALARM", "UNAVAILABLE"; kind number, text,
// condition or unavailable (a written value: as written, no kind).
struct SampleFileValue {
  std::string value;
  std::string kind;
};
SampleFileValue SampleFileValueOf(const ::plantmesh::telemetry::v1::Sample& sample);

// Reads samples one at a time from `in` (not owned); `source` names it in errors.
class SampleReader {
 public:
  SampleReader(std::istream* in, std::string source, SampleFileFormat format);

  // The next sample: true with *sample filled, false at the end of the input, or
  // INVALID_ARGUMENT "source:line: field: what is wrong".
  absl::StatusOr<bool> Next(::plantmesh::telemetry::v1::Sample* sample);
  // After an error: true when it was one row's (Next goes on with the next row), false
  // when reading cannot go on (the CSV header, a read error).
  bool row_error() const { return row_error_; }

  // The line of the sample Next returned last (from 1, the header counted).
  int64_t line() const { return line_; }
  // Bytes consumed so far (for a progress bar).
  int64_t bytes_read() const { return bytes_read_; }

 private:
  absl::Status ReadHeader(absl::string_view line);
  absl::Status ParseCsvRow(absl::string_view line, ::plantmesh::telemetry::v1::Sample* sample);
  absl::Status ParseJsonLine(absl::string_view line, ::plantmesh::telemetry::v1::Sample* sample);
  static absl::Status CheckIds(const ::plantmesh::telemetry::v1::Sample& sample);
  absl::Status LineError(absl::string_view what) const;

  std::istream* in_;
  std::string source_;
  SampleFileFormat format_;
  int64_t line_ = 0;
  int64_t bytes_read_ = 0;
  bool header_read_ = false;
  bool row_error_ = false;
  std::map<std::string, int> columns_;  // CSV column name -> index
  std::string text_;                    // the current line
};

}  // namespace plantmesh::cli
