"""forecast/data/sources.py: opening a path, ``-`` or bytes; BOMs and line ends; a path the
file system refuses. The bad-input catalogue ``BAD_INPUTS`` (every way a file can be wrong,
through the real CLI) stays whole here, though its messages come from sources, tables,
dates, numbers and layouts: it is one end-to-end check, and docs/make_robustness.py reads
it.
"""

import io

import pytest

from forecast.data import read_prices
from tests.conftest import assert_advice_fits


GOOD = "Date,Open,Close\n2020-01-02,1,10\n2020-01-03,2,11\n2020-01-06,3,12\n"


def test_bom_and_crlf_are_fine(write_csv):
    path = write_csv(b"\xef\xbb\xbfDate,Close\r\n2020-01-02,1\r\n2020-01-03,2\r\n")
    assert read_prices(path).frame["Close"].tolist() == [1.0, 2.0]


def test_stdin_dash(write_csv):
    prices = read_prices("-", stdin=io.BytesIO(GOOD.encode()))
    assert prices.source == "<stdin>" and len(prices.frame) == 3


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
