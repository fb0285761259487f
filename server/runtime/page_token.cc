#include "server/runtime/page_token.h"

#include <algorithm>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/runtime/text_rules.h"

namespace plantmesh::runtime {
namespace {

// The version tag of the token's layout: "p1|<sort micros>|<id>|<fingerprint>".
constexpr absl::string_view kTokenVersion = "p1";
// Of key tokens: "k1|<key part>|...|<fingerprint>", each part web-safe base64.
constexpr absl::string_view kKeyTokenVersion = "k1";
// google.protobuf.Timestamp's range (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z).
constexpr int64_t kEarliestUnixSeconds = -62135596800;
constexpr int64_t kLatestUnixSeconds = 253402300799;

uint64_t Fnv1a64(absl::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// A fingerprint as FilterFingerprint::Hex writes it: 16 lowercase hex digits.
bool IsFingerprint(absl::string_view text) {
  return text.size() == 16 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// What a token carries in place of the request's fingerprint: the fingerprint bound to
// the method that returned it, so that no method reads another's tokens (outside
// testing: a ListCrews token was taken by ListProducts, and skipped what sorted first).
std::string BoundToMethod(absl::string_view fingerprint, absl::string_view list_method) {
  return FilterFingerprint().AddText(list_method).AddRaw(fingerprint).Hex();
}

std::string TimeToken(const PageCursor& cursor, absl::string_view bound) {
  return absl::WebSafeBase64Escape(absl::StrCat(
      kTokenVersion, "|", absl::ToUnixMicros(cursor.sort_time), "|", cursor.id, "|", bound));
}

std::string KeyToken(const std::vector<std::string>& key, absl::string_view bound) {
  std::string raw(kKeyTokenVersion);
  for (const std::string& part : key) absl::StrAppend(&raw, "|", absl::WebSafeBase64Escape(part));
  absl::StrAppend(&raw, "|", bound);
  return absl::WebSafeBase64Escape(raw);
}

bool InTimestampRange(absl::Time t) {
  return t >= absl::FromUnixSeconds(kEarliestUnixSeconds) &&
         t < absl::FromUnixSeconds(kLatestUnixSeconds + 1);
}

}  // namespace

FilterFingerprint& FilterFingerprint::AddRaw(absl::string_view part) {
  if (!first_) canonical_.push_back('|');
  first_ = false;
  absl::StrAppend(&canonical_, part);
  return *this;
}

FilterFingerprint& FilterFingerprint::AddText(absl::string_view text) {
  return AddRaw(absl::StrCat(text.size(), ":", text));
}

FilterFingerprint& FilterFingerprint::AddTime(const std::optional<absl::Time>& time) {
  return AddRaw(time ? absl::StrCat(absl::ToUnixMicros(*time)) : std::string("-"));
}

std::string FilterFingerprint::Hex() const {
  return absl::StrCat(absl::Hex(Fnv1a64(canonical_), absl::kZeroPad16));
}

std::string EncodePageToken(const PageCursor& cursor, absl::string_view fingerprint,
                            absl::string_view list_method) {
  return TimeToken(cursor, BoundToMethod(fingerprint, list_method));
}

std::optional<PageCursor> DecodePageToken(absl::string_view token, absl::string_view fingerprint,
                                          absl::string_view list_method, Violations& violations) {
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, '|');
  int64_t micros = 0;
  int64_t id = 0;
  // Only the spelling this server writes: a token cut short, padded, re-encoded or with
  // spaces is not one of its tokens (outside testing: a truncated token was told its
  // filter differed, and a padded one was taken).
  if (parts.size() != 4 || parts[0] != kTokenVersion || !absl::SimpleAtoi(parts[1], &micros) ||
      !absl::SimpleAtoi(parts[2], &id) || id < 0 ||
      !InTimestampRange(absl::FromUnixMicros(micros)) || !IsFingerprint(parts[3]) ||
      TimeToken(PageCursor{absl::FromUnixMicros(micros), id}, parts[3]) != token) {
    violations.Add("page_token", absl::StrCat("not a token returned by ", list_method));
    return std::nullopt;
  }
  if (fingerprint.empty()) return std::nullopt;  // its form alone judged
  if (parts[3] != BoundToMethod(fingerprint, list_method)) {
    violations.Add("page_token",
                   "the request's filters (or its order) differ from those of the request that "
                   "returned this token, "
                   "or another method returned it");
    return std::nullopt;
  }
  return PageCursor{absl::FromUnixMicros(micros), id};
}

std::string EncodeKeyPageToken(const std::vector<std::string>& key, absl::string_view fingerprint,
                               absl::string_view list_method) {
  return KeyToken(key, BoundToMethod(fingerprint, list_method));
}

std::optional<std::vector<std::string>> DecodeKeyPageToken(absl::string_view token, size_t parts,
                                                           absl::string_view fingerprint,
                                                           absl::string_view list_method,
                                                           Violations& violations) {
  std::string raw;
  std::vector<std::string> fields;
  if (absl::WebSafeBase64Unescape(token, &raw)) fields = absl::StrSplit(raw, '|');
  std::vector<std::string> key(parts);
  bool readable = fields.size() == parts + 2 && fields[0] == kKeyTokenVersion;
  // Every key part this server writes is a stored id, which kept the text rules; one that
  // does not (a NUL, invalid UTF-8: a crafted token) is no token of ours and never reaches
  // a comparison or a statement (outside review: a key of "\0\xff" was taken).
  for (size_t i = 0; readable && i < parts; ++i) {
    readable = absl::WebSafeBase64Unescape(fields[i + 1], &key[i]) &&
               !TextViolation(key[i], TextRule{}).has_value();
  }
  if (!readable || !IsFingerprint(fields.back()) || KeyToken(key, fields.back()) != token) {
    violations.Add("page_token", absl::StrCat("not a token returned by ", list_method));
    return std::nullopt;
  }
  if (fingerprint.empty()) return std::nullopt;  // its form alone judged
  if (fields.back() != BoundToMethod(fingerprint, list_method)) {
    violations.Add("page_token",
                   "the request differs from the one that returned this token (another "
                   "method, resource, selection, filter or order)");
    return std::nullopt;
  }
  return key;
}

}  // namespace plantmesh::runtime
