#include "server/runtime/errors.h"

#include <gmock/gmock.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/error_details.h>
#include <grpcpp/test/server_context_test_spouse.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "plantmesh/api/v1/error_details.pb.h"
#include "plantmesh/sdk/status.h"
#include "server/runtime/grpc_status.h"

namespace plantmesh::runtime {
namespace {

using ::testing::HasSubstr;

// What a status takes in the trailers: grpc-message percent-encoded (bytes outside
// 0x20-0x7E and '%' as %XX), grpc-status-details-bin in base64.
size_t TrailerBytes(const grpc::Status& status) {
  size_t message = 0;
  for (char c : status.error_message()) {
    const auto byte = static_cast<unsigned char>(c);
    message += byte < 0x20 || byte > 0x7E || byte == '%' ? 3 : 1;
  }
  return message + (status.error_details().size() + 2) / 3 * 4;
}

TEST(ViolationsTest, EmptyIsOk) { EXPECT_TRUE(Violations().ToStatus().ok()); }

// Outside testing: ListDefects with twelve unknown statuses (each violation listing
// every value name) and GetLatestValues with eight ids of "\u202E" x 70 (quoted as
// \u202E, 6 bytes a character) got RESOURCE_EXHAUSTED from a default Python client
// ("received initial metadata size exceeds limit"): 20 listed violations made 10 KB of
// trailers. The violations listed fit a budget in bytes as sent; the rest are counted.
TEST(ViolationsTest, TheListedViolationsFitTheTrailersOfADefaultClient) {
  for (const std::string& unit :
       {std::string("\\u202E"), std::string("\xC3\xA9"), std::string("%")}) {
    SCOPED_TRACE(unit);
    Violations violations;
    std::string long_text;
    for (int i = 0; i < 70; ++i) long_text += unit;
    for (int i = 0; i < 20; ++i) {
      violations.Add(absl::StrCat("machine_ids[", i, "]"),
                     absl::StrCat("'", long_text, "' is not a code: must be 1-32 characters"));
    }
    absl::Status status = violations.ToStatus();
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    const std::vector<FieldViolation> read = FieldViolationsOf(status);
    ASSERT_GE(read.size(), 2u);
    EXPECT_EQ(read.front().field, "machine_ids[0]");
    EXPECT_EQ(read.back().field, "");
    EXPECT_EQ(read.back().description,
              absl::StrCat(20 - (read.size() - 1), " more field violations not listed"));
    // Outside testing: the message read "…; : 5 more field violations not listed".
    EXPECT_TRUE(absl::EndsWith(status.message(), absl::StrCat("; ", read.back().description)))
        << status.message();
    EXPECT_LE(TrailerBytes(ToGrpcStatus(status)), kMaxViolationTrailerBytes);
  }
}

TEST(ViolationsTest, OneLongDescriptionIsCutOnACharacterBoundary) {
  Violations violations;
  std::string long_text;
  for (int i = 0; i < 5000; ++i) long_text += "\xC3\xA9";  // é, 2 bytes
  violations.Add("statuses[0]", long_text);
  absl::Status status = violations.ToStatus();
  const std::vector<FieldViolation> read = FieldViolationsOf(status);
  ASSERT_EQ(read.size(), 1u);  // listed, however long: nothing is "not listed"
  EXPECT_LE(read[0].description.size(), kMaxViolationDescriptionBytes);
  EXPECT_EQ(read[0].description.substr(read[0].description.size() - 3), "\xE2\x80\xA6");
  EXPECT_EQ(read[0].description.substr(0, 6), "\xC3\xA9\xC3\xA9\xC3\xA9");
  EXPECT_EQ((read[0].description.size() - 3) % 2, 0u) << "cut inside a character";
  EXPECT_LE(TrailerBytes(ToGrpcStatus(status)), kMaxViolationTrailerBytes);
}

TEST(ViolationsTest, MessageNamesEveryFieldAndReason) {
  Violations violations;
  violations.Add("defect.vin", "must be 1-32 characters A-Z 0-9 '-'");
  violations.Add("defect.zone", "required");
  absl::Status status = violations.ToStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "defect.vin: must be 1-32 characters A-Z 0-9 '-'; defect.zone: required");
  std::vector<FieldViolation> read = FieldViolationsOf(status);
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].field, "defect.vin");
  EXPECT_EQ(read[1].description, "required");
}

