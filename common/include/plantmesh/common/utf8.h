// Strict UTF-8 decoding (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. The contract's text rules and the quoting of values in error messages read
// text with it.
#pragma once

#include <cstddef>
#include <string_view>

namespace plantmesh::common {

inline constexpr char32_t kNotUtf8 = 0xFFFFFFFF;

// One character: its code point and its length in bytes; an invalid or truncated
// sequence is kNotUtf8 with length 1 (its first byte, to report or skip).
struct Utf8Char {
  char32_t code_point = kNotUtf8;
  size_t length = 1;
};

// The character at text[at] (at < text.size()).
Utf8Char DecodeUtf8At(std::string_view text, size_t at);

// What the contract's text rules (plantmesh.api.v1.TextRule) call control characters and
// line breaks: C0 (U+0000-U+001F), DELETE, C1 (U+0080-U+009F), LINE and PARAGRAPH
// SEPARATOR. The server's rules and the SDK's checks before sending read it here.
constexpr bool IsControlOrLineBreak(char32_t c) {
  return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F) || c == 0x2028 || c == 0x2029;
}

// Where `text` stops being UTF-8: the offset of the first byte that starts no valid
// character, or std::string_view::npos when it is all valid.
size_t FirstNotUtf8(std::string_view text);

}  // namespace plantmesh::common
