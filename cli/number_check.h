// Checks of flag values, said in plantctl's words: numbers above 0 (CLI11's PositiveNumber
// answers "abc" and "-1" with "Value abc not in range 0.000000 to 1797693134862315708145..."
// (309 digits, outside testing)), whole numbers in a range, and on/off flags' booleans.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/decimal_number.h"
#include "plantmesh/common/boolean_text.h"

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

// A check for flags that take a whole number from `min` to `max`: decimal digits only
// (CLI11 alone reads "0x10" as 16 and "0b11" as 3, and answers "1e3" with "not in range";
// outside testing: "-5" was told it is no whole number, 0 "Value 0 not in range 1 to 10000").
inline CLI::Validator WholeNumberFrom(int64_t min, int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) {
        int64_t value = 0;
        if (IsWholeNumberText(text) && absl::SimpleAtoi(text, &value) && value >= min &&
            value <= max) {
          return std::string();
        }
        return absl::StrCat("\"", text, "\" must be a whole number in decimal digits, from ", min,
                            " to ", max);
      },
      absl::StrCat("INT in [", min, " - ", max, "]"));
}

// A check for flags without a value of their own (`--all`, `--insecure`): given one
// (`--insecure=false`), it is a boolean (common::ParseBooleanText), not whatever CLI11
// makes of it ("0x1" false, "2" true, "garbage" "Could not convert").
inline CLI::Validator BooleanFlagValue() {
  return CLI::Validator(
      [](std::string& text) {
        if (common::ParseBooleanText(text)) return std::string();
        return absl::StrCat("\"", text, "\" is not a boolean (true or false)");
      },
      "");
}

// BooleanFlagValue on every flag of `app` and its commands, each to be given once.
inline void CheckBooleanFlagValues(CLI::App* app) {
  for (CLI::Option* option : app->get_options([](CLI::Option*) { return true; })) {
    if (option->get_items_expected_max() == 0 && !option->get_lnames().empty() &&
        option->get_lnames().front() != "help" && option->get_lnames().front() != "version") {
      option->check(BooleanFlagValue());
      // Given twice is refused, not the last one taken (re-test: `--insecure --insecure`).
      option->multi_option_policy(CLI::MultiOptionPolicy::Throw);
    }
  }
  for (CLI::App* command : app->get_subcommands([](CLI::App*) { return true; })) {
    CheckBooleanFlagValues(command);
  }
}

}  // namespace plantmesh::cli
