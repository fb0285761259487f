// TCP on 127.0.0.1 for the test support code: addresses, listening and connecting
// sockets. Each returns a descriptor the caller closes, or -1 with errno set.
#pragma once

#include <netinet/in.h>

namespace plantmesh::testing {

// 127.0.0.1:`port` (0: any free port, when binding).
sockaddr_in LoopbackAddress(int port);

// A socket listening on a free 127.0.0.1 port; `*port` is set to it.
int ListenOnLoopback(int* port);

// A socket connected to 127.0.0.1:`port`.
int ConnectToLoopback(int port);

}  // namespace plantmesh::testing
