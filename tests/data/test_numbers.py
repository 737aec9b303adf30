"""forecast/data/numbers.py: decimal marks and thousands separators, one decision per column,
read right or refused. The number cases of ``READ_CASES`` stay with the date cases in
tests/data/test_dates.py.
"""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.data import read_prices
from forecast.errors import DataError
from tests.data.test_dates import read_case


def test_thousands_separators_and_spaces(write_csv):
    path = write_csv('Date,Close\n2020-01-02, "1,234.5" \n2020-01-03,  "2,000 "\n')
    assert read_prices(path).frame["Close"].tolist() == [1234.5, 2000.0]


def test_semicolon_file_with_decimal_commas_is_read(write_csv):
    path = write_csv("Date;Close\n2020-01-02;10,5\n2020-01-03;11,25\n")
    assert read_prices(path).frame["Close"].tolist() == [10.5, 11.25]


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
