// Decimal numbers as people write them in files and flags ("12", "-3.5", "1e6", ".5"),
// read strictly: what is not one is refused (or, in a sample file, read as text) instead
// of being read as some other number. absl::SimpleAtod and strtod also take hexadecimal
// ("0x10" is 16, "0x1p3" is 8), "inf" and "nan", and read what underflows ("1e-400")
// as 0; outside testing found a demand file's "0x10" stored as 16.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "plantmesh/common/decimal_text.h"

namespace plantmesh::cli {

// ParseDecimal and NotDecimalReason (plantmesh/common/decimal_text.h), which the server
// reads sample values by too.
using ::plantmesh::common::NotDecimalReason;
using ::plantmesh::common::ParseDecimal;

// Whether `text` is a whole number in decimal digits, with nothing around it: an
// optional '-', then one or more digits. absl::SimpleAtoi also takes '+' and blanks
// around (outside testing: `--page_size +5` and " 7" were taken, where the README says
// digits only).
bool IsWholeNumberText(absl::string_view text);

// `value` in the fewest decimal digits that read back as the same double (123456789.123,
// 3.141592653589793, 1e+300, nan, inf): what a table or CSV shows is the value itself.
// absl::StrCat keeps 6 significant digits (outside testing: 123456789.123 printed as
// 1.23457e+08 in `-o csv`).
std::string ExactDecimal(double value);
// A float's own shortest form (0.1f is 0.1, not 0.10000000149011612).
std::string ExactDecimal(float value);

}  // namespace plantmesh::cli
