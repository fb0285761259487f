// SPIFFE IDs as the SPIFFE specification (SPIFFE-ID.md, section 2) defines them:
//   spiffe://<trust-domain>[/<segment>]*
// - the scheme is exactly "spiffe" (lowercase);
// - the trust domain is 1-255 characters of [a-z0-9.-_]: no uppercase, no userinfo
//   ('@'), no port (':'), no percent-encoding;
// - each path segment is non-empty, not "." or "..", and only [A-Za-z0-9.-_]: no
//   percent-encoding, no trailing '/', no query ('?') or fragment ('#');
// - at most 2048 bytes in all.
// Anything else is refused, never normalised: an identity is compared as text, so
// "service/../user/anna" must not reach a prefix match.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plantmesh::runtime {

inline constexpr size_t kMaxSpiffeIdBytes = 2048;
inline constexpr size_t kMaxTrustDomainBytes = 255;

struct SpiffeId {
  std::string trust_domain;  // e.g. "plantmesh.local"
  std::string path;          // "" (the trust domain itself) or "/user/anna"
};

// INVALID_ARGUMENT saying which rule `text` breaks (the text itself is not quoted: it
// may come from a certificate).
absl::StatusOr<SpiffeId> ParseSpiffeId(absl::string_view text);

// A SPIFFE ID a caller can be authenticated as: ParseSpiffeId's, with a path (a
// workload or user, e.g. /user/anna: the trust domain alone names nobody). For an
// identity stored to be compared with callers' (a mechanic's), as authentication reads it.
absl::StatusOr<SpiffeId> ParseCallerIdentity(absl::string_view text);

// Whether `trust_domain` alone is valid (1-255 characters of [a-z0-9.-_]).
bool IsValidTrustDomain(absl::string_view trust_domain);

// A prefix of SPIFFE IDs for role bindings: a valid SPIFFE ID followed by '/', e.g.
// "spiffe://plantmesh.local/service/". Ending at a '/' means it matches whole path
// segments only ("service/" never matches "services/x").
absl::Status ValidateSpiffeIdPrefix(absl::string_view prefix);

}  // namespace plantmesh::runtime
