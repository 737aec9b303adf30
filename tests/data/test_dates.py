"""forecast/data/dates.py: day/month orders, formats and UTC offsets, read right or refused;
--test-start and --val-start read by the rules of the data's dates; the spacing's name. The
catalogue ``READ_CASES`` (how date and number columns are read, through the real CLI) stays
whole here, number cases too (docs/make_robustness.py reads it); tests/data/test_numbers.py
reads its own files through ``read_case``.
"""

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


def test_spacing_names():
    import pandas as pd
    assert describe_spacing(pd.bdate_range("2020-01-01", periods=30)) == "business days"
    assert describe_spacing(pd.date_range("2020-01-01", periods=30, freq="D")) == "daily"
    assert describe_spacing(pd.date_range("2020-01-01", periods=30, freq="h")) == "hourly"


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
