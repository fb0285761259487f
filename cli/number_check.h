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

}  // namespace plantmesh::cli
