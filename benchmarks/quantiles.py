"""Quantile intervals (issue 12): the default quantile model's 80% intervals beside the
rolling-volatility conformal band and GARCH(1,1), per series.

    .venv/bin/python benchmarks/quantiles.py [--data panel|sp500|both] [--seed N]
                                             [--epochs N] [--learning-rate F]

Two runs of `forecast train` with its defaults (LSTM 32, window 20, quantiles 0.1/0.5/0.9
with the pinball loss, the absolute log-return and, where High and Low exist, the log
high-low range as inputs):

- data/panel20_long.csv (20 tickers, closes only) with --test-start 2016-01-01, one global
  model;
- data/sp500.csv (with High and Low) with the default split (last 20% test).

Each model is written to a temporary model directory and scored as `forecast evaluate`
scores it (NumPy engine): one-step 80% intervals on every test row of every series, the
model's band (its CQR-calibrated quantiles where the interval guard kept them, else the
rolling conformal band around its median) beside the rolling-volatility conformal band
(calibrated on each series' validation rows) and GARCH(1,1) (fit on each series' training
rows only, filtered forward with fixed parameters). Interval scores are in units of each
series' naive MAE on the same rows. Prints Markdown tables on stdout, progress on stderr.
"""

from __future__ import annotations

import dataclasses
import argparse
import io
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, SP500, table

PANEL = ROOT / "data" / "panel20_long.csv"
TEST_START = "2016-01-01"
LEVEL = 0.8


def train_and_evaluate(path: Path, test_start: str | None, out: Path, seed: int,
                       epochs: int | None = None, learning_rate: float | None = None):
    """Train the defaults on ``path`` (High and Low read where they exist), write the model,
    evaluate it; returns (evaluate's test segment, the config facts, training seconds)."""
    from forecast.bundle import read_bundle, write_bundle
    from forecast.config import DataConfig, ForecastConfig, ModelConfig, TrainConfig
    from forecast.data import read_panel
    from forecast.predict import Forecaster, load_predictor
    from forecast.training import run_training

    panel = read_panel([path], extra=["High", "Low"], extra_optional=True,
                       warn=lambda m: None)
    training = TrainConfig(test_start=test_start, seed=seed)
    if epochs:
        training = dataclasses.replace(training, epochs=epochs)
    if learning_rate:
        training = dataclasses.replace(training, learning_rate=learning_rate)
    config = ForecastConfig(DataConfig(layout=panel.layout, extra=panel.extra), ModelConfig(),
                            training).validate()
    config = dataclasses.replace(config, columns=panel.columns)
    stream = io.StringIO()
    started = time.perf_counter()
    trained = run_training(panel, config, stream=stream)
    seconds = time.perf_counter() - started
    for line in stream.getvalue().splitlines():
        if line.startswith("forecast:"):
            print(f"  {line}", file=sys.stderr)
    write_bundle(out, trained, panel)
    bundle = read_bundle(out)
    result = Forecaster(bundle, panel, load_predictor(bundle, "numpy"),
                        warn=lambda m: None).evaluate(LEVEL)
    return result["test"], trained.config, seconds


def compare_cqr(model: Path, path: Path) -> None:
    """What was tried instead of pooling: CQR fit on each series' own validation rows,
    against the pooled CQR the tool uses, on the same network quantiles and test rows."""
    from forecast import baselines, intervals, metrics
    from forecast.bundle import read_bundle
    from forecast.data import read_panel
    from forecast.predict import Forecaster, load_predictor

    bundle = read_bundle(model)
    panel = read_panel([path], extra=bundle.config.data.extra, warn=lambda m: None)
    forecaster = Forecaster(bundle, panel, load_predictor(bundle, "numpy"), warn=lambda m: None)
    use, series, rows = forecaster.backtest_rows(1)
    quantiles = forecaster.prices_from(use)[:, 0, :]
    lower, upper = bundle.quantile.pairs[0]["lower"], bundle.quantile.pairs[0]["upper"]
    parts = []
    for s in range(panel.n_series):
        own = series == s
        prices, r, q = panel.target_of(s), rows[own], quantiles[own]
        val_start, test_start = forecaster.split_rows(s)
        val, test = (r >= val_start) & (r < test_start), r >= test_start
        if val.any() and test.any():
            parts.append((prices, r, q, val, test, forecaster.garches[s]))
    pooled = intervals.QuantileCalibration.fit(
        np.concatenate([p[r[v]] for p, r, q, v, t, g in parts]),
        np.concatenate([q[v, lower] for p, r, q, v, t, g in parts]),
        np.concatenate([q[v, upper] for p, r, q, v, t, g in parts]), 0.1, 0.9, "log")
    results = {"pooled": [], "per series": []}
    for prices, r, q, val, test, garch in parts:
        own = intervals.QuantileCalibration.fit(prices[r[val]], q[val, lower], q[val, upper],
                                                0.1, 0.9, "log")
        for name, cal in (("pooled", pooled), ("per series", own)):
            band = cal.band(q[test, lower], q[test, upper])
            figures = baselines.compare_intervals(prices, r[test], LEVEL, band, q[test, 1],
                                                  garch, np.array([], int))
            results[name].append(figures)
    rows = []
    for name, compared in results.items():
        agg = metrics.aggregate_intervals(compared)
        with_garch = [c for c in compared if c["garch"]]
        rows.append([f"CQR {name}", fmt(agg["model"]["median_rel_interval_score"]),
                     fmt(float(np.median([c["model"]["rel_interval_score"]
                                          for c in with_garch]))),
                     fmt(agg["garch"]["median_rel_interval_score"]),
                     fmt(agg["model"]["coverage"], ".1%"),
                     f"{min(c['model']['coverage'] for c in compared):.1%} to "
                     f"{max(c['model']['coverage'] for c in compared):.1%}",
                     f"{agg['share_model_beats_garch']:.0%}"])
    print("\nThe same network quantiles calibrated two ways (every validation row):\n")
    print(table(rows, ["calibration", "model median score / naive MAE",
                       "on the series with GARCH", "GARCH(1,1)", "pooled coverage",
                       "coverage per series", "model below GARCH"]))


