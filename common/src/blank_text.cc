#include "plantmesh/common/blank_text.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "plantmesh/common/utf8.h"

namespace plantmesh::common {
namespace {

// The Unicode names of the characters a value may carry unseen (UnicodeData.txt).
struct NamedCharacter {
  char32_t code_point;
  const char* name;
};
constexpr NamedCharacter kNames[] = {
    {0x20, "SPACE"},
    {0x85, "NEXT LINE"},
    {0xA0, "NO-BREAK SPACE"},
    {0xAD, "SOFT HYPHEN"},
    {0x34F, "COMBINING GRAPHEME JOINER"},
    {0x61C, "ARABIC LETTER MARK"},
    {0x115F, "HANGUL CHOSEONG FILLER"},
    {0x1160, "HANGUL JUNGSEONG FILLER"},
    {0x1680, "OGHAM SPACE MARK"},
    {0x180E, "MONGOLIAN VOWEL SEPARATOR"},
    {0x2000, "EN QUAD"},
    {0x2001, "EM QUAD"},
    {0x2002, "EN SPACE"},
    {0x2003, "EM SPACE"},
    {0x2004, "THREE-PER-EM SPACE"},
    {0x2005, "FOUR-PER-EM SPACE"},
    {0x2006, "SIX-PER-EM SPACE"},
    {0x2007, "FIGURE SPACE"},
    {0x2008, "PUNCTUATION SPACE"},
    {0x2009, "THIN SPACE"},
    {0x200A, "HAIR SPACE"},
    {0x200B, "ZERO WIDTH SPACE"},
    {0x200C, "ZERO WIDTH NON-JOINER"},
    {0x200D, "ZERO WIDTH JOINER"},
    {0x200E, "LEFT-TO-RIGHT MARK"},
    {0x200F, "RIGHT-TO-LEFT MARK"},
    {0x2028, "LINE SEPARATOR"},
    {0x2029, "PARAGRAPH SEPARATOR"},
    {0x202A, "LEFT-TO-RIGHT EMBEDDING"},
    {0x202B, "RIGHT-TO-LEFT EMBEDDING"},
    {0x202C, "POP DIRECTIONAL FORMATTING"},
    {0x202D, "LEFT-TO-RIGHT OVERRIDE"},
    {0x202E, "RIGHT-TO-LEFT OVERRIDE"},
    {0x202F, "NARROW NO-BREAK SPACE"},
    {0x205F, "MEDIUM MATHEMATICAL SPACE"},
    {0x2060, "WORD JOINER"},
    {0x2061, "FUNCTION APPLICATION"},
    {0x2062, "INVISIBLE TIMES"},
    {0x2063, "INVISIBLE SEPARATOR"},
    {0x2064, "INVISIBLE PLUS"},
    {0x2066, "LEFT-TO-RIGHT ISOLATE"},
    {0x2067, "RIGHT-TO-LEFT ISOLATE"},
    {0x2068, "FIRST STRONG ISOLATE"},
    {0x2069, "POP DIRECTIONAL ISOLATE"},
    {0x2800, "BRAILLE PATTERN BLANK"},
    {0x3000, "IDEOGRAPHIC SPACE"},
    {0x3164, "HANGUL FILLER"},
    {0xFEFF, "ZERO WIDTH NO-BREAK SPACE, a byte order mark"},
    {0xFFA0, "HALFWIDTH HANGUL FILLER"},
};

// Whether a tag sequence's tags (between U+1F3F4 and the cancel tag U+E007F) spell a
// subdivision, as Unicode's emoji flags do (UTS #51, CLDR): a region's two lowercase
// letters, then 1 to 4 lowercase letters or digits (gbeng, gbsct, gbwls). Any other tags
// would carry text nobody sees (re-test: a shift held "ssn 078-05-1120" in tags).
bool IsSubdivisionTags(const std::u32string& tags) {
  if (tags.size() < 3 || tags.size() > 6) return false;
  for (size_t i = 0; i < tags.size(); ++i) {
    const char32_t c = tags[i] - 0xE0000;
    const bool letter = c >= 'a' && c <= 'z';
    const bool digit = c >= '0' && c <= '9';
    if (!(letter || (i >= 2 && digit))) return false;
  }
  return true;
}

// Where an emoji subdivision flag's tags end (England's: U+1F3F4, tags spelling a
// subdivision, then the cancel tag U+E007F), given `at` just after its U+1F3F4: the
// place after the cancel tag, or npos when what follows is no such sequence.
size_t SubdivisionFlagEnd(std::string_view text, size_t at) {
  std::u32string tags;
  while (at < text.size() && tags.size() <= 6) {
    const Utf8Char tag = DecodeUtf8At(text, at);
    at += tag.length;
    if (tag.code_point == 0xE007F) return IsSubdivisionTags(tags) ? at : std::string_view::npos;
    if (tag.code_point < 0xE0020 || tag.code_point > 0xE007E) break;
    tags.push_back(tag.code_point);
  }
  return std::string_view::npos;
}

// The place where the character ending at `end` ends with what belongs to it but shows
// nothing of its own: a variation selector right after a character beyond ASCII (U+2764
// U+FE0F, a heart in emoji presentation), or a subdivision flag's tags. Those are part of
// the last character of a value, not blanks after it (outside testing: a key ending in
// England's flag was refused as ending with a tag character).
size_t EndOfLastCharacter(std::string_view text, size_t end) {
  size_t start = end;
  while (start > 0 && (static_cast<unsigned char>(text[start - 1]) & 0xC0) == 0x80) --start;
  if (start > 0) --start;
  const char32_t last = DecodeUtf8At(text, start).code_point;
  if (end >= text.size() || last <= 0x7F || last == kNotUtf8 || last == 0x20E3) return end;
  const Utf8Char next = DecodeUtf8At(text, end);
  if (next.code_point >= 0xFE00 && next.code_point <= 0xFE0F) return end + next.length;
  if (last == 0x1F3F4) {
    const size_t flag_end = SubdivisionFlagEnd(text, end);
    if (flag_end != std::string_view::npos) return flag_end;
  }
  return end;
}

}  // namespace

std::string InvisibleCharacterName(char32_t c) {
  const char* name = "an invisible character";
  for (const NamedCharacter& named : kNames) {
    if (named.code_point == c) name = named.name;
  }
  if ((c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0100 && c <= 0xE01EF) ||
      (c >= 0x180B && c <= 0x180D) || c == 0x180F) {
    name = "a variation selector";
  } else if (c >= 0xE0000 && c <= 0xE007F) {
    name = "a tag character";
  } else if ((c >= 0x600 && c <= 0x605) || c == 0x6DD || c == 0x70F || c == 0x890 || c == 0x891 ||
             c == 0x8E2 || c == 0x110BD || c == 0x110CD || (c >= 0x13430 && c <= 0x1343F) ||
             (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0x1BCA0 && c <= 0x1BCA3) ||
             (c >= 0x1D173 && c <= 0x1D17A)) {
    name = "a format character";
  }
  return absl::StrFormat("U+%04X (%s)", static_cast<uint32_t>(c), name);
}

bool IsInvisibleCharacter(char32_t c) {
  // White_Space (Unicode PropList.txt).
  if ((c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
      (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
      c == 0x3000) {
    return true;
  }
  // Default_Ignorable_Code_Point (DerivedCoreProperties.txt); the Hangul fillers and the
  // braille pattern blank, which render as blanks; the interlinear annotation format
  // characters, which render as nothing (outside testing: U+2800 and U+FFF9 alone were
  // taken as a defect's shift).
  // The other format characters (General_Category Cf): number signs and marks that span
  // what follows (U+0600-0605, U+06DD, U+070F, U+0890-0891, U+08E2, U+110BD, U+110CD) and
  // the Egyptian hieroglyph format controls, meaningless at a value's end (outside testing:
  // a shift with U+0605 after it was a shift of its own).
  if ((c >= 0x600 && c <= 0x605) || c == 0x6DD || c == 0x70F || c == 0x890 || c == 0x891 ||
      c == 0x8E2 || c == 0x110BD || c == 0x110CD || (c >= 0x13430 && c <= 0x1343F)) {
    return true;
  }
  return c == 0xAD || c == 0x34F || c == 0x61C || c == 0x115F || c == 0x1160 ||
         (c >= 0x17B4 && c <= 0x17B5) || (c >= 0x180B && c <= 0x180F) ||
         (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2060 && c <= 0x206F) || c == 0x2800 || c == 0x3164 ||
         (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF || c == 0xFFA0 ||
         (c >= 0xFFF0 && c <= 0xFFFB) || (c >= 0x1BCA0 && c <= 0x1BCA3) ||
         (c >= 0x1D173 && c <= 0x1D17A) || (c >= 0xE0000 && c <= 0xE0FFF);
}

bool ShowsAsEscape(char32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c != 0x20 && IsInvisibleCharacter(c));
}

void AppendCodePointEscape(std::string* out, char32_t c) {
  if (c > 0xFFFF) {
    absl::StrAppendFormat(out, "\\U%08X", static_cast<uint32_t>(c));
  } else {
    absl::StrAppendFormat(out, "\\u%04X", static_cast<uint32_t>(c));
  }
}

bool IsBlankText(std::string_view text) {
  for (size_t at = 0; at < text.size();) {
    const Utf8Char decoded = DecodeUtf8At(text, at);
    if (decoded.code_point == kNotUtf8 || !IsInvisibleCharacter(decoded.code_point)) {
      return false;
    }
    at += decoded.length;
  }
  return true;
}

std::string_view TrimInvisible(std::string_view text) {
  size_t begin = text.size(), end = 0;  // of the first and last character that shows
  for (size_t at = 0; at < text.size();) {
    const Utf8Char decoded = DecodeUtf8At(text, at);
    if (decoded.code_point == kNotUtf8 || !IsInvisibleCharacter(decoded.code_point)) {
      if (begin == text.size()) begin = at;
      end = at + decoded.length;
    }
    at += decoded.length;
  }
  return begin < end ? text.substr(begin, end - begin) : std::string_view();
}

std::string_view WithoutBlanksAround(std::string_view text) {
  const std::string_view shown = TrimInvisible(text);
  if (shown.empty()) return shown;
  const size_t begin = static_cast<size_t>(shown.data() - text.data());
  return text.substr(begin, EndOfLastCharacter(text, begin + shown.size()) - begin);
}

std::string BlankAround(std::string_view text) {
  const std::string_view kept = WithoutBlanksAround(text);
  if (kept.empty() || kept.size() == text.size()) return "";
  const bool begins = kept.data() != text.data();
  const size_t from = begins ? 0 : static_cast<size_t>(kept.data() - text.data()) + kept.size();
  const size_t to = begins ? static_cast<size_t>(kept.data() - text.data()) : text.size();
  // The first of the run, and how many follow it (outside testing: "ends with U+E0067"
  // for a value ending in seven tag characters read as if it ended in that one).
  size_t more = 0;
  for (size_t at = from; at < to; at += DecodeUtf8At(text, at).length) ++more;
  --more;
  std::string said = absl::StrCat(begins ? "begins" : "ends", " with ",
                                  InvisibleCharacterName(DecodeUtf8At(text, from).code_point));
  if (more > 0) {
    absl::StrAppend(
        &said, " and ", more,
        more == 1 ? " more character that shows nothing" : " more characters that show nothing");
  }
  return said;
}

std::string InvisibleInside(std::string_view text) {
  const std::string_view shown = TrimInvisible(text);
  char32_t before = 0;  // the last character that shows
  char32_t last = 0;    // the character just before the one being judged
  size_t characters = 0;
  for (size_t at = 0; at < shown.size();) {
    const Utf8Char decoded = DecodeUtf8At(shown, at);
    const char32_t c = decoded.code_point;
    const char32_t previous = last;
    last = c;
    ++characters;
    at += decoded.length;
    if (c == kNotUtf8 || c == 0x20 || !IsInvisibleCharacter(c)) {
      before = c;
      continue;
    }
    const bool after_non_ascii = before > 0x7F && before != kNotUtf8;
    const char32_t next = at < shown.size() ? DecodeUtf8At(shown, at).code_point : 0;
    // One variation selector, right after the character it selects, not after a keycap's
    // mark (re-test: 1️⃣ with more U+FE0F after it were keys of their own that look alike).
    if (c >= 0xFE00 && c <= 0xFE0F && after_non_ascii && previous == before && before != 0x20E3) {
      continue;
    }
    // An emoji keycap: 0-9, # or * with U+FE0F and U+20E3 (re-test: 1️⃣ was refused).
    if (c == 0xFE0F && next == 0x20E3 && previous == before &&
        ((before >= '0' && before <= '9') || before == '#' || before == '*')) {
      continue;
    }
    if ((c == 0x200C || c == 0x200D) && after_non_ascii && next > 0x7F && next != kNotUtf8) {
      continue;
    }
    // An emoji subdivision flag (England's): U+1F3F4, tags spelling a subdivision, then
    // the cancel tag U+E007F.
    if (previous == 0x1F3F4 && c >= 0xE0020 && c <= 0xE007E) {
      const size_t flag_end = SubdivisionFlagEnd(shown, at - decoded.length);
      if (flag_end != std::string_view::npos) {
        // The tags after the first, and the cancel tag, each 4 bytes.
        characters += (flag_end - at) / 4;
        at = flag_end;
        before = last = 0xE007F;
        continue;
      }
    }
    return absl::StrCat("holds ", InvisibleCharacterName(c), " at character ", characters);
  }
  return "";
}

}  // namespace plantmesh::common