// Outside testing: RegisterMachine with 500 data items of one id listed 499 violations
// (a 29 KB message, 60 KB of details): a default client got RESOURCE_EXHAUSTED for the
// trailers' size instead of INVALID_ARGUMENT. Every service's checks list at most
// kMaxListedViolations, then count the rest.
TEST(ViolationsTest, ListsTheFirstTwentyAndCountsTheRest) {
  Violations violations;
  for (int i = 0; i < 499; ++i) {
    violations.Add(absl::StrCat("machine.data_items[", i + 1, "].id"), "duplicate id 'same'");
  }
  absl::Status status = violations.ToStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  std::vector<FieldViolation> read = FieldViolationsOf(status);
  ASSERT_EQ(read.size(), kMaxListedViolations + 1);
  EXPECT_EQ(read[19].field, "machine.data_items[20].id");
  EXPECT_EQ(read.back().field, "");
  EXPECT_EQ(read.back().description, "479 more field violations not listed");
  EXPECT_LT(status.message().size(), 2048u);
  grpc::Status on_the_wire = ToGrpcStatus(status);
  EXPECT_LT(on_the_wire.error_message().size() + on_the_wire.error_details().size(), 4096u);
}

TEST(QuoteForMessageTest, ShortValuesWholeLongOnesCutWithTheirSize) {
  EXPECT_EQ(QuoteForMessage(""), "''");
  EXPECT_EQ(QuoteForMessage("PAINT-2"), "'PAINT-2'");
  const std::string exactly(kQuotedValueLimit, 'a');
  EXPECT_EQ(QuoteForMessage(exactly), "'" + exactly + "'");
  EXPECT_EQ(QuoteForMessage(std::string(1 << 20, 'b')),
            "'" + std::string(kQuotedValueLimit, 'b') + "…' (1048576 bytes)");
  // 100 two-byte characters: 64 whole characters are kept, none split.
  std::string umlauts;
  for (int i = 0; i < 100; ++i) umlauts += "ü";
  std::string kept;
  for (size_t i = 0; i < kQuotedValueLimit; ++i) kept += "ü";
  EXPECT_EQ(QuoteForMessage(umlauts), "'" + kept + "…' (200 bytes)");
}

TEST(QuoteForMessageTest, InvisibleAndDisplayChangingCharactersAreEscaped) {
  EXPECT_EQ(QuoteForMessage("AB\u202ECD"), "'AB\\u202ECD'");  // right-to-left override
  EXPECT_EQ(QuoteForMessage("a\nb\tc\x7F"), "'a\\u000Ab\\u0009c\\u007F'");
  EXPECT_EQ(QuoteForMessage("x\u200By\uFEFF"), "'x\\u200By\\uFEFF'");
  // A combining mark first would draw on the opening quote (outside testing: '́17'); later
  // ones combine with their letter as typed.
  EXPECT_EQ(QuoteForMessage("\u030117"), "'\\u030117'");
  EXPECT_EQ(QuoteForMessage("e\u0301"), "'e\u0301'");
  EXPECT_EQ(QuoteForMessage("bad\xFF\xC3"), "'bad\\xFF\\xC3'");
  // Overlong forms and surrogates are not UTF-8 either: a message stays valid UTF-8.
  EXPECT_EQ(QuoteForMessage("\xC0\xAF\xED\xA0\x80"), "'\\xC0\\xAF\\xED\\xA0\\x80'");
  EXPECT_EQ(QuoteForMessage("Müller 東京 ∑"), "'Müller 東京 ∑'");  // shown as they are
}

TEST(ErrorInfoTest, RoundTrip) {
  absl::Status status = WithErrorInfo(absl::FailedPreconditionError("no"), "ILLEGAL_TRANSITION",
                                      {{"current_state", "CLOSED"}});
  ErrorInfoView info = ErrorInfoOf(status);
  EXPECT_EQ(info.reason, "ILLEGAL_TRANSITION");
  EXPECT_EQ(info.metadata.at("current_state"), "CLOSED");
  EXPECT_EQ(ErrorInfoOf(absl::InternalError("x")).reason, "");
}

