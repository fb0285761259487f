#include "plantmesh/sdk/client_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

namespace plantmesh::sdk {
namespace {

using ::testing::HasSubstr;

TEST(ClientOptionsValidate, InsecureNeedsOnlyAnEndpoint) {
  ClientOptions options;
  options.insecure = true;
  EXPECT_TRUE(options.Validate().ok());
  options.endpoint = "[::1]:7443";
  EXPECT_TRUE(options.Validate().ok());
  for (const char* local : {"localhost:7443", "127.0.0.2:7443", "ipv4:127.0.0.1:7443",
                            "dns:///localhost:7443", "unix:/run/plantmesh.sock"}) {
    options.endpoint = local;
    EXPECT_TRUE(options.Validate().ok()) << local;
  }
}

// Outside testing (BJ L4): plaintext toward 10.1.2.3 passed Validate, so a mis-set
// adapter would send identities and plant data in clear across the plant network.
TEST(ClientOptionsValidate, InsecureOnlyToThisMachine) {
  ClientOptions options;
  options.insecure = true;
  for (const char* remote : {"10.1.2.3:7443", "dns:///plant.example:443", "[fe80::1]:7443",
                             "128.0.0.1:7443", "127.0.0.1.example:7443"}) {
    options.endpoint = remote;
    const absl::Status status = options.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << remote;
    EXPECT_THAT(status.message(), HasSubstr("insecure: plaintext only to this machine")) << remote;
  }
}

TEST(ClientOptionsValidate, ReconnectBackoffWithinWhatGrpcHonours) {
  ClientOptions options;
  options.insecure = true;
  EXPECT_EQ(options.reconnect.initial_backoff, absl::Milliseconds(100));
  EXPECT_EQ(options.reconnect.max_backoff, absl::Seconds(5));
  EXPECT_TRUE(options.reconnect.wait_for_ready);
  options.reconnect.initial_backoff = absl::Milliseconds(10);  // gRPC would use 100 ms
  options.reconnect.max_backoff = absl::Milliseconds(5);
  options.reconnect.min_connect_timeout = absl::ZeroDuration();
  options.reconnect.max_backoff_while_calls_wait = absl::Milliseconds(50);
  const absl::Status status = options.Validate();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("reconnect.initial_backoff: must be at least 100ms"));
  EXPECT_THAT(status.message(), HasSubstr("reconnect.max_backoff: must not be less than"));
  EXPECT_THAT(status.message(), HasSubstr("reconnect.min_connect_timeout"));
  EXPECT_THAT(status.message(),
              HasSubstr("reconnect.max_backoff_while_calls_wait: must be zero or at least 100ms"));
}

TEST(ClientOptionsValidate, BackoffWhileCallsWaitIsZeroOrAtLeastATenthOfASecond) {
  ClientOptions options;
  options.insecure = true;
  EXPECT_EQ(options.reconnect.max_backoff_while_calls_wait, absl::Milliseconds(250));
  options.reconnect.max_backoff_while_calls_wait = absl::ZeroDuration();  // never reset
  EXPECT_TRUE(options.Validate().ok());
  options.reconnect.max_backoff_while_calls_wait = absl::Milliseconds(100);
  EXPECT_TRUE(options.Validate().ok());
}

// Outside testing: these passed Validate and Connect, then every call failed with gRPC's
// "Failed to create secure client channel", naming nothing.
TEST(ClientOptionsValidate, RetryPolicyWithinWhatGrpcTakes) {
  ClientOptions options;
  options.insecure = true;
  options.retry.initial_backoff = absl::Microseconds(400);
  options.retry.max_backoff = absl::InfiniteDuration();
  options.retry.backoff_multiplier = std::nan("");
  const absl::Status status = options.Validate();
  EXPECT_THAT(status.message(), HasSubstr("retry.initial_backoff: must be 1 ms to 1 h"));
  EXPECT_THAT(status.message(), HasSubstr("retry.max_backoff"));
  EXPECT_THAT(status.message(), HasSubstr("retry.backoff_multiplier: must be 1 to 10"));
  options.retry = RetryOptions();
  EXPECT_TRUE(options.Validate().ok());
}

// gRPC's file watcher takes whole seconds; zero reads the files once.
TEST(ClientOptionsValidate, TlsReloadIsZeroOrOneSecondToADay) {
  ClientOptions options;
  options.insecure = true;
  EXPECT_EQ(options.tls_reload, absl::Seconds(60));
  for (absl::Duration good : {absl::ZeroDuration(), absl::Seconds(1), absl::Hours(24)}) {
    options.tls_reload = good;
    EXPECT_TRUE(options.Validate().ok()) << good;
  }
  for (absl::Duration bad :
       {absl::Milliseconds(500), absl::Seconds(-1), absl::Hours(25), absl::InfiniteDuration()}) {
    options.tls_reload = bad;
    EXPECT_THAT(std::string(options.Validate().message()),
                ::testing::HasSubstr("tls_reload: must be zero (read once) or 1s-24h"))
        << bad;
  }
}

TEST(ClientOptionsValidate, NamesEveryBadOption) {
  ClientOptions options;
  options.endpoint = "localhost";
  options.ca_file = "/nonexistent/ca.crt";
  options.retry.max_attempts = 9;
  options.default_deadline = absl::ZeroDuration();
  const absl::Status status = options.Validate();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("endpoint: \"localhost\" is not host:port"));
  // The same rule alone, for endpoints a program keeps in its own settings.
  EXPECT_TRUE(CheckEndpoint("db1:7443").ok());
  EXPECT_TRUE(CheckEndpoint("unix:/run/plantmesh.sock").ok());
  EXPECT_EQ(CheckEndpoint("db1:0").message(), "\"db1:0\" has no valid port (1-65535)");
  EXPECT_EQ(CheckEndpoint("").message(), "empty; want host:port");
  EXPECT_THAT(status.message(), HasSubstr("ca_file: cannot read \"/nonexistent/ca.crt\""));
  EXPECT_THAT(status.message(), HasSubstr("cert_file: required unless insecure"));
  EXPECT_THAT(status.message(), HasSubstr("key_file: required unless insecure"));
  EXPECT_THAT(status.message(), HasSubstr("retry.max_attempts"));
  EXPECT_THAT(status.message(), HasSubstr("default_deadline"));
}

