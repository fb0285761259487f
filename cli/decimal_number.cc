#include "cli/decimal_number.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace plantmesh::cli {

bool IsWholeNumberText(absl::string_view text) {
  if (absl::StartsWith(text, "-")) text.remove_prefix(1);
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

namespace {

template <typename Floating>
std::string Shortest(Floating value) {
  char buffer[32];  // the longest shortest form: "-2.2250738585072014e-308"
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

}  // namespace

std::string ExactDecimal(double value) { return Shortest(value); }
std::string ExactDecimal(float value) { return Shortest(value); }

}  // namespace plantmesh::cli
