// Whether a host names this machine only: plaintext (--insecure, ClientOptions::insecure)
// is allowed to no other, on either side of a connection.
#pragma once

#include <string_view>

namespace plantmesh::common {

// "localhost", "::1" (with or without brackets) or an IPv4 address in 127.0.0.0/8.
bool IsLoopbackHost(std::string_view host);

}  // namespace plantmesh::common
