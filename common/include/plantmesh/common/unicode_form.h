// The Unicode properties of a key's spelling that no byte comparison sees: its
// normalization form and a combining mark with nothing to combine with. By Debian's
// utf8proc (Unicode 15). Not installed with the SDK: the server's text rules and
// plantctl's file checks use it.
#pragma once

#include <string>
#include <string_view>

namespace plantmesh::common {

// Why `text` is not in Unicode Normalization Form C (the composed form keyboards and most
// systems send), naming where it first differs: "from character 3, U+0075 U+0308 is
// U+00FC in NFC". "" when it is in NFC, or is not valid UTF-8 (another rule's to judge).
// Two spellings of one text would be two keys (outside testing: a writer_id and a
// request_id in NFD were new ones, a shift in NFD another shift).
std::string NotNfcWhy(std::string_view text);

// Whether `c` is a combining mark (General_Category Mn, Mc, Me): it draws on the
// character before it.
bool IsCombiningMark(char32_t c);

// "begins with U+0301, a combining mark with no character before it to combine with"
// when `text` does; "" otherwise (outside testing: a model of three combining accents was
// taken as a model).
std::string LeadingCombiningMark(std::string_view text);

// Whether Unicode 15 assigns `c` no character (General_Category Cn): an unassigned code
// point (U+0378) or a noncharacter (U+FDD0-FDEF, U+FFFE, U+FFFF and their likes in every
// plane). A terminal shows it as nothing or a box, and a later Unicode may give it a look.
bool IsUnassigned(char32_t c);

// "holds U+FFFE (a noncharacter) at character 13" when `text` holds a code point
// IsUnassigned names, the first one; "" otherwise (outside testing: shifts ending in
// U+FFFE or U+10FFFF and a model ending in U+0378 were taken as values of their own, that
// every screen showed as "2026-12-07/A").
std::string UnassignedInside(std::string_view text);

// Whether a message or plantctl's output writes `c` as an escape: ShowsAsEscape
// (blank_text.h) or IsUnassigned.
bool DisplaysEscaped(char32_t c);

}  // namespace plantmesh::common
