#include "server/telemetry/domain.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"

namespace plantmesh::telemetry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);  // 2023-11-14T22:13:20Z

Catalog Plant() {
  return {{"CNC-07",
           {{"Xact", Category::kEvent},
            {"parts", {Category::kEvent, kTypePartCount}},
            {"exec", {Category::kEvent, kTypeExecution}},
            {"avail", {Category::kEvent, kTypeAvailability}},
            {"estop", {Category::kEvent, kTypeEmergencyStop}},
            {"mode", {Category::kEvent, kTypeControllerMode}},
            {"di", {Category::kEvent, kTypeDigitalInput}},
            {"S1speed", Category::kSample},
            {"servo:cond", Category::kCondition}}}};
}

Sample Number(std::string item, double value, absl::Time t = kNow) {
  Sample s;
  s.machine_id = "CNC-07";
  s.data_item_id = std::move(item);
  s.time = t;
  s.kind = ValueKind::kNumber;
  s.number = value;
  return s;
}

Sample Text(std::string item, std::string value) {
  Sample s = Number(std::move(item), 0);
  s.kind = ValueKind::kText;
  s.text = std::move(value);
  return s;
}

std::optional<Rejection> Judge(const Sample& s) {
  return JudgeSample(s, 3, Plant(), kNow, IngestLimits{});
}

TEST(JudgeSampleTest, AcceptsEachKindItsCategoryTakes) {
  EXPECT_FALSE(Judge(Number("S1speed", 1200.5)));
  EXPECT_FALSE(Judge(Number("Xact", 42)));
  Sample text = Number("Xact", 0);
  text.kind = ValueKind::kText;
  text.text = "ACTIVE";
  EXPECT_FALSE(Judge(text));
  Sample cond = Number("servo:cond", 0);
  cond.kind = ValueKind::kCondition;
  cond.condition_level = 3;
  cond.native_code = "SV0401";
  EXPECT_FALSE(Judge(cond));
  for (const char* item : {"S1speed", "Xact", "servo:cond"}) {
    Sample unavailable = Number(item, 0);
    unavailable.kind = ValueKind::kUnavailable;
    EXPECT_FALSE(Judge(unavailable)) << item;
  }
}

