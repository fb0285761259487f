#include "server/runtime/keepalive.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/runtime/denial_budget.h"
#include "server/runtime/open_files.h"
#include "server/runtime/shutdown.h"

namespace plantmesh::runtime {
namespace {

std::atomic<int> g_min_ping_seconds{5};
// The least severity of gRPC's own lines passed on (GRPC_VERBOSITY, default ERROR); lines
// below it are dropped, except the GOAWAY we turn into a warning.
std::atomic<int> g_grpc_verbosity{GPR_LOG_SEVERITY_ERROR};

std::atomic<uint64_t> g_tls_handshake_failures{0};

// Handshakes that asked for a server name the certificate does not name, logged at most
// once a second per name.
DenialBudget& ServerNameBudget() {
  static auto* budget = new DenialBudget(1, 1);
  return *budget;
}

GrpcLogLimiter& Limiter() {
  static auto* limiter = new GrpcLogLimiter();
  return *limiter;
}

void OnGrpcLog(gpr_log_func_args* args) {
  const char* message = args->message != nullptr ? args->message : "";
  // ssl_transport_security.cc's line for every failed TLS handshake (logged below);
  // gRPC 1.51 names no peer address in it nor anywhere else at that point.
  const bool handshake_failed = absl::StartsWith(message, "Handshake failed with fatal error");
  if (args->severity == GPR_LOG_SEVERITY_ERROR && handshake_failed) {
    g_tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
  }
  // A client's failed or abandoned handshake is the client's fault, not the server's: a
  // warning, as the server's own certificate refusals are (outside testing: a port scan
  // wrote ~150 error lines to a log a plant alerts on).
  // A client that asks for a server name (TLS SNI) this server's certificate does not
  // name: its endpoint or server_name is wrong (outside testing: an error line per
  // handshake, in gRPC's words, that did not say whose mistake it was).
  constexpr absl::string_view kNoServerName = "No match found for server name: ";
  const bool wrong_server_name = absl::StartsWith(message, kNoServerName);
  const bool peers_fault =
      handshake_failed || wrong_server_name ||
      (absl::StartsWith(message, "TlsServerSecurityConnector::cancel_check_peer error") &&
       absl::StrContains(message, "Handshake timed out"));
  // At most one line a second per name asked for, with a count of the rest (re-test:
  // anyone who can open a connection wrote 80 lines in 2 s, no certificate needed: SNI
  // comes before it).
  int64_t untold_for_name = 0;
  if (wrong_server_name && args->severity == GPR_LOG_SEVERITY_ERROR &&
      !ServerNameBudget().Admit(
          std::string(absl::string_view(message).substr(kNoServerName.size())), absl::Now(),
          &untold_for_name)) {
    return;
  }
  // gRPC 1.51 (tcp_server_posix.cc) stops accepting on a port after any accept error
  // other than EAGAIN, for good: outside testing, one moment out of file descriptors
  // left the server running, healthy on its probe port, and deaf on its mTLS port.
  if (args->severity == GPR_LOG_SEVERITY_ERROR && absl::StartsWith(message, "Failed accept4")) {
    StopForFailure(
        absl::StrCat("a listener stopped accepting connections for good (gRPC: ", message,
                     "); the open-file limit is ", OpenFileLimit(), " (LimitNOFILE, ulimit -n)"));
  }
  std::optional<std::string> warning = TooManyPingsWarning(message, g_min_ping_seconds.load());
  if (!warning && static_cast<int>(args->severity) < g_grpc_verbosity.load()) return;
  if (warning || args->severity == GPR_LOG_SEVERITY_ERROR) {
    int64_t held_back = 0;
    const bool write = Limiter().Admit(GrpcLogLimiter::Clock::now(), &held_back);
    if (held_back > 0) {
      spdlog::warn(
          "grpc: {} error lines of gRPC's own log were not written since the last such report "
          "(at most {} a minute are)",
          held_back, GrpcLogLimiter::kLinesPerWindow);
    }
    if (!write) return;
  }
  if (warning) {
    spdlog::warn("{}", *warning);
    return;
  }
  switch (args->severity) {
    case GPR_LOG_SEVERITY_ERROR:
      if (wrong_server_name) {
        absl::string_view name = absl::string_view(message).substr(kNoServerName.size());
        absl::ConsumeSuffix(&name, ".");
        spdlog::warn(
            "grpc: a client's TLS handshake: it asked for server name '{}' (TLS SNI), which "
            "this server's certificate does not name: the client connects by a wrong host "
            "name or sets a wrong server name, and will refuse the certificate{} ({}:{})",
            std::string(name),
            untold_for_name == 0
                ? std::string()
                : absl::StrCat(" (", untold_for_name, " more handshakes asking for it not logged)"),
            args->file, args->line);
      } else if (peers_fault) {
        spdlog::warn("grpc: a client's TLS handshake: {} ({}:{})", message, args->file, args->line);
      } else {
        spdlog::error("grpc: {} ({}:{})", message, args->file, args->line);
      }
      break;
    case GPR_LOG_SEVERITY_INFO:
      spdlog::info("grpc: {} ({}:{})", message, args->file, args->line);
      break;
    default:
      spdlog::debug("grpc: {} ({}:{})", message, args->file, args->line);
      break;
  }
}

int VerbosityFromEnvironment() {
  const char* verbosity = std::getenv("GRPC_VERBOSITY");
  if (verbosity == nullptr) return GPR_LOG_SEVERITY_ERROR;
  const absl::string_view value = verbosity;
  if (absl::EqualsIgnoreCase(value, "DEBUG")) return GPR_LOG_SEVERITY_DEBUG;
  if (absl::EqualsIgnoreCase(value, "INFO")) return GPR_LOG_SEVERITY_INFO;
  if (absl::EqualsIgnoreCase(value, "NONE")) return GPR_LOG_SEVERITY_ERROR + 1;
  return GPR_LOG_SEVERITY_ERROR;
}

}  // namespace

bool GrpcLogLimiter::Admit(Clock::time_point now, int64_t* held_back) {
  absl::MutexLock lock(&mu_);
  *held_back = 0;
  if (!window_start_ || now - *window_start_ >= kWindow) {
    *held_back = std::exchange(held_back_, 0);
    window_start_ = now;
    written_ = 0;
  }
  if (written_ < kLinesPerWindow) {
    ++written_;
    return true;
  }
  ++held_back_;
  return false;
}

int EnforcedPingIntervalMs(int min_ping_seconds) { return min_ping_seconds * 800; }

void ApplyKeepalivePolicy(int min_ping_seconds, grpc::ServerBuilder* builder) {
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              EnforcedPingIntervalMs(min_ping_seconds));
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, kMaxPingStrikes);
  // Our own pings find dead peers of long-lived streams.
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
}

