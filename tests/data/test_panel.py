"""Panels: long, wide and many-file input through the one reader, per-series scaling, date
splits that no test row crosses, the series column in every output, and new tickers."""

import dataclasses
import io
import json

import numpy as np
import pandas as pd
import pytest

from forecast.data import parse_numbers, read_panel, read_table
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


def test_a_long_file_is_detected_and_read_per_series(write_csv):
    long = long_frame()
    panel = read_panel([write_csv(long.to_csv(index=False))])
    assert panel.layout == "long" and panel.series_column == "symbol"
    assert sorted(panel.names) == list(TICKERS)
    for s, name in enumerate(panel.names):
        own = long[long["symbol"] == name].sort_values("Date")
        np.testing.assert_array_equal(panel.target_of(s), own["Close"].to_numpy())
        assert panel.dates[panel.rows(s)].is_monotonic_increasing


def test_the_series_column_can_be_named_and_duplicates_are_per_series(write_csv):
    text = "day,ticker,price\n2020-01-01,A,1\n2020-01-01,B,2\n2020-01-02,A,3\n2020-01-02,B,4\n"
    panel = read_panel([write_csv(text)], date_column="day", series_column="TICKER")
    assert panel.names == ["A", "B"] and panel.target == "price"
    dup = text + "2020-01-02,B,5\n"
    with pytest.raises(DataError, match=r"line 6.*duplicate date 2020-01-02 in series 'B' "
                                        r"\(also on line 5\)"):
        read_panel([write_csv(dup)])


def test_a_wide_file_gives_one_series_per_column_shortened_by_leading_and_trailing_blanks(
        write_csv):
    text = ("Date,A,B\n2020-01-01,,10\n2020-01-02,1,11\n2020-01-03,2,\n2020-01-06,3,13\n"
            "2020-01-07,4,\n")
    panel = read_panel([write_csv(text)], wide=True, warn=lambda m: None)
    assert panel.layout == "wide" and panel.names == ["A", "B"]
    assert panel.target_of(0).tolist() == [1, 2, 3, 4]          # not listed yet: shorter
    assert panel.target_of(1).tolist() == [10, 11, 11, 13]       # inner blank: ffill; delisted
    assert str(panel.dates[panel.rows(1)][-1].date()) == "2020-01-06"
    with pytest.raises(DataError, match="empty cell"):
        read_panel([write_csv(text)], wide=True, missing="error")


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


@pytest.mark.parametrize("name", ["ticker", "Symbol", "NAME"])
def test_a_named_series_column_is_the_series_column_though_no_date_repeats(write_csv, name):
    """OLD trades until NEW is listed: no date repeats, yet they are two series, never one
    price path spliced together (issue 20, item 4)."""
    old, new = days("2010-01-01", 30), days("2010-03-01", 30)
    text = long_text(f"Date,{name},Close", [(d, "OLD", i) for i, d in enumerate(old)]
                     + [(d, "NEW", 100 + i) for i, d in enumerate(new)])
    panel = read_panel([write_csv(text)])
    assert panel.layout == "long" and panel.series_column == name
    assert panel.names == ["OLD", "NEW"] and panel.lengths.tolist() == [30, 30]
    assert panel.target_of(1)[0] == 100


def test_tickers_at_different_utc_offsets_are_two_series(write_csv):
    """Tokyo at 09:00+09:00 and New York at 09:30-05:00: wall-clock times that never meet."""
    rows = [(f"{d} 09:00+09:00", "7203", i) for i, d in enumerate(days("2019-01-01", 20))]
    rows += [(f"{d} 09:30-05:00", "IBM", i) for i, d in enumerate(days("2019-01-01", 20))]
    panel = read_panel([write_csv(long_text("Date,ticker,Close", rows))])
    assert panel.names == ["7203", "IBM"] and panel.lengths.tolist() == [20, 20]


def test_a_named_column_with_a_label_per_row_is_a_row_id(write_csv):
    text = long_text("Date,id,Close", [(d, i, i) for i, d in enumerate(days("2019-01-01", 20))])
    panel = read_panel([write_csv(text)])
    assert panel.layout == "single" and panel.target == "Close"


@pytest.mark.parametrize("careful", [False, True], ids=["fast reader", "careful reader"])
def test_numeric_ticker_codes_are_text_with_their_leading_zeros(write_csv, monkeypatch, careful):
    """Tokyo's 7203 and Hong Kong's 0005 (issue 20, item 6): named like a series column,
    or given with --series-column, a column of codes is read as text."""
    if careful:
        monkeypatch.setattr("forecast.data.tables._fast_table", lambda *a: None)
    rows = [(d, code, i) for i, d in enumerate(days("2019-01-01", 20))
            for code in ("0005", "7203")]
    panel = read_panel([write_csv(long_text("Date,code,Close", rows))])
    assert panel.series_column == "code" and panel.names == ["0005", "7203"]
    given = read_panel([write_csv(long_text("Date,Exchange,Close", rows))],
                       series_column="exchange")
    assert given.names == ["0005", "7203"] and given.lengths.tolist() == [20, 20]


