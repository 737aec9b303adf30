"""Quick regression check (issue 24): the speed figures that matter most, each beside the one
recorded in BENCHMARKS.md, flagging any more than 15% worse. About 1.5 minutes on an idle
2-core machine; no peers (for those: benchmarks/peers.py).

    .venv/bin/python benchmarks/quick.py [--strict] [--record] [--epochs 3]

Run it before every stop that touches `forecast/`. What it measures, in one invocation:

- Training throughput on data/sp500.csv (Close) and on data/panel20_long.csv with
  `--test-start 2016-01-01` (the 19 tickers with a training window): forecast's own training
  loop (`training.run_training` with `score=False`, i.e. `forecast train` without the
  scoring after the fit) against a plain Keras script (`model.fit` on NumPy arrays of the
  same training windows, the validation windows as `validation_data`), same model (the
  peers' job: one LSTM layer of 32 units and a Dense output, window 20, batch 64, Adam at
  1e-3, MAE loss, no quantiles, no derived inputs, no baseline guard), same `--epochs`, each
  validating every epoch. One fresh process per loop (plain first, then forecast), each
  training sp500 then the panel. Windows per second: the training windows over the seconds
  of the fastest epoch after the first (the first traces; the fastest, so that a moment of
  other load on the machine does not count against one side). The figure compared
  is the ratio forecast / plain Keras, so that the machine's speed cancels; the windows per
  second are shown beside it, not flagged.
- `forecast inspect` on the 1,000,000-row OHLCV CSV of `benchmarks/big_inputs.py read`
  (`common.long_frame(400, 2500, ohlcv=True)`, kept in the temp folder between runs):
  wall seconds and peak RSS of the whole process, median of 3 fresh processes.
- `forecast predict` latency: the next value on the NumPy engine (the default) from a
  model of the default settings trained here with `--epochs 1` on data/sp500.csv, wall
  seconds and peak RSS, median of 3 fresh processes.

The recorded figures: the table between the `quick.py recorded figures` markers in
BENCHMARKS.md, which this script reads (a figure recorded as `-` is shown, not compared).
`--record` writes this run's figures into that table (do it on a quiet machine, and commit
it). A figure is flagged when it is more than 15% worse than recorded: a ratio below 0.85x
the recorded one, seconds or MB above 1.15x. Prints a Markdown table; exits 0 even when
something is flagged (it is a report) unless `--strict`, which exits 1 then.
"""

from __future__ import annotations

import dataclasses
import argparse
import datetime
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SP500, long_frame, timed

PANEL = ROOT / "data" / "panel20_long.csv"
PANEL_TEST_START = "2016-01-01"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- quick.py recorded figures: begin -->", "<!-- quick.py recorded figures: end -->"
FORECAST = [sys.executable, "-m", "forecast"]
TOLERANCE = 0.15
JOB = dict(cell="lstm", layers=1, units=32, dropout=0.0, dense_units=0, window=20,
           batch_size=64, learning_rate=1e-3, loss="mae", baseline_guard=False, quantiles=[],
           derived=[], device="cpu")
DATA = {"sp500": (SP500, None), "panel": (PANEL, PANEL_TEST_START)}

#: (figure, unit, better: "higher" / "lower", flagged). The rows of the recorded table.
FIGURES = [
    ("sp500 training, forecast / plain Keras", "ratio", "higher", True),
    ("sp500 training, forecast", "windows/s", "higher", False),
    ("sp500 training, plain Keras", "windows/s", "higher", False),
    ("panel training, forecast / plain Keras", "ratio", "higher", True),
    ("panel training, forecast", "windows/s", "higher", False),
    ("panel training, plain Keras", "windows/s", "higher", False),
    ("inspect, 1M-row OHLCV CSV", "s", "lower", True),
    ("inspect, 1M-row OHLCV CSV, peak RSS", "MB", "lower", True),
    ("predict, next value, NumPy engine", "s", "lower", True),
    ("predict, next value, NumPy engine, peak RSS", "MB", "lower", True),
]


