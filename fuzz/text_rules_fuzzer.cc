// The contract's text rules (server/runtime/text_rules.h) on any bytes: what they say of
// a value goes into INVALID_ARGUMENT messages, logs and audit rows, so it must be valid
// UTF-8 whatever the value; the rules must agree with each other (a code is single-line
// text; invalid UTF-8 breaks every rule); a decimal id reads back as it was written.
#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "plantmesh/common/utf8.h"
#include "server/runtime/text_rules.h"

namespace {

using plantmesh::runtime::TextKind;
using plantmesh::runtime::TextRule;
using plantmesh::runtime::TextViolation;

bool Utf8(std::string_view text) {
  return plantmesh::common::FirstNotUtf8(text) == std::string_view::npos;
}

}  // namespace

namespace plantmesh::fuzz {

std::vector<std::string> Seeds() {
  return {"CNC-07",
          "Paint run on door\nsecond line",
          "01",
          "9223372036854775807",
          "9223372036854775808",
          std::string("a\0b", 3),
          "\xed\xa0\x80",
          "\xf4\x90\x80\x80",
          "\u202Eevil",
          "caf\xc3\xa9",
          "\t",
          "  ",
          ""};
}

}  // namespace plantmesh::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string value(reinterpret_cast<const char*>(data), size);
  const bool utf8 = plantmesh::runtime::IsValidUtf8(value);
  FUZZ_CHECK(utf8 == Utf8(value), value);

  for (TextKind kind : {TextKind::kSingleLine, TextKind::kMultiLine, TextKind::kCode}) {
    for (int32_t max_chars : {0, 1, 32}) {
      const std::optional<std::string> why = TextViolation(value, TextRule{kind, max_chars});
      if (why.has_value()) FUZZ_CHECK(Utf8(*why) && !why->empty(), value);
      if (!utf8 && !value.empty()) FUZZ_CHECK(why.has_value(), value);
    }
  }
  if (plantmesh::runtime::IsCode(value)) {
    FUZZ_CHECK(!TextViolation(value, TextRule{TextKind::kCode, 0}).has_value(), value);
    FUZZ_CHECK(!TextViolation(value, TextRule{TextKind::kSingleLine, 0}).has_value(), value);
  }
  if (const std::optional<int64_t> id = plantmesh::runtime::ParseDecimalId(value)) {
    FUZZ_CHECK(*id > 0 && absl::StrCat(*id) == value, value);
  }
  if (size >= 12) {
    int64_t seconds = 0;
    int32_t nanos = 0;
    std::memcpy(&seconds, data, 8);
    std::memcpy(&nanos, data + 8, 4);
    const bool valid = plantmesh::runtime::IsValidTimestamp(seconds, nanos);
    const auto why = plantmesh::runtime::TimestampViolation(seconds, nanos);
    FUZZ_CHECK(valid != why.has_value(), value);
  }
  return 0;
}
