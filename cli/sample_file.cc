#include "cli/sample_file.h"

#include <google/protobuf/util/time_util.h>

#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/decimal_number.h"
#include "cli/input_file.h"
#include "cli/json_input_check.h"
#include "cli/rfc3339.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/utf8.h"

namespace plantmesh::cli {
namespace {

namespace tv1 = ::plantmesh::telemetry::v1;

constexpr const char* kRequiredColumns[] = {"machine_id", "data_item_id", "time", "value"};
constexpr const char* kOptionalColumns[] = {"kind", "source_sequence", "units"};

absl::Status SetTime(absl::string_view text, tv1::Sample* sample) {
  absl::Time time;
  std::string error;
  if (!IsRfc3339DateTime(text) ||
      !absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "time: ", QuoteInput(text), " is not an RFC 3339 time (e.g. 2024-05-01T10:00:00Z)",
        Rfc3339NearMiss(text)));
  }
  const absl::Duration since_epoch = time - absl::UnixEpoch();
  const int64_t seconds = absl::ToInt64Seconds(since_epoch);
  // A Timestamp holds 0001-01-01 to 9999-12-31 (outside testing: year 0 passed --dry-run).
  if (seconds < google::protobuf::util::TimeUtil::kTimestampMinSeconds ||
      seconds > google::protobuf::util::TimeUtil::kTimestampMaxSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat("time: ", QuoteInput(text),
                     " is outside the times a sample holds (0001-01-01 to "
                     "9999-12-31)"));
  }
  sample->mutable_time()->set_seconds(seconds);
  sample->mutable_time()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
  return absl::OkStatus();
}

// MTConnect's "no data", in any case: the value UNAVAILABLE, and a condition's
// <Unavailable/> element written as a level (outside testing: agents' exports write
// `Unavailable`, which was sent as a text and refused by the server).
bool IsUnavailable(absl::string_view value) {
  return absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(value), "UNAVAILABLE");
}

absl::Status SetCondition(absl::string_view text, tv1::Sample* sample) {
  if (IsUnavailable(text)) {
    sample->mutable_unavailable();
    return absl::OkStatus();
  }
  std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits(':', 2));
  const std::string level = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
  if (level == "unavailable") {
    return absl::InvalidArgumentError(
        absl::StrCat("value: ", QuoteInput(text), ": unavailable takes no native code or message"));
  }
  tv1::ConditionValue* condition = sample->mutable_condition();
  if (level == "normal") {
    condition->set_level(tv1::CONDITION_LEVEL_NORMAL);
  } else if (level == "warning") {
    condition->set_level(tv1::CONDITION_LEVEL_WARNING);
  } else if (level == "fault") {
    condition->set_level(tv1::CONDITION_LEVEL_FAULT);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("value: ", QuoteInput(parts[0]),
                     " is not a condition level (normal, warning, fault; as "
                     "LEVEL[:NATIVE_CODE[:MESSAGE]]; or unavailable)"));
  }
  if (parts.size() > 1) condition->set_native_code(std::string(parts[1]));
  if (parts.size() > 2) condition->set_message(std::string(parts[2]));
  return absl::OkStatus();
}

