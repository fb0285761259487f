// A time as text in messages and output: RFC 3339 in UTC with a four-digit year,
// "0001-01-01T00:00:00Z", "2026-11-30T06:00:00.25Z". absl's %Y and its default format
// print a year below 1000 without padding ("1-01-01T00:00:00+00:00", outside testing),
// which is no RFC 3339 time.
#pragma once

#include <string>

#include "absl/time/time.h"

namespace plantmesh {

inline std::string Rfc3339Utc(absl::Time t) {
  return absl::FormatTime("%E4Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

}  // namespace plantmesh
