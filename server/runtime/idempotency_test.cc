#include "server/runtime/idempotency.h"

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>

#include <string>

#include "plantmesh/defect/v1/defect_service.pb.h"
#include "server/runtime/call_context.h"
#include "server/runtime/errors.h"
#include "server/runtime/logging.h"

namespace plantmesh::runtime {
namespace {

namespace v1 = ::plantmesh::defect::v1;

v1::UpdateDefectRequest Update(const std::string& request_id, const std::string& description) {
  v1::UpdateDefectRequest request;
  request.set_request_id(request_id);
  request.mutable_defect()->set_id("42");
  request.mutable_defect()->set_description(description);
  request.mutable_update_mask()->add_paths("description");
  request.set_etag("v3");
  return request;
}

TEST(PayloadFingerprintTest, IgnoresTheRequestIdAndComparesTheRest) {
  const std::string a = PayloadFingerprint(Update("r-1", "scratch"));
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a, PayloadFingerprint(Update("r-2", "scratch")));
  EXPECT_NE(a, PayloadFingerprint(Update("r-1", "dent")));
}

// Map entries are the one free choice of protobuf's serializer: deterministic mode sorts
// them, so the same entries inserted in another order fingerprint the same.
TEST(PayloadFingerprintTest, IsDeterministicForMaps) {
  google::protobuf::Struct forward;
  google::protobuf::Struct backward;
  for (int i = 0; i < 200; ++i) {
    (*forward.mutable_fields())["k" + std::to_string(i)].set_number_value(i);
    (*backward.mutable_fields())["k" + std::to_string(199 - i)].set_number_value(199 - i);
  }
  EXPECT_EQ(PayloadFingerprint(forward), PayloadFingerprint(backward));
  (*backward.mutable_fields())["k0"].set_number_value(-1);
  EXPECT_NE(PayloadFingerprint(forward), PayloadFingerprint(backward));
}

// Fields this server does not know cannot change what it does, so they do not count.
TEST(PayloadFingerprintTest, DropsUnknownFields) {
  v1::UpdateDefectRequest plain = Update("r-1", "scratch");
  v1::UpdateDefectRequest with_unknown;
  std::string bytes = plain.SerializeAsString();
  bytes += std::string("\xf8\xff\x03\x01", 4);  // field 65535, varint 1
  ASSERT_TRUE(with_unknown.ParseFromString(bytes));
  EXPECT_EQ(PayloadFingerprint(plain), PayloadFingerprint(with_unknown));
}

// Outside testing: an ImportDemand retry whose client re-encoded a quantity 0 as -0 was
// REQUEST_ID_REUSED. Equal numbers are the same payload, at any depth; others are not.
TEST(PayloadFingerprintTest, ANegativeZeroIsZero) {
  google::protobuf::Struct zero;
  google::protobuf::Struct negative_zero;
  (*zero.mutable_fields())["quantity"].set_number_value(0.0);
  (*negative_zero.mutable_fields())["quantity"].set_number_value(-0.0);
  (*zero.mutable_fields())["list"].mutable_list_value()->add_values()->set_number_value(0.0);
  (*negative_zero.mutable_fields())["list"].mutable_list_value()->add_values()->set_number_value(
      -0.0);
  EXPECT_NE(zero.SerializeAsString(), negative_zero.SerializeAsString());
  EXPECT_EQ(PayloadFingerprint(zero), PayloadFingerprint(negative_zero));
  EXPECT_EQ(CanonicalPayload(zero), CanonicalPayload(negative_zero));
  (*negative_zero.mutable_fields())["quantity"].set_number_value(-1e-300);
  EXPECT_NE(PayloadFingerprint(zero), PayloadFingerprint(negative_zero));
}

// Outside testing: a retry of UpdateDefect from a client that read the defect again (its
// new revision, update_time, a field the mask does not name) was REQUEST_ID_REUSED. What
// an update ignores is not part of its payload; what it does is.
TEST(PayloadFingerprintTest, AnUpdateIsComparedByWhatItChanges) {
  const v1::UpdateDefectRequest first = Update("r-1", "scratch");
  v1::UpdateDefectRequest reread = first;
  reread.mutable_defect()->set_revision(7);
  reread.mutable_defect()->mutable_update_time()->set_seconds(1800000000);
  reread.mutable_defect()->set_vin("WVWZZZ1JZXW000001");  // not in the mask
  EXPECT_EQ(PayloadFingerprint(first), PayloadFingerprint(reread));

  v1::UpdateDefectRequest other_defect = first;
  other_defect.mutable_defect()->set_id("43");  // the IDENTIFIER names what changes
  EXPECT_NE(PayloadFingerprint(first), PayloadFingerprint(other_defect));
  // Outside testing: a retry that read the defect again, so sent its new etag, was
  // REQUEST_ID_REUSED; the etag is the write's precondition, not what it asks for.
  v1::UpdateDefectRequest other_etag = first;
  other_etag.set_etag("v4");
  EXPECT_EQ(PayloadFingerprint(first), PayloadFingerprint(other_etag));
  v1::CancelDefectRequest cancel;
  cancel.set_id("42");
  cancel.set_reason("scrapped");
  cancel.set_etag("v3");
  v1::CancelDefectRequest cancel_reread = cancel;
  cancel_reread.set_etag("v5");
  EXPECT_EQ(PayloadFingerprint(cancel), PayloadFingerprint(cancel_reread));
  v1::UpdateDefectRequest wider = first;
  wider.mutable_update_mask()->add_paths("vin");
  EXPECT_NE(PayloadFingerprint(first), PayloadFingerprint(wider));
  v1::UpdateDefectRequest cleared = first;
  cleared.mutable_defect()->clear_description();  // a masked field's value counts, empty too
  EXPECT_NE(PayloadFingerprint(first), PayloadFingerprint(cleared));
}

// Outside testing: a retry carrying a time as the server answered it (…123456000 ns for
// …123456789: the server keeps microseconds) and a retry naming the mask's paths in
// another order were REQUEST_ID_REUSED. Both are the same request to the server.
TEST(PayloadFingerprintTest, TimesToTheMicrosecondAndMaskPathsAsASet) {
  v1::CreateDefectRequest first;
  first.set_request_id("r-1");
  first.mutable_defect()->set_vin("WVWZZZ1JZXW000001");
  first.mutable_defect()->mutable_create_time()->set_seconds(1800000000);
  first.mutable_defect()->mutable_create_time()->set_nanos(123456789);
  v1::CreateDefectRequest answered = first;
  answered.mutable_defect()->mutable_create_time()->set_nanos(123456000);
  EXPECT_EQ(PayloadFingerprint(first), PayloadFingerprint(answered));
  v1::CreateDefectRequest next_micro = first;
  next_micro.mutable_defect()->mutable_create_time()->set_nanos(123457000);
  EXPECT_NE(PayloadFingerprint(first), PayloadFingerprint(next_micro));
  google::protobuf::Duration cycle;
  cycle.set_seconds(-1);
  cycle.set_nanos(-500999);
  google::protobuf::Duration cycle_micros = cycle;
  cycle_micros.set_nanos(-500000);  // toward 0, as ToInt64Microseconds reads it
  EXPECT_EQ(PayloadFingerprint(cycle), PayloadFingerprint(cycle_micros));

  v1::UpdateDefectRequest forward = Update("r-1", "scratch");
  forward.mutable_defect()->set_model("Golf");
  forward.mutable_update_mask()->add_paths("model");
  v1::UpdateDefectRequest backward = forward;
  backward.mutable_update_mask()->clear_paths();
  backward.mutable_update_mask()->add_paths("model");
  backward.mutable_update_mask()->add_paths("description");
  EXPECT_EQ(PayloadFingerprint(forward), PayloadFingerprint(backward));
}

TEST(IdempotencyKeyTest, ScopedToCallerAndMethod) {
  CallContext call;
  call.identity = "spiffe://plantmesh.local/user/anna";
  call.method = "plantmesh.defect.v1.DefectService.UpdateDefect";
  IdempotencyKey key = IdempotencyKeyOf(call, Update("r-1", "scratch"));
  EXPECT_EQ(key.identity, call.identity);
  EXPECT_EQ(key.method, call.method);
  EXPECT_EQ(key.request_id, "r-1");
  EXPECT_EQ(key.payload_sha256, PayloadFingerprint(Update("", "scratch")));
  // No request_id: nothing to deduplicate by.
  EXPECT_EQ(IdempotencyKeyOf(call, Update("", "scratch")).payload_sha256, "");

  absl::Status reused = RequestIdReused(key, "defects/42");
  EXPECT_EQ(reused.code(), absl::StatusCode::kAlreadyExists);
  ErrorInfoView info = ErrorInfoOf(reused);
  EXPECT_EQ(info.reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(info.metadata["request_id"], "r-1");
  EXPECT_EQ(info.metadata["method"], call.method);
  EXPECT_EQ(info.metadata["resource"], "defects/42");
}

// The call's log line names the request's request_id (outside testing, sweeps 60-61: not
// for a request the rules refused, a client stream, or UploadDefectPhoto's metadata).
TEST(NoteRequestIdTest, TopLevelOrOneLevelDownAndOnlyOnce) {
  ASSERT_TRUE(InitLogging("info", "json").ok());  // only JSON lines carry it
  defect::v1::UploadDefectPhotoRequest upload;
  upload.mutable_metadata()->set_request_id("photo-1");
  CallContext call;
  call.NoteRequestId(upload);
  EXPECT_EQ(call.request_id, "photo-1");
  defect::v1::CreateDefectRequest create;
  create.set_request_id("create-1");
  call.NoteRequestId(create);
  EXPECT_EQ(call.request_id, "photo-1");  // a stream's first message's
  CallContext other;
  other.NoteRequestId(create);
  EXPECT_EQ(other.request_id, "create-1");
  CallContext none;
  none.NoteRequestId(defect::v1::GetDefectRequest());
  EXPECT_EQ(none.request_id, "");
}

}  // namespace
}  // namespace plantmesh::runtime
