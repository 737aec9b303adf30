import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.data import describe_spacing, read_prices
from forecast.errors import DataError
from tests.conftest import assert_advice_fits

GOOD = "Date,Open,Close\n2020-01-02,1,10\n2020-01-03,2,11\n2020-01-06,3,12\n"


def test_reads_sorted_frame_with_default_target(write_csv):
    path = write_csv("Date,Open,Close\n2020-01-06,3,12\n2020-01-02,1,10\n2020-01-03,2,11\n")
    prices = read_prices(path)
    assert prices.target == "Close" and prices.features == []
    assert prices.frame["Close"].tolist() == [10, 11, 12]
    assert prices.lines.tolist() == [3, 4, 2]  # file lines follow the rows when sorted


def test_column_names_match_case_insensitively(write_csv):
    path = write_csv("date,OPEN,close\n2020-01-02,1,10\n2020-01-03,2,11\n")
    prices = read_prices(path, target="Close", features=["open"])
    assert prices.columns == ["close", "OPEN"]


def test_adj_close_then_only_numeric_column_is_the_default(write_csv):
    assert read_prices(write_csv("Date,Adj Close,Note\n2020-01-02,1,a\n2020-01-03,2,b\n")
                       ).target == "Adj Close"
    assert read_prices(write_csv("timestamp,price,name\n2020-01-02,1,x\n2020-01-03,2,y\n")
                       ).target == "price"


def test_thousands_separators_and_spaces(write_csv):
    path = write_csv('Date,Close\n2020-01-02, "1,234.5" \n2020-01-03,  "2,000 "\n')
    assert read_prices(path).frame["Close"].tolist() == [1234.5, 2000.0]


def test_semicolon_file_with_decimal_commas_is_read(write_csv):
    path = write_csv("Date;Close\n2020-01-02;10,5\n2020-01-03;11,25\n")
    assert read_prices(path).frame["Close"].tolist() == [10.5, 11.25]


def test_bom_and_crlf_are_fine(write_csv):
    path = write_csv(b"\xef\xbb\xbfDate,Close\r\n2020-01-02,1\r\n2020-01-03,2\r\n")
    assert read_prices(path).frame["Close"].tolist() == [1.0, 2.0]


def test_stdin_dash(write_csv):
    prices = read_prices("-", stdin=io.BytesIO(GOOD.encode()))
    assert prices.source == "<stdin>" and len(prices.frame) == 3


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


def test_spacing_names():
    import pandas as pd
    assert describe_spacing(pd.bdate_range("2020-01-01", periods=30)) == "business days"
    assert describe_spacing(pd.date_range("2020-01-01", periods=30, freq="D")) == "daily"
    assert describe_spacing(pd.date_range("2020-01-01", periods=30, freq="h")) == "hourly"


