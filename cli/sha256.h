// Incremental SHA-256 (OpenSSL EVP), lowercase hex: the form file_chunk contracts use.
#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

struct evp_md_ctx_st;

namespace plantmesh::cli {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view bytes);
  // The digest of everything given so far, as 64 lowercase hex characters.
  std::string HexDigest();

 private:
  evp_md_ctx_st* context_;
};

}  // namespace plantmesh::cli
