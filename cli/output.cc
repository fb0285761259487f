#include "cli/output.h"

#include <utf8proc.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cli/contract_catalog.h"
#include "cli/decimal_number.h"
#include "cli/default_columns.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/blank_text.h"
#include "plantmesh/common/unicode_form.h"

namespace plantmesh::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsLeafMessage(const Descriptor* type) {
  const std::string& name = type->full_name();
  return name == "google.protobuf.Timestamp" || name == "google.protobuf.FieldMask" ||
         name == "google.protobuf.Duration";
}

void AddColumns(const Descriptor* type, const std::string& prefix,
                std::vector<const FieldDescriptor*> path, int depth, std::vector<Column>* out) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    std::vector<const FieldDescriptor*> field_path = path;
    field_path.push_back(field);
    std::string name = prefix + field->name();
    // Recursive types (none today) stop at a fixed depth and print as JSON. A message
    // without fields (telemetry's Unavailable) is a column of its own: it says only that
    // it is set.
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated() &&
        !IsLeafMessage(field->message_type()) && field->message_type()->field_count() > 0 &&
        depth < 6) {
      AddColumns(field->message_type(), name + ".", field_path, depth + 1, out);
    } else {
      out->push_back({std::move(name), std::move(field_path)});
    }
  }
}

std::string TimestampText(const Message& timestamp) {
  const Reflection* reflection = timestamp.GetReflection();
  const Descriptor* type = timestamp.GetDescriptor();
  int64_t seconds = reflection->GetInt64(timestamp, type->FindFieldByName("seconds"));
  int32_t nanos = reflection->GetInt32(timestamp, type->FindFieldByName("nanos"));
  if (seconds == 0 && nanos == 0) return "";
  // Six fraction digits always (the server keeps microseconds), so that times sort as
  // text in a spreadsheet or `sort` (outside testing: "…25.77791Z" before "…25.777911Z"),
  // as `telemetry tail -o csv` writes them.
  return absl::FormatTime("%E4Y-%m-%d%ET%H:%M:%E6SZ",
                          absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos),
                          absl::UTCTimeZone());
}

