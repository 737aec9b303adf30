"""forecast/data/panel.py: the Panel and read_panel: many files, stdin, spacing across series,
--series, the progress lines, and ``Panel.recent``. Then, end to end, train, predict and
evaluate on a panel: per-series scaling, date splits that no test row crosses, the series
column in every output, and new tickers (the series' layouts: tests/data/test_layouts.py).
"""

import dataclasses
import io
import json

import numpy as np
import pandas as pd
import pytest

from forecast.data import read_panel, read_prices
from forecast.errors import DataError, UsageError
from tests.conftest import TINY, price_frame

TICKERS = ("AAA", "BBB", "CCC")


def long_frame(rows: int = 160, tickers=TICKERS, shuffle: bool = True) -> pd.DataFrame:
    """A long file: date, symbol, close; each ticker its own random walk and price level."""
    parts = []
    for i, name in enumerate(tickers):
        frame = price_frame(rows, seed=i)[["Date", "Close"]]
        frame["Close"] *= 10 ** i            # levels apart: scaling must be per series
        parts.append(frame.assign(symbol=name))
    long = pd.concat(parts, ignore_index=True)[["Date", "symbol", "Close"]]
    return long.sample(frac=1.0, random_state=0) if shuffle else long


def wide_text(long: pd.DataFrame) -> str:
    return long.pivot(index="Date", columns="symbol", values="Close").reset_index().to_csv(
        index=False)


def test_the_shipped_long_and_wide_files_read_the_same_panel():
    from tests.conftest import ROOT

    long = read_panel([ROOT / "data" / "panel20_long.csv"])
    wide = read_panel([ROOT / "data" / "panel20_wide.csv"], wide=True)
    assert long.n_series == wide.n_series == 20
    for s, name in enumerate(long.names):
        w = wide.names.index(name)
        np.testing.assert_allclose(long.target_of(s), wide.target_of(w))
        assert (long.dates[long.rows(s)] == wide.dates[wide.rows(w)]).all()


def test_several_files_are_one_series_each_named_by_stem(tmp_path):
    for i, name in enumerate(("x", "y")):
        price_frame(50, seed=i).to_csv(tmp_path / f"{name}.csv", index=False)
    panel = read_panel([tmp_path / "x.csv", tmp_path / "y.csv"])
    assert panel.layout == "files" and panel.names == ["x", "y"] and panel.multi
    (tmp_path / "sub").mkdir()
    price_frame(50).to_csv(tmp_path / "sub" / "x.csv", index=False)
    with pytest.raises(DataError, match="two series are named 'x'"):
        read_panel([tmp_path / "x.csv", tmp_path / "sub" / "x.csv"])


def test_stdin_reads_a_long_file(write_csv):
    raw = long_frame(40).to_csv(index=False).encode()
    panel = read_panel(["-"], stdin=io.BytesIO(raw))
    assert panel.n_series == 3


@pytest.mark.parametrize("text, options, message", [
    ("Date,symbol,Close\n2020-01-01,A,1\n2020-01-01,,2\n2020-01-02,A,3\n", {},
     r"line 3, column 'symbol': empty series name"),
    ("Date,code,Close\n2020-01-01,1.5,1\n2020-01-01,2,2\n2020-01-02,1,3\n",
     {"series_column": "code"}, r"column 'code' \(--series-column\) holds numbers such as "
                                r"'1.5', not series names or codes"),
    ("Date,Close\n2020-01-01,1\n2020-01-01,2\n", {}, r"line 3.*duplicate date 2020-01-01"),
    ("Date,A\n2020-01-01,x\n2020-01-02,1\n", {"wide": True}, r"line 2, column 'A'.*not a finite number; with --wide"),
])
def test_bad_panels_are_one_clear_line(write_csv, text, options, message):
    with pytest.raises(DataError, match=message):
        read_panel([write_csv(text)], **options)


def test_mixed_spacing_between_series_is_refused(write_csv):
    daily = pd.bdate_range("2020-01-01", periods=30)
    weekly = pd.date_range("2020-01-03", periods=30, freq="W-FRI")
    frame = pd.concat([pd.DataFrame({"Date": daily, "symbol": "D", "Close": 1.0}),
                       pd.DataFrame({"Date": weekly, "symbol": "W", "Close": 1.0})])
    frame["Date"] = frame["Date"].dt.strftime("%Y-%m-%d")
    with pytest.raises(DataError, match="series 'W' is spaced weekly but series 'D' is "
                                        "spaced business days"):
        read_panel([write_csv(frame.to_csv(index=False))])