# The bad-input catalogue, through the real CLI: exit 2, one `forecast: error:` line that
# names the problem, nothing on stdout, no traceback, no file written.
BAD_INPUTS = [
    ("empty", b"", [], "is empty"),
    ("header only", b"Date,Close\n", [], "no data rows"),
    ("no date column", b"Day0,Close\nx,1\ny,2\n", [], "no date column"),
    ("unparsable date", b"Date,Close\n2020-01-02,1\nnot-a-date,2\n", [],
     "line 3, column 'Date': cannot parse date 'not-a-date'"),
    ("duplicate date", b"Date,Close\n2020-01-02,1\n2020-01-03,2\n2020-01-02,3\n", [],
     "line 4, column 'Date': duplicate date 2020-01-02 (also on line 2)"),
    ("non-numeric cell", b"Date,Close\n2020-01-02,1\n2020-01-03,abc\n", [],
     "line 3, column 'Close': 'abc' is not a finite number"),
    ("infinite cell", b"Date,Close\n2020-01-02,1\n2020-01-03,inf\n", [],
     "line 3, column 'Close': 'inf' is not a finite number"),
    ("unknown target", GOOD.encode(), ["--target", "Volume"],
     "no column 'Volume' (--target); columns are: Date, Open, Close"),
    ("ambiguous target", b"Date,A,B\n2020-01-02,1,2\n2020-01-03,3,4\n", [],
     "ambiguous; pass --target, one of: A, B"),
    ("binary file", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", [], "binary file"),
    ("ragged row", b"Date,Close\n2020-01-02,1\n2020-01-03,2,3\n", [], "line 3: 3 fields"),
    ("not utf-8", "Date,Close\n2020-01-02,1\n2020-01-03,\xe9\n".encode("latin-1"), [],
     "line 3: not UTF-8"),
    ("missing file", None, [], "no such file"),
    ("date out of range", b"Date,Close\n0001-01-05,1\n0001-01-06,2\n", [],
     "line 2, column 'Date': date '0001-01-05' is outside the dates pandas can represent"),
]

#: Long cells and lists are cut, so that the line still says what, where and the fix
#: within 300 characters (issue 20, item 14).
WIDE_HEADER = ",".join(f"c{i}" for i in range(10_000))
BAD_INPUTS += [
    ("a 1 MB cell", b"Date,Close\n2020-01-02,1\n2020-01-03," + b"x" * 1_000_000 + b"\n", [],
     "line 3, column 'Close': '" + "x" * 37 + "...' is not a finite number"),
    ("a 1 MB date", b"Date,Close\n2020-01-02,1\n" + b"9" * 1_000_000 + b",2\n", [],
     "line 3, column 'Date': cannot parse date '" + "9" * 37 + "...'"),
    ("ambiguous target among 10,000 columns", f"Date,{WIDE_HEADER}\n2020-01-02,"
     f"{','.join(['1'] * 10_000)}\n".encode(), [], "pass --target, one of: c0, c1, c2, c3, c4, c5, c6,"),
    ("no date column among 10,001", f"Day0,{WIDE_HEADER}\nx,{','.join(['1'] * 10_000)}\n"
     .encode(), [], ", ... (10001 in all)"),
    ("a duplicated hour (the autumn clock change)", b"Date,Close\n2019-11-03 00:00,1\n"
     b"2019-11-03 01:00,2\n2019-11-03 01:00,3\n", [], "line 4, column 'Date': duplicate date "
     "2019-11-03 01:00 (also on line 3); the same wall-clock time twice"),
    ("a Note beside one revised row", b"Date,Close,Note\n2020-01-02,1,\n2020-01-03,2,\n"
     b"2020-01-03,3,revised\n", [], "duplicate date 2020-01-03 (also on line 3); keep one row "
     "per date; if column 'Note' names each row's series, pass --series-column Note"),
]

#: Cases that are about choosing the target, which `predict` takes from the model instead.
TARGET_CHOICE = {"unknown target", "ambiguous target", "ambiguous target among 10,000 columns",
                 "no date column among 10,001"}


@pytest.mark.parametrize("command", ["inspect", "train", "predict"])
@pytest.mark.parametrize("name,content,args,message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_catalogue(cli, tmp_path, tiny_model, command, name, content, args, message):
    if command == "predict" and name in TARGET_CHOICE:
        pytest.skip("predict reads the model's columns; see test_predict.py")
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    extra = ["--model", tiny_model] if command == "predict" else []
    result = cli(command, path, *args, *extra)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("forecast: error: ")
    assert message in lines[0] and len(lines[0]) <= 300
    assert_advice_fits(command, lines[0])
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("command", ["inspect", "train", "predict"])
def test_a_prices_path_too_long_for_the_file_system_is_one_line(cli, tiny_model, command):
    """PRICES named longer than a file name may be: exit 2, one line saying so, not
    'unexpected OSError' (Path.is_dir raises ENAMETOOLONG)."""
    extra = {"predict": ["--model", tiny_model], "train": ["--model-dir", "m"]}.get(command, [])
    result = cli(command, "p" * 300 + ".csv", *extra)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("forecast: error: ") and len(lines[0]) <= 300
    assert lines[0].endswith(": cannot read (File name too long); check the path"), lines[0]


def test_inspect_reports_what_train_would_use(cli):
    result = cli("inspect", str(__import__("tests.conftest").conftest.SP500))
    assert result.exit_code == 0, result.stderr
    assert "rows: 5031" in result.stdout
    assert "dates: 1999-01-04 to 2018-12-31 (business days)" in result.stdout
    assert "Close,target,number,0" in result.stdout


def test_inspect_json_from_stdin(cli):
    import json
    result = cli("inspect", "-", "--json", "--features", "open", input=GOOD)
    info = json.loads(result.stdout)
    assert info["rows"] == 3 and info["target"] == "Close" and info["features"] == ["Open"]
    assert info["source"] == "<stdin>"
    assert {c["name"]: c["role"] for c in info["columns"]} == {
        "Date": "date", "Open": "feature", "Close": "target"}


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


def test_inspect_warning_goes_to_stderr(cli, write_csv):
    path = write_csv("Date,Close\n2020-01-02,1\n2020-01-03,\n")
    result = cli("inspect", path)
    assert result.exit_code == 0
    assert "filled 1 empty cell" in result.stderr
    assert "filled" not in result.stdout.split("note:")[0]


# How dates and numbers are read: one decision per column, never per cell. Each case is
# (name, file bytes, options, what is read: [(date, value), ...] or the error's words).
# docs/make_robustness.py shows these cases and the tool's answers.
READ_CASES = [
    ("day-first dates, a day above 12 settles the column", b"Date;Close\n02.01.2019;1\n"
     b"03.01.2019;2\n14.01.2019;3\n", [],
     [("2019-01-02", 1), ("2019-01-03", 2), ("2019-01-14", 3)]),
    ("day-first dates, the settling row comes first", b"Date,Close\n13/02/2019,1\n"
     b"01/03/2019,2\n02/03/2019,3\n", [],
     [("2019-02-13", 1), ("2019-03-01", 2), ("2019-03-02", 3)]),
    ("month-first dates, a second field above 12 settles it", b"Date,Close\n01/02/2019,1\n"
     b"01/13/2019,2\n", [], [("2019-01-02", 1), ("2019-01-13", 2)]),
    ("day-first dates with dashes, two-digit years and times", b"Date,Close\n"
     b"31-12-18 09:30,1\n02-01-19 09:30,2\n", [],
     [("2018-12-31 09:30", 1), ("2019-01-02 09:30", 2)]),
    ("numeric dates whose day and month are equal", b"Date,Close\n01.01.2019,1\n"
     b"02.02.2019,2\n", [], [("2019-01-01", 1), ("2019-02-02", 2)]),
    ("ISO dates are never ambiguous", b"Date,Close\n2019-01-02,1\n2019-02-01,2\n", [],
     [("2019-01-02", 1), ("2019-02-01", 2)]),
    ("dotted dates no day settles", b"Date;Close\n02.01.2019;1\n03.01.2019;2\n", [],
     "'02.01.2019' could be day-first or month-first, and no date in the column has a day "
     "above 12 to settle it; pass --date-format day-first (%d.%m.%Y) or --date-format "
     "month-first (%m.%d.%Y)"),
    ("slashed dates no day settles", b"Date,Close\n1/2/19,1\n1/3/19,2\n", [],
     "line 2, column 'Date': '1/2/19' could be day-first or month-first"),
    ("day-first and month-first in one column", b"Date,Close\n13/01/2019,1\n01/14/2019,2\n",
     [], "line 2, column 'Date': '13/01/2019' is day-first but line 3 '01/14/2019' is "
     "month-first"),
    ("--date-format day-first", b"Date;Close\n02.01.2019;1\n03.01.2019;2\n",
     ["--date-format", "day-first"], [("2019-01-02", 1), ("2019-01-03", 2)]),
    ("--date-format month-first", b"Date;Close\n02.01.2019;1\n03.01.2019;2\n",
     ["--date-format", "month-first"], [("2019-02-01", 1), ("2019-03-01", 2)]),
    ("--date-format as a strftime pattern", b"Date;Close\n02.01.2019;1\n03.01.2019;2\n",
     ["--date-format", "%d.%m.%Y"], [("2019-01-02", 1), ("2019-01-03", 2)]),
    ("--date-format that a cell contradicts", b"Date,Close\n02/01/2019,1\n01/13/2019,2\n",
     ["--date-format", "day-first"],
     "line 3, column 'Date': cannot parse date '01/13/2019' as day-first"),
    ("--date-format pattern that does not fit", b"Date,Close\n2019-01-02,1\n",
     ["--date-format", "%d.%m.%Y"], "cannot parse date '2019-01-02' with --date-format"),
    ("--date-format neither an order nor a pattern", b"Date,Close\n2019-01-02,1\n",
     ["--date-format", "dmy"], "--date-format must be day-first, month-first or a strftime"),
    ("UTC offset: the wall-clock time is kept", b"Date,Close\n2019-01-07 00:00+09:00,1\n"
     b"2019-01-08 00:00+09:00,2\n", [], [("2019-01-07", 1), ("2019-01-08", 2)]),
    ("offsets that change (summer time)", b"Date,Close\n2019-03-29T09:30:00+01:00,1\n"
     b"2019-04-01T09:30:00+02:00,2\n", [], [("2019-03-29 09:30", 1), ("2019-04-01 09:30", 2)]),
    ("Z times", b"Date,Close\n2019-01-07T23:00:00Z,1\n2019-01-08T23:00:00Z,2\n", [],
     [("2019-01-07 23:00", 1), ("2019-01-08 23:00", 2)]),
    ("decimal commas, one cell with 4 decimals settles 1,134", b"Date;Close\n"
     b"2019-01-02;1,134\n2019-01-03;1,1345\n", [], [("2019-01-02", 1.134),
                                                    ("2019-01-03", 1.1345)]),
    ("European grouping 1.228,10", b"Date;Close\n2019-01-02;1.228,10\n2019-01-03;998,5\n"
     b"2019-01-04;1.234.567\n", [],
     [("2019-01-02", 1228.1), ("2019-01-03", 998.5), ("2019-01-04", 1234567)]),
    ("decimal comma 0,123 (a leading 0 is not grouping)", b"Date;Close\n2019-01-02;0,123\n"
     b"2019-01-03;1,134\n", [], [("2019-01-02", 0.123), ("2019-01-03", 1.134)]),
    ("thousands commas and a decimal point", b'Date,Close\n2019-01-02,"1,234.5"\n'
     b'2019-01-03,"2,000"\n', [], [("2019-01-02", 1234.5), ("2019-01-03", 2000)]),
    ("two comma groups settle grouping", b"Date;Close\n2019-01-02;1,234,567\n"
     b"2019-01-03;1,134\n", [], [("2019-01-02", 1234567), ("2019-01-03", 1134)]),
    ("decimal points with 3 decimals and 1.5 in the column", b"Date;Close\n2019-01-02;1.134\n"
     b"2019-01-03;1.5\n", [], [("2019-01-02", 1.134), ("2019-01-03", 1.5)]),
    ("quoted 1,134 in a comma-separated file", b'Date,Close\n2019-01-02,"1,134"\n'
     b'2019-01-03,"1,135"\n', [], [("2019-01-02", 1134), ("2019-01-03", 1135)]),
    ("1,134 with nothing to settle it (semicolons)", b"Date;Close\n2019-01-02;1,134\n"
     b"2019-01-03;1,135\n", [], "line 2, column 'Close': '1,134' could be 1134 or 1.134, and "
     "no cell in the column settles the decimal separator; pass --decimal , (decimal comma) "
     "or --decimal . (decimal point)"),
    ("1.134 with nothing to settle it (tabs)", b"Date\tClose\n2019-01-02\t1.134\n"
     b"2019-01-03\t2.250\n", [], "'1.134' could be 1.134 or 1134"),
    ("decimal comma and decimal point in one column", b"Date;Close\n2019-01-02;1,5\n"
     b"2019-01-03;1.5\n", [], "line 2, column 'Close': '1,5' has a decimal comma but line 3 "
     "'1.5' a decimal point"),
    ("--decimal , settles 1,134", b"Date;Close\n2019-01-02;1,134\n2019-01-03;1,135\n",
     ["--decimal", ","], [("2019-01-02", 1.134), ("2019-01-03", 1.135)]),
    ("--decimal . settles 1,134", b"Date;Close\n2019-01-02;1,134\n2019-01-03;1,135\n",
     ["--decimal", "."], [("2019-01-02", 1134), ("2019-01-03", 1135)]),
    ("--decimal , and a cell with a decimal point", b"Date;Close\n2019-01-02;1,5\n"
     b"2019-01-03;1.5\n", ["--decimal", ","],
     "line 3, column 'Close': '1.5' is not a finite number"),
    ("--decimal neither . nor ,", b"Date,Close\n2019-01-02,1\n", ["--decimal", "x"],
     "--decimal must be . or ,"),
    ("an unused column left ambiguous", b"Date;Close;Volume\n2019-01-02;1,5;1,134\n"
     b"2019-01-03;1,25;1,135\n", [], [("2019-01-02", 1.5), ("2019-01-03", 1.25)]),
]

#: Four digits before a separator are never a thousands group: 1234.567 has a decimal
#: point wherever it is (issue 20, what the suite left unpinned).
READ_CASES += [
    ("1234.567 in a semicolon file", b"Date;Close\n2019-01-02;1234.567\n2019-01-03;2345.678\n",
     [], [("2019-01-02", 1234.567), ("2019-01-03", 2345.678)]),
    ("1234.567 in a tab file", b"Date\tClose\n2019-01-02\t1234.567\n2019-01-03\t2345.678\n",
     [], [("2019-01-02", 1234.567), ("2019-01-03", 2345.678)]),
]


def read_case(content: bytes, args: list[str]):
    """Read a case's bytes the way the CLI does with its options."""
    options = dict(zip([a.lstrip("-").replace("-", "_") for a in args[::2]], args[1::2]))
    return read_prices("-", stdin=io.BytesIO(content), warn=lambda m: None, **options)


@pytest.mark.parametrize("name,content,args,expected", READ_CASES, ids=[c[0] for c in READ_CASES])
def test_read_cases(cli, name, content, args, expected):
    if isinstance(expected, str):
        result = cli("inspect", "-", *args, input=content)
        assert result.exit_code == 2, result.stderr
        assert result.stderr.splitlines() == [result.stderr.strip()]
        assert expected in result.stderr and result.stdout == ""
        assert_advice_fits("inspect", result.stderr)
        return
    prices = read_case(content, args)
    got = [(d.strftime("%Y-%m-%d %H:%M").replace(" 00:00", ""), v)
           for d, v in zip(prices.frame.index, prices.frame[prices.target])]
    assert [d for d, _ in got] == [d for d, _ in expected]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in expected], rtol=1e-12)
    assert cli("inspect", "-", *args, input=content).exit_code == 0


