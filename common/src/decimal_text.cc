#include "plantmesh/common/decimal_text.h"

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

#include "absl/strings/ascii.h"

namespace plantmesh::common {

namespace {

// `text` without a leading '+' (std::from_chars reads none) when it starts as a decimal
// number does: an optional sign, then a digit or the point (std::from_chars would also
// read "inf" and "nan"); nullopt otherwise.
std::optional<absl::string_view> DecimalBody(absl::string_view text) {
  absl::string_view unsigned_part = text;
  if (!unsigned_part.empty() && (unsigned_part.front() == '+' || unsigned_part.front() == '-')) {
    unsigned_part.remove_prefix(1);
  }
  if (unsigned_part.empty() ||
      !(absl::ascii_isdigit(static_cast<unsigned char>(unsigned_part.front())) ||
        unsigned_part.front() == '.')) {
    return std::nullopt;
  }
  if (text.front() == '+') text.remove_prefix(1);
  return text;
}

}  // namespace

std::optional<double> ParseDecimal(absl::string_view text) {
  const std::optional<absl::string_view> body = DecimalBody(text);
  if (!body) return std::nullopt;
  double value = 0;
  const std::from_chars_result read =
      std::from_chars(body->data(), body->data() + body->size(), value, std::chars_format::general);
  // errc::result_out_of_range: beyond a double's range, or a non-zero value that underflows.
  if (read.ec != std::errc() || read.ptr != body->data() + body->size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value == 0 ? 0.0 : value;  // -0 reads as 0
}

bool BeyondADouble(absl::string_view text) {
  const std::optional<absl::string_view> body = DecimalBody(text);
  if (!body) return false;
  double value = 0;
  const std::from_chars_result read =
      std::from_chars(body->data(), body->data() + body->size(), value, std::chars_format::general);
  return read.ec == std::errc::result_out_of_range && read.ptr == body->data() + body->size();
}

std::string NotDecimalReason(absl::string_view text) {
  if (!BeyondADouble(text)) return "is not a decimal number";
  // Overflow or underflow: the exponent's sign says which.
  const size_t exponent = text.find_first_of("eE");
  const bool small = exponent != absl::string_view::npos && exponent + 1 < text.size() &&
                     text[exponent + 1] == '-';
  return small ? "is too close to 0 (under 2.2e-308) to be kept"
               : "is beyond a number's range (±1.8e308)";
}

}  // namespace plantmesh::common