TEST(ErrorInfoTest, MetadataIsAddedToTheErrorInfo) {
  absl::Status status =
      WithErrorMetadata(WithErrorInfo(absl::FailedPreconditionError("no"), "ILLEGAL_TRANSITION",
                                      {{"current_status", "CLOSED"}}),
                        "defect_id", "42");
  ErrorInfoView info = ErrorInfoOf(status);
  EXPECT_EQ(info.reason, "ILLEGAL_TRANSITION");
  EXPECT_EQ(info.metadata.at("current_status"), "CLOSED");
  EXPECT_EQ(info.metadata.at("defect_id"), "42");
  EXPECT_EQ(status.message(), "no");
  // A key it has keeps its value; a status without an ErrorInfo stays as it is.
  EXPECT_EQ(ErrorInfoOf(WithErrorMetadata(status, "defect_id", "7")).metadata.at("defect_id"),
            "42");
  EXPECT_EQ(WithErrorMetadata(absl::InternalError("x"), "k", "v"), absl::InternalError("x"));
}

TEST(ErrorInfoTest, OkStatusStaysOk) {
  EXPECT_TRUE(WithErrorInfo(absl::OkStatus(), "X").ok());
  EXPECT_TRUE(WithPreconditionFailure(absl::OkStatus(), "STATE", "s", "d").ok());
}

TEST(GrpcStatusTest, DetailsReadableByExtractErrorDetails) {
  absl::Status status = InvalidField("defect.vin", "required");
  status = WithErrorInfo(std::move(status), "BAD_VIN", {{"k", "v"}});
  status = WithPreconditionFailure(std::move(status), "STATE", "defects/1", "is closed");
  status = WithPreconditionFailure(std::move(status), "CURSOR", "c", "trimmed");

  grpc::Status wire = ToGrpcStatus(status);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(wire.error_message(), "defect.vin: required");

  // What any client's rich-error helper does: decode google.rpc.Status.
  api::v1::Status rich;
  ASSERT_TRUE(grpc::ExtractErrorDetails(wire, &rich).ok());
  EXPECT_EQ(rich.code(), 3);
  EXPECT_EQ(rich.message(), "defect.vin: required");
  ASSERT_EQ(rich.details_size(), 3);
  bool saw_bad_request = false, saw_info = false, saw_precondition = false;
  for (const google::protobuf::Any& detail : rich.details()) {
    if (detail.type_url() == kBadRequestTypeUrl) {
      api::v1::BadRequest bad_request;
      ASSERT_TRUE(bad_request.ParseFromString(detail.value()));
      ASSERT_EQ(bad_request.field_violations_size(), 1);
      EXPECT_EQ(bad_request.field_violations(0).field(), "defect.vin");
      saw_bad_request = true;
    } else if (detail.type_url() == kErrorInfoTypeUrl) {
      api::v1::ErrorInfo info;
      ASSERT_TRUE(info.ParseFromString(detail.value()));
      EXPECT_EQ(info.reason(), "BAD_VIN");
      EXPECT_EQ(info.domain(), "plantmesh");
      saw_info = true;
    } else if (detail.type_url() == kPreconditionFailureTypeUrl) {
      api::v1::PreconditionFailure failure;
      ASSERT_TRUE(failure.ParseFromString(detail.value()));
      EXPECT_EQ(failure.violations_size(), 2);
      saw_precondition = true;
    }
  }
  EXPECT_TRUE(saw_bad_request && saw_info && saw_precondition);

  // And back through the SDK's decoder, as a client reads it.
  absl::Status back = sdk::FromGrpcStatus(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sdk::FieldViolations(back).size(), 1u);
  EXPECT_EQ(sdk::ErrorMetadata(back, "k"), "v");
}