void LogClientsThatPingTooOften(int min_ping_seconds) {
  g_min_ping_seconds = min_ping_seconds;
  g_grpc_verbosity = VerbosityFromEnvironment();
  gpr_set_log_function(OnGrpcLog);
  // gRPC core reports the GOAWAY it sends at DEBUG level, whatever its tracers: let DEBUG
  // lines reach OnGrpcLog, which drops what GRPC_VERBOSITY did not ask for.
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_DEBUG);
}

std::optional<std::string> TooManyPingsWarning(absl::string_view grpc_line, int min_ping_seconds) {
  const size_t marker = grpc_line.find(": Sending goaway");
  if (marker == absl::string_view::npos || !absl::StrContains(grpc_line, "too_many_pings")) {
    return std::nullopt;
  }
  absl::string_view peer = grpc_line.substr(0, marker);
  // Newer gRPC versions add " SERVER" (or " CLIENT") after the peer.
  if (absl::EndsWith(peer, " SERVER")) peer.remove_suffix(7);
  return absl::StrCat(
      "client ", peer, " pinged too often and was disconnected (HTTP/2 GOAWAY ENHANCE_YOUR_CALM ",
      "\"too_many_pings\"): this server accepts keepalive pings every ", min_ping_seconds,
      " s or more slowly (min-ping-seconds; a strike is a ping sooner than ",
      EnforcedPingIntervalMs(min_ping_seconds), " ms after the previous one while no data is ",
      "sent; the connection is closed after ", kMaxPingStrikes + 1,
      " strikes). The client must set its keepalive time to at least ", min_ping_seconds,
      " s (e.g. grpc-js grpc.keepalive_time_ms >= ", min_ping_seconds * 1000, ")");
}

void CountRefusedClientCertificate() {
  g_tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
}

uint64_t TlsHandshakeFailures() { return g_tls_handshake_failures.load(std::memory_order_relaxed); }

}  // namespace plantmesh::runtime
