#include "plantmesh/common/unicode_form.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "plantmesh/common/blank_text.h"
#include "plantmesh/common/utf8.h"

namespace plantmesh::common {
namespace {

// The code points of `text`, valid UTF-8 (utf8proc_map read it).
std::vector<int32_t> CodePoints(std::string_view text) {
  std::vector<int32_t> out;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  for (size_t at = 0; at < text.size();) {
    utf8proc_int32_t c = -1;
    const utf8proc_ssize_t n =
        utf8proc_iterate(bytes + at, static_cast<utf8proc_ssize_t>(text.size() - at), &c);
    if (n <= 0) break;
    out.push_back(c);
    at += static_cast<size_t>(n);
  }
  return out;
}

// "U+0075 U+0308": points[from, to).
std::string CodePointsText(const std::vector<int32_t>& points, size_t from, size_t to) {
  std::vector<std::string> names;
  for (size_t i = from; i < to; ++i) {
    names.push_back(absl::StrFormat("U+%04X", static_cast<uint32_t>(points[i])));
  }
  return absl::StrJoin(names, " ");
}

}  // namespace

bool IsCombiningMark(char32_t c) {
  const utf8proc_category_t category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return category == UTF8PROC_CATEGORY_MN || category == UTF8PROC_CATEGORY_MC ||
         category == UTF8PROC_CATEGORY_ME;
}

std::string NotNfcWhy(std::string_view text) {
  // ASCII is in NFC: the keys of almost every request cost one pass, no allocation (the
  // rule runs on every request_id and writer_id).
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return "";
  }
  utf8proc_uint8_t* composed = nullptr;
  const utf8proc_ssize_t length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &composed,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (length < 0) return "";  // not UTF-8: another rule's to judge
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(composed, &std::free);
  const std::string_view nfc(reinterpret_cast<const char*>(composed), static_cast<size_t>(length));
  if (nfc == text) return "";
  const std::vector<int32_t> given = CodePoints(text);
  const std::vector<int32_t> normal = CodePoints(nfc);
  // The part that differs: between the longest common beginning and end (outside testing:
  // a jamo sequence U+1100 U+1161 U+11A8 was named by its first code point alone).
  size_t at = 0;
  while (at < given.size() && at < normal.size() && given[at] == normal[at]) ++at;
  size_t tail = 0;
  while (tail < given.size() - at && tail < normal.size() - at &&
         given[given.size() - 1 - tail] == normal[normal.size() - 1 - tail]) {
    ++tail;
  }
  return absl::StrCat("from character ", at + 1, ", ",
                      CodePointsText(given, at, given.size() - tail), " is ",
                      CodePointsText(normal, at, normal.size() - tail), " in NFC");
}

std::string LeadingCombiningMark(std::string_view text) {
  utf8proc_int32_t first = -1;
  if (text.empty() || static_cast<unsigned char>(text[0]) < 0x80 ||
      utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                       static_cast<utf8proc_ssize_t>(text.size()), &first) <= 0 ||
      !IsCombiningMark(static_cast<char32_t>(first))) {
    return "";
  }
  return absl::StrFormat(
      "begins with U+%04X, a combining mark with no character before it to combine with",
      static_cast<uint32_t>(first));
}

bool IsUnassigned(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_CN;
}

std::string UnassignedInside(std::string_view text) {
  size_t characters = 0;
  for (size_t at = 0; at < text.size();) {
    // ASCII is all assigned: the keys of almost every request cost one pass, no lookup.
    if (static_cast<unsigned char>(text[at]) < 0x80) {
      ++characters;
      ++at;
      continue;
    }
    const Utf8Char decoded = DecodeUtf8At(text, at);
    ++characters;
    at += decoded.length;
    const char32_t c = decoded.code_point;
    if (c == kNotUtf8 || !IsUnassigned(c)) continue;
    const bool noncharacter = (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
    return absl::StrFormat(
        "holds U+%04X (%s) at character %d", static_cast<uint32_t>(c),
        noncharacter ? "a noncharacter" : "a code point Unicode 15 leaves unassigned", characters);
  }
  return "";
}

bool DisplaysEscaped(char32_t c) { return ShowsAsEscape(c) || (c >= 0x378 && IsUnassigned(c)); }

}  // namespace plantmesh::common