// Outside testing: the same bad request's details came in either order (absl iterates
// payloads in an unspecified one), so a client reading details[0] failed half the time.
// ErrorInfo first, then by type URL; a payload that is not a google.rpc message (a marker
// for the server itself) is not sent.
TEST(GrpcStatusTest, DetailsComeInOneOrderAndOnlyGoogleRpcOnes) {
  absl::Status status = InvalidField("defect.vin", "required");
  status = WithPreconditionFailure(std::move(status), "STATE", "defects/1", "is closed");
  status = WithErrorInfo(std::move(status), "BAD_VIN");
  status.SetPayload("type.plantmesh.local/server.Marker", absl::Cord("x"));
  grpc::Status wire = ToGrpcStatus(status);
  api::v1::Status rich;
  ASSERT_TRUE(grpc::ExtractErrorDetails(wire, &rich).ok());
  std::vector<std::string> types;
  for (const google::protobuf::Any& detail : rich.details()) types.push_back(detail.type_url());
  EXPECT_EQ(types, (std::vector<std::string>{std::string(kErrorInfoTypeUrl),
                                             std::string(kBadRequestTypeUrl),
                                             std::string(kPreconditionFailureTypeUrl)}));
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(ToGrpcStatus(status).error_details(), wire.error_details()) << i;
  }
  absl::Status marked_only = absl::UnavailableError("redis down");
  marked_only.SetPayload("type.plantmesh.local/server.Marker", absl::Cord());
  EXPECT_TRUE(ToGrpcStatus(marked_only).error_details().empty());
}

TEST(GrpcStatusTest, PlainStatusHasNoDetails) {
  grpc::Status wire = ToGrpcStatus(absl::NotFoundError("defects/9 not found"));
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(wire.error_message(), "defects/9 not found");
  EXPECT_TRUE(wire.error_details().empty());
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(GrpcStatusTest, EveryCanonicalCodeMapsToTheSameNumber) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status status(static_cast<absl::StatusCode>(code), "m");
    EXPECT_EQ(static_cast<int>(ToGrpcStatus(status).error_code()), code);
  }
}

