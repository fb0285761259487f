#include <unistd.h>

#include <cstdlib>

#include "tests/support/loopback.h"
#include "tests/support/test_servers.h"

namespace plantmesh::testing {

int FreePort() {
  int port = 0;
  const int fd = ListenOnLoopback(&port);
  if (fd < 0) std::abort();
  close(fd);
  return port;
}

}  // namespace plantmesh::testing
