// How plantctl prints responses: JSON (one object per line), an aligned table, or CSV
// (RFC 4180). Tables and CSV flatten nested messages to dotted column names.
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace plantmesh::cli {

enum class OutputFormat { kTable, kJson, kCsv };

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
// repeated scalars joined by ",", repeated messages as a JSON array.
std::string CellText(const google::protobuf::Message& message, const Column& column);

// One CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
std::string CsvField(absl::string_view text);

// The compact JSON form, field names as in the .proto.
std::string ToJson(const google::protobuf::Message& message);

class ResponsePrinter {
 public:
  ResponsePrinter(OutputFormat format, std::ostream& out, std::ostream& notes)
      : format_(format), out_(out), notes_(notes) {}

  // A unary or client-streaming call's one response. A response with exactly one
  // repeated message field prints one row per item (other non-empty fields, such as
  // next_page_token, go to `notes`); any other prints key/value rows.
  void PrintResponse(const google::protobuf::Message& response);

  // One message of a response stream, printed as it arrives: a JSON line, a CSV row
  // (header before the first), or a key/value block.
  void PrintStreamed(const google::protobuf::Message& response);

  void Flush() { out_.flush(); }

 private:
  void PrintRows(const std::vector<const google::protobuf::Message*>& rows,
                 const std::vector<Column>& columns);
  void PrintKeyValues(const google::protobuf::Message& message);

  OutputFormat format_;
  std::ostream& out_;
  std::ostream& notes_;
  bool header_printed_ = false;
};

}  // namespace plantmesh::cli
