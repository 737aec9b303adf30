"""forecast/data/layouts.py: tables to rows: the target's default, the series column (named, by
shape, or refused), wide files, duplicate dates per series, and the missing-value policy.
"""

import numpy as np
import pytest

from forecast.data import read_panel, read_prices
from forecast.errors import DataError
from tests.data.test_panel import TICKERS, days, long_frame, long_text


def test_adj_close_then_only_numeric_column_is_the_default(write_csv):
    assert read_prices(write_csv("Date,Adj Close,Note\n2020-01-02,1,a\n2020-01-03,2,b\n")
                       ).target == "Adj Close"
    assert read_prices(write_csv("timestamp,price,name\n2020-01-02,1,x\n2020-01-03,2,y\n")
                       ).target == "price"


def test_ffill_fills_and_warns_with_the_count(write_csv):
    warnings = []
    path = write_csv("Date,Close\n2020-01-02,1\n2020-01-03,\n2020-01-06,NA\n2020-01-07,4\n")
    prices = read_prices(path, warn=warnings.append)
    assert prices.frame["Close"].tolist() == [1, 1, 1, 4]
    assert len(warnings) == 1 and "filled 2 empty cell(s)" in warnings[0]


def test_drop_and_error_policies(write_csv):
    path = write_csv("Date,Close\n2020-01-02,1\n2020-01-03,\n2020-01-06,3\n")
    assert read_prices(path, missing="drop", warn=lambda m: None).frame["Close"].tolist() == [1, 3]
    with pytest.raises(DataError, match="line 3, column 'Close': empty cell"):
        read_prices(path, missing="error")


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
