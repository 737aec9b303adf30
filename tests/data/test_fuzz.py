"""Property-based tests: whatever the bytes, the reader returns a valid frame or raises a
ForecastError, and `forecast inspect` exits 0, or 2 with exactly one line, no traceback.

Examples are drawn by the Hypothesis profile (tests/conftest.py): derandomized for
`make test`, many and random for `make fuzz`. One module for the whole reader (sources
to panel), not split by module: each property reads bytes end to end.
"""

import hashlib
import io
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.data import read_panel
from forecast.errors import DataError, ForecastError, UsageError

#: The profile's example count; the CLI test, slower per example, runs a quarter of it.
FAST = settings()
CLI_EXAMPLES = settings(max_examples=max(10, settings.default.max_examples // 4))


def check(raw: bytes, **options) -> None:
    try:
        prices = read_panel(["-"], stdin=io.BytesIO(raw), warn=lambda m: None, **options)
    except ForecastError as exc:
        assert exc.message and "\n" not in exc.message
        # a reader error is the user's data or options: exit 2, never 1 (a bug)
        assert isinstance(exc, (DataError, UsageError)) and exc.exit_code == 2
        return
    frame = prices.frame
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert len(frame) >= 1 and np.isfinite(frame.to_numpy(float)).all()
    assert len(prices.lines) == len(frame)


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes(raw):
    check(raw)


@FAST
@given(st.text(max_size=400))
def test_arbitrary_text(text):
    check(text.encode("utf-8"))


DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d", "%d %b %Y", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d %H:%M:%S+02:00", "%b %d, %Y"]
NUMBERS = st.one_of(
    st.floats(min_value=0.01, max_value=1e6).map(lambda v: f"{v:.4f}"),
    st.floats(min_value=0.01, max_value=1e6).map(lambda v: f"{v:.4f}"),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-1e12, max_value=1e12).map(lambda v: f"{v:,.2f}"),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["", " ", "NA", "nan", "NaN", "null", "-", ".", "inf", "-inf", "1e400",
                     "1e-400", "0", "-0", "  12.5  ", '"1,234.5"', "abc", "１２", "٣"]),
)


@st.composite
def tables(draw):
    rows = draw(st.integers(0, 12))
    header_names = st.one_of(st.sampled_from(["Date", "date", "Close", "close", "Adj Close",
                                              "Open", "Volume", "timestamp", "Ünïcode", ""]),
                             st.text(alphabet=string.printable, max_size=6))
    if draw(st.booleans()):  # a plausible price file, so the success path is exercised
        headers = ["Date", "Close"] + draw(st.lists(st.sampled_from(["Open", "Volume"]),
                                                    max_size=2, unique=True))
        draw(st.randoms()).shuffle(headers)
    else:
        headers = draw(st.lists(header_names, min_size=1, max_size=4))
    fmt_per_row = draw(st.booleans())
    fmt = draw(st.sampled_from(DATE_FORMATS))
    start = draw(st.datetimes(min_value=pd.Timestamp("1900-01-01").to_pydatetime(),
                              max_value=pd.Timestamp("2100-01-01").to_pydatetime()))
    lines = [",".join(headers)]
    for i in range(rows):
        day = start + pd.Timedelta(days=draw(st.integers(-5, 40)))
        row_fmt = draw(st.sampled_from(DATE_FORMATS)) if fmt_per_row else fmt
        cells = [day.strftime(row_fmt) if h.lower() in ("date", "timestamp") else draw(NUMBERS)
                 for h in headers]
        if draw(st.booleans()):
            cells = [f'"{c}"' if "," in c and not c.startswith('"') else c for c in cells]
        lines.append(",".join(cells))
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    prefix = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    return prefix + text.encode("utf-8")


@FAST
@given(tables(), st.sampled_from(["ffill", "drop", "error"]))
def test_csv_shaped_tables(raw, missing):
    check(raw, missing=missing)


@CLI_EXAMPLES
@given(st.one_of(tables(), st.binary(max_size=200)))
def test_inspect_exits_0_or_2_never_a_traceback(cli, raw):
    result = cli("inspect", "-", input=raw)
    assert result.exit_code in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    if result.exit_code == 2:  # a failing command prints exactly one line, the error
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("forecast: error: ")
        assert result.stdout == ""


