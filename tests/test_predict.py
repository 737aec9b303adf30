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
from tests.conftest import TINY, assert_advice_fits, price_frame


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


def intraday(days: int = 10, start: str = "2024-01-01", hours=range(9, 16)) -> pd.DatetimeIndex:
    """Hourly bars at 09:30 ... 15:30 on business days: nights and weekends missing."""
    return pd.DatetimeIndex([day + pd.Timedelta(hours=h, minutes=30)
                             for day in pd.bdate_range(start, periods=days) for h in hours])


SESSIONS = [
    ("a Friday's last bar: Monday's first bars", intraday(),
     ["2024-01-15 09:30", "2024-01-15 10:30"]),
    ("mid-session: the same day's next bars, then the next morning",
     intraday()[:-2], ["2024-01-12 14:30", "2024-01-12 15:30", "2024-01-15 09:30"]),
    ("a shorter session (10:00-14:00, every 2 hours), Wednesday",
     intraday(8, "2024-03-01", range(10, 15, 2)) - pd.Timedelta(minutes=30),
     ["2024-03-13 10:00", "2024-03-13 12:00", "2024-03-13 14:00", "2024-03-14 10:00"]),
    ("daily bars stamped 16:00: business days at 16:00",
     pd.bdate_range("2024-01-01", periods=15) + pd.Timedelta(hours=16),
     ["2024-01-22 16:00", "2024-01-23 16:00"]),
    ("bars every hour, around the clock, every day: hourly",
     pd.date_range("2024-01-05 00:00", periods=200, freq="h"),
     ["2024-01-13 08:00", "2024-01-13 09:00"]),
    ("a six-day week (Monday to Saturday) of 09:00-11:00 bars",
     pd.DatetimeIndex([d + pd.Timedelta(hours=h) for d in pd.date_range("2024-01-01", "2024-01-20")
                       if d.day_of_week < 6 for h in (9, 10, 11)]),
     ["2024-01-22 09:00"]),
]


@pytest.mark.parametrize("name,index,expected", SESSIONS, ids=[c[0] for c in SESSIONS])
def test_intraday_future_dates_follow_the_sessions_the_data_shows(name, index, expected):
    got = future_dates(index, len(expected))
    assert [d.strftime("%Y-%m-%d %H:%M") for d in got] == expected
    many = future_dates(index, 500)
    assert len(many) == 500 and many.is_monotonic_increasing and many[0] > index[-1]
    seen_times = set((index - index.normalize()).to_numpy())
    assert set((many - many.normalize()).to_numpy()) <= seen_times
    assert set(many.day_of_week) <= set(index.day_of_week)


def test_a_file_with_utc_offsets_forecasts_no_weekend(write_csv):
    """Monday 00:00+09:00 is Monday: no shift to UTC, so no Sundays in the future dates."""
    days = pd.bdate_range("2024-01-01", periods=30)
    path = write_csv("Date,Close\n" + "".join(f"{d:%Y-%m-%d}T00:00:00+09:00,{100 + i}\n"
                                              for i, d in enumerate(days)))
    index = read_prices(path).frame.index
    assert list(index) == list(days)
    assert (future_dates(index, 10).day_of_week < 5).all()


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
    with pytest.raises(DataError, match=r"has 5 usable row\(s\); the model needs at least 6"):
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
    (["--steps", "3", "--backtest"], "--steps is for future forecasts and --backtest forecasts "
                                     "every row instead; drop one"),
    (["--step", "3"], "--step applies only with --backtest"),
    (["--step", "1"], "--step applies only with --backtest"),
    (["--backtest", "--steps", "1"], "drop one"),
    (["--interval", "0.999"], "--interval 0.999 is wider than the model's 30 calibration "
                              "forecast(s) can support (at most 30/31 = 0.9677); use "
                              "--interval 0.967 or less"),
    (["--backtest", "--interval", "0.97"], "at most 30/31 = 0.9677"),
    (["--steps", "100000"], "--steps 100000 would run past 2262-04-11, the last date pandas "
                            "can represent; after 2021-02-23 this series has room for about"),
    (["--date-format", "dmy"], "--date-format must be day-first, month-first"),
]


@pytest.mark.parametrize("args,message", PREDICT_ERRORS, ids=[" ".join(a[0]) for a in PREDICT_ERRORS])
def test_predict_errors(cli, tiny_model, args, message):
    full = ["predict", *args] if "--model" in args else ["predict", "--model", tiny_model, *args]
    if "--date-format" in args:
        full.insert(1, tiny_model / "data.csv")
    result = cli(*full)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("forecast: error:")
    assert message in result.stderr and result.stdout == ""
    assert_advice_fits("predict", result.stderr)


def test_the_widest_supported_level_is_finite_and_one_more_is_refused(prices):
    bundle = hand_bundle(prices, "level", window=3)     # 99 calibration scores
    forecaster = Forecaster(bundle, prices, lambda X: X[:, -1, :1])
    widest = forecaster.future(3, 99 / 100)
    assert np.isfinite(widest[["lower", "upper"]].to_numpy()).all()
    for level in (0.991, 0.9999):
        with pytest.raises(UsageError, match=r"at most 99/100 = 0\.99\); use --interval 0\.99 or less"):
            forecaster.backtest(1, level)
    few = Bundle(bundle.path, bundle.config, bundle.scaler, {},
                 Calibration("log", [np.array([0.5, 1.0, 2.0])]), bundle.history)
    with pytest.raises(UsageError, match=r"model's 3 calibration forecast\(s\) can support "
                                         r"\(at most 3/4 = 0\.75\)"):
        Forecaster(few, prices, lambda X: X[:, -1, :1]).future(1, 0.8)


