"""Files as the usual sources write them (docs/formats.md): yfinance's header rows, the
sources' names for the close and the date, currency-marked and suffixed numbers, other
encodings, headerless exports. Every layout is read by the fast reader and by the careful
one (the ``reader`` fixture), to exactly the dates and closes written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import data
from forecast.data import read_prices
from forecast.errors import DataError, UsageError
from tests.conftest import assert_advice_fits

DATES = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
CLOSES = [185.64, 184.25, 181.91, 181.18, 185.56]


@pytest.fixture(params=["fast", "careful"])
def reader(request, monkeypatch):
    """Run the test with the fast reader (where it applies), then with the careful one."""
    if request.param == "careful":
        monkeypatch.setattr(data, "_fast_table", lambda *args, **kwargs: None)
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
    assert "\n" not in message and len(message) <= 300, message
    for fragment in fragments:
        assert fragment in message, message
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
    panel = read_prices(write_csv(f"{date},Open,{close}\n{rows}"))
    assert (panel.date_column, panel.target) == (date, close)
    assert series(panel)["input"] == (DATES, CLOSES)


def test_close_comes_before_the_adjusted_close_and_the_sources_words(write_csv):
    text = "Date,Price,Adj Close,Close\n2024-01-02,1,2,3\n2024-01-03,1,2,3\n"
    assert read_prices(write_csv(text)).target == "Close"
    text = "Date,Price,Adj Close\n2024-01-02,1,2\n2024-01-03,1,2\n"
    assert read_prices(write_csv(text)).target == "Adj Close"


def test_two_names_for_the_close_of_one_rank_are_ambiguous(write_csv):
    # Quandl's futures (CHRIS) write both Last and Settle
    path = write_csv("Date,Open,Last,Settle\n2024-01-02,1,2,3\n2024-01-03,1,2,3\n")
    refused(lambda: read_prices(path), "ambiguous", "--target", "Last, Settle")
    assert read_prices(path, target="settle").target == "Settle"


def test_two_date_names_of_one_rank_are_ambiguous(write_csv):
    path = write_csv("Datum,Fecha,Close\n2024-01-02,2024-01-02,1\n2024-01-03,2024-01-03,2\n")
    refused(lambda: read_prices(path), "ambiguous", "--date-column", "Datum, Fecha")
    assert read_prices(path, date_column="fecha").date_column == "Fecha"
    # a date and a time column: Date is the date (as stooq and MetaTrader name them)
    text = "<DATE>,<TIME>,<CLOSE>\n20240102,000000,1\n20240103,000000,2\n"
    assert read_prices(write_csv(text)).date_column == "<DATE>"


def test_options_name_columns_as_the_names_are_compared(write_csv):
    path = write_csv("<DATE>,<OPEN>,<HIGH>,<LOW>,<CLOSE>\n"
                     "20240102,1,2,0.5,1.5\n20240103,1,2,0.5,1.5\n")
    panel = read_prices(path, target="close", features=["open"], extra=["High", "Low"])
    assert panel.columns == ["<CLOSE>", "<OPEN>", "<HIGH>", "<LOW>"]


# --- encodings ------------------------------------------------------------------------

GERMAN = ("Datum;Eröffnung;Hoch;Tief;Schluss;Volumen\n"
          "15.01.2024;12,50;12,90;12,40;12,80;1.200\n"
          "16.01.2024;12,80;13,10;12,70;13,05;980\n"
          "17.01.2024;13,05;13,20;12,95;13,15;1.050\n")


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16", "utf-16-le", "utf-8"])
def test_encoding_round_trips(write_csv, encoding):
    path = write_csv(GERMAN.encode(encoding))
    panel = read_prices(path, encoding=encoding)
    assert series(panel)["input"] == (["2024-01-15", "2024-01-16", "2024-01-17"],
                                      [12.80, 13.05, 13.15])
    assert panel.date_column == "Datum" and panel.target == "Schluss"
    described = data.describe_file(path, encoding=encoding)
    assert [c["name"] for c in described["columns"]][1] == "Eröffnung"


def test_a_cp1252_file_without_encoding_says_to_pass_it(write_csv):
    path = write_csv(GERMAN.encode("cp1252"))
    refused(lambda: read_prices(path), "line 1", "not UTF-8", "--encoding cp1252", "Excel")


@pytest.mark.parametrize("bom, encoding", [(b"\xef\xbb\xbf", "utf-8"), (b"", "utf-16"),
                                           (b"", "utf-32")])
def test_a_byte_order_mark_is_honoured_without_encoding(write_csv, reader, bom, encoding):
    text = "Date,Close\n" + "".join(f"{d},{c}\n" for d, c in zip(DATES, CLOSES))
    panel = read_prices(write_csv(bom + text.encode(encoding)))   # utf-16/32 write a BOM
    assert series(panel)["input"] == (DATES, CLOSES)


def test_an_unknown_encoding_is_a_usage_error(write_csv):
    path = write_csv("Date,Close\n2024-01-02,1\n")
    refused(lambda: read_prices(path, encoding="klingon"), "--encoding", "'klingon'", "cp1252")
    refused(lambda: read_prices(path, encoding="rot13"), "--encoding", "not a text encoding")


def test_bytes_the_encoding_cannot_read_name_their_line(write_csv):
    path = write_csv("Date,Close\n2024-01-02,1\n2024-01-03,2\n".encode() + b"\x81\n")
    refused(lambda: read_prices(path, encoding="cp1252"), "line 4", "not cp1252 text")


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