def test_an_unlisted_series_column_is_found_by_its_shape_and_said(write_csv):
    """`Market` is not a name the detector lists: dates repeat across its labels, and each
    label's dates are unique, so it is the series column, with a warning saying so."""
    rows = [(d, market, i) for i, d in enumerate(days("2019-01-01", 20))
            for market in ("NYSE", "LSE")]
    warnings = []
    panel = read_panel([write_csv(long_text("Date,Market,Close", rows))], warn=warnings.append)
    assert panel.series_column == "Market" and panel.names == ["NYSE", "LSE"]
    assert warnings == ["took column 'Market' as the series column (its labels repeat the "
                        "dates); pass --series-column to choose it yourself"]


def test_two_unlisted_columns_that_could_each_name_the_series_are_refused(write_csv):
    rows = [(d, market, market.lower(), i) for i, d in enumerate(days("2019-01-01", 20))
            for market in ("NYSE", "LSE")]
    with pytest.raises(DataError, match=r"columns Market, Venue could each name the "
                                        r"series of a long file; pass --series-column NAME"):
        read_panel([write_csv(long_text("Date,Market,Venue,Close", rows))])
    panel = read_panel([write_csv(long_text("Date,Market,Venue,Close", rows))],
                       series_column="Venue")
    assert panel.names == ["nyse", "lse"]


def test_an_unlisted_column_that_only_might_name_series_is_refused_naming_the_flag(write_csv):
    """Markets that share a single day: not shape enough to be taken, so the error names
    --series-column (never a plain duplicate-date error)."""
    rows = [(d, "NYSE", i) for i, d in enumerate(days("2019-01-01", 20))]
    rows += [(d, "LSE", i) for i, d in enumerate(days("2019-01-28", 20))]
    with pytest.raises(DataError, match=r"duplicate date 2019-01-28 .* if column 'Market' "
                                        r"names each row's series, pass --series-column Market"):
        read_panel([write_csv(long_text("Date,Market,Close", rows))])


@pytest.mark.parametrize("notes", [("", "revised"), ("ok", "revised")],
                         ids=["blank notes", "a note on every row"])
def test_a_note_column_never_becomes_the_series_column(write_csv, notes):
    """One ticker, a free-text Note, and one duplicated (revised) row: the duplicate-date
    error, naming --series-column since Note could be one (issue 20, item 5)."""
    dates = days("2019-01-01", 20)
    rows = [(d, i, notes[0]) for i, d in enumerate(dates)] + [(dates[4], 99, notes[1])]
    with pytest.raises(DataError, match=r"line 22, column 'Date': duplicate date 2019-01-07 "
                                        r"\(also on line 6\); keep one row per date; if column "
                                        r"'Note' names each row's series, pass --series-column"):
        read_panel([write_csv(long_text("Date,Close,Note", rows))])


def test_a_date_shared_as_one_series_ends_and_the_next_begins_is_no_duplicate(write_csv):
    """OLD's last day is NEW's first: one row each, in two series; not a duplicate."""
    old, new = days("2019-01-01", 20), days("2019-01-28", 20)
    assert old[-1] == new[0]
    rows = [(d, "OLD", i) for i, d in enumerate(old)] + [(d, "NEW", i) for i, d in enumerate(new)]
    panel = read_panel([write_csv(long_text("Date,symbol,Close", rows))])
    assert panel.lengths.tolist() == [20, 20]


@pytest.mark.parametrize("careful", [False, True], ids=["fast reader", "careful reader"])
def test_ffill_never_fills_a_series_first_blank_from_the_previous_series(write_csv,
                                                                         monkeypatch, careful):
    if careful:
        monkeypatch.setattr("forecast.data.tables._fast_table", lambda *a: None)
    rows = [(d, "A", 1 + i) for i, d in enumerate(days("2019-01-01", 10))]
    rows += [(d, "B", "" if i == 0 else 50 + i) for i, d in enumerate(days("2019-01-01", 10))]
    warnings = []
    panel = read_panel([write_csv(long_text("Date,symbol,Close", rows))], warn=warnings.append)
    assert panel.names == ["A", "B"] and panel.lengths.tolist() == [10, 9]
    assert panel.target_of(1).tolist() == [51 + i for i in range(9)]
    assert "dropped 1 leading row(s)" in warnings[0]