def test_the_draw_that_once_flaked_is_one_line():
    """`make test` once drew this and printed a miscounted warning before the error."""
    from typer.testing import CliRunner

    from forecast.cli import app

    result = CliRunner().invoke(app, ["inspect", "-"], input=b"Date,Close\n2000-01-01,")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "forecast: error: <stdin> has no usable rows: dropped 1 leading row(s) of <stdin> "
        "with empty cells and no row before them to fill from (--missing ffill)"]


def test_make_test_draws_the_same_examples_every_run():
    import os

    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.database is None
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":  # `make test`, plain pytest
        assert settings.default.derandomize


def both_paths(raw: bytes):
    """read_table's result (fast path where it applies) and the careful path's, each as
    what the commands read from a table (every column's text, numbers with each decimal
    choice and dates; its lines and delimiter), or the error message."""
    from forecast import data

    def attempt(read):
        try:
            return read()
        except ForecastError as exc:
            return ("error", exc.message)

    def numbers(table, column, decimal):
        values, invalid = data.parse_numbers(table, column, decimal)
        return np.nan_to_num(values, nan=-7.5).tolist(), invalid.tolist()

    def outcome(read):
        table = attempt(read)
        if isinstance(table, tuple):
            return table
        return ("table", list(table.cells.columns), table.lines.tolist(), table.delimiter,
                table.sha256, [(data.cell_text(table, c).tolist(),
                                *(attempt(lambda: numbers(table, c, d))
                                  for d in (None, ".", ",")),
                                attempt(lambda: data.parse_dates(table, c).asi8.tolist()))
                               for c in table.cells.columns])
    fast = outcome(lambda: data.read_table("-", io.BytesIO(raw)))
    text = raw.decode("utf-8-sig", errors="replace")
    careful = outcome(lambda: data.tables._careful_table(text, "<stdin>",
                                                         hashlib.sha256(raw).hexdigest())) \
        if text.strip() else fast
    return fast, careful


@FAST
@given(st.one_of(tables(), st.text(alphabet=",;\t \n0123456789.-abDate", max_size=200)
                 .map(str.encode)))
def test_the_fast_reader_and_the_careful_one_agree(raw):
    fast, careful = both_paths(raw)
    assert fast == careful


@pytest.mark.parametrize("text", [
    "Date,Close\n2020-01-01,1\n2020-01-02,2\n",                  # the fast path
    "Date,Close\n2020-01-01,1\n\n2020-01-02,2\n",                # a blank line: careful
    "Date,Close\n2020-01-01,1\n2020-01-02\n",                    # a short row: careful
    "Date,Close\n2020-01-01,1,3\n",                               # a long row
    'Date,Close\n2020-01-01,"1,5"\n',                            # quotes: careful
    "Date;Close\r\n2020-01-01; 1,5\r\n,\r\n",                     # CRLF, separator-only row
    "Date,Close\r\n2020-01-01,1\r\n\r\n\n",                         # blank lines at the end
])
def test_the_two_readers_agree_on_each_kind_of_row(text):
    fast, careful = both_paths(text.encode())
    assert fast == careful


def test_blank_lines_at_the_end_keep_the_fast_reader():
    from forecast import data

    def fast(raw):
        return data.tables._fast_table(data.sources._Scan(io.BytesIO(raw), keep=True), "x", None)

    assert fast(b"Date,Close\n2020-01-01,1\n\n\r\n") is not None
    assert fast(b"Date,Close\n\n2020-01-01,1\n") is None   # inside: careful


@pytest.mark.parametrize("chunk", range(8, 40))
def test_a_crlf_break_across_the_first_read_keeps_the_fast_reader(monkeypatch, chunk):
    """The reader's first read may end between the CR and the LF of a line break; that is
    no lone CR (which only the careful reader takes)."""
    from forecast import data

    monkeypatch.setattr(data.sources, "CHUNK", chunk)
    raw = b"Date,Close\r\n2020-01-01,1\r\n2020-01-02,2\r\n2020-01-03,3\r\n"
    table = data.tables._fast_table(data.sources._Scan(io.BytesIO(raw), keep=True), "x", None)
    assert table is not None and len(table.cells) == 3


