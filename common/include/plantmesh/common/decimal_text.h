// Decimal numbers as people write them in files and flags ("12", "-3.5", "1e6", ".5"),
// read strictly: what is not one is refused (or, in a sample file, read as text) instead
// of being read as some other number. absl::SimpleAtod and strtod also take hexadecimal
// ("0x10" is 16, "0x1p3" is 8), "inf" and "nan", and read what underflows ("1e-400")
// as 0; outside testing found a demand file's "0x10" stored as 16.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace plantmesh::common {

// `text`, with nothing around it (no spaces), as a finite double: an optional sign,
// decimal digits with an optional point, an optional exponent. Negative zero reads as 0.
// Nullopt for anything else, and for a value beyond a double's range or one that is
// not 0 but would read as 0.
std::optional<double> ParseDecimal(absl::string_view text);

// Whether `text` has a decimal number's form but is beyond a double's range, or is not 0
// and would read as 0: ParseDecimal refuses it for its size, not its form.
bool BeyondADouble(absl::string_view text);

// Why ParseDecimal refused `text`, after it: "is not a decimal number", or for one of the
// right form "is beyond a number's range (±1.8e308)" / "is too close to 0 (under 2.2e-308)
// to be kept" (outside testing: "1e400" was told it is no decimal number).
std::string NotDecimalReason(absl::string_view text);

}  // namespace plantmesh::common
