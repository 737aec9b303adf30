"""Bands beyond the trained horizon (issue 22): a model's K-step 80% and 98% bands on its
test rows, calibrated (what `predict --backtest --step K --quantiles` gives) and raw, beside
GARCH(1,1)-t's K-step quantiles and the rolling conformal band's, on the same rows.

    forecast train data/sp500.csv --model-dir /tmp/m1 --epochs 2 --horizon 1 \\
        --quantiles 0.01,0.05,0.1,0.5,0.9,0.95,0.99        # and --horizon 2, 5
    .venv/bin/python benchmarks/beyond_horizon.py /tmp/m1 /tmp/m2 /tmp/m5

One-series models only. Figures in docs/quantiles.md ("Why widening, measured").
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from forecast import baselines, metrics
from forecast.bundle import read_bundle
from forecast.predict import Forecaster, load_predictor

STEP = 5
#: (lower level index, upper level index, coverage) among 0.01,0.05,0.1,0.5,0.9,0.95,0.99
PAIRS = ((2, 4, 0.8), (0, 6, 0.98))


def figures(actual, lo, hi, alpha) -> str:
    return (f"cov {metrics.coverage(actual, lo, hi):.3f} "
            f"IS {metrics.interval_score(actual, lo, hi, alpha):.2f}")


def main(models: list[str]) -> None:
    for name in models:
        bundle = read_bundle(name)
        f = Forecaster(bundle, bundle.data(), load_predictor(bundle))
        test_start = pd.Timestamp(bundle.config.facts["test_start"])
        table = f.backtest(STEP, quantiles=True)
        use, _, rows = f.backtest_rows(STEP)
        test = (table["date"] >= test_start).to_numpy()
        actual = table["actual"].to_numpy()[test]
        cal = table[[metrics.quantile_name(q) for q in f.levels]].to_numpy()[test]
        raw = f.ahead(STEP, use)[1][test]
        for lo, hi, level in PAIRS:
            print(f"{name} horizon {f.horizon}, step {STEP}, {level:.0%}: calibrated "
                  f"{figures(actual, cal[:, lo], cal[:, hi], 1 - level)}; raw "
                  f"{figures(actual, raw[:, lo], raw[:, hi], 1 - level)} ({test.sum()} rows)")
    prices, r = f.prices.target_of(0), rows[test]
    tails = [0.01, 0.1, 0.9, 0.99]
    for label, q in (("GARCH(1,1)-t", baselines.garch_quantiles(f.garches[0], prices, r, STEP,
                                                                tails)),
                     ("rolling conformal", baselines.rolling_conformal_quantiles(
                         prices, r, np.arange(*f.split_rows(0)), STEP, tails))):
        print(f"{label}, step {STEP}: 80% {figures(prices[r], q[:, 1], q[:, 2], 0.2)}; "
              f"98% {figures(prices[r], q[:, 0], q[:, 3], 0.02)}")


if __name__ == "__main__":
    main(sys.argv[1:])