// Outside testing: EXECUTION `RUNNING` (an adapter's word) and `ACTVE` (a typo) were
// stored and made the machine UNAVAILABLE; an e-stop `PRESSED` left it RUNNING. A state
// input takes MTConnect's words (any case, blanks around), the text UNAVAILABLE or the
// unavailable value; anything else is refused, naming the words.
TEST(JudgeSampleTest, StateInputsTakeTheirVocabularyOnly) {
  for (const auto& [item, value] :
       std::vector<std::pair<const char*, const char*>>{{"exec", "ACTIVE"},
                                                        {"exec", " feed_hold "},
                                                        {"exec", "PROGRAM_OPTIONAL_STOP"},
                                                        {"exec", "UNAVAILABLE"},
                                                        {"avail", "available"},
                                                        {"avail", "UNAVAILABLE"},
                                                        {"estop", "TRIGGERED"},
                                                        {"estop", "armed"}}) {
    EXPECT_FALSE(Judge(Text(item, value))) << item << " " << value;
  }
  for (const char* item : {"exec", "avail", "estop"}) {
    Sample unavailable = Number(item, 0);
    unavailable.kind = ValueKind::kUnavailable;
    EXPECT_FALSE(Judge(unavailable)) << item;
  }
  std::optional<Rejection> r = Judge(Text("exec", "RUNNING"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kWrongValueKind);
  EXPECT_EQ(r->message,
            "samples[3].text: an EXECUTION is one of ACTIVE, READY, WAIT, OPTIONAL_STOP, "
            "PROGRAM_OPTIONAL_STOP, PROGRAM_COMPLETED, STOPPED, FEED_HOLD, INTERRUPTED, "
            "PROGRAM_STOPPED (in any case) or the unavailable value, not 'RUNNING'");
  EXPECT_TRUE(Judge(Text("exec", "ACTVE")));
  r = Judge(Number("exec", 1));
  ASSERT_TRUE(r);
  EXPECT_THAT(r->message, HasSubstr("samples[3].number: an EXECUTION is one of ACTIVE"));
  EXPECT_THAT(r->message, HasSubstr("not a number"));
  r = Judge(Text("avail", "UP"));
  ASSERT_TRUE(r);
  EXPECT_THAT(r->message, HasSubstr("an AVAILABILITY is one of AVAILABLE, UNAVAILABLE"));
  r = Judge(Text("estop", "PRESSED"));
  ASSERT_TRUE(r);
  EXPECT_THAT(r->message, HasSubstr("an EMERGENCY_STOP is one of ARMED, TRIGGERED"));
  EXPECT_TRUE(Judge(Number("estop", 1)));
}

// Outside testing: a CONTROLLER_MODE "AUTOMATC" or 3, and a DIGITAL_INPUT of 2, 0.5 or
// "ON", were stored as sent; the contract lists their values.
TEST(JudgeSampleTest, ModesAndDigitalChannelsTakeTheirValuesOnly) {
  EXPECT_FALSE(Judge(Text("mode", "AUTOMATIC")));
  EXPECT_FALSE(Judge(Text("mode", " manual_data_input ")));
  EXPECT_FALSE(Judge(Text("mode", "UNAVAILABLE")));
  EXPECT_FALSE(Judge(Number("di", 0)));
  EXPECT_FALSE(Judge(Number("di", 1)));
  EXPECT_FALSE(Judge(Text("di", "1")));
  std::optional<Rejection> r = Judge(Text("mode", "AUTOMATC"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kWrongValueKind);
  EXPECT_THAT(r->message, HasSubstr("samples[3].text: a CONTROLLER_MODE is one of AUTOMATIC, "
                                    "MANUAL, MANUAL_DATA_INPUT, SEMI_AUTOMATIC, EDIT"));
  EXPECT_TRUE(Judge(Number("mode", 3)));
  for (double bad : {2.0, 0.5, -1.0}) {
    r = Judge(Number("di", bad));
    ASSERT_TRUE(r) << bad;
    EXPECT_THAT(r->message, HasSubstr("a DIGITAL_INPUT is 0 or 1 (or the unavailable value)"));
  }
  EXPECT_TRUE(Judge(Text("di", "ON")));
  // The number as sent, in the digits that tell it apart (outside testing, sweep 45:
  // 1.0000000000000002 was refused as "not 1").
  r = Judge(Number("di", 1.0000000000000002));
  ASSERT_TRUE(r);
  EXPECT_THAT(r->message, HasSubstr(", not 1.0000000000000002"));
}

TEST(JudgeSampleTest, UnknownMachine) {
  Sample s = Number("S1speed", 1);
  s.machine_id = "CNC-99";
  std::optional<Rejection> r = Judge(s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kUnknownMachine);
  EXPECT_EQ(r->index, 3);
  EXPECT_THAT(r->message, HasSubstr("samples[3].machine_id"));
}

TEST(JudgeSampleTest, UnknownDataItem) {
  std::optional<Rejection> r = Judge(Number("S2speed", 1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kUnknownDataItem);
  EXPECT_THAT(r->message, HasSubstr("samples[3].data_item_id"));
}

TEST(JudgeSampleTest, WrongValueKind) {
  Sample text = Number("S1speed", 0);
  text.kind = ValueKind::kText;
  text.text = "fast";
  std::optional<Rejection> r = Judge(text);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kWrongValueKind);
  EXPECT_THAT(r->message, HasSubstr("samples[3].text"));
  EXPECT_THAT(r->message, HasSubstr("SAMPLE"));
  EXPECT_THAT(r->message, Not(HasSubstr("unavailable value")));
  // Outside testing: an SHDR adapter's text UNAVAILABLE on a SAMPLE was refused without
  // saying what to send.
  for (const char* unavailable : {"UNAVAILABLE", " unavailable "}) {
    text.text = unavailable;
    r = Judge(text);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, RejectReason::kWrongValueKind);
    EXPECT_THAT(r->message,
                HasSubstr("; for \"no data\" send the unavailable value (Sample.unavailable, "
                          "MTConnect UNAVAILABLE), not the text"));
  }

  Sample none = Number("S1speed", 0);
  none.kind = ValueKind::kNone;
  r = Judge(none);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kWrongValueKind);
  EXPECT_THAT(r->message, HasSubstr("samples[3].value: required"));

  Sample number_for_condition = Number("servo:cond", 1);
  r = Judge(number_for_condition);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kWrongValueKind);

  Sample level_unset = Number("servo:cond", 0);
  level_unset.kind = ValueKind::kCondition;
  r = Judge(level_unset);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kWrongValueKind);
  EXPECT_THAT(r->message, HasSubstr("samples[3].condition.level"));
}

