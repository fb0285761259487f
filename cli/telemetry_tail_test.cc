// `plantctl telemetry tail`'s rendering: the table (values with units, ages, alignment,
// cutting to the terminal's width), the in-place redraw frame, what counts as a change,
// and the line forms used off a terminal.
#include "cli/telemetry_tail.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli/sample_file.h"
#include "google/protobuf/util/message_differencer.h"
#include "nlohmann/json.hpp"

namespace plantmesh::cli {
namespace {

namespace tv1 = ::plantmesh::telemetry::v1;
using ::testing::ElementsAre;

const absl::Time kNow = absl::FromUnixSeconds(1796040000);  // 2026-11-30T12:00:00Z

tv1::Sample At(const std::string& machine, const std::string& item, absl::Time t) {
  tv1::Sample s;
  s.set_machine_id(machine);
  s.set_data_item_id(item);
  const int64_t micros = absl::ToUnixMicros(t);
  s.mutable_time()->set_seconds(micros / 1000000);
  s.mutable_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  return s;
}

tv1::Sample Number(const std::string& machine, const std::string& item, double value,
                   absl::Time t) {
  tv1::Sample s = At(machine, item, t);
  s.set_number(value);
  return s;
}

TEST(TailValueText, EveryKindOfValue) {
  EXPECT_EQ(TailValueText(Number("M", "S1speed", 1200, kNow), "REVOLUTION/MINUTE"),
            "1200 REVOLUTION/MINUTE");
  EXPECT_EQ(TailValueText(Number("M", "temp", 21.5, kNow), ""), "21.5");
  EXPECT_EQ(TailValueText(Number("M", "temp", 123456.7, kNow), ""), "123456.7");
  tv1::Sample text = At("M", "Xact", kNow);
  text.set_text("ACTIVE");
  EXPECT_EQ(TailValueText(text, "ignored"), "ACTIVE");
  tv1::Sample condition = At("M", "servo", kNow);
  condition.mutable_condition()->set_level(tv1::CONDITION_LEVEL_FAULT);
  condition.mutable_condition()->set_native_code("SV0401");
  condition.mutable_condition()->set_message("SERVO ALARM");
  EXPECT_EQ(TailValueText(condition, ""), "FAULT SV0401 SERVO ALARM");
  tv1::Sample unavailable = At("M", "S1speed", kNow);
  unavailable.mutable_unavailable();
  EXPECT_EQ(TailValueText(unavailable, "rpm"), "UNAVAILABLE");
}

TEST(TailAgeText, GrowsCoarserWithAge) {
  EXPECT_EQ(TailAgeText(absl::Milliseconds(400)), "0.4s");
  EXPECT_EQ(TailAgeText(absl::Seconds(12)), "12s");
  EXPECT_EQ(TailAgeText(absl::Seconds(185)), "3m05s");
  EXPECT_EQ(TailAgeText(absl::Minutes(121)), "2h01m");
  EXPECT_EQ(TailAgeText(absl::Hours(76)), "3d04h");
  EXPECT_EQ(TailAgeText(-absl::Seconds(1)), "-");
}

TEST(TailTable, ChangesAreNewerOrDifferentValuesOnly) {
  TailTable table;
  EXPECT_TRUE(table.Update(Number("CNC-07", "temp", 21, kNow)));
  // The same sample again (snapshot, then its batch; or a resumed stream): no change.
  EXPECT_FALSE(table.Update(Number("CNC-07", "temp", 21, kNow)));
  // An older sample arriving late is not the current value.
  EXPECT_FALSE(table.Update(Number("CNC-07", "temp", 20, kNow - absl::Seconds(1))));
  EXPECT_TRUE(table.Update(Number("CNC-07", "temp", 21, kNow + absl::Seconds(1))));
  EXPECT_TRUE(table.Update(Number("CNC-07", "temp", 22, kNow + absl::Seconds(1))));
  EXPECT_TRUE(table.Update(Number("CNC-08", "temp", 22, kNow + absl::Seconds(1))));
}

TEST(TailTable, RowsByMachineThenDataItemAlignedWithUnitsAndAge) {
  TailTable table;
  table.SetUnits("CNC-07", "S1speed", "rpm");
  table.SetUnits("CNC-07", "temp", "CELSIUS");
  tv1::Sample text = At("CNC-07", "Xact", kNow - absl::Seconds(185));
  text.set_text("ACTIVE");
  table.Update(Number("CNC-08", "S1speed", 800, kNow - absl::Milliseconds(400)));
  table.Update(Number("CNC-07", "temp", 21.5, kNow - absl::Seconds(12)));
  table.Update(text);
  table.Update(Number("CNC-07", "S1speed", 1200, kNow - absl::Milliseconds(1500)));
  EXPECT_THAT(table.Lines(kNow),
              ElementsAre("MACHINE  DATA ITEM  VALUE         TIME                       AGE",
                          "CNC-07   S1speed    1200 rpm      2026-11-30 11:59:58.500   1.5s",
                          "CNC-07   Xact       ACTIVE        2026-11-30 11:56:55.000  3m05s",
                          "CNC-07   temp       21.5 CELSIUS  2026-11-30 11:59:48.000    12s",
                          "CNC-08   S1speed    800           2026-11-30 11:59:59.600   0.4s"));
  // Cut to a narrow terminal, so that every line stays one line.
  EXPECT_THAT(table.Lines(kNow, 21),
              ElementsAre("MACHINE  DATA ITEM  V", "CNC-07   S1speed    1", "CNC-07   Xact       A",
                          "CNC-07   temp       2", "CNC-08   S1speed    8"));
}

TEST(TailTable, ControlCharactersInValuesStayOnTheirRow) {
  TailTable table;
  tv1::Sample text = At("CNC-07", "program", kNow);
  text.set_text("O1000\nM30");
  table.Update(text);
  EXPECT_THAT(table.Lines(kNow)[1], ::testing::HasSubstr("O1000\\nM30"));
}

TEST(TailTable, FrameRedrawsOverThePreviousOne) {
  TailTable table;
  table.Update(Number("CNC-07", "temp", 21, kNow));
  // First frame: drawn where the cursor is.
  EXPECT_EQ(table.Frame(kNow, 0, ""),
            "\r"
            "MACHINE  DATA ITEM  VALUE  TIME                      AGE\x1b[K\n"
            "CNC-07   temp       21     2026-11-30 12:00:00.000  0.0s\x1b[K\n"
            "\x1b[J");
  table.Update(Number("CNC-07", "xtemp", 5, kNow));
  // Then: up over the 2 lines drawn, the 3 new ones and a status line, erase below.
  EXPECT_EQ(table.Frame(kNow + absl::Seconds(2), 0, "plantctl: resuming"),
            "\r\x1b[2A"
            "MACHINE  DATA ITEM  VALUE  TIME                      AGE\x1b[K\n"
            "CNC-07   temp       21     2026-11-30 12:00:00.000  2.0s\x1b[K\n"
            "CNC-07   xtemp      5      2026-11-30 12:00:00.000  2.0s\x1b[K\n"
            "plantctl: resuming\x1b[K\n"
            "\x1b[J");
  EXPECT_EQ(table.Frame(kNow, 0, "").substr(0, 5), "\r\x1b[4A");
}

TEST(TailLines, PlainAndJson) {
  const tv1::Sample sample = Number("CNC-07", "S1speed", 1200, kNow + absl::Milliseconds(250));
  EXPECT_EQ(TailPlainLine(sample, "rpm"), "2026-11-30T12:00:00.25Z CNC-07 S1speed 1200 rpm");
  const nlohmann::json json = nlohmann::json::parse(TailJsonLine(sample, "rpm"));
  EXPECT_EQ(json["machine_id"], "CNC-07");
  EXPECT_EQ(json["data_item_id"], "S1speed");
  EXPECT_EQ(json["number"], 1200);
  EXPECT_EQ(json["time"], "2026-11-30T12:00:00.250Z");
  EXPECT_EQ(json["units"], "rpm");
}

// Outside testing: `tail -o csv` wrote a condition as "FAULT SV0401 SERVO, ALARM", which
// ingest does not read, and times with the fewest digits (rows did not sort as text). A
// recorded tail is a sample file: ingest reads every row back to the same sample.
TEST(TailLines, CsvRowsAreASampleFileIngestReadsBack) {
  std::vector<tv1::Sample> samples = {
      Number("CNC-07", "S1speed", 123456789.123, kNow + absl::Microseconds(534923)),
      Number("CNC-07", "temp", -0.1, kNow + absl::Milliseconds(500)),
      At("CNC-07", "mode", kNow),
      At("CNC-07", "servo", kNow),
      At("CNC-07", "servo", kNow + absl::Seconds(1)),
      At("CNC-07", "avail", kNow)};
  samples[2].set_text(" AUTO, \"quoted\" ");
  samples[3].mutable_condition()->set_level(tv1::CONDITION_LEVEL_FAULT);
  samples[3].mutable_condition()->set_native_code("SV0401");
  samples[3].mutable_condition()->set_message("SERVO, ALARM: V-READY OFF");
  samples[4].mutable_condition()->set_level(tv1::CONDITION_LEVEL_WARNING);
  samples[4].mutable_condition()->set_message("no code");
  samples[5].mutable_unavailable();
  samples[0].set_source_sequence(18446744073709551615u);  // MTConnect's sequence, any uint64
  EXPECT_EQ(TailCsvRow(samples[0], "REVOLUTION/MINUTE"),
            "2026-11-30T12:00:00.534923Z,CNC-07,S1speed,123456789.123,REVOLUTION/MINUTE,number,"
            "18446744073709551615");
  EXPECT_EQ(TailCsvRow(samples[1], ""), "2026-11-30T12:00:00.500000Z,CNC-07,temp,-0.1,,number,");
  EXPECT_EQ(TailCsvRow(samples[3], ""),
            "2026-11-30T12:00:00.000000Z,CNC-07,servo,\"fault:SV0401:SERVO, ALARM: V-READY "
            "OFF\",,condition,");

  std::string file = std::string(kTailCsvHeader) + "\n";
  for (const tv1::Sample& sample : samples) file += TailCsvRow(sample, "u") + "\n";
  std::istringstream in(file);
  SampleReader reader(&in, "tail.csv", SampleFileFormat::kCsv);
  for (const tv1::Sample& expected : samples) {
    tv1::Sample read;
    absl::StatusOr<bool> next = reader.Next(&read);
    ASSERT_TRUE(next.ok()) << next.status();
    ASSERT_TRUE(*next);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(read, expected))
        << read.DebugString() << " != " << expected.DebugString();
  }
}

}  // namespace
}  // namespace plantmesh::cli