def test_without_interval_evaluate_shows_the_widest_level_the_model_supports(prices):
    from forecast.predict import default_level

    notes = []
    three = Calibration("log", [np.array([0.5, 1.0, 2.0])])
    assert default_level(three, warn=notes.append) == 0.75
    assert notes == ["the model's calibration supports intervals up to 0.75 only; showing "
                     "0.75 instead of 0.8"]
    assert default_level(Calibration("log", [np.arange(1.0, 10)]), warn=notes.append) == 0.8
    assert len(notes) == 1
    # a later step with fewer scores is the one that limits a multi-step forecast
    steps = Calibration("log", [np.arange(1.0, 10), np.arange(1.0, 3)])
    assert default_level(steps, 1, warn=notes.append) == 0.8
    assert default_level(steps, 2, warn=notes.append) == pytest.approx(0.666)


def test_an_out_of_range_forecast_is_refused_before_any_prediction(prices):
    calls = []
    bundle = hand_bundle(prices, "level", window=3)

    def predictor(X):
        calls.append(len(X))
        return X[:, -1, :1]
    forecaster = Forecaster(bundle, prices, predictor)
    with pytest.raises(UsageError, match="would run past 2262-04-11"):
        forecaster.future(10**6)
    with pytest.raises(UsageError, match="would run past 2262-04-11"):
        forecaster.future(10**12)
    assert calls == []
    near = prices.frame.index[-1] + pd.offsets.BDay(1) * 2000
    assert forecaster.future(2000)["date"].iloc[-1] == near


def test_a_long_recursion_calls_the_model_once_per_step_on_the_last_window(prices):
    bundle = hand_bundle(prices, "level", window=4, horizon=1)
    seen = []

    def predictor(X):
        seen.append(X.copy())
        return X[:, -1, :1] * 0.5 + 0.25
    forecaster = Forecaster(bundle, prices, predictor)
    got = forecaster.future(steps=300)["predicted"].to_numpy()
    assert len(seen) == 300 and all(x.shape == (1, 4, 1) for x in seen)
    series = list(forecaster.prepared.scaled[-4:, 0])
    for _ in range(300):
        series.append(series[-1] * 0.5 + 0.25)
    np.testing.assert_allclose(got, bundle.scaler.inverse_column(np.array(series[4:]), 0))
    np.testing.assert_allclose(seen[-1][0, :, 0], series[-5:-1])


def test_a_log_return_model_refusing_a_zero_price_advises_only_what_predict_takes(
        cli, tiny_model, tmp_path):
    frame = price_frame(50)
    frame.loc[30, "Close"] = 0.0
    frame.to_csv(tmp_path / "zero.csv", index=False)
    result = cli("predict", "zero.csv", "--model", tiny_model)
    assert result.exit_code == 2
    assert "zero.csv line 32, column 'Close': value 0 is not positive" in result.stderr
    assert "`forecast train --target-transform level`" in result.stderr
    assert_advice_fits("predict", result.stderr)


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


def test_predict_reads_a_file_as_the_model_was_trained_or_by_its_own_columns(cli, tmp_path):
    days = pd.bdate_range("2020-01-01", periods=60)
    values = 100 + np.arange(60) * 0.125
    euro = "Date;Close\n" + "".join(f"{d:%d.%m.%Y};" + f"{v:.3f}".replace(".", ",") + "\n"
                                      for d, v in zip(days, values))
    (tmp_path / "euro.csv").write_text(euro)
    result = cli("train", "euro.csv", *TINY, "--date-format", "day-first", "--decimal", ",",
                 "--model-dir", "m", "--test-fraction", "0.3")
    assert result.exit_code == 0, result.stderr
    tail = "Date;Close\n" + "".join(line + "\n" for line in euro.splitlines()[-12:])
    (tmp_path / "tail.csv").write_text(tail)     # alone, 107,250 could be 107250
    from_model = cli("predict", "tail.csv", "--model", "m", "--backtest")
    assert from_model.exit_code == 0, from_model.stderr
    expected = [f"{d:%Y-%m-%d},{v:g}" for d, v in zip(days[-6:], values[-6:])]
    assert [",".join(l.split(",")[:2]) for l in from_model.stdout.splitlines()[1:]] == expected
    # a file the model's decimal comma would misread (100.125 as 100125) is read by its own
    # columns: 100.25 settles the decimal point
    (tmp_path / "iso.csv").write_text("Date,Close\n" + "".join(
        f"{d:%Y-%m-%d},{v}\n" for d, v in zip(days, values)))
    iso = cli("predict", "iso.csv", "--model", "m", "--backtest")
    assert iso.exit_code == 0, iso.stderr
    assert [",".join(l.split(",")[:2]) for l in iso.stdout.splitlines()[-6:]] == expected
    alone = cli("inspect", "tail.csv")
    assert alone.exit_code == 2 and "pass --decimal" in alone.stderr
    override = cli("predict", "tail.csv", "--model", "m", "--backtest", "--decimal", ".")
    assert override.exit_code == 0, override.stderr
    assert float(override.stdout.splitlines()[1].split(",")[1]) == values[-6] * 1000
