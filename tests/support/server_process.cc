#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "tests/support/child_process.h"
#include "tests/support/test_servers.h"

#ifndef PLANTMESH_SERVER_BIN
#error "PLANTMESH_SERVER_BIN must be defined by CMake"
#endif

namespace plantmesh::testing {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(30);

// The port from the server's "LISTENING <host>:<port>" stdout line, or 0.
int ListeningPort(const std::string& log) {
  size_t at = log.find("LISTENING ");
  if (at == std::string::npos) return 0;
  size_t end = log.find('\n', at);
  if (end == std::string::npos) return 0;  // line not complete yet
  std::string line = log.substr(at, end - at);
  size_t colon = line.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(line.substr(colon + 1), &port)) return 0;
  return port;
}

std::shared_ptr<grpc::ChannelCredentials> ProbeCredentials(const TestPki* pki) {
  if (pki == nullptr) return grpc::InsecureChannelCredentials();
  TestPki::Client probe = pki->probe_client();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = internal::ReadFileOrEmpty(pki->ca_file());
  ssl.pem_cert_chain = internal::ReadFileOrEmpty(probe.cert_file);
  ssl.pem_private_key = internal::ReadFileOrEmpty(probe.key_file);
  return grpc::SslCredentials(ssl);
}

// grpc.health.v1.Health/Check for the whole server (service ""), encoded by hand so
// the support library needs no health proto: the request is empty, and a response
// of SERVING is field 1 = 1 (bytes 08 01). UNIMPLEMENTED counts as ready: health
// checking is then not offered, and LISTENING is all there is to wait for.
absl::Status ProbeHealth(const std::string& endpoint, const TestPki* pki) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(endpoint, ProbeCredentials(pki), args);
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::Slice empty_message("");  // HealthCheckRequest{service: ""}
  grpc::ByteBuffer request(&empty_message, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) return absl::OkStatus();
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("health check: ", status.error_code(), " ", status.error_message()));
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("health check: bad response");
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  if (bytes == std::string("\x08\x01", 2)) return absl::OkStatus();
  return absl::UnavailableError("health check: not SERVING yet");
}

std::string Or(const std::string& override_value, const std::string& default_value) {
  return override_value.empty() ? default_value : override_value;
}

}  // namespace

struct ServerProcess::State {
  std::string dir;
  std::string log_file;
  pid_t pid = -1;
  int port = 0;
  absl::Time listening_since = absl::InfinitePast();
  int exit_code = -1;

  bool Running() {
    if (pid <= 0) return false;
    if (internal::HasExited(pid, &exit_code)) {
      pid = -1;
      return false;
    }
    return true;
  }
};

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(const Options& options) {
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  server->state_ = std::make_unique<State>();
  State& s = *server->state_;
  absl::StatusOr<std::string> dir = internal::MakeTempDir("plantmesh-server-");
  if (!dir.ok()) return dir.status();
  s.dir = *dir;
  s.log_file = s.dir + "/server.log";

  std::vector<std::string> argv = {Or(options.binary, PLANTMESH_SERVER_BIN), "--listen",
                                   absl::StrCat("127.0.0.1:", options.port), "--services",
                                   absl::StrJoin(options.services, ",")};
  if (options.pki != nullptr) {
    argv.insert(argv.end(),
                {"--tls-ca", Or(options.tls_ca_override, options.pki->ca_file()), "--tls-cert",
                 Or(options.tls_cert_override, options.pki->server_cert()), "--tls-key",
                 Or(options.tls_key_override, options.pki->server_key()), "--role-bindings",
                 options.pki->role_bindings_file(), "--trust-domain", TestPki::kTrustDomain});
  } else {
    argv.push_back("--insecure");
  }
  if (!options.postgres_url.empty()) {
    argv.insert(argv.end(), {"--postgres-url", options.postgres_url});
  }
  if (options.redis_port > 0) {
    argv.insert(argv.end(), {"--redis-port", std::to_string(options.redis_port)});
  }
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  if (options.open_file_limit > 0) {  // util-linux's prlimit sets it, then execs the server
    const std::string limit =
        absl::StrCat("--nofile=", options.open_file_limit, ":", options.open_file_limit);
    argv.insert(argv.begin(), {"prlimit", limit, "--"});
  }
  {
    std::ofstream command(s.dir + "/command");
    command << absl::StrJoin(argv, " ") << "\n";
  }

  absl::StatusOr<pid_t> pid = internal::Spawn(internal::Command(argv, s.log_file, ""));
  if (!pid.ok()) return pid.status();
  s.pid = *pid;

  absl::Time deadline = absl::Now() + kStartTimeout;
  absl::Status health = absl::UnavailableError("no LISTENING line yet");
  while (absl::Now() < deadline) {
    if (!s.Running()) {
      return absl::UnavailableError(absl::StrCat("plantmesh-server exited with ", s.exit_code,
                                                 " during start (", absl::StrJoin(argv, " "),
                                                 "):\n", server->log()));
    }
    if (s.port == 0) {
      s.port = ListeningPort(server->log());
      if (s.port != 0) s.listening_since = absl::Now();
    }
    if (s.port != 0) {
      health = ProbeHealth(server->endpoint(), options.pki);
      if (health.ok()) return server;
    }
    // Read the log often until LISTENING, so that listening_since() is at most a few
    // milliseconds late (restart tests measure from it).
    absl::SleepFor(absl::Milliseconds(s.port == 0 ? 2 : 20));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "plantmesh-server not ready after ", absl::FormatDuration(kStartTimeout), " (",
      health.message(), "); command: ", absl::StrJoin(argv, " "), "\nlog:\n", server->log()));
}