SEPARATORS = st.sampled_from([".", "/", "-"])


@settings(max_examples=60)
@given(st.dates(pd.Timestamp("1990-01-01").date(), pd.Timestamp("2030-12-31").date()),
       st.integers(1, 40), st.sampled_from(["%d{s}%m{s}%Y", "%m{s}%d{s}%Y", "%d{s}%m{s}%y"]),
       SEPARATORS, st.randoms())
def test_numeric_dates_are_read_right_or_refused_never_misread(start, rows, pattern, sep, rnd):
    """Whatever the run of days, order of rows and format: the dates read are the dates
    written, or the column is refused because no day above 12 settles it."""
    days = list(pd.date_range(start, periods=rows, freq="D"))
    rnd.shuffle(days)
    fmt = pattern.format(s=sep)
    text = "Date,Close\n" + "".join(f"{d.strftime(fmt)},{i + 1}\n" for i, d in enumerate(days))
    settles = any(d.day > 12 for d in days)
    order_matters = any(d.day != d.month for d in days)
    try:
        prices = read_case(text.encode(), [])
    except DataError as exc:
        assert order_matters and not settles, exc.message
        assert "--date-format day-first" in exc.message
        return
    assert settles or not order_matters
    assert list(prices.frame.index) == sorted(days)


def european(value: float, decimals: int, grouped: bool) -> str:
    text = f"{value:,.{decimals}f}" if grouped else f"{value:.{decimals}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


