#include "plantmesh/common/blank_text.h"

#include <gtest/gtest.h>
#include <utf8proc.h>

#include <string>

namespace plantmesh::common {
namespace {

TEST(BlankTextTest, NothingOrOnlyWhiteSpaceIsBlank) {
  EXPECT_TRUE(IsBlankText(""));
  EXPECT_TRUE(IsBlankText(" \t\r\n\v\f"));
  EXPECT_FALSE(IsBlankText(" x "));
}

// Outside testing: a crew name of U+00A0, a cancel reason of U+00A0 U+3000 and a
// writer_id of U+3000 were taken as given.
TEST(BlankTextTest, UnicodeSpacesAndInvisibleCharactersAreBlank) {
  for (const char* blank : {
           "\u00a0",              // no-break space
           "\u00a0\u3000",        // and the ideographic space
           "\u2003",              // em space
           "\u200b",              // zero-width space
           "\ufeff",              // byte order mark
           "\u180e",              // Mongolian vowel separator
           "\u202e",              // right-to-left override
           "\u2028\u2029",        // line and paragraph separators
           "\u00ad\u2060",        // soft hyphen, word joiner
           "\U000E0020",          // tag space
           "\u3164\uFFA0",        // Hangul fillers
           "\u2800",              // braille pattern blank
           "\uFFF9\uFFFA\uFFFB",  // interlinear annotation anchor, separator, terminator
       }) {
    EXPECT_TRUE(IsBlankText(blank)) << blank;
  }
}

TEST(BlankTextTest, AnythingVisibleOrNotUtf8IsNotBlank) {
  EXPECT_FALSE(IsBlankText("\u00a0a"));
  EXPECT_FALSE(IsBlankText("\u200b\u00e9"));
  EXPECT_FALSE(IsBlankText("\u4e00"));     // a CJK ideograph
  EXPECT_FALSE(IsBlankText("\xa0"));       // a lone continuation byte: not text at all
  EXPECT_FALSE(IsBlankText(" \xe3\x80"));  // a truncated U+3000
}

TEST(BlankTextTest, TrimInvisibleKeepsWhatShowsBetweenTheFirstAndLastVisibleCharacter) {
  EXPECT_EQ(TrimInvisible(" ACTIVE\t"), "ACTIVE");
  EXPECT_EQ(TrimInvisible("ACTIVE\u00a0"), "ACTIVE");
  EXPECT_EQ(TrimInvisible("\ufeff\u3000READY\u200b"), "READY");
  EXPECT_EQ(TrimInvisible("a\u00a0b"), "a\u00a0b");  // inside stays
  EXPECT_EQ(TrimInvisible("\u00a0\u2003"), "");
  EXPECT_EQ(TrimInvisible(""), "");
  EXPECT_EQ(TrimInvisible(" \xa0 "), "\xa0");  // not UTF-8: kept, to be refused as such
}

// Against Debian's utf8proc (Unicode 15): every character of White_Space's classes (Zs,
// Zl, Zp), every default-ignorable one and every format character (Cf) shows nothing (or
// nothing a key may end with). Outside testing (sweep 45): 22 format characters were
// taken at a value's end.
TEST(BlankTextTest, EveryCharacterUnicodeCallsBlankIsInvisible) {
  int missing = 0;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    const utf8proc_category_t category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    const bool blank = category == UTF8PROC_CATEGORY_ZS || category == UTF8PROC_CATEGORY_ZL ||
                       category == UTF8PROC_CATEGORY_ZP || category == UTF8PROC_CATEGORY_CF ||
                       utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->ignorable;
    if (blank && !IsInvisibleCharacter(c) && ++missing <= 10) {
      ADD_FAILURE() << "U+" << std::hex << static_cast<uint32_t>(c) << " is not invisible";
    }
  }
  EXPECT_EQ(missing, 0);
}

TEST(BlankTextTest, AnInvisibleCharacterIsNamed) {
  EXPECT_EQ(InvisibleCharacterName(0xA0), "U+00A0 (NO-BREAK SPACE)");
  EXPECT_EQ(InvisibleCharacterName(0x202E), "U+202E (RIGHT-TO-LEFT OVERRIDE)");
  EXPECT_EQ(InvisibleCharacterName(0x200F), "U+200F (RIGHT-TO-LEFT MARK)");
  EXPECT_EQ(InvisibleCharacterName(0xFE0F), "U+FE0F (a variation selector)");
  EXPECT_EQ(InvisibleCharacterName(0xE0041), "U+E0041 (a tag character)");
  EXPECT_EQ(InvisibleCharacterName(0x605), "U+0605 (a format character)");
  EXPECT_EQ(BlankAround("2026-12-06/A\u0605"), "ends with U+0605 (a format character)");
}

}  // namespace
}  // namespace plantmesh::common
