#include "plantmesh/common/uuid.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

namespace plantmesh::common {
namespace {

TEST(NewUuidV4, IsCanonicalVersion4WithTheRfc4122Variant) {
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewUuidV4();
    EXPECT_TRUE(std::regex_match(id, v4)) << id;
  }
}

TEST(NewUuidV4, DoesNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 100000; ++i) seen.insert(NewUuidV4());
  EXPECT_EQ(seen.size(), 100000u);
}

}  // namespace
}  // namespace plantmesh::common
