#include "cli/demand_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

namespace plantmesh::cli {
namespace {

namespace v1 = ::plantmesh::planning::v1;

absl::StatusOr<std::vector<v1::DemandRecord>> ReadAll(const std::string& text) {
  std::istringstream in(text);
  DemandReader reader(&in, "demand.csv");
  std::vector<v1::DemandRecord> records;
  v1::DemandRecord record;
  while (true) {
    absl::StatusOr<bool> next = reader.Next(&record);
    if (!next.ok()) return next.status();
    if (!*next) return records;
    records.push_back(record);
  }
}

TEST(DemandFileTest, ReadsColumnsInAnyOrderWithCrlfAndBlankLines) {
  absl::StatusOr<std::vector<v1::DemandRecord>> records = ReadAll(
      "date,quantity,product_id\r\n2025-01-06,12.5,GRANOLA-500G\r\n\r\n"
      "2025-01-07,0,\"MUESLI-1KG\"\n");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].product_id(), "GRANOLA-500G");
  EXPECT_EQ((*records)[0].date(), "2025-01-06");
  EXPECT_EQ((*records)[0].quantity(), 12.5);
  EXPECT_EQ((*records)[1].product_id(), "MUESLI-1KG");
  EXPECT_EQ((*records)[1].quantity(), 0.0);
}

// Outside testing: a "CSV UTF-8" file from a spreadsheet program (a byte order mark in
// front) was refused as `unknown column "\uFEFFproduct_id"`.
TEST(DemandFileTest, ReadsAFileWithAByteOrderMarkAndNegativeZeroAsZero) {
  absl::StatusOr<std::vector<v1::DemandRecord>> records =
      ReadAll("\xEF\xBB\xBFproduct_id,date,quantity\r\nGRANOLA-500G,2025-01-06,-0\r\n");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].quantity(), 0.0);
  EXPECT_FALSE(std::signbit((*records)[0].quantity()));
}

// Outside testing: a blank before a quantity was taken, before a date refused; and a file
// with CR-only line ends was refused for a column named "quantityx1".
TEST(DemandFileTest, BlanksAroundAFieldAreNoPartOfItAndCrOnlyLineEndsAreNamed) {
  absl::StatusOr<std::vector<v1::DemandRecord>> records =
      ReadAll("product_id, date, quantity\n GRANOLA-500G , 2025-01-06 , 16 \n");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].product_id(), "GRANOLA-500G");
  EXPECT_EQ((*records)[0].date(), "2025-01-06");
  EXPECT_EQ((*records)[0].quantity(), 16.0);
  // Re-test: a blank before a quote kept the quotes as data (a product id `"X1"`).
  records = ReadAll("product_id,date,quantity\n \"GRANOLA-500G\" , \"2025-01-06\" ,\"16\"\n");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].product_id(), "GRANOLA-500G");
  EXPECT_EQ((*records)[0].date(), "2025-01-06");
  records = ReadAll("product_id,date,quantity\rX1,2025-01-06,16\r");
  ASSERT_FALSE(records.ok());
  EXPECT_THAT(std::string(records.status().message()),
              ::testing::StartsWith("demand.csv:1: a carriage return inside the line: the file's "
                                    "lines end in CR alone"));
}