TEST(JudgeSampleTest, NotFinite) {
  for (double v : {std::nan(""), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    std::optional<Rejection> r = Judge(Number("S1speed", v));
    ASSERT_TRUE(r) << v;
    EXPECT_EQ(r->reason, RejectReason::kNotFinite);
    EXPECT_THAT(r->message, HasSubstr("samples[3].number"));
  }
}

// A bucket's sum of such numbers would overflow a double (outside testing: 1e308, 1e308
// and -1.7e308 stopped the rollup job).
TEST(JudgeSampleTest, NumberOutOfRange) {
  EXPECT_FALSE(Judge(Number("S1speed", kMaxSampleMagnitude)));
  EXPECT_FALSE(Judge(Number("S1speed", -kMaxSampleMagnitude)));
  EXPECT_FALSE(Judge(Number("S1speed", std::numeric_limits<double>::denorm_min())));
  for (double v : {1e308, -1.7e308, std::nextafter(kMaxSampleMagnitude, 1e308),
                   std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest()}) {
    std::optional<Rejection> r = Judge(Number("S1speed", v));
    ASSERT_TRUE(r) << v;
    EXPECT_EQ(r->reason, RejectReason::kNumberOutOfRange);
    EXPECT_THAT(r->message, HasSubstr("samples[3].number"));
  }
}

// Outside testing: PART_COUNT values GetUtilization cannot count (negative, fractional,
// above 2^53, text without a number) were accepted and then silently left out.
TEST(JudgeSampleTest, APartCountIsAWholeNumberUpTo2To53) {
  for (double count : {0.0, 42.0, 9007199254740992.0}) {
    EXPECT_FALSE(Judge(Number("parts", count))) << count;
  }
  for (double count : {-1.0, 10.5, 1e19, 1e200}) {
    std::optional<Rejection> r = Judge(Number("parts", count));
    ASSERT_TRUE(r) << count;
    EXPECT_EQ(r->reason, RejectReason::kNumberOutOfRange);
    EXPECT_THAT(r->message, ::testing::HasSubstr("samples[3].number: a PART_COUNT"));
  }
  Sample text = Number("parts", 0);
  text.kind = ValueKind::kText;
  for (const char* ok : {"17", " 18 ", "0009007199254740992", "UNAVAILABLE"}) {
    text.text = ok;
    EXPECT_FALSE(Judge(text)) << ok;
  }
  // Outside testing: text was read as a double, so 2^53 + 1 was taken as 2^53, and a
  // fraction next to a whole number as that number. Text is decimal digits only.
  for (const char* large : {"9007199254740993", "123456789012345678901234567890"}) {
    text.text = large;
    ASSERT_TRUE(Judge(text)) << large;
    EXPECT_EQ(Judge(text)->reason, RejectReason::kNumberOutOfRange) << large;
  }
  for (const char* not_count :
       {"-3", "9007199254740992.9", "0.99999999999999999999", "1e3", "0x10", "inf", "many", ""}) {
    text.text = not_count;
    ASSERT_TRUE(Judge(text)) << not_count;
    EXPECT_EQ(Judge(text)->reason, RejectReason::kWrongValueKind) << not_count;
  }
  // The refused number in full, not rounded to look whole and in range.
  EXPECT_THAT(Judge(Number("parts", 9007199254740994.0))->message,
              ::testing::HasSubstr("not 9007199254740994"));
  Sample unavailable = Number("parts", 0);
  unavailable.kind = ValueKind::kUnavailable;
  EXPECT_FALSE(Judge(unavailable));
  EXPECT_FALSE(Judge(Number("Xact", -1)));  // other EVENT items take any number
}

TEST(JudgeSampleTest, TimeInFutureBeyondSkewOnly) {
  const IngestLimits limits;
  EXPECT_FALSE(Judge(Number("S1speed", 1, kNow + limits.max_future_skew)));
  std::optional<Rejection> r =
      Judge(Number("S1speed", 1, kNow + limits.max_future_skew + absl::Microseconds(1)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kTimeInFuture);
  EXPECT_THAT(r->message, HasSubstr("samples[3].time"));
}

TEST(JudgeSampleTest, TimeOlderThanRetentionOrUnset) {
  const IngestLimits limits;
  EXPECT_FALSE(Judge(Number("S1speed", 1, kNow - limits.retention)));
  std::optional<Rejection> r =
      Judge(Number("S1speed", 1, kNow - limits.retention - absl::Microseconds(1)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kTimeOutOfRange);
  Sample unset = Number("S1speed", 1);
  unset.time.reset();
  r = Judge(unset);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kTimeOutOfRange);
  EXPECT_THAT(r->message, HasSubstr("samples[3].time: required"));
  // Outside testing: year 1 read "1-01-01T00:00:00+00:00", no RFC 3339 time.
  r = Judge(Number("S1speed", 1, absl::FromUnixSeconds(-62135596800)));
  ASSERT_TRUE(r);
  EXPECT_THAT(r->message, HasSubstr("samples[3].time: 0001-01-01T00:00:00Z is older than"));
}

// Outside testing: a NORMAL with `E42 ` (or E42 and a no-break space, a zero-width
// space) was another fault than FAULT `E42`, which then never cleared.
TEST(JudgeSampleTest, AConditionCodeHasNoBlanksAround) {
  for (const char* code : {"E42 ", " E42", "E42\u200b", "E42\u00a0"}) {
    Sample s = Number("servo:cond", 0);
    s.kind = ValueKind::kCondition;
    s.condition_level = 1;
    s.native_code = code;
    std::optional<Rejection> r = Judge(s);
    ASSERT_TRUE(r) << code;
    EXPECT_EQ(r->reason, RejectReason::kInvalidText);
    EXPECT_THAT(r->message, HasSubstr("samples[3].condition.native_code")) << code;
  }
}

// Outside testing (AJ F3): a condition without a level was told only the words to use.
TEST(JudgeSampleTest, AConditionWithoutALevelIsNamedUnset) {
  Sample s = Number("servo:cond", 0);
  s.kind = ValueKind::kCondition;
  s.native_code = "E42";
  std::optional<Rejection> r = Judge(s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kWrongValueKind);
  EXPECT_EQ(r->message,
            "samples[3].condition.level: unset; a condition is NORMAL, WARNING or FAULT");
}

// Re-test: an id with a blank or invisible character was "must be 1-64 characters" on
// ingest and in read filters, where RegisterMachine named the character.
TEST(DataItemIdProblemTest, NamesTheCharacterOnEveryPath) {
  EXPECT_EQ(DataItemIdProblem("Xact"), "");
  EXPECT_THAT(DataItemIdProblem("exec\u00A0"), HasSubstr("(ends with U+00A0 (NO-BREAK SPACE))"));
  EXPECT_THAT(DataItemIdProblem("\u200Bexec"),
              HasSubstr("(begins with U+200B (ZERO WIDTH SPACE))"));
  EXPECT_EQ(DataItemIdProblem("a/b"),
            "'a/b' must be 1-64 characters: ASCII letters, digits, '_', '-', '.', ':'");
  Sample s = Number("exec ", 1);
  std::optional<Rejection> r = Judge(s);
  ASSERT_TRUE(r);
  EXPECT_THAT(r->message, HasSubstr("samples[3].data_item_id: 'exec ' begins or ends"));
}

TEST(JudgeSampleTest, InvalidText) {
  Sample control = Number("Xact", 0);
  control.kind = ValueKind::kText;
  control.text = "ACT\x01IVE";
  std::optional<Rejection> r = Judge(control);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kInvalidText);
  EXPECT_THAT(r->message, HasSubstr("samples[3].text"));

  Sample long_text = Number("Xact", 0);
  long_text.kind = ValueKind::kText;
  long_text.text = std::string(513, 'a');
  r = Judge(long_text);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kInvalidText);

  Sample bad_item = Number("bad item!", 1);
  r = Judge(bad_item);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kInvalidText);
  EXPECT_THAT(r->message, HasSubstr("samples[3].data_item_id"));

  Sample lower_machine = Number("S1speed", 1);
  lower_machine.machine_id = "cnc-07";
  r = Judge(lower_machine);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kInvalidText);
  EXPECT_THAT(r->message, HasSubstr("samples[3].machine_id"));

  Sample no_machine = Number("S1speed", 1);
  no_machine.machine_id.clear();
  r = Judge(no_machine);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kInvalidText);
}

