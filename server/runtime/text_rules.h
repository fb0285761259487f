// The contract's text rules (plantmesh.api.v1.TextRule in annotations.proto) applied to
// one value, without protobuf: valid UTF-8, no control characters, line breaks only
// where allowed, the one code pattern, a length in characters. request_rules.h applies
// them to every string of a request; the domain uses IsCode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plantmesh::runtime {

// Numbers match plantmesh.api.v1.TextKind (0, not declared, means kSingleLine).
enum class TextKind : int { kSingleLine = 1, kMultiLine = 2, kCode = 3 };

struct TextRule {
  TextKind kind = TextKind::kSingleLine;
  // Longest value in characters (Unicode code points); 0: no limit of its own.
  int32_t max_chars = 0;
  // No white space or invisible character at either end, no combining mark first, and in
  // Unicode NFC (TextRule.no_blanks_around: a key's one spelling).
  bool no_blanks_around = false;
};

// The one code pattern: 1-32 characters, each A-Z, 0-9 or '-'.
inline constexpr int32_t kMaxCodeChars = 32;
inline constexpr char kCodePattern[] = "1-32 characters A-Z, 0-9, '-'";
bool IsCode(std::string_view value);
// The pattern of a code field whose TextRule.max_chars narrows it (a shift code: "1-8
// characters A-Z, 0-9, '-'"); kCodePattern for 0 or more than 32.
std::string CodePattern(int32_t max_chars);

// A resource number written as a decimal id (a defect's, a photo's, a downtime's, a
// plan's): digits only, no sign, spaces or leading zeros, 1..9223372036854775807. One
// spelling per number: "01" is not an alias of 1 (outside testing: GetDefect("01") read
// defect 1 in one service while another refused it, and the request log and audit would
// read two ids for one resource).
inline constexpr char kDecimalIdRule[] =
    "a positive decimal number without sign, spaces or leading zeros, at most "
    "9223372036854775807";
std::optional<int64_t> ParseDecimalId(std::string_view text);

// Well-formed UTF-8: no stray continuation bytes, no overlong forms, no surrogates
// (U+D800-U+DFFF), nothing above U+10FFFF.
bool IsValidUtf8(std::string_view value);

// Why `value` breaks `rule` (one sentence, e.g. "contains U+0000 (NUL) at character 3;
// ..."), or nullopt when it keeps it. The empty string keeps every rule (whether a
// field is required is the method's rule). The description never repeats a value that
// holds control characters or invalid UTF-8 (it goes into logs and audit rows); a
// clean value that is not a code is quoted, cut at 64 characters.
std::optional<std::string> TextViolation(std::string_view value, const TextRule& rule);

// The range google/protobuf/timestamp.proto declares valid: a Timestamp outside it means
// nothing (request_rules.h refuses one anywhere in a request; a service judging elements
// one by one, as ingest's samples, uses the same rule).
inline constexpr char kTimestampRange[] =
    "seconds must lie within 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z "
    "(-62135596800..253402300799) and nanos within 0..999999999";
bool IsValidTimestamp(int64_t seconds, int32_t nanos);
// Why (seconds, nanos) is not a valid Timestamp, the part that is wrong first and then the
// whole rule: "not a valid google.protobuf.Timestamp (nanos -1 is out of range): seconds
// must lie within ..."; nullopt when it is valid.
std::optional<std::string> TimestampViolation(int64_t seconds, int32_t nanos);

}  // namespace plantmesh::runtime
