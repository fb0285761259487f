// google.protobuf.Timestamp <-> absl::Time as every service keeps times: whole
// microseconds, as PostgreSQL's timestamptz stores them. A request's time is truncated
// to the microsecond (toward the past) when it is read, so it is checked as it will be
// stored and compared. Outside testing: a maintenance window from …001 ns to …002 ns
// passed "end after start" and failed PostgreSQL's check; a sample query from …001 ns
// returned a sample stored at …000.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace plantmesh::runtime {

// Nanos outside 0..999,999,999 never reach a handler (request_rules.h refuses them);
// read here, they are the infinite future.
inline absl::Time TimeFromProto(const google::protobuf::Timestamp& t) {
  if (t.nanos() < 0 || t.nanos() > 999999999) return absl::InfiniteFuture();
  return absl::FromUnixSeconds(t.seconds()) + absl::Microseconds(t.nanos() / 1000);
}

// nullopt when the field is not set (`has`).
inline std::optional<absl::Time> TimeFromProto(bool has, const google::protobuf::Timestamp& t) {
  if (!has) return std::nullopt;
  return TimeFromProto(t);
}

// `t` to the microsecond (floor), also before 1970.
inline void TimeToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

}  // namespace plantmesh::runtime
