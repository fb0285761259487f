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

}  // namespace plantmesh::common
