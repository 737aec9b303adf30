"""Hyperparameter search (issue 15): the best configuration `forecast tune` finds against
the defaults, on validation and test rows, and its wall time with one and two workers.

    .venv/bin/python benchmarks/tune.py [--trials 30] [--epochs 5] [--jobs 1 2]
        [--space FILE.json] [--series A,B,...] [--data data/panel20_long.csv]

Everything runs through the command line, each in a fresh process, with the same fixed
options (--epochs and the rest): `forecast train` with the defaults, then `forecast tune`
once per --jobs value, each into a new model directory and a new study. "validation" is
the lowest validation loss of the written model's epochs, the figure tune minimises (MAE
of scaled log-returns, on the first half of the validation dates, where train chooses the
epoch); "test" is the test rows' one-step MAE / naive per series (median and mean over the
series) and the share of series at or below naive, as `forecast train` prints them. The
tuned model's test scores are read once, after the search. Wall time is the whole command:
start-up, reading, the search, training the best configuration again and writing it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, table

PANEL = ROOT / "data" / "panel20_long.csv"


def forecast(*args: str) -> tuple[dict, float]:
    """Run `forecast ARGS --json` in a fresh process: its JSON and its wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "forecast", *args, "--json"],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): forecast {' '.join(args)}\n"
                         f"{done.stderr[-3000:]}")
    return json.loads(done.stdout), wall


def validation_score(model_dir: Path) -> float:
    with open(model_dir / "history.csv", newline="") as handle:
        return min(float(row["val_loss"]) for row in csv.DictReader(handle))


def row(name: str, model_dir: Path, result: dict, wall: float, trials: str) -> list:
    test = result["test"]["aggregate"]["model"]
    return [name, f"{validation_score(model_dir):.6f}", f"{test['median_rel_mae']:.4f}",
            f"{test['mean_rel_mae']:.4f}", f"{test['share_at_or_below_naive']:.0%}", trials,
            f"{wall:.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(PANEL))
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--space", help="a --space file for tune (default: its own space)")
    parser.add_argument("--series", help="only these series (--series of train and tune)")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        raise SystemExit(f"{args.data} is missing (the panel ships in data/ on main)")
    fixed = ["--epochs", str(args.epochs)] + (["--series", args.series] if args.series else [])
    out = Path(tempfile.mkdtemp(prefix="tune-bench-"))
    try:
        rows = []
        result, wall = forecast("train", args.data, *fixed, "--model-dir", str(out / "defaults"))
        naive = result["test"]["aggregate"]
        rows.append(row("`forecast train` defaults", out / "defaults", result, wall, "1"))
        found = []
        for jobs in args.jobs:
            model = out / f"tuned-{jobs}"
            space = ["--space", args.space] if args.space else []
            result, wall = forecast("tune", args.data, *fixed, *space, "--trials",
                                    str(args.trials), "--jobs", str(jobs), "--model-dir",
                                    str(model))
            tuning = result["tuning"]
            states = ", ".join(f"{n} {k}" for k, n in tuning["states"].items())
            rows.append(row(f"`forecast tune --jobs {jobs}`: best of trial "
                            f"{tuning['best_trial']}", model, result, wall,
                            f"{tuning['trials']} ({states})"))
            found.append((jobs, tuning))
        drift = naive["drift"]
        rows.append(["drift forecast", "", f"{drift['median_rel_mae']:.4f}",
                     f"{drift['mean_rel_mae']:.4f}",
                     f"{drift['share_at_or_below_naive']:.0%}", "", ""])
        print(table(rows, ["configuration", "validation (min val_loss)",
                           "test MAE/naive, median", "test MAE/naive, mean",
                           "series <= naive", "trials", "wall s"]))
        print()
        for jobs, tuning in found:
            params = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in tuning["params"].items())
            print(f"- --jobs {jobs}: best trial {tuning['best_trial']} (validation "
                  f"{tuning['score']:.6f}): {params}")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
