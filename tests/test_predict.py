import dataclasses
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.bundle import Bundle, read_bundle
from forecast.config import DataConfig, ForecastConfig, ModelConfig, TrainConfig
from forecast.data import read_panel
from forecast.errors import DataError, UsageError
from forecast.intervals import Calibration
from forecast.predict import Forecaster, load_predictor
from forecast.transforms import SeriesScaler, apply_transform
from tests.conftest import TINY, assert_advice_fits, backtest_frame, implied_steps, price_frame


def hand_bundle(prices, kind="level", window=3, horizon=1) -> Bundle:
    """A model directory in memory whose predictor the test supplies."""
    values = prices.frame.to_numpy(float)
    config = ForecastConfig(DataConfig(derived=[]),
                            ModelConfig(window=window, horizon=horizon, quantiles=[]),
                            TrainConfig(target_transform=kind), columns=prices.columns)
    transformed = apply_transform(values, kind)
    scaler = SeriesScaler.fit(transformed, np.array([0, len(transformed)]), np.array([100]),
                              prices.names)
    calibration = Calibration("log", [np.linspace(0.1, 3, 99)] * horizon)
    return Bundle(Path("hand"), config, scaler, {}, calibration, pd.DataFrame())


@pytest.fixture
def prices(prices_csv):
    return read_panel([prices_csv])


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
    # beyond the horizon the forecasts are fed back: step 4 forecasts from a window ending
    # in the step-3 forecast (its last value plus 0.02), plus column 0's nothing
    table = Forecaster(bundle, prices, last_plus).backtest(step=4)
    np.testing.assert_allclose(table["actual"], close[6:])
    np.testing.assert_allclose(table["predicted"], close[2:-4] + 0.02 / bundle.scaler.scale_[0],
                               rtol=1e-12)
    with pytest.raises(UsageError, match="--step must be at least 1"):
        Forecaster(bundle, prices, last_plus).backtest(step=0)


#: changed column -> the last forecast row (after t) whose window holds a changed input
LAST_MOVED = {"Close": 6, "High": 5, "Low": 5}


@pytest.mark.parametrize("column", sorted(LAST_MOVED))
@pytest.mark.parametrize("engine", ["numpy", "keras"])
def test_changing_row_t_moves_exactly_the_forecasts_whose_window_holds_it(cli, tiny_model,
                                                                          tmp_path, engine,
                                                                          column):
    # log-return model with the derived inputs, window 5. Close at row t enters the
    # log-return and the absolute return of rows t and t + 1, which sit in the windows of
    # the forecasts for rows t + 1 ... t + 6; High or Low at row t enters only row t's log
    # range, in the windows for rows t + 1 ... t + 5. No other forecast may move, and
    # above all not the forecast of row t itself.
    assert read_bundle(tiny_model).config.inputs == ["Close", "abs-return", "log-range"]
    frame = price_frame(300)
    t, last = 200, LAST_MOVED[column]
    changed = frame.copy()
    changed.loc[t, column] *= 1.05
    frame.to_csv(tmp_path / "base.csv", index=False)
    changed.to_csv(tmp_path / "changed.csv", index=False)
    tables = []
    for name in ("base.csv", "changed.csv"):
        result = cli("predict", name, "--model", tiny_model, "--backtest", "--engine", engine)
        assert result.exit_code == 0, result.stderr
        tables.append(backtest_frame(result.stdout).set_index("date")["predicted"])
    base, moved = tables
    dates = pd.to_datetime(frame["Date"])
    before, after = dates <= dates[t], dates > dates[t + last]
    np.testing.assert_array_equal(moved[before.to_numpy()[6:]], base[before.to_numpy()[6:]])
    np.testing.assert_array_equal(moved[after.to_numpy()[6:]], base[after.to_numpy()[6:]])
    in_window = dates[t + 1:t + last + 1]
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
    with pytest.raises(DataError, match=r"has 5 usable row\(s\); the model needs at least 6"):
        Forecaster(bundle, read_panel([path]), load_predictor(bundle))


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