# --- training (child processes) -------------------------------------------------------

def train_child(kind: str, epochs: int) -> dict:
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from common import config_from
    from forecast.data import read_panel
    from forecast.training import EpochTimer, prepare_training, run_training

    results = {}
    for name, (path, test_start) in DATA.items():
        panel = read_panel([path], warn=lambda m: None)
        options = {**JOB, "epochs": epochs, "patience": epochs + 1, "seed": 1}
        if test_start:
            options["test_start"] = test_start
        config = config_from(options)
        config = dataclasses.replace(config, columns=panel.columns,
                                     data=dataclasses.replace(config.data, layout=panel.layout))
        prepared, _, _, _ = prepare_training(panel, config, warn=lambda m: None)
        masks = prepared.masks
        n_train = int(masks["train"].sum())
        if kind == "tool":
            trained = run_training(panel, config, stream=io.StringIO(), score=False)
            seconds = list(trained.history["seconds"])
        else:
            keras.utils.set_random_seed(1)
            train, val = prepared.starts[masks["train"]], prepared.starts[masks["val"]]
            X, y = prepared.inputs(train).astype("float32"), prepared.targets(train)
            X_val, y_val = prepared.inputs(val).astype("float32"), prepared.targets(val)
            model = keras.Sequential([keras.Input(X.shape[1:]), keras.layers.LSTM(32),
                                      keras.layers.Dense(y.shape[1])])
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
            timer = EpochTimer()
            model.fit(X, y.astype("float32"), batch_size=64, epochs=epochs, shuffle=True,
                      validation_data=(X_val, y_val.astype("float32")), verbose=0,
                      callbacks=[timer])
            seconds = timer.seconds
        results[name] = {"windows_per_second": n_train / min(seconds[1:] or seconds),
                         "train_windows": n_train, "epoch_seconds": seconds}
    return results


def training(epochs: int) -> dict:
    runs = {}
    for kind in ("plain", "tool"):
        done = subprocess.run([sys.executable, __file__, "--child", kind, "--epochs",
                               str(epochs)], capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"the {kind} training run failed:\n{done.stderr[-3000:]}")
        runs[kind] = json.loads(done.stdout.strip().splitlines()[-1])
        for name, r in runs[kind].items():
            print(f"  {kind}, {name}: {r['windows_per_second']:,.0f} windows/s over "
                  f"{r['train_windows']:,} windows (epoch seconds "
                  f"{', '.join(f'{s:.2f}' for s in r['epoch_seconds'])})", file=sys.stderr)
    figures = {}
    for name in DATA:
        tool, plain = (runs[k][name]["windows_per_second"] for k in ("tool", "plain"))
        figures[f"{name} training, forecast / plain Keras"] = tool / plain
        figures[f"{name} training, forecast"] = tool
        figures[f"{name} training, plain Keras"] = plain
    return figures


# --- inspect and predict (fresh processes) -------------------------------------------

def median_timed(args: list, runs: int = 3) -> tuple[float, float]:
    results = [timed([*FORECAST, *args]) for _ in range(runs)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results))


def ohlcv_file() -> Path:
    """The 1M-row OHLCV CSV of big_inputs.py read, generated once into the temp folder."""
    path = Path(tempfile.gettempdir()) / "forecast-quick-ohlcv-400x2500.csv"
    if not path.exists():
        print(f"  writing {path} (once)", file=sys.stderr)
        partial = path.with_suffix(f".{os.getpid()}.part")
        long_frame(400, 2500, ohlcv=True).to_csv(partial, index=False)
        partial.replace(path)
    return path


