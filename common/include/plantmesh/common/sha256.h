// SHA-256 (OpenSSL EVP) as 64 lowercase hex characters: the form the contracts use for
// file checksums (photos), computed by the server, the SDK's users and plantctl alike.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

struct evp_md_ctx_st;

namespace plantmesh::common {

// Incremental: Update() with consecutive chunks, HexDigest() at any point.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view bytes);
  // The digest of everything given so far; Update() may go on afterwards.
  std::string HexDigest() const;

 private:
  evp_md_ctx_st* context_;
};

// The digest of `bytes` in one go.
std::string Sha256Hex(absl::string_view bytes);

}  // namespace plantmesh::common
