#include "cli/rfc3339.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace plantmesh::cli {

bool IsRfc3339DateTime(absl::string_view text) {
  auto digits = [&](size_t from, size_t count) {
    if (from + count > text.size()) return false;
    for (size_t i = from; i < from + count; ++i) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return false;
    }
    return true;
  };
  if (!(digits(0, 4) && text.size() > 19 && text[4] == '-' && digits(5, 2) && text[7] == '-' &&
        digits(8, 2) && (text[10] == 'T' || text[10] == 't') && digits(11, 2) && text[13] == ':' &&
        digits(14, 2) && text[16] == ':' && digits(17, 2) && text.substr(17, 2) <= "59")) {
    return false;
  }
  size_t at = 19;
  if (text[at] == '.') {
    const size_t first = ++at;
    while (at < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[at]))) ++at;
    if (at == first) return false;
  }
  const absl::string_view zone = text.substr(at);
  return zone == "Z" || zone == "z" ||
         (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && digits(at + 1, 2) &&
          zone[3] == ':' && digits(at + 4, 2));
}

std::string Rfc3339NearMiss(absl::string_view text) {
  std::string fixed(text);
  std::string why;
  if (fixed.size() > 10 && fixed[10] == ' ') {
    fixed[10] = 'T';
    why = ": a blank stands for its T";
  }
  if (IsRfc3339DateTime(fixed)) return why;
  // A leap second: RFC 3339 writes it (second 60), a protobuf Timestamp cannot hold it
  // (outside testing: a controller's 23:59:60Z was "not an RFC 3339 time").
  if (fixed.size() > 19 && fixed.compare(16, 3, ":60") == 0 &&
      IsRfc3339DateTime(fixed.substr(0, 17) + "59" + fixed.substr(19))) {
    return absl::StrCat(why.empty() ? ": it" : "; it",
                        " has second 60, a leap second's, which a protobuf Timestamp cannot "
                        "hold: give it as ",
                        fixed.substr(11, 6), "59.999999, or as the smeared time NTP gives");
  }
  if (IsRfc3339DateTime(fixed + "Z")) {
    return absl::StrCat(why.empty() ? ": it" : "; it",
                        " has no UTC offset (add Z for UTC, or the offset such as +01:00)");
  }
  return "";
}

}  // namespace plantmesh::cli
