#include "plantmesh/sdk/status.h"

#include <gmock/gmock.h>
#include <grpcpp/support/status.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"
#include "plantmesh/api/v1/error_details.pb.h"
#include "plantmesh/sdk/internal/connection.h"

namespace plantmesh::sdk {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

namespace api = ::plantmesh::api::v1;

// The trailer a server sends: google.rpc.Status with BadRequest and ErrorInfo details.
grpc::Status RichInvalidArgument() {
  api::BadRequest bad_request;
  auto* vin = bad_request.add_field_violations();
  vin->set_field("defect.vin");
  vin->set_description("must be 17 characters");
  auto* zone = bad_request.add_field_violations();
  zone->set_field("defect.zone");
  zone->set_description("required");
  api::ErrorInfo info;
  info.set_reason("ILLEGAL_TRANSITION");
  info.set_domain("plantmesh");
  (*info.mutable_metadata())["current_state"] = "REPORTED";
  api::PreconditionFailure precondition;
  auto* violation = precondition.add_violations();
  violation->set_type("STATE");
  violation->set_subject("defects/42");
  violation->set_description("not repaired yet");

  api::Status status;
  status.set_code(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  status.set_message("2 fields are wrong");
  auto pack = [&status](const google::protobuf::Message& detail, const std::string& type) {
    auto* any = status.add_details();
    any->set_type_url("type.googleapis.com/google.rpc." + type);
    any->set_value(detail.SerializeAsString());
  };
  pack(bad_request, "BadRequest");
  pack(info, "ErrorInfo");
  pack(precondition, "PreconditionFailure");
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "2 fields are wrong",
                      status.SerializeAsString());
}

TEST(FromGrpcStatus, KeepsCodeMessageAndEveryDetail) {
  const absl::Status status = FromGrpcStatus(RichInvalidArgument());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "2 fields are wrong");

  const auto violations = FieldViolations(status);
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].field, "defect.vin");
  EXPECT_EQ(violations[0].description, "must be 17 characters");
  EXPECT_EQ(violations[1].field, "defect.zone");
  EXPECT_EQ(ErrorReason(status), "ILLEGAL_TRANSITION");
  EXPECT_EQ(ErrorMetadata(status, "current_state"), "REPORTED");
  EXPECT_EQ(ErrorMetadata(status, "absent"), "");
  const auto preconditions = PreconditionViolations(status);
  ASSERT_EQ(preconditions.size(), 1u);
  EXPECT_EQ(preconditions[0].subject, "defects/42");
  EXPECT_TRUE(status.GetPayload("type.googleapis.com/google.rpc.BadRequest").has_value());
}

TEST(FromGrpcStatus, PlainErrorsHaveNoDetails) {
  const absl::Status status = FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no"));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(FieldViolations(status).empty());
  EXPECT_EQ(ErrorReason(status), "");
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(FromGrpcStatus, UnreadableDetailsKeepTheStatus) {
  const absl::Status status =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::INTERNAL, "broken", "\xff\xff not proto"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(), "broken");
}

TEST(FromGrpcStatus, TlsHandshakeFailureBecomesUnauthenticated) {
  const absl::Status status =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  "failed to connect to all addresses; last error: UNKNOWN: "
                                  "ipv4:127.0.0.1:7443: Ssl handshake failed: SSL_ERROR_SSL"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("TLS handshake failed"));
  EXPECT_THAT(status.message(), HasSubstr("Ssl handshake failed: SSL_ERROR_SSL"));

  // A plaintext port is no certificate problem.
  const absl::Status plaintext = FromGrpcStatus(grpc::Status(
      grpc::StatusCode::UNAVAILABLE,
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7543: Ssl "
      "handshake failed: SSL_ERROR_SSL: error:0A00010B:SSL routines::wrong version number"));
  EXPECT_EQ(plaintext.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(plaintext.message(), HasSubstr("does not speak TLS"));
  EXPECT_EQ(ErrorReason(plaintext), kNotTlsReason);

  // Which side refused, where OpenSSL says so.
  const absl::Status server_refused = FromGrpcStatus(grpc::Status(
      grpc::StatusCode::UNAVAILABLE,
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7443: Ssl "
      "handshake failed: SSL_ERROR_SSL: error:0A000415:SSL routines::sslv3 alert certificate "
      "expired"));
  EXPECT_THAT(server_refused.message(), HasSubstr("the server refused this client's certificate"));
  const absl::Status client_refused = FromGrpcStatus(grpc::Status(
      grpc::StatusCode::UNAVAILABLE,
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7443: Ssl "
      "handshake failed: SSL_ERROR_SSL: error:0A000086:SSL routines::certificate verify failed"));
  EXPECT_THAT(client_refused.message(),
              HasSubstr("this client did not accept the server's certificate"));

  const absl::Status refused = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "connections to all backends failing"));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
}

