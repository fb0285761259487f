#include "server/runtime/text_rules.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "plantmesh/common/blank_text.h"
#include "plantmesh/common/unicode_form.h"
#include "plantmesh/common/utf8.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {
namespace {

// A value of only blanks, in any field with a text rule: not "required", as the field may
// be optional; the way out is to leave it empty (outside testing, sweeps 46-47: optional
// filters of " " were told "required").
constexpr char kSaysNothing[] =
    "only white space or invisible characters given, which say nothing (an optional field "
    "or filter is left empty instead)";

const char* ControlName(char32_t c) {
  switch (c) {
    case 0x00:
      return "NUL";
    case 0x09:
      return "TAB";
    case 0x0A:
      return "LINE FEED";
    case 0x0D:
      return "CARRIAGE RETURN";
    case 0x1B:
      return "ESCAPE";
    case 0x7F:
      return "DELETE";
    case 0x85:
      return "NEXT LINE";
    case 0x2028:
      return "LINE SEPARATOR";
    case 0x2029:
      return "PARAGRAPH SEPARATOR";
    default:
      return "a control character";
  }
}

// Why `c` is refused where `rule` applies.
const char* ControlReason(char32_t c, TextKind kind) {
  if (kind == TextKind::kCode) return "a code is 1-32 characters A-Z, 0-9, '-'";
  if (kind == TextKind::kMultiLine) {
    if (c == 0x0D || c == 0x2028 || c == 0x2029 || c == 0x85) {
      return "this field takes line breaks as \\n (U+000A) alone";
    }
    return "control characters other than \\n and \\t are not allowed";
  }
  if (c == 0x0A || c == 0x0D || c == 0x2028 || c == 0x2029 || c == 0x85) {
    return "this field is a single line";
  }
  return "control characters are not allowed";
}

}  // namespace

std::optional<int64_t> ParseDecimalId(std::string_view text) {
  if (text.empty() || text.size() > 19 || text[0] == '0') return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (value > (INT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

bool IsCode(std::string_view value) {
  if (value.empty() || value.size() > static_cast<size_t>(kMaxCodeChars)) return false;
  for (char c : value) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

std::string CodePattern(int32_t max_chars) {
  if (max_chars <= 0 || max_chars >= kMaxCodeChars) return kCodePattern;
  return absl::StrCat("1-", max_chars, " characters A-Z, 0-9, '-'");
}

bool IsValidUtf8(std::string_view value) {
  for (size_t at = 0; at < value.size();) {
    const common::Utf8Char d = common::DecodeUtf8At(value, at);
    if (d.code_point == common::kNotUtf8) return false;
    at += d.length;
  }
  return true;
}

std::optional<std::string> TextViolation(std::string_view value, const TextRule& rule) {
  int64_t chars = 0;
  for (size_t at = 0; at < value.size();) {
    // Printable ASCII, the common case.
    const auto lead = static_cast<unsigned char>(value[at]);
    if (lead >= 0x20 && lead < 0x7F) {
      ++chars;
      ++at;
      continue;
    }
    const common::Utf8Char d = common::DecodeUtf8At(value, at);
    if (d.code_point == common::kNotUtf8) {
      return absl::StrFormat("is not valid UTF-8 (byte 0x%02X at byte offset %d)", lead, at);
    }
    ++chars;
    const bool allowed_break =
        rule.kind == TextKind::kMultiLine && (d.code_point == 0x0A || d.code_point == 0x09);
    if (common::IsControlOrLineBreak(d.code_point) && !allowed_break) {
      return absl::StrFormat("contains U+%04X (%s) at character %d; %s",
                             static_cast<uint32_t>(d.code_point), ControlName(d.code_point), chars,
                             ControlReason(d.code_point, rule.kind));
    }
    at += d.length;
  }
  if (rule.kind == TextKind::kCode) {
    // A field may narrow the length (outside testing: a shift code 'a' was told codes are
    // 1-32 characters, where the field takes 8).
    const bool fits = rule.max_chars <= 0 || value.size() <= static_cast<size_t>(rule.max_chars);
    if (value.empty() || (IsCode(value) && fits)) return std::nullopt;
    // Only white space says nothing, as everywhere (re-test: " " was "not a code" in some
    // fields and "required: only white space ..." in others).
    if (common::IsBlankText(value)) return std::string(kSaysNothing);
    return absl::StrCat(QuoteForMessage(value), " is not a code: ", CodePattern(rule.max_chars));
  }
  // Blanks first: a value with a no-break space after it is told so, not that it is one
  // character too long (re-test: a date of 11 characters).
  if (rule.no_blanks_around) {
    // All blank: it begins with a blank too, and says nothing (outside testing: an optional
    // detected_by of U+200B was stored, a shift filter of " " answered no defects).
    if (!value.empty() && common::IsBlankText(value)) return std::string(kSaysNothing);
    // Which one, where (outside testing: a trailing U+00A0 read as a space).
    if (const std::string around = common::BlankAround(value); !around.empty()) {
      return absl::StrCat(QuoteForMessage(value),
                          " begins or ends with white space or an invisible character (", around,
                          "): it would be stored, and matched, as another value than ",
                          QuoteForMessage(common::WithoutBlanksAround(value)));
    }
    if (const std::string mark = common::LeadingCombiningMark(value); !mark.empty()) {
      return absl::StrCat(QuoteForMessage(value), " ", mark);
    }
    if (const std::string unassigned = common::UnassignedInside(value); !unassigned.empty()) {
      return absl::StrCat(QuoteForMessage(value), " ", unassigned,
                          ", which shows as nothing or a box: it would display as another value "
                          "than it is stored and matched as");
    }
    if (const std::string inside = common::InvisibleInside(value); !inside.empty()) {
      return absl::StrCat(QuoteForMessage(value), " ", inside,
                          ", which shows nothing or another character's look: it would "
                          "display as another value than it is stored and matched as");
    }
    // One text, one spelling: ü as U+00FC or as u and U+0308 would be two keys.
    if (const std::string why = common::NotNfcWhy(value); !why.empty()) {
      return absl::StrCat(
          QuoteForMessage(value), " is not in Unicode normalization form C (", why,
          "): it would be stored, and matched, as another value than the same text composed; "
          "send it in NFC");
    }
  }
  if (rule.max_chars > 0 && chars > rule.max_chars) {
    return absl::StrCat("at most ", rule.max_chars, " characters (got ", chars, ")");
  }
  return std::nullopt;
}

bool IsValidTimestamp(int64_t seconds, int32_t nanos) {
  return seconds >= -62135596800 && seconds <= 253402300799 && nanos >= 0 && nanos <= 999999999;
}

std::optional<std::string> TimestampViolation(int64_t seconds, int32_t nanos) {
  if (IsValidTimestamp(seconds, nanos)) return std::nullopt;
  // Outside testing: nanos -1 was told only "seconds must lie within ...".
  const std::string wrong = nanos < 0 || nanos > 999999999
                                ? absl::StrCat("nanos ", nanos, " is out of range")
                                : absl::StrCat("seconds ", seconds, " is out of range");
  return absl::StrCat("not a valid google.protobuf.Timestamp (", wrong, "): ", kTimestampRange);
}

}  // namespace plantmesh::runtime
