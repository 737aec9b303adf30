"""Helpers shared by the benchmark scripts: run configurations, take medians, print tables."""

from __future__ import annotations

import dataclasses
import io
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
SP500 = ROOT / "data" / "sp500.csv"
sys.path.insert(0, str(ROOT))


def config_from(options: dict, features=()) :
    """A validated ForecastConfig from flat option names as the CLI spells them."""
    from forecast.config import DataConfig, ForecastConfig, ModelConfig, TrainConfig

    model_keys = {f for f in ModelConfig.__dataclass_fields__}
    train_keys = {f for f in TrainConfig.__dataclass_fields__}
    data_keys = {"derived"}
    unknown = set(options) - model_keys - train_keys - data_keys
    if unknown:
        raise ValueError(f"unknown options {unknown}")
    return ForecastConfig(
        data=DataConfig(features=list(features),
                        **{k: v for k, v in options.items() if k in data_keys}),
        model=ModelConfig(**{k: v for k, v in options.items() if k in model_keys}),
        training=TrainConfig(**{k: v for k, v in options.items() if k in train_keys}),
    ).validate()


def train_once(prices, options: dict, seed: int, features=()):
    """Train one configuration with one seed; returns the Trained result (quietly)."""
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    from forecast.training import run_training

    config = config_from({**options, "seed": seed}, features)
    config = dataclasses.replace(config, columns=prices.columns)
    return run_training(prices, config, stream=io.StringIO())


def median(values):
    return statistics.median(values)


def table(rows: list[list], headers: list[str]) -> str:
    """A Markdown table."""
    cells = [[str(c) for c in r] for r in rows]
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(out)


#: GNU time, to read a command's own peak memory (see ``timed``).
GNU_TIME = Path("/usr/bin/time")


def timed(args: list[str], cwd=ROOT, stdout=None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh process (which must succeed).

    The peak is the command's own, read by GNU time when it is there: Linux gives a child
    started with vfork (as subprocess does) the peak RSS of its parent until it execs, so
    a benchmark process that holds a big frame would otherwise be measured, not the
    command. Without GNU time the figure is at least the parent's own peak.
    """
    import subprocess
    import tempfile
    import time

    with tempfile.NamedTemporaryFile("r") as report:
        prefix = [str(GNU_TIME), "-f", "%M", "-o", report.name] if GNU_TIME.exists() else []
        start = time.perf_counter()
        proc = subprocess.Popen([*prefix, *map(str, args)], stdout=stdout or subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(map(str, args))}")
        peak_kb = int(report.read().split()[-1]) if prefix else usage.ru_maxrss
    return wall, peak_kb / 1024


def random_walks(tickers: int, days: int, seed: int):
    """(days,) business dates and (days, tickers) prices: random walks whose volatility
    clusters."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2000-01-03", periods=days)
    vol = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.05, (days, tickers)), axis=0) * 0.3)
    close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 1.0, (days, tickers)) * vol, axis=0))
    return dates, close


def long_frame(tickers: int, days: int, seed: int = 0, ohlcv: bool = False):
    """A long DataFrame ``date,symbol,close`` (``ohlcv``: Yahoo's Open, High, Low, Close,
    Adj Close and Volume) of ``tickers * days`` rows, dates as ISO text."""
    import numpy as np
    import pandas as pd

    dates, close = random_walks(tickers, days, seed)
    frame = pd.DataFrame({"date": np.repeat(dates.strftime("%Y-%m-%d"), tickers),
                          "symbol": np.tile([f"T{i:04d}" for i in range(tickers)], days)})
    c = close.ravel()
    if not ohlcv:
        frame["close"] = c.round(4)
        return frame
    rng = np.random.default_rng(seed + 1)
    spread = np.abs(rng.normal(0, 0.01, (2, c.size)))
    frame["Open"] = (c * (1 + rng.normal(0, 0.003, c.size))).round(6)
    frame["High"] = (c * (1 + spread[0])).round(6)
    frame["Low"] = (c * (1 - spread[1])).round(6)
    frame["Close"] = c.round(6)
    frame["Adj Close"] = (c * 0.97).round(6)
    frame["Volume"] = rng.integers(10_000, 10_000_000, c.size)
    return frame


def throughput(model: Path) -> tuple[float, int]:
    """Windows per second over the steady epochs (after the first; the only one if there
    is one) of a trained model directory, and the windows an epoch runs through: the
    training windows and the validation half that early stopping scores (the guard's half
    is not per epoch)."""
    import json

    import pandas as pd

    windows = json.loads((model / "config.json").read_text())["facts"]["windows"]
    seconds = pd.read_csv(model / "history.csv")["seconds"]
    steady = seconds.iloc[1:] if len(seconds) > 1 else seconds
    per_epoch = windows["train"] + windows["val"] // 2
    return per_epoch / float(steady.median()), per_epoch
