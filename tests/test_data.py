import io

import pytest

from forecast.data import describe_spacing, read_prices
from forecast.errors import DataError

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
]


#: Cases that are about choosing the target, which `predict` takes from the model instead.
TARGET_CHOICE = {"unknown target", "ambiguous target"}


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
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


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


def test_inspect_warning_goes_to_stderr(cli, write_csv):
    path = write_csv("Date,Close\n2020-01-02,1\n2020-01-03,\n")
    result = cli("inspect", path)
    assert result.exit_code == 0
    assert "filled 1 empty cell" in result.stderr
    assert "filled" not in result.stdout.split("note:")[0]