// `value` as the field has it: blanks around count only in text (kind text, or guessed).
absl::Status SetValue(absl::string_view kind_text, absl::string_view value, tv1::Sample* sample) {
  const std::string kind = absl::AsciiStrToLower(kind_text);
  const absl::string_view text = value;
  if (kind != "text") value = absl::StripAsciiWhitespace(value);
  if (kind.empty()) {
    // The server reads it by the data item's category as it stands when the batch is
    // stored (Sample.written; outside testing: guessed here, a PROGRAM `0012` was stored as
    // the number 12, and read from the catalog here, an item recategorized during the
    // ingest was read by its old category).
    if (IsUnavailable(value)) {
      sample->mutable_unavailable();
    } else if (!value.empty()) {
      sample->set_written(std::string(text));
    } else {
      return absl::InvalidArgumentError(
          "value: empty (give kind text for an empty text, or unavailable)");
    }
    return absl::OkStatus();
  }
  if (kind == "number") {
    // Not finite: a bad row of the file, as the server would reject it (outside testing:
    // --dry-run passed NaN and inf, then every such row was rejected).
    const std::string lower = absl::AsciiStrToLower(value);
    if (lower == "nan" || lower == "-nan" || lower == "inf" || lower == "+inf" ||
        lower == "infinity" || lower == "+infinity" || lower == "-inf" || lower == "-infinity") {
      return absl::InvalidArgumentError(
          absl::StrCat("value: ", QuoteInput(value),
                       " is not a finite number (the server rejects it: "
                       "NOT_FINITE)"));
    }
    std::optional<double> number = ParseDecimal(value);
    if (!number) {
      return absl::InvalidArgumentError(
          absl::StrCat("value: ", QuoteInput(value), " ", NotDecimalReason(value)));
    }
    sample->set_number(*number);
  } else if (kind == "text") {
    sample->set_text(std::string(text));
  } else if (kind == "condition") {
    return SetCondition(value, sample);
  } else if (kind == "unavailable") {
    if (!value.empty() && !IsUnavailable(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "value: ", QuoteInput(value), " given with kind unavailable (leave it empty)"));
    }
    sample->mutable_unavailable();
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "kind: ", QuoteInput(kind_text), " is not one of number, text, condition, unavailable"));
  }
  return absl::OkStatus();
}

}  // namespace

SampleFileValue SampleFileValueOf(const tv1::Sample& sample) {
  switch (sample.value_case()) {
    case tv1::Sample::kNumber:
      return {ExactDecimal(sample.number()), "number"};
    case tv1::Sample::kText:
      return {sample.text(), "text"};
    case tv1::Sample::kCondition: {
      const std::string level =
          absl::AsciiStrToLower(tv1::ConditionLevel_Name(sample.condition().level()));
      std::string value(absl::StripPrefix(level, "condition_level_"));
      // A message needs its code's place, even when the code is empty.
      if (!sample.condition().native_code().empty() || !sample.condition().message().empty()) {
        absl::StrAppend(&value, ":", sample.condition().native_code());
      }
      if (!sample.condition().message().empty()) {
        absl::StrAppend(&value, ":", sample.condition().message());
      }
      return {value, "condition"};
    }
    case tv1::Sample::kWritten:  // read back with no kind: written again
      return {sample.written(), ""};
    case tv1::Sample::kUnavailable:
    case tv1::Sample::VALUE_NOT_SET:
      break;
  }
  return {"UNAVAILABLE", "unavailable"};
}

absl::StatusOr<SampleFileFormat> ParseSampleFileFormat(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "csv") return SampleFileFormat::kCsv;
  if (lower == "jsonl" || lower == "ndjson" || lower == "json") return SampleFileFormat::kJsonLines;
  return absl::InvalidArgumentError(
      absl::StrCat("--format: ", QuoteInput(name), " is not csv or jsonl"));
}

SampleFileFormat GuessSampleFileFormat(absl::string_view path, absl::string_view first_line) {
  const std::string lower = absl::AsciiStrToLower(path);
  if (absl::EndsWith(lower, ".csv")) return SampleFileFormat::kCsv;
  if (absl::EndsWith(lower, ".jsonl") || absl::EndsWith(lower, ".ndjson") ||
      absl::EndsWith(lower, ".json")) {
    return SampleFileFormat::kJsonLines;
  }
  return absl::StartsWith(absl::StripLeadingAsciiWhitespace(WithoutByteOrderMark(first_line)), "{")
             ? SampleFileFormat::kJsonLines
             : SampleFileFormat::kCsv;
}

absl::string_view WithoutByteOrderMark(absl::string_view first_line) {
  absl::ConsumePrefix(&first_line, "\xEF\xBB\xBF");
  return first_line;
}

