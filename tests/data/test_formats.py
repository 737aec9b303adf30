"""Files as the usual sources write them (docs/formats.md): yfinance's header rows, the
sources' names for the close and the date, currency-marked and suffixed numbers, other
encodings, headerless exports. Every layout is read by the fast reader and by the careful
one (the ``reader`` fixture), to exactly the dates and closes written. One module for
the source layouts end to end (sources, tables, dates, numbers, layouts at once), not
split by module."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import data
from forecast.data import read_panel
from forecast.errors import DataError, UsageError
from tests.conftest import assert_advice_fits

DATES = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
CLOSES = [185.64, 184.25, 181.91, 181.18, 185.56]


@pytest.fixture(params=["fast", "careful"])
def reader(request, monkeypatch):
    """Run the test with the fast reader (where it applies), then with the careful one."""
    if request.param == "careful":
        monkeypatch.setattr(data.tables, "_fast_table", lambda *args, **kwargs: None)
    return request.param


def series(panel) -> dict[str, tuple[list[str], list[float]]]:
    """Each series' dates (ISO) and targets, by name."""
    out = {}
    for s, name in enumerate(panel.names):
        rows = panel.rows(s)
        out[name] = ([d.isoformat() if d != d.normalize() else d.strftime("%Y-%m-%d")
                      for d in panel.dates[rows]], panel.values[rows, 0].tolist())
    return out


def refused(read, *fragments: str) -> str:
    """The one-line message of the DataError or UsageError ``read()`` raises; it names
    each of ``fragments``."""
    with pytest.raises((DataError, UsageError)) as info:
        read()
    message = info.value.message
    short = "\n" not in message and len(message) <= 300
    assert short, f"{len(message)} characters: {message[:300]}"
    for fragment in fragments:
        found = fragment in message
        assert found, message
    return message


# --- the sources' names for the close and the date ------------------------------------

@pytest.mark.parametrize("date, close", [
    ("Date", "Price"), ("Date", "Last"), ("Date", "Close/Last"), ("Date", "Adj. Close"),
    ("Datum", "Schluss"), ("Datum", "Schlusskurs"), ("Date", "Clôture"), ("date", "CLOTURE"),
    ("Fecha", "Cierre"), ("Data", "Chiusura"), ("Data", "Zamknięcie"), ("Data", "Zamkniecie"),
    ("<DATE>", "<CLOSE>"), ("Time", "close"), ("timestamp", "adjusted_close"),
])
def test_the_sources_names_for_the_close_and_the_date_are_found(write_csv, reader, date, close):
    rows = "".join(f"{d},1.5,{c}\n" for d, c in zip(DATES, CLOSES))
    panel = read_panel([write_csv(f"{date},Open,{close}\n{rows}")])
    assert (panel.date_column, panel.target) == (date, close)
    assert series(panel)["input"] == (DATES, CLOSES)


def test_close_comes_before_the_adjusted_close_and_the_sources_words(write_csv):
    text = "Date,Price,Adj Close,Close\n2024-01-02,1,2,3\n2024-01-03,1,2,3\n"
    assert read_panel([write_csv(text)]).target == "Close"
    text = "Date,Price,Adj Close\n2024-01-02,1,2\n2024-01-03,1,2\n"
    assert read_panel([write_csv(text)]).target == "Adj Close"


def test_two_names_for_the_close_of_one_rank_are_ambiguous(write_csv):
    # Quandl's futures (CHRIS) write both Last and Settle
    path = write_csv("Date,Open,Last,Settle\n2024-01-02,1,2,3\n2024-01-03,1,2,3\n")
    refused(lambda: read_panel([path]), "ambiguous", "--target", "Last, Settle")
    assert read_panel([path], target="settle").target == "Settle"


def test_two_date_names_of_one_rank_are_ambiguous(write_csv):
    path = write_csv("Datum,Fecha,Close\n2024-01-02,2024-01-02,1\n2024-01-03,2024-01-03,2\n")
    refused(lambda: read_panel([path]), "ambiguous", "--date-column", "Datum, Fecha")
    assert read_panel([path], date_column="fecha").date_column == "Fecha"
    # a date and a time column: Date is the date (as stooq and MetaTrader name them)
    text = "<DATE>,<TIME>,<CLOSE>\n20240102,000000,1\n20240103,000000,2\n"
    assert read_panel([write_csv(text)]).date_column == "<DATE>"