TEST(ForClientTest, ServerFaultsKeepTheirCodeButNotTheirText) {
  for (absl::StatusCode code :
       {absl::StatusCode::kInternal, absl::StatusCode::kUnknown, absl::StatusCode::kDataLoss}) {
    absl::Status fault = WithErrorInfo(
        absl::Status(code, "relation \"defect.defects\" does not exist (SQLSTATE 42P01)"),
        "PG_DETAIL", {{"table", "defect.defects"}});
    std::string id;
    absl::Status sent = ForClient(fault, &id);
    EXPECT_EQ(sent.code(), code);
    ASSERT_EQ(id.size(), 16u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_NE(sent.message().find(id), absl::string_view::npos) << sent;
    EXPECT_EQ(sent.message().find("defect"), absl::string_view::npos) << sent;
    EXPECT_EQ(sent.message().find("SQLSTATE"), absl::string_view::npos) << sent;
    ErrorInfoView info = ErrorInfoOf(sent);
    EXPECT_EQ(info.reason, "SERVER_ERROR");
    EXPECT_EQ(info.metadata, (std::map<std::string, std::string>{{"error_id", id}}));
    // Each fault gets its own id.
    std::string again;
    EXPECT_FALSE(ForClient(fault, &again).ok());
    EXPECT_NE(again, id);
  }
}

TEST(ForClientTest, OtherStatusesKeepTheirCodeMessageAndDetails) {
  std::string id = "stale";
  absl::Status invalid = InvalidField("defect.vin", "required");
  absl::Status sent = ForClient(invalid, &id);
  EXPECT_EQ(sent.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sent.message(), invalid.message());
  ASSERT_EQ(FieldViolationsOf(sent).size(), 1u);
  EXPECT_EQ(FieldViolationsOf(sent)[0].field, "defect.vin");
  EXPECT_TRUE(id.empty());
  EXPECT_TRUE(ForClient(absl::OkStatus(), &id).ok());
  EXPECT_EQ(ForClient(absl::AbortedError("etag"), &id).message(), "etag");
  absl::Status with_reason = WithErrorInfo(absl::NotFoundError("no machine M"), "MACHINE_NOT_FOUND",
                                           {{"machine_id", "M"}});
  EXPECT_EQ(ForClient(with_reason, &id), with_reason);
}

// Outside testing: NOT_FOUND of one service carried ErrorInfo MACHINE_NOT_FOUND, of
// another no details at all. Every error a client is told has a reason: its maker's,
// otherwise the code's name.
TEST(ForClientTest, EveryStatusLeavesWithAReason) {
  std::string id;
  EXPECT_EQ(ErrorInfoOf(ForClient(absl::NotFoundError("gone"), &id)).reason, "NOT_FOUND");
  EXPECT_EQ(ErrorInfoOf(ForClient(InvalidField("defect.vin", "required"), &id)).reason,
            "INVALID_ARGUMENT");
  EXPECT_EQ(ErrorInfoOf(ForClient(absl::FailedPreconditionError("x"), &id)).reason,
            "FAILED_PRECONDITION");
}

// Outside testing: "defect 15646 changed since etag <U+202E>gnp.exe<U+200B>..." reached
// the client and the audit row as sent: a message repeating a value its maker did not
// quote. Whatever a message holds, it leaves display-safe, its details kept.
TEST(ForClientTest, MessagesLeaveDisplaySafe) {
  std::string id;
  absl::Status aborted = WithErrorInfo(
      absl::AbortedError("changed since etag \u202Egnp.exe\u200B\u2066x (current etag v1)"),
      "ETAG_MISMATCH", {{"current_etag", "v1"}});
  absl::Status sent = ForClient(aborted, &id);
  EXPECT_EQ(sent.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(sent.message(), "changed since etag \\u202Egnp.exe\\u200B\\u2066x (current etag v1)");
  EXPECT_EQ(ErrorInfoOf(sent).reason, "ETAG_MISMATCH");
  EXPECT_EQ(ErrorInfoOf(sent).metadata.at("current_etag"), "v1");
  EXPECT_EQ(ForClient(absl::InvalidArgumentError("bad \xff byte"), &id).message(),
            "bad \\xFF byte");
  EXPECT_EQ(ForClient(absl::InvalidArgumentError("tag \U000E0041 and \uFFF9"), &id).message(),
            "tag \\U000E0041 and \\uFFF9");
  // Line breaks and tabs of a message of several lines stay.
  EXPECT_EQ(ForClient(absl::InvalidArgumentError("a\n\tb"), &id).message(), "a\n\tb");
}

// Outside testing: a call while PostgreSQL was down answered with libpq's own text and the
// database's address. The client is told which dependency, and an error id for the log.
TEST(ForClientTest, ADependencysTextStaysInTheServer) {
  const absl::Status down = DependencyUnavailable(
      "PostgreSQL", "cannot connect to PostgreSQL at 127.0.0.1:47703: Connection refused");
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(down.message()), HasSubstr("127.0.0.1:47703"));  // for the log
  std::string id;
  const absl::Status sent = ForClient(down, &id);
  EXPECT_EQ(sent.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(sent.message(), absl::StrCat("the server cannot reach its PostgreSQL; retry later "
                                         "(error id ",
                                         id, "; the server's log has the details)"));
  EXPECT_EQ(ErrorInfoOf(sent).reason, "DEPENDENCY_UNAVAILABLE");
  EXPECT_EQ(ErrorInfoOf(sent).metadata.at("dependency"), "PostgreSQL");
  EXPECT_EQ(ErrorInfoOf(sent).metadata.at("error_id"), id);
  // Another UNAVAILABLE (draining, a busy solver) says what it says.
  EXPECT_EQ(ForClient(absl::UnavailableError("the server is draining"), &id).message(),
            "the server is draining");
  EXPECT_TRUE(id.empty());
}

// What a retry can mend says how long to wait (google.rpc.RetryInfo, and gRPC's pushback
// trailer for its own retries); what it cannot mend says nothing of the kind.
TEST(RetryInfoTest, OutagesAndBusyServersAskForADelayOthersDoNot) {
  const absl::Status draining = ServerDraining("server is shutting down");
  EXPECT_EQ(draining.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorInfoOf(draining).reason, "SERVER_DRAINING");
  EXPECT_EQ(RetryDelayOf(draining), kRetryAfterOutage);

  const absl::Status busy =
      WithRetryDelay(absl::ResourceExhaustedError("server busy"), absl::Milliseconds(250));
  grpc::Status wire = ToGrpcStatus(busy);
  // Read back as any client does: the SDK's reader of google.rpc.Status.
  const absl::Status read = sdk::FromGrpcStatus(wire);
  EXPECT_EQ(sdk::RetryDelay(read), absl::Milliseconds(250));
  EXPECT_THAT(sdk::DescribeStatus(read), HasSubstr("retry after: 250ms"));
  api::v1::Status rich;
  ASSERT_TRUE(rich.ParseFromString(wire.error_details()));
  ASSERT_EQ(rich.details_size(), 1);
  EXPECT_EQ(rich.details(0).type_url(), kRetryInfoTypeUrl);

  // A dependency out of reach keeps its delay through what the client is told.
  std::string id;
  const absl::Status down = ForClient(DependencyUnavailable("PostgreSQL", "refused"), &id);
  EXPECT_EQ(RetryDelayOf(down), kRetryAfterOutage);
  EXPECT_EQ(ErrorInfoOf(down).reason, "DEPENDENCY_UNAVAILABLE");

  // Not for errors a retry cannot mend, nor for a status without one.
  EXPECT_EQ(RetryDelayOf(WithRetryDelay(absl::InvalidArgumentError("x"), absl::Seconds(1))),
            std::nullopt);
  EXPECT_EQ(RetryDelayOf(absl::UnavailableError("x")), std::nullopt);
  EXPECT_EQ(sdk::RetryDelay(sdk::FromGrpcStatus(ToGrpcStatus(absl::UnavailableError("x")))),
            std::nullopt);

  // gRPC's retry policy reads the same delay from its trailer, in milliseconds.
  grpc::ServerContext context;
  grpc::testing::ServerContextTestSpouse spouse(&context);
  AddRetryPushback(&context, draining);
  const auto trailers = spouse.GetTrailingMetadata();
  ASSERT_EQ(trailers.count("grpc-retry-pushback-ms"), 1u);
  EXPECT_EQ(trailers.find("grpc-retry-pushback-ms")->second, "1000");
  grpc::ServerContext other;
  grpc::testing::ServerContextTestSpouse other_spouse(&other);
  AddRetryPushback(&other, absl::UnavailableError("x"));
  EXPECT_TRUE(other_spouse.GetTrailingMetadata().empty());
}

// Outside testing: the warnings of every background job during a PostgreSQL outage, and
// the failed start's one line, ended with the ErrorInfo as escaped protobuf bytes.
TEST(StatusForLogTest, TheDetailsAreWordsNotBytes) {
  const absl::Status down = DependencyUnavailable("PostgreSQL", "FATAL: too many clients");
  EXPECT_EQ(StatusForLog(down),
            "UNAVAILABLE: FATAL: too many clients (reason DEPENDENCY_UNAVAILABLE)");
  EXPECT_EQ(StatusForLog(absl::InternalError("x")), "INTERNAL: x");
  EXPECT_EQ(StatusForLog(absl::OkStatus()), "OK");
}

// The details are made display-safe as the message is (and so stay valid UTF-8, which a
// protobuf string must be: a detail with a byte that is not UTF-8 fails to parse in a
// client): field violations, precondition failures and ErrorInfo's metadata.
TEST(ForClientTest, DetailsLeaveDisplaySafe) {
  std::string id;
  absl::Status invalid = InvalidField("labels[\"\u202Ex\"]", "bad \xff byte\u200B\nnext line");
  invalid = WithPreconditionFailure(WithErrorInfo(invalid, "X",
                                                  {{"key",
                                                    "a\xff"
                                                    "b"}}),
                                    "TYPE", "subject \u2066", "why \U000E0041");
  const absl::Status sent = ForClient(invalid, &id);
  ASSERT_EQ(FieldViolationsOf(sent).size(), 1u);
  EXPECT_EQ(FieldViolationsOf(sent)[0].field, "labels[\"\\u202Ex\"]");
  EXPECT_EQ(FieldViolationsOf(sent)[0].description, "bad \\xFF byte\\u200B\nnext line");
  EXPECT_EQ(sent.message(), "labels[\"\\u202Ex\"]: bad \\xFF byte\\u200B\nnext line");
  api::v1::PreconditionFailure failure;
  ASSERT_TRUE(failure.ParseFromString(
      std::string(*sent.GetPayload(std::string(kPreconditionFailureTypeUrl)))));
  ASSERT_EQ(failure.violations_size(), 1);
  EXPECT_EQ(failure.violations(0).type(), "TYPE");
  EXPECT_EQ(failure.violations(0).subject(), "subject \\u2066");
  EXPECT_EQ(failure.violations(0).description(), "why \\U000E0041");
  EXPECT_EQ(ErrorInfoOf(sent).metadata.at("key"), "a\\xFFb");
}

}  // namespace
}  // namespace plantmesh::runtime