std::string SeparatorHint(absl::string_view header_line) {
  if (header_line.find(',') != absl::string_view::npos) return "";
  const char* other = header_line.find(';') != absl::string_view::npos    ? "semicolons"
                      : header_line.find('\t') != absl::string_view::npos ? "tabs"
                                                                          : nullptr;
  if (other == nullptr) return "";
  return absl::StrCat("; columns are separated by commas, and this line has ", other,
                      " (a spreadsheet's regional list separator? export as CSV with commas)");
}

absl::StatusOr<std::vector<std::string>> SplitCsvLine(absl::string_view line) {
  // The encoding first: a line of another encoding can hold any byte, a CR too (outside
  // testing: a UTF-16 file with CRLF line ends was said to end its lines in CR alone).
  // UTF-16 (Excel's "Unicode Text") starts with the byte order mark FF FE or FE FF, and
  // every ASCII character in it comes with a zero byte.
  // A few zero bytes in UTF-8 text are no other encoding (outside testing: one NUL was
  // called UTF-16, with no place): those are named where they are.
  const size_t zeros = absl::c_count(line, '\0');
  // Re-test: a run of zero bytes (a logger's file after a power cut) was called UTF-16.
  if (zeros > 0 &&
      absl::StripSuffix(line, "\r").find_first_not_of('\0') == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a line of ", zeros, " zero bytes (NUL; a file cut short by a power loss?): remove it"));
  }
  if (absl::StartsWith(line, "\xFF\xFE") || absl::StartsWith(line, "\xFE\xFF") ||
      (zeros > 0 && zeros * 4 >= line.size())) {
    return absl::InvalidArgumentError(
        "UTF-16 or UTF-32 text (a byte order mark FF FE or FE FF, or zero bytes): save the "
        "file as UTF-8");
  }
  if (zeros > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("a zero byte (NUL) at byte ", line.find('\0') + 1,
                     " of the line: no value may hold one; remove it"));
  }
  // Every value goes into a protobuf string, which must be UTF-8: the server refused the
  // whole batch for one such row (outside testing), and a --dry-run had passed it.
  if (const size_t bad = common::FirstNotUtf8(std::string_view(line.data(), line.size()));
      bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrFormat("not valid UTF-8 (byte 0x%02X at byte %d of the line); save the file "
                        "as UTF-8",
                        static_cast<unsigned char>(line[bad]), bad + 1));
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Outside testing: a file with CR-only line ends (classic Mac OS, some ERP exports) is
  // one line, and was refused for a column named "quantityx1".
  if (line.find('\r') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "a carriage return inside the line: the file's lines end in CR alone (classic Mac "
        "OS); save it with LF or CRLF line ends");
  }
  std::vector<std::string> fields;
  std::string field;
  size_t i = 0;
  auto is_blank = [](char c) { return c == ' ' || c == '\t'; };
  while (true) {
    field.clear();
    // Blanks before an opening quote and after a closing one are no part of the field (as
    // spreadsheet programs and Python's skipinitialspace read them; re-test: `, "ACTIVE"`
    // was stored as the text ` "ACTIVE"`). An unquoted field keeps its blanks here.
    size_t start = i;
    while (start < line.size() && is_blank(line[start])) ++start;
    if (start < line.size() && line[start] == '"') {
      i = start + 1;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        field.push_back(line[i++]);
      }
      if (!closed) {
        return absl::InvalidArgumentError(
            absl::StrCat("field ", fields.size() + 1,
                         ": unterminated quoted field (a field cannot span lines)"));
      }
      while (i < line.size() && is_blank(line[i])) ++i;
      if (i < line.size() && line[i] != ',') {
        return absl::InvalidArgumentError(
            absl::StrCat("field ", fields.size() + 1, ": text after the closing quote"));
      }
    } else {
      const size_t comma = line.find(',', i);
      const size_t end = comma == absl::string_view::npos ? line.size() : comma;
      field.assign(line.data() + i, end - i);
      i = end;
    }
    fields.push_back(field);
    if (i >= line.size()) break;
    ++i;  // the comma
    if (i == line.size()) {
      fields.emplace_back();  // a trailing comma: one more, empty field
      break;
    }
  }
  return fields;
}

