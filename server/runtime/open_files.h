// The process's open-file limit (RLIMIT_NOFILE). Every client connection, PostgreSQL and
// Redis connection and file the server holds takes a descriptor; gRPC 1.51 stops
// accepting on a port for good after one accept fails for want of one (keepalive.cc
// stops the server then, for its supervisor to restart it), so the server raises its soft
// limit to the hard one at start, as Go's runtime does.
#pragma once

#include <cstdint>

namespace plantmesh::runtime {

// Raises the soft limit to the hard limit; logs both (a warning when the result is low
// for a server, under 4096). Call once, early in main.
void RaiseOpenFileLimit();

// The soft limit now; -1 when it cannot be read.
int64_t OpenFileLimit();

}  // namespace plantmesh::runtime
