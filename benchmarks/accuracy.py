"""Accuracy protocol: last 20% of data/sp500.csv as test, one-step MAE in price units,
each figure beside the naive (last value) and drift forecasts on the same rows; median
of several seeds.

    .venv/bin/python benchmarks/accuracy.py                 # defaults vs the tutorial recipe
    .venv/bin/python benchmarks/accuracy.py --explore       # also the variants we tried

Prints Markdown tables (for BENCHMARKS.md) on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time

from common import SP500, median, table, train_once

#: The popular tutorial recipe: window 100, LSTM(50) x2 with Dropout 0.2, Dense 25, Dense 1,
#: adam / mse, here run chronologically and leak-free through the tool (no baseline guard).
TUTORIAL = dict(cell="lstm", layers=2, units=50, dropout=0.2, dense_units=25, window=100,
                batch_size=32, epochs=30, patience=5, loss="mse", baseline_guard=False,
                quantiles=[], derived=[])
#: A point model (no quantile head), for the losses a quantile model does not take.
POINT = {"quantiles": []}
NO_GUARD = {"baseline_guard": False}

PROTOCOL = [
    ("forecast defaults", {}, ()),
    ("forecast defaults, --no-baseline-guard", NO_GUARD, ()),
    ("tutorial recipe, level target", {**TUTORIAL, "target_transform": "level"}, ()),
    ("tutorial recipe, log-return target", {**TUTORIAL, "target_transform": "log-return"}, ()),
]

#: One change at a time from the defaults, all without the guard, to see what the network
#: itself does.
EXPLORE = [
    ("level target", {**NO_GUARD, "target_transform": "level"}, ()),
    ("mse loss", {**NO_GUARD, **POINT, "loss": "mse"}, ()),
    ("mae loss (the point model's default)", {**NO_GUARD, **POINT}, ()),
    ("huber loss", {**NO_GUARD, **POINT, "loss": "huber"}, ()),
    ("units 8", {**NO_GUARD, "units": 8}, ()),
    ("units 64, 2 layers, dropout 0.2", {**NO_GUARD, "units": 64, "layers": 2, "dropout": 0.2},
     ()),
    ("window 60", {**NO_GUARD, "window": 60}, ()),
    ("learning rate 3e-4", {**NO_GUARD, "learning_rate": 3e-4}, ()),
    ("batch 256", {**NO_GUARD, "batch_size": 256}, ()),
    ("gru", {**NO_GUARD, "cell": "gru"}, ()),
    ("+ High, Low, Volume log-returns as inputs", NO_GUARD, ("High", "Low", "Volume")),
    ("guard on, mse loss", {**POINT, "loss": "mse"}, ()),
]


def run(rows, seeds, prices, defaults):
    out = []
    for name, options, features in rows:
        results = []
        for seed in seeds:
            started = time.perf_counter()
            trained = train_once(prices, {**defaults, **options}, seed, features)
            test = trained.metrics["test"]
            results.append((test, time.perf_counter() - started))
            print(f"  {name} seed {seed}: MAE/naive {test['model']['rel_mae']:.4f} "
                  f"({results[-1][1]:.0f}s)", file=sys.stderr)
        tests = [r[0] for r in results]
        out.append([name,
                    f"{median(t['model']['mae'] for t in tests):.2f}",
                    f"{tests[0]['naive']['mae']:.2f}",
                    f"{median(t['model']['rel_mae'] for t in tests):.4f}",
                    " / ".join(f"{t['model']['rel_mae']:.4f}" for t in tests),
                    f"{tests[0]['drift']['rel_mae']:.4f}",
                    f"{median(t['model']['directional_accuracy'] for t in tests):.3f}",
                    f"{median(t['interval']['coverage'] for t in tests):.3f}",
                    f"{median(r[1] for r in results):.0f}"])
    return out


def synthetic_ar(rows: int = 5000, phi: float = 0.3, seed: int = 0):
    """Prices whose daily log-returns follow an AR(1): a series with real signal."""
    import numpy as np
    import pandas as pd

    from forecast.data import Panel

    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0003, 0.01, rows)
    returns = np.zeros(rows)
    for t in range(1, rows):
        returns[t] = phi * returns[t - 1] + noise[t]
    frame = pd.DataFrame({"Close": 100 * np.exp(np.cumsum(returns))},
                         index=pd.bdate_range("2000-01-03", periods=rows, name="Date"))
    return Panel.from_frames({"synthetic-ar1": frame}, "synthetic-ar1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--explore", action="store_true", help="also run the variants")
    parser.add_argument("--only-explore", action="store_true")
    args = parser.parse_args()

    from forecast.data import read_panel

    # High and Low are read as the CLI reads them, for the default log-range input.
    prices = read_panel([SP500], extra=["High", "Low"], extra_optional=True, warn=lambda m: None)
    extended = read_panel([SP500], features=["High", "Low", "Volume"], warn=lambda m: None)
    headers = ["configuration", "test MAE", "naive MAE", "MAE / naive (median)",
               "per seed", "drift / naive", "direction", "80% coverage", "seconds"]
    print(f"data/sp500.csv, {len(prices.frame)} rows, last 20% test, seeds {args.seeds}\n")
    if not args.only_explore:
        print(table(run(PROTOCOL, args.seeds, prices, {}), headers))
        print("\nControl: 5000 synthetic business days whose log-returns are AR(1) with "
              "phi = 0.3 (there is something to learn):\n")
        print(table(run([("forecast defaults", {}, ())], args.seeds, synthetic_ar(), {}),
                    headers))
    if args.explore or args.only_explore:
        print("\nVariants of the defaults (one change each):\n")
        rows = []
        for name, options, features in EXPLORE:
            rows += run([(name, options, features)], args.seeds,
                        extended if features else prices, {})
        print(table(rows, headers))


if __name__ == "__main__":
    main()
