"""Start-up and inference costs: `forecast --help`, one `forecast predict` from a fresh
process on the NumPy and Keras engines (wall time and peak memory, median of N), and
backtest throughput over the whole of data/sp500.csv on both engines.

    .venv/bin/python benchmarks/predict_speed.py [--runs 5]

Trains models/bench-default (the default settings) first if it is missing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from common import ROOT, SP500, table, timed

MODEL = ROOT / "models" / "bench-default"
FORECAST = [sys.executable, "-m", "forecast"]


def median_of(args: list[str], runs: int) -> tuple[float, float]:
    results = [timed(args) for _ in range(runs)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results))


def backtest_throughput(engine: str, runs: int = 3) -> float:
    sys.path.insert(0, str(ROOT))
    from forecast.bundle import read_bundle
    from forecast.predict import Forecaster, load_predictor

    bundle = read_bundle(MODEL)
    data = bundle.data()
    predictor = load_predictor(bundle, engine)
    Forecaster(bundle, data, predictor)  # warm-up (Keras traces its predict function)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        rows = len(Forecaster(bundle, data, predictor).backtest())
        seconds.append(time.perf_counter() - start)
    return rows / statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not (MODEL / "config.json").exists():
        subprocess.run([*FORECAST, "train", str(SP500), "--model-dir", str(MODEL)], check=True,
                       cwd=ROOT, stderr=subprocess.DEVNULL)
    rows = []
    help_wall, help_mb = median_of([*FORECAST, "--help"], max(args.runs, 10))
    rows.append(["forecast --help", f"{help_wall:.2f}", f"{help_mb:.0f}"])
    for engine in ("numpy", "keras"):
        for extra, what in (([], "predict (next value)"), (["--backtest"], "predict --backtest")):
            wall, mb = median_of([*FORECAST, "predict", "--model", str(MODEL), "--engine",
                                  engine, *extra], args.runs)
            rows.append([f"{what}, {engine} engine", f"{wall:.2f}", f"{mb:.0f}"])
    print(f"Fresh processes, median of {args.runs} (--help: of {max(args.runs, 10)}); "
          f"model: default settings on data/sp500.csv\n")
    print(table(rows, ["command", "wall s", "peak RSS MB"]))
    print("\nBacktest throughput over all of data/sp500.csv, in process, model loaded:\n")
    print(table([[engine, f"{backtest_throughput(engine):,.0f}"] for engine in ("numpy", "keras")],
                ["engine", "rows / s"]))


if __name__ == "__main__":
    main()
