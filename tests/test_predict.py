import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.bundle import Bundle, read_bundle
from forecast.config import ForecastConfig, ModelConfig, TrainConfig
from forecast.data import read_prices
from forecast.errors import DataError, UsageError
from forecast.intervals import Calibration
from forecast.predict import Forecaster, future_dates, load_predictor
from forecast.transforms import MinMaxScaler, SeriesScaler, apply_transform
from tests.conftest import TINY, price_frame


def hand_bundle(prices, kind="level", window=3, horizon=1) -> Bundle:
    """A model directory in memory whose predictor the test supplies."""
    values = prices.frame.to_numpy(float)
    config = ForecastConfig(model=ModelConfig(window=window, horizon=horizon),
                            training=TrainConfig(target_transform=kind),
                            columns=prices.columns)
    one = MinMaxScaler().fit(apply_transform(values, kind)[:100])
    scaler = SeriesScaler(prices.names, one.data_min_[None], one.data_max_[None])
    calibration = Calibration("log", [np.linspace(0.1, 3, 99)] * horizon)
    return Bundle(Path("hand"), config, scaler, {}, calibration, pd.DataFrame())


@pytest.fixture
def prices(prices_csv):
    return read_prices(prices_csv)


def test_a_last_value_model_backtests_to_the_naive_forecast_exactly(prices):
    bundle = hand_bundle(prices, "level", window=3)
    table = Forecaster(bundle, prices, lambda X: X[:, -1, :1]).backtest()
    close = prices.frame["Close"].to_numpy()
    assert table["date"].iloc[0] == prices.frame.index[3]  # first row with 3 rows before it
    np.testing.assert_allclose(table["predicted"], close[2:-1], rtol=1e-12)
    np.testing.assert_allclose(table["actual"], close[3:])


def test_a_zero_return_model_backtests_to_the_naive_forecast(prices):
    bundle = hand_bundle(prices, "log-return", window=4)
    zero = bundle.scaler.transform(np.zeros((1, 1)), np.array([0]))[0, 0]
    table = Forecaster(bundle, prices, lambda X: np.full((len(X), 1), zero)).backtest()
    close = prices.frame["Close"].to_numpy()
    assert table["date"].iloc[0] == prices.frame.index[5]  # 4 returns need 5 prices
    np.testing.assert_allclose(table["predicted"], close[4:-1], rtol=1e-12)


def test_step_k_is_the_forecast_made_k_rows_earlier(prices):
    bundle = hand_bundle(prices, "level", window=3, horizon=3)
    repeat_last = lambda X: np.repeat(X[:, -1, :1], 3, axis=1)  # noqa: E731
    close = prices.frame["Close"].to_numpy()
    for k in (1, 2, 3):
        table = Forecaster(bundle, prices, repeat_last).backtest(step=k)
        np.testing.assert_allclose(table["actual"], close[2 + k:])
        np.testing.assert_allclose(table["predicted"], close[2:-k], rtol=1e-12)
    with pytest.raises(UsageError, match="--step must be between 1"):
        Forecaster(bundle, prices, repeat_last).backtest(step=4)


def test_the_forecast_for_row_t_does_not_depend_on_row_t(tiny_model):
    bundle = read_bundle(tiny_model)
    prices = bundle.data()
    predictor = load_predictor(bundle, "keras")
    base = Forecaster(bundle, prices, predictor).backtest()
    t = 200
    changed = prices.frame.copy()
    changed.iloc[t, 0] *= 1.5
    moved = Forecaster(bundle, dataclasses.replace(prices, values=changed.to_numpy(float)),
                       predictor).backtest()
    date = prices.frame.index[t]
    i = int(np.flatnonzero(base["date"] == date)[0])
    assert moved["predicted"].iloc[i] == base["predicted"].iloc[i]
    assert moved["predicted"].iloc[i + 1] != base["predicted"].iloc[i + 1]
    np.testing.assert_array_equal(moved["predicted"].iloc[:i + 1], base["predicted"].iloc[:i + 1])


def test_recursion_beyond_the_horizon_equals_a_manual_recursion(prices):
    bundle = hand_bundle(prices, "level", window=4, horizon=2)
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    predictor = lambda X: np.stack([X[:, :, 0] @ weights, X[:, :, 0] @ weights[::-1]], 1)  # noqa
    forecaster = Forecaster(bundle, prices, predictor)
    got = forecaster.future(steps=5)["predicted"].to_numpy()
    series = list(forecaster.prepared.scaled[:, 0])
    while len(series) < len(forecaster.prepared.scaled) + 5:
        last = np.array(series[-4:])
        series += [last @ weights, last @ weights[::-1]]
    expected = bundle.scaler.inverse_column(np.array(series[-6:-1]), 0)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_future_dates_continue_the_spacing():
    fridays = pd.bdate_range("2020-01-01", "2020-01-10")
    assert [d.strftime("%a %d") for d in future_dates(fridays, 3)] == ["Mon 13", "Tue 14",
                                                                       "Wed 15"]
    hourly = pd.date_range("2020-01-01", periods=10, freq="h")
    assert future_dates(hourly, 2)[-1] == pd.Timestamp("2020-01-01 11:00")
    daily = pd.date_range("2020-01-01", periods=10, freq="D")
    assert future_dates(daily, 1)[0] == pd.Timestamp("2020-01-11")