def test_options_name_columns_as_the_names_are_compared(write_csv):
    path = write_csv("<DATE>,<OPEN>,<HIGH>,<LOW>,<CLOSE>\n"
                     "20240102,1,2,0.5,1.5\n20240103,1,2,0.5,1.5\n")
    panel = read_panel([path], target="close", features=["open"], extra=["High", "Low"])
    assert panel.columns == ["<CLOSE>", "<OPEN>", "<HIGH>", "<LOW>"]


# --- encodings ------------------------------------------------------------------------

GERMAN = ("Datum;Eröffnung;Hoch;Tief;Schluss;Volumen\n"
          "15.01.2024;12,50;12,90;12,40;12,80;1.200\n"
          "16.01.2024;12,80;13,10;12,70;13,05;980\n"
          "17.01.2024;13,05;13,20;12,95;13,15;1.050\n")


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16", "utf-16-le", "utf-8"])
def test_encoding_round_trips(write_csv, encoding):
    path = write_csv(GERMAN.encode(encoding))
    panel = read_panel([path], encoding=encoding)
    assert series(panel)["input"] == (["2024-01-15", "2024-01-16", "2024-01-17"],
                                      [12.80, 13.05, 13.15])
    assert panel.date_column == "Datum" and panel.target == "Schluss"
    described = data.describe_file(path, encoding=encoding)
    assert [c["name"] for c in described["columns"]][1] == "Eröffnung"


def test_a_cp1252_file_without_encoding_says_to_pass_it(write_csv):
    path = write_csv(GERMAN.encode("cp1252"))
    refused(lambda: read_panel([path]), "line 1", "not UTF-8", "--encoding cp1252", "Excel")


@pytest.mark.parametrize("bom, encoding", [(b"\xef\xbb\xbf", "utf-8"), (b"", "utf-16"),
                                           (b"", "utf-32")])
def test_a_byte_order_mark_is_honoured_without_encoding(write_csv, reader, bom, encoding):
    text = "Date,Close\n" + "".join(f"{d},{c}\n" for d, c in zip(DATES, CLOSES))
    panel = read_panel([write_csv(bom + text.encode(encoding))])   # utf-16/32 write a BOM
    assert series(panel)["input"] == (DATES, CLOSES)


def test_an_unknown_encoding_is_a_usage_error(write_csv):
    path = write_csv("Date,Close\n2024-01-02,1\n")
    refused(lambda: read_panel([path], encoding="klingon"), "--encoding", "'klingon'", "cp1252")
    refused(lambda: read_panel([path], encoding="rot13"), "--encoding", "not a text encoding")


def test_bytes_the_encoding_cannot_read_name_their_line(write_csv):
    path = write_csv("Date,Close\n2024-01-02,1\n2024-01-03,2\n".encode() + b"\x81\n")
    refused(lambda: read_panel([path], encoding="cp1252"), "line 4", "not cp1252 text")


