#!/usr/bin/python3
"""Reference Holt-Winters fits and forecasts from statsmodels, for holt_winters_test.

How statsmodels_reference.json was made (Debian 12, python3-statsmodels 0.13.5):

    /usr/bin/python3 server/planning/forecast/testdata/make_statsmodels_reference.py \
        --output server/planning/forecast/testdata/statsmodels_reference.json

ctest also runs this script (planning.forecast_statsmodels_generate) into the build tree
and the C++ test against that fresh output (planning.forecast_statsmodels_live), so the
check runs against the installed statsmodels, not only against the committed file.

Each case fixes the smoothing parameters (so no optimiser is involved) and either the
initial states ("known") or lets statsmodels compute them ("heuristic", which our C++
reimplements). It records the series, the one-step fitted values, the SSE, the final
level, trend and seasons, and 21 days of forecasts twice: as statsmodels 0.13.5 returns
them, and by the textbook formula from statsmodels' own final states. The two differ at
h = 7, 14, 21 only: statsmodels overwrites the last seasonal factor before forecasting
(statsmodels issue #9538, fixed upstream by PR #10230); our C++ follows the textbook.

"optimised" cases record the best SSE scipy's L-BFGS-B finds on statsmodels' SSE over
the same parameter box as our fitter, with the heuristic initial states fixed, so the
C++ test can check that our NLopt fit is at least as good.

Series come from a seeded generator, so the output is the same on every run.
"""
import json
import sys

import numpy as np
import scipy.optimize
import statsmodels
from statsmodels.tsa.holtwinters import ExponentialSmoothing

M = 7
HORIZON = 21


def weekly_series(rng, n, base, slope, pattern, noise, multiplicative):
    t = np.arange(n)
    season = np.array([pattern[i % M] for i in t])
    trend = base + slope * t
    if multiplicative:
        return trend * season * (1.0 + rng.normal(0.0, noise, n))
    return trend + season + rng.normal(0.0, noise, n)


def hyndman_forecast(res, seasonal, phi):
    level = res.level[-1]
    trend = res.trend[-1]
    seasons = np.asarray(res.season)[-M:]
    out = []
    damping = 0.0
    for h in range(1, HORIZON + 1):
        damping += phi**h
        base = level + damping * trend
        s = seasons[(h - 1) % M]
        out.append(base * s if seasonal == "mul" else base + s)
    return out


def case(name, y, seasonal, damped, params, init=None, optimise=False):
    kwargs = dict(trend="add", damped_trend=damped, seasonal=seasonal, seasonal_periods=M)
    if init is None:
        kwargs["initialization_method"] = "heuristic"
    else:
        kwargs.update(
            initialization_method="known",
            initial_level=init[0],
            initial_trend=init[1],
            initial_seasonal=init[2],
        )
    if optimise:
        # statsmodels' own fit() would also estimate the initial level and trend (0.13.5
        # cannot fix them), a larger problem than ours. So scipy's L-BFGS-B minimises
        # statsmodels' SSE over the same box as ours (fit.h: α, β/α, γ/(1 − α), φ) with
        # the heuristic initial states fixed, from several starts.
        level, trend, seasons = ExponentialSmoothing(y, **kwargs).initial_values()
        kwargs.update(initialization_method="known", initial_level=level, initial_trend=trend,
                      initial_seasonal=seasons)
        model = ExponentialSmoothing(y, **kwargs)

        def fit(x):
            a = x[0]
            return model.fit(smoothing_level=a, smoothing_trend=x[1] * a,
                             smoothing_seasonal=x[2] * (1.0 - a),
                             damping_trend=x[3] if damped else None, optimized=False)

        bounds = [(1e-4, 0.9999), (0.0, 1.0), (0.0, 1.0), (0.8, 0.98)][: 4 if damped else 3]
        best = None
        for a0 in (0.05, 0.2, 0.5, 0.8):
            for share in (0.05, 0.5):
                x0 = [a0, share, share, 0.9][: len(bounds)]
                r = scipy.optimize.minimize(lambda x: fit(x).sse, x0, method="L-BFGS-B",
                                            bounds=bounds)
                if best is None or r.fun < best.fun:
                    best = r
        res = fit(best.x)
    else:
        model = ExponentialSmoothing(y, **kwargs)
        res = model.fit(
            smoothing_level=params[0],
            smoothing_trend=params[1],
            smoothing_seasonal=params[2],
            damping_trend=params[3] if damped else None,
            optimized=False,
        )
    p = res.params
    phi = p["damping_trend"] if damped else 1.0
    record = {
        "name": name,
        "seasonal": seasonal,
        "damped": damped,
        "initialization": "heuristic" if init is None or optimise else "known",
        "optimised": optimise,
        "alpha": p["smoothing_level"],
        "beta": p["smoothing_trend"],
        "gamma": p["smoothing_seasonal"],
        "phi": phi,
        "initial_level": p["initial_level"],
        "initial_trend": p["initial_trend"],
        "initial_seasons": list(np.asarray(p["initial_seasons"], dtype=float)),
        "y": list(map(float, y)),
        "fitted": list(map(float, res.fittedvalues)),
        "sse": float(res.sse),
        "final_level": float(res.level[-1]),
        "final_trend": float(res.trend[-1]),
        "final_seasons": list(map(float, np.asarray(res.season)[-M:])),
        "forecast_statsmodels": list(map(float, res.forecast(HORIZON))),
        "forecast_textbook": list(map(float, hyndman_forecast(res, seasonal, phi))),
    }
    differs = [
        h + 1
        for h, (a, b) in enumerate(zip(record["forecast_statsmodels"], record["forecast_textbook"]))
        if abs(a - b) > 1e-9 * max(1.0, abs(b))
    ]
    record["statsmodels_differs_at_h"] = differs
    return record