std::string ScalarText(const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool rep = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(message, field, index)
                              : r->GetInt32(message, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(message, field, index)
                              : r->GetInt64(message, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(message, field, index)
                              : r->GetUInt32(message, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(message, field, index)
                              : r->GetUInt64(message, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return ExactDecimal(rep ? r->GetRepeatedDouble(message, field, index)
                              : r->GetDouble(message, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return ExactDecimal(rep ? r->GetRepeatedFloat(message, field, index)
                              : r->GetFloat(message, field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_ENUM: {
      const google::protobuf::EnumValueDescriptor* value =
          rep ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field);
      return value->number() == 0 ? "" : ShortEnumName(value);
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value =
          rep ? r->GetRepeatedString(message, field, index) : r->GetString(message, field);
      return field->type() == FieldDescriptor::TYPE_BYTES ? absl::Base64Escape(value) : value;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& value =
          rep ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field);
      const std::string& type = field->message_type()->full_name();
      if (type == "google.protobuf.Timestamp") return TimestampText(value);
      if (type == "google.protobuf.FieldMask") {
        const FieldDescriptor* paths = value.GetDescriptor()->FindFieldByName("paths");
        std::vector<std::string> parts;
        for (int i = 0; i < value.GetReflection()->FieldSize(value, paths); ++i) {
          parts.push_back(value.GetReflection()->GetRepeatedString(value, paths, i));
        }
        return absl::StrJoin(parts, ",");
      }
      return ToJson(value);
    }
  }
  return "";
}

// Calls `each(code_point, bytes)` for every UTF-8 sequence of `text`; a byte that does
// not start a valid sequence comes alone with code_point -1.
template <typename Each>
void ForEachCodePoint(absl::string_view text, Each each) {
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t at = 0;
  while (at < text.size()) {
    utf8proc_int32_t code_point = -1;
    utf8proc_ssize_t length =
        utf8proc_iterate(bytes + at, static_cast<utf8proc_ssize_t>(text.size() - at), &code_point);
    if (length <= 0) {
      length = 1;
      code_point = -1;
    }
    each(code_point, text.substr(at, static_cast<size_t>(length)));
    at += static_cast<size_t>(length);
  }
}

// `json` (an object) without the keys of `left_out`; the order of the others is kept.
std::string WithoutKeys(const std::string& json,
                        absl::Span<const FieldDescriptor* const> left_out) {
  if (left_out.empty()) return json;
  nlohmann::ordered_json object = nlohmann::ordered_json::parse(json, nullptr, false);
  if (!object.is_object()) return json;
  for (const FieldDescriptor* field : left_out) object.erase(field->name());
  return EscapeInvisibleInJson(object.dump());
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "wide") return OutputFormat::kWide;
  if (text == "json") return OutputFormat::kJson;
  if (text == "csv") return OutputFormat::kCsv;
  return absl::InvalidArgumentError(
      absl::StrCat("--output \"", text, "\" must be table, wide, json or csv"));
}

std::string EscapeForTable(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  ForEachCodePoint(text, [&out](int32_t code_point, absl::string_view bytes) {
    switch (code_point) {
      case '\r':
        out += "\\r";
        return;
      case '\n':
        out += "\\n";
        return;
      case '\t':
        out += "\\t";
        return;
      default:
        break;
    }
    // Unicode's line and paragraph separators break a line in some terminals; the
    // bidirectional embeddings, overrides and isolates reorder what follows on the line,
    // other cells included (re-test: a display name "Bay 1 \u202e2 yaB" showed as
    // "Bay 1 Bay 2"). The data keeps them: right-to-left text may need them.
    if (code_point == 0x2028 || code_point == 0x2029 ||
        (code_point >= 0x202A && code_point <= 0x202E) ||
        (code_point >= 0x2066 && code_point <= 0x2069)) {
      absl::StrAppend(&out, "\\u", absl::Hex(code_point));
      return;
    }
    const bool control =
        code_point < 0x20 || code_point == 0x7f || (code_point >= 0x80 && code_point <= 0x9f);
    if (!control) {
      out.append(bytes.data(), bytes.size());
      return;
    }
    for (char byte : bytes) {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(byte), absl::kZeroPad2));
    }
  });
  return out;
}

size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  ForEachCodePoint(text, [&width](int32_t code_point, absl::string_view) {
    width += code_point < 0 ? 1 : static_cast<size_t>(std::max(0, utf8proc_charwidth(code_point)));
  });
  return width;
}

std::vector<Column> ColumnsOf(const Descriptor* type) {
  std::vector<Column> columns;
  AddColumns(type, "", {}, 0, &columns);
  return columns;
}

std::string CellText(const Message& message, const Column& column) {
  const Message* current = &message;
  // Fields of an unset message print empty, not as their defaults.
  for (size_t i = 0; i + 1 < column.path.size(); ++i) {
    if (!current->GetReflection()->HasField(*current, column.path[i])) return "";
    current = &current->GetReflection()->GetMessage(*current, column.path[i]);
  }
  const FieldDescriptor* field = column.path.back();
  if (!field->is_repeated()) {
    // A field with presence that is not set prints empty, not as its default: a sample
    // whose oneof value holds text or UNAVAILABLE has no number 0 (outside testing: a CSV
    // export showed an UNAVAILABLE load as 0).
    if (field->has_presence() && !current->GetReflection()->HasField(*current, field)) return "";
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        field->message_type()->field_count() == 0) {
      return "true";
    }
    return ScalarText(*current, field, -1);
  }
  int size = current->GetReflection()->FieldSize(*current, field);
  if (size == 0) return "";
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
      !IsLeafMessage(field->message_type())) {
    std::vector<std::string> items;
    for (int i = 0; i < size; ++i) items.push_back(ScalarText(*current, field, i));
    return absl::StrCat("[", absl::StrJoin(items, ","), "]");
  }
  std::vector<std::string> items;
  for (int i = 0; i < size; ++i) items.push_back(ScalarText(*current, field, i));
  return absl::StrJoin(items, ",");
}

