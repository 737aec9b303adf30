"""Shared fixtures: small CSVs, the CLI runner, and a quiet TensorFlow."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]
SP500 = ROOT / "data" / "sp500.csv"


def price_frame(rows: int = 300, seed: int = 0, start: str = "2020-01-01",
                freq: str = "B") -> pd.DataFrame:
    """A random-walk OHLCV frame on business days, strictly positive."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0005, 0.01, rows)))
    return pd.DataFrame({
        "Date": pd.date_range(start, periods=rows, freq=freq).strftime("%Y-%m-%d"),
        "Open": close * (1 + rng.normal(0, 0.002, rows)),
        "High": close * 1.01,
        "Low": close * 0.99,
        "Close": close,
        "Volume": rng.integers(1_000_000, 2_000_000, rows),
    })


@pytest.fixture
def prices_csv(tmp_path: Path) -> Path:
    path = tmp_path / "prices.csv"
    price_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write text (or bytes) to a CSV file in tmp_path and return its path."""
    def write(content, name: str = "input.csv") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path
    return write


@pytest.fixture
def cli(monkeypatch, tmp_path):
    """Run the CLI in-process from tmp_path; returns a Result with separate stdout/stderr."""
    from typer.testing import CliRunner

    from forecast.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(app, [str(a) for a in args], input=input, prog_name="forecast")
    return invoke


def run_forecast(*args, input: bytes | None = None, cwd=None, timeout=300, env=None):
    """Run `python -m forecast` in a fresh interpreter (for signals, pipes and imports)."""
    import subprocess
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "forecast", *map(str, args)], input=input,
                          capture_output=True, cwd=cwd, timeout=timeout, env=full_env)


TINY = ["--window", "5", "--units", "4", "--epochs", "2", "--batch-size", "32"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny LSTM trained for 2 epochs on 300 rows (shared: treat it as read-only)."""
    from typer.testing import CliRunner

    from forecast.cli import app

    root = tmp_path_factory.mktemp("tiny")
    csv = root / "prices.csv"
    price_frame(300).to_csv(csv, index=False)
    out = root / "model"
    result = CliRunner().invoke(app, ["train", str(csv), "--model-dir", str(out), *TINY],
                                prog_name="forecast")
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def tiny_panel_model(tmp_path_factory) -> Path:
    """A tiny default (quantile) model trained on a long file of two series, the second
    too short for a GARCH fit on its training rows (shared: treat it as read-only)."""
    from typer.testing import CliRunner

    from forecast.cli import app

    root = tmp_path_factory.mktemp("tiny_panel")
    a, b = price_frame(300, seed=1), price_frame(150, seed=2).iloc[:150]
    b["Date"] = a["Date"].iloc[-150:].to_numpy()
    frame = pd.concat([a.assign(symbol="AAA"), b.assign(symbol="BBB")])
    csv = root / "panel.csv"
    frame.to_csv(csv, index=False)
    out = root / "model"
    result = CliRunner().invoke(app, ["train", str(csv), "--model-dir", str(out), *TINY],
                                prog_name="forecast")
    assert result.exit_code == 0, result.stderr
    return out