TEST(FromGrpcStatus, OverMutualTlsAConnectionClosedAfterTheHandshakeIsARefusedCertificate) {
  const grpc::Status closed(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: UNAVAILABLE: "
                            "ipv4:127.0.0.1:7443: Socket closed");
  EXPECT_EQ(FromGrpcStatus(closed, /*mutual_tls=*/true).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(FromGrpcStatus(closed, /*mutual_tls=*/false).code(), absl::StatusCode::kUnavailable);
  const grpc::Status refused(grpc::StatusCode::UNAVAILABLE,
                             "failed to connect to all addresses; last error: UNKNOWN: "
                             "ipv4:127.0.0.1:1: Failed to connect to remote host: Connection "
                             "refused");
  EXPECT_EQ(FromGrpcStatus(refused, /*mutual_tls=*/true).code(), absl::StatusCode::kUnavailable);

  // A TCP front with no server behind it closes the same way: the message says both, and
  // the long-running helpers retry it rather than stopping for good (outside testing: a
  // batch writer abandoned its samples).
  const absl::Status unconfirmed = FromGrpcStatus(closed, /*mutual_tls=*/true);
  EXPECT_THAT(unconfirmed.message(), HasSubstr("a proxy in front of it has no server"));
  EXPECT_EQ(ErrorReason(unconfirmed), kTlsConnectionClosedReason);
  EXPECT_TRUE(IsUnconfirmedTlsRefusal(unconfirmed));
  EXPECT_TRUE(WatchEndIsResumable(unconfirmed));
}

// Outside testing: a frozen server (the handshake timed out) was reported as a refused
// certificate, and a certificate without the endpoint's host name as a server not
// started.
TEST(FromGrpcStatus, OnlyWhatOpenSslSaysIsACertificateProblem) {
  const grpc::Status timed_out(grpc::StatusCode::UNAVAILABLE,
                               "failed to connect to all addresses; last error: UNKNOWN: "
                               "ipv4:127.0.0.1:7443: Handshake read failed");
  EXPECT_EQ(FromGrpcStatus(timed_out, /*mutual_tls=*/true).code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(internal::IsHandshakeFailure(timed_out, /*mutual_tls=*/true));
  // Yet over mutual TLS a refused certificate breaks the handshake off alike (outside
  // testing: a batch writer's only word for one): the message says it may be why.
  EXPECT_THAT(FromGrpcStatus(timed_out, /*mutual_tls=*/true).message(),
              HasSubstr("the server refused this client's certificate, which its log says, or "
                        "it stopped answering"));
  EXPECT_THAT(FromGrpcStatus(timed_out, /*mutual_tls=*/false).message(),
              Not(HasSubstr("certificate")));

  // A plaintext call whose connection the server closed at once: asked about TLS on every
  // path (outside testing: only unary calls that waited were; streams and admin status
  // said "Socket closed"). Not when the transport is not known.
  const grpc::Status closed(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: UNAVAILABLE: "
                            "ipv4:127.0.0.1:7443: Socket closed");
  EXPECT_THAT(FromGrpcStatus(closed, /*mutual_tls=*/false).message(),
              HasSubstr("does it expect TLS (this client is set insecure: plaintext)?"));
  EXPECT_THAT(FromGrpcStatus(closed).message(), Not(HasSubstr("TLS")));

  const grpc::Status wrong_host(
      grpc::StatusCode::UNAVAILABLE,
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7443: Custom "
      "verification check failed with error: UNAUTHENTICATED: Hostname Verification Check "
      "failed.");
  const absl::Status host = FromGrpcStatus(wrong_host, /*mutual_tls=*/true);
  EXPECT_EQ(host.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(host.message(), HasSubstr("does not name the host this client connects to"));
  EXPECT_EQ(ErrorReason(host), kTlsHandshakeFailedReason);
  EXPECT_FALSE(IsUnconfirmedTlsRefusal(host));
  EXPECT_FALSE(WatchEndIsResumable(host));
  EXPECT_TRUE(internal::IsHandshakeFailure(wrong_host, /*mutual_tls=*/false));
}

TEST(FromGrpcStatus, AServerSentUnavailableNamingSslStaysUnavailable) {
  const grpc::Status database_lost(grpc::StatusCode::UNAVAILABLE,
                                   "PostgreSQL connection lost: SSL SYSCALL error: EOF detected");
  EXPECT_EQ(FromGrpcStatus(database_lost).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromGrpcStatus(database_lost, /*mutual_tls=*/true).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromGrpcStatus(database_lost).message(),
            "PostgreSQL connection lost: SSL SYSCALL error: EOF detected");

  // Details mean the server produced the status, whatever its text.
  const grpc::Status with_details(grpc::StatusCode::UNAVAILABLE,
                                  "failed to connect to all addresses; last error: ssl upstream",
                                  RichInvalidArgument().error_details());
  EXPECT_EQ(FromGrpcStatus(with_details).code(), absl::StatusCode::kUnavailable);
}

TEST(DescribeStatus, NamesEachFieldReasonAndPrecondition) {
  const std::string text = DescribeStatus(FromGrpcStatus(RichInvalidArgument()));
  EXPECT_THAT(text, HasSubstr("INVALID_ARGUMENT: 2 fields are wrong"));
  EXPECT_THAT(text, HasSubstr("field defect.vin: must be 17 characters"));
  EXPECT_THAT(text, HasSubstr("field defect.zone: required"));
  EXPECT_THAT(text, HasSubstr("reason: ILLEGAL_TRANSITION (plantmesh)"));
  EXPECT_THAT(text, HasSubstr("current_state: REPORTED"));
  EXPECT_THAT(text, HasSubstr("precondition STATE defects/42: not repaired yet"));
  EXPECT_EQ(DescribeStatus(absl::OkStatus()), "OK");
}

TEST(StatusLine, IsOneLine) {
  EXPECT_EQ(StatusLine(absl::UnavailableError("failed to connect\nConnection refused\n")),
            "UNAVAILABLE: failed to connect Connection refused");
  EXPECT_EQ(StatusLine(absl::OkStatus()), "OK");
}

// A server that shuts down cancels the calls that reach it meanwhile: a watch opened
// again then is CANCELLED without its caller having cancelled it (outside testing:
// `plantctl telemetry tail` gave up there, exit 11).
TEST(WatchEndIsResumable, TheServersEndsAreResumedTheRequestsAreNot) {
  for (const absl::Status& resumed :
       {absl::OkStatus(), absl::UnavailableError("drain"), absl::CancelledError("CANCELLED"),
        absl::DeadlineExceededError("x"), absl::ResourceExhaustedError("x"),
        absl::AbortedError("x")}) {
    EXPECT_TRUE(WatchEndIsResumable(resumed)) << resumed;
  }
  for (const absl::Status& for_the_caller :
       {absl::InvalidArgumentError("cursor"), absl::FailedPreconditionError("relist"),
        absl::PermissionDeniedError("x"), absl::UnauthenticatedError("x"), absl::NotFoundError("x"),
        absl::InternalError("x"), absl::UnimplementedError("x")}) {
    EXPECT_FALSE(WatchEndIsResumable(for_the_caller)) << for_the_caller;
  }
}

}  // namespace
}  // namespace plantmesh::sdk