ServerProcess::~ServerProcess() {
  if (!state_) return;
  Kill();
  FailOnSanitizerReport();
  std::error_code ignored;
  if (!state_->dir.empty()) std::filesystem::remove_all(state_->dir, ignored);
}

int ServerProcess::port() const { return state_->port; }

absl::Time ServerProcess::listening_since() const { return state_->listening_since; }

std::string ServerProcess::endpoint() const { return absl::StrCat("127.0.0.1:", state_->port); }

int ServerProcess::Terminate() {
  if (!state_->Running()) return state_->exit_code;
  kill(state_->pid, SIGTERM);
  // Longer than the server's drain deadline (15 s by default) plus its own cleanup.
  absl::StatusOr<int> code = internal::WaitForExit(state_->pid, absl::Seconds(60));
  if (!code.ok()) {
    internal::SignalGroup(state_->pid, SIGKILL);
    code = internal::WaitForExit(state_->pid, absl::Seconds(10));
    state_->pid = -1;
    state_->exit_code = -1;
    return -1;
  }
  state_->pid = -1;
  state_->exit_code = *code;
  return *code;
}

void ServerProcess::Kill() {
  if (!state_->Running()) return;
  internal::SignalGroup(state_->pid, SIGKILL);
  absl::StatusOr<int> code = internal::WaitForExit(state_->pid, absl::Seconds(10));
  state_->exit_code = code.ok() ? *code : -1;
  state_->pid = -1;
}

namespace {
std::atomic<bool> sanitizer_report_seen{false};
}  // namespace

// Sanitizer builds run the server with halt_on_error: a finding stops it, but a test
// whose calls had all returned would not notice. The report is in the log.
void ServerProcess::FailOnSanitizerReport() {
  std::string report = internal::SanitizerReport(log());
  if (report.empty()) return;
  sanitizer_report_seen = true;
  std::string message = absl::StrCat(
      "plantmesh-server (",
      absl::StripTrailingAsciiWhitespace(internal::ReadFileOrEmpty(state_->dir + "/command")),
      ") reported a sanitizer finding:\n", report);
  if (::testing::UnitTest::GetInstance()->current_test_suite() != nullptr) {
    ADD_FAILURE() << message;
  } else {
    std::fprintf(stderr, "%s\n", message.c_str());
  }
}

bool ServerProcess::SanitizerReportSeen() { return sanitizer_report_seen; }

bool ServerProcess::running() const { return state_->Running(); }

int ServerProcess::pid() const { return running() ? static_cast<int>(state_->pid) : -1; }

std::string ServerProcess::log() const { return internal::ReadFileOrEmpty(state_->log_file); }

}  // namespace plantmesh::testing
