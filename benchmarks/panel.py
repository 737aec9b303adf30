"""Panels (issue 11): one global model against one model per ticker, and panel speed.

    .venv/bin/python benchmarks/panel.py accuracy [--point]   # panel20_long, test from 2016
    .venv/bin/python benchmarks/panel.py speed      # generated 500 tickers x 1260 days

accuracy: the defaults trained once over all 20 tickers, against the defaults trained 20
times, once per ticker (today's tool run 20 times), both with --test-start 2016-01-01.
Each ticker's test MAE / naive comes from walk-forward one-step forecasts over its test
rows (as `forecast evaluate` scores them); tickers listed too late to train on are scored as
new tickers by the global model. Training seconds are `run_training`'s own.

speed: wall time of `forecast train` with the defaults on a generated 500-ticker x 1260-day
long CSV, its training throughput (windows per second, validation included, from
history.csv), and `forecast predict --steps 5` for all 500 tickers (NumPy engine, median of
5 fresh processes); the same throughput figure for data/sp500.csv for comparison.
"""

from __future__ import annotations

import dataclasses
import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import ROOT, SP500, long_frame, table, throughput, timed

PANEL = ROOT / "data" / "panel20_long.csv"
TEST_START = "2016-01-01"
FORECAST = [sys.executable, "-m", "forecast"]


#: ``--point``: the point model of issue 11 (no quantile outputs, no derived inputs).
POINT = False


def train_and_score(panel, out: Path, seed: int = 42):
    """Train the defaults on ``panel``, write the model, score the test rows per series."""
    from forecast.bundle import read_bundle, write_bundle
    from forecast.config import DataConfig, ForecastConfig, ModelConfig, TrainConfig
    from forecast.predict import Forecaster, load_predictor
    from forecast.training import run_training

    model = ModelConfig(quantiles=[]) if POINT else ModelConfig()
    config = ForecastConfig(DataConfig(layout=panel.layout, derived=[] if POINT else None),
                            model, TrainConfig(test_start=TEST_START, seed=seed)).validate()
    config = dataclasses.replace(config, columns=panel.columns)
    started = time.perf_counter()
    trained = run_training(panel, config, stream=io.StringIO())
    seconds = time.perf_counter() - started
    write_bundle(out, trained, panel)
    bundle = read_bundle(out)
    result = Forecaster(bundle, panel, load_predictor(bundle, "numpy"),
                        warn=lambda m: None).evaluate(0.8)
    return result["test"]["series"], seconds, trained.config.facts


def accuracy() -> None:
    from forecast.data import read_panel
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    panel = read_panel([PANEL], warn=lambda m: None)
    work = Path(tempfile.mkdtemp())
    global_scores, global_seconds, facts = train_and_score(panel, work / "global")
    print(f"global model: {global_seconds:.0f} s, best epoch {facts.best_epoch}, guard "
          f"{facts.baseline_guard['kept']}", file=sys.stderr)
    separate, seconds = {}, 0.0
    for name in panel.names:
        one = panel.select([name])
        one = type(one)(**{**one.__dict__, "layout": "single"})
        try:
            scores, took, _ = train_and_score(one, work / name)
        except Exception as exc:  # a ticker too short to train alone
            print(f"{name}: not trainable alone ({exc})", file=sys.stderr)
            continue
        separate[name] = next(iter(scores.values()))
        seconds += took
        print(f"{name}: {took:.0f} s", file=sys.stderr)
    rows, model, alone, drift = [], [], [], []
    for name in panel.names:
        g = global_scores[name]
        s = separate.get(name)
        model.append(g["model"]["rel_mae"])
        drift.append(g["drift"]["rel_mae"])
        if s:
            alone.append(s["model"]["rel_mae"])
        rows.append([name, g["rows"], f"{g['model']['rel_mae']:.4f}",
                     f"{s['model']['rel_mae']:.4f}" if s else "-",
                     f"{g['drift']['rel_mae']:.4f}"])
    rows.append(["**median**", "", f"**{statistics.median(model):.4f}**",
                 f"**{statistics.median(alone):.4f}**", f"**{statistics.median(drift):.4f}**"])
    rows.append(["series at or below naive", "", f"{np.mean(np.array(model) <= 1):.0%}",
                 f"{np.mean(np.array(alone) <= 1):.0%}", f"{np.mean(np.array(drift) <= 1):.0%}"])
    rows.append(["training seconds (all tickers)", "", f"{global_seconds:.0f}", f"{seconds:.0f}",
                 ""])
    print(table(rows, ["ticker", "test rows", "global model MAE / naive",
                       "one model per ticker", "drift / naive"]))


def speed() -> None:
    work = Path(tempfile.mkdtemp())
    big = work / "panel500.csv"
    long_frame(500, 1260).to_csv(big, index=False)
    rows = []
    for name, source in (("data/sp500.csv, 1 series", SP500),
                         ("generated 500 tickers x 1260 days", big)):
        out = work / f"model-{len(rows)}"
        wall, peak = timed([*FORECAST, "train", str(source), "--model-dir", str(out)])
        rate, windows = throughput(out)
        epochs = len(pd.read_csv(out / "history.csv"))
        predicts = [timed([*FORECAST, "predict", "--model", str(out), "--steps", "5"])
                    for _ in range(5)]
        rows.append([name, f"{wall:.0f}", epochs, f"{windows}", f"{rate:,.0f}", f"{peak:.0f}",
                     f"{statistics.median(p[0] for p in predicts):.2f}",
                     f"{statistics.median(p[1] for p in predicts):.0f}"])
        print(f"{name}: done", file=sys.stderr)
    print(table(rows, ["data", "train wall s (defaults)", "epochs run", "windows / epoch",
                       "windows / s (steady, validation included)", "train peak RSS MB",
                       "predict --steps 5 wall s", "predict peak RSS MB"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["accuracy", "speed"])
    parser.add_argument("--point", action="store_true",
                        help="accuracy of the point model (no quantiles, no derived inputs)")
    args = parser.parse_args()
    global POINT
    POINT = args.point
    sys.path.insert(0, str(ROOT))
    accuracy() if args.part == "accuracy" else speed()


if __name__ == "__main__":
    main()
