// The sample files of `plantctl telemetry ingest`: CSV (header, quoting, kinds, times)
// and JSON lines; every bad row is an error naming its line and field.
#include "cli/sample_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

namespace plantmesh::cli {
namespace {

namespace tv1 = ::plantmesh::telemetry::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every sample of `text`, or the first error.
absl::StatusOr<std::vector<tv1::Sample>> ReadAll(const std::string& text, SampleFileFormat format) {
  std::istringstream in(text);
  SampleReader reader(&in, "samples.csv", format);
  std::vector<tv1::Sample> samples;
  tv1::Sample sample;
  while (true) {
    absl::StatusOr<bool> next = reader.Next(&sample);
    if (!next.ok()) return next.status();
    if (!*next) return samples;
    samples.push_back(sample);
  }
}

std::string ErrorOf(const std::string& text, SampleFileFormat format = SampleFileFormat::kCsv) {
  absl::StatusOr<std::vector<tv1::Sample>> samples = ReadAll(text, format);
  EXPECT_FALSE(samples.ok());
  if (samples.ok()) return "";
  EXPECT_EQ(samples.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(samples.status().message());
}

TEST(SplitCsvLine, QuotesCommasAndCrlf) {
  EXPECT_THAT(*SplitCsvLine("a,b,c"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(*SplitCsvLine("a,\"b,1\",\"say \"\"hi\"\"\"\r"),
              ElementsAre("a", "b,1", "say \"hi\""));
  EXPECT_THAT(*SplitCsvLine("a,,"), ElementsAre("a", "", ""));
  EXPECT_THAT(*SplitCsvLine(""), ElementsAre(""));
  EXPECT_THAT(SplitCsvLine("a,\"b").status().message(), HasSubstr("unterminated"));
  EXPECT_THAT(SplitCsvLine("a,\"b\"c").status().message(), HasSubstr("after the closing quote"));
}

// Outside testing: a UTF-16 file (Excel's "Unicode Text") with CRLF line ends was said to
// end its lines in CR alone. Its encoding is named, whatever its line ends.
TEST(SplitCsvLine, UTF16IsNamedBeforeTheLineEnds) {
  using std::string_literals::operator""s;
  const std::string first = "\xFF\xFEp\0r\0o\0d\0\r\0"s;  // "prod" and CR, UTF-16LE
  EXPECT_THAT(SplitCsvLine(first).status().message(), HasSubstr("UTF-16 or UTF-32 text"));
  EXPECT_THAT(SplitCsvLine("\0p\0r\0o\0d\0\r"s).status().message(),
              HasSubstr("UTF-16 or UTF-32 text"));
  EXPECT_THAT(SplitCsvLine("\xFE\xFF\0p"s).status().message(), HasSubstr("UTF-16 or UTF-32 text"));
  EXPECT_THAT(SplitCsvLine("a\xFF\rb").status().message(), HasSubstr("not valid UTF-8"));
  // Outside testing: one NUL in UTF-8 text was called UTF-16, with no place.
  EXPECT_EQ(SplitCsvLine("P\0001,2026-10-02,5"s).status().message(),
            "a zero byte (NUL) at byte 2 of the line: no value may hold one; remove it");
  // Re-test: a line of zero bytes only (a logger's file after a power cut).
  EXPECT_EQ(SplitCsvLine(std::string(512, '\0')).status().message(),
            "a line of 512 zero bytes (NUL; a file cut short by a power loss?): remove it");
  EXPECT_THAT(SplitCsvLine("a\rb").status().message(), HasSubstr("CR alone"));
}

// Outside testing: --dry-run passed NaN, inf and a year-0 time, which the server then
// rejected in every row. They are bad rows of the file.
TEST(SampleReader, WhatTheServerWouldRejectForItsFormIsABadRow) {
  const std::string header = "machine_id,data_item_id,time,value,kind\n";
  EXPECT_THAT(
      ErrorOf(header + "cnc07,Xload,2024-05-01T10:00:05Z,nan,number\n", SampleFileFormat::kCsv),
      HasSubstr("samples.csv:2: value: \"nan\" is not a finite number"));
  EXPECT_THAT(ErrorOf(header + "cnc07,Xload,2024-05-01T10:00:05Z,-Infinity,number\n",
                      SampleFileFormat::kCsv),
              HasSubstr("is not a finite number"));
  EXPECT_THAT(
      ErrorOf(header + "cnc07,Xload,0000-12-31T23:59:59Z,1,number\n", SampleFileFormat::kCsv),
      HasSubstr("is outside the times a sample holds (0001-01-01 to 9999-12-31)"));
  EXPECT_THAT(ErrorOf("{\"machineId\":\"cnc07\",\"dataItemId\":\"Xload\",\"time\":"
                      "\"2024-05-01T10:00:00Z\",\"number\":\"NaN\"}\n",
                      SampleFileFormat::kJsonLines),
              HasSubstr("number: not a finite number"));
  // Outside testing: a number beyond a double ended plantctl with an uncaught exception.
  EXPECT_THAT(ErrorOf("{\"machineId\":\"cnc07\",\"dataItemId\":\"Xload\",\"time\":"
                      "\"2024-05-01T10:00:00Z\",\"number\":1e999}\n",
                      SampleFileFormat::kJsonLines),
              HasSubstr("samples.csv:1:"));
}

// Re-test: an id with a no-break space around it was "well-formed" in a dry run, and
// every server refused it.
TEST(SampleReader, AnIdWithAnInvisibleCharacterAroundItIsABadRow) {
  const std::string header = "machine_id,data_item_id,time,value,kind\n";
  EXPECT_THAT(ErrorOf(header + "cnc07,exec\u00A0,2024-05-01T10:00:05Z,ACTIVE,text\n",
                      SampleFileFormat::kCsv),
              HasSubstr("samples.csv:2: data_item_id: \"exec\\u00A0\" ends with U+00A0 "
                        "(NO-BREAK SPACE) (the server refuses it)"));
  EXPECT_THAT(ErrorOf("{\"machineId\":\"\u200Bcnc07\",\"dataItemId\":\"Xload\",\"time\":"
                      "\"2024-05-01T10:00:00Z\",\"number\":1}\n",
                      SampleFileFormat::kJsonLines),
              HasSubstr("machine_id: \"\\u200Bcnc07\" begins with U+200B"));
}

TEST(SampleReader, CsvWithEveryKind) {
  const std::string text =
      "machine_id,data_item_id,time,value,kind,source_sequence\r\n"
      "cnc07,Xload,2024-05-01T10:00:00.25Z,12.5,,17\r\n"
      "cnc07,execution,2024-05-01T12:00:00+02:00,ACTIVE,,\r\n"
      "\r\n"
      "cnc07,part_count,2024-05-01T10:00:01Z,42,text,\r\n"
      "cnc07,servo,2024-05-01T10:00:02Z,\"fault:SV0401:SERVO ALARM: V-READY OFF\",condition,\r\n"
      "cnc07,Xload,2024-05-01T10:00:03Z,UNAVAILABLE,,\r\n"
      "cnc07,Xload,2024-05-01T10:00:04Z,,unavailable,\r\n"
      "cnc07,Xload,2024-05-01T10:00:05Z,-7,NUMBER,\r\n"
      "cnc07,program,2024-05-01T10:00:06Z,,text,\r\n";
  absl::StatusOr<std::vector<tv1::Sample>> samples = ReadAll(text, SampleFileFormat::kCsv);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 8u);
  const tv1::Sample& first = (*samples)[0];
  EXPECT_EQ(first.machine_id(), "cnc07");
  EXPECT_EQ(first.data_item_id(), "Xload");
  EXPECT_EQ(first.time().seconds(), 1714557600);
  EXPECT_EQ(first.time().nanos(), 250'000'000);
  EXPECT_EQ(first.written(), "12.5");  // no kind: the server reads it by the item
  EXPECT_EQ(first.source_sequence(), 17u);
  EXPECT_EQ((*samples)[1].written(), "ACTIVE");
  EXPECT_EQ((*samples)[1].time().seconds(), 1714557600);  // 12:00 at +02:00
  EXPECT_EQ((*samples)[2].text(), "42");                  // kind text keeps digits text
  EXPECT_EQ((*samples)[3].condition().level(), tv1::CONDITION_LEVEL_FAULT);
  EXPECT_EQ((*samples)[3].condition().native_code(), "SV0401");
  EXPECT_EQ((*samples)[3].condition().message(), "SERVO ALARM: V-READY OFF");
  EXPECT_TRUE((*samples)[4].has_unavailable());
  EXPECT_TRUE((*samples)[5].has_unavailable());
  EXPECT_EQ((*samples)[6].number(), -7);
  EXPECT_TRUE((*samples)[7].has_text());
  EXPECT_EQ((*samples)[7].text(), "");
}

// Outside testing: MTConnect agents' exports write `Unavailable` (the condition element's
// name), which was guessed as a text and refused by the server; with kind condition the
// message did not say a condition may be unavailable.
TEST(SampleReader, UnavailableInAnyCaseIsNoData) {
  const std::string text =
      "machine_id,data_item_id,time,value,kind\n"
      "cnc07,Sspeed,2024-05-01T10:00:00Z,Unavailable,\n"
      "cnc07,servo,2024-05-01T10:00:01Z,unavailable,condition\n"
      "cnc07,servo,2024-05-01T10:00:02Z,Unavailable,unavailable\n";
  absl::StatusOr<std::vector<tv1::Sample>> samples = ReadAll(text, SampleFileFormat::kCsv);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 3u);
  for (const tv1::Sample& s : *samples) EXPECT_TRUE(s.has_unavailable()) << s.DebugString();
  absl::StatusOr<std::vector<tv1::Sample>> bad = ReadAll(
      "machine_id,data_item_id,time,value,kind\ncnc07,servo,2024-05-01T10:00:01Z,"
      "broken,condition\n",
      SampleFileFormat::kCsv);
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("or unavailable"));
  bad = ReadAll(
      "machine_id,data_item_id,time,value,kind\ncnc07,servo,2024-05-01T10:00:01Z,"
      "unavailable:SV0401,condition\n",
      SampleFileFormat::kCsv);
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::HasSubstr("unavailable takes no native code or message"));
}

// Spreadsheet programs write "CSV UTF-8" with a byte order mark in front.
TEST(SampleReader, CsvWithAByteOrderMarkAndHexadecimalText) {
  absl::StatusOr<std::vector<tv1::Sample>> samples = ReadAll(
      "\xEF\xBB\xBFmachine_id,data_item_id,time,value\r\n"
      "cnc07,program,2024-05-01T10:00:00Z,0x10\r\n"
      "cnc07,Xload,2024-05-01T10:00:01Z,-0\r\n",
      SampleFileFormat::kCsv);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[0].written(), "0x10");
  EXPECT_EQ((*samples)[1].written(), "-0");
  EXPECT_EQ(GuessSampleFileFormat("-", "\xEF\xBB\xBF{\"machineId\":\"cnc07\"}"),
            SampleFileFormat::kJsonLines);
}

