import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.bundle import Bundle, read_bundle
from forecast.config import DataConfig, ForecastConfig, ModelConfig, TrainConfig
from forecast.data import read_prices
from forecast.errors import DataError, UsageError
from forecast.intervals import Calibration
from forecast.predict import Forecaster, future_dates, load_predictor
from forecast.transforms import MinMaxScaler, SeriesScaler, apply_transform
from tests.conftest import TINY, price_frame


def hand_bundle(prices, kind="level", window=3, horizon=1) -> Bundle:
    """A model directory in memory whose predictor the test supplies."""
    values = prices.frame.to_numpy(float)
    config = ForecastConfig(DataConfig(derived=[]),
                            ModelConfig(window=window, horizon=horizon, quantiles=[]),
                            TrainConfig(target_transform=kind), columns=prices.columns)
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


# Quantile models (the default) and their intervals, through the CLI.

def read_table_output(text):
    import io
    return pd.read_csv(io.StringIO(text))


def strict_json(text):
    """json.loads that refuses NaN and Infinity, as strict JSON readers do."""
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_predict_quantiles_writes_one_column_per_level_in_price_units(cli, tiny_model):
    result = cli("predict", "--model", tiny_model, "--backtest", "--quantiles")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "date,actual,predicted,q0.1,q0.5,q0.9"
    table = read_table_output(result.stdout)
    np.testing.assert_allclose(table["q0.5"], table["predicted"], rtol=1e-9)
    assert (np.abs(table["q0.1"] / table["actual"] - 1) < 0.1).all()     # price units
    result = cli("predict", "--model", tiny_model, "--quantiles", "--interval", "0.8")
    assert result.stdout.splitlines()[0] == "date,predicted,lower,upper,q0.1,q0.5,q0.9"
    result = cli("predict", "--model", tiny_model, "--quantiles", "--steps", "3")
    assert result.exit_code == 2 and "--quantiles gives the model's 1-step horizon" \
        in result.stderr


def test_predict_quantiles_for_a_panel_follow_the_series_column(cli, tiny_panel_model):
    result = cli("predict", "--model", tiny_panel_model, "--quantiles", "--backtest")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "series,date,actual,predicted,q0.1,q0.5,q0.9"
    table = read_table_output(result.stdout)
    assert set(table["series"]) == {"AAA", "BBB"}


def test_quantiles_never_cross_even_when_cqr_narrows_them_past_the_median(cli, tiny_model,
                                                                         tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model, copy)
    raw = json.loads((copy / "intervals.json").read_text())
    pair = raw["pairs"][0]
    pair["band"] = "quantiles"
    scores = pair["calibration"]["step_scores"][0]
    pair["calibration"]["step_scores"][0] = [-0.5] * len(scores)   # Q far below 0
    (copy / "intervals.json").write_text(json.dumps(raw))
    for args in (["--backtest"], ["--steps", "1"]):
        result = cli("predict", "--model", copy, "--quantiles", "--interval", "0.8", *args)
        assert result.exit_code == 0, result.stderr
        table = read_table_output(result.stdout)
        assert (table["q0.1"] <= table["q0.5"]).all() and (table["q0.5"] <= table["q0.9"]).all()
        np.testing.assert_allclose(table["q0.5"], table["predicted"], rtol=1e-9)
        assert (table["lower"] <= table["upper"]).all()


def test_pinball_loss_end_to_end_matches_a_hand_computation(cli, tiny_model):
    bundle = read_bundle(tiny_model)
    test_start = pd.Timestamp(bundle.config.facts["test_start"])
    result = cli("predict", "--model", tiny_model, "--backtest", "--quantiles", "--interval",
                 "0.8")
    table = read_table_output(result.stdout)
    test = table[pd.to_datetime(table["date"]) >= test_start]
    y = test["actual"].to_numpy()

    def pinball(q, tau):
        u = y - q
        return np.mean(np.where(u >= 0, tau * u, (tau - 1) * u))
    levels = {"q0.1": 0.1, "q0.5": 0.5, "q0.9": 0.9}
    by_hand = np.mean([pinball(test[c].to_numpy(), tau) for c, tau in levels.items()])
    band = np.mean([pinball(test[c].to_numpy(), tau) for c, tau in
                    (("lower", 0.1), ("predicted", 0.5), ("upper", 0.9))])
    payload = strict_json(cli("evaluate", "--model", tiny_model, "--json").stdout)
    figures = payload["test"]["intervals"]
    # (the CSV carries 10 significant digits)
    assert figures["model_quantile_pinball"]["mean"] == pytest.approx(by_hand, rel=1e-7)
    assert figures["model_quantile_pinball"]["q0.9"] == pytest.approx(
        pinball(test["q0.9"].to_numpy(), 0.9), rel=1e-7)
    assert figures["model"]["pinball"] == pytest.approx(band, rel=1e-7)
    assert figures["model"]["rows"] == len(test) == 60


def test_evaluate_json_has_interval_figures_beside_both_baselines(cli, tiny_model):
    payload = strict_json(cli("evaluate", "--model", tiny_model, "--json").stdout)
    assert payload["interval_band"] in ("quantiles", "conformal")
    for segment in ("all", "train", "validation", "test"):
        figures = payload[segment]["intervals"]
        assert figures["level"] == 0.8
        for method in ("model", "rolling_conformal", "garch"):
            assert set(figures[method]) >= {"coverage", "mean_width", "interval_score",
                                             "pinball", "rel_interval_score", "rows"}
            assert 0 <= figures[method]["coverage"] <= 1
    test = payload["test"]["intervals"]
    assert test["rolling_conformal"]["rows"] == test["garch"]["rows"] == 60
    result = cli("evaluate", "--model", tiny_model)
    assert "GARCH(1,1)" in result.stdout and "rolling conformal" in result.stdout


