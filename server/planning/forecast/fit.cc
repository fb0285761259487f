#include "server/planning/forecast/fit.h"

#include <nlopt.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace plantmesh::planning::forecast {
namespace {

struct Problem {
  const HoltWintersModel* model;
  const HoltWintersState* initial;
  absl::Span<const double> y;
  double penalty;  // returned for inadmissible points, finite so BOBYQA's model stays sane
  int evaluations = 0;
};

// x = (α, β/α, γ/(1 − α), φ): the box coordinates.
SmoothingParameters FromBox(const double* x, bool damped) {
  SmoothingParameters params;
  params.alpha = x[0];
  params.beta = x[1] * x[0];
  params.gamma = x[2] * (1.0 - x[0]);
  params.phi = damped ? x[3] : 1.0;
  return params;
}

double Sse(const Problem& problem, const double* x) {
  const SmoothingParameters params = FromBox(x, problem.model->damped);
  const double sse = Smooth(*problem.model, params, *problem.initial, problem.y,
                            /*keep_fitted=*/false)
                         .sse;
  return std::isfinite(sse) ? sse : problem.penalty;
}

double Objective(unsigned /*n*/, const double* x, double* gradient, void* data) {
  (void)gradient;  // BOBYQA is derivative-free: never asks for it
  auto* problem = static_cast<Problem*>(data);
  ++problem->evaluations;
  return Sse(*problem, x);
}

}  // namespace

absl::StatusOr<FittedHoltWinters> FitHoltWinters(const HoltWintersModel& model,
                                                 absl::Span<const double> y,
                                                 const FitOptions& options) {
  if (model.seasonality == Seasonality::kMultiplicative) {
    for (double value : y) {
      if (!(value > 0.0)) {
        return absl::InvalidArgumentError(
            "a multiplicative season needs strictly positive demand; the series has a value <= 0");
      }
    }
  }
  absl::StatusOr<HoltWintersState> initial = HeuristicInitialState(model, y);
  if (!initial.ok()) return initial.status();

  double mean = 0.0;
  for (double value : y) mean += value / static_cast<double>(y.size());
  double spread = 0.0;
  for (double value : y) spread += (value - mean) * (value - mean);
  Problem problem{&model, &*initial, y, 1e6 * (spread + 1.0)};

  const unsigned dimension = model.damped ? 4 : 3;
  const std::array<double, 4> lower = {kMinAlpha, 0.0, 0.0, kMinPhi};
  const std::array<double, 4> upper = {kMaxAlpha, 1.0, 1.0, kMaxPhi};

  std::array<double, 4> best = {0.3, 0.1, 0.1, 0.9};
  double best_sse = std::numeric_limits<double>::infinity();
  if (options.start.has_value()) {
    const SmoothingParameters& start = *options.start;
    best[0] = std::clamp(start.alpha, kMinAlpha, kMaxAlpha);
    best[1] = std::clamp(start.beta / best[0], 0.0, 1.0);
    best[2] = std::clamp(start.gamma / (1.0 - best[0]), 0.0, 1.0);
    best[3] = std::clamp(start.phi, kMinPhi, kMaxPhi);
    ++problem.evaluations;
    best_sse = Sse(problem, best.data());
  } else {
    // The best of a coarse grid starts the local search.
    for (double alpha : {0.1, 0.3, 0.5, 0.8}) {
      for (double beta_share : {0.05, 0.3}) {
        for (double gamma_share : {0.05, 0.3}) {
          const std::array<double, 4> x = {alpha, beta_share, gamma_share, 0.9};
          ++problem.evaluations;
          const double sse = Sse(problem, x.data());
          if (sse < best_sse) {
            best_sse = sse;
            best = x;
          }
        }
      }
    }
  }

  nlopt_opt optimizer = nlopt_create(NLOPT_LN_BOBYQA, dimension);
  if (optimizer == nullptr) return absl::ResourceExhaustedError("nlopt_create failed");
  nlopt_set_lower_bounds(optimizer, lower.data());
  nlopt_set_upper_bounds(optimizer, upper.data());
  nlopt_set_min_objective(optimizer, Objective, &problem);
  nlopt_set_xtol_rel(optimizer, options.parameter_tolerance);
  nlopt_set_ftol_rel(optimizer, options.objective_tolerance);
  nlopt_set_maxeval(optimizer, std::max(1, options.max_evaluations - problem.evaluations));
  // First steps of a tenth of each range (a fiftieth from a given start): the grid or
  // the caller already found the right region.
  const double step_scale = options.start.has_value() ? 0.2 : 1.0;
  const std::array<double, 4> steps = {0.05 * step_scale, 0.1 * step_scale, 0.1 * step_scale,
                                       0.02 * step_scale};
  nlopt_set_initial_step(optimizer, steps.data());
  std::array<double, 4> x = best;
  double sse = best_sse;
  const nlopt_result result = nlopt_optimize(optimizer, x.data(), &sse);
  nlopt_destroy(optimizer);
  // Any stop with a point (tolerance, evaluation limit, round-off) is usable; only a
  // failure to run is not, and then the grid's best stands.
  if (result < 0 && result != NLOPT_ROUNDOFF_LIMITED) x = best;
  // The optimiser reports the best point it evaluated; recompute to be exact.
  sse = Sse(problem, x.data());
  if (sse > best_sse) {
    x = best;
    sse = best_sse;
  }
  if (!(sse < problem.penalty)) {
    return absl::FailedPreconditionError(
        "no admissible Holt-Winters parameters give a finite fit to this series");
  }

  FittedHoltWinters fitted;
  fitted.model = model;
  fitted.params = FromBox(x.data(), model.damped);
  fitted.initial = *std::move(initial);
  fitted.sse = sse;
  fitted.observations = static_cast<int>(y.size());
  fitted.evaluations = problem.evaluations;
  return fitted;
}

}  // namespace plantmesh::planning::forecast
