#include "plantmesh/common/blank_text.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace plantmesh::common
