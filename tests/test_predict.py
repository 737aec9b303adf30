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
from forecast.transforms import MinMaxScaler, apply_transform
from tests.conftest import TINY, backtest_frame, implied_steps, price_frame


def hand_bundle(prices, kind="level", window=3, horizon=1) -> Bundle:
    """A model directory in memory whose predictor the test supplies."""
    values = prices.frame.to_numpy(float)
    config = ForecastConfig(model=ModelConfig(window=window, horizon=horizon),
                            training=TrainConfig(target_transform=kind),
                            columns=prices.columns)
    scaler = MinMaxScaler().fit(apply_transform(values, kind)[:100])
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
    zero = bundle.scaler.transform(np.zeros((1, 1)))[0, 0]
    table = Forecaster(bundle, prices, lambda X: np.full((len(X), 1), zero)).backtest()
    close = prices.frame["Close"].to_numpy()
    assert table["date"].iloc[0] == prices.frame.index[5]  # 4 returns need 5 prices
    np.testing.assert_allclose(table["predicted"], close[4:-1], rtol=1e-12)


def test_step_k_is_the_forecast_made_k_rows_earlier(prices):
    bundle = hand_bundle(prices, "level", window=3, horizon=3)
    # Column j forecasts the last value plus j hundredths (scaled): every column differs,
    # so reading the wrong column for --step k shows.
    last_plus = lambda X: X[:, -1, :1] + 0.01 * np.arange(3)  # noqa: E731
    close = prices.frame["Close"].to_numpy()
    for k in (1, 2, 3):
        table = Forecaster(bundle, prices, last_plus).backtest(step=k)
        np.testing.assert_allclose(table["actual"], close[2 + k:])
        np.testing.assert_allclose(table["predicted"],
                                   close[2:-k] + 0.01 * (k - 1) / bundle.scaler.scale_[0],
                                   rtol=1e-12)
    with pytest.raises(UsageError, match="--step must be between 1"):
        Forecaster(bundle, prices, last_plus).backtest(step=4)


@pytest.mark.parametrize("engine", ["numpy", "keras"])
def test_changing_row_t_moves_exactly_the_forecasts_whose_window_holds_it(cli, tiny_model,
                                                                          tmp_path, engine):
    # log-return model, window 5: row t enters the returns of rows t and t + 1, which sit
    # in the windows of the forecasts for rows t + 1 ... t + 6. No other forecast may move,
    # and above all not the forecast of row t itself.
    frame = price_frame(300)
    t = 200
    changed = frame.copy()
    changed.loc[t, "Close"] *= 1.05
    frame.to_csv(tmp_path / "base.csv", index=False)
    changed.to_csv(tmp_path / "changed.csv", index=False)
    tables = []
    for name in ("base.csv", "changed.csv"):
        result = cli("predict", name, "--model", tiny_model, "--backtest", "--engine", engine)
        assert result.exit_code == 0, result.stderr
        tables.append(backtest_frame(result.stdout).set_index("date")["predicted"])
    base, moved = tables
    dates = pd.to_datetime(frame["Date"])
    before, after = dates <= dates[t], dates > dates[t + 6]
    np.testing.assert_array_equal(moved[before.to_numpy()[6:]], base[before.to_numpy()[6:]])
    np.testing.assert_array_equal(moved[after.to_numpy()[6:]], base[after.to_numpy()[6:]])
    in_window = dates[t + 1:t + 7]
    assert (moved[in_window] != base[in_window]).all()


def test_a_backtest_row_is_the_future_forecast_of_the_rows_before_it(cli, tiny_model,
                                                                      tmp_path):
    # The strongest no-look-ahead check: the backtest forecast (and band) of row r is what
    # `predict` forecasts for the next row when given rows 0 .. r - 1 only.
    frame = price_frame(300)
    frame.to_csv(tmp_path / "all.csv", index=False)
    result = cli("predict", "all.csv", "--model", tiny_model, "--backtest", "--interval", "0.8")
    assert result.exit_code == 0, result.stderr
    backtest = backtest_frame(result.stdout).set_index("date")
    for r in (6, 150, 299):
        frame.iloc[:r].to_csv(tmp_path / "head.csv", index=False)
        result = cli("predict", "head.csv", "--model", tiny_model, "--steps", "1",
                     "--interval", "0.8")
        assert result.exit_code == 0, result.stderr
        future = backtest_frame(result.stdout).iloc[0]
        assert future["date"] == pd.Timestamp(frame["Date"].iloc[r])
        row = backtest.loc[future["date"]]
        for column in ("predicted", "lower", "upper"):
            assert future[column] == pytest.approx(row[column], rel=1e-9), column


@pytest.mark.parametrize("k", [1, 2, 3])
def test_step_k_backtest_is_step_k_of_the_future_forecast_k_rows_earlier(cli, tiny_model_h3,
                                                                          tmp_path, k):
    frame = price_frame(300)
    frame.to_csv(tmp_path / "all.csv", index=False)
    result = cli("predict", "all.csv", "--model", tiny_model_h3, "--backtest", "--step", k)
    assert result.exit_code == 0, result.stderr
    backtest = backtest_frame(result.stdout).set_index("date")
    for r in (100, 299):
        frame.iloc[:r - k + 1].to_csv(tmp_path / "head.csv", index=False)
        result = cli("predict", "head.csv", "--model", tiny_model_h3, "--steps", "3")
        assert result.exit_code == 0, result.stderr
        future = backtest_frame(result.stdout)
        assert future["date"].iloc[k - 1] == pd.Timestamp(frame["Date"].iloc[r])
        assert future["predicted"].iloc[k - 1] == pytest.approx(
            backtest.loc[future["date"].iloc[k - 1], "predicted"], rel=1e-9)
    # and the three steps are three different forecasts, so a wrong column would show
    assert future["predicted"].nunique() == 3


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


