"""forecast/data/describe.py: what ``inspect`` shows, as text and as JSON, and its warnings on
stderr.
"""

from tests.data.test_sources import GOOD


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
