// A TCP relay on 127.0.0.1 between a client and a server, for tests that must decide
// when what the server sends reaches the client: e.g. a server that committed a batch
// and answered it, while the client never sees the answer. It relays bytes only (TLS and
// HTTP/2 pass through untouched), one connection to the target per accepted connection.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace plantmesh::testing {

class TcpRelay {
 public:
  // Listens on a free 127.0.0.1 port and relays each connection to 127.0.0.1:target_port
  // (connected when the client connects; while nothing listens there the client's
  // connection is closed at once, as a refused connection would be).
  static absl::StatusOr<std::unique_ptr<TcpRelay>> Start(int target_port);
  ~TcpRelay();  // closes every connection and joins its threads
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  std::string endpoint() const;  // "127.0.0.1:<port>"
  // Connections relayed to the target so far (one refused by the target is not counted).
  int connections_relayed() const { return connections_relayed_.load(); }

  // From now on, bytes the server sends are read and discarded (the server is not held
  // back by flow control): the client receives nothing more from it, on any connection,
  // until DropConnections.
  void DiscardServerBytes();
  // Closes every current connection (both sides) and relays both ways again for new
  // connections: whatever was discarded is never delivered.
  void DropConnections();

 private:
  struct Connection;
  explicit TcpRelay(int listen_fd, int port, int target_port);
  void AcceptLoop();
  void Pump(int from, int to, bool from_server);
  void CloseAll();

  const int listen_fd_;
  const int port_;
  const int target_port_;
  std::atomic<bool> discard_server_bytes_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_relayed_{0};
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> connections_;  // under mu_
  std::thread acceptor_;
};

}  // namespace plantmesh::testing