std::string CsvField(absl::string_view text) {
  if (text.find_first_of(",\"\r\n") == absl::string_view::npos) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::string EscapeInvisibleInJson(absl::string_view json) {
  std::string out;
  out.reserve(json.size());
  ForEachCodePoint(json, [&out](int32_t code_point, absl::string_view bytes) {
    const auto c = static_cast<char32_t>(code_point);
    if (code_point <= 0x7F || !common::DisplaysEscaped(c)) {
      out.append(bytes.data(), bytes.size());
      return;
    }
    if (c > 0xFFFF) {  // JSON has no \U: a UTF-16 surrogate pair
      const char32_t offset = c - 0x10000;
      common::AppendCodePointEscape(&out, 0xD800 + (offset >> 10));
      common::AppendCodePointEscape(&out, 0xDC00 + (offset & 0x3FF));
    } else {
      common::AppendCodePointEscape(&out, c);
    }
  });
  return out;
}

std::string ToJson(const Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // A rejected verification must say "accepted": false, not leave the key out.
  options.always_print_primitive_fields = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) return absl::StrCat("{\"error\":\"", status.message().ToString(), "\"}");
  // Numbers in the fewest digits that read back the same, as in every other cell
  // (outside testing: protobuf writes 17 digits where 15 do not read back, so a CSV
  // showed attainment 66.666666666666671); nlohmann writes the shortest form.
  const nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(json, nullptr, false);
  if (parsed.is_discarded()) return EscapeInvisibleInJson(json);
  return EscapeInvisibleInJson(
      parsed.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

void ResponsePrinter::PrintResponse(const Message& response,
                                    absl::Span<const FieldDescriptor* const> left_out) {
  if (format_ == OutputFormat::kJson) {
    out_ << WithoutKeys(ToJson(response), left_out) << "\n";
    return;
  }
  const Descriptor* type = response.GetDescriptor();
  std::vector<const FieldDescriptor*> lists;  // the repeated message fields
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->is_repeated() && field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        std::find(left_out.begin(), left_out.end(), field) == left_out.end()) {
      lists.push_back(field);
    }
  }
  if (lists.empty()) {
    PrintKeyValues(response);
    return;
  }
  // The first list is the rows (GetPlanVsActual's rows, ProposePlan's shifts); the others
  // follow as tables of their own (outside testing: plan vs actual printed as one JSON cell).
  const FieldDescriptor* list = lists.front();
  auto items_of = [&response](const FieldDescriptor* field) {
    const Reflection* reflection = response.GetReflection();
    std::vector<const Message*> items;
    for (int i = 0; i < reflection->FieldSize(response, field); ++i) {
      items.push_back(&reflection->GetRepeatedMessage(response, field, i));
    }
    return items;
  };
  const std::vector<const Message*> rows = items_of(list);
  // The other fields: a result of the call (GetUtilization's part_count) is a column of
  // every row, so that `> file.csv` keeps it (outside testing: it went to stderr); paging
  // (next_page_token, watch_cursor), and results beside no row, are notes when set.
  std::vector<Column> results;
  std::vector<Column> notes;
  for (const Column& column : ColumnsOf(type)) {
    if (std::find(lists.begin(), lists.end(), column.path.front()) != lists.end() ||
        std::find(left_out.begin(), left_out.end(), column.path.front()) != left_out.end()) {
      continue;
    }
    const std::string& name = column.path.front()->name();
    const bool paging = name == "next_page_token" || name == "watch_cursor";
    (paging || rows.empty() ? notes : results).push_back(column);
  }
  PrintRows(rows, list->message_type(), &response, results);
  for (size_t i = 1; i < lists.size(); ++i) {
    const std::vector<const Message*> more = items_of(lists[i]);
    if (more.empty()) continue;
    if (format_ == OutputFormat::kCsv) {
      // A CSV file holds one table, so that a spreadsheet opens it.
      notes_ << "plantctl: " << lists[i]->name() << ": " << more.size()
             << (more.size() == 1 ? " row" : " rows") << " not in the CSV, which holds the "
             << list->name() << " (-o json has every field)\n";
      continue;
    }
    out_ << "\n" << lists[i]->name() << ":\n";
    PrintRows(more, lists[i]->message_type());
  }
  for (const Column& column : notes) {
    std::string text = CellText(response, column);
    if (!text.empty()) notes_ << column.name << ": " << text << "\n";
  }
}

void ResponsePrinter::PrintItems(const Message& response, const FieldDescriptor* items) {
  const Reflection* reflection = response.GetReflection();
  std::vector<const Message*> rows;
  for (int i = 0; i < reflection->FieldSize(response, items); ++i) {
    rows.push_back(&reflection->GetRepeatedMessage(response, items, i));
  }
  if (format_ == OutputFormat::kTable) {
    PrintRows(rows, items->message_type());
    out_.flush();
    return;
  }
  for (const Message* row : rows) PrintStreamed(*row);
}

void ResponsePrinter::Note(const std::string& text) { notes_ << "plantctl: " << text << std::endl; }

