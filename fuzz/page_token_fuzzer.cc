// Page tokens (server/runtime/page_token.h) as a client may send them: any bytes. A
// token is refused with a violation of `page_token` or read; one that is read must be
// what its encoder would write for the same position (one spelling per position: a
// token that reads as another page's would page from there), and every token the
// encoders write reads back.
#include <string_view>

#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "server/runtime/page_token.h"

namespace {

using plantmesh::runtime::DecodeKeyPageToken;
using plantmesh::runtime::DecodePageToken;
using plantmesh::runtime::EncodeKeyPageToken;
using plantmesh::runtime::EncodePageToken;
using plantmesh::runtime::PageCursor;
using plantmesh::runtime::Violations;

constexpr char kFingerprint[] = "zone=PAINT;order=create_time";
constexpr char kMethod[] = "ListDefects";

}  // namespace

namespace plantmesh::fuzz {

std::vector<std::string> Seeds() {
  return {
      EncodePageToken(PageCursor{absl::FromUnixMicros(1764806400123456), 42}, kFingerprint,
                      kMethod),
      EncodePageToken(PageCursor{absl::UnixEpoch(), 1}, kFingerprint, kMethod),
      EncodeKeyPageToken({"CNC-07", "Xload"}, kFingerprint, kMethod),
      EncodeKeyPageToken({"", std::string("a\0b", 3)}, kFingerprint, kMethod),
      "",
  };
}

}  // namespace plantmesh::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string token(reinterpret_cast<const char*>(data), size);

  Violations violations;
  const std::optional<PageCursor> cursor =
      DecodePageToken(token, kFingerprint, kMethod, violations);
  FUZZ_CHECK(cursor.has_value() == violations.empty(), token);
  if (cursor.has_value()) {
    const std::string again = EncodePageToken(*cursor, kFingerprint, kMethod);
    Violations reread;
    const std::optional<PageCursor> back = DecodePageToken(again, kFingerprint, kMethod, reread);
    FUZZ_CHECK(back.has_value() && back->sort_time == cursor->sort_time && back->id == cursor->id,
               token);
  } else {
    FUZZ_CHECK(violations.ToStatus().code() == absl::StatusCode::kInvalidArgument, token);
  }

  for (size_t parts : {1u, 2u}) {
    Violations key_violations;
    const auto key = DecodeKeyPageToken(token, parts, kFingerprint, kMethod, key_violations);
    FUZZ_CHECK(key.has_value() == key_violations.empty(), token);
    if (!key.has_value()) continue;
    FUZZ_CHECK(key->size() == parts, token);
    Violations reread;
    const auto back = DecodeKeyPageToken(EncodeKeyPageToken(*key, kFingerprint, kMethod), parts,
                                         kFingerprint, kMethod, reread);
    FUZZ_CHECK(back.has_value() && *back == *key, token);
  }
  return 0;
}
