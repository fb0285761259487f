// ParseDecimal: what plantctl reads as a number in files and flags.
#include "cli/decimal_number.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

namespace plantmesh::cli {
namespace {

TEST(ParseDecimal, ReadsDecimalNumbersAsPeopleWriteThem) {
  EXPECT_EQ(ParseDecimal("12"), 12.0);
  EXPECT_EQ(ParseDecimal("-3.5"), -3.5);
  EXPECT_EQ(ParseDecimal("+7"), 7.0);
  EXPECT_EQ(ParseDecimal(".5"), 0.5);
  EXPECT_EQ(ParseDecimal("5."), 5.0);
  EXPECT_EQ(ParseDecimal("1.5e3"), 1500.0);
  EXPECT_EQ(ParseDecimal("-3E-2"), -0.03);
  EXPECT_EQ(ParseDecimal("1e-310"), 1e-310);  // subnormal, not 0
}

TEST(ParseDecimal, NegativeZeroReadsAsZero) {
  std::optional<double> zero = ParseDecimal("-0");
  ASSERT_TRUE(zero.has_value());
  EXPECT_EQ(*zero, 0.0);
  EXPECT_FALSE(std::signbit(*zero));
  EXPECT_FALSE(std::signbit(*ParseDecimal("-0.0e5")));
}

// Outside testing: strtod (absl::SimpleAtod) read "0x10" as 16 and "0x1p3" as 8.
TEST(ParseDecimal, RefusesWhatIsNotADecimalNumber) {
  for (const char* text :
       {"",   "0x10", "0X1F", "0x1p3", "inf", "-inf", "nan", "infinity", " 7",   "7 ",    "1,5",
        "1e", "e5",   ".",    "-",     "+",   "+-5",  "-+5", "--5",      "1e5x", "1_000", "١٢"}) {
    EXPECT_EQ(ParseDecimal(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(ParseDecimal, RefusesWhatADoubleCannotHold) {
  EXPECT_EQ(ParseDecimal("1e400"), std::nullopt);
  EXPECT_EQ(ParseDecimal("-1e400"), std::nullopt);
  EXPECT_EQ(ParseDecimal("1e-400"), std::nullopt);  // not 0, but would read as 0
  EXPECT_EQ(ParseDecimal("0e-400"), 0.0);           // 0 is 0
}

}  // namespace
}  // namespace plantmesh::cli
