#include "server/runtime/metrics_endpoint.h"

#include <httplib.h>
#include <sys/socket.h>

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {
namespace {

// A connection holds a request thread from its accept to its close (httplib): idle
// keep-alive connections and half-sent requests are let go soon, and there are threads
// for several at once (outside testing: two idle connections, one being Prometheus's
// own keep-alive, held both threads and stalled every scrape for 5 s; two that sent a
// byte every 4 s stalled them for good).
constexpr int kRequestThreads = 8;
constexpr time_t kReadTimeoutSeconds = 2;  // per read
constexpr time_t kKeepAliveSeconds = 1;    // an idle connection between requests
constexpr time_t kWriteTimeoutSeconds = 5;
constexpr size_t kMaxPayloadBytes = 4096;

}  // namespace

struct MetricsEndpoint::State {
  httplib::Server server;
  std::thread thread;
  absl::Notification done;  // listen_after_bind returned
  bool stopped = false;
};

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& listen, const MetricsRegistry* registry) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics-listen: '", listen, "' is not HOST:PORT"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }

  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  endpoint->state_ = std::make_unique<State>();
  httplib::Server& server = endpoint->state_->server;
  server.new_task_queue = [] { return new httplib::ThreadPool(kRequestThreads); };
  server.set_read_timeout(kReadTimeoutSeconds, 0);
  server.set_keep_alive_timeout(kKeepAliveSeconds);
  server.set_write_timeout(kWriteTimeoutSeconds, 0);
  server.set_payload_max_length(kMaxPayloadBytes);
  // httplib's default sets SO_REUSEPORT, which would let a second process share the
  // port and the scraper read either one. SO_REUSEADDR only: a restart binds at once.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.Get("/metrics", [registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry->Scrape(), kPrometheusTextContentType);
  });

  int bound = port;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("metrics-listen: cannot listen on ", listen));
  }
  endpoint->port_ = bound;
  endpoint->endpoint_ = absl::StrCat(listen.substr(0, colon), ":", bound);
  State* state = endpoint->state_.get();
  state->thread = std::thread([state] {
    state->server.listen_after_bind();
    state->done.Notify();
  });
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() { Stop(); }

void MetricsEndpoint::Stop() {
  if (state_ == nullptr || state_->stopped) return;
  state_->stopped = true;
  if (!state_->thread.joinable()) return;  // never listened (Start failed)
  // httplib's stop() does nothing until the listening loop has begun (is_running), and
  // must be called once only (a second call asserts on the closed socket): wait for the
  // loop to begin, unless it already ended, then stop it once.
  while (!state_->server.is_running() &&
         !state_->done.WaitForNotificationWithTimeout(absl::Milliseconds(1))) {
  }
  state_->server.stop();
  state_->done.WaitForNotification();
  state_->thread.join();
}

}  // namespace plantmesh::runtime
