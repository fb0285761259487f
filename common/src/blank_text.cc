#include "plantmesh/common/blank_text.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "plantmesh/common/utf8.h"

namespace plantmesh::common {
namespace {

// "U+00A0 (NO-BREAK SPACE)": the blanks a value may carry unseen, by their Unicode names.
std::string BlankName(char32_t c) {
  const char* name = "an invisible character";
  switch (c) {
    case 0x20:
      name = "SPACE";
      break;
    case 0xA0:
      name = "NO-BREAK SPACE";
      break;
    case 0x200B:
      name = "ZERO WIDTH SPACE";
      break;
    case 0x200C:
      name = "ZERO WIDTH NON-JOINER";
      break;
    case 0x200D:
      name = "ZERO WIDTH JOINER";
      break;
    case 0x2060:
      name = "WORD JOINER";
      break;
    case 0x202F:
      name = "NARROW NO-BREAK SPACE";
      break;
    case 0x2800:
      name = "BRAILLE PATTERN BLANK";
      break;
    case 0x3000:
      name = "IDEOGRAPHIC SPACE";
      break;
    case 0xFEFF:
      name = "ZERO WIDTH NO-BREAK SPACE, a byte order mark";
      break;
    default:
      if (c >= 0x2000 && c <= 0x200A) name = "a typographic space";
      break;
  }
  return absl::StrFormat("U+%04X (%s)", static_cast<uint32_t>(c), name);
}

}  // namespace

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
  return c == 0xAD || c == 0x34F || c == 0x61C || c == 0x115F || c == 0x1160 ||
         (c >= 0x17B4 && c <= 0x17B5) || (c >= 0x180B && c <= 0x180F) ||
         (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2060 && c <= 0x206F) || c == 0x2800 || c == 0x3164 ||
         (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF || c == 0xFFA0 ||
         (c >= 0xFFF0 && c <= 0xFFFB) || (c >= 0x1BCA0 && c <= 0x1BCA3) ||
         (c >= 0x1D173 && c <= 0x1D17A) || (c >= 0xE0000 && c <= 0xE0FFF);
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

std::string BlankAround(std::string_view text) {
  const std::string_view shown = TrimInvisible(text);
  if (shown.empty() || shown.size() == text.size()) return "";
  const bool begins = shown.data() != text.data();
  const size_t at = begins ? 0 : static_cast<size_t>(shown.data() - text.data()) + shown.size();
  return absl::StrCat(begins ? "begins" : "ends", " with ",
                      BlankName(DecodeUtf8At(text, at).code_point));
}

}  // namespace plantmesh::common
