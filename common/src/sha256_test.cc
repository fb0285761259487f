#include "plantmesh/common/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace plantmesh::common {
namespace {

TEST(Sha256, MatchesKnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, ChunksGiveTheSameDigestAsOneBufferAndDigestingDoesNotEndIt) {
  const std::string bytes(300000, 'x');
  Sha256 sha;
  sha.Update(absl::string_view(bytes).substr(0, 1000));
  const std::string partial = sha.HexDigest();
  EXPECT_EQ(partial, Sha256Hex(bytes.substr(0, 1000)));
  sha.Update(absl::string_view(bytes).substr(1000));
  EXPECT_EQ(sha.HexDigest(), Sha256Hex(bytes));
}

}  // namespace
}  // namespace plantmesh::common
