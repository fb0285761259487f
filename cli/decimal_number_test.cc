// ParseDecimal: what plantctl reads as a number in files and flags.
#include "cli/decimal_number.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/json_input_check.h"
#include "cli/number_check.h"
#include "plantmesh/api/v1/error_details.pb.h"
#include "plantmesh/planning/v1/planning_service.pb.h"
#include "plantmesh/telemetry/v1/telemetry.pb.h"

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

// Outside testing: `-o csv` printed 123456789.123 as 1.23457e+08 and pi as 3.14159.
TEST(ExactDecimal, PrintsTheFewestDigitsThatReadBackAsTheSameValue) {
  EXPECT_EQ(ExactDecimal(123456789.123), "123456789.123");
  EXPECT_EQ(ExactDecimal(3.141592653589793), "3.141592653589793");
  EXPECT_EQ(ExactDecimal(1234567.0), "1234567");
  EXPECT_EQ(ExactDecimal(0.1), "0.1");
  EXPECT_EQ(ExactDecimal(1e300), "1e+300");
  EXPECT_EQ(ExactDecimal(0.1F), "0.1");
  for (double value : {123456789.123, 3.141592653589793, 2.2250738585072014e-308, -1e-7}) {
    EXPECT_EQ(ParseDecimal(ExactDecimal(value)), value);
  }
}

TEST(IsWholeNumberText, DigitsWithAnOptionalMinusOnly) {
  for (const char* whole : {"0", "7", "-12", "18446744073709551615"}) {
    EXPECT_TRUE(IsWholeNumberText(whole)) << whole;
  }
  for (const char* other : {"", "-", "+5", " 7", "7 ", "1e3", "0x10", "1,000", "1_000"}) {
    EXPECT_FALSE(IsWholeNumberText(other)) << other;
  }
}

// Outside testing: `--batch-size -5` was told "must be a whole number in decimal digits",
// and 0 in CLI11's words ("Value 0 not in range 1 to 10000").
TEST(WholeNumberFrom, SaysTheRangeForEveryValueOutsideIt) {
  const CLI::Validator batch_size = WholeNumberFrom(1, 10000);
  for (std::string taken : {"1", "500", "10000"}) EXPECT_EQ(batch_size(taken), "") << taken;
  for (std::string refused :
       {"-5", "0", "10001", "0x10", "+5", "1e3", "", "99999999999999999999"}) {
    EXPECT_EQ(batch_size(refused),
              absl::StrCat("\"", refused,
                           "\" must be a whole number in decimal digits, from 1 to "
                           "10000"));
  }
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
  // For its size, not its form: the server rejects such a written sample as out of range.
  for (const char* size : {"1e400", "-1e400", "1e-400"}) {
    EXPECT_TRUE(common::BeyondADouble(size)) << size;
  }
  EXPECT_THAT(NotDecimalReason("1e400"), ::testing::HasSubstr("beyond a number's range"));
  EXPECT_THAT(NotDecimalReason("1e-400"), ::testing::HasSubstr("too close to 0"));
  for (const char* form : {"0x10", "nan", "12", "", "1e"}) {
    EXPECT_FALSE(common::BeyondADouble(form)) << form;
  }
  EXPECT_EQ(NotDecimalReason("0x10"), "is not a decimal number");
}