def test_series_restricts_and_unknown_names_list_the_known(write_csv):
    panel = read_panel([write_csv(long_frame(30).to_csv(index=False))])
    assert panel.select(["ccc", "AAA"]).names == ["CCC", "AAA"]
    with pytest.raises(UsageError, match="no series 'ZZZ'.*series are: AAA, BBB, CCC"):
        panel.select(["ZZZ"])


def days(start: str, n: int) -> list[str]:
    return [f"{d:%Y-%m-%d}" for d in pd.bdate_range(start, periods=n)]


def long_text(header: str, rows) -> str:
    return header + "\n" + "".join(",".join(str(c) for c in row) + "\n" for row in rows)


def test_a_ticker_whose_name_holds_a_comma_can_be_chosen_with_series(cli, write_csv):
    """--series is one CSV row: "A,B" in double quotes is one name (issue 20, item 16)."""
    rows = [(d, name, i) for i, d in enumerate(days("2019-01-01", 20))
            for name in ('"A,B"', "C", "D")]
    path = write_csv(long_text("Date,symbol,Close", rows))
    result = cli("inspect", path, "--series", '"A,B", C', "--json")
    assert result.exit_code == 0, result.stderr
    assert [s["name"] for s in json.loads(result.stdout)["series"]] == ["A,B", "C"]
    result = cli("inspect", path, "--series", "A,B")
    assert result.exit_code == 2 and "no series 'A' in" in result.stderr


def test_reads_sorted_frame_with_default_target(write_csv):
    path = write_csv("Date,Open,Close\n2020-01-06,3,12\n2020-01-02,1,10\n2020-01-03,2,11\n")
    prices = read_prices(path)
    assert prices.target == "Close" and prices.features == []
    assert prices.frame["Close"].tolist() == [10, 11, 12]
    assert prices.lines.tolist() == [3, 4, 2]  # file lines follow the rows when sorted


def test_slow_reading_says_what_it_read_on_stderr(cli, write_csv, monkeypatch):
    """Big inputs show progress (rows read, series found) once a step takes more than
    PROGRESS_AFTER_S; small ones stay quiet. Here every step counts as slow."""
    path = write_csv("date,symbol,close\n2020-01-02,A,1\n2020-01-02,B,2\n2020-01-03,A,3\n")
    quiet = cli("inspect", path)
    assert quiet.exit_code == 0 and quiet.stderr == ""
    monkeypatch.setattr("forecast.console.PROGRESS_AFTER_S", -1.0)
    result = cli("inspect", path)
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"forecast: read {path}: 3 rows (") and lines[0].endswith(" s)")
    assert lines[1].startswith("forecast: found 2 series, 3 rows (")
    assert result.stdout == quiet.stdout


def test_a_file_of_one_row_is_read_and_the_command_says_what_it_needs(cli, write_csv,
                                                                       tiny_model):
    path = write_csv("Date,Close,High,Low\n2020-01-02,1,1.1,0.9\n")
    assert len(read_prices(path).frame) == 1
    result = cli("predict", path, "--model", tiny_model)
    assert result.exit_code == 2
    assert "has 1 usable row(s); the model needs at least 6" in result.stderr


@pytest.mark.parametrize("values", [
    np.array([5, 3, 5, -1, 3, 9, 0], dtype=np.int64),
    np.array([7]), np.array([], dtype=np.int64),
    pd.to_datetime(["2020-01-03", "2020-01-01", "2020-01-03"]).to_numpy(),
])
def test_unique_sorted_is_np_unique(values):
    from forecast.data import unique_sorted

    np.testing.assert_array_equal(unique_sorted(values), np.unique(values))
    uniques, inverse = unique_sorted(values, return_inverse=True)
    expected, expected_inverse = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(uniques, expected)
    np.testing.assert_array_equal(inverse, expected_inverse)


# ----- end to end: train, predict, evaluate on a panel ---------------------------------------

