// Times as plantctl reads them (sample files, Timestamp flags, Timestamps in JSON):
// RFC 3339's date-time and nothing else.
#pragma once

#include "absl/strings/string_view.h"

namespace plantmesh::cli {

// Whether `text` is an RFC 3339 date-time (`2024-05-01T10:00:00Z`,
// `2024-05-01T10:00:00.250+02:00`; 'T' and 'Z' in either case), with nothing around it.
// absl::ParseTime (and protobuf's JSON parser) also take blanks around, an offset without
// its colon ("+0200"), one-digit fields ("2026-12-4") and second 60, moved into the next
// minute (outside testing); a protobuf Timestamp has no leap second.
bool IsRfc3339DateTime(absl::string_view text);

}  // namespace plantmesh::cli