TEST(DemandFileTest, ABadRowNamesTheLineAndTheColumn) {
  const std::string header = "product_id,date,quantity\n";
  const std::string good = "GRANOLA-500G,2025-01-06,1\n";
  struct Case {
    std::string row, message;
  };
  for (const Case& c : {
           Case{"GRANOLA-500G,2025-01-07,-3",
                "demand.csv:3: quantity: \"-3\" must be 0-1000000000"},
           Case{"GRANOLA-500G,2025-01-07,1000000001",
                "demand.csv:3: quantity: \"1000000001\" must be 0-1000000000"},
           // Outside testing: strtod read these as 16, 8 and 0.
           Case{"GRANOLA-500G,2025-01-07,0x10",
                "demand.csv:3: quantity: \"0x10\" is not a decimal number"},
           Case{"GRANOLA-500G,2025-01-07,0x1p3",
                "demand.csv:3: quantity: \"0x1p3\" is not a decimal number"},
           Case{"GRANOLA-500G,2025-01-07,1e-400",
                "demand.csv:3: quantity: \"1e-400\" is too close to 0 (under 2.2e-308) to be kept"},
           // Outside testing: "1e400" was told it is no decimal number.
           Case{"GRANOLA-500G,2025-01-07,1e400",
                "demand.csv:3: quantity: \"1e400\" is beyond a number's range (±1.8e308)"},
           // Outside testing: passed --dry-run, then the server refused it (exit 13).
           Case{"GRANOLA-500G,1899-12-31,1",
                "demand.csv:3: date: \"1899-12-31\" is not within 1900-01-01..9990-12-31"},
           Case{"GRANOLA-500G,9991-01-01,1",
                "demand.csv:3: date: \"9991-01-01\" is not within 1900-01-01..9990-12-31"},
           // Outside testing: a year below 1000 was "not a date YYYY-MM-DD".
           Case{"GRANOLA-500G,0001-01-01,1",
                "demand.csv:3: date: \"0001-01-01\" is not within 1900-01-01..9990-12-31"},
           Case{"GRANOLA-500G,2025-02-30,1",
                "demand.csv:3: date: \"2025-02-30\" is not a day of the calendar"},
           Case{"GRANOLA-500G,07.01.2025,1",
                "demand.csv:3: date: \"07.01.2025\" is not a date YYYY-MM-DD"},
           Case{"GRANOLA-500G,2025-01-07,many",
                "demand.csv:3: quantity: \"many\" is not a decimal number"},
           Case{"GRANOLA-500G,2025-01-07,nan",
                "demand.csv:3: quantity: \"nan\" is not a decimal number"},
           Case{",2025-01-07,1", "demand.csv:3: product_id: empty"},
           // Re-test: a no-break space passed --dry-run, and a zero-width space after a date
           // was "not a date" of a value that showed as one.
           Case{"GRANOLA-500G\u00A0,2025-01-07,1",
                "demand.csv:3: product_id: \"GRANOLA-500G\\u00A0\" ends with U+00A0 (NO-BREAK "
                "SPACE) (the server refuses it)"},
           Case{"GRANOLA-500G,2025-01-07\u200B,1",
                "demand.csv:3: date: \"2025-01-07\\u200B\" ends with U+200B (ZERO WIDTH SPACE) "
                "(the server refuses it)"},
           Case{"GRANOLA-500G,2025-01-07", "demand.csv:3: 2 fields, the header has 3"},
           // Outside testing: passed --dry-run, then the server refused the whole import.
           Case{"GRAN\xFFOLA,2025-01-07,1",
                "demand.csv:3: not valid UTF-8 (byte 0xFF at byte 5 of the line); save the "
                "file as UTF-8"},
       }) {
    absl::StatusOr<std::vector<v1::DemandRecord>> records = ReadAll(header + good + c.row + "\n");
    EXPECT_EQ(records.status().code(), absl::StatusCode::kInvalidArgument) << c.row;
    EXPECT_EQ(records.status().message(), c.message);
  }
}

TEST(DemandFileTest, TheHeaderIsChecked) {
  EXPECT_EQ(ReadAll("product_id,date\n").status().message(),
            "demand.csv:1: the header must name product_id, date and quantity");
  EXPECT_EQ(ReadAll("product_id,date,quantity,unit\n").status().message(),
            "demand.csv:1: unknown column \"unit\": the header is product_id,date,quantity");
  EXPECT_EQ(ReadAll("").status().message(),
            "demand.csv:1: no header: the first line must be product_id,date,quantity");
}

// Outside testing: a file check stopped at its first bad row. After a row's error the
// reader goes on with the next row; after a header error it cannot. A header of
// semicolon-separated columns is named as such.
TEST(DemandFileTest, AfterABadRowReadingGoesOnAfterABadHeaderItCannot) {
  std::istringstream in(
      "product_id,date,quantity\nA,2025-01-6,1\nA,2025-01-06,x\nA,2025-01-07,2\n");
  DemandReader reader(&in, "demand.csv");
  v1::DemandRecord record;
  std::vector<std::string> errors;
  std::vector<std::string> dates;
  while (true) {
    absl::StatusOr<bool> next = reader.Next(&record);
    if (!next.ok()) {
      ASSERT_TRUE(reader.row_error()) << next.status();
      errors.emplace_back(next.status().message());
      continue;
    }
    if (!*next) break;
    dates.push_back(record.date());
  }
  EXPECT_THAT(errors,
              ::testing::ElementsAre("demand.csv:2: date: \"2025-01-6\" is not a date YYYY-MM-DD",
                                     "demand.csv:3: quantity: \"x\" is not a decimal number"));
  EXPECT_THAT(dates, ::testing::ElementsAre("2025-01-07"));

  std::istringstream semicolons("product_id;date;quantity\nA;2025-01-06;1\n");
  DemandReader header(&semicolons, "demand.csv");
  absl::StatusOr<bool> next = header.Next(&record);
  EXPECT_FALSE(next.ok());
  EXPECT_FALSE(header.row_error());
  EXPECT_THAT(std::string(next.status().message()),
              ::testing::HasSubstr("columns are separated by commas, and this line has "
                                   "semicolons"));
}

}  // namespace
}  // namespace plantmesh::cli