def test_intervals_are_ordered_around_the_forecast(tiny_model):
    bundle = read_bundle(tiny_model)
    forecaster = Forecaster(bundle, bundle.data(), load_predictor(bundle))
    for table in (forecaster.future(5, 0.8), forecaster.backtest(1, 0.8)):
        assert (table["lower"] <= table["predicted"]).all()
        assert (table["predicted"] <= table["upper"]).all()
    wide = forecaster.future(5, 0.95)
    narrow = forecaster.future(5, 0.5)
    assert (wide["upper"] - wide["lower"] > narrow["upper"] - narrow["lower"]).all()
    # later steps are less certain
    assert np.all(np.diff(wide["upper"] - wide["lower"]) > 0)


def test_too_few_rows_says_how_many(tiny_model, write_csv):
    bundle = read_bundle(tiny_model)
    frame = price_frame(5)
    path = write_csv(frame.to_csv(index=False))
    with pytest.raises(DataError, match="has 5 rows; the model needs at least 6"):
        Forecaster(bundle, read_prices(path), load_predictor(bundle))


# Through the CLI.

def test_predict_future_csv_on_stdout(cli, tiny_model):
    result = cli("predict", "--model", tiny_model, "--steps", "3")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "date,predicted" and len(lines) == 4
    frame = price_frame(300)
    assert pd.Timestamp(lines[1].split(",")[0]) > pd.Timestamp(frame["Date"].iloc[-1])


def test_predict_backtest_from_stdin_with_json(cli, tiny_model):
    text = price_frame(300).to_csv(index=False)
    result = cli("predict", "-", "--model", tiny_model, "--backtest", "--json",
                 "--interval", "0.8", input=text)
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) == 300 - 6 and set(records[0]) == {"date", "actual", "predicted",
                                                           "lower", "upper"}


def test_predict_many_files_adds_a_series_column(cli, tiny_model, tmp_path):
    for name in ("a.csv", "b.csv"):
        price_frame(50, seed=len(name)).to_csv(tmp_path / name, index=False)
    result = cli("predict", "a.csv", "b.csv", "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "series,date,predicted"
    assert [l.split(",")[0] for l in lines[1:]] == ["a", "b"]
    assert "2 series not in the model's training data (a, b)" in result.stderr


def test_predict_without_model_uses_the_newest_and_says_so(cli, tiny_model, tmp_path):
    shutil.copytree(tiny_model, tmp_path / "models" / "tiny")
    result = cli("predict")
    assert result.exit_code == 0, result.stderr
    assert "using model models/tiny" in result.stderr


PREDICT_ERRORS = [
    (["--model", "nowhere"], "model directory nowhere does not exist"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--interval", "1.5"], "--interval must be between 0 and 1"),
    (["--backtest", "--step", "2"], "--step must be between 1 and the model's horizon (1)"),
]


@pytest.mark.parametrize("args,message", PREDICT_ERRORS, ids=[a[0][-1] for a in PREDICT_ERRORS])
def test_predict_errors(cli, tiny_model, args, message):
    full = ["predict", *args] if "--model" in args else ["predict", "--model", tiny_model, *args]
    result = cli(*full)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith("forecast: error:")
    assert message in result.stderr and result.stdout == ""


def test_predict_on_a_file_without_the_model_columns(cli, tiny_model, write_csv):
    path = write_csv("Date,Price\n2020-01-02,1\n2020-01-03,2\n")
    result = cli("predict", path, "--model", tiny_model)
    assert result.exit_code == 2
    assert "lacks column(s) Close that the model" in result.stderr


def test_a_model_with_extra_features_cannot_roll_past_its_horizon(cli, prices_csv):
    result = cli("train", prices_csv, *TINY, "--features", "Open,Volume", "--model-dir", "mf")
    assert result.exit_code == 0, result.stderr
    assert cli("predict", "--model", "mf", "--steps", "1").exit_code == 0
    result = cli("predict", "--model", "mf", "--steps", "3")
    assert result.exit_code == 2 and "whose future values are unknown" in result.stderr


def test_evaluate_table_and_json(cli, tiny_model):
    result = cli("evaluate", "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    assert "test rows (never seen in training)" in result.stdout
    assert "naive" in result.stdout and "drift" in result.stdout
    payload = json.loads(cli("evaluate", "--model", tiny_model, "--json").stdout)
    assert payload["test"]["rows"] == 60
    assert payload["all"]["naive"]["rel_mae"] == 1.0
    assert 0 <= payload["test"]["interval"]["coverage"] <= 1


def test_backtest_piped_into_head_exits_quietly(tiny_model, tmp_path):
    import subprocess
    import sys
    big = tmp_path / "big.csv"
    price_frame(3000).to_csv(big, index=False)
    cmd = (f"cat {big} | {sys.executable} -m forecast predict - --model {tiny_model} "
           "--backtest | head -n 3")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                          timeout=120)
    assert done.stdout.decode().splitlines()[0] == "date,actual,predicted"
    assert len(done.stdout.splitlines()) == 3
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr
