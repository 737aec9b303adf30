"""Future dates continue each series' own spacing (forecast.calendar)."""

import pandas as pd
import pytest

from forecast.calendar import future_dates
from forecast.data import read_panel


def intraday(days: int = 10, start: str = "2024-01-01", hours=range(9, 16)) -> pd.DatetimeIndex:
    """Hourly bars at 09:30 ... 15:30 on business days: nights and weekends missing."""
    return pd.DatetimeIndex([day + pd.Timedelta(hours=h, minutes=30)
                             for day in pd.bdate_range(start, periods=days) for h in hours])


SESSIONS = [
    ("a Friday's last bar: Monday's first bars", intraday(),
     ["2024-01-15 09:30", "2024-01-15 10:30"]),
    ("mid-session: the same day's next bars, then the next morning",
     intraday()[:-2], ["2024-01-12 14:30", "2024-01-12 15:30", "2024-01-15 09:30"]),
    ("a shorter session (10:00-14:00, every 2 hours), Wednesday",
     intraday(8, "2024-03-01", range(10, 15, 2)) - pd.Timedelta(minutes=30),
     ["2024-03-13 10:00", "2024-03-13 12:00", "2024-03-13 14:00", "2024-03-14 10:00"]),
    ("daily bars stamped 16:00: business days at 16:00",
     pd.bdate_range("2024-01-01", periods=15) + pd.Timedelta(hours=16),
     ["2024-01-22 16:00", "2024-01-23 16:00"]),
    ("bars every hour, around the clock, every day: hourly",
     pd.date_range("2024-01-05 00:00", periods=200, freq="h"),
     ["2024-01-13 08:00", "2024-01-13 09:00"]),
    ("a six-day week (Monday to Saturday) of 09:00-11:00 bars",
     pd.DatetimeIndex([d + pd.Timedelta(hours=h) for d in pd.date_range("2024-01-01", "2024-01-20")
                       if d.day_of_week < 6 for h in (9, 10, 11)]),
     ["2024-01-22 09:00"]),
]


@pytest.mark.parametrize("name,index,expected", SESSIONS, ids=[c[0] for c in SESSIONS])
def test_intraday_future_dates_follow_the_sessions_the_data_shows(name, index, expected):
    got = future_dates(index, len(expected))
    assert [d.strftime("%Y-%m-%d %H:%M") for d in got] == expected
    many = future_dates(index, 500)
    assert len(many) == 500 and many.is_monotonic_increasing and many[0] > index[-1]
    seen_times = set((index - index.normalize()).to_numpy())
    assert set((many - many.normalize()).to_numpy()) <= seen_times
    assert set(many.day_of_week) <= set(index.day_of_week)


def test_a_file_with_utc_offsets_forecasts_no_weekend(write_csv):
    """Monday 00:00+09:00 is Monday: no shift to UTC, so no Sundays in the future dates."""
    days = pd.bdate_range("2024-01-01", periods=30)
    path = write_csv("Date,Close\n" + "".join(f"{d:%Y-%m-%d}T00:00:00+09:00,{100 + i}\n"
                                              for i, d in enumerate(days)))
    index = read_panel([path]).dates
    assert list(index) == list(days)
    assert (future_dates(index, 10).day_of_week < 5).all()


def test_future_dates_continue_the_spacing():
    fridays = pd.bdate_range("2020-01-01", "2020-01-10")
    assert [d.strftime("%a %d") for d in future_dates(fridays, 3)] == ["Mon 13", "Tue 14",
                                                                       "Wed 15"]
    hourly = pd.date_range("2020-01-01", periods=10, freq="h")
    assert future_dates(hourly, 2)[-1] == pd.Timestamp("2020-01-01 11:00")
    daily = pd.date_range("2020-01-01", periods=10, freq="D")
    assert future_dates(daily, 1)[0] == pd.Timestamp("2020-01-11")


def test_future_dates_of_irregular_rows_step_by_the_median_gap():
    index = pd.to_datetime(["2020-01-01", "2020-01-03", "2020-01-04", "2020-01-07",
                            "2020-01-09", "2020-01-10", "2020-01-13"])   # median gap 2 days
    assert list(future_dates(index, 2)) == list(pd.to_datetime(["2020-01-15", "2020-01-17"]))


def test_future_dates_keep_to_business_days_across_a_holiday_gap():
    # Christmas and New Year missing: no regular frequency, yet still business days.
    days = pd.bdate_range("2019-12-02", "2020-01-10").drop(pd.to_datetime(["2019-12-25",
                                                                             "2020-01-01"]))
    assert [d.strftime("%a %d") for d in future_dates(days, 3)] == ["Mon 13", "Tue 14",
                                                                    "Wed 15"]