TEST(JudgeBatchTest, MixedBatchAcceptsTheValidRest) {
  std::vector<Sample> batch = {Number("S1speed", 1), Number("S1speed", std::nan("")),
                               Number("nope", 2), Number("Xact", 3)};
  Verdict v = JudgeBatch(batch, Plant(), kNow, IngestLimits{});
  EXPECT_THAT(v.accepted, ElementsAre(0, 3));
  ASSERT_EQ(v.rejected.size(), 2u);
  EXPECT_EQ(v.rejected[0].index, 1);
  EXPECT_EQ(v.rejected[0].reason, RejectReason::kNotFinite);
  EXPECT_EQ(v.rejected[1].index, 2);
  EXPECT_EQ(v.rejected[1].reason, RejectReason::kUnknownDataItem);
}

// Outside testing: nine spellings of AUTOMATIC were stored as nine modes, and a digit or
// count sent as text was left out of QueryAggregates; an accepted text that names a
// value is stored in its one spelling.
TEST(JudgeBatchTest, AcceptedValuesAreStoredInTheirOneSpelling) {
  std::vector<Sample> batch = {Text("mode", " automatic\u200b"),
                               Text("mode", "Manual\u00a0"),
                               Text("exec", "active"),
                               Text("avail", "unavailable"),
                               Text("di", " 1"),
                               Text("di", "0\u00a0"),
                               Text("parts", "5\u00a0"),
                               Text("parts", "UnAvailable"),
                               Text("Xact", " as sent ")};
  const Verdict v = JudgeBatch(batch, Plant(), kNow, IngestLimits{});
  ASSERT_EQ(v.accepted.size(), batch.size());
  EXPECT_EQ(batch[0].text, "AUTOMATIC");
  EXPECT_EQ(batch[1].text, "MANUAL");
  EXPECT_EQ(batch[2].text, "ACTIVE");
  EXPECT_EQ(batch[3].kind, ValueKind::kUnavailable);  // the value, whatever form was sent
  for (size_t i : {4, 5, 6}) EXPECT_EQ(batch[i].kind, ValueKind::kNumber) << i;
  EXPECT_EQ(batch[4].number, 1);
  EXPECT_EQ(batch[5].number, 0);
  EXPECT_EQ(batch[6].number, 5);
  EXPECT_EQ(batch[7].kind, ValueKind::kUnavailable);
  EXPECT_EQ(batch[8].text, " as sent ");  // a type without named values keeps its text
  // The text UNAVAILABLE of any EVENT item is the unavailable value (MTConnect's).
  std::vector<Sample> program = {Text("Xact", "unavailable ")};
  JudgeBatch(program, Plant(), kNow, IngestLimits{});
  EXPECT_EQ(program[0].kind, ValueKind::kUnavailable);
}

