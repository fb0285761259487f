// Times as plantctl reads them (sample files, Timestamp flags, Timestamps in JSON):
// RFC 3339's date-time and nothing else.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace plantmesh::cli {

// Whether `text` is an RFC 3339 date-time (`2024-05-01T10:00:00Z`,
// `2024-05-01T10:00:00.250+02:00`; 'T' and 'Z' in either case), with nothing around it.
// absl::ParseTime (and protobuf's JSON parser) also take blanks around, an offset without
// its colon ("+0200"), one-digit fields ("2026-12-4") and second 60, moved into the next
// minute (outside testing); a protobuf Timestamp has no leap second.
bool IsRfc3339DateTime(absl::string_view text);

// For a `text` that IsRfc3339DateTime refuses, the usual near miss it is, said as the
// fix: ": it has no UTC offset (add Z for UTC, or the offset such as +01:00)" for
// "2024-05-01T10:00:00", ": a blank stands for its T" for "2024-05-01 10:00:00Z"; empty
// when it is neither (outside testing: a time without its zone was only "not RFC 3339").
std::string Rfc3339NearMiss(absl::string_view text);

}  // namespace plantmesh::cli