// Outside testing: keepalive_time 1 s passed, and the server then cut the connection of
// every quiet watch with GOAWAY too_many_pings, every 10 s.
TEST(ClientOptionsValidate, KeepaliveNoMoreOftenThanServersAccept) {
  ClientOptions options;
  options.endpoint = "127.0.0.1:7443";
  options.insecure = true;
  options.keepalive_time = absl::Seconds(1);
  EXPECT_THAT(options.Validate().message(),
              HasSubstr("keepalive_time: must be at least 5s (PlantMesh servers close a "
                        "connection that pings more often than min-ping-seconds"));
  options.keepalive_time = absl::Seconds(5);
  EXPECT_TRUE(options.Validate().ok());
}

TEST(ClientOptionsValidate, RejectsABadPort) {
  ClientOptions options;
  options.insecure = true;
  options.endpoint = "127.0.0.1:99999";
  EXPECT_THAT(options.Validate().message(), HasSubstr("no valid port"));
}

TEST(MakeChannel, RefusesInvalidOptionsBeforeConnecting) {
  ClientOptions options;  // mTLS without files
  const auto channel = MakeChannel(options);
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MakeChannel, RefusesAFileThatIsNotPem) {
  const std::string path = ::testing::TempDir() + "/not_pem.txt";
  std::ofstream(path) << "hello";
  ClientOptions options;
  options.ca_file = options.cert_file = options.key_file = path;
  const auto channel = MakeChannel(options);
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(channel.status().message(), HasSubstr("is not a PEM file"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace plantmesh::sdk