// Outside testing: ` 23.5 ` was sent as text (a SAMPLE item rejected it), and a file with
// CR-only line ends was refused for a column "valuex1". Blanks around a field are no part
// of it but in a text value; a CR inside a line is named.
TEST(SampleReader, BlanksAroundFieldsAndCrOnlyLineEnds) {
  absl::StatusOr<std::vector<tv1::Sample>> samples = ReadAll(
      "machine_id , data_item_id,time,value,kind,source_sequence\n"
      " cnc07 , Xload ,2024-05-01T10:00:00Z, 23.5 ,, 7 \n"
      "cnc07,Xmode,2024-05-01T10:00:00Z, AUTO ,text,\n"
      "cnc07,Xmode,2024-05-01T10:00:01Z, AUTO , ,\n"
      "cnc07,Xload,2024-05-01T10:00:02Z, -1e3 , number ,\n"
      "cnc07,Xload,2024-05-01T10:00:03Z, unavailable ,,\n"
      // Re-test: a blank before a quote kept the quotes as data, and split a quoted comma.
      "cnc07, Xmode, 2024-05-01T10:00:04Z, \"ACTIVE\" ,,\n"
      "cnc07, Xprog, 2024-05-01T10:00:05Z, \"O1234, rev A\",text,\n"
      "\"cnc07\" ,Xload,2024-05-01T10:00:06Z, \"23.5\",,\n",
      SampleFileFormat::kCsv);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 8u);
  EXPECT_EQ((*samples)[5].written(), "ACTIVE");
  EXPECT_EQ((*samples)[6].text(), "O1234, rev A");
  EXPECT_EQ((*samples)[7].machine_id(), "cnc07");
  EXPECT_EQ((*samples)[7].written(), "23.5");
  EXPECT_EQ((*samples)[0].machine_id(), "cnc07");
  EXPECT_EQ((*samples)[0].data_item_id(), "Xload");
  EXPECT_EQ((*samples)[0].written(), " 23.5 ");  // the server reads a SAMPLE's without them
  EXPECT_EQ((*samples)[0].source_sequence(), 7u);
  EXPECT_EQ((*samples)[1].text(), " AUTO ");     // kind text: as it is
  EXPECT_EQ((*samples)[2].written(), " AUTO ");  // no kind: as it is
  EXPECT_EQ((*samples)[3].number(), -1000);
  EXPECT_TRUE((*samples)[4].has_unavailable());
  EXPECT_THAT(ErrorOf("machine_id,data_item_id,time,value\rcnc07,Xload,2024-05-01T10:00:00Z,1\r"),
              HasSubstr("samples.csv:1: a carriage return inside the line: the file's lines end "
                        "in CR alone"));
}

