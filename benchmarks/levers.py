"""The recipe's remaining levers (issue 26): the defaults against the defaults with one lever on.

    nice -n 10 .venv/bin/python benchmarks/levers.py [--epochs N] [--seed 42] [--data NAME...]

Trains ``forecast train`` (a fresh process each) on panel20_long (test from 2016-01-01;
../shared/data/panel20_long.csv, else data/panel20_long.csv) and data/sp500.csv, with the
defaults and with each of --clipnorm 1.0, --l2 1e-4, --l1 1e-5 and --attention, and prints
one Markdown table per data set:

- val pinball: the best epoch's validation loss (history.csv), the mean pinball loss in
  scaled target units, less the weight penalty (the L1/L2 term Keras adds to val_loss,
  read from the written model), so that every row is the same loss (approximately: where
  the baseline guard kept the start, the head's median column is the start's, so its
  share of the penalty is not subtracted);
- val IS: the 80% interval score of the network's own quantile band on the interval
  guard's validation rows (config.json's facts.interval_guard, error-space units);
- test pinball / naive and test IS / naive: metrics.json's test aggregate (median over
  series), of the band train chose (the network's, or the rolling conformal band);
- s/epoch: history.csv's median seconds per epoch (the first, which traces, left out),
  as a ratio to the defaults' in the same run (the machine may be shared: only ratios).

Accuracy figures are deterministic for a fixed --seed on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from common import ROOT, table

SHARED_PANEL = ROOT.parent / "shared" / "data" / "panel20_long.csv"
PANEL = SHARED_PANEL if SHARED_PANEL.exists() else ROOT / "data" / "panel20_long.csv"
DATASETS = {"panel20_long": (PANEL, ["--test-start", "2016-01-01"]),
            "sp500": (ROOT / "data" / "sp500.csv", [])}
LEVERS = {"defaults": [], "--clipnorm 1.0": ["--clipnorm", "1.0"],
          "--l2 1e-4": ["--l2", "1e-4"], "--l1 1e-5": ["--l1", "1e-5"],
          "--attention": ["--attention"]}


def train(prices: Path, extra: list[str], out: Path, epochs: int, seed: int) -> dict:
    """One ``forecast train`` in a fresh process; its figures from the model directory."""
    args = [sys.executable, "-m", "forecast", "train", str(prices), "--model-dir", str(out),
            "--epochs", str(epochs), "--seed", str(seed), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(args, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    history = pd.read_csv(out / "history.csv")
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    guard = config["facts"]["interval_guard"].get("0.8") or {}
    test = metrics["test"]["aggregate"]["intervals"]["model"]
    seconds = history["seconds"].tolist()
    return {"val_pinball": float(history["val_loss"].min()) - penalty(out),
            "val_is": guard.get("network_score"),
            "band": guard.get("kept"),
            "test_pinball": test["median_rel_pinball"],
            "test_is": test["median_rel_interval_score"],
            "epochs": len(history), "best": config["facts"]["best_epoch"],
            "per_epoch": statistics.median(seconds[1:] or seconds)}


def penalty(out: Path) -> float:
    """The weight penalty of the written model (0 without --l1/--l2)."""
    config = json.loads((out / "config.json").read_text())["model"]
    if not (config.get("l1") or config.get("l2")):
        return 0.0
    import keras

    from forecast.models import MonotoneQuantiles

    model = keras.saving.load_model(out / "model.keras", compile=False,
                                    custom_objects={"MonotoneQuantiles": MonotoneQuantiles})
    return float(sum(float(loss) for loss in model.losses))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="train's --epochs")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", choices=list(DATASETS), nargs="*", default=list(DATASETS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.data:
            prices, extra = DATASETS[name]
            results = {}
            for lever, flags in LEVERS.items():
                results[lever] = train(prices, extra + flags, Path(tmp) / f"{name}-{len(results)}",
                                       args.epochs, args.seed)
                print(f"{name} {lever}: {results[lever]}", file=sys.stderr, flush=True)
            base = results["defaults"]["per_epoch"]
            rows = [[lever, f"{r['val_pinball']:.6f}",
                     "-" if r["val_is"] is None else f"{r['val_is']:.5f}",
                     f"{r['test_pinball']:.4f}", f"{r['test_is']:.4f}", r["band"] or "-",
                     f"{r['best']}/{r['epochs']}", f"{r['per_epoch'] / base:.2f}"]
                    for lever, r in results.items()]
            print(f"\n{name} ({prices.name}{' ' + ' '.join(extra) if extra else ''}; "
                  f"--epochs {args.epochs} --seed {args.seed})\n")
            print(table(rows, ["lever", "val pinball", "val IS (network band)",
                               "test pinball / naive", "test IS / naive", "80% band kept",
                               "best/epochs run", "s/epoch vs defaults"]))


if __name__ == "__main__":
    main()
