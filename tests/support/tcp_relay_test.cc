#include "tests/support/tcp_relay.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "tests/support/loopback.h"

namespace plantmesh::testing {
namespace {

int PortOf(const std::string& endpoint) {
  return std::stoi(endpoint.substr(endpoint.find(':') + 1));
}

// Reads exactly n bytes (blocking); "" when the connection ended first.
std::string ReadExactly(int fd, size_t n) {
  std::string data(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = recv(fd, data.data() + got, n - got, 0);
    if (r <= 0) return "";
    got += static_cast<size_t>(r);
  }
  return data;
}

TEST(TcpRelayTest, RelaysBothWaysDiscardsTheServersBytesWhenToldAndDropsConnections) {
  int target_port = 0;
  const int listener = ListenOnLoopback(&target_port);
  ASSERT_GE(listener, 0);
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(target_port);
  ASSERT_TRUE(relay.ok()) << relay.status();

  const int client = ConnectToLoopback(PortOf((*relay)->endpoint()));
  ASSERT_GE(client, 0);
  const int server = accept(listener, nullptr, nullptr);
  ASSERT_GE(server, 0);
  ASSERT_EQ(send(client, "ping", 4, 0), 4);
  EXPECT_EQ(ReadExactly(server, 4), "ping");
  ASSERT_EQ(send(server, "pong", 4, 0), 4);
  EXPECT_EQ(ReadExactly(client, 4), "pong");
  EXPECT_EQ((*relay)->connections_relayed(), 1);

  // Discarding: the client's bytes still reach the server; the server's never arrive
  // (its "lost" and then its end: the client sees the end, never the bytes).
  (*relay)->DiscardServerBytes();
  ASSERT_EQ(send(client, "more", 4, 0), 4);
  EXPECT_EQ(ReadExactly(server, 4), "more");
  ASSERT_EQ(send(server, "lost", 4, 0), 4);
  shutdown(server, SHUT_WR);
  char byte;
  EXPECT_LE(recv(client, &byte, 1, 0), 0) << "the discarded bytes were delivered";
  (*relay)->DropConnections();
  close(client);
  close(server);

  // A new connection relays both ways again.
  const int again = ConnectToLoopback(PortOf((*relay)->endpoint()));
  ASSERT_GE(again, 0);
  const int accepted = accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  ASSERT_EQ(send(accepted, "back", 4, 0), 4);
  EXPECT_EQ(ReadExactly(again, 4), "back");
  EXPECT_EQ((*relay)->connections_relayed(), 2);
  close(again);
  close(accepted);
  close(listener);
}

}  // namespace
}  // namespace plantmesh::testing
