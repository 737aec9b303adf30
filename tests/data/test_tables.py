"""forecast/data/tables.py: naming columns as they are compared, and Parquet tables typed as
the CSV rules read them.
"""

import numpy as np
import pandas as pd
import pytest

from forecast.data import parse_numbers, read_panel, read_prices, read_table
from forecast.errors import DataError


def test_column_names_match_case_insensitively(write_csv):
    path = write_csv("date,OPEN,close\n2020-01-02,1,10\n2020-01-03,2,11\n")
    prices = read_prices(path, target="Close", features=["open"])
    assert prices.columns == ["close", "OPEN"]


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