def main():
    rng = np.random.default_rng(20240609)
    add_pattern = [30.0, 12.0, 5.0, 0.0, -8.0, -15.0, -24.0]
    add_pattern2 = [-20.0, 4.0, 9.0, 14.0, 18.0, 6.0, -31.0]
    mul_pattern = [1.25, 1.10, 1.0, 0.95, 0.90, 1.20, 0.60]
    mul_pattern2 = [0.7, 0.9, 1.0, 1.05, 1.1, 1.4, 0.85]
    cases = []

    y = weekly_series(rng, 112, 200.0, 0.8, add_pattern, 5.0, False)
    cases.append(case("additive_trend_known", y, "add", False, (0.35, 0.08, 0.25, None),
                      (198.0, 0.7, [a - 0.0 for a in add_pattern])))
    y = weekly_series(rng, 101, 120.0, -0.3, add_pattern2, 4.0, False)
    cases.append(case("additive_damped_known", y, "add", True, (0.3, 0.1, 0.2, 0.9),
                      (121.0, -0.25, add_pattern2)))
    y = weekly_series(rng, 112, 150.0, 1.2, mul_pattern, 0.03, True)
    cases.append(case("multiplicative_trend_known", y, "mul", False, (0.25, 0.05, 0.3, None),
                      (149.0, 1.1, mul_pattern)))
    y = weekly_series(rng, 95, 80.0, 0.4, mul_pattern2, 0.05, True)
    cases.append(case("multiplicative_damped_known", y, "mul", True, (0.4, 0.15, 0.1, 0.85),
                      (81.0, 0.3, mul_pattern2)))
    y = weekly_series(rng, 130, 300.0, 0.5, add_pattern, 8.0, False)
    cases.append(case("additive_damped_heuristic", y, "add", True, (0.2, 0.05, 0.15, 0.95)))
    y = weekly_series(rng, 120, 60.0, 0.2, mul_pattern, 0.04, True)
    cases.append(case("multiplicative_trend_heuristic", y, "mul", False, (0.3, 0.1, 0.2, None)))
    # The shortest series the heuristic takes (10 + 2·⌊7/2⌋ = 16 days: fewer than 3 seasons).
    y = weekly_series(rng, 16, 50.0, 1.0, add_pattern, 2.0, False)
    cases.append(case("additive_trend_heuristic_16_days", y, "add", False, (0.5, 0.2, 0.3, None)))
    y = weekly_series(rng, 20, 40.0, 0.5, mul_pattern2, 0.02, True)
    cases.append(case("multiplicative_damped_heuristic_20_days", y, "mul", True,
                      (0.45, 0.3, 0.25, 0.9)))
    # statsmodels' optimiser on the same problem ours solves (heuristic initial states).
    y = weekly_series(rng, 140, 200.0, 0.6, add_pattern, 6.0, False)
    cases.append(case("additive_trend_optimised", y, "add", False, None, optimise=True))
    y = weekly_series(rng, 140, 100.0, 0.3, mul_pattern, 0.04, True)
    cases.append(case("multiplicative_damped_optimised", y, "mul", True, None, optimise=True))

    out = sys.stdout
    if len(sys.argv) == 3 and sys.argv[1] == "--output":
        out = open(sys.argv[2], "w", encoding="utf-8")
    elif len(sys.argv) != 1:
        sys.exit("usage: make_statsmodels_reference.py [--output FILE]")
    json.dump({"statsmodels_version": statsmodels.__version__, "period": M, "horizon": HORIZON,
               "cases": cases}, out, indent=1)
    out.write("\n")
    out.close()


if __name__ == "__main__":
    main()