// Outside testing: without a kind column, a PROGRAM event `0012` was stored as the number
// 12, `1e3` as 1000 and `+7` as 7; read from the catalog instead, a category changed during
// the ingest was not seen. A value without a kind is sent as written, for the server to
// read by the item's category as it stands when the batch is stored.
TEST(SampleReader, AValueWithoutAKindIsSentAsWritten) {
  absl::StatusOr<std::vector<tv1::Sample>> samples = ReadAll(
      "machine_id,data_item_id,time,value,kind\n"
      "cnc07,program,2024-05-01T10:00:00Z, 0012,\n"
      "cnc07,program,2024-05-01T10:00:01Z,1e3,number\n"
      "cnc07,program,2024-05-01T10:00:02Z,UNAVAILABLE,\n"
      "cnc07,servo,2024-05-01T10:00:03Z,fault:SV0401:ALARM,\n",
      SampleFileFormat::kCsv);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 4u);
  EXPECT_EQ((*samples)[0].written(), " 0012");  // blanks and all: an EVENT keeps them
  EXPECT_EQ((*samples)[1].number(), 1000);      // the kind said number
  EXPECT_TRUE((*samples)[2].has_unavailable());
  EXPECT_EQ((*samples)[3].written(), "fault:SV0401:ALARM");
  // Written back for a file with no kind, so that it reads as written again.
  const SampleFileValue back = SampleFileValueOf((*samples)[0]);
  EXPECT_EQ(back.value, " 0012");
  EXPECT_EQ(back.kind, "");
}

