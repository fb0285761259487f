// Small helpers for tests of a DefectStore (the conformance suite, pg_store_test.cc):
// change contexts, the handlers' encoding of a defect answer, and reading answers.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "plantmesh/defect/v1/defect.pb.h"
#include "server/defect/convert.h"
#include "server/defect/store.h"

namespace plantmesh::defect::testing {

// A fixed time with a whole number of microseconds.
inline const absl::Time kT0 = absl::FromUnixSeconds(1795000000);

// A change by `actor` through `method` (short name) with request id `rid` whose payload
// fingerprint is `payload`.
inline ChangeContext Ctx(const std::string& actor, const std::string& method,
                         const std::string& rid = "", absl::Time now = kT0,
                         const std::string& payload = "payload") {
  return ChangeContext{
      {actor, absl::StrCat("plantmesh.defect.v1.DefectService.", method), rid, payload},
      now,
      DefectOutboxEvent};
}

// What the handlers record for a defect change, in short: the defect as protobuf.
inline std::string EncodeDefect(const Defect& d) {
  v1::Defect proto;
  ToProto(d, &proto);
  return proto.SerializeAsString();
}

inline v1::Defect ProtoOf(const Defect& d) {
  v1::Defect proto;
  ToProto(d, &proto);
  return proto;
}

// The defect a store answer carries: this call's result, or the recorded one.
inline v1::Defect AnswerOf(const Replayable<Defect>& answer) {
  v1::Defect proto;
  if (answer.recorded_response) {
    EXPECT_TRUE(proto.ParseFromString(*answer.recorded_response));
  } else if (answer.value) {
    ToProto(*answer.value, &proto);
  }
  return proto;
}

// This call's own result; INTERNAL when the store answered with a recorded response.
template <typename T>
absl::StatusOr<T> ValueOf(absl::StatusOr<Replayable<T>> answer) {
  if (!answer.ok()) return answer.status();
  if (!answer->value) return absl::InternalError("a replay, not a new result");
  return *answer->value;
}

// A report in zone PAINT of category PAINT-SCRATCH at `now`, as NewDefect makes it.
inline Defect Draft(const std::string& vin, absl::Time now = kT0) {
  NewDefectInput in;
  in.vin = vin;
  in.model = "SEDAN";
  in.zone = "PAINT";
  in.station = "P-07";
  in.category_code = "PAINT-SCRATCH";
  in.shift = "2026-11-21/A";
  absl::StatusOr<Defect> d =
      NewDefect(in, DefectCategory{"PAINT-SCRATCH", "Paint scratch", Severity::kMinor},
                "spiffe://p/user/op", now);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : Defect{};
}

}  // namespace plantmesh::defect::testing