def test_hourly_data_across_the_clock_change_names_the_time_and_the_cause(write_csv):
    rows = [(f"2019-11-03 {h:02d}:00", h) for h in range(4)] + [("2019-11-03 01:00", 9)]
    with pytest.raises(DataError, match=r"line 6, column 'Date': duplicate date 2019-11-03 "
                                        r"01:00 \(also on line 3\); the same wall-clock time "
                                        r"twice, as a local clock change"):
        read_panel([write_csv(long_text("Date,Close", rows))])
    offsets = [(f"2019-11-03T0{h}:00:00-04:00", h) for h in range(2)]
    offsets += [(f"2019-11-03T0{h}:00:00-05:00", h) for h in range(1, 3)]
    with pytest.raises(DataError, match=r"duplicate date 2019-11-03 01:00 \(also on line 3; "
                                        r"written '2019-11-03T01:00:00-05:00' and "
                                        r"'2019-11-03T01:00:00-04:00'\).*write the times in UTC"):
        read_panel([write_csv(long_text("Date,Close", offsets))])


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


def test_parquet_input_reads_the_same_panel_as_the_csv(tmp_path):
    from tests.conftest import ROOT

    csv = read_panel([ROOT / "data" / "panel20_long.csv"])
    frame = pd.read_csv(ROOT / "data" / "panel20_long.csv", parse_dates=["date"])
    frame.to_parquet(tmp_path / "p.parquet")
    parquet = read_panel([tmp_path / "p.parquet"])
    assert parquet.names == csv.names and parquet.layout == "long"
    np.testing.assert_array_equal(parquet.values, csv.values)
    assert (parquet.dates == csv.dates).all()
    wide = pd.read_csv(ROOT / "data" / "panel20_wide.csv", parse_dates=["date"])
    wide.to_parquet(tmp_path / "w.parquet")
    from_wide = read_panel([tmp_path / "w.parquet"], wide=True)
    assert sorted(from_wide.names) == sorted(csv.names)
    with pytest.raises(DataError, match="cannot be read as Parquet"):
        (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
        read_panel([tmp_path / "bad.parquet"])


def test_parquet_typed_columns_follow_the_csv_rules(tmp_path):
    """Parquet date-time and number columns are taken as typed (no text round trip), with
    the answers a CSV of the same cells gets: wall-clock times, NaN as a missing cell,
    inf and a missing date as errors naming the line, --decimal irrelevant to numbers."""
    dates = pd.date_range("2020-01-06 09:30", periods=4, freq="D", tz="Asia/Tokyo")
    frame = pd.DataFrame({"date": dates, "close": [1.5, np.nan, 3.0, 4.0],
                          "volume": np.array([10, 20, 30, 40], dtype=np.int64)})
    frame.to_parquet(tmp_path / "p.parquet")
    notes = []
    panel = read_panel([tmp_path / "p.parquet"], features=["volume"], warn=notes.append)
    assert [str(d) for d in panel.dates] == [f"2020-01-{d:02d} 09:30:00" for d in (6, 7, 8, 9)]
    np.testing.assert_array_equal(panel.values, [[1.5, 10], [1.5, 20], [3, 30], [4, 40]])
    assert "filled 1 empty cell" in " ".join(notes)
    comma = read_panel([tmp_path / "p.parquet"], decimal=",", warn=lambda m: None)
    np.testing.assert_array_equal(comma.values[:, 0], [1.5, 1.5, 3, 4])
    frame.loc[2, "close"] = np.inf
    frame.to_parquet(tmp_path / "inf.parquet")
    with pytest.raises(DataError, match=r"inf.parquet line 4, column 'close': 'inf' is not a"):
        read_panel([tmp_path / "inf.parquet"])
    frame.loc[2, "close"], frame.loc[1, "date"] = 3.0, pd.NaT
    frame.to_parquet(tmp_path / "nat.parquet")
    with pytest.raises(DataError, match=r"nat.parquet line 3, column 'date': empty date"):
        read_panel([tmp_path / "nat.parquet"])
    # yyyymmdd dates stored as numbers (float when a null made pandas widen them) read as
    # their digits, as in a CSV; a second date-time column's blanks count as missing
    numbers = pd.DataFrame({"date": [20200102.0, 20200103.0, 20200106.0],
                            "close": [1.0, 2.0, 3.0],
                            "ex": pd.to_datetime(["2020-01-02", None, "2020-01-06"])})
    numbers.to_parquet(tmp_path / "numbers.parquet")
    panel = read_panel([tmp_path / "numbers.parquet"], warn=lambda m: None)
    assert [str(d.date()) for d in panel.dates] == ["2020-01-02", "2020-01-03", "2020-01-06"]
    table = read_table(tmp_path / "numbers.parquet")
    values, invalid = parse_numbers(table, "ex")
    assert np.isnan(values).all() and invalid.tolist() == [True, False, True]


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