def inspect_and_predict() -> dict:
    wall, peak = median_timed(["inspect", ohlcv_file()])
    figures = {"inspect, 1M-row OHLCV CSV": wall, "inspect, 1M-row OHLCV CSV, peak RSS": peak}
    print(f"  inspect: {wall:.2f} s, {peak:.0f} MB", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="quick-") as work:
        model = Path(work) / "model"
        timed([*FORECAST, "train", SP500, "--epochs", "1", "--model-dir", model])
        wall, peak = median_timed(["predict", "--model", model])
    figures["predict, next value, NumPy engine"] = wall
    figures["predict, next value, NumPy engine, peak RSS"] = peak
    print(f"  predict: {wall:.2f} s, {peak:.0f} MB", file=sys.stderr)
    return figures


# --- the recorded table ---------------------------------------------------------------

def recorded_block(text: str) -> tuple[int, int]:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{BENCHMARKS.name} has no recorded-figures table between "
                         f"'{BEGIN}' and '{END}'")
    return start + len(BEGIN), end


def read_recorded(path: Path = BENCHMARKS) -> dict[str, float | None]:
    """figure -> recorded value (None where the table says '-')."""
    text = path.read_text()
    start, end = recorded_block(text)
    recorded = {}
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] in ("figure", "") or set(cells[0]) <= set("-:"):
            continue
        value = cells[1].replace(",", "").rstrip("x")
        recorded[cells[0]] = float(value) if re.fullmatch(r"[0-9.]+", value) else None
    return recorded


def shown(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value:.2f}x"
    if unit == "s":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def recorded_table(figures: dict, note: str) -> str:
    rows = ["| figure | recorded | unit |", "|---|---|---|"]
    rows += [f"| {name} | {shown(figures.get(name), unit)} | {unit} |"
             for name, unit, _, _ in FIGURES]
    return "\n" + note + "\n\n" + "\n".join(rows) + "\n"


def write_recorded(figures: dict, path: Path = BENCHMARKS) -> None:
    text = path.read_text()
    start, end = recorded_block(text)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip() or "unknown"
    note = (f"Recorded by `benchmarks/quick.py --record` on {datetime.date.today()}, "
            f"commit {commit}.")
    path.write_text(text[:start] + recorded_table(figures, note) + text[end:])


def worse(value: float, recorded: float, better: str) -> float:
    """How much worse than recorded, as a fraction (negative: better)."""
    return 1 - value / recorded if better == "higher" else value / recorded - 1


def report(figures: dict, recorded: dict) -> list[str]:
    rows, flagged = [], []
    for name, unit, better, flags in FIGURES:
        value, before = figures.get(name), recorded.get(name)
        change, flag = "", ""
        if value is not None and before:
            change = f"{(value / before - 1):+.0%}"
            if flags and worse(value, before, better) > TOLERANCE:
                flag = f"**worse by more than {TOLERANCE:.0%}**"
                flagged.append(name)
            elif not flags:
                flag = "(not compared: machine-dependent)"
        rows.append(f"| {name} | {shown(value, unit)} | {shown(before, unit)} | {change} | "
                    f"{flag} |")
    print("| figure | this run | recorded | change | |\n|---|---|---|---|---|")
    print("\n".join(rows))
    return flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a figure is more than 15%% worse than recorded")
    parser.add_argument("--record", action="store_true",
                        help="write this run's figures into BENCHMARKS.md's recorded table")
    parser.add_argument("--child", choices=["tool", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is not counted)")
    if args.child:
        print(json.dumps(train_child(args.child, args.epochs)))
        return
    recorded = read_recorded()
    started = time.perf_counter()
    figures = {**training(args.epochs), **inspect_and_predict()}
    print(f"benchmarks/quick.py: {time.perf_counter() - started:.0f} s, {args.epochs} epochs; "
          f"recorded figures from {BENCHMARKS.name}\n")
    flagged = report(figures, recorded)
    if flagged:
        print(f"\n{len(flagged)} figure(s) more than {TOLERANCE:.0%} worse than recorded: "
              + "; ".join(flagged))
    if args.record:
        write_recorded(figures)
        print(f"\nrecorded this run's figures in {BENCHMARKS.name}")
    sys.exit(1 if flagged and args.strict else 0)


if __name__ == "__main__":
    main()