SampleReader::SampleReader(std::istream* in, std::string source, SampleFileFormat format)
    : in_(in), source_(std::move(source)), format_(format) {}

absl::Status SampleReader::LineError(absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(source_, ":", line_, ": ", what));
}

absl::StatusOr<bool> SampleReader::Next(tv1::Sample* sample) {
  // A JSON line, or a CSV row after the header, is one line: the next call reads the next.
  row_error_ = false;
  while (std::getline(*in_, text_)) {
    ++line_;
    bytes_read_ += static_cast<int64_t>(text_.size()) + 1;
    if (line_ == 1) text_ = std::string(WithoutByteOrderMark(text_));
    if (absl::StripAsciiWhitespace(text_).empty()) continue;
    sample->Clear();
    if (format_ == SampleFileFormat::kJsonLines) {
      row_error_ = true;  // unless ParseJsonLine finds the whole file of another shape
      if (absl::Status parsed = ParseJsonLine(text_, sample); !parsed.ok()) {
        return LineError(parsed.message());
      }
      if (absl::Status ids = CheckIds(*sample); !ids.ok()) return LineError(ids.message());
      return true;
    }
    if (!header_read_) {
      if (absl::Status header = ReadHeader(text_); !header.ok()) return LineError(header.message());
      header_read_ = true;
      continue;
    }
    absl::Status parsed = ParseCsvRow(text_, sample);
    if (parsed.ok()) parsed = CheckIds(*sample);
    if (!parsed.ok()) {
      row_error_ = true;
      return LineError(parsed.message());
    }
    return true;
  }
  if (in_->bad()) return absl::DataLossError(absl::StrCat(source_, ": read error"));
  if (format_ == SampleFileFormat::kCsv && !header_read_) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_, ": empty; a CSV file starts with the header machine_id,data_item_id,time,value"));
  }
  return false;
}

absl::Status SampleReader::ReadHeader(absl::string_view line) {
  absl::StatusOr<std::vector<std::string>> names = SplitCsvLine(line);
  if (!names.ok()) return names.status();
  for (size_t i = 0; i < names->size(); ++i) {
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace((*names)[i]));
    bool known = false;
    for (const char* column : kRequiredColumns) known = known || name == column;
    for (const char* column : kOptionalColumns) known = known || name == column;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "header: unknown column ", QuoteInput((*names)[i]),
          " (the columns are machine_id, data_item_id, time, value and optionally kind, "
          "source_sequence, units)",
          SeparatorHint(line)));
    }
    if (!columns_.emplace(name, static_cast<int>(i)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("header: column ", QuoteInput(name), " twice"));
    }
  }
  std::vector<std::string> missing;
  for (const char* column : kRequiredColumns) {
    if (columns_.count(column) == 0) missing.emplace_back(column);
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header: missing column", missing.size() > 1 ? "s " : " ", absl::StrJoin(missing, ", "),
        " (a CSV file starts with machine_id,data_item_id,time,value[,kind])"));
  }
  return absl::OkStatus();
}

