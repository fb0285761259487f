#include "server/runtime/spiffe_id.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "plantmesh/common/blank_text.h"
#include "plantmesh/common/utf8.h"

namespace plantmesh::runtime {
namespace {

constexpr absl::string_view kScheme = "spiffe://";

bool IsTrustDomainChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool IsPathChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

absl::Status Invalid(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("not a valid SPIFFE ID: ", why));
}

// "; U+00A0 at character 32": the character at `c` (a byte of `whole`), so that one that
// shows as nothing, or as a space, is seen (re-test: a trailing no-break space read as
// "path segments may hold only ..." of a value that looked right).
std::string Naming(absl::string_view whole, const char* c) {
  const size_t at = static_cast<size_t>(c - whole.data());
  size_t chars = 1;
  for (size_t i = 0; i < at;) {
    i += common::DecodeUtf8At(std::string_view(whole.data(), whole.size()), i).length;
    ++chars;
  }
  const common::Utf8Char d = common::DecodeUtf8At(std::string_view(whole.data(), whole.size()), at);
  if (d.code_point == common::kNotUtf8) {
    return absl::StrFormat("; byte 0x%02X (not UTF-8) at character %d",
                           static_cast<unsigned char>(*c), chars);
  }
  if (d.code_point >= 0x21 && d.code_point < 0x7F) {
    return absl::StrFormat("; '%c' at character %d", static_cast<char>(d.code_point), chars);
  }
  if (common::IsInvisibleCharacter(d.code_point)) {
    return absl::StrCat("; ", common::InvisibleCharacterName(d.code_point), " at character ",
                        chars);
  }
  return absl::StrFormat("; U+%04X at character %d", static_cast<uint32_t>(d.code_point), chars);
}

absl::Status CheckTrustDomain(absl::string_view trust_domain, absl::string_view whole) {
  if (trust_domain.empty()) return Invalid("the trust domain is empty");
  if (trust_domain.size() > kMaxTrustDomainBytes) {
    return Invalid(
        absl::StrCat("the trust domain is longer than ", kMaxTrustDomainBytes, " characters"));
  }
  for (const char& c : trust_domain) {
    if (c == '@') return Invalid("userinfo is not allowed");
    if (c == ':') return Invalid("a port is not allowed");
    if (c == '%') return Invalid("percent-encoding is not allowed");
    if (c >= 'A' && c <= 'Z') return Invalid("the trust domain must be lowercase");
    if (!IsTrustDomainChar(c)) {
      return Invalid(absl::StrCat("the trust domain may hold only a-z, 0-9, '.', '-' and '_'",
                                  Naming(whole, &c)));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPath(absl::string_view path, absl::string_view whole) {
  if (path.empty()) return absl::OkStatus();
  // path starts with '/'; splitting the rest gives the segments.
  for (absl::string_view segment : absl::StrSplit(path.substr(1), '/')) {
    if (segment.empty()) return Invalid("a path segment is empty ('//' or a trailing '/')");
    if (segment == "." || segment == "..") {
      return Invalid("path segments '.' and '..' are not allowed");
    }
    for (const char& c : segment) {
      if (c == '%') return Invalid("percent-encoding is not allowed");
      if (!IsPathChar(c)) {
        return Invalid(absl::StrCat("path segments may hold only A-Z, a-z, 0-9, '.', '-' and '_'",
                                    Naming(whole, &c)));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsValidTrustDomain(absl::string_view trust_domain) {
  return CheckTrustDomain(trust_domain, trust_domain).ok();
}

absl::StatusOr<SpiffeId> ParseSpiffeId(absl::string_view text) {
  if (text.size() > kMaxSpiffeIdBytes) {
    return Invalid(absl::StrCat("longer than ", kMaxSpiffeIdBytes, " bytes"));
  }
  if (!absl::StartsWith(text, kScheme)) {
    const std::string_view shown =
        common::TrimInvisible(std::string_view(text.data(), text.size()));
    return Invalid(absl::StrCat(
        "the scheme must be spiffe:// (lowercase)",
        shown.data() != text.data() &&
                absl::StartsWith(absl::string_view(shown.data(), shown.size()), kScheme)
            ? Naming(text, text.data())
            : ""));
  }
  absl::string_view rest = text.substr(kScheme.size());
  // Query and fragment first: they would otherwise be reported as bad characters.
  if (rest.find('?') != absl::string_view::npos) return Invalid("a query is not allowed");
  if (rest.find('#') != absl::string_view::npos) return Invalid("a fragment is not allowed");
  const size_t slash = rest.find('/');
  const absl::string_view trust_domain = rest.substr(0, slash);
  const absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash);
  if (absl::Status valid = CheckTrustDomain(trust_domain, text); !valid.ok()) return valid;
  if (absl::Status valid = CheckPath(path, text); !valid.ok()) return valid;
  return SpiffeId{std::string(trust_domain), std::string(path)};
}

absl::StatusOr<SpiffeId> ParseCallerIdentity(absl::string_view text) {
  absl::StatusOr<SpiffeId> id = ParseSpiffeId(text);
  if (id.ok() && id->path.empty()) {
    return Invalid("a trust domain alone, not a workload or user (add its path, e.g. /user/anna)");
  }
  return id;
}

absl::Status ValidateSpiffeIdPrefix(absl::string_view prefix) {
  if (!absl::EndsWith(prefix, "/")) {
    return absl::InvalidArgumentError(
        "an identity prefix must end with '/' (it matches whole path segments)");
  }
  return ParseSpiffeId(prefix.substr(0, prefix.size() - 1)).status();
}

}  // namespace plantmesh::runtime