@settings(max_examples=80)
@given(st.lists(st.floats(0.001, 5e6), min_size=1, max_size=8), st.integers(0, 5),
       st.booleans(), st.booleans(), st.sampled_from([";", "\t"]))
def test_numbers_are_read_right_or_refused_never_misread(values, decimals, grouped, comma,
                                                          delimiter):
    """Numbers written with a decimal comma (European) or a decimal point, grouped or not,
    in a column of any mix of magnitudes: read as written, or refused as ambiguous."""
    cells = [european(v, decimals, grouped) if comma else
             (f"{v:,.{decimals}f}" if grouped else f"{v:.{decimals}f}") for v in values]
    dates = pd.date_range("2020-01-01", periods=len(cells), freq="D").strftime("%Y-%m-%d")
    text = f"Date{delimiter}Close\n" + "".join(f"{d}{delimiter}{c}\n" for d, c in zip(dates, cells))
    expected = [round(v, decimals) for v in values]
    try:
        prices = read_case(text.encode(), [])
    except DataError as exc:
        assert "pass --decimal" in exc.message, exc.message
        return
    np.testing.assert_allclose(prices.frame["Close"], expected, rtol=1e-12)


def test_the_number_format_does_not_depend_on_row_order(write_csv):
    rows = ["2019-01-02;1,134", "2019-01-03;1,1345", "2019-01-04;2,5"]
    first = read_prices(write_csv("Date;Close\n" + "\n".join(rows) + "\n", "a.csv"))
    last = read_prices(write_csv("Date;Close\n" + "\n".join(rows[::-1]) + "\n", "b.csv"))
    assert first.frame["Close"].tolist() == last.frame["Close"].tolist() == [1.134, 1.1345, 2.5]


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