CELL_TEXT = st.one_of(NUMBERS, st.text(alphabet="0123456789.,+-eE _", max_size=8))


@FAST
@given(st.lists(CELL_TEXT, min_size=1, max_size=8))
def test_the_plain_number_shortcut_reads_as_the_rules_do(cells):
    """parse_numbers skips the per-cell rules when every cell casts to a finite float; it
    must then give exactly what the rules give with a decimal point."""
    from forecast import data

    text = pd.Series(cells, dtype=str).str.strip()
    plain = data.numbers._plain_numbers(text)
    if plain is not None:
        np.testing.assert_array_equal(plain, data.numbers._read_as(text, "."))


def test_the_plain_number_shortcut_takes_plain_columns_only():
    from forecast import data

    plain = data.numbers._plain_numbers(pd.Series(["1.5", "-2", "1e5", "+.5", "-0"], dtype=str))
    np.testing.assert_array_equal(plain, [1.5, -2.0, 1e5, 0.5, 0.0])
    for odd in (["1.5", ""], ["1.5", "nan"], ["inf"], ["1,5"], ["1.234.567"], ["1e400"]):
        assert data.numbers._plain_numbers(pd.Series(odd, dtype=str)) is None, odd


@FAST
@given(st.lists(st.one_of(CELL_TEXT, st.sampled_from([",5", "T0001", "AAPL", "e5", "NA",
                                                      " AAPL", "AAPL "])),
                min_size=1, max_size=8),
       st.sampled_from([",", ";"]), st.sampled_from([None, ".", ","]),
       st.sampled_from([1, 1, 20]), st.randoms())
def test_parse_numbers_shortcuts_decide_as_the_rules_do(cells, delimiter, decimal, repeat,
                                                        shuffle):
    """Whatever the column, parse_numbers (with its shortcuts for plain numbers, for
    columns of names and for columns of few distinct cells, read once each) gives the
    values, invalid cells or error (naming the same line) that the rules give."""
    from forecast import data

    cells = cells * repeat
    shuffle.shuffle(cells)

    def outcome(read):
        try:
            values, invalid = read()
        except ForecastError as exc:
            return ("error", exc.message)
        return ("values", np.nan_to_num(values, nan=-7.5).tolist(), invalid.tolist())

    table = data.Table("t.csv", pd.DataFrame({"x": pd.Series(cells, dtype=str)}),
                       np.arange(2, len(cells) + 2), delimiter)
    text = table.cells["x"].str.strip()
    missing = text.str.lower().isin(data.MISSING_MARKERS).to_numpy()
    assert outcome(lambda: data.parse_numbers(table, "x", decimal)) == \
        outcome(lambda: data.numbers_by_rules(table, "x", text, missing, decimal))


@FAST
@given(st.lists(st.one_of(
    st.dates(min_value=pd.Timestamp("1600-01-01").date(),
             max_value=pd.Timestamp("2400-12-31").date()).map(str),
    st.text(alphabet="0123456789-", min_size=10, max_size=10),
    st.sampled_from(["2019-02-29", "2020-02-29", "2019-13-01", "2019-1-02", "2019-01-02 ",
                     "20190102", "2019/01/02", "1677-09-21", "2262-04-12", "0000-01-01"])),
    min_size=1, max_size=6))
def test_the_plain_date_shortcut_reads_as_pandas_does(cells):
    """The reader's one-pass YYYY-MM-DD dates equal pandas' ISO 8601 reading wherever they
    are taken."""
    from forecast import data

    text = pd.Series(cells, dtype=str)
    days = data.plain_iso_days(text)
    if days is not None:
        expected = pd.to_datetime(text, errors="coerce", format="ISO8601")
        assert not expected.isna().any()
        assert (pd.DatetimeIndex(days).as_unit("ns") ==
                pd.DatetimeIndex(expected).as_unit("ns")).all()


def test_the_plain_date_shortcut_takes_plain_days_only():
    from forecast import data

    assert data.plain_iso_days(pd.Series(["1999-12-31", "2000-01-03"], dtype=str)) is not None
    for odd in (["2019-1-02"], ["2019-02-30"], ["2019-01-02 09:30"], ["1600-01-01"]):
        assert data.plain_iso_days(pd.Series(odd, dtype=str)) is None, odd