absl::Status SampleReader::ParseCsvRow(absl::string_view line, tv1::Sample* sample) {
  absl::StatusOr<std::vector<std::string>> fields = SplitCsvLine(line);
  if (!fields.ok()) return fields.status();
  if (fields->size() != columns_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(fields->size(), " fields where the header has ", columns_.size(), " columns"));
  }
  // Blanks around a field are no part of it, but in a value of kind text (outside
  // testing: ` 23.5 ` was sent as text, and a SAMPLE item rejected it).
  auto field = [&](const char* name) -> std::string {
    auto it = columns_.find(name);
    if (it == columns_.end()) return "";
    const std::string& text = (*fields)[it->second];
    return name == std::string_view("value") ? text : std::string(absl::StripAsciiWhitespace(text));
  };
  if (field("machine_id").empty()) return absl::InvalidArgumentError("machine_id: empty");
  if (field("data_item_id").empty()) return absl::InvalidArgumentError("data_item_id: empty");
  sample->set_machine_id(field("machine_id"));
  sample->set_data_item_id(field("data_item_id"));
  if (absl::Status time = SetTime(field("time"), sample); !time.ok()) return time;
  if (absl::Status value = SetValue(field("kind"), field("value"), sample); !value.ok()) {
    return value;
  }
  if (const std::string sequence = field("source_sequence"); !sequence.empty()) {
    uint64_t value = 0;
    if (!IsWholeNumberText(sequence) || !absl::SimpleAtoi(sequence, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("source_sequence: ", QuoteInput(sequence),
                       " is not a whole number 0-18446744073709551615"));
    }
    sample->set_source_sequence(value);
  }
  return absl::OkStatus();
}

// A machine or data item id with a blank or an invisible character around it (U+00A0,
// U+200B: what an ASCII strip leaves) is refused by every server: a bad row, not
// "well-formed" in a dry run (re-test).
absl::Status SampleReader::CheckIds(const tv1::Sample& sample) {
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string*>{"machine_id", &sample.machine_id()},
        {"data_item_id", &sample.data_item_id()}}) {
    if (const std::string refusal = BlankAroundRefusal(*value); !refusal.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", refusal));
    }
  }
  return absl::OkStatus();
}

absl::Status SampleReader::ParseJsonLine(absl::string_view line, tv1::Sample* sample) {
  // Outside testing: a JSON array was read as a broken first line, and the `units` that
  // `telemetry tail -o json` writes beside each sample were refused (CSV's are ignored).
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "[")) {
    row_error_ = false;
    return absl::InvalidArgumentError(
        "a JSON array: ingest reads JSON lines, one telemetry.v1.Sample object per line (jq "
        "-c '.[]' FILE writes them)");
  }
  // A raw zero byte is no JSON, and no text may hold one (re-test: protobuf's parser took
  // it, and `--dry-run` called the line well-formed).
  if (const size_t nul = line.find('\0'); nul != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a zero byte (NUL) at byte ", nul + 1, " of the line: no value may hold one; remove it"));
  }
  if (absl::Status numbers = CheckJsonInput(line, sample->GetDescriptor()); !numbers.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a telemetry.v1.Sample in JSON: ", numbers.message()));
  }
  std::string without_units;
  if (absl::StrContains(line, "\"units\"")) {
    nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (object.is_object() && object.erase("units") > 0) {
      without_units = object.dump();
      line = without_units;
    }
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status =
      google::protobuf::util::JsonStringToMessage(std::string(line), sample, options);
  if (status.ok() && sample->has_number() && !std::isfinite(sample->number())) {
    return absl::InvalidArgumentError(
        "number: not a finite number (the server rejects it: NOT_FINITE)");
  }
  if (!status.ok()) {
    // An object that goes on past its line: pretty-printed JSON, whose every later line
    // would be said to be broken too (outside testing).
    try {
      const nlohmann::json parsed = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& error) {
      if (error.byte > line.size()) {  // at the end of the line
        row_error_ = false;
        return absl::InvalidArgumentError(
            "this object goes on past its line (pretty-printed JSON?): ingest reads JSON lines, "
            "one telemetry.v1.Sample object per line (jq -c . FILE writes them)");
      }
    } catch (const nlohmann::json::exception&) {
      // Well-formed JSON the parser cannot hold (a number beyond a double: outside testing,
      // 1e999 ended plantctl with an uncaught exception): protobuf's reason below.
    }
    return absl::InvalidArgumentError(
        absl::StrCat("not a telemetry.v1.Sample in JSON: ", status.message().ToString()));
  }
  return absl::OkStatus();
}

}  // namespace plantmesh::cli
