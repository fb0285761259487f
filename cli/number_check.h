// A check for flags that take a number above 0. CLI11's PositiveNumber answers "abc" and
// "-1" with "Value abc not in range 0.000000 to 1797693134862315708145..." (309 digits,
// outside testing); this says what the flag takes.
#pragma once

#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "cli/decimal_number.h"

namespace plantmesh::cli {

// `what`: what the number counts, e.g. "seconds" ("must be a number of seconds above 0").
inline CLI::Validator AboveZero(const std::string& what) {
  return CLI::Validator(
      [what](std::string& text) {
        const std::optional<double> value = ParseDecimal(text);
        if (value && *value > 0) return std::string();
        return absl::StrCat("\"", text, "\" must be a number of ", what, " above 0");
      },
      absl::StrCat(what, " > 0"));
}

// A check for flags that take a whole number: decimal digits only (CLI11 alone reads
// "0x10" as 16 and "0b11" as 3, and answers "1e3" with "not in range").
inline CLI::Validator DecimalWholeNumber() {
  return CLI::Validator(
      [](std::string& text) {
        const bool digits =
            !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        return digits ? std::string()
                      : absl::StrCat("\"", text, "\" must be a whole number in decimal digits");
      },
      "");
}

}  // namespace plantmesh::cli