@pytest.fixture(scope="module")
def panel_model(tmp_path_factory):
    """A tiny global model over three tickers (the network kept, so forecasts move)."""
    from typer.testing import CliRunner

    from forecast.cli import app

    root = tmp_path_factory.mktemp("panel")
    csv = root / "long.csv"
    long_frame().to_csv(csv, index=False)
    out = root / "model"
    result = CliRunner().invoke(app, ["train", str(csv), "--model-dir", str(out), *TINY,
                                      "--no-baseline-guard"], prog_name="forecast")
    assert result.exit_code == 0, result.stderr
    return csv, out


def test_a_panel_model_stores_per_series_scaling_fit_on_training_rows(panel_model):
    csv, model = panel_model
    scaler = json.loads((model / "scaler.json").read_text())
    config = json.loads((model / "config.json").read_text())
    long = pd.read_csv(csv)
    val_start = pd.Timestamp(config["facts"]["val_start"])
    for name in TICKERS:
        own = long[long["symbol"] == name].sort_values("Date")
        train = own[pd.to_datetime(own["Date"]) < val_start]["Close"].to_numpy()
        returns = np.diff(np.log(train))
        stored = scaler["series"][name]
        # the log-return, and beside it the derived absolute return in the same units
        # (from 0, over the log-return's span), both from training rows only
        span = returns.max() - returns.min()
        assert stored["data_min"] == pytest.approx([returns.min(), 0.0])
        assert stored["data_max"] == pytest.approx([returns.max(), span])
    assert config["data"]["layout"] == "long" and config["facts"]["series"] == sorted(TICKERS)


def test_panel_outputs_lead_with_the_series_column(cli, panel_model):
    csv, model = panel_model
    future = cli("predict", "--model", model, "--steps", "2", "--interval", "0.8")
    assert future.exit_code == 0, future.stderr
    lines = future.stdout.splitlines()
    assert lines[0] == "series,date,predicted,lower,upper"
    assert [l.split(",")[0] for l in lines[1:]] == ["AAA", "AAA", "BBB", "BBB", "CCC", "CCC"]
    back = cli("predict", csv, "--model", model, "--backtest", "--series", "BBB")
    assert back.exit_code == 0, back.stderr
    rows = back.stdout.splitlines()
    assert rows[0] == "series,date,actual,predicted" and {r.split(",")[0] for r in rows[1:]} == {"BBB"}
    assert len(rows) - 1 == 160 - 6        # 5-row window plus one row for the first return


def test_each_series_continues_from_its_own_last_date(cli, panel_model, tmp_path):
    csv, model = panel_model
    long = pd.read_csv(csv)
    long = long[~((long["symbol"] == "BBB") & (long["Date"] > "2020-07-01"))]
    long.to_csv(tmp_path / "short.csv", index=False)
    result = cli("predict", tmp_path / "short.csv", "--model", model, "--steps", "1")
    firsts = dict(line.split(",")[:2] for line in result.stdout.splitlines()[1:])
    assert firsts["BBB"] == "2020-07-02" and firsts["AAA"] == "2020-08-12"


def test_evaluate_aggregates_over_series_and_per_series_on_request(cli, panel_model):
    csv, model = panel_model
    result = cli("evaluate", "--model", model, "--json")
    assert result.exit_code == 0, result.stderr
    test = json.loads(result.stdout)["test"]
    per = test["series"]
    assert set(per) == set(TICKERS)
    rel = [per[n]["model"]["rel_mae"] for n in TICKERS]
    assert test["aggregate"]["model"]["median_rel_mae"] == pytest.approx(np.median(rel))
    assert test["aggregate"]["model"]["share_at_or_below_naive"] == \
        pytest.approx(np.mean(np.array(rel) <= 1))
    text = cli("evaluate", "--model", model, "--per-series")
    assert "median MAE/naive" in text.stdout and "\nBBB " in text.stdout