def test_predict_many_files_is_each_file_alone_with_a_series_column(cli, tiny_model, tmp_path):
    # Neither series is one the model was trained on, so each is scaled on its own rows; a
    # file alone is the same when it is a one-series long file naming its series (a plain
    # single file would take the one-series model's own scaling instead, by design).
    for name, seed in (("a", 5), ("b", 9)):
        frame = price_frame(50, seed=seed)
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        frame.assign(symbol=name).to_csv(tmp_path / f"{name}-long.csv", index=False)
    for args in ([], ["--backtest"]):
        result = cli("predict", "a.csv", "b.csv", "--model", tiny_model, *args)
        assert result.exit_code == 0, result.stderr
        both = backtest_frame(result.stdout)
        assert list(both.columns[:2]) == ["series", "date"]
        for name in ("a", "b"):
            result = cli("predict", f"{name}-long.csv", "--series-column", "symbol",
                         "--model", tiny_model, *args)
            assert result.exit_code == 0, result.stderr
            alone = backtest_frame(result.stdout)
            mine = both[both["series"] == name].reset_index(drop=True)
            assert len(mine) > 0 and set(alone["series"]) == {name}
            pd.testing.assert_frame_equal(mine, alone)
    a, b = (both[both["series"] == n] for n in ("a", "b"))
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
    (["--backtest", "--step", "0"], "--step must be at least 1, got 0"),
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
    (["--interval", "1e-12"], "--interval must be between 0 and 1 (from 1e-06 to 0.999999; "
                              "e.g. 0.8), got 1e-12"),
    (["--interval", "0"], "--interval must be between 0 and 1"),
    (["--out", "nowhere/next.csv"], "--out nowhere/next.csv: there is no directory nowhere; "
                                    "create it first, or choose another place"),
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


@pytest.mark.parametrize("command", ["predict", "evaluate", "plot"])
@pytest.mark.parametrize("level", ["1e-12", "1e-17", "1", "nan"])
def test_an_interval_level_too_near_0_or_1_is_refused_before_the_model_is_read(
        cli, command, level):
    """1e-12 gave predict an infinite band (conformal rank 0) and 1e-17 evaluate and plot
    an unexpected ValueError (1 - level rounds to 1): one check, first, for all three."""
    result = cli(command, "--model", "nowhere", "--interval", level)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("forecast: error: --interval must be between 0 and 1 "
                                    "(from 1e-06 to 0.999999; e.g. 0.8), got ")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_quantile_model"])
def test_the_narrowest_interval_allowed_is_finite_and_scored(cli, request, fixture):
    model = request.getfixturevalue(fixture)
    result = cli("predict", "--model", model, "--steps", "2", "--interval", "1e-6")
    assert result.exit_code == 0, result.stderr
    band = pd.read_csv(io.StringIO(result.stdout))
    assert np.isfinite(band[["lower", "upper"]].to_numpy()).all()
    assert (band["lower"] <= band["predicted"]).all()
    assert (band["predicted"] <= band["upper"]).all()
    result = cli("evaluate", "--model", model, "--interval", "1e-6", "--json")
    assert result.exit_code == 0, result.stderr
    model_band = json.loads(result.stdout)["test"]["intervals"]["model"]
    assert model_band["level"] == 1e-6 and math.isfinite(model_band["interval_score"])
    assert model_band["coverage"] < 0.5


