// Keys of numbered lists (key_pages.h): byte order is number order, and only the spelling
// OrderedNumberKey writes reads back (a page token with a key built by hand is refused).
#include "server/runtime/key_pages.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace plantmesh::runtime {
namespace {

TEST(OrderedNumberKeyTest, ByteOrderIsNumberOrderAndKeysReadBack) {
  const std::vector<int64_t> numbers = {
      std::numeric_limits<int64_t>::min(), -10, -1, 0, 1, 9, 10, 11, 100,
      std::numeric_limits<int64_t>::max()};
  std::vector<std::string> keys;
  for (int64_t n : numbers) {
    keys.push_back(OrderedNumberKey(n));
    EXPECT_EQ(keys.back().size(), 20u) << n;
    EXPECT_EQ(NumberOfOrderedKey(keys.back()), n);
  }
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
}

// Outside testing: a GetDefectHistory token re-encoded with the position "-1", "+3", "03"
// or " 3" was taken. A key is exactly 20 digits, as written.
TEST(OrderedNumberKeyTest, AnyOtherSpellingIsNoKey) {
  const std::string three = OrderedNumberKey(3);
  for (const std::string& forged :
       {std::string("3"), std::string("-1"), std::string("+3"), std::string("03"),
        std::string(" 3"), " " + three.substr(1), three + "0", "+" + three.substr(1),
        std::string("18446744073709551616"), std::string(20, 'x'), std::string()}) {
    EXPECT_FALSE(NumberOfOrderedKey(forged).has_value()) << "'" << forged << "'";
  }
}

}  // namespace
}  // namespace plantmesh::runtime
