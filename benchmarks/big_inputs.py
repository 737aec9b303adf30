"""Big inputs (issue 13): reading, training and predicting on millions of rows.

    .venv/bin/python benchmarks/big_inputs.py read      # 1M-row OHLCV CSV; 500-ticker CSV/Parquet
    .venv/bin/python benchmarks/big_inputs.py panel     # 5,000 tickers x 2,520 days, Parquet
        [--tickers 5000] [--days 2520] [--epochs 1]

Every figure is one fresh `forecast` process (wall seconds and peak RSS of the whole
process, `common.timed`), on files generated here with a fixed seed:

read: `forecast inspect` on a 1,000,000-row long OHLCV CSV (400 tickers x 2,500 business
days, Yahoo-like columns and precision, about 75 MB), and on the 500-ticker x 1,260-day long
panel of `benchmarks/panel.py speed` written as CSV and as Parquet.

panel: a long Parquet file of `--tickers` x `--days` closes (12.6 M rows by default):
`forecast inspect`; `forecast train --epochs 1` with the defaults otherwise (its training
throughput in windows per second from history.csv, the whole command's wall time and peak
memory); `forecast predict --steps 1` for every ticker.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import long_frame, table, throughput, timed

FORECAST = [sys.executable, "-m", "forecast"]


def run(args: list[str]) -> tuple[float, float]:
    wall, peak = timed([*FORECAST, *args])
    print(f"forecast {' '.join(args)}: {wall:.1f} s, {peak:.0f} MB", file=sys.stderr)
    return wall, peak


def read(work: Path) -> None:
    rows = []
    ohlcv = work / "ohlcv_1m.csv"
    long_frame(400, 2500, ohlcv=True).to_csv(ohlcv, index=False)
    size = ohlcv.stat().st_size / 1e6
    wall, peak = run(["inspect", str(ohlcv)])
    rows.append([f"1,000,000-row OHLCV CSV, 400 tickers ({size:.0f} MB)", "inspect",
                 f"{wall:.2f}", f"{peak:.0f}"])
    panel = long_frame(500, 1260)
    for suffix in ("csv", "parquet"):
        path = work / f"panel500.{suffix}"
        panel.to_csv(path, index=False) if suffix == "csv" else panel.to_parquet(path)
        size = path.stat().st_size / 1e6
        wall, peak = run(["inspect", str(path)])
        rows.append([f"500 tickers x 1,260 days, {suffix} ({size:.0f} MB)", "inspect",
                     f"{wall:.2f}", f"{peak:.0f}"])
    print(table(rows, ["file", "command", "wall s", "peak RSS MB"]))


def big_panel(work: Path, tickers: int, days: int, epochs: int) -> None:
    path = work / f"panel{tickers}.parquet"
    long_frame(tickers, days).to_parquet(path)
    size = path.stat().st_size / 1e6
    model = work / "model"
    rows = []
    wall, peak = run(["inspect", str(path)])
    rows.append(["inspect", f"{wall:.1f}", f"{peak:.0f}", ""])
    wall, peak = run(["train", str(path), "--epochs", str(epochs), "--model-dir", str(model)])
    rate, per_epoch = throughput(model)
    rows.append([f"train --epochs {epochs} (defaults otherwise)", f"{wall:.0f}", f"{peak:.0f}",
                 f"{per_epoch:,} windows per epoch at {rate:,.0f} windows/s "
                 f"({per_epoch / rate:.0f} s an epoch)"])
    wall, peak = run(["predict", "--model", str(model), "--steps", "1"])
    rows.append([f"predict --steps 1 (all {tickers:,} tickers)", f"{wall:.1f}", f"{peak:.0f}",
                 ""])
    print(f"{tickers:,} tickers x {days:,} business days = {tickers * days:,} rows, "
          f"long Parquet ({size:.0f} MB)\n")
    print(table(rows, ["command", "wall s", "peak RSS MB", "training"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["read", "panel"])
    parser.add_argument("--tickers", type=int, default=5000)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="big-inputs-") as work:
        if args.part == "read":
            read(Path(work))
        else:
            big_panel(Path(work), args.tickers, args.days, args.epochs)


if __name__ == "__main__":
    main()