TEST(SampleReader, CsvColumnsInAnyOrder) {
  absl::StatusOr<std::vector<tv1::Sample>> samples =
      ReadAll("time,value,data_item_id,machine_id\n2024-05-01T10:00:00Z,1,Xload,cnc07\n",
              SampleFileFormat::kCsv);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 1u);
  EXPECT_EQ((*samples)[0].machine_id(), "cnc07");
  EXPECT_EQ((*samples)[0].written(), "1");
}

TEST(SampleReader, BadCsvRowsNameTheLineAndField) {
  const std::string header = "machine_id,data_item_id,time,value,kind\n";
  EXPECT_EQ(ErrorOf(header +
                    "cnc07,Xload,2024-05-01T10:00:00Z,1,\ncnc07,Xload,2024-13-01T00:00:00Z,1,\n"),
            "samples.csv:3: time: \"2024-13-01T00:00:00Z\" is not an RFC 3339 time (e.g. "
            "2024-05-01T10:00:00Z)");
  EXPECT_THAT(ErrorOf(header + "cnc07,Xload,2024-05-01 10:00:00,1,\n"),
              HasSubstr("samples.csv:2: time:"));
  // Outside testing: absl took an offset without its colon and second 60 (moved into the
  // next minute). RFC 3339's date-time only (blanks around a field are no part of it).
  for (const char* lax : {"2024-05-01 T10:00:00Z", "2024-05-01T10:00:00+0200",
                          "2024-05-01T10:00:60Z", "2024-05-01T10:00:00.Z", "2024-05-01T10:00Z"}) {
    EXPECT_THAT(ErrorOf(header + "cnc07,Xload," + lax + ",1,\n"), HasSubstr("samples.csv:2: time:"))
        << lax;
  }
  for (const char* strict : {"2024-05-01T10:00:00.250+02:00", "2024-05-01t10:00:00z",
                             " 2024-05-01T10:00:00Z ", "2024-05-01T10:00:59.999999999-05:30"}) {
    EXPECT_TRUE(ReadAll(header + "cnc07,Xload," + strict + ",1,\n", SampleFileFormat::kCsv).ok())
        << strict;
  }
  EXPECT_EQ(ErrorOf(header + "cnc07,Xload,2024-05-01T10:00:00Z,abc,number\n"),
            "samples.csv:2: value: \"abc\" is not a decimal number");
  EXPECT_EQ(ErrorOf(header + "cnc07,Xload,2024-05-01T10:00:00Z,0x10,number\n"),
            "samples.csv:2: value: \"0x10\" is not a decimal number");
  EXPECT_THAT(ErrorOf(header + "cnc07,Xload,2024-05-01T10:00:00Z,1,boolean\n"),
              HasSubstr("samples.csv:2: kind: \"boolean\" is not one of"));
  EXPECT_THAT(ErrorOf(header + "cnc07,Xload,2024-05-01T10:00:00Z,,\n"),
              HasSubstr("samples.csv:2: value: empty"));
  EXPECT_THAT(ErrorOf(header + "cnc07,Xload,2024-05-01T10:00:00Z,broken:x,condition\n"),
              HasSubstr("samples.csv:2: value: \"broken\" is not a condition level"));
  EXPECT_THAT(ErrorOf(header + "cnc07,Xload,2024-05-01T10:00:00Z,3,unavailable\n"),
              HasSubstr("samples.csv:2: value: \"3\" given with kind unavailable"));
  EXPECT_EQ(ErrorOf(header + "\ncnc07,Xload,2024-05-01T10:00:00Z\n"),
            "samples.csv:3: 3 fields where the header has 5 columns");
  EXPECT_EQ(ErrorOf(header + ",Xload,2024-05-01T10:00:00Z,1,\n"),
            "samples.csv:2: machine_id: empty");
  // Outside testing: passed --dry-run, then the server refused the whole batch.
  EXPECT_EQ(ErrorOf(header + "cnc07,X\xC3(,2024-05-01T10:00:00Z,1,\n"),
            "samples.csv:2: not valid UTF-8 (byte 0xC3 at byte 8 of the line); save the file "
            "as UTF-8");
  EXPECT_THAT(ErrorOf(header + "cnc07,\"Xload,2024-05-01T10:00:00Z,1,\n"),
              HasSubstr("samples.csv:2: field 2: unterminated quoted field"));
  EXPECT_THAT(ErrorOf("machine_id,data_item_id,time,value,source_sequence\n"
                      "cnc07,Xload,2024-05-01T10:00:00Z,1,-4\n"),
              HasSubstr("samples.csv:2: source_sequence: \"-4\""));
}

