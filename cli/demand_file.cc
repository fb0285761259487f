#include "cli/demand_file.h"

#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "cli/decimal_number.h"
#include "cli/input_file.h"
#include "cli/sample_file.h"

namespace plantmesh::cli {
namespace {

// "YYYY-MM-DD" in form: four, two and two digits.
bool HasDateForm(absl::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

// A day that exists, for a `text` of HasDateForm within the contract's years (absl writes
// years below 1000 with fewer digits).
bool IsDay(absl::string_view text) {
  absl::CivilDay day;
  return absl::ParseCivilTime(text, &day) && absl::FormatCivilTime(day) == text;
}

}  // namespace

DemandReader::DemandReader(std::istream* in, std::string source)
    : in_(in), source_(std::move(source)) {}

absl::Status DemandReader::LineError(const std::string& column, const std::string& what) const {
  return absl::InvalidArgumentError(
      absl::StrCat(source_, ":", line_, ": ", column.empty() ? "" : column + ": ", what));
}

absl::Status DemandReader::ReadHeader(const std::string& text) {
  absl::StatusOr<std::vector<std::string>> names = SplitCsvLine(text);
  if (!names.ok()) return LineError("", std::string(names.status().message()));
  for (int i = 0; i < static_cast<int>(names->size()); ++i) {
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace((*names)[i]));
    int* column = name == "product_id" ? &product_column_
                  : name == "date"     ? &date_column_
                  : name == "quantity" ? &quantity_column_
                                       : nullptr;
    if (column == nullptr) {
      return LineError(
          "", absl::StrCat("unknown column ", QuoteInput(name),
                           ": the header is product_id,date,quantity", SeparatorHint(text)));
    }
    if (*column >= 0) return LineError("", absl::StrCat("column ", name, " given twice"));
    *column = i;
  }
  if (product_column_ < 0 || date_column_ < 0 || quantity_column_ < 0) {
    return LineError("", "the header must name product_id, date and quantity");
  }
  header_read_ = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> DemandReader::Next(::plantmesh::planning::v1::DemandRecord* record) {
  row_error_ = false;
  std::string text;
  while (std::getline(*in_, text)) {
    ++line_;
    bytes_read_ += static_cast<int64_t>(text.size()) + 1;
    if (line_ == 1) text = std::string(WithoutByteOrderMark(text));
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (absl::StripAsciiWhitespace(text).empty()) continue;
    if (!header_read_) {
      if (absl::Status header = ReadHeader(text); !header.ok()) return header;
      continue;
    }
    // Every error after the header is one line's: the next call reads the next line.
    row_error_ = true;
    absl::StatusOr<std::vector<std::string>> fields = SplitCsvLine(text);
    if (!fields.ok()) return LineError("", std::string(fields.status().message()));
    if (fields->size() != 3) {
      return LineError("", absl::StrCat(fields->size(), " fields, the header has 3"));
    }
    // Blanks around a field are no part of it, in every column (outside testing: a blank
    // before a quantity was taken, before a date refused).
    const std::string product(absl::StripAsciiWhitespace((*fields)[product_column_]));
    const std::string date(absl::StripAsciiWhitespace((*fields)[date_column_]));
    const std::string quantity_text(absl::StripAsciiWhitespace((*fields)[quantity_column_]));
    if (product.empty()) return LineError("product_id", "empty");
    // What an ASCII strip leaves (re-test: a no-break space passed a dry run, and a date
    // with a zero-width space was "not a date" of a value that showed as one).
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string*>{"product_id", &product}, {"date", &date}}) {
      if (std::string refusal = BlankAroundRefusal(*value); !refusal.empty()) {
        return LineError(name, std::move(refusal));
      }
    }
    if (!HasDateForm(date)) {
      return LineError("date", absl::StrCat(QuoteInput(date), " is not a date YYYY-MM-DD"));
    }
    // Fixed-width dates compare as text (outside testing: 0001-01-01 was "not a date
    // YYYY-MM-DD", 1899-12-31 outside the range).
    if (date < kFirstDemandDate || date > kLastDemandDate) {
      return LineError("date", absl::StrCat(QuoteInput(date), " is not within ", kFirstDemandDate,
                                            "..", kLastDemandDate));
    }
    if (!IsDay(date)) {
      return LineError("date", absl::StrCat(QuoteInput(date), " is not a day of the calendar"));
    }
    const std::optional<double> quantity = ParseDecimal(quantity_text);
    if (!quantity) {
      return LineError("quantity", absl::StrCat(QuoteInput(quantity_text), " ",
                                                NotDecimalReason(quantity_text)));
    }
    if (*quantity < 0 || *quantity > kMaxDemandQuantity) {
      return LineError("quantity", absl::StrCat(QuoteInput(quantity_text), " must be 0-",
                                                static_cast<int64_t>(kMaxDemandQuantity)));
    }
    record->Clear();
    record->set_product_id(product);
    record->set_date(date);
    record->set_quantity(*quantity);
    return true;
  }
  if (!header_read_) {
    ++line_;
    return LineError("", "no header: the first line must be product_id,date,quantity");
  }
  return false;
}

}  // namespace plantmesh::cli