Sample Written(std::string item, std::string value) {
  Sample s = Text(std::move(item), std::move(value));
  s.kind = ValueKind::kWritten;
  return s;
}

// Outside testing: plantctl guessed a kind for a CSV value without one, and a PROGRAM
// `0012` was stored as the number 12; read from the catalog instead, an item recategorized
// during the ingest was read by its old category. A written value is read here, by the
// category the item has when its batch is judged.
TEST(JudgeBatchTest, AWrittenValueIsReadByItsItemsCategory) {
  std::vector<Sample> batch = {Written("Xact", "0012"), Written("S1speed", " 12.50 "),
                               Written("servo:cond", "Fault:SV0401:SERVO ALARM: V-READY OFF"),
                               Written("servo:cond", " unavailable"), Written("parts", "0042"),
                               Written("exec", " active "), Written("S1speed", "0x10"),
                               Written("S1speed", "1e400"), Written("servo:cond", "0012"),
                               Written("servo:cond", "fault: SV0401 "), Written("nope", "1"),
                               // Re-test: empty and blank crashed the server.
                               Written("servo:cond", ""), Written("servo:cond", "   "),
                               Written("S1speed", "1e298"), Written("exec", "12.5")};
  const Verdict v = JudgeBatch(batch, Plant(), kNow, IngestLimits{});
  EXPECT_THAT(v.accepted, ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_EQ(batch[0].kind, ValueKind::kText);
  EXPECT_EQ(batch[0].text, "0012");  // an EVENT's text as written
  EXPECT_EQ(batch[1].kind, ValueKind::kNumber);
  EXPECT_EQ(batch[1].number, 12.5);
  EXPECT_EQ(batch[2].kind, ValueKind::kCondition);
  EXPECT_EQ(batch[2].condition_level, 3);
  EXPECT_EQ(batch[2].native_code, "SV0401");
  EXPECT_EQ(batch[2].message, "SERVO ALARM: V-READY OFF");
  EXPECT_EQ(batch[3].kind, ValueKind::kUnavailable);
  EXPECT_EQ(batch[4].kind, ValueKind::kNumber);  // a count's digits, as a text's are
  EXPECT_EQ(batch[4].number, 42);
  EXPECT_EQ(batch[5].text, "ACTIVE");  // in its one spelling, as a text
  ASSERT_EQ(v.rejected.size(), 9u);
  EXPECT_EQ(v.rejected[0].reason, RejectReason::kWrongValueKind);
  EXPECT_EQ(v.rejected[0].message,
            "samples[6].written: '0x10' is not a decimal number (data item S1speed is a SAMPLE)");
  // Beyond a double as beyond 1e297: out of range (re-test: two reasons for one kind).
  EXPECT_EQ(v.rejected[1].reason, RejectReason::kNumberOutOfRange);
  EXPECT_THAT(v.rejected[1].message, HasSubstr("'1e400' is beyond a number's range"));
  EXPECT_EQ(v.rejected[2].reason, RejectReason::kWrongValueKind);
  EXPECT_THAT(v.rejected[2].message,
              HasSubstr("samples[8].written: '0012' is not a condition (LEVEL[:NATIVE_CODE"));
  // What it was read as keeps the input rules: a code with blanks around is another code.
  // Every rejection of a written value names `written`, the field the client sent.
  EXPECT_EQ(v.rejected[3].reason, RejectReason::kInvalidText);
  EXPECT_THAT(v.rejected[3].message, HasSubstr("samples[9].written: ' SV0401' begins or ends"));
  EXPECT_EQ(v.rejected[4].reason, RejectReason::kUnknownDataItem);
  EXPECT_EQ(v.rejected[5].reason, RejectReason::kWrongValueKind);
  EXPECT_THAT(v.rejected[5].message, HasSubstr("samples[11].written: '' is not a condition"));
  EXPECT_THAT(v.rejected[6].message, HasSubstr("samples[12].written: '   ' is not a condition"));
  EXPECT_EQ(v.rejected[7].reason, RejectReason::kNumberOutOfRange);
  EXPECT_THAT(v.rejected[7].message, HasSubstr("samples[13].written: magnitude above 1e297"));
  EXPECT_EQ(v.rejected[8].reason, RejectReason::kWrongValueKind);
  EXPECT_THAT(v.rejected[8].message, HasSubstr("samples[14].written: "));
}

TEST(NewestPerDataItemTest, NewestByTimeLaterOfEqualTimes) {
  std::vector<Sample> batch = {Number("S1speed", 1, kNow),
                               Number("S1speed", 2, kNow - absl::Seconds(1)),
                               Number("Xact", 3, kNow), Number("Xact", 4, kNow)};
  EXPECT_THAT(NewestPerDataItem(batch, {0, 1, 2, 3}), ElementsAre(0, 3));
  EXPECT_THAT(NewestPerDataItem(batch, {1, 2}), ElementsAre(1, 2));
}

TEST(CheckBatchFrameTest, NamesTheField) {
  EXPECT_TRUE(CheckBatchFrame("w", 1, 1).ok());
  absl::Status s = CheckBatchFrame("", 0, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const auto& v : runtime::FieldViolationsOf(s)) fields.push_back(v.field);
  EXPECT_THAT(fields, ElementsAre("writer_id", "batch_sequence", "samples"));
  EXPECT_FALSE(CheckBatchFrame("w", 1, 10001).ok());
  // Outside testing: a writer_id of spaces only was taken.
  s = CheckBatchFrame("   ", 1, 1);
  ASSERT_EQ(runtime::FieldViolationsOf(s).size(), 1u);
  EXPECT_EQ(runtime::FieldViolationsOf(s)[0].field, "writer_id");
  EXPECT_EQ(runtime::FieldViolationsOf(s)[0].description,
            "required: only white space or invisible characters given");
}

Machine Cnc() {
  Machine m;
  m.id = "CNC-07";
  m.data_items = {{"Xact", "Execution", Category::kEvent, 2, "", ""},
                  {"S1speed", "Spindle", Category::kSample, 5, "REVOLUTION/MINUTE", ""}};
  return m;
}

std::vector<std::string> Fields(const runtime::Violations& v) {
  std::vector<std::string> out;
  for (const auto& item : v.items()) out.push_back(item.field);
  return out;
}

TEST(CheckMachineTest, ValidMachinePasses) {
  runtime::Violations v;
  CheckMachine(Cnc(), "machine.", {true, true}, v);
  EXPECT_TRUE(v.empty());
}

TEST(CheckMachineTest, NamesEachBrokenDataItemField) {
  Machine m = Cnc();
  m.data_items.push_back({"Xact", "dup", Category::kEvent, 2, "", ""});
  m.data_items.push_back({"has space", "", Category::kUnspecified, 0, "", ""});
  m.data_items.push_back({"ok.id:1", "", Category::kSample, 999, "", ""});
  m.ideal_cycle_time = absl::Hours(25);
  runtime::Violations v;
  CheckMachine(m, "machine.", {true, true, true, true, false}, v);
  EXPECT_THAT(Fields(v), ElementsAre("machine.ideal_cycle_time", "machine.data_items[2].id",
                                     "machine.data_items[2].type", "machine.data_items[3].id",
                                     "machine.data_items[3].category", "machine.data_items[3].type",
                                     "machine.data_items[4].type"));
}

// Outside testing: a two-path lathe registered an EXECUTION item per path; the newest of
// either decided the machine's state, and its utilization was wrong without a word.
TEST(CheckMachineTest, OneDataItemEachOfTheTypesTheStateIsDerivedFrom) {
  Machine m = Cnc();  // Xact: EXECUTION
  m.data_items.push_back({"path2_execution", "", Category::kEvent, 2, "", ""});
  m.data_items.push_back({"avail", "", Category::kEvent, 3, "", ""});
  m.data_items.push_back({"avail2", "", Category::kEvent, 3, "", ""});
  m.data_items.push_back({"path2_other", "", Category::kEvent, 1, "", ""});  // OTHER: fine
  runtime::Violations v;
  CheckMachine(m, "machine.", std::vector<bool>(m.data_items.size(), true), v);
  EXPECT_THAT(Fields(v), ElementsAre("machine.data_items[2].type", "machine.data_items[4].type"));
  EXPECT_THAT(v.items()[0].description, HasSubstr("machine.data_items[0] is it"));
  EXPECT_THAT(v.items()[0].description, HasSubstr("DATA_ITEM_TYPE_OTHER"));
}

// Outside testing: a SAMPLE of type EXECUTION was taken (its states could never be sent),
// and an ideal cycle time of 1 ns was stored as 0.
TEST(CheckMachineTest, CategoryFollowsTheTypeAndCycleTimeIsWholeMicroseconds) {
  Machine m = Cnc();
  m.data_items.push_back({"exec2", "", Category::kSample, 2, "", ""});    // EXECUTION
  m.data_items.push_back({"temp2", "", Category::kEvent, 6, "", ""});     // TEMPERATURE
  m.data_items.push_back({"sys", "", Category::kEvent, 16, "", ""});      // SYSTEM
  m.data_items.push_back({"mine", "", Category::kCondition, 1, "", ""});  // OTHER: any
  m.ideal_cycle_time = absl::Nanoseconds(1);
  runtime::Violations v;
  CheckMachine(m, "machine.", std::vector<bool>(m.data_items.size(), true), v);
  EXPECT_THAT(Fields(v), ElementsAre("machine.ideal_cycle_time", "machine.data_items[2].category",
                                     "machine.data_items[2].type", "machine.data_items[3].category",
                                     "machine.data_items[4].category"));
  EXPECT_THAT(v.items()[1].description, HasSubstr("EVENT in MTConnect, not SAMPLE"));
  m.data_items.erase(m.data_items.begin() + 2, m.data_items.begin() + 5);  // the OTHER stays
  m.ideal_cycle_time = absl::Seconds(42) + absl::Microseconds(5);
  runtime::Violations ok;
  CheckMachine(m, "machine.", std::vector<bool>(3, true), ok);
  EXPECT_TRUE(ok.empty()) << Fields(ok).size();
}

TEST(CheckMachineTest, AtMost500DataItems) {
  Machine m;
  m.id = "M";
  for (int i = 0; i < 501; ++i) {
    m.data_items.push_back({"i" + std::to_string(i), "", Category::kSample, 1, "", ""});
  }
  runtime::Violations v;
  CheckMachine(m, "machine.", {}, v);
  EXPECT_THAT(Fields(v), ElementsAre("machine.data_items"));
  m.data_items.pop_back();
  runtime::Violations ok;
  CheckMachine(m, "machine.", {}, ok);
  EXPECT_TRUE(ok.empty());
}

TEST(IsDataItemIdTest, Pattern) {
  EXPECT_TRUE(IsDataItemId("Xact"));
  EXPECT_TRUE(IsDataItemId("a_b-c.d:e9"));
  EXPECT_TRUE(IsDataItemId(std::string(64, 'x')));
  EXPECT_FALSE(IsDataItemId(std::string(65, 'x')));
  EXPECT_FALSE(IsDataItemId(""));
  EXPECT_FALSE(IsDataItemId("a b"));
  EXPECT_FALSE(IsDataItemId("a/b"));
}

// Re-test: UpdateMachine with the display name the machine has made a new version, and
// a client holding the old etag was then refused.
TEST(ApplyMachineUpdateTest, WhatTheMachineHasAlreadyChangesNothing) {
  Machine current;
  current.id = "CNC-07";
  current.display_name = "Lathe 7";
  current.data_items = {{"Xact", "execution", Category::kEvent, kTypeExecution, "", ""}};
  current.version = 3;
  Machine patch = current;
  absl::StatusOr<Machine> same =
      ApplyMachineUpdate(current, patch, {"display_name", "data_items"}, "3", kNow);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->version, 3);
  patch.data_items[0].units = "NONE";
  absl::StatusOr<Machine> changed = ApplyMachineUpdate(current, patch, {"data_items"}, "", kNow);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(changed->version, 4);
}

