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
#: adam / mse, here run chronologically and leak-free through the tool.
TUTORIAL = dict(cell="lstm", layers=2, units=50, dropout=0.2, dense_units=25, window=100,
                batch_size=32, epochs=30, patience=5)

PROTOCOL = [
    ("forecast defaults", {}, ()),
    ("tutorial recipe, level target", {**TUTORIAL, "target_transform": "level"}, ()),
    ("tutorial recipe, log-return target", {**TUTORIAL, "target_transform": "log-return"}, ()),
]

EXPLORE = [
    ("level target, defaults otherwise", {"target_transform": "level"}, ()),
    ("mse loss", {"loss": "mse"}, ()),
    ("mae loss", {"loss": "mae"}, ()),
    ("huber loss", {"loss": "huber"}, ()),
    ("units 8", {"units": 8}, ()),
    ("units 64, 2 layers", {"units": 64, "layers": 2}, ()),
    ("window 60", {"window": 60}, ()),
    ("learning rate 3e-4", {"learning_rate": 3e-4}, ()),
    ("batch 256", {"batch_size": 256}, ()),
    ("gru", {"cell": "gru"}, ()),
    ("+ High, Low, Volume returns", {}, ("High", "Low", "Volume")),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--explore", action="store_true", help="also run the variants")
    parser.add_argument("--only-explore", action="store_true")
    args = parser.parse_args()

    from forecast.data import read_prices

    prices = read_prices(SP500, warn=lambda m: None)
    extended = read_prices(SP500, features=["High", "Low", "Volume"], warn=lambda m: None)
    headers = ["configuration", "test MAE", "naive MAE", "MAE / naive (median)",
               "per seed", "drift / naive", "direction", "80% coverage", "seconds"]
    print(f"data/sp500.csv, {len(prices.frame)} rows, last 20% test, seeds {args.seeds}\n")
    if not args.only_explore:
        print(table(run(PROTOCOL, args.seeds, prices, {}), headers))
    if args.explore or args.only_explore:
        print("\nVariants of the defaults (one change each):\n")
        rows = []
        for name, options, features in EXPLORE:
            rows += run([(name, options, features)], args.seeds,
                        extended if features else prices, {})
        print(table(rows, headers))


if __name__ == "__main__":
    main()
