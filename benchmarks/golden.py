"""Golden outputs: the CLI's bytes on data/sp500.csv and panel20, to prove a refactoring
changes no behaviour.

Trains one model per data set through the real CLI (fixed seed, few epochs: training on
the CPU is deterministic for a seed), then records the stdout of `predict` (future, with
the band and quantiles), `predict --backtest`, `evaluate --json`
and `inspect --json`, and the model directory's own files (config.json without its time
stamp and package versions; everything else as written, model.keras aside: a zip archive
carries file times).

    .venv/bin/python benchmarks/golden.py record OUT_DIR      # before the change
    .venv/bin/python benchmarks/golden.py record OUT_DIR2     # after it
    .venv/bin/python benchmarks/golden.py compare OUT_DIR OUT_DIR2

`compare` prints each file that differs (and the first differing line) and exits 1 if
any does. About 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

#: name -> (training file, train options)
RUNS = {
    "sp500": (DATA / "sp500.csv", ["--epochs", "4", "--seed", "3"]),
    "panel20": (DATA / "panel20_long.csv", ["--epochs", "2", "--seed", "3",
                                            "--test-start", "2016-01-01"]),
}
#: output file -> the command after `forecast`, with {model} and {prices} filled in
COMMANDS = {
    "inspect.json": ["inspect", "{prices}", "--json"],
    "train.json": None,  # the train command's own --json output
    "predict.csv": ["predict", "--model", "{model}", "--steps", "5", "--interval", "0.8"],
    "predict-quantiles.csv": ["predict", "--model", "{model}", "--steps", "1", "--quantiles"],
    "backtest.csv": ["predict", "--model", "{model}", "--backtest", "--interval", "0.8",
                     "--quantiles"],
    "evaluate.json": ["evaluate", "{prices}", "--model", "{model}", "--json"],
}
#: Files of the model directory compared as written (model.keras is a zip with times in it).
MODEL_FILES = ("scaler.json", "metrics.json", "calibration.json", "intervals.json",
               "garch.json", "history.csv", "data.csv", "recent.csv", "weights.npz")
#: config.json keys that change from run to run by design.
VOLATILE = ("trained_at", "versions", "train_seconds")


def forecast(*args: str) -> bytes:
    env = {**os.environ, "FORECAST_PROGRESS_AFTER_S": "1e9", "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-m", "forecast", *args], capture_output=True,
                          env=env, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"forecast {' '.join(args)} failed ({done.returncode}): "
                 f"{done.stderr.decode()[-2000:]}")
    return done.stdout


def history_without_seconds(raw: bytes) -> bytes:
    """history.csv without its wall-clock column."""
    lines = raw.decode().splitlines()
    header = lines[0].split(",")
    if "seconds" not in header:
        return raw
    keep = [i for i, name in enumerate(header) if name != "seconds"]
    return ("\n".join(",".join(row.split(",")[i] for i in keep) for row in lines) + "\n").encode()


def record(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for name, (prices, options) in RUNS.items():
            model = Path(work) / name
            print(f"golden: training {name}", file=sys.stderr, flush=True)
            files = {"train.json": forecast("train", str(prices), "--model-dir", str(model),
                                            "--json", *options)}
            for file, command in COMMANDS.items():
                if command is not None:
                    print(f"golden: {name} {file}", file=sys.stderr, flush=True)
                    files[file] = forecast(*(part.format(model=model, prices=prices)
                                             for part in command))
            config = json.loads((model / "config.json").read_text())
            for key in VOLATILE:
                config.get("facts", {}).pop(key, None)
            files["config.json"] = json.dumps(config, indent=2, sort_keys=True).encode()
            for file in MODEL_FILES:
                if (model / file).is_file():
                    raw = (model / file).read_bytes()
                    files[f"model-{file}"] = history_without_seconds(raw) \
                        if file == "history.csv" else raw
            train = json.loads(files["train.json"])
            train["model_dir"] = name
            files["train.json"] = json.dumps(train, indent=2, sort_keys=True).encode()
            for file, raw in files.items():  # the temporary path is not the output's
                (out / f"{name}-{file}").write_bytes(raw.replace(str(model).encode(),
                                                                 name.encode()))
    for path in sorted(out.iterdir()):
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}  {path.name}")


def compare(a: Path, b: Path) -> int:
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    differ = 0
    for name in names:
        left, right = a / name, b / name
        if not (left.exists() and right.exists()):
            print(f"{name}: only in {a if left.exists() else b}")
            differ += 1
            continue
        if left.read_bytes() == right.read_bytes():
            continue
        differ += 1
        try:
            lines = zip(left.read_text().splitlines(), right.read_text().splitlines())
            first = next(((i, x, y) for i, (x, y) in enumerate(lines, 1) if x != y), None)
        except UnicodeDecodeError:
            first = None
        detail = f" (line {first[0]}: {first[1][:80]!r} vs {first[2][:80]!r})" if first else ""
        print(f"{name}: differs{detail}")
    print(f"{len(names) - differ} of {len(names)} files identical", file=sys.stderr)
    return 1 if differ else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("record").add_argument("out", type=Path)
    both = sub.add_parser("compare")
    both.add_argument("a", type=Path)
    both.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.what == "record":
        record(args.out)
    else:
        sys.exit(compare(args.a, args.b))


if __name__ == "__main__":
    main()
