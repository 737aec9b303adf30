"""Training speed beside the PyTorch peers (issue 24): forecast, Darts and neuralforecast
on the same job, side by side in one run.

    .venv/bin/python benchmarks/peers.py --make-venv PEERS_VENV   # first time: creates it
    .venv/bin/python benchmarks/peers.py --venv PEERS_VENV [--epochs 5] [--threads 2]
        [--data sp500,panel] [--keep DIR]

The job, the same for all: a one-step LSTM (one layer of 32 units, a linear output), window
20, batch 64, Adam at 1e-3, MAE loss, on the training windows of `data/sp500.csv` (Close)
and of the panel `data/panel20_long.csv` with `--test-start 2016-01-01` (the 19 tickers
with a training window; BABA has none), `--epochs` epochs, no early stopping.

- forecast: `forecast train` in a fresh process with `--no-quantiles --derived-inputs none
  --no-baseline-guard --patience 1000 --device cpu --seed 42` (the "same network" rows), and
  on the panel once more with the defaults (quantiles, derived inputs; still
  `--no-baseline-guard --patience 1000`). Its epoch seconds come from the model's
  history.csv; they include the validation pass forecast runs every epoch, which the peers
  do not run (they get no validation data).
- Darts `BlockRNNModel(model="LSTM")` and neuralforecast `LSTM`, each in a fresh process of
  the peers' venv running `benchmarks/peers_child.py` (see its docstring for how each is
  set up and timed), on the same training rows: each series' rows before forecast's
  validation start, as log-returns standardised per series, written to an .npz.

Windows per second, counted the same way for every row: the training windows one epoch
trains on times the epochs after the first, divided by the wall seconds of those epochs (the
first epoch, which traces or warms up, is left out). An epoch's windows: forecast's, every
window whose target lies before the validation start; Darts', its training dataset, which
on a panel of unequal series repeats the shorter series' windows up to the longest's count
(so it holds more); neuralforecast's, its steps per epoch x 64 (an epoch here being
ceil(forecast's windows / 64) steps). The table shows each. "vs Darts" divides by Darts'
figure on the same data.

Threads: every child gets OMP_NUM_THREADS, MKL_NUM_THREADS, TF_NUM_INTRAOP_THREADS and
TF_NUM_INTEROP_THREADS = `--threads`, torch.set_num_threads(`--threads`), and, on a machine
with more CPUs than that, an affinity of the first `--threads` CPUs.

The peers' venv (`--make-venv PATH`, done once; again to complete a broken one): `python -m
venv PATH`, then `pip install torch==2.13.0` (the CPU build this machine's wheel folder
holds; never let pip choose another torch: it would bring gigabytes of CUDA), then
`darts[torch]` and `neuralforecast` with a constraints file pinning that torch. Without
`--venv` or `--make-venv` only the forecast rows are measured. Prints a Markdown table on
stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().parent / "peers_child.py"
SP500 = ROOT / "data" / "sp500.csv"
PANEL = ROOT / "data" / "panel20_long.csv"
PANEL_TEST_START = "2016-01-01"

#: The one torch the peers get: the CPU build this machine's wheel folder holds. Any other
#: version would come from the index with its CUDA libraries (gigabytes).
TORCH = "torch==2.13.0"
PEER_PACKAGES = ["darts[torch]", "neuralforecast"]
PEERS = ("darts", "neuralforecast")

WINDOW, UNITS, BATCH, SEED = 20, 32, 64, 42
#: The job, as forecast train's options.
JOB = ["--window", str(WINDOW), "--units", str(UNITS), "--layers", "1", "--batch-size",
       str(BATCH), "--learning-rate", "0.001", "--no-baseline-guard", "--patience", "1000",
       "--device", "cpu", "--seed", str(SEED)]
SAME_NETWORK = ["--no-quantiles", "--derived-inputs", "none", "--loss", "mae"]


def make_venv(path: Path) -> Path:
    """Create (or complete) the peers' venv at ``path``; returns its python."""
    python = path / "bin" / "python"
    if not python.exists():
        print(f"creating the peers' venv at {path}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    constraints = path / "constraints.txt"
    constraints.write_text(TORCH + "\n")
    pip = [str(python), "-m", "pip", "install", "-q", "-c", str(constraints)]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, *PEER_PACKAGES], check=True)
    return python


def child_env(threads: int) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                 "TF_NUM_INTEROP_THREADS"):
        env[name] = str(threads)
    env.pop("PYTHONPATH", None)
    return env


def pin(threads: int):
    """A preexec function giving the child the first ``threads`` CPUs (None if that is all)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) <= threads:
        return None
    return lambda: os.sched_setaffinity(0, cpus[:threads])


def run_child(args: list, threads: int, what: str) -> str:
    done = subprocess.run([str(a) for a in args], cwd=ROOT, env=child_env(threads),
                          preexec_fn=pin(threads), capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise SystemExit(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def forecast_run(data: Path, extra: list, out: Path, epochs: int, threads: int) -> dict:
    """Train with forecast's CLI; its windows per second from history.csv."""
    import pandas as pd

    command = [sys.executable, "-m", "forecast", "train", data, "--model-dir", out,
               "--epochs", epochs, *JOB, *extra]
    run_child(command, threads, f"forecast train {data.name}")
    config = json.loads((out / "config.json").read_text())
    seconds = pd.read_csv(out / "history.csv")["seconds"].tolist()
    windows = config["facts"]["windows"]["train"]
    steady = seconds[1:] or seconds
    return {"windows_per_epoch": windows, "epoch_seconds": seconds,
            "windows_per_second": windows * len(steady) / sum(steady),
            "series": len(config["facts"]["series"]),
            "version": config["facts"]["versions"].get("tensorflow-cpu")
            or config["facts"]["versions"].get("tensorflow")}


