// How a boolean is written in a flag, an environment variable or a setting.
#pragma once

#include <optional>
#include <string_view>

#include "absl/strings/ascii.h"

namespace plantmesh::common {

// true or false, or the spellings people use for them (1/0, yes/no, on/off), in any case;
// nullopt for anything else, the empty text included (CLI11 alone read "0x1" and "-1" as
// false, "2" as true, and `--insecure=` as true: outside testing, `--create_drafts=$FLAG`
// with the variable unset wrote draft plans).
inline std::optional<bool> ParseBooleanText(std::string_view text) {
  const std::string lower = absl::AsciiStrToLower(std::string(text));
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  return std::nullopt;
}

}  // namespace plantmesh::common