def test_evaluate_a_panel_aggregates_intervals_and_nulls_a_missing_garch(cli,
                                                                        tiny_panel_model):
    result = cli("evaluate", "--model", tiny_panel_model, "--json")
    assert result.exit_code == 0, result.stderr
    payload = strict_json(result.stdout)
    test = payload["test"]
    short = test["series"]["BBB"]["intervals"]
    assert short["garch"] is None                 # 60 training returns: too few to fit
    assert short["rolling_conformal"] is not None and short["model"] is not None
    summary = test["aggregate"]["intervals"]
    assert summary["garch"]["series"] == 1 and summary["model"]["series"] == 2
    assert summary["series_with_garch"] == 1
    assert summary["share_model_beats_garch"] in (0.0, 1.0)
    rows = [test["series"][n]["intervals"]["model"]["rows"] for n in ("AAA", "BBB")]
    coverage = [test["series"][n]["intervals"]["model"]["coverage"] for n in ("AAA", "BBB")]
    assert summary["model"]["coverage"] == pytest.approx(np.average(coverage, weights=rows))
    relative = [test["series"][n]["intervals"]["model"]["rel_interval_score"]
                for n in ("AAA", "BBB")]
    assert summary["model"]["median_rel_interval_score"] == pytest.approx(np.median(relative))
    text = cli("evaluate", "--model", tiny_panel_model).stdout
    assert "model's interval score below GARCH(1,1)'s on" in text and "pooled coverage" in text


def test_a_format_2_point_model_directory_still_predicts_and_evaluates(cli, prices_csv,
                                                                       tmp_path):
    result = cli("train", prices_csv, *TINY, "--no-quantiles", "--derived-inputs", "none",
                 "--model-dir", "old")
    assert result.exit_code == 0, result.stderr
    old = tmp_path / "old"
    raw = json.loads((old / "config.json").read_text())
    raw["format_version"] = 2
    del raw["model"]["quantiles"], raw["data"]["derived"], raw["data"]["extra"]
    assert raw["columns"] == ["Close"]
    (old / "config.json").write_text(json.dumps(raw))
    (old / "intervals.json").unlink()
    (old / "garch.json").unlink()
    bundle = read_bundle(old)
    assert bundle.config.model.quantiles == [] and bundle.quantile.pairs == []
    result = cli("predict", "--model", old, "--interval", "0.8", "--steps", "2")
    assert result.exit_code == 0, result.stderr
    payload = strict_json(cli("evaluate", "--model", old, "--json").stdout)
    assert payload["interval_band"] == "conformal"
    assert payload["test"]["intervals"]["garch"]["rows"] == 60   # fit now, on training rows
    result = cli("predict", "--model", old, "--quantiles")
    assert result.exit_code == 2 and "has no quantile outputs" in result.stderr


def test_predict_rebuilds_the_derived_inputs_from_the_raw_columns(tiny_model):
    bundle = read_bundle(tiny_model)
    prices = bundle.data()
    predictor = load_predictor(bundle)
    base = Forecaster(bundle, prices, predictor).backtest()
    t = 200
    values = prices.values.copy()
    values[t, prices.column("High")] *= 1.5           # a wide range on row t
    moved = Forecaster(bundle, dataclasses.replace(prices, values=values),
                       predictor).backtest()
    i = int(np.flatnonzero(base["date"] == prices.dates[t])[0])
    np.testing.assert_array_equal(moved["predicted"].iloc[:i + 1], base["predicted"].iloc[:i + 1])
    assert moved["predicted"].iloc[i + 1] != base["predicted"].iloc[i + 1]


def test_recursion_feeds_back_the_scaled_target_and_its_absolute_return(prices):
    """Beyond the horizon each forecast step becomes an input row: the scaled (uncentered)
    target and the scaled absolute return of the forecast path."""
    bundle = hand_bundle(prices, "log-return", window=3, horizon=1)
    bundle.config.data.derived = ["abs-return"]
    transformed = np.diff(np.log(prices.values[:, :1]), axis=0)
    data = np.column_stack([transformed, np.abs(transformed)])
    one = MinMaxScaler().fit(data[:100])
    bundle.scaler = SeriesScaler(prices.names, one.data_min_[None], one.data_max_[None],
                                 np.array([0.3]))
    weights = np.array([[0.2, 0.1], [-0.3, 0.5], [0.4, -0.2]])

    def predictor(X):
        return np.einsum("kwf,wf->k", X, weights)[:, None] - 0.3
    got = Forecaster(bundle, prices, predictor).future(steps=4)["predicted"].to_numpy()
    scaled = one.transform(data)
    window = [row for row in scaled[-3:]]
    price = prices.values[-1, 0]
    expected = []
    for _ in range(4):
        out = predictor(np.array(window[-3:])[None])[0, 0]
        step = (out + 0.3 - one.min_[0]) / one.scale_[0]       # uncentered, unscaled
        price = price * np.exp(step)
        expected.append(price)
        window.append(np.array([out + 0.3, abs(step) * one.scale_[1] + one.min_[1]]))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
