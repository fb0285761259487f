// Random identifiers: request ids (the server deduplicates retries by them) and event ids.
#pragma once

#include <string>

namespace plantmesh::common {

// A random (version 4, RFC 4122 variant) UUID in lowercase canonical form,
// e.g. "3f2b8c1e-9a4d-4e6f-b2a1-0c9d8e7f6a5b". Uses OpenSSL's CSPRNG.
std::string NewUuidV4();

}  // namespace plantmesh::common
