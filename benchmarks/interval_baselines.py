"""Interval baselines on data/sp500.csv: which GARCH(1,1) specification gives calibrated
80% intervals, beside the rolling-volatility conformal band.

The tool's split (first 70% training, next 10% validation, last 20% test): GARCH fit on
the training rows only and filtered forward with fixed parameters; the conformal band
calibrated on the validation rows. One-step intervals of the test rows' prices: coverage,
mean width and interval score, both in units of the naive forecast's MAE on the
training rows (as issue #12 reports them).

    .venv/bin/python benchmarks/interval_baselines.py [PRICES.csv] [--level 0.8]

Prints a Markdown table on stdout. No network, no TensorFlow.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from common import SP500, table

from forecast import baselines, intervals, metrics
from forecast.config import DEFAULT_INTERVAL, DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION


def constant_mean_band(prices, train_end, rows, level, dist):
    """GARCH(1,1) with a constant mean (the alternative the tool does not use)."""
    from arch import arch_model

    steps = baselines.steps(prices, "log") * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = arch_model(steps[:train_end - 1], mean="Constant", dist=dist,
                            rescale=False).fit(disp="off").params
        fixed = arch_model(steps, mean="Constant", dist=dist, rescale=False).fix(params)
    sigma = np.asarray(fixed.conditional_volatility)[rows - 1] / 100
    garch = baselines.Garch(dict(params), 1.0, dist)     # for its innovation quantiles
    lo, hi = (garch.innovation_quantile(p) for p in ((1 - level) / 2, (1 + level) / 2))
    centre = np.log(prices[rows - 1]) + params["mu"] / 100
    return np.exp(centre + lo * sigma), np.exp(centre + hi * sigma)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prices", nargs="?", default=str(SP500))
    parser.add_argument("--level", type=float, default=DEFAULT_INTERVAL)
    args = parser.parse_args()
    prices = pd.read_csv(args.prices)["Close"].to_numpy(float)
    n_test = int(round(len(prices) * DEFAULT_TEST_FRACTION))   # the last rows test, the
    n_val = int(round(len(prices) * DEFAULT_VAL_FRACTION))     # ones before them validate
    train_end, val_end = len(prices) - n_test - n_val, len(prices) - n_test
    test = np.arange(val_end, len(prices))
    val = np.arange(train_end, val_end)
    scale = metrics.naive_scale(prices[:train_end])
    bands = {"rolling-volatility conformal": baselines.rolling_conformal_band(
        prices, test, val, args.level)}
    for dist in ("t", "normal"):
        garch = baselines.Garch.fit(prices[:train_end], dist=dist)
        bands[f"GARCH(1,1) zero mean, {dist}"] = garch.band(prices, test, args.level)
        bands[f"GARCH(1,1) constant mean, {dist}"] = constant_mean_band(
            prices, train_end, test, args.level, dist)
    rows = []
    for name, (lower, upper) in bands.items():
        s = metrics.interval_summary(prices[test], lower, upper, args.level)
        rows.append([name, f"{s['coverage']:.1%}", f"{s['mean_width'] / scale:.3f}",
                     f"{s['interval_score'] / scale:.3f}"])
    print(f"{args.prices}: {len(test)} test rows, {args.level:.0%} intervals, "
          f"{intervals.error_space(prices)} space\n")
    print(table(rows, ["interval", "coverage", "mean width / naive MAE",
                       "interval score / naive MAE"]))


if __name__ == "__main__":
    main()
