#include "server/planning/forecast/accuracy.h"

#include "gtest/gtest.h"

namespace plantmesh::planning::forecast {
namespace {

TEST(AccuracyTest, SmapeAndMapeOfKnownPoints) {
  AccuracyAccumulator accumulator;
  accumulator.Add(100.0, 110.0);  // sMAPE 200·10/210, APE 10
  accumulator.Add(50.0, 40.0);    // sMAPE 200·10/90,  APE 20
  const ForecastAccuracy result = accumulator.Result();
  EXPECT_EQ(result.points, 2);
  EXPECT_EQ(result.zero_actuals, 0);
  EXPECT_NEAR(result.smape_percent, (2000.0 / 210.0 + 2000.0 / 90.0) / 2.0, 1e-12);
  ASSERT_TRUE(result.mape_percent.has_value());
  EXPECT_NEAR(*result.mape_percent, 15.0, 1e-12);
}

TEST(AccuracyTest, ZeroDemandIsLeftOutOfMapeButScoredBySmape) {
  AccuracyAccumulator accumulator;
  accumulator.Add(0.0, 0.0);    // perfect: sMAPE 0
  accumulator.Add(0.0, 5.0);    // sMAPE 200, no APE
  accumulator.Add(10.0, 12.0);  // sMAPE 200·2/22, APE 20
  const ForecastAccuracy result = accumulator.Result();
  EXPECT_EQ(result.points, 3);
  EXPECT_EQ(result.zero_actuals, 2);
  EXPECT_NEAR(result.smape_percent, (0.0 + 200.0 + 400.0 / 22.0) / 3.0, 1e-12);
  ASSERT_TRUE(result.mape_percent.has_value());
  EXPECT_NEAR(*result.mape_percent, 20.0, 1e-12);
}

TEST(AccuracyTest, OnlyZeroActualsHaveNoMape) {
  AccuracyAccumulator accumulator;
  accumulator.Add(0.0, 1.0);
  const ForecastAccuracy result = accumulator.Result();
  EXPECT_FALSE(result.mape_percent.has_value());
  EXPECT_DOUBLE_EQ(result.smape_percent, 200.0);
  EXPECT_FALSE(AccuracyAccumulator().Result().mape_percent.has_value());
  EXPECT_EQ(AccuracyAccumulator().Result().smape_percent, 0.0);
}

}  // namespace
}  // namespace plantmesh::planning::forecast