TEST(ApplyMachineUpdateTest, StaleEtagIsAborted) {
  Machine current = Cnc();
  current.version = 3;
  Machine patch;
  patch.display_name = "Lathe";
  absl::StatusOr<Machine> stale = ApplyMachineUpdate(current, patch, {"display_name"}, "2", kNow);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  absl::StatusOr<Machine> fresh = ApplyMachineUpdate(current, patch, {"display_name"}, "3", kNow);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->display_name, "Lathe");
  EXPECT_EQ(fresh->version, 4);
  EXPECT_EQ(fresh->data_items.size(), 2u);  // not in the mask: kept
  EXPECT_EQ(ApplyMachineUpdate(current, patch, {"id"}, "", kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyMachineUpdate(current, patch, {}, "", kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PagingTest, MachineTokenIsBoundToItsFilter) {
  absl::StatusOr<MachineQuery> q = MakeMachineQuery("LINE-2", "", 0, "");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->page_size, 100);
  Machine last = Cnc();
  last.create_time = kNow;
  last.seq = 7;
  const std::string token = NextMachinePageToken(*q, last);
  absl::StatusOr<MachineQuery> next = MakeMachineQuery("LINE-2", "", 0, token);
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->after);
  EXPECT_EQ(next->after->id, 7);
  EXPECT_EQ(MakeMachineQuery("LINE-3", "", 0, token).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeMachineQuery("", "", 1001, "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PagingTest, SampleQueryChecksRangeAndToken) {
  EXPECT_EQ(MakeSampleQuery("CNC-07", {}, kNow, kNow, 0, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeSampleQuery("CNC-07", {}, std::nullopt, kNow, 0, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<SampleQuery> q =
      MakeSampleQuery("CNC-07", {"b", "a", "b"}, kNow - absl::Hours(1), kNow, 0, "");
  ASSERT_TRUE(q.ok());
  EXPECT_THAT(q->data_item_ids, ElementsAre("a", "b"));
  EXPECT_EQ(q->page_size, 1000);
  StoredSample last{Number("a", 1), 42};
  const std::string token = NextSamplePageToken(*q, last);
  // The same filter in another order is the same query.
  absl::StatusOr<SampleQuery> next =
      MakeSampleQuery("CNC-07", {"a", "b"}, kNow - absl::Hours(1), kNow, 0, token);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->after->id, 42);
  EXPECT_EQ(MakeSampleQuery("CNC-07", {"a"}, kNow - absl::Hours(1), kNow, 0, token).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Outside testing: 60,000 data item ids (under the message limit) cost 5 s of PostgreSQL
// a QuerySamples call and 34 MB a StreamSamples. A machine has at most 500 items.
TEST(PagingTest, ADataItemFilterHoldsAtMostAMachinesItems) {
  std::vector<std::string> ids;
  for (int i = 0; i <= kMaxDataItems; ++i) ids.push_back(absl::StrCat("item", i));
  absl::Status refused =
      MakeSampleQuery("CNC-07", ids, kNow - absl::Hours(1), kNow, 0, "").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("data_item_ids"));
  EXPECT_THAT(refused.message(), HasSubstr("at most 500"));
  EXPECT_EQ(CheckLatestSelection({"CNC-07"}, ids).code(), absl::StatusCode::kInvalidArgument);
  ids.pop_back();
  EXPECT_TRUE(MakeSampleQuery("CNC-07", ids, kNow - absl::Hours(1), kNow, 0, "").ok());
  EXPECT_TRUE(CheckLatestSelection({"CNC-07"}, ids).ok());
}

TEST(PartitionTest, DaysToKeepSpanRetentionToAhead) {
  const absl::Time now = absl::FromUnixSeconds(1700000000);  // 2023-11-14T22:13:20Z
  std::vector<absl::Time> days = DaysToKeep(now, absl::Hours(24 * 2), 3);
  ASSERT_EQ(days.size(), 6u);  // 11-12 .. 11-17
  EXPECT_EQ(PartitionName(days.front()), "samples_20231112");
  EXPECT_EQ(PartitionName(days.back()), "samples_20231117");
}

TEST(PartitionTest, ExpiredOnlyWhenTheWholeDayIsOlderThanRetention) {
  const absl::Time now = absl::FromUnixSeconds(1700000000);  // 2023-11-14T22:13:20Z
  const absl::Duration retention = absl::Hours(24 * 2);      // cut: 11-12T22:13:20
  EXPECT_TRUE(DayExpired(*DayOfPartition("samples_20231111"), now, retention));
  EXPECT_FALSE(DayExpired(*DayOfPartition("samples_20231112"), now, retention));
  EXPECT_FALSE(DayOfPartition("samples_default"));
  EXPECT_FALSE(DayOfPartition("other_20231112"));
  EXPECT_EQ(DayStart(absl::FromUnixSeconds(-1)), absl::FromUnixSeconds(-86400));
}

}  // namespace
}  // namespace plantmesh::telemetry