def test_predict_out_never_writes_over_an_input_or_into_a_model_directory(cli, tiny_model,
                                                                         tmp_path):
    """`predict goog.csv --model m --out goog.csv` turned the prices into 3 lines, and
    `--out m/recent.csv` broke the model: refused, before the data is read."""
    import os

    from tests.test_bundle import snapshot

    shutil.copytree(tiny_model, tmp_path / "m")
    shutil.copytree(tiny_model, tmp_path / "other")
    shutil.copy(tiny_model / "data.csv", tmp_path / "goog.csv")
    os.link(tmp_path / "goog.csv", tmp_path / "hard.csv")
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "m", tmp_path / "link")
    before = snapshot(tmp_path)
    refused = [
        (["goog.csv", "--out", "goog.csv"], "--out goog.csv is the command's input goog.csv; "
                                            "forecast never writes over its input"),
        (["sub/../goog.csv", "--out", "hard.csv"], "--out hard.csv is the command's input "
                                                   "sub/../goog.csv"),
        (["-", "goog.csv", "--out", "goog.csv"], "is the command's input goog.csv"),
        (["--out", "m/recent.csv"], "--out m/recent.csv is inside the model directory m, which "
                                    "holds only that model's own files: choose a place "
                                    "outside it"),
        (["--out", "m/next.csv"], "is inside the model directory m"),
        (["--out", "link/next.csv"], "is inside the model directory link"),
        (["--out", "other/next.parquet"], "is inside the model directory other"),
        (["missing.csv", "--out", "m/next.csv"], "is inside the model directory m"),
        (["--out", "nowhere/next.csv"], "there is no directory nowhere"),
    ]
    for args, message in refused:
        result = cli("predict", "--model", "m", *args)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.startswith("forecast: error: ") and result.stderr.count("\n") == 1
        assert message in result.stderr and result.stdout == "", (args, result.stderr)
        assert snapshot(tmp_path) == before
    result = cli("predict", "goog.csv", "--model", "m", "--out", "sub/next.csv")
    assert result.exit_code == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "sub" / "next.csv")) == 1


def test_a_table_is_never_written_into_a_folder_that_is_gone(tmp_path):
    """The folder is checked up front; if it goes before the write, still one line."""
    from forecast.report import write_table_file
    from forecast.errors import OutputError

    table = pd.DataFrame({"date": pd.to_datetime(["2020-01-02"]), "predicted": [1.0]})
    with pytest.raises(OutputError, match=r"--out .*x.csv: cannot write \(No such file"):
        write_table_file(table, tmp_path / "gone" / "x.csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["b" * 250 + ".csv", "c" * 300 + ".csv",
                                  "d" * 300 + "/next.csv"])
def test_a_name_too_long_for_predict_out_is_refused_up_front(cli, tiny_model, tmp_path, name):
    """A 254-byte name passed the old check, then its temporary file (10 bytes more) did
    not fit: an unexpected OSError after the forecast."""
    result = cli("predict", "--model", tiny_model, "--out", name)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 300
    assert "this file system takes names of at most" in result.stderr
    assert list(tmp_path.iterdir()) == []


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


