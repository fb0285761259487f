// Our Holt-Winters recursions, heuristic initial states, forecasts and fits against
// statsmodels' ExponentialSmoothing (testdata/make_statsmodels_reference.py). The
// reference is the committed testdata/statsmodels_reference.json, or the file named by
// $PLANTMESH_STATSMODELS_REFERENCE (ctest's _live variant writes it with the installed
// statsmodels just before).
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/planning/forecast/fit.h"
#include "server/planning/forecast/holt_winters.h"

namespace plantmesh::planning::forecast {
namespace {

// With the parameters fixed both sides do the same arithmetic in a different order:
// agreement is at round-off level; 1e-6 relative leaves room and is far inside the
// issue's 0.5 %.
constexpr double kRelativeTolerance = 1e-6;

nlohmann::json LoadReference() {
  const char* from_environment = std::getenv("PLANTMESH_STATSMODELS_REFERENCE");
  const std::string path = from_environment != nullptr && *from_environment != '\0'
                               ? from_environment
                               : PLANTMESH_STATSMODELS_REFERENCE;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  nlohmann::json reference = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(reference.is_discarded()) << path << " is not JSON";
  std::printf("reference: %s (statsmodels %s)\n", path.c_str(),
              reference.value("statsmodels_version", std::string("?")).c_str());
  return reference;
}

const nlohmann::json& Reference() {
  static const nlohmann::json reference = LoadReference();
  return reference;
}

std::vector<const nlohmann::json*> Cases(bool optimised) {
  std::vector<const nlohmann::json*> cases;
  if (!Reference().contains("cases")) return cases;
  for (const nlohmann::json& c : Reference()["cases"]) {
    if (c["optimised"].get<bool>() == optimised) cases.push_back(&c);
  }
  return cases;
}

HoltWintersModel ModelOf(const nlohmann::json& c) {
  HoltWintersModel model;
  model.seasonality =
      c["seasonal"] == "mul" ? Seasonality::kMultiplicative : Seasonality::kAdditive;
  model.damped = c["damped"].get<bool>();
  model.period = Reference()["period"].get<int>();
  return model;
}

SmoothingParameters ParamsOf(const nlohmann::json& c) {
  return {c["alpha"].get<double>(), c["beta"].get<double>(), c["gamma"].get<double>(),
          c["phi"].get<double>()};
}

HoltWintersState InitialOf(const nlohmann::json& c) {
  return {c["initial_level"].get<double>(), c["initial_trend"].get<double>(),
          c["initial_seasons"].get<std::vector<double>>()};
}

void ExpectClose(double expected, double actual, const std::string& what) {
  EXPECT_LE(std::fabs(expected - actual), kRelativeTolerance * std::max(1.0, std::fabs(expected)))
      << what << ": statsmodels " << expected << ", ours " << actual;
}

void ExpectAllClose(const std::vector<double>& expected, const std::vector<double>& actual,
                    const std::string& what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    ExpectClose(expected[i], actual[i], what + "[" + std::to_string(i) + "]");
  }
}

TEST(StatsmodelsReferenceTest, CoversTheIssuesCases) {
  // At least three series with trend and weekly season, additive and multiplicative.
  int additive = 0, multiplicative = 0;
  for (const nlohmann::json* c : Cases(false)) {
    ((*c)["seasonal"] == "mul" ? multiplicative : additive) += 1;
  }
  EXPECT_GE(additive, 2);
  EXPECT_GE(multiplicative, 2);
  EXPECT_EQ(Reference()["period"].get<int>(), kWeeklySeason);
}

TEST(StatsmodelsReferenceTest, FixedParametersGiveTheSameFitStatesAndForecasts) {
  for (const nlohmann::json* c : Cases(false)) {
    SCOPED_TRACE((*c)["name"].get<std::string>());
    const HoltWintersModel model = ModelOf(*c);
    const std::vector<double> y = (*c)["y"].get<std::vector<double>>();
    HoltWintersState initial = InitialOf(*c);
    if ((*c)["initialization"] == "heuristic") {
      // Our heuristic must reproduce statsmodels' initial states.
      absl::StatusOr<HoltWintersState> ours = HeuristicInitialState(model, y);
      ASSERT_TRUE(ours.ok()) << ours.status();
      ExpectClose(initial.level, ours->level, "initial level");
      ExpectClose(initial.trend, ours->trend, "initial trend");
      ExpectAllClose(initial.seasons, ours->seasons, "initial seasons");
      initial = *ours;
    }
    const Smoothed run = Smooth(model, ParamsOf(*c), initial, y, /*keep_fitted=*/true);
    ExpectAllClose((*c)["fitted"].get<std::vector<double>>(), run.fitted, "fitted");
    ExpectClose((*c)["sse"].get<double>(), run.sse, "sse");
    ExpectClose((*c)["final_level"].get<double>(), run.final_state.level, "final level");
    ExpectClose((*c)["final_trend"].get<double>(), run.final_state.trend, "final trend");
    ExpectAllClose((*c)["final_seasons"].get<std::vector<double>>(), run.final_state.seasons,
                   "final seasons");

    const int horizon = Reference()["horizon"].get<int>();
    const std::vector<double> ours = PointForecast(model, ParamsOf(*c), run.final_state, horizon);
    ExpectAllClose((*c)["forecast_textbook"].get<std::vector<double>>(), ours, "forecast");
    // statsmodels' own forecast agrees everywhere but at h = 7, 14, 21 (its bug #9538).
    const std::vector<double> theirs = (*c)["forecast_statsmodels"].get<std::vector<double>>();
    for (int h = 1; h <= horizon; ++h) {
      if (h % kWeeklySeason == 0) continue;
      ExpectClose(theirs[h - 1], ours[h - 1], "statsmodels forecast h=" + std::to_string(h));
    }
    for (int h : (*c)["statsmodels_differs_at_h"].get<std::vector<int>>()) {
      EXPECT_EQ(h % kWeeklySeason, 0) << "statsmodels differs from the textbook at h=" << h;
    }
  }
}

TEST(StatsmodelsReferenceTest, OurFitIsAtLeastAsGoodAsStatsmodels) {
  // Same problem (heuristic initial states, same box), different optimisers: ours
  // must reach an SSE no worse than scipy's L-BFGS-B on statsmodels' SSE (1e-6 relative).
  for (const nlohmann::json* c : Cases(true)) {
    SCOPED_TRACE((*c)["name"].get<std::string>());
    const std::vector<double> y = (*c)["y"].get<std::vector<double>>();
    absl::StatusOr<FittedHoltWinters> fitted = FitHoltWinters(ModelOf(*c), y);
    ASSERT_TRUE(fitted.ok()) << fitted.status();
    const double theirs = (*c)["sse"].get<double>();
    std::printf(
        "%s: SSE statsmodels %.6f, ours %.6f (alpha %.4f beta %.4f gamma %.4f phi %.4f, "
        "%d evaluations)\n",
        (*c)["name"].get<std::string>().c_str(), theirs, fitted->sse, fitted->params.alpha,
        fitted->params.beta, fitted->params.gamma, fitted->params.phi, fitted->evaluations);
    EXPECT_LE(fitted->sse, theirs * (1.0 + 1e-6));
  }
}

}  // namespace
}  // namespace plantmesh::planning::forecast
