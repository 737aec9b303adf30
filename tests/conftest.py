"""Shared fixtures: small CSVs, the CLI runner, and a quiet TensorFlow."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Progress lines come after a step takes a second of wall time, which a loaded machine can
# reach on a tiny file; tests that compare stderr exactly must not see them (their own
# test turns them on).
os.environ.setdefault("FORECAST_PROGRESS_AFTER_S", "1e9")

# Hypothesis profiles: `make test` (the default, "ci") draws the same examples on every run
# and machine, so the suite never flakes; `make fuzz` ("fuzz") hunts with many random ones.
settings.register_profile(
    "ci", derandomize=True, database=None, max_examples=150, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile(
    "fuzz", max_examples=5000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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


def interruptible() -> None:
    """``preexec_fn`` for a child the test will interrupt: Ctrl-C as a terminal sends it.

    A shell without job control starts background commands with SIGINT ignored, and a
    child inherits that (Python then never raises KeyboardInterrupt): a test run started
    that way would see `forecast` shrug off the SIGINT it sends."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_forecast(*args, input: bytes | None = None, cwd=None, timeout=300, env=None):
    """Run `python -m forecast` in a fresh interpreter (for signals, pipes and imports)."""
    import subprocess
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "forecast", *map(str, args)], input=input,
                          capture_output=True, cwd=cwd, timeout=timeout, env=full_env)


TINY = ["--window", "5", "--units", "4", "--epochs", "2", "--batch-size", "32"]
#: TINY, but the trained network is kept (no baseline guard) and learns fast enough that
#: its forecasts move from window to window. Tests of what the network drives (which window
#: feeds which forecast, which output column is which step, NumPy vs Keras) need this: a
#: model that forecasts one constant passes them whatever the code does.
MOVING = [*TINY, "--no-baseline-guard", "--learning-rate", "0.01", "--no-quantiles"]


def backtest_frame(stdout: str) -> pd.DataFrame:
    """`forecast predict --backtest` CSV output as a frame with parsed dates."""
    import io
    return pd.read_csv(io.StringIO(stdout), parse_dates=["date"])


def implied_steps(table: pd.DataFrame) -> np.ndarray:
    """The log-return each one-step backtest forecast implies over the previous actual
    price: what the network output, in price terms (rows - 1,)."""
    return np.log(table["predicted"].to_numpy()[1:] / table["actual"].to_numpy()[:-1])


def assert_forecasts_move(model_dir: Path) -> None:
    """Fail unless the model's one-step forecasts vary across windows by more than a
    hundredth of the data's own daily volatility (about 0.01 here): the network is in use.
    A model that forecasts one constant step gives 0 (to rounding); with targets centred
    on each series' median step, a 2-epoch network moves by a few hundredths."""
    from typer.testing import CliRunner

    from forecast.cli import app

    result = CliRunner().invoke(app, ["predict", "--model", str(model_dir), "--backtest"],
                                prog_name="forecast")
    assert result.exit_code == 0, result.stderr
    steps = implied_steps(backtest_frame(result.stdout))
    assert np.std(steps) > 1e-4, f"forecasts hardly move: std {np.std(steps):.2e}"


def train_tiny(root: Path, *extra: str, rows: int = 300) -> Path:
    """Train a MOVING model on price_frame(rows) in ``root``; check its forecasts move."""
    from typer.testing import CliRunner

    from forecast.cli import app

    csv = root / "prices.csv"
    price_frame(rows).to_csv(csv, index=False)
    out = root / "model"
    result = CliRunner().invoke(app, ["train", str(csv), "--model-dir", str(out), *MOVING,
                                      *extra], prog_name="forecast")
    assert result.exit_code == 0, result.stderr
    assert_forecasts_move(out)
    return out


def command_flags(command: str) -> set[str]:
    """Every option spelling that `forecast COMMAND` accepts."""
    import typer

    from forecast.cli import app

    params = typer.main.get_command(app).commands[command].params
    return {"--help", *(opt for p in params for opt in (*p.opts, *p.secondary_opts))}


def assert_advice_fits(command: str, message: str) -> None:
    """An error never advises a flag the failing command lacks: flags outside backquotes
    must be options of COMMAND, those inside `forecast OTHER ...` options of OTHER."""
    import re

    quoted = re.findall(r"`forecast (\w+)([^`]*)`", message)
    for other, text in quoted:
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text):
            assert flag in command_flags(other), f"{flag} is not a `{other}` option: {message}"
    bare = re.sub(r"`[^`]*`", "", message)
    for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", bare):
        assert flag in command_flags(command), f"{flag} is not a `{command}` option: {message}"


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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny LSTM trained for 2 epochs on 300 rows whose network is kept and whose
    forecasts move across windows (shared: treat it as read-only)."""
    return train_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_quantile_model(tmp_path_factory) -> Path:
    """A tiny model with the default settings (quantile outputs, derived volatility inputs,
    the guards on), trained for 2 epochs on 300 rows (shared: treat it as read-only)."""
    from typer.testing import CliRunner

    from forecast.cli import app

    root = tmp_path_factory.mktemp("tiny_quantile")
    csv = root / "prices.csv"
    price_frame(300).to_csv(csv, index=False)
    out = root / "model"
    result = CliRunner().invoke(app, ["train", str(csv), "--model-dir", str(out), *TINY],
                                prog_name="forecast")
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def tiny_model_h3(tmp_path_factory) -> Path:
    """The same with --horizon 3: three output columns that differ (read-only)."""
    return train_tiny(tmp_path_factory.mktemp("tiny_h3"), "--horizon", "3")