# --test-start and --val-start are read by the rules of the data's date cells (issue 20,
# item 8): ISO as it is, a numeric date in the order the file's dates (or --date-format)
# settle, and one nothing settles refused as a data cell is.
OPTION_DATES = [
    ("2018-02-01", None, None, "2018-02-01"),
    ("2018-02-01 09:30+09:00", None, None, "2018-02-01 09:30"),   # the wall-clock time
    ("01.02.2018", "day-first", None, "2018-02-01"),               # the file's order
    ("01.02.2018", "month-first", None, "2018-01-02"),
    ("01.02.2018", "day-first", "month-first", "2018-01-02"),      # --date-format first
    ("01.02.2018", None, "%d.%m.%Y", "2018-02-01"),
    ("13.02.2018", None, None, "2018-02-13"),                      # a day above 12 settles it
    ("01.01.2018", None, None, "2018-01-01"),                      # either order reads so
    ("01.02.2018", None, None, "--test-start '01.02.2018' could be day-first or month-first, "
     "and neither the data's dates nor --date-format settle it; write it as ISO 2018-02-01 "
     "(day-first) or 2018-01-02 (month-first)"),
    ("13.02.2018", "month-first", None, "--test-start '13.02.2018' is not a date as "
     "month-first (the order of the data's dates); write it as ISO"),
    ("soon", None, None, "--test-start 'soon' is not a date; write it as ISO"),
]


