// SHA-256 (OpenSSL EVP) and random UUIDs: photo checksums, request fingerprints and
// event ids.
#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace plantmesh::defect {

// Incremental SHA-256; HexDigest() returns 64 lowercase hex characters.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(absl::string_view bytes);
  std::string HexDigest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string Sha256Hex(absl::string_view bytes);

// A random (version 4) UUID in its canonical text form.
std::string NewUuid();

}  // namespace plantmesh::defect
