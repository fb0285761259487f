#include "tests/support/tcp_relay.h"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/support/loopback.h"

namespace plantmesh::testing {
namespace {

bool SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    data += sent;
    size -= static_cast<size_t>(sent);
  }
  return true;
}

}  // namespace

struct TcpRelay::Connection {
  int client_fd = -1;
  int server_fd = -1;
  std::thread to_server;
  std::thread to_client;
};

absl::StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::Start(int target_port) {
  int port = 0;
  const int fd = ListenOnLoopback(&port);
  if (fd < 0) return absl::InternalError(absl::StrCat("relay listen: ", std::strerror(errno)));
  std::unique_ptr<TcpRelay> relay(new TcpRelay(fd, port, target_port));
  relay->acceptor_ = std::thread([r = relay.get()] { r->AcceptLoop(); });
  return relay;
}

TcpRelay::TcpRelay(int listen_fd, int port, int target_port)
    : listen_fd_(listen_fd), port_(port), target_port_(target_port) {}

TcpRelay::~TcpRelay() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);  // accept() returns
  acceptor_.join();
  close(listen_fd_);
  CloseAll();
}

std::string TcpRelay::endpoint() const { return absl::StrCat("127.0.0.1:", port_); }

void TcpRelay::DiscardServerBytes() { discard_server_bytes_ = true; }

void TcpRelay::DropConnections() {
  CloseAll();
  discard_server_bytes_ = false;
}

void TcpRelay::CloseAll() {
  std::vector<std::unique_ptr<Connection>> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    connections.swap(connections_);
  }
  // Shut down first (the pumps' blocking calls return), close only once both have ended:
  // a descriptor number is never reused while a pump may still use it.
  for (const auto& c : connections) {
    shutdown(c->client_fd, SHUT_RDWR);
    shutdown(c->server_fd, SHUT_RDWR);
  }
  for (const auto& c : connections) {
    c->to_server.join();
    c->to_client.join();
    close(c->client_fd);
    close(c->server_fd);
  }
}

void TcpRelay::AcceptLoop() {
  while (!stopping_) {
    const int client_fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client_fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    const int server_fd = ConnectToLoopback(target_port_);
    if (server_fd < 0) {
      close(client_fd);  // nothing listens there now: as refused, the client retries
      continue;
    }
    ++connections_relayed_;  // before any byte is relayed: a reader who saw one sees this
    const int one = 1;
    setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(server_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto connection = std::make_unique<Connection>();
    connection->client_fd = client_fd;
    connection->server_fd = server_fd;
    connection->to_server = std::thread(
        [this, client_fd, server_fd] { Pump(client_fd, server_fd, /*from_server=*/false); });
    connection->to_client = std::thread(
        [this, client_fd, server_fd] { Pump(server_fd, client_fd, /*from_server=*/true); });
    std::lock_guard<std::mutex> lock(mu_);
    connections_.push_back(std::move(connection));
  }
}

void TcpRelay::Pump(int from, int to, bool from_server) {
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t received = recv(from, buffer, sizeof(buffer), 0);
    if (received < 0 && errno == EINTR) continue;
    if (received <= 0) break;
    if (from_server && discard_server_bytes_) continue;
    if (!SendAll(to, buffer, static_cast<size_t>(received))) break;
  }
  // Either side's end or error ends the whole connection (HTTP/2 needs no half-close).
  shutdown(from, SHUT_RDWR);
  shutdown(to, SHUT_RDWR);
}

}  // namespace plantmesh::testing