def test_a_new_ticker_is_scaled_on_its_own_rows_and_said_once(cli, panel_model, tmp_path):
    csv, model = panel_model
    new = long_frame(160, tickers=("AAA", "NEW"))
    new.loc[new["symbol"] == "NEW", "Close"] *= 1000
    new.to_csv(tmp_path / "new.csv", index=False)
    result = cli("predict", tmp_path / "new.csv", "--model", model, "--steps", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("not in the model's training data (NEW)") == 1
    rows = dict((l.split(",")[0], float(l.split(",")[2])) for l in result.stdout.splitlines()[1:])
    last = new[new["symbol"] == "NEW"].sort_values("Date")["Close"].iloc[-1]
    assert 0.8 * last < rows["NEW"] < 1.25 * last   # in its own price units


def test_a_new_ticker_is_scaled_on_its_rows_dated_before_the_test_start_only(panel_model,
                                                                             tmp_path):
    """Its min, max and center come from its log-returns into rows dated before the
    model's test start; the step into the first test row is made the largest of all, so
    fitting on one row more (a one-row leak of the test period) changes each."""
    from forecast.bundle import read_bundle
    from forecast.predict import read_for_model, scaler_for

    csv, model = panel_model
    bundle = read_bundle(model)
    test_start = pd.Timestamp(bundle.config.facts.test_start)
    frame = long_frame(160, tickers=("AAA", "NEW"), shuffle=False)
    new = frame["symbol"] == "NEW"
    frame.loc[new, "Close"] *= 1000
    frame.loc[new & (pd.to_datetime(frame["Date"]) == test_start), "Close"] *= 3
    frame.to_csv(tmp_path / "new.csv", index=False)
    said = []
    panel = read_for_model([str(tmp_path / "new.csv")], bundle)
    scaler = scaler_for(bundle, panel, warn=said.append)
    assert len(said) == 1 and f"dated before {test_start.date()}" in said[0]
    s, trained = scaler.index("NEW"), bundle.scaler.index("AAA")
    own = frame[new]
    returns = np.diff(np.log(own["Close"].to_numpy()))
    before = returns[(pd.to_datetime(own["Date"]) < test_start).to_numpy()[1:]]
    assert len(before) < len(returns) and returns[len(before)] > 2 * before.max()
    low, high = before.min(), before.max()
    # the log-return, then the absolute return in the same units (from 0, over its span)
    assert scaler.data_min_[s].tolist() == pytest.approx([low, 0.0], rel=1e-12)
    assert scaler.data_max_[s].tolist() == pytest.approx([high, high - low], rel=1e-12)
    assert bundle.config.model.quantiles  # a quantile model: centred on the median
    assert scaler.center_[s] == pytest.approx(np.median((before - low) / (high - low)),
                                              rel=1e-12)
    a = scaler.index("AAA")  # a ticker the model knows keeps its stored scaling
    np.testing.assert_array_equal(scaler.data_max_[a], bundle.scaler.data_max_[trained])
    assert scaler.center_[a] == bundle.scaler.center_[trained]


def test_a_short_series_is_left_out_of_training_with_a_warning(cli, tmp_path):
    long = long_frame(160)
    late = price_frame(20, seed=9, start="2020-07-01")[["Date", "Close"]].assign(symbol="NEW")
    pd.concat([long, late[["Date", "symbol", "Close"]]]).to_csv(tmp_path / "p.csv", index=False)
    result = cli("train", tmp_path / "p.csv", "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 0, result.stderr
    assert "left out of training 1 series" in result.stderr and "NEW" in result.stderr


def test_no_series_long_enough_is_one_line_exit_2(cli, tmp_path):
    long_frame(12).to_csv(tmp_path / "p.csv", index=False)
    result = cli("train", tmp_path / "p.csv", "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "validation date(s)" in result.stderr and "need at least 2" in result.stderr


def test_prices_after_the_test_start_never_touch_training(tmp_path):
    """Changing a price dated after the test start in one series leaves every training
    output identical: weights (same seed), validation scores, the guard's decision."""
    from forecast.config import DataConfig, ForecastConfig, ModelConfig, TrainConfig
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    from forecast.training import run_training

    long = long_frame(160, shuffle=False)
    cut = "2020-07-01"
    changed = long.copy()
    hit = (changed["symbol"] == "BBB") & (changed["Date"] >= cut)
    changed.loc[hit, "Close"] *= np.linspace(0.5, 3.0, hit.sum())
    runs = []
    for frame, name in ((long, "a.csv"), (changed, "b.csv")):
        frame.to_csv(tmp_path / name, index=False)
        panel = read_panel([tmp_path / name])
        config = ForecastConfig(DataConfig(), ModelConfig(window=5, units=4),
                                TrainConfig(epochs=2, batch_size=32, test_start=cut))
        config = dataclasses.replace(config, columns=panel.columns)
        runs.append(run_training(panel, config, stream=io.StringIO()))
    a, b = runs
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.metrics["val"] == b.metrics["val"]
    assert a.config.facts.baseline_guard == b.config.facts.baseline_guard
    np.testing.assert_array_equal(a.scaler.data_max_, b.scaler.data_max_)
    assert a.metrics["test"]["series"]["BBB"] != b.metrics["test"]["series"]["BBB"]


def test_too_few_rows_in_every_series_names_the_rows_needed(cli, tmp_path):
    long_frame(40).to_csv(tmp_path / "p.csv", index=False)
    result = cli("train", tmp_path / "p.csv", "--model-dir", tmp_path / "m", "--window", "30",
                 "--epochs", "1")
    assert result.exit_code == 2
    assert "has 40 usable row(s) in its longest series; --window 30" in result.stderr
    assert not (tmp_path / "m").exists()


def test_a_format_1_single_series_directory_still_predicts(cli, tiny_model, tmp_path):
    """Format 1 stored one MinMax scaler and no layout; read as a panel of one whose center
    is 0, it must forecast exactly what the same network does with a zero center."""
    import shutil

    old, zero = tmp_path / "old", tmp_path / "zero"
    shutil.copytree(tiny_model, old)
    shutil.copytree(tiny_model, zero)
    scaler = json.loads((tiny_model / "scaler.json").read_text())
    (one,) = scaler["series"].values()
    (old / "scaler.json").write_text(json.dumps({"kind": "minmax", "feature_range": [0, 1],
                                                 "data_min": one["data_min"],
                                                 "data_max": one["data_max"]}))
    config = json.loads((tiny_model / "config.json").read_text())
    config["format_version"] = 1
    for key in ("series_column", "wide", "layout"):
        config["data"].pop(key)
    for key in ("val_start", "test_start"):
        config["training"].pop(key)
    (old / "config.json").write_text(json.dumps(config))
    one["center"] = 0.0
    (zero / "scaler.json").write_text(json.dumps(scaler))
    for edited in (old, zero):   # as an earlier version wrote them: no manifest
        (edited / "manifest.json").unlink()
    a = cli("predict", "--model", old, "--backtest")
    b = cli("predict", "--model", zero, "--backtest")
    assert a.exit_code == 0, a.stderr
    assert a.stdout == b.stdout and len(a.stdout.splitlines()) > 100


def test_predict_out_writes_csv_or_parquet_atomically(cli, panel_model, tmp_path):
    csv, model = panel_model
    shown = cli("predict", "--model", model, "--steps", "2")
    for name in ("next.csv", "next.parquet"):
        result = cli("predict", "--model", model, "--steps", "2", "--out", tmp_path / name)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == ""
        back = pd.read_csv(tmp_path / name) if name.endswith(".csv") \
            else pd.read_parquet(tmp_path / name)
        expected = pd.read_csv(io.StringIO(shown.stdout))
        assert list(back.columns) == list(expected.columns)
        np.testing.assert_allclose(back["predicted"], expected["predicted"], rtol=1e-9)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("next")) == \
        ["next.csv", "next.parquet"]
    bad = cli("predict", "--model", model, "--out", tmp_path / "next.xlsx")
    assert bad.exit_code == 2 and "predict writes .csv, .parquet files" in bad.stderr


def test_recent_keeps_the_last_rows_and_the_last_span_of_each_series():
    from forecast.data import Panel

    days = pd.bdate_range("2020-01-01", periods=10)   # Wed 1 Jan .. Tue 14 Jan
    hours = pd.date_range("2020-01-01", periods=30, freq="h")
    panel = Panel.from_frames({"daily": pd.DataFrame({"close": np.arange(10.0)}, index=days),
                               "short": pd.DataFrame({"close": [1.0, 2.0]}, index=days[:2]),
                               "hourly": pd.DataFrame({"close": np.arange(30.0)},
                                                      index=hours)})
    recent = panel.recent(2, pd.Timedelta(days=3))
    assert recent.lengths.tolist() == [2, 2, 30]   # Mon 13 and Tue 14; all; all 30 hours
    np.testing.assert_array_equal(recent.target_of(0), [8.0, 9.0])
    assert recent.dates[:2].tolist() == list(days[-2:])
    assert recent.lines[:2].tolist() == [10, 11]
    longer = panel.recent(4, pd.Timedelta(hours=5))
    assert longer.lengths.tolist() == [4, 2, 6]   # the last 4 rows; the last 5 hours too
    assert longer.recent(4, pd.Timedelta(hours=5)) is longer
    assert panel.recent(30, pd.Timedelta(0)) is panel