TEST(SampleReader, BadCsvHeaders) {
  EXPECT_THAT(ErrorOf("machine_id,data_item_id,time\n"),
              HasSubstr("samples.csv:1: header: missing column value"));
  EXPECT_THAT(ErrorOf("machine_id,data_item_id,time,value,colour\n"),
              HasSubstr("samples.csv:1: header: unknown column \"colour\""));
  EXPECT_THAT(ErrorOf("machine_id,data_item_id,time,value,time\n"),
              HasSubstr("column \"time\" twice"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("samples.csv: empty"));
}

TEST(SampleReader, JsonLines) {
  const std::string text =
      "{\"machineId\":\"cnc07\",\"dataItemId\":\"Xload\",\"time\":\"2024-05-01T10:00:00Z\","
      "\"number\":12.5,\"sourceSequence\":\"9\"}\n"
      "\n"
      "{\"machine_id\":\"cnc07\",\"data_item_id\":\"avail\",\"time\":\"2024-05-01T10:00:01Z\","
      "\"unavailable\":{}}\n";
  absl::StatusOr<std::vector<tv1::Sample>> samples = ReadAll(text, SampleFileFormat::kJsonLines);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[0].number(), 12.5);
  EXPECT_EQ((*samples)[0].source_sequence(), 9u);
  EXPECT_TRUE((*samples)[1].has_unavailable());
  EXPECT_THAT(
      ErrorOf(text + "{\"machineId\":\"cnc07\",\"colour\":1}\n", SampleFileFormat::kJsonLines),
      HasSubstr("samples.csv:4: not a telemetry.v1.Sample in JSON"));
  EXPECT_THAT(
      ErrorOf("{\"machineId\":\"cnc07\",\"time\":\"yesterday\"}\n", SampleFileFormat::kJsonLines),
      HasSubstr("samples.csv:1: not a telemetry.v1.Sample in JSON"));
  // Outside testing: protobuf's parser took these, where the CSV reader refused them.
  for (const char* lax : {"2026-12-4T04:00:00Z", "2026-12-04T4:00:00Z", "2026-12-04T04:00:00+2:00",
                          "2026-12-04T04:00:00+0200", "2026-12-04T04:00:60Z"}) {
    EXPECT_THAT(ErrorOf(absl::StrCat("{\"machineId\":\"cnc07\",\"dataItemId\":\"Xload\",",
                                     "\"time\":\"", lax, "\",\"number\":1}\n"),
                        SampleFileFormat::kJsonLines),
                HasSubstr(absl::StrCat("time: \"", lax, "\" is not an RFC 3339 time")))
        << lax;
  }
  // Re-test (sweep 63): `--dry-run` passed a raw NUL and "\u0000", which the server refuses.
  using std::string_literals::operator""s;
  EXPECT_THAT(ErrorOf("{\"machineId\":\"cnc\0\"}\n"s, SampleFileFormat::kJsonLines),
              HasSubstr("samples.csv:1: a zero byte (NUL) at byte 18 of the line"));
  EXPECT_THAT(ErrorOf("{\"machineId\":\"cnc07\",\"dataItemId\":\"Xload\",\"time\":"
                      "\"2026-12-04T04:00:00Z\",\"text\":\"a\\u0000b\"}\n",
                      SampleFileFormat::kJsonLines),
              HasSubstr("a string holds U+0000 (NUL), which no text may hold"));
  // A time without its zone is named as such, in JSON as in CSV (outside testing).
  EXPECT_THAT(ErrorOf("{\"machineId\":\"cnc07\",\"dataItemId\":\"Xload\","
                      "\"time\":\"2026-12-04T04:00:00\",\"number\":1}\n",
                      SampleFileFormat::kJsonLines),
              HasSubstr("it has no UTC offset (add Z for UTC, or the offset such as +01:00)"));
  // Outside testing (sweep 60): a controller's leap second was "not an RFC 3339 time".
  for (SampleFileFormat format : {SampleFileFormat::kCsv, SampleFileFormat::kJsonLines}) {
    const std::string file =
        format == SampleFileFormat::kCsv
            ? "machine_id,data_item_id,time,value\ncnc07,Xload,2026-12-31T23:59:60.5Z,1\n"
            : "{\"machineId\":\"cnc07\",\"dataItemId\":\"Xload\","
              "\"time\":\"2026-12-31T23:59:60Z\",\"number\":1}\n";
    EXPECT_THAT(ErrorOf(file, format),
                HasSubstr("it has second 60, a leap second's, which a protobuf Timestamp "
                          "cannot hold: give it as 23:59:59.999999"));
  }
  // Outside testing: `telemetry tail -o json` lines (with the item's units) were refused,
  // and a JSON array was read as a broken first line.
  absl::StatusOr<std::vector<tv1::Sample>> tailed = ReadAll(
      "{\"machineId\":\"cnc07\",\"dataItemId\":\"Xload\",\"time\":\"2024-05-01T10:00:00Z\","
      "\"number\":12.5,\"units\":\"PERCENT\"}\n",
      SampleFileFormat::kJsonLines);
  ASSERT_TRUE(tailed.ok()) << tailed.status();
  EXPECT_EQ((*tailed)[0].number(), 12.5);
  EXPECT_THAT(ErrorOf("[{\"machineId\":\"cnc07\"}]\n", SampleFileFormat::kJsonLines),
              HasSubstr("samples.csv:1: a JSON array: ingest reads JSON lines"));
  EXPECT_THAT(
      ErrorOf("{\"machineId\":\"cnc07\",\"unit\":\"PERCENT\"}\n", SampleFileFormat::kJsonLines),
      HasSubstr("not a telemetry.v1.Sample in JSON"));  // a typo is still refused
}

TEST(SampleFileFormat, ByNameExtensionAndContent) {
  EXPECT_EQ(*ParseSampleFileFormat("CSV"), SampleFileFormat::kCsv);
  EXPECT_EQ(*ParseSampleFileFormat("jsonl"), SampleFileFormat::kJsonLines);
  EXPECT_THAT(ParseSampleFileFormat("xml").status().message(), HasSubstr("--format"));
  EXPECT_EQ(GuessSampleFileFormat("a.CSV", "{"), SampleFileFormat::kCsv);
  EXPECT_EQ(GuessSampleFileFormat("a.ndjson", "machine_id"), SampleFileFormat::kJsonLines);
  EXPECT_EQ(GuessSampleFileFormat("-", "  {\"machineId\":1}"), SampleFileFormat::kJsonLines);
  EXPECT_EQ(GuessSampleFileFormat("-", "machine_id,data_item_id"), SampleFileFormat::kCsv);
}

}  // namespace
}  // namespace plantmesh::cli