def test_encoding_on_every_command_that_reads_prices(cli, tmp_path):
    """--encoding is an option of inspect, train, tune, predict, evaluate and plot."""
    for command in ("inspect", "train", "tune", "predict", "evaluate", "plot"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "--encoding" in result.stdout, command


def test_inspect_reads_a_cp1252_file_with_encoding(cli, tmp_path):
    path = tmp_path / "boerse.csv"
    path.write_bytes(GERMAN.encode("cp1252"))
    result = cli("inspect", path, "--encoding", "cp1252", "--json")
    assert result.exit_code == 0, result.stderr
    assert '"target": "Schluss"' in result.stdout
    result = cli("inspect", path)
    assert result.exit_code == 2 and "--encoding cp1252" in result.stderr
    result = cli("inspect", path, "--encoding", "nope")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert_advice_fits("inspect", result.stderr)


# --- yfinance -------------------------------------------------------------------------

FIELDS = ["Close", "High", "Low", "Open", "Volume"]


def ohlcv(closes, seed: int = 0) -> pd.DataFrame:
    """Open, High, Low, Close, Volume around ``closes`` (NaN where a close is NaN)."""
    rng = np.random.default_rng(seed)
    close = np.asarray(closes, float)
    return pd.DataFrame({"Close": close, "High": np.round(close * 1.01, 2),
                         "Low": np.round(close * 0.99, 2), "Open": np.round(close + 0.5, 2),
                         "Volume": np.where(np.isnan(close), np.nan,
                                            rng.integers(10**6, 10**8, len(close)))})


def yfinance_csv(prices: dict[str, list[float]], dates=DATES, group_by: str = "column",
                 labels: bool = True, index: str = "Date") -> str:
    """What ``yf.download(tickers, group_by=...).to_csv()`` writes (yfinance 0.2.51 and
    later; ``labels=False``: earlier versions, whose column levels had no names): pandas'
    own CSV of the MultiIndex frame."""
    frames = {t: ohlcv(c, seed=i) for i, (t, c) in enumerate(prices.items())}
    if group_by == "column":
        columns = pd.MultiIndex.from_product([FIELDS, list(prices)],
                                             names=["Price", "Ticker"] if labels else None)
        cells = {(f, t): frames[t][f].to_numpy() for f, t in columns}
    else:
        columns = pd.MultiIndex.from_product([list(prices), ["Open", "High", "Low", "Close",
                                                             "Volume"]],
                                             names=["Ticker", "Price"] if labels else None)
        cells = {(t, f): frames[t][f].to_numpy() for t, f in columns}
    frame = pd.DataFrame(cells, index=pd.Index(pd.to_datetime(dates), name=index),
                         columns=columns)
    return frame.to_csv()


def long_csv(prices: dict[str, list[float]], dates=DATES) -> str:
    """The same prices as a long file: Date, Ticker, Close, High, ..., ticker by ticker,
    each from its first price to its last."""
    rows = []
    for i, (t, closes) in enumerate(prices.items()):
        frame = ohlcv(closes, seed=i)
        frame.insert(0, "Ticker", t)
        frame.insert(0, "Date", dates)
        present = np.flatnonzero(~np.isnan(np.asarray(closes, float)))
        rows.append(frame.iloc[present[0]:present[-1] + 1])
    return pd.concat(rows).to_csv(index=False)


def test_yfinance_single_ticker_is_one_series_named_by_its_ticker(write_csv, reader):
    text = yfinance_csv({"MSFT": CLOSES})
    assert text.splitlines()[:3] == ["Price,Close,High,Low,Open,Volume",
                                     "Ticker,MSFT,MSFT,MSFT,MSFT,MSFT", "Date,,,,,"]
    panel = read_panel([write_csv(text, "msft.csv")], extra=["High", "Low"])
    assert series(panel) == {"MSFT": (DATES, CLOSES)}
    assert (panel.layout, panel.target, panel.columns) == ("single", "Close",
                                                           ["Close", "High", "Low"])
    assert panel.lines.tolist() == [4, 5, 6, 7, 8]


MULTI = {"AAPL": [np.nan, 184.25, 181.91, 181.18, 185.56],    # listed from the second day
         "MSFT": [370.87, 370.6, 367.94, 367.75, 374.69],
         "NVDA": [48.17, 47.57, np.nan, 49.1, 52.25]}         # a gap: for --missing


@pytest.mark.parametrize("group_by, labels", [("column", True), ("ticker", True),
                                              ("column", False), ("ticker", False)])
def test_yfinance_several_tickers_are_a_panel_of_them(write_csv, reader, group_by, labels):
    text = yfinance_csv(MULTI, group_by=group_by, labels=labels)
    first = text.splitlines()[:3]
    assert first[2] == "Date" + "," * 15
    assert first[0].startswith("Price,Close,Close" if group_by == "column" and labels else
                               "Ticker,AAPL,AAPL" if labels else ",")
    panel = read_panel([write_csv(text)], features=["Open"], extra=["High", "Low"])
    assert (panel.layout, panel.series_column, panel.columns) == (
        "long", "Ticker", ["Close", "Open", "High", "Low"])
    assert series(panel) == {
        "AAPL": (DATES[1:], MULTI["AAPL"][1:]),
        "MSFT": (DATES, MULTI["MSFT"]),
        "NVDA": (DATES, [48.17, 47.57, 47.57, 49.1, 52.25])}   # filled (--missing ffill)
    assert panel.filled == 4   # NVDA's Close, Open, High and Low on the third day


def test_yfinance_several_tickers_read_as_the_same_prices_in_long_form(write_csv, reader):
    wide = read_panel([write_csv(yfinance_csv(MULTI), "yf.csv")], target="High",
                       features=["Volume", "Open"], extra=["Low"])
    long = read_panel([write_csv(long_csv(MULTI), "long.csv")], target="High",
                       features=["Volume", "Open"], extra=["Low"])
    for name in ("names", "target", "features", "extra", "layout", "series_column",
                 "date_column", "filled"):
        assert getattr(wide, name) == getattr(long, name), name
    assert wide.offsets.tolist() == long.offsets.tolist()
    assert (wide.dates == long.dates).all()
    np.testing.assert_array_equal(wide.values, long.values)


def test_yfinance_intraday_keeps_the_exchange_clock(write_csv, reader):
    stamps = ["2024-03-08 14:30:00-05:00", "2024-03-08 15:30:00-05:00",
              "2024-03-11 09:30:00-04:00", "2024-03-11 10:30:00-04:00"]
    text = ("Price,Close,High,Low,Open,Volume\nTicker,SPY,SPY,SPY,SPY,SPY\nDatetime,,,,,\n"
            + "".join(f"{s},{c},{c + 1},{c - 1},{c},1000\n" for s, c in zip(stamps, CLOSES)))
    panel = read_panel([write_csv(text)])
    assert panel.date_column == "Datetime" and panel.names == ["SPY"]
    assert series(panel)["SPY"] == ([s[:19].replace(" ", "T") for s in stamps], CLOSES[:4])
    # one offset throughout (UTC, as a 1m download writes it): the same
    utc = text.replace("-05:00", "+00:00").replace("-04:00", "+00:00")
    assert series(read_panel([write_csv(utc)]))["SPY"][1] == CLOSES[:4]


def test_yfinance_old_single_header_keeps_working(write_csv, reader):
    text = "Date,Open,High,Low,Close,Adj Close,Volume\n" + "".join(
        f"{d},1,2,0.5,{c},{c - 1},100\n" for d, c in zip(DATES, CLOSES))
    panel = read_panel([write_csv(text, "aapl.csv")])
    assert series(panel) == {"aapl": (DATES, CLOSES)} and panel.target == "Close"


def test_yfinance_several_tickers_refuse_wide(write_csv):
    path = write_csv(yfinance_csv(MULTI))
    refused(lambda: read_panel([path], wide=True), "yfinance", "drop --wide")


def test_a_header_row_of_values_is_not_taken_for_yfinance(write_csv, reader):
    """Rows that only look like yfinance's (no Date row) are the usual header and data."""
    text = "Price,Close\nTicker,1\nDate,2\n"
    refused(lambda: read_panel([write_csv(text)]), "no date column")


def test_inspect_shows_a_yfinance_panel(cli, tmp_path):
    path = tmp_path / "yf.csv"
    path.write_text(yfinance_csv(MULTI))
    result = cli("inspect", path)
    assert result.exit_code == 0, result.stderr
    assert "series: 3 (long layout, series column 'Ticker')" in result.stdout
    assert "AAPL,4,2024-01-03,2024-01-08" in result.stdout


@pytest.mark.parametrize("text", [
    yfinance_csv({"MSFT": CLOSES}), yfinance_csv(MULTI), yfinance_csv(MULTI, group_by="ticker", labels=False),
    yfinance_csv(MULTI).replace("\n", "\r\n"),
    "Price,Close\nTicker,MSFT\nDate,\n2024-01-02,1\n2024-01-03,x\n",
    "Price,Close,Close\nTicker,A,B\nDate,,\n2024-01-02,1,\n2024-01-03,,2\n",
])
def test_the_two_readers_agree_on_yfinance_files(text):
    from tests.data.test_fuzz import both_paths

    fast, careful = both_paths(text.encode())
    assert fast == careful and fast[0] == "table"


# --- headerless exports -------------------------------------------------------------

@pytest.mark.parametrize("first", [
    "2024.01.02,00:00,1.10420,1.10480,1.10360,1.10450,1520",       # MetaTrader 4 history
    "2024.01.02\t00:00\t1.10420\t1.10480\t1.10360\t1.10450\t1520",  # MetaTrader, tabs
    "1704153600000,42283.58,42554.57,41815.64,42475.23,1212.35,1704239999999,51462351.7,"
    "40128,614.87,26112384.5,0",                                     # Binance klines
])
def test_a_file_without_a_header_says_what_a_header_needs(write_csv, reader, first):
    path = write_csv(first + "\n" + first.replace("02", "03", 1) + "\n")
    message = refused(lambda: read_panel([path]), "line 1", "holds values",
                      "add a header row", "Date,Open,High,Low,Close,Volume")
    assert first.replace("\t", ",")[:30] in message or first[:30] in message


# --- currency-marked, percent and suffixed numbers -------------------------------------

@pytest.mark.parametrize("cells, values", [
    (["$2,506.85", "$2,510.00", "-$1.50"], [2506.85, 2510.0, -1.5]),       # nasdaq.com
    (["USD 12.5", "USD 13", "USD 12.75"], [12.5, 13.0, 12.75]),
    (["12.5 USD", "13USD", "12.75 USD"], [12.5, 13.0, 12.75]),
    (["€12.50", "€ 13.00", "12.75€"], [12.5, 13.0, 12.75]),
    (["£1,234.5", "£1,300", "£999"], [1234.5, 1300.0, 999.0]),
    (["¥15,000", "¥15,100", "¥14,950"], [15000.0, 15100.0, 14950.0]),
    (["3.46B", "1.2M", "850K"], [3.46e9, 1.2e6, 850e3]),                    # Investing.com
    (["1.25%", "-0.40%", "0%"], [1.25, -0.4, 0.0]),
    (["12", "$13", ""], [12.0, 13.0, np.nan]),       # a mark on some cells, a blank cell
])
def test_marked_numbers_read_as_numbers(write_csv, reader, cells, values):
    text = "Date,Close\n" + "".join(f'{d},"{c}"\n' for d, c in zip(DATES, cells))
    table = data.read_table(write_csv(text))
    found, invalid = data.parse_numbers(table, "Close")
    np.testing.assert_array_equal(found, values)
    assert not invalid.any()


def test_marks_leave_the_decimal_separator_to_the_whole_column(write_csv, reader):
    text = ("Datum;Schluss;Vol.\n15.01.2024;1.234,50 €;3,46B\n16.01.2024;€ 1.236;850K\n"
            "17.01.2024;1.240,25€;1,2M\n")
    panel = read_panel([write_csv(text)], features=["Vol."])
    assert panel.frame["Schluss"].tolist() == [1234.5, 1236.0, 1240.25]
    assert panel.frame["Vol."].tolist() == [3.46e9, 850e3, 1.2e6]
    # 1,234 € alone could be 1234 or 1.234 in a semicolon file: refused as any such cell is
    path = write_csv("Date;Close\n2024-01-02;1,234 €\n2024-01-03;1,500 €\n")
    refused(lambda: read_panel([path]), "'1,234 €'", "--decimal")


def test_a_column_in_two_currencies_is_refused_naming_both(write_csv, reader):
    text = "Date,Close\n" + "".join(f"{d},{c}\n" for d, c in
                                    zip(DATES, ["$12.5", "$12.6", "€11.9", "$12.4"]))
    refused(lambda: read_panel([write_csv(text)]), "line 2", "'$12.5'", "$", "line 4",
            "'€11.9'", "€", "one currency")


def test_a_trailing_percent_in_an_unused_column_is_no_problem(write_csv, reader, cli):
    text = "Date,Price,Change %\n" + "".join(f"{d},{c},{i - 1.5:.2f}%\n" for i, (d, c) in
                                             enumerate(zip(DATES, CLOSES)))
    path = write_csv(text)
    assert series(read_panel([path]))["input"] == (DATES, CLOSES)
    result = cli("inspect", path)
    assert result.exit_code == 0 and "Change %,,number,0" in result.stdout, result.stdout


def test_text_with_a_currency_code_is_no_number(write_csv):
    table = data.read_table(write_csv("Date,Close,Note\n2024-01-02,1,USD\n2024-01-03,2,EUR\n"))
    values, invalid = data.parse_numbers(table, "Note")
    assert invalid.all() and np.isnan(values).all()


# --- one sample per source, as docs/formats.md shows it --------------------------------

DAYS = pd.bdate_range("2024-01-02", periods=10)   # the 15th settles day and month
ISO = [d.strftime("%Y-%m-%d") for d in DAYS]
AAPL = [185.64, 184.25, 181.91, 181.18, 185.56, 185.14, 186.19, 185.59, 185.92, 183.63]
MSFT = [370.87, 370.6, 367.94, 367.75, 374.69, 375.79, 382.77, 384.63, 388.47, 390.27]


def _rows(closes, fmt, dates=DAYS, newest_first=False, seed=0) -> str:
    """One line per day: ``fmt`` filled with the day (d), close (c), open (o), high (h),
    low (lo), adjusted close (a) and volume (v; m: in millions, as 82.49M)."""
    frame = ohlcv(closes, seed)
    lines = [fmt.format(d=d, c=c, o=o, h=h, lo=lo, a=round(c * 0.98, 4), v=int(v),
                        m=f"{v / 1e6:.2f}M")
             for d, c, o, h, lo, v in zip(dates, closes, frame["Open"], frame["High"],
                                          frame["Low"], frame["Volume"])]
    return "".join(reversed(lines) if newest_first else lines)


def _de(number: float, decimals: int = 2) -> str:
    """A number as a German Excel writes it: 1.234,56."""
    return f"{number:,.{decimals}f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def _stamps(hours: int = 10) -> list[str]:
    """An hourly download across the US change to summer time: the offset changes."""
    days = ["2024-03-08"] * 5 + ["2024-03-11"] * 5
    return [f"{day} {9 + i % 5}:30:00{'-05:00' if day < '2024-03-10' else '-04:00'}"
            .replace(" 9:", " 09:") for i, day in enumerate(days[:hours])]


def samples() -> dict[str, tuple[str, bytes, dict[str, tuple[list[str], list[float]]]]]:
    """Per source (a docs/formats.md section): the file's name, its bytes, and what it
    reads to: each series' dates and closes."""
    german = "Datum;Eröffnung;Hoch;Tief;Schluss;Volumen\n" + "".join(
        f"{d:%d.%m.%Y};{_de(o)};{_de(h)};{_de(lo)};{_de(c)} €;{_de(v, 0)}\n"
        for d, (c, h, lo, o, v) in zip(DAYS, ohlcv(AAPL).itertuples(index=False)))
    bulk = "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n" + "".join(
        _rows(c, t + ",D,{d:%Y%m%d},000000,{o},{h},{lo},{c},{v},0\n", seed=i)
        for i, (t, c) in enumerate((("AAPL.US", AAPL), ("MSFT.US", MSFT))))
    kaggle = "date,open,high,low,close,volume,Name\n" + "".join(
        _rows(c, "{d:%Y-%m-%d},{o},{h},{lo},{c},{v}," + t + "\n", seed=i)
        for i, (t, c) in enumerate((("AAPL", AAPL), ("MSFT", MSFT))))
    hours = _stamps()
    return {
        "yfinance": ("aapl.csv", yfinance_csv({"AAPL": AAPL}, DAYS).encode(),
                     {"AAPL": (ISO, AAPL)}),
        "yfinance-multi": ("tech.csv", yfinance_csv({"AAPL": AAPL, "MSFT": MSFT}, DAYS)
                           .encode(), {"AAPL": (ISO, AAPL), "MSFT": (ISO, MSFT)}),
        "yfinance-ticker": ("tech.csv", yfinance_csv({"AAPL": AAPL, "MSFT": MSFT}, DAYS,
                                                     group_by="ticker").encode(),
                            {"AAPL": (ISO, AAPL), "MSFT": (ISO, MSFT)}),
        "yfinance-intraday": (
            "spy-1h.csv", ("Price,Close,High,Low,Open,Volume\nTicker,SPY,SPY,SPY,SPY,SPY\n"
                           "Datetime,,,,,\n" + _rows(AAPL, "{d},{c},{h},{lo},{o},{v}\n",
                                                     dates=hours)).encode(),
            {"SPY": ([h[:19].replace(" ", "T") for h in hours], AAPL)}),
        "yfinance-old": ("aapl.csv", ("Date,Open,High,Low,Close,Adj Close,Volume\n" + _rows(
            AAPL, "{d:%Y-%m-%d},{o},{h},{lo},{c},{a},{v}\n")).encode(), {"aapl": (ISO, AAPL)}),
        "stooq": ("aapl_us_d.csv", ("Date,Open,High,Low,Close,Volume\n" + _rows(
            AAPL, "{d:%Y-%m-%d},{o},{h},{lo},{c},{v}\n")).encode(), {"aapl_us_d": (ISO, AAPL)}),
        "stooq-polish": ("aapl_us_d.csv", ("Data,Otwarcie,Najwyzszy,Najnizszy,Zamkniecie,"
                                           "Wolumen\n" + _rows(
            AAPL, "{d:%Y-%m-%d},{o},{h},{lo},{c},{v}\n")).encode(), {"aapl_us_d": (ISO, AAPL)}),
        "stooq-bulk": ("bulk.txt", bulk.encode(), {"AAPL.US": (ISO, AAPL),
                                                   "MSFT.US": (ISO, MSFT)}),
        "investing": ("AAPL Historical Data.csv", (
            '"Date","Price","Open","High","Low","Vol.","Change %"\n' + _rows(
                AAPL, '"{d:%m/%d/%Y}","{c:,.2f}","{o:,.2f}","{h:,.2f}","{lo:,.2f}",'
                      '"{m}","0.50%"\n', newest_first=True)).encode(),
            {"AAPL Historical Data": (ISO, AAPL)}),
        "alphavantage": ("daily_AAPL.csv", ("timestamp,open,high,low,close,volume\n" + _rows(
            AAPL, "{d:%Y-%m-%d},{o},{h},{lo},{c},{v}\n", newest_first=True)).encode(),
            {"daily_AAPL": (ISO, AAPL)}),
        "nasdaq": ("HistoricalData_AAPL.csv", ("Date,Close/Last,Volume,Open,High,Low\n" + _rows(
            AAPL, "{d:%m/%d/%Y},${c},{v},${o},${h},${lo}\n", newest_first=True)).encode(),
            {"HistoricalData_AAPL": (ISO, AAPL)}),
        "quandl": ("WIKI-AAPL.csv", (
            "Date,Open,High,Low,Close,Volume,Ex-Dividend,Split Ratio,Adj. Open,Adj. High,"
            "Adj. Low,Adj. Close,Adj. Volume\n" + _rows(
                AAPL, "{d:%Y-%m-%d},{o},{h},{lo},{c},{v},0.0,1.0,{o},{h},{lo},{a},{v}\n",
                newest_first=True)).encode(),
            {"WIKI-AAPL": (ISO, [round(c * 0.98, 4) for c in AAPL])}),
        "kaggle": ("all_stocks_5yr.csv", kaggle.encode(), {"AAPL": (ISO, AAPL),
                                                          "MSFT": (ISO, MSFT)}),
        "sheets": ("AAPL - Sheet1.csv", ("Date,Close\n" + _rows(
            AAPL, "{d.month}/{d.day}/{d.year} 16:00:00,{c}\n")).encode(),
            {"AAPL - Sheet1": ([f"{d}T16:00:00" for d in ISO], AAPL)}),
        "excel-cp1252": ("boerse.csv", german.encode("cp1252"), {"boerse": (ISO, AAPL)}),
    }


def documented() -> dict[str, tuple[list[str], list[str]]]:
    """docs/formats.md, per section (its ``<!-- sample: NAME -->`` marker): the sample's
    lines as shown and the command shown for it (split as a shell splits it)."""
    import shlex
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text()
    out = {}
    for part in text.split("<!-- sample: ")[1:]:
        name, body = part.split(" -->", 1)
        blocks = body.split("```")
        shown = blocks[1].split("\n", 1)[1].rstrip("\n").splitlines()
        command = next(line for line in blocks[3].splitlines() if line.startswith("forecast"))
        out[name] = (shown, shlex.split(command))
    return out


#: The reading options a documented command may pass, as read_panel's arguments.
OPTIONS = {"--encoding": "encoding", "--target": "target", "--date-format": "date_format",
           "--decimal": "decimal", "--series-column": "series_column",
           "--date-column": "date_column"}


@pytest.mark.parametrize("name", list(samples()))
def test_each_documented_source_reads_to_the_dates_and_closes_written(tmp_path, reader, name):
    filename, raw, expected = samples()[name]
    shown, command = documented()[name]
    encoding = "cp1252" if "--encoding" in command else "utf-8"
    assert shown == raw.decode(encoding).splitlines()[:len(shown)], "the doc's sample"
    assert len(shown) >= 2 and command[:3] == ["forecast", "train", filename]
    options = dict(zip(command[3::2], command[4::2]))
    assert set(options) <= set(OPTIONS), command
    (tmp_path / filename).write_bytes(raw)
    panel = data.read_panel([tmp_path / filename],
                            **{OPTIONS[flag]: value for flag, value in options.items()})
    assert series(panel) == expected


def test_every_section_of_the_formats_page_has_its_test():
    assert set(documented()) == set(samples())


def test_yfinance_blanks_before_the_first_price_and_after_the_last_are_no_rows(write_csv,
                                                                               reader):
    prices = {"AAPL": [np.nan, 184.25, 181.91, 181.18, np.nan],   # listed late, delisted
              "MSFT": [370.87, 370.6, 367.94, 367.75, 374.69]}
    panel = read_panel([write_csv(yfinance_csv(prices))], missing="error")
    assert series(panel) == {"AAPL": (DATES[1:4], prices["AAPL"][1:4]),
                             "MSFT": (DATES, prices["MSFT"])}
    assert panel.lines[:3].tolist() == [5, 6, 7]


def test_encoding_is_obeyed_even_where_the_bytes_are_valid_utf8(write_csv, reader):
    """b'\\xc3\\xb6' is ö in UTF-8 but Ã¶ in cp1252: --encoding cp1252 reads Ã¶."""
    path = write_csv("Date,Schluss,Gr\u00f6\u00dfe\n2024-01-02,1,2\n2024-01-03,2,3\n".encode())
    assert read_panel([path], features=["Größe"]).features == ["Größe"]
    panel = read_panel([path], encoding="cp1252", features=["GrÃ¶ÃŸe"])
    assert panel.features == ["GrÃ¶ÃŸe"]


def test_messages_about_formats_stay_one_short_line_whatever_the_file_holds(write_csv,
                                                                            reader):
    huge = "x" * 1_000_000
    cases = [
        (f"Date,{huge}a,{huge}b\n2024-01-02,1,2\n", {}),                  # ambiguous close
        (f"Date,Last,Settle,{huge}\n2024-01-02,1,2,3\n", {}),
        (f"Date,{huge}\n2024-01-02,1\n", {"date_column": "nope"}),
        (f"Date,Close\n2024-01-02,$1{'0' * 10000}\n2024-01-03,€2\n", {}),  # two currencies
        ("2024.01.02," + "1," * 100_000 + "2\n", {}),                     # no header
        (f"{huge},Close\n2024-01-02,1\n", {}),                              # no date column
    ]
    for text, options in cases:
        refused(lambda: read_panel([write_csv(text)], **options))
    refused(lambda: read_panel([write_csv("Date,Close\n2024-01-02,1\n")], encoding=huge))
    refused(lambda: read_panel([write_csv(b"Date,Close\n" + b"\xff" * 100_000 + b"\n")]))


def test_train_and_predict_on_a_yfinance_download_of_several_tickers(cli, tmp_path):
    """End to end: per-ticker derived High/Low inputs, a series column in the outputs."""
    from tests.conftest import TINY

    days = pd.bdate_range("2023-01-02", periods=90)
    rng = np.random.default_rng(3)
    prices = {t: list(np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days)))), 2))
              for t in ("AAPL", "MSFT")}
    prices["AAPL"][:10] = [np.nan] * 10   # listed later
    path = tmp_path / "tech.csv"
    path.write_text(yfinance_csv(prices, days))
    result = cli("train", path, *TINY, "--model-dir", tmp_path / "m", "--features", "Open")
    assert result.exit_code == 0, result.stderr
    config = (tmp_path / "m" / "config.json").read_text()
    assert '"series_column": "Ticker"' in config and '"High"' in config
    result = cli("predict", "--model", tmp_path / "m")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("series,date,") and {ln.split(",")[0] for ln in lines[1:]} == {
        "AAPL", "MSFT"}
