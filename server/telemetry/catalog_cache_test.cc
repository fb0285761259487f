#include "server/telemetry/catalog_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace plantmesh::telemetry {
namespace {

Catalog Cnc07WithTemp() {
  Catalog catalog;
  catalog["CNC-07"]["temp"] = {Category::kSample, 6};
  return catalog;
}

TEST(CatalogCacheTest, KnowsNothingAtFirst) {
  CatalogCache cache;
  EXPECT_FALSE(cache.Known({"CNC-07"}, {}).has_value());
  EXPECT_FALSE(cache.Known({}, {}).has_value());
}

TEST(CatalogCacheTest, AnswersWhatARecordedReadFoundIncludingWhatIsUnknown) {
  CatalogCache cache;
  cache.Record(41, {"CNC-07", "CNC-99"}, {{"CNC-07", "temp"}, {"CNC-07", "nope"}}, Cnc07WithTemp());
  std::optional<KnownCatalog> known =
      cache.Known({"CNC-07", "CNC-99"}, {{"CNC-07", "temp"}, {"CNC-07", "nope"}});
  ASSERT_TRUE(known.has_value());
  EXPECT_EQ(known->version, 41);
  EXPECT_EQ(known->catalog.size(), 1u);               // CNC-99 is not registered
  ASSERT_EQ(known->catalog.at("CNC-07").size(), 1u);  // nor is CNC-07's "nope"
  EXPECT_EQ(known->catalog.at("CNC-07").at("temp").type, 6);
  // A subset is answered alike; an id never read is not.
  EXPECT_TRUE(cache.Known({"CNC-99"}, {}).has_value());
  EXPECT_FALSE(cache.Known({"CNC-07"}, {{"CNC-07", "load"}}).has_value());
  EXPECT_FALSE(cache.Known({"CNC-08"}, {}).has_value());
}

TEST(CatalogCacheTest, AnotherVersionForgetsWhatWasKnownAtTheLastOne) {
  CatalogCache cache;
  cache.Record(41, {"CNC-07"}, {{"CNC-07", "temp"}}, Cnc07WithTemp());
  // Versions are transaction ids: a lower one may be the newer catalog.
  Catalog renamed;
  renamed["CNC-08"]["temp"] = {Category::kSample, 6};
  cache.Record(40, {"CNC-08"}, {{"CNC-08", "temp"}}, renamed);
  EXPECT_FALSE(cache.Known({"CNC-07"}, {}).has_value());
  std::optional<KnownCatalog> known = cache.Known({"CNC-08"}, {{"CNC-08", "temp"}});
  ASSERT_TRUE(known.has_value());
  EXPECT_EQ(known->version, 40);
  // The same version adds to what is known.
  cache.Record(40, {"CNC-09"}, {}, {});
  EXPECT_TRUE(cache.Known({"CNC-08", "CNC-09"}, {{"CNC-08", "temp"}}).has_value());
}

TEST(CatalogCacheTest, StartsAgainEmptyBeyondItsBound) {
  CatalogCache cache(3);
  cache.Record(1, {"M-1", "M-2"}, {}, {});
  cache.Record(1, {"M-3", "M-4"}, {}, {});  // 4 > 3: M-1 and M-2 are forgotten
  EXPECT_FALSE(cache.Known({"M-1"}, {}).has_value());
  EXPECT_TRUE(cache.Known({"M-3", "M-4"}, {}).has_value());
  EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace plantmesh::telemetry
