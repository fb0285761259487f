// What counts as "nothing given" for a text.
#pragma once

#include <string>
#include <string_view>

namespace plantmesh::common {

// Whether `c` shows nothing: Unicode's White_Space characters (ASCII's, NEL, no-break
// spaces, the typographic spaces U+2000-200A, line and paragraph separators, the
// ideographic space U+3000) and the default-ignorable format characters (soft hyphen,
// zero-width spaces and joiners, bidirectional marks and embeddings, word joiner and
// invisible operators, variation selectors, the byte order mark, tag characters, the
// Hangul fillers) and the other format characters (General_Category Cf). A test holds it
// to Debian's utf8proc: no character of those classes is missing.
bool IsInvisibleCharacter(char32_t c);

// "U+00A0 (NO-BREAK SPACE)": an invisible character (IsInvisibleCharacter) by its code
// point and Unicode name, or its kind ("a variation selector", "a tag character", "a
// format character") where Unicode names it by number alone or the name says little.
// How every message names one.
std::string InvisibleCharacterName(char32_t c);

// Empty, or only characters that show nothing (IsInvisibleCharacter) in valid UTF-8. A
// required text that is blank is missing: the contract's REQUIRED check
// (contract::MissingRequiredFields) and every service's own "required" checks use this
// rule (outside testing: a writer_id of spaces, a crew name of U+00A0 and a cancel
// reason of U+3000 were taken).
bool IsBlankText(std::string_view text);

// `text` without the characters that show nothing (IsInvisibleCharacter) at its start and
// end: how a value the server matches by its text (an EXECUTION state "ACTIVE", a part
// count's digits, "UNAVAILABLE") is read, so that the white space of one rule is the white
// space of every rule (outside testing: "ACTIVE" and a U+00A0 was no state at all, while
// " ACTIVE" was RUNNING). Bytes that are not UTF-8 are kept.
std::string_view TrimInvisible(std::string_view text);

// Whether a message shows `c` escaped rather than as itself: the controls (C0, DEL, C1)
// and every invisible character but the plain space, which would change how the message
// displays or read as something else (outside testing: a value ending in U+00A0 read
// exactly as one ending in a space). The server's messages and plantctl's quote alike.
bool ShowsAsEscape(char32_t c);
// Appends `c` as \uXXXX, or \UXXXXXXXX beyond the Basic Multilingual Plane (as C++ and
// Python write them).
void AppendCodePointEscape(std::string* out, char32_t c);

// `text` without what shows nothing at its ends (TrimInvisible), but with what belongs to
// its last character: a variation selector after a character beyond ASCII, a subdivision
// flag's tags (U+2764 U+FE0F keeps its selector). The value a refusal says `text` would be
// taken for.
std::string_view WithoutBlanksAround(std::string_view text);

// "ends with U+00A0 (NO-BREAK SPACE)" (or "begins with ...", the first one; "... and 2
// more characters that show nothing" for a longer run) when `text` has a character that
// shows nothing at an end (besides what belongs to its last character:
// WithoutBlanksAround) and something else besides; "" otherwise. How every
// no_blanks_around refusal, the server's and plantctl's, names it.
std::string BlankAround(std::string_view text);

// "holds U+200B (ZERO WIDTH SPACE) at character 5" when `text` holds, between its first
// and last characters that show, one that shows nothing or another character's look (every
// IsInvisibleCharacter but the plain space U+0020): the value would display as another
// than it is (outside testing: '2026\u200b-12-07/A' was a shift of its own beside
// '2026-12-07/A', and 'SEDAN\u202e0.2' with a right-to-left override displayed as
// 'SEDAN2.0'); "" otherwise. Allowed where writing needs them: the joiners U+200C and
// U+200D between two characters beyond ASCII (Persian, Devanagari, emoji sequences), one
// variation selector right after one (emoji presentation), an emoji keycap ([0-9#*] U+FE0F
// U+20E3) and an emoji subdivision flag (U+1F3F4, tags that spell a subdivision such as
// "gbeng", the cancel tag U+E007F). How every no_blanks_around refusal names it.
std::string InvisibleInside(std::string_view text);

}  // namespace plantmesh::common
