// What counts as "nothing given" for a text.
#pragma once

#include <string_view>

namespace plantmesh::common {

// Whether `c` shows nothing: Unicode's White_Space characters (ASCII's, NEL, no-break
// spaces, the typographic spaces U+2000-200A, line and paragraph separators, the
// ideographic space U+3000) and the default-ignorable format characters (soft hyphen,
// zero-width spaces and joiners, bidirectional marks and embeddings, word joiner and
// invisible operators, variation selectors, the byte order mark, tag characters, the
// Hangul fillers).
bool IsInvisibleCharacter(char32_t c);

// Empty, or only characters that show nothing (IsInvisibleCharacter) in valid UTF-8. A
// required text that is blank is missing: the contract's REQUIRED check
// (contract::MissingRequiredFields) and every service's own "required" checks use this
// rule (outside testing: a writer_id of spaces, a crew name of U+00A0 and a cancel
// reason of U+3000 were taken).
bool IsBlankText(std::string_view text);

}  // namespace plantmesh::common
