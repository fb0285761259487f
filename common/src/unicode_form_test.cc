#include "plantmesh/common/unicode_form.h"

#include <gtest/gtest.h>

namespace plantmesh::common {
namespace {

TEST(UnicodeFormTest, NamesWhereATextIsNotInNfc) {
  EXPECT_EQ(NotNfcWhy("Fr\u00FCh"), "");
  EXPECT_EQ(NotNfcWhy(""), "");
  EXPECT_EQ(NotNfcWhy("\xFF"), "");  // not UTF-8: another rule's to judge
  EXPECT_EQ(NotNfcWhy("Fru\u0308h"), "from character 3, U+0075 U+0308 is U+00FC in NFC");
  // A singleton that NFC replaces: the Ångström sign is U+00C5.
  EXPECT_EQ(NotNfcWhy("\u212B"), "from character 1, U+212B is U+00C5 in NFC");
  // Hangul jamo compose to a syllable: the whole sequence is named (outside testing,
  // sweep 46: "U+1100 is U+AC01").
  EXPECT_EQ(NotNfcWhy("Crew-\u1100\u1161\u11A8"),
            "from character 6, U+1100 U+1161 U+11A8 is U+AC01 in NFC");
  EXPECT_EQ(NotNfcWhy("\uAC00\u11A8x"), "from character 1, U+AC00 U+11A8 is U+AC01 in NFC");
  // Marks out of canonical order: only what moves is named.
  EXPECT_EQ(NotNfcWhy("aq\u0301\u0323b"),
            "from character 3, U+0301 U+0323 is U+0323 U+0301 in NFC");
}

TEST(UnicodeFormTest, ACombiningMarkFirstIsNamed) {
  EXPECT_EQ(LeadingCombiningMark("e\u0301"), "");
  EXPECT_EQ(LeadingCombiningMark(""), "");
  EXPECT_EQ(LeadingCombiningMark("\u0301\u0301"),
            "begins with U+0301, a combining mark with no character before it to combine with");
}

// Outside testing (sweep 57): shifts ending in U+FFFE or U+10FFFF and a model ending in
// U+0378 were values of their own that every screen showed as the value without them.
TEST(UnicodeFormTest, CodePointsUnicodeAssignsNoCharacterAreNamed) {
  EXPECT_EQ(UnassignedInside("2026-12-07/A\uFFFE"),
            "holds U+FFFE (a noncharacter) at character 13");
  EXPECT_EQ(UnassignedInside("\uFFFF2026"), "holds U+FFFF (a noncharacter) at character 1");
  EXPECT_EQ(UnassignedInside("A\U0010FFFF"), "holds U+10FFFF (a noncharacter) at character 2");
  EXPECT_EQ(UnassignedInside("x\uFDD0"), "holds U+FDD0 (a noncharacter) at character 2");
  EXPECT_EQ(UnassignedInside("Line 1\u0378"),
            "holds U+0378 (a code point Unicode 15 leaves unassigned) at character 7");
  EXPECT_EQ(UnassignedInside("Line 1\U0003FFFE"), "holds U+3FFFE (a noncharacter) at character 7");
  // Assigned: letters of every script, emoji, private use (a plant's own symbols).
  for (const char* fine : {"M\u00FCller", "\u4E2D\u6587", "\U0001F600", "\uE000", "", "\xFF"}) {
    EXPECT_EQ(UnassignedInside(fine), "") << fine;
  }
  EXPECT_TRUE(DisplaysEscaped(0xFFFE));
  EXPECT_TRUE(DisplaysEscaped(0x378));
  EXPECT_TRUE(DisplaysEscaped(0x200B));  // ShowsAsEscape's
  EXPECT_FALSE(DisplaysEscaped(U'\u00FC'));
}

}  // namespace
}  // namespace plantmesh::common