def test_evaluate_scores_are_the_backtest_scored_by_hand(cli, tiny_model):
    result = cli("evaluate", "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    assert "test rows (never seen in training)" in result.stdout
    assert "naive" in result.stdout and "drift" in result.stdout
    payload = json.loads(cli("evaluate", "--model", tiny_model, "--json").stdout)
    table = backtest_frame(cli("predict", "--model", tiny_model, "--backtest",
                               "--interval", "0.8").stdout)
    table["previous"] = price_frame(300)["Close"].to_numpy()[5:-1]
    test_start = read_bundle(tiny_model).config.facts.test_start
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
        # A conformal band's edge is an order statistic of the calibration rows' scores, so
        # one validation row sits on it exactly: at the CSV's precision it may read either
        # side, and only such ties may differ.
        tie = 1e-8 * rows["actual"]
        strict = (rows["lower"] + tie < rows["actual"]) & (rows["actual"] < rows["upper"] - tie)
        loose = (rows["lower"] - tie <= rows["actual"]) & (rows["actual"] <= rows["upper"] + tie)
        assert strict.mean() <= scores["interval"]["coverage"] <= loose.mean()
        assert loose.sum() - strict.sum() <= 1
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


# Quantile models (the default) and their intervals, through the CLI.

def read_table_output(text):
    import io
    return pd.read_csv(io.StringIO(text))


def strict_json(text):
    """json.loads that refuses NaN and Infinity, as strict JSON readers do."""
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_predict_quantiles_writes_one_column_per_level_in_price_units(cli, tiny_quantile_model):
    result = cli("predict", "--model", tiny_quantile_model, "--backtest", "--quantiles")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "date,actual,predicted,q0.1,q0.5,q0.9"
    table = read_table_output(result.stdout)
    np.testing.assert_allclose(table["q0.5"], table["predicted"], rtol=1e-9)
    assert (np.abs(table["q0.1"] / table["actual"] - 1) < 0.1).all()     # price units
    result = cli("predict", "--model", tiny_quantile_model, "--quantiles", "--interval", "0.8")
    assert result.stdout.splitlines()[0] == "date,predicted,lower,upper,q0.1,q0.5,q0.9"



def test_quantiles_beyond_the_horizon_are_calibrated_per_step_and_never_cross(
        cli, tiny_quantile_model):
    # horizon 1: steps 2 and 3 feed the median back and widen the last direct spread
    result = cli("predict", "--model", tiny_quantile_model, "--quantiles", "--steps", "3",
                 "--interval", "0.8")
    assert result.exit_code == 0, result.stderr
    table = read_table_output(result.stdout)
    q = table[["q0.1", "q0.5", "q0.9"]].to_numpy()
    assert len(table) == 3 and np.isfinite(q).all() and (np.diff(q, axis=1) >= 0).all()
    np.testing.assert_allclose(table["q0.5"], table["predicted"], rtol=1e-9)
    for step in (2, 3):
        result = cli("predict", "--model", tiny_quantile_model, "--backtest", "--step", step,
                     "--quantiles", "--interval", "0.8")
        assert result.exit_code == 0, result.stderr
        back = read_table_output(result.stdout)
        q = back[["q0.1", "q0.5", "q0.9"]].to_numpy()
        assert np.isfinite(q).all() and (np.diff(q, axis=1) >= 0).all()
        np.testing.assert_allclose(back["q0.5"], back["predicted"], rtol=1e-9)
        assert (back["lower"] <= back["predicted"]).all()


def test_predict_quantiles_for_a_panel_follow_the_series_column(cli, tiny_panel_model):
    result = cli("predict", "--model", tiny_panel_model, "--quantiles", "--backtest")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "series,date,actual,predicted,q0.1,q0.5,q0.9"
    table = read_table_output(result.stdout)
    assert set(table["series"]) == {"AAA", "BBB"}


def test_quantiles_never_cross_even_when_cqr_narrows_them_past_the_median(
        cli, tiny_quantile_model, tmp_path):
    from forecast.bundle import write_manifest

    copy = tmp_path / "m"
    shutil.copytree(tiny_quantile_model, copy)
    raw = json.loads((copy / "intervals.json").read_text())
    pair = raw["pairs"][0]
    pair["band"] = "quantiles"
    scores = pair["calibration"]["step_scores"][0]
    pair["calibration"]["step_scores"][0] = [-0.5] * len(scores)   # Q far below 0
    (copy / "intervals.json").write_text(json.dumps(raw))
    write_manifest(copy)   # as if training had calibrated it so
    for args in (["--backtest"], ["--steps", "1"]):
        result = cli("predict", "--model", copy, "--quantiles", "--interval", "0.8", *args)
        assert result.exit_code == 0, result.stderr
        table = read_table_output(result.stdout)
        assert (table["q0.1"] <= table["q0.5"]).all() and (table["q0.5"] <= table["q0.9"]).all()
        np.testing.assert_allclose(table["q0.5"], table["predicted"], rtol=1e-9)
        assert (table["lower"] <= table["upper"]).all()


def test_pinball_loss_end_to_end_matches_a_hand_computation(cli, tiny_quantile_model):
    bundle = read_bundle(tiny_quantile_model)
    test_start = pd.Timestamp(bundle.config.facts.test_start)
    result = cli("predict", "--model", tiny_quantile_model, "--backtest", "--quantiles",
                 "--interval", "0.8")
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
    payload = strict_json(cli("evaluate", "--model", tiny_quantile_model, "--json").stdout)
    figures = payload["test"]["intervals"]
    # (the CSV carries 10 significant digits)
    assert figures["model_quantile_pinball"]["mean"] == pytest.approx(by_hand, rel=1e-7)
    assert figures["model_quantile_pinball"]["q0.9"] == pytest.approx(
        pinball(test["q0.9"].to_numpy(), 0.9), rel=1e-7)
    assert figures["model"]["pinball"] == pytest.approx(band, rel=1e-7)
    assert figures["model"]["rows"] == len(test) == 60


@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_quantile_model"])
def test_evaluate_json_has_interval_figures_beside_both_baselines(cli, request, fixture):
    model = request.getfixturevalue(fixture)
    payload = strict_json(cli("evaluate", "--model", model, "--json").stdout)
    pairs = read_bundle(model).quantile.pairs      # a point model has none: conformal
    assert payload["interval_band"] == (pairs[0]["band"] if pairs else "conformal")
    for segment in ("all", "train", "validation", "test"):
        figures = payload[segment]["intervals"]
        assert figures["level"] == 0.8
        for method in ("model", "rolling_conformal", "garch"):
            assert set(figures[method]) >= {"coverage", "mean_width", "interval_score",
                                             "pinball", "rel_interval_score", "rows"}
            assert 0 <= figures[method]["coverage"] <= 1
    test = payload["test"]["intervals"]
    assert test["rolling_conformal"]["rows"] == test["garch"]["rows"] == 60
    result = cli("evaluate", "--model", model)
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
    (old / "manifest.json").unlink()   # as an earlier version wrote it
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
    bundle.config = dataclasses.replace(
        bundle.config, data=dataclasses.replace(bundle.config.data, derived=["abs-return"]))
    transformed = np.diff(np.log(prices.values[:, :1]), axis=0)
    data = np.column_stack([transformed, np.abs(transformed)])
    one = SeriesScaler.fit(data, np.array([0, len(data)]), np.array([100]), prices.names)
    bundle.scaler = one.with_center(np.array([0.3]))
    weights = np.array([[0.2, 0.1], [-0.3, 0.5], [0.4, -0.2]])

    def predictor(X):
        return np.einsum("kwf,wf->k", X, weights)[:, None] - 0.3
    got = Forecaster(bundle, prices, predictor).future(steps=4)["predicted"].to_numpy()
    scaled = one.transform(data, np.zeros(len(data), int))
    window = [row for row in scaled[-3:]]
    price = prices.values[-1, 0]
    expected = []
    for _ in range(4):
        out = predictor(np.array(window[-3:])[None])[0, 0]
        step = (out + 0.3 - one.min_[0, 0]) / one.scale_[0, 0]  # uncentered, unscaled
        price = price * np.exp(step)
        expected.append(price)
        window.append(np.array([out + 0.3, abs(step) * one.scale_[0, 1] + one.min_[0, 1]]))
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_future_forecasts_read_recent_csv_and_give_what_the_whole_data_gives(
        cli, tiny_panel_model, tmp_path):
    """`predict` without PRICES reads recent.csv (each series' last rows): the same
    forecasts, bands and quantiles as a directory without it (data.csv, whole) and as the
    training file given as PRICES."""
    import shutil

    from forecast.bundle import RECENT, read_bundle, write_manifest
    from forecast.windows import recent_rows

    bundle = read_bundle(tiny_panel_model)
    recent, whole = bundle.data(recent=True), bundle.data()
    rows = recent_rows(bundle.config.model.window, bundle.config.training.target_transform)
    assert whole.lengths.tolist() == [300, 150] and recent.lengths[1] == 150
    assert rows <= recent.lengths[0] < 300   # a's older rows are left out
    old = tmp_path / "without_recent"
    shutil.copytree(tiny_panel_model, old)
    (old / RECENT).unlink()
    write_manifest(old)   # as an earlier version wrote it: without recent.csv
    args = ["--steps", "3", "--interval", "0.8"]
    outputs = [cli("predict", "--model", model, *args) for model in (tiny_panel_model, old)]
    training_file = tiny_panel_model.parent / "panel.csv"
    outputs.append(cli("predict", training_file, "--model", tiny_panel_model, *args))
    assert all(r.exit_code == 0 for r in outputs), [r.stderr for r in outputs]
    assert outputs[0].stdout == outputs[1].stdout == outputs[2].stdout
    quantiles = [cli("predict", "--model", model, "--quantiles").stdout
                 for model in (tiny_panel_model, old)]
    assert quantiles[0] == quantiles[1] and "q0.1" in quantiles[0]


def test_a_future_forecast_reads_only_the_recent_rows(cli, tiny_panel_model, tmp_path):
    """A future forecast works on each series' last rows only: a bad row older than them
    (a negative close, which the model's log inputs cannot take) changes nothing there,
    while the backtest, which reads every row, names it."""
    frame = pd.read_csv(tiny_panel_model.parent / "panel.csv")
    edited = tmp_path / "edited.csv"
    frame.loc[5, "Close"] = -1.0   # series AAA's 6th of 300 rows (line 7)
    frame.to_csv(edited, index=False)
    original = tiny_panel_model.parent / "panel.csv"
    future = [cli("predict", f, "--model", tiny_panel_model) for f in (original, edited)]
    assert future[0].exit_code == future[1].exit_code == 0, future[1].stderr
    assert future[0].stdout == future[1].stdout
    backtest = cli("predict", edited, "--model", tiny_panel_model, "--backtest")
    assert backtest.exit_code == 2
    assert "line 7, column 'Close': value -1 is not positive" in backtest.stderr


def test_beyond_the_horizon_cqr_fits_on_the_validation_rows_only(tiny_quantile_model):
    from forecast import intervals

    bundle = read_bundle(tiny_quantile_model)
    forecaster = Forecaster(bundle, bundle.data(), load_predictor(bundle))
    val_start, test_start = forecaster.split_rows(0)
    for step in (2, 4):
        pair = forecaster.step_calibration(step).pairs[0]
        scores = pair["calibration"].step_scores[0]
        assert len(scores) == test_start - val_start == 30     # every validation row, no more
        table = forecaster.backtest(step, quantiles=True)
        rows = table["date"].isin(bundle.data().dates[val_start:test_start])
        use = table[rows]
        raw = forecaster.ahead(step, forecaster.backtest_rows(step)[0])[1][rows.to_numpy()]
        expected = np.sort(intervals.cqr_scores(use["actual"].to_numpy(), raw[:, 0],
                                                raw[:, 2], "log"))
        np.testing.assert_allclose(scores, expected)


def test_evaluate_var_backtests_every_tail_level_beside_garch_and_the_rolling_band(
        cli, tiny_panel_model):
    result = cli("evaluate", "--model", tiny_panel_model, "--var", "--step", "1", "--step", "2",
                 "--json")
    assert result.exit_code == 0, result.stderr
    out = strict_json(result.stdout)
    var = out["var"]
    assert var["levels"] == [0.1, 0.9] and "not independent" in var["note"]
    assert set(var["steps"]) == {"1", "2"}
    for step, by_segment in var["steps"].items():
        assert set(by_segment) >= {"all", "test"}
        for name, segment in by_segment.items():
            assert set(segment) == {"pooled", "series", "mcs"}
            for series, levels in segment["series"].items():
                for key, methods in levels.items():
                    scored = {m: f for m, f in methods.items() if f}
                    assert {"model", "rolling_conformal"} <= set(scored)
                    # the same rows for every method
                    assert len({f["rows"] for f in scored.values()}) == 1
                    assert 0 <= scored["model"]["p_pof"] <= 1
    # BBB is too short for a GARCH fit: its GARCH figures are null, AAA's are not
    test = var["steps"]["1"]["test"]["series"]
    assert test["BBB"]["q0.1"]["garch"] is None and test["AAA"]["q0.1"]["garch"]
    assert var["steps"]["1"]["test"]["pooled"]["q0.1"]["garch"]["series"] == 1
    mcs = var["steps"]["1"]["all"]["mcs"]["q0.1"]      # over AAA, the series with all three
    assert mcs["included"] and set(mcs["pvalues"]) == {"model", "garch", "rolling_conformal"}
    # the rest of evaluate's output is as without --var
    plain = strict_json(cli("evaluate", "--model", tiny_panel_model, "--json").stdout)
    assert {k: v for k, v in out.items() if k != "var"} == plain
    text = cli("evaluate", "--model", tiny_panel_model, "--var", "--per-series")
    assert text.exit_code == 0, text.stderr
    assert "VaR backtests, 1 step ahead, test rows, over 2 series" in text.stdout
    assert "VaR backtests, 1 step ahead, test rows, AAA:" in text.stdout
    assert "GARCH(1,1)-t" in text.stdout and "rolling conformal" in text.stdout
    assert "90% Model Confidence Set of the pinball loss" in text.stdout


@pytest.mark.parametrize("args, message", [
    (["--step", "2"], "--step applies only with --var"),
    (["--var", "--step", "0"], "--step must be at least 1, got 0"),
])
def test_evaluate_var_options_are_checked(cli, tiny_quantile_model, args, message):
    result = cli("evaluate", "--model", tiny_quantile_model, *args)
    assert result.exit_code == 2 and message in result.stderr


def test_evaluate_var_needs_a_quantile_model(cli, tiny_model):
    result = cli("evaluate", "--model", tiny_model, "--var")
    assert result.exit_code == 2 and "--var backtests quantiles" in result.stderr


def test_step_k_quantiles_beyond_the_horizon_match_the_future_forecast_k_rows_earlier(
        cli, tiny_quantile_model, tmp_path):
    frame = price_frame(300)
    frame.to_csv(tmp_path / "all.csv", index=False)
    k, r = 3, 299
    result = cli("predict", "all.csv", "--model", tiny_quantile_model, "--backtest", "--step",
                 k, "--quantiles")
    assert result.exit_code == 0, result.stderr
    backtest = backtest_frame(result.stdout).set_index("date")
    # the head still holds every validation row: the same per-step CQR
    frame.iloc[:r - k + 1].to_csv(tmp_path / "head.csv", index=False)
    result = cli("predict", "head.csv", "--model", tiny_quantile_model, "--steps", k,
                 "--quantiles")
    assert result.exit_code == 0, result.stderr
    future = backtest_frame(result.stdout)
    date = future["date"].iloc[k - 1]
    assert date == pd.Timestamp(frame["Date"].iloc[r])
    for column in ("predicted", "q0.1", "q0.5", "q0.9"):
        assert future[column].iloc[k - 1] == pytest.approx(backtest.loc[date, column], rel=1e-9)
    # a file without the validation rows cannot calibrate beyond the horizon: refused
    frame.iloc[-40:].to_csv(tmp_path / "tail.csv", index=False)
    result = cli("predict", "tail.csv", "--model", tiny_quantile_model, "--steps", k,
                 "--quantiles")
    assert result.exit_code == 2 and "calibrate on the validation rows of" in result.stderr


def test_forecasts_beyond_the_horizon_are_the_same_in_chunks(tiny_quantile_model, monkeypatch):
    import forecast.predict

    bundle = read_bundle(tiny_quantile_model)
    whole = Forecaster(bundle, bundle.data(), load_predictor(bundle))
    use = whole.backtest_rows(3)[0]
    point, quantiles = whole.ahead(3, use)
    monkeypatch.setattr(forecast.predict, "RECURSE_CHUNK", 7)
    chunked = Forecaster(bundle, bundle.data(), load_predictor(bundle)).ahead(3, use)
    np.testing.assert_array_equal(chunked[0], point)
    np.testing.assert_array_equal(chunked[1], quantiles)