def peer_series(model: Path, out: Path) -> int:
    """Write the training rows forecast trained on (each series' log-returns before the
    validation start, standardised per series) to ``out`` (.npz); returns their windows."""
    import numpy as np
    import pandas as pd

    config = json.loads((model / "config.json").read_text())
    facts, target = config["facts"], config["data"]["target"]
    frame = pd.read_csv(model / "data.csv")
    dates = pd.to_datetime(frame.iloc[:, 0])
    frame = frame[dates < pd.Timestamp(facts["val_start"])]
    groups = (frame.groupby("series", sort=False) if "series" in frame.columns
              else [(facts["series"][0], frame)])
    arrays = []
    for name, rows in groups:
        if name not in facts["series"]:
            continue
        returns = np.diff(np.log(rows[target].to_numpy(dtype=float)))
        if len(returns) <= WINDOW:
            continue
        arrays.append(((returns - returns.mean()) / (returns.std() or 1.0)).astype(np.float32))
    np.savez(out, **{f"s{i}": a for i, a in enumerate(arrays)})
    return sum(len(a) - WINDOW for a in arrays)


def peer_run(python: Path, tool: str, series: Path, epochs: int, threads: int) -> dict:
    out = run_child([python, CHILD, tool, series, "--epochs", epochs, "--window", WINDOW,
                     "--units", UNITS, "--batch", BATCH, "--threads", threads, "--seed", SEED],
                    threads, f"{tool} on {series.stem}")
    return json.loads(out.strip().splitlines()[-1])


def table(rows: list[list], headers: list[str]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(out + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    venv = parser.add_mutually_exclusive_group()
    venv.add_argument("--venv", type=Path, help="the peers' venv (made by --make-venv)")
    venv.add_argument("--make-venv", type=Path, metavar="PATH",
                      help="create or complete the peers' venv at PATH, then use it")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default="sp500,panel", help="sp500, panel or both")
    parser.add_argument("--panel", type=Path, default=PANEL)
    parser.add_argument("--keep", type=Path, help="keep the model directories here")
    args = parser.parse_args()
    wanted = [d.strip() for d in args.data.split(",") if d.strip()]
    if not wanted or set(wanted) - {"sp500", "panel"}:
        parser.error("--data takes sp500, panel or both, comma-separated")
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is not counted)")
    python = None
    if args.make_venv:
        python = make_venv(args.make_venv.resolve())
    elif args.venv:
        python = args.venv.resolve() / "bin" / "python"
        if not python.exists():
            parser.error(f"{python} not found: create the venv with --make-venv {args.venv}")

    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        measure(args, python, args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="peers-") as work:
            measure(args, python, Path(work))


def measure(args, python: Path | None, work: Path) -> None:
    wanted = [d.strip() for d in args.data.split(",") if d.strip()]
    datasets = {"sp500": ("sp500", SP500, []),
                "panel": ("panel", args.panel.resolve(), ["--test-start", PANEL_TEST_START])}
    rows, versions = [], {}

    def report(label: str, result: dict, darts: dict | None) -> None:
        rate = result["windows_per_second"]
        ratio = f"{rate / darts['windows_per_second']:.2f}x" if darts else ""
        rows.append([label, f"{result['windows_per_epoch']:,}", f"{rate:,.0f}", ratio])
        seconds = ", ".join(f"{s:.2f}" for s in result["epoch_seconds"])
        print(f"  {label}: {rate:,.0f} windows/s (epoch seconds {seconds})", file=sys.stderr)

    for key in wanted:
        name, data, extra = datasets[key]
        model = work / f"forecast-{name}"
        print(f"{name}: forecast, same network", file=sys.stderr)
        ours = forecast_run(data, [*extra, *SAME_NETWORK], model, args.epochs, args.threads)
        versions["tensorflow"] = ours["version"]
        runs = [(f"forecast, {name}" + (f" ({ours['series']} series), same network"
                                        if key == "panel" else ""), ours)]
        if key == "panel":
            print(f"{name}: forecast, defaults", file=sys.stderr)
            runs.append((f"forecast, {name}, defaults (quantiles, derived inputs)",
                         forecast_run(data, extra, work / f"forecast-{name}-defaults",
                                      args.epochs, args.threads)))
        peers = {}
        if python:
            series = work / f"{name}.npz"
            windows = peer_series(model, series)
            if windows != ours["windows_per_epoch"]:
                print(f"  note: the peers get {windows:,} training windows, forecast "
                      f"{ours['windows_per_epoch']:,}", file=sys.stderr)
            for tool in PEERS:
                print(f"{name}: {tool}", file=sys.stderr)
                peers[tool] = peer_run(python, tool, series, args.epochs, args.threads)
                versions[tool] = peers[tool]["version"]
                versions["torch"] = peers[tool]["torch"]
        darts = peers.get("darts")
        for label, result in runs:
            report(label, result, darts)
        for tool, result in peers.items():
            report(f"{'Darts' if tool == 'darts' else tool}, {name}", result,
                   None if tool == "darts" else darts)

    print(f"One-step LSTM({UNITS}), window {WINDOW}, batch {BATCH}, Adam, MAE; {args.epochs} "
          f"epochs, windows per second over epochs 2-{args.epochs}; {args.threads} threads; "
          + ", ".join(f"{k} {v}" for k, v in versions.items()) + "\n")
    print(table(rows, ["run", "training windows / epoch", "windows / s", "vs Darts"]))
    if not python:
        print("\n(peers not run: pass --venv PATH, or --make-venv PATH to create it)")


if __name__ == "__main__":
    main()