// Outside testing: protobuf's JSON parser read the quoted numbers "0x10" as 16 and
// "1e-400" as 0 (JSON-lines sample files, --demand-json).
TEST(CheckJsonInput, RefusesWhatParseDecimalRefusesNamingTheField) {
  using ::testing::HasSubstr;
  const auto* sample = ::plantmesh::telemetry::v1::Sample::descriptor();
  EXPECT_TRUE(CheckJsonInput(R"({"machineId":"cnc07","number":12.5})", sample).ok());
  EXPECT_TRUE(CheckJsonInput(R"({"machineId":"cnc07","number":"12.5"})", sample).ok());
  EXPECT_TRUE(CheckJsonInput(R"({"number":"NaN"})", sample).ok());      // proto3 JSON's own
  EXPECT_TRUE(CheckJsonInput(R"({"machineId":"0x10"})", sample).ok());  // a text field
  EXPECT_TRUE(CheckJsonInput("{not json", sample).ok());  // protobuf names what is wrong
  absl::Status hex = CheckJsonInput(R"({"number":"0x10"})", sample);
  EXPECT_EQ(hex.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(hex.message(), "number: \"0x10\" is not a decimal number");
  EXPECT_THAT(CheckJsonInput(R"({"number":1e-400})", sample).message(),
              HasSubstr("number: 1e-400 is too close to 0 (under 2.2e-308) to be kept"));
  EXPECT_THAT(CheckJsonInput(R"({"source_sequence":"0x10"})", sample).message(),
              HasSubstr("source_sequence: \"0x10\""));

  // Nested and repeated fields are named by their path.
  const auto* propose = ::plantmesh::planning::v1::ProposePlanRequest::descriptor();
  EXPECT_TRUE(CheckJsonInput(R"({"demand":[{"productId":"A","quantity":"5"}]})", propose).ok());
  EXPECT_EQ(CheckJsonInput(R"({"demand":[{"productId":"A","quantity":1},)"
                           R"({"productId":"B","quantity":"0x1p3"}]})",
                           propose)
                .message(),
            "demand[1].quantity: \"0x1p3\" is not a decimal number");
  // Outside testing (sweep 61): `"create_drafts":"t"` wrote drafts.
  EXPECT_TRUE(CheckJsonInput(R"({"createDrafts":true})", propose).ok());
  EXPECT_EQ(CheckJsonInput(R"({"createDrafts":"t"})", propose).message(),
            "createDrafts: \"t\" is a string: a boolean is true or false, unquoted");
}

// Outside testing: a sample line naming its machine twice ("machineId" and "machine_id")
// was stored for one of the two; protobuf's parser keeps one value of a field given twice.
// Outside testing (AK F1): every level kept a copy of its path, so 60,000 nested objects
// (a 360 KB line) took gigabytes and aborted plantctl, and 3,000,000 ran the host out of
// memory. Beyond protobuf's 100 levels the walk stops at once.
TEST(CheckJsonInput, RefusesNestingBeyondProtobufsLimitAtOnce) {
  const auto* sample = ::plantmesh::telemetry::v1::Sample::descriptor();
  std::string deep;
  for (int i = 0; i < 1000000; ++i) deep += R"({"a":)";
  EXPECT_EQ(CheckJsonInput(deep, sample).message(),
            "nested deeper than 100 objects and arrays (protobuf reads no deeper)");
  EXPECT_EQ(CheckJsonInput(std::string(1000000, '['), sample).message(),
            "nested deeper than 100 objects and arrays (protobuf reads no deeper)");
  std::string fine;
  for (int i = 0; i < 99; ++i) fine += R"({"a":)";
  fine += "1" + std::string(99, '}');
  EXPECT_TRUE(CheckJsonInput(fine, sample).ok());
}

TEST(CheckJsonInput, RefusesAFieldGivenTwice) {
  const auto* sample = ::plantmesh::telemetry::v1::Sample::descriptor();
  EXPECT_EQ(CheckJsonInput(R"({"machineId":"CNC-07","machine_id":"CNC-08"})", sample).message(),
            "machine_id: the field is given twice (as \"machineId\" and \"machine_id\"); give it "
            "once");
  EXPECT_EQ(CheckJsonInput(R"({"dataItemId":"X","number":1,"dataItemId":"Y"})", sample).message(),
            "dataItemId: the field is given twice (as \"dataItemId\" and \"dataItemId\"); give "
            "it once");
  // Each object of a list has its own fields; an unknown key twice is protobuf's to refuse.
  const auto* propose = ::plantmesh::planning::v1::ProposePlanRequest::descriptor();
  EXPECT_TRUE(CheckJsonInput(R"({"demand":[{"productId":"A"},{"productId":"B"}]})", propose).ok());
  EXPECT_EQ(CheckJsonInput(R"({"demand":[{"productId":"A"},{"productId":"B","product_id":"C"}]})",
                           propose)
                .message(),
            "demand[1].product_id: the field is given twice (as \"productId\" and \"product_id\"); "
            "give it once");
  // A map's key twice (no request has a map yet; ErrorInfo's metadata is one).
  const auto* info = ::plantmesh::api::v1::ErrorInfo::descriptor();
  EXPECT_TRUE(CheckJsonInput(R"({"metadata":{"a":"1","b":"2"}})", info).ok());
  EXPECT_EQ(CheckJsonInput(R"({"metadata":{"a":"1","a":"2"}})", info).message(),
            "metadata[\"a\"]: the key is given twice; give it once");
}

}  // namespace
}  // namespace plantmesh::cli