def test_future_dates_of_irregular_rows_step_by_the_median_gap():
    index = pd.to_datetime(["2020-01-01", "2020-01-03", "2020-01-04", "2020-01-07",
                            "2020-01-09", "2020-01-10", "2020-01-13"])   # median gap 2 days
    assert list(future_dates(index, 2)) == list(pd.to_datetime(["2020-01-15", "2020-01-17"]))


def test_future_dates_keep_to_business_days_across_a_holiday_gap():
    # Christmas and New Year missing: no regular frequency, yet still business days.
    days = pd.bdate_range("2019-12-02", "2020-01-10").drop(pd.to_datetime(["2019-12-25",
                                                                             "2020-01-01"]))
    assert [d.strftime("%a %d") for d in future_dates(days, 3)] == ["Mon 13", "Tue 14",
                                                                    "Wed 15"]


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


def test_band_half_width_is_the_quantile_times_the_volatility_at_the_origin(cli, tiny_model):
    from forecast import intervals

    cal = Calibration.from_dict(json.loads((tiny_model / "calibration.json").read_text()))
    close = price_frame(300)["Close"].to_numpy()
    vol = intervals.volatility(close, "log")
    assert np.all(np.diff(vol[6:]) != 0)  # each row's volatility differs from the next
    # (CSV prices have 10 significant digits: half-widths of about 0.01 agree to 1e-6)
    result = cli("predict", "--model", tiny_model, "--backtest", "--interval", "0.8")
    table = backtest_frame(result.stdout)
    origin = np.arange(6, 300) - 1          # the last row known when row r is forecast
    half = np.log(table["upper"] / table["predicted"])
    np.testing.assert_allclose(half, cal.quantile(0.8) * vol[origin], rtol=1e-6)
    np.testing.assert_allclose(np.log(table["predicted"] / table["lower"]), half, rtol=1e-6)
    result = cli("predict", "--model", tiny_model, "--steps", "4", "--interval", "0.8")
    future = backtest_frame(result.stdout)
    np.testing.assert_allclose(np.log(future["upper"] / future["predicted"]),
                               [cal.quantile(0.8, k) * vol[-1] for k in (1, 2, 3, 4)],
                               rtol=1e-6)


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


def test_predict_many_files_is_each_file_alone_with_a_source_column(cli, tiny_model, tmp_path):
    for name in ("a.csv", "b.csv"):
        price_frame(50, seed=len(name)).to_csv(tmp_path / name, index=False)
    price_frame(50, seed=9).to_csv(tmp_path / "b.csv", index=False)
    for args in ([], ["--backtest"]):
        result = cli("predict", "a.csv", "b.csv", "--model", tiny_model, *args)
        assert result.exit_code == 0, result.stderr
        both = backtest_frame(result.stdout)
        assert list(both.columns[:2]) == ["source", "date"]
        for name in ("a.csv", "b.csv"):
            alone = backtest_frame(cli("predict", name, "--model", tiny_model, *args).stdout)
            mine = both[both["source"] == name].drop(columns="source").reset_index(drop=True)
            pd.testing.assert_frame_equal(mine, alone)
    a, b = (both[both["source"] == n] for n in ("a.csv", "b.csv"))
    # same dates, different prices: the network must give different forecasts
    assert (a["date"].to_numpy() == b["date"].to_numpy()).all()
    assert not np.allclose(implied_steps(a), implied_steps(b), rtol=0, atol=1e-4)


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


def test_evaluate_scores_are_the_backtest_scored_by_hand(cli, tiny_model):
    result = cli("evaluate", "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    assert "test rows (never seen in training)" in result.stdout
    assert "naive" in result.stdout and "drift" in result.stdout
    payload = json.loads(cli("evaluate", "--model", tiny_model, "--json").stdout)
    table = backtest_frame(cli("predict", "--model", tiny_model, "--backtest",
                               "--interval", "0.8").stdout)
    table["previous"] = price_frame(300)["Close"].to_numpy()[5:-1]
    test_start = read_bundle(tiny_model).config.facts["test_start"]
    # (the CSV has 10 significant digits, hence rel=1e-7)
    for name, rows in (("all", table), ("test", table[table["date"] >= test_start])):
        scores = payload[name]
        assert scores["rows"] == len(rows) == {"all": 294, "test": 60}[name]
        model = np.mean(np.abs(rows["actual"] - rows["predicted"]))
        naive = np.mean(np.abs(rows["actual"] - rows["previous"]))
        assert scores["model"]["mae"] == pytest.approx(model, rel=1e-7)
        assert scores["naive"]["mae"] == pytest.approx(naive, rel=1e-7)
        assert scores["model"]["rel_mae"] == pytest.approx(model / naive, rel=1e-7)
        # MASE divides by the naive MAE on the training rows (0 .. 209), not on the file
        train_naive = np.mean(np.abs(np.diff(price_frame(300)["Close"].to_numpy()[:210])))
        assert scores["model"]["mase"] == pytest.approx(model / train_naive, rel=1e-7)
        inside = (rows["lower"] <= rows["actual"]) & (rows["actual"] <= rows["upper"])
        assert scores["interval"]["coverage"] == pytest.approx(inside.mean(), abs=1e-12)
    # a kept network on a random walk is not the naive forecast
    assert payload["test"]["model"]["rel_mae"] != pytest.approx(1.0, abs=1e-3)


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
