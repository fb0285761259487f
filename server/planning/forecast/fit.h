// Least-squares fitting of the Holt-Winters smoothing parameters.
//
// The initial states come from HeuristicInitialState (not estimated), so the problem
// is α, β, γ (and φ when damped) minimising the one-step SSE, Σ (y_t − ŷ_t)², over
//   α ∈ [1e-4, 0.9999],  β ∈ [0, α],  γ ∈ [0, 1 − α],  φ ∈ [0.8, 0.98],
// statsmodels' admissible region for α, β, γ with fpp2's damping range. The coupled
// bounds become a box by optimising β/α and γ/(1 − α) in [0, 1] instead.
//
// Why NLopt (Debian's libnlopt-dev 2.7): the problem is 3- or 4-dimensional, bounded,
// smooth but without an analytic gradient, and evaluated thousands of times per
// request. NLopt's BOBYQA (Powell's derivative-free quadratic-model method for bound
// constraints) needs only function values, honours the box natively and converges in a
// few dozen evaluations here; the library has a plain C API (no exceptions across our
// layers), is LGPL (links into the server without imposing the GPL) and is packaged
// for Debian 12. GSL's multimin (GPL-3) has Nelder-Mead but no bounds; dlib's BOBYQA is
// a large header-only template library with exceptions; Ipopt is for large constrained
// problems with derivatives, which this is not.
//
// A coarse grid of 16 starting points picks BOBYQA's start (unless FitOptions::start
// gives one), so a fit that would stall in a poor local minimum from one fixed start
// does not.
#pragma once

#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/planning/forecast/holt_winters.h"

namespace plantmesh::planning::forecast {

struct FitOptions {
  int max_evaluations = 400;          // per fit, grid included
  double parameter_tolerance = 1e-4;  // BOBYQA's relative step on the parameters
  double objective_tolerance = 1e-8;  // relative change of the SSE
  // Where to start instead of the grid, e.g. the parameters of a fit to most of the
  // same series (clamped into the bounds).
  std::optional<SmoothingParameters> start;
};

struct FittedHoltWinters {
  HoltWintersModel model;
  SmoothingParameters params;
  HoltWintersState initial;  // the heuristic initial state
  double sse = 0.0;          // at params, finite
  int observations = 0;      // n the fit used
  int evaluations = 0;       // objective evaluations spent
};

// The parameter bounds above.
inline constexpr double kMinAlpha = 1e-4;
inline constexpr double kMaxAlpha = 0.9999;
inline constexpr double kMinPhi = 0.8;
inline constexpr double kMaxPhi = 0.98;

// Fits `model` to `y`. INVALID_ARGUMENT when the heuristic cannot start (too short a
// series, or a multiplicative season on a series with values ≤ 0); FAILED_PRECONDITION
// when no admissible parameters give a finite SSE.
absl::StatusOr<FittedHoltWinters> FitHoltWinters(const HoltWintersModel& model,
                                                 absl::Span<const double> y,
                                                 const FitOptions& options = {});

}  // namespace plantmesh::planning::forecast
