#include "server/runtime/text_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace plantmesh::runtime {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr TextRule kLine{TextKind::kSingleLine, 0};
constexpr TextRule kLines{TextKind::kMultiLine, 0};
constexpr TextRule kCode{TextKind::kCode, 0};

std::string Nul() { return std::string("A\0B", 3); }

TEST(Utf8Test, StrictDecoding) {
  for (const char* good :
       {"", "plain", "T\xC3\xBCr", "\xE2\x82\xAC", "\xF0\x9F\x94\xA7", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(IsValidUtf8(good)) << good;
  }
  const std::vector<std::string> bad = {
      "\xFF",              // never in UTF-8
      "\x80",              // stray continuation byte
      "\xC0\xAF",          // overlong '/'
      "\xE0\x80\xAF",      // overlong, 3 bytes
      "\xED\xA0\x80",      // surrogate U+D800
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xE2\x82",          // cut short
      "ok\xC3",            // cut short at the end
  };
  for (const std::string& value : bad) {
    EXPECT_FALSE(IsValidUtf8(value));
    std::optional<std::string> why = TextViolation(value, kLines);
    ASSERT_TRUE(why.has_value());
    EXPECT_THAT(*why, HasSubstr("not valid UTF-8"));
  }
}

TEST(TextViolationTest, ControlCharactersAreRefusedEverywhere) {
  struct Case {
    std::string value;
    std::string code_point;
  };
  const std::vector<Case> cases = {
      {Nul(), "U+0000 (NUL)"},
      {"a\x01", "U+0001"},
      {"a\x1b[31m", "U+001B (ESCAPE)"},
      {"a\x7f", "U+007F (DELETE)"},
      {"a\xC2\x85", "U+0085 (NEXT LINE)"},
      {"a\xC2\x9F", "U+009F"},
      {"a\xE2\x80\xA8", "U+2028 (LINE SEPARATOR)"},
      {"a\xE2\x80\xA9", "U+2029"},
      {"a\r\nb", "U+000D (CARRIAGE RETURN)"},
  };
  for (const Case& c : cases) {
    for (const TextRule& rule : {kLine, kLines, kCode}) {
      std::optional<std::string> why = TextViolation(c.value, rule);
      ASSERT_TRUE(why.has_value()) << c.code_point;
      EXPECT_THAT(*why, HasSubstr(c.code_point));
      EXPECT_THAT(*why, HasSubstr("at character 2"));
      // The value itself never goes into the description (logs, audit rows).
      EXPECT_THAT(*why, Not(HasSubstr(c.value)));
    }
  }
}

TEST(TextViolationTest, LineFeedAndTabOnlyWhereLinesAreAllowed) {
  EXPECT_FALSE(TextViolation("first\nsecond\tindented", kLines).has_value());
  EXPECT_THAT(*TextViolation("first\nsecond", kLine), HasSubstr("single line"));
  EXPECT_THAT(*TextViolation("a\tb", kLine), HasSubstr("U+0009 (TAB)"));
  EXPECT_THAT(*TextViolation("PAINT\n", kCode), HasSubstr("a code is"));
  EXPECT_THAT(*TextViolation("line\r\n", kLines), HasSubstr("\\n (U+000A) alone"));
}

TEST(TextViolationTest, LengthCountsCharactersNotBytes) {
  std::string umlauts;
  for (int i = 0; i < 64; ++i) umlauts += "\xC3\xA4";  // 128 bytes, 64 characters
  EXPECT_FALSE(TextViolation(umlauts, {TextKind::kSingleLine, 64}).has_value());
  EXPECT_EQ(*TextViolation(umlauts + "x", {TextKind::kSingleLine, 64}),
            "at most 64 characters (got 65)");
  EXPECT_FALSE(TextViolation(std::string(1 << 20, 'x'), kLine).has_value());  // no own limit
}

// Outside testing: a shift given as " 2026-12-06/X", "2026-12-06/X " and with a no-break
// space after it was stored as three more shifts, each missed by a per-shift list.
TEST(TextViolationTest, NoBlanksAroundWhereTheFieldSaysSo) {
  const TextRule trimmed{TextKind::kSingleLine, 32, true};
  EXPECT_FALSE(TextViolation("2026-12-06/X", trimmed).has_value());
  EXPECT_FALSE(TextViolation("Paint repair, shift A", trimmed).has_value());  // inside: fine
  EXPECT_FALSE(TextViolation("", trimmed).has_value());  // not given: the method's rule
  for (const std::string& blanked :
       {std::string(" 2026-12-06/X"), std::string("2026-12-06/X "),
        std::string("2026-12-06/X\u00A0"), std::string("\u3000X"), std::string("X\u200B")}) {
    const std::optional<std::string> why = TextViolation(blanked, trimmed);
    ASSERT_TRUE(why.has_value()) << blanked;
    EXPECT_THAT(*why, ::testing::HasSubstr("begins or ends with white space or an invisible "
                                           "character"))
        << blanked;
  }
  EXPECT_FALSE(TextViolation(" 2026-12-06/X", {TextKind::kSingleLine, 32}).has_value());
  // All blank, in an optional field as in a required one (outside testing, sweep 45: a
  // detected_by of U+200B was stored, a shift filter of " " answered "no defects").
  for (const std::string blank : {" ", "\u00A0", "\u3000", "\u200B", "\uFEFF"}) {
    EXPECT_EQ(TextViolation(blank, trimmed).value_or(""),
              "only white space or invisible characters given, which say nothing (an "
              "optional field or filter is left empty instead)");
  }
  // Which character, and where: a trailing no-break space reads as a space otherwise
  // (outside testing, AF F7); the quoted value shows it escaped.
  EXPECT_THAT(TextViolation("cell-1\u00A0", trimmed).value_or(""),
              ::testing::HasSubstr("'cell-1\\u00A0' begins or ends with white space or an "
                                   "invisible character (ends with U+00A0 (NO-BREAK SPACE))"));
  EXPECT_THAT(TextViolation("cell-1 ", trimmed).value_or(""),
              ::testing::HasSubstr("(ends with U+0020 (SPACE))"));
  EXPECT_THAT(TextViolation("\u3000X", trimmed).value_or(""),
              ::testing::HasSubstr("(begins with U+3000 (IDEOGRAPHIC SPACE))"));
}

// Outside testing (sweep 52): a shift with U+200B or U+2060 inside, or "12" written
// backwards behind a right-to-left override, was a shift of its own that displayed as
// '2026-12-07/XXXX'; 'SEDAN\u202e0.2' displayed as 'SEDAN2.0'; 'k\u200dg' was a unit
// beside 'kg'. Inside a key, only the plain space may show nothing; the joiners and
// variation selectors only where writing needs them.
TEST(TextViolationTest, AKeyHoldsNothingInvisibleInside) {
  const TextRule key{TextKind::kSingleLine, 64, true};
  for (const auto& [value, which] : {
           std::pair<std::string, std::string>{"2026\u200B-12-07/XXXX",
                                               "holds U+200B (ZERO WIDTH SPACE) at character 5"},
           {"2026\u2060-12-07/XXXX", "holds U+2060"},
           {"2026-\u202E21\u202C-07/XXXX", "holds U+202E"},
           {"SEDAN\u202E0.2", "at character 6"},
           {"k\u200Dg", "holds U+200D"},
           {"Line\u00A01", "holds U+00A0 (NO-BREAK SPACE)"},
           {"A\uFEFFB", "holds U+FEFF"},
           {"x\uFE0Fy", "holds U+FE0F"},                           // no keycap
           {"\U0001F3F4\U000E0067\U000E0062 x", "holds U+E0067"},  // no cancel tag
           {"a\U000E0067\U000E007F b", "holds U+E0067"},           // no flag before
           // Re-test: tags that spell no subdivision carry text nobody sees; a second
           // selector after a keycap makes a key that looks like another.
           {"\U0001F3F4\U000E0073\U000E0073\U000E006E\U000E0020\U000E0030\U000E007F x",
            "holds U+E0073"},
           {"\U0001F3F4\U000E0071\U000E007F x", "holds U+E0071"},
           {"Bay 1\uFE0F\u20E3\uFE0F x", "holds U+FE0F"},
           {"caf\u00E9\uFE0F\uFE0F x", "at character 6"},
           // Outside testing (sweep 57): code points Unicode assigns no character.
           {"2026-12-07/A\uFFFE", "holds U+FFFE (a noncharacter) at character 13"},
           {"\uFFFF2026-12-07/A", "holds U+FFFF"},
           {"Line 1\u0378", "holds U+0378 (a code point Unicode 15 leaves unassigned)"},
       }) {
    const std::optional<std::string> why = TextViolation(value, key);
    ASSERT_TRUE(why.has_value()) << value;
    EXPECT_THAT(*why, ::testing::HasSubstr(which)) << value;
    EXPECT_THAT(*why, ::testing::HasSubstr("would display as another value")) << value;
  }
  // Where writing needs them: Persian with its non-joiner, a family emoji, a heart in
  // emoji presentation; spaces between words.
  for (const std::string& fine :
       {std::string("\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645"),
        std::string("\U0001F468\u200D\U0001F469\u200D\U0001F467"),
        std::string("\u2764\uFE0F Line 1"), std::string("Paint repair, shift A"),
        // Re-test: a keycap and a subdivision flag (England).
        std::string("Bay 1\uFE0F\u20E3 x"),
        std::string("\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F "
                    "team"),
        // Outside testing: a key ending in England's flag, or in a heart in emoji
        // presentation, was refused as ending with a tag character or a variation selector.
        std::string("team \U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F"),
        std::string("Line 1 \u2764\uFE0F"), std::string("Bay 1\uFE0F\u20E3")}) {
    EXPECT_FALSE(TextViolation(fine, key).has_value()) << fine;
  }
  // At a value's end, only what is part of its last character.
  for (const auto& [value, which] :
       {std::pair<std::string, std::string>{"caf\u00E9\uFE0F\uFE0F",
                                            "(ends with U+FE0F (a variation selector))"},
        {"Bay 1\uFE0F\u20E3\uFE0F", "(ends with U+FE0F"},
        {"team \U0001F3F4\U000E0071\U000E007F",
         "(ends with U+E0071 (a tag character) and 1 more character that shows nothing)"},
        // Re-test (sweep 60): the first of a run was named as if it were all, and the value
        // it would be taken for lost its last character's selector.
        {"Line \U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E0078"
         "\U000E0078\U000E007F",
         "(ends with U+E0067 (a tag character) and 7 more characters that show nothing)"},
        {"Line \uFE0F", "(ends with U+0020 (SPACE) and 1 more character that shows nothing)"},
        {"Line \u2764\uFE0F\uFE0F", "as another value than 'Line \u2764\\uFE0F'"},
        {"team \U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F\u00A0",
         "(ends with U+00A0"}}) {
    EXPECT_THAT(TextViolation(value, key).value_or(""), ::testing::HasSubstr(which)) << value;
  }
  // Free text is sent as typed.
  EXPECT_FALSE(TextViolation("k\u200Dg", {TextKind::kMultiLine, 64}).has_value());
}

// Outside testing (sweep 45): a writer_id, a request_id and a shift in NFD were new keys
// beside the same text in NFC; a model of combining accents alone was taken.
TEST(TextViolationTest, AKeyHasOneSpellingInUnicode) {
  const TextRule key{TextKind::kSingleLine, 64, true};
  EXPECT_FALSE(TextViolation("Fr\u00FCh-2026-12-06", key).has_value());  // NFC
  EXPECT_FALSE(TextViolation("presse-z\u00FCrich", key).has_value());
  EXPECT_FALSE(TextViolation("\u00E9t\u00E9 \u0915\u094D\u0937", key).has_value());
  EXPECT_THAT(TextViolation("Fru\u0308h-2026-12-06", key).value_or(""),
              ::testing::HasSubstr("is not in Unicode normalization form C (from character 3, "
                                   "U+0075 U+0308 is U+00FC in NFC)"));
  // Only where the field says so: a description may be sent as typed.
  EXPECT_FALSE(TextViolation("Fru\u0308h", {TextKind::kMultiLine, 64}).has_value());
  EXPECT_THAT(TextViolation("\u0301\u0301\u0301", key).value_or(""),
              ::testing::HasSubstr("begins with U+0301, a combining mark with no character "
                                   "before it to combine with"));
  EXPECT_THAT(TextViolation("\u0301X", key).value_or(""), ::testing::HasSubstr("U+0301"));
}

// Outside testing: a shift code 'a' was told codes are 1-32 characters, where the field
// takes 8 (TextRule.max_chars narrows a code).
TEST(TextViolationTest, ACodeFieldMayBeShorter) {
  const TextRule shift_code{TextKind::kCode, 8};
  EXPECT_FALSE(TextViolation("NIGHT-2", shift_code).has_value());
  EXPECT_THAT(TextViolation("a", shift_code).value_or(""),
              HasSubstr("'a' is not a code: 1-8 characters A-Z, 0-9, '-'"));
  EXPECT_THAT(TextViolation("ABCDEFGHI", shift_code).value_or(""),
              HasSubstr("'ABCDEFGHI' is not a code: 1-8 characters A-Z, 0-9, '-'"));
  EXPECT_EQ(CodePattern(0), kCodePattern);
}

TEST(TextViolationTest, OneCodePattern) {
  for (const std::string& good : std::vector<std::string>{
           "A", "PAINT", "P-07", "RP-03", "PAINT-SCRATCH", "WBA-123-XY9", std::string(32, 'Z')}) {
    EXPECT_TRUE(IsCode(good)) << good;
    EXPECT_FALSE(TextViolation(good, kCode).has_value()) << good;
  }
  EXPECT_FALSE(TextViolation("", kCode).has_value());  // empty: not given
  // Blanks say nothing, in an optional filter as in a required field (re-test, sweep 47:
  // ListDefects' zone filter of " " was told "required").
  for (const std::string blank : {" ", "\xC2\xA0"}) {
    EXPECT_THAT(TextViolation(blank, kCode).value_or(""),
                ::testing::StartsWith("only white space or invisible characters given, which "
                                      "say nothing"));
  }
  for (const std::string& bad : std::vector<std::string>{
           "paint", "P 07", "P_07", "P.07", "2026-11-21/A", "T\xC3\x9cR", std::string(33, 'Z')}) {
    EXPECT_FALSE(IsCode(bad)) << bad;
    std::optional<std::string> why = TextViolation(bad, kCode);
    ASSERT_TRUE(why.has_value()) << bad;
    EXPECT_THAT(*why, HasSubstr("is not a code: 1-32 characters A-Z, 0-9, '-'"));
  }
}

// One spelling per number (outside testing: "01" read defect 1 in one service and was
// refused in another).
TEST(DecimalIdTest, OnlyTheCanonicalSpellingIsAnId) {
  EXPECT_EQ(ParseDecimalId("1"), 1);
  EXPECT_EQ(ParseDecimalId("4711"), 4711);
  EXPECT_EQ(ParseDecimalId("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", "0", "01", "007", "+1", "-1", " 1", "1 ", "1e3", "0x10", "١",
                          "9223372036854775808", "99999999999999999999"}) {
    EXPECT_EQ(ParseDecimalId(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace plantmesh::runtime