@pytest.mark.parametrize("value,order,date_format,expected", OPTION_DATES)
def test_date_options_are_read_by_the_rules_of_the_data(value, order, date_format, expected):
    from forecast.data import option_date
    from forecast.errors import UsageError

    if expected.startswith("--"):
        with pytest.raises(UsageError) as caught:
            option_date(value, "--test-start", order, date_format)
        assert expected in caught.value.message and len(caught.value.message) <= 300
        return
    assert option_date(value, "--test-start", order, date_format) == pd.Timestamp(expected)


def test_the_order_of_a_files_numeric_dates_reads_test_start(write_csv):
    """A day-first file (a day above 12 settles it) makes --test-start 01.03.2020 the 1st
    of March, not the 3rd of January; an ISO file leaves it open: refused."""
    from forecast.config import DataConfig, ForecastConfig, ModelConfig, TrainConfig
    from forecast.errors import UsageError
    from forecast.training import prepare_training

    dates = pd.bdate_range("2020-01-01", periods=120)
    values = "".join(f"{d:%d.%m.%Y};{100 + i}\n" for i, d in enumerate(dates))
    panel = read_prices(write_csv("Date;Close\n" + values))
    assert panel.date_order == "day-first"
    config = ForecastConfig(DataConfig(), ModelConfig(window=5, units=4),
                            TrainConfig(test_start="01.05.2020", val_start="01.04.2020"))
    config = dataclasses.replace(config, columns=panel.columns)
    split = prepare_training(panel, config, warn=lambda m: None)[1]
    assert (split.val_start, split.test_start) == (pd.Timestamp("2020-04-01"),
                                                   pd.Timestamp("2020-05-01"))
    iso = read_prices(write_csv("Date,Close\n" + "".join(
        f"{d:%Y-%m-%d},{100 + i}\n" for i, d in enumerate(dates))))
    assert iso.date_order is None
    with pytest.raises(UsageError, match="--val-start '01.04.2020' could be day-first or "
                                         "month-first"):
        prepare_training(iso, config, warn=lambda m: None)


def test_train_refuses_an_ambiguous_test_start_in_one_line(cli, prices_csv, tmp_path):
    result = cli("train", prices_csv, "--test-start", "01.02.2021", "--model-dir",
                 tmp_path / "m", "--epochs", "1")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "forecast: error: --test-start '01.02.2021' could be day-first or month-first, and "
        "neither the data's dates nor --date-format settle it; write it as ISO 2021-02-01 "
        "(day-first) or 2021-01-02 (month-first)"]
    assert not (tmp_path / "m").exists()
