// How plantctl prints responses: JSON (one object per line, every field), an aligned
// table (a default column set per resource; `wide`: every column that holds something),
// or CSV (RFC 4180, every column, values unchanged). Tables and CSV flatten nested
// messages to dotted column names.
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/message.h"

namespace plantmesh::cli {

enum class OutputFormat { kTable, kWide, kJson, kCsv };

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text);

// A column of a flattened message: its dotted name and the field chain to it.
struct Column {
  std::string name;
  std::vector<const google::protobuf::FieldDescriptor*> path;
};

// The leaf columns of a message type: scalars, timestamps, field masks and repeated
// fields (a repeated field is one cell); singular messages are flattened.
std::vector<Column> ColumnsOf(const google::protobuf::Descriptor* type);

// A cell's text: enums by short name, timestamps in RFC 3339 (UTC), bytes in base64,
// repeated scalars joined by ",", repeated messages as a JSON array; a field with presence
// that is not set (a oneof member when another member is set) is empty, and a set message
// without fields (telemetry's Unavailable) is "true".
std::string CellText(const google::protobuf::Message& message, const Column& column);

// One CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180);
// the value itself is never changed.
std::string CsvField(absl::string_view text);

// A table cell's text on one line: CR, LF and TAB as \r \n \t, other control
// characters (C0, DEL, C1) and bytes that are not UTF-8 as \xNN, U+2028 and U+2029 as
// \u2028 and \u2029. Tables are for reading; CSV and JSON keep values exact.
std::string EscapeForTable(absl::string_view text);

// `json` with every character beyond ASCII that shows nothing or changes how the line
// displays (common::ShowsAsEscape: bidirectional overrides, zero-width characters,
// no-break spaces) written as its \uXXXX escape (a surrogate pair beyond U+FFFF): a JSON
// reader reads the same value back, and a terminal shows what is there (outside testing:
// a model with a right-to-left override displayed reversed in --output json).
std::string EscapeInvisibleInJson(absl::string_view json);

// Columns a terminal needs for `text` (UTF-8): East Asian wide and fullwidth
// characters and emoji count 2, combining marks and other zero-width characters 0
// (utf8proc's charwidth); a byte that is not UTF-8 counts 1.
size_t DisplayWidth(absl::string_view text);

// The protobuf JSON mapping, compact, field names as in the .proto, every field printed
// with its default (false, 0, "", [] — never left out), enums by name, 64-bit integers
// as strings, timestamps in RFC 3339, bytes in base64.
std::string ToJson(const google::protobuf::Message& message);

class ResponsePrinter {
 public:
  ResponsePrinter(OutputFormat format, std::ostream& out, std::ostream& notes)
      : format_(format), out_(out), notes_(notes) {}

  // A unary or client-streaming call's one response. A response with a repeated message
  // field prints one row per item of the first (the other fields are columns of every
  // row, or, such as next_page_token, go to `notes`); each other non-empty list follows as
  // a table under its name (in CSV, one table a file: a note names what was left out). A
  // response without one prints key/value rows. The fields in `left_out` (top level of
  // `response`) are not printed at all.
  void PrintResponse(const google::protobuf::Message& response,
                     absl::Span<const google::protobuf::FieldDescriptor* const> left_out = {});

  // One message of a response stream, printed as it arrives: a JSON line, a CSV row
  // (header before the first), or a key/value block.
  void PrintStreamed(const google::protobuf::Message& response);

  void Flush() { out_.flush(); }
  // The items of `items` (a repeated message field of `response`) as rows: an aligned
  // table in table form, one JSON line or CSV row per item otherwise (so that the
  // items of a `--watch` listing and the changes after it read alike).
  void PrintItems(const google::protobuf::Message& response,
                  const google::protobuf::FieldDescriptor* items);

  // A line on the notes stream (stderr), "plantctl: <text>".
  void Note(const std::string& text);

 private:
  // Rows of `type`, each followed by `outer_columns` of `outer` (the same in every row).
  void PrintRows(const std::vector<const google::protobuf::Message*>& rows,
                 const google::protobuf::Descriptor* type,
                 const google::protobuf::Message* outer = nullptr,
                 const std::vector<Column>& outer_columns = {});
  void PrintKeyValues(const google::protobuf::Message& message);

  OutputFormat format_;
  std::ostream& out_;
  std::ostream& notes_;
  bool header_printed_ = false;
};

}  // namespace plantmesh::cli