def fmt(value, spec=".3f") -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) \
        else format(value, spec)


def report(name: str, test: dict, config, seconds: float) -> None:
    facts = config.facts
    rows = []
    for series, scores in test["series"].items():
        iv = scores["intervals"]
        m, r, g = iv["model"], iv["rolling_conformal"], iv["garch"]
        rows.append([series, m["rows"], fmt(m["rel_interval_score"]),
                     fmt(g and g["rel_interval_score"]), fmt(r and r["rel_interval_score"]),
                     fmt(m["coverage"], ".1%"), fmt(g and g["coverage"], ".1%"),
                     fmt(r and r["coverage"], ".1%"),
                     fmt(m["rel_pinball"]), fmt(g and g["rel_pinball"]),
                     "yes" if g and m["interval_score"] < g["interval_score"] else
                     ("no" if g else "-")])
    agg = test["aggregate"]["intervals"]
    medians = [agg[k]["median_rel_interval_score"] for k in ("model", "garch",
                                                               "rolling_conformal")]
    covers = [agg[k]["coverage"] for k in ("model", "garch", "rolling_conformal")]
    pins = [agg[k]["median_rel_pinball"] for k in ("model", "garch")]
    rows.append(["**median / pooled**", "", *(f"**{fmt(v)}**" for v in medians),
                 *(f"**{fmt(v, '.1%')}**" for v in covers), *(f"**{fmt(v)}**" for v in pins),
                 f"**{fmt(agg['share_model_beats_garch'], '.0%')}** of "
                 f"{agg['series_with_garch']}"])
    with_garch = [s["intervals"] for s in test["series"].values() if s["intervals"]["garch"]]
    if len(with_garch) < len(test["series"]):   # the same series for every method
        rows.append([f"median over the {len(with_garch)} series with GARCH", "",
                     *(fmt(float(np.median([c[k]["rel_interval_score"] for c in with_garch])))
                       for k in ("model", "garch", "rolling_conformal")),
                     "", "", "", "", "", ""])
    guard = facts.interval_guard.get(f"{LEVEL:g}", {})
    band = next(iter(test["series"].values()))["intervals"]["band"]
    print(f"\n### {name}\n")
    print(f"{len(test['series'])} series; test from {facts.test_start[:10]}; inputs "
          f"{', '.join(config.inputs)}; learning rate {config.training.learning_rate:g}, "
          f"seed {config.training.seed}; {facts.epochs_run} epochs, {seconds:.0f} s of "
          f"training; point guard kept the "
          f"{facts.baseline_guard['kept']} (p = {facts.baseline_guard['p_value']:.2f}); "
          f"interval guard kept the {guard.get('kept')} band (p = {fmt(guard.get('p_value'))},"
          f" {guard.get('dates')} held-out validation dates): the model's band is "
          f"**{band}**.\n")
    print(table(rows, ["series", "test rows", "model score / naive MAE", "GARCH(1,1)",
                       "rolling conformal", "model coverage", "GARCH coverage",
                       "rolling coverage", "model pinball / naive MAE", "GARCH pinball",
                       "model below GARCH"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=None,
                        help="most epochs (default: the tool's default)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="Adam learning rate (default: the tool's default)")
    parser.add_argument("--data", choices=["panel", "sp500", "both"], default="both")
    parser.add_argument("--compare-cqr", action="store_true",
                        help="also calibrate the panel's quantiles per series (not pooled)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    work = Path(tempfile.mkdtemp())
    runs = [("data/panel20_long.csv, --test-start 2016-01-01", PANEL, TEST_START, "panel"),
            ("data/sp500.csv, last 20% test", SP500, None, "sp500")]
    for name, path, test_start, key in runs:
        if args.data not in (key, "both"):
            continue
        print(f"{name}: training", file=sys.stderr)
        test, config, seconds = train_and_evaluate(path, test_start, work / key, args.seed,
                                                   args.epochs, args.learning_rate)
        report(name, test, config, seconds)
        if args.compare_cqr and key == "panel":
            compare_cqr(work / key, path)


if __name__ == "__main__":
    main()
