#include "plantmesh/common/blank_text.h"

#include "plantmesh/common/utf8.h"

namespace plantmesh::common {

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

}  // namespace plantmesh::common