void ResponsePrinter::PrintStreamed(const Message& response) {
  switch (format_) {
    case OutputFormat::kJson:
      out_ << ToJson(response) << std::endl;
      return;
    case OutputFormat::kCsv:
      PrintRows({&response}, response.GetDescriptor());
      out_.flush();
      return;
    case OutputFormat::kTable:
    case OutputFormat::kWide:
      PrintKeyValues(response);
      out_ << std::endl;
      return;
  }
}

void ResponsePrinter::PrintRows(const std::vector<const Message*>& rows, const Descriptor* type,
                                const Message* outer, const std::vector<Column>& outer_columns) {
  std::vector<Column> columns = ColumnsOf(type);
  // A cell of a row: the row's columns, then (the last outer_columns.size()) the outer's.
  auto cell = [&](const Message& row, size_t c) {
    return CellText(c < columns.size() - outer_columns.size() ? row : *outer, columns[c]);
  };
  if (format_ == OutputFormat::kCsv) {
    // CSV keeps every column, so the header does not depend on the data, and every
    // value as it is (quoted, never escaped or shortened).
    columns.insert(columns.end(), outer_columns.begin(), outer_columns.end());
    if (!header_printed_) {
      std::vector<std::string> names;
      for (const Column& column : columns) names.push_back(CsvField(column.name));
      out_ << absl::StrJoin(names, ",") << "\r\n";
      header_printed_ = true;
    }
    for (const Message* row : rows) {
      std::vector<std::string> fields;
      for (size_t c = 0; c < columns.size(); ++c) fields.push_back(CsvField(cell(*row, c)));
      out_ << absl::StrJoin(fields, ",") << "\r\n";
    }
    return;
  }
  // A table: the resource's default columns (all of them, so the header is the same
  // for every listing, an empty one too: outside testing, an empty list printed none), or
  // with wide every column that holds something (with no rows, the default columns).
  const bool wide = format_ == OutputFormat::kWide && !rows.empty();
  if (!wide) {
    std::vector<Column> chosen;
    for (const std::string& name : DefaultColumnNames(type)) {
      for (const Column& column : columns) {
        if (column.name == name) chosen.push_back(column);
      }
    }
    if (!chosen.empty()) columns = std::move(chosen);
  }
  columns.insert(columns.end(), outer_columns.begin(), outer_columns.end());
  std::vector<std::vector<std::string>> cells;
  for (const Message* row : rows) {
    std::vector<std::string> line;
    for (size_t c = 0; c < columns.size(); ++c) line.push_back(EscapeForTable(cell(*row, c)));
    cells.push_back(std::move(line));
  }
  std::vector<size_t> shown;
  std::vector<size_t> widths;
  for (size_t c = 0; c < columns.size(); ++c) {
    size_t width = 0;
    for (const auto& line : cells) width = std::max(width, DisplayWidth(line[c]));
    if (width == 0 && wide) continue;
    shown.push_back(c);
    widths.push_back(std::max(width, DisplayWidth(columns[c].name)));
  }
  auto print_line = [&](const std::vector<std::string>& texts) {
    std::string line;
    for (size_t i = 0; i < texts.size(); ++i) {
      line += texts[i];
      if (i + 1 < texts.size()) line += std::string(widths[i] - DisplayWidth(texts[i]) + 2, ' ');
    }
    // No trailing blanks when the last cells are empty.
    line.erase(line.find_last_not_of(' ') + 1);
    out_ << line << "\n";
  };
  std::vector<std::string> header;
  for (size_t c : shown) header.push_back(columns[c].name);
  print_line(header);
  for (const auto& line : cells) {
    std::vector<std::string> texts;
    for (size_t c : shown) texts.push_back(line[c]);
    print_line(texts);
  }
  if (rows.empty()) notes_ << "(none)\n";
}

void ResponsePrinter::PrintKeyValues(const Message& message) {
  std::vector<std::pair<std::string, std::string>> rows;
  const bool csv = format_ == OutputFormat::kCsv;
  for (const Column& column : ColumnsOf(message.GetDescriptor())) {
    std::string text = CellText(message, column);
    if (!text.empty() || csv) rows.emplace_back(column.name, std::move(text));
  }
  if (csv) {
    out_ << "field,value\r\n";
    for (const auto& [key, value] : rows) out_ << CsvField(key) << "," << CsvField(value) << "\r\n";
    return;
  }
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, DisplayWidth(row.first));
  for (const auto& [key, value] : rows) {
    out_ << key << std::string(width - DisplayWidth(key) + 2, ' ') << EscapeForTable(value) << "\n";
  }
}

}  // namespace plantmesh::cli
