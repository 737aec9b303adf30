"""Future dates: the dates a forecast's steps fall on, continuing each series' own spacing
(business days, a regular frequency, intraday trading sessions, else the median step)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecast.data.dates import describe_spacing
from forecast.data.panel import Panel
from forecast.data.describe import format_date
from forecast.errors import UsageError


def future_dates_of_series(panel: Panel, steps: int) -> list[pd.DatetimeIndex]:
    """``checked_future_dates`` of every series, worked out once per distinct date index
    (the series of a panel mostly share one calendar)."""
    seen: dict[tuple, list[tuple[np.ndarray, pd.DatetimeIndex]]] = {}
    out = []
    for s in range(panel.n_series):
        index = panel.dates[panel.rows(s)]
        stamps = index.asi8
        same = seen.setdefault((len(stamps), int(stamps[0]), int(stamps[-1])), [])
        found = next((dates for known, dates in same if np.array_equal(known, stamps)), None)
        if found is None:
            found = checked_future_dates(index, steps)
            same.append((stamps, found))
        out.append(found)
    return out


def checked_future_dates(index: pd.DatetimeIndex, steps: int) -> pd.DatetimeIndex:
    """``future_dates``, or a UsageError up front when the dates would pass the last one
    pandas can represent (2262-04-11)."""
    last, end = index[-1], pd.Timestamp.max
    positive = np.diff(index.to_numpy())
    positive = positive[positive > np.timedelta64(0)]
    smallest = pd.Timedelta(positive.min()) if len(positive) else pd.Timedelta(days=1)
    try:
        if smallest * steps <= end - last:   # each future step is at least this long
            return future_dates(index, steps)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime,
            pd.errors.OutOfBoundsTimedelta):
        pass
    try:
        probe = future_dates(index, 100)
        allowed = int((end - last) / ((probe[-1] - last) / 100) * 0.99)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime,
            pd.errors.OutOfBoundsTimedelta):
        allowed = 0
    raise UsageError(f"--steps {steps} would run past {end:%Y-%m-%d}, the last date pandas can "
                     f"represent; after {format_date(last, index)} this series has room for "
                     "about "
                     f"{allowed} step(s); use a smaller --steps")


def future_dates(index: pd.DatetimeIndex, steps: int) -> pd.DatetimeIndex:
    """``steps`` dates after the last one, continuing the data's own spacing: the bar times
    and weekdays of its sessions for intraday data with gaps (nights, weekends), business
    days for daily stock data, else the regular frequency pandas infers, else the median step."""
    last = index[-1]
    sessions = session_times(index)
    if sessions is not None:
        return session_dates(last, *sessions, steps)
    if describe_spacing(index) == "business days":
        return pd.bdate_range(last + pd.offsets.BDay(1), periods=steps)
    with warnings.catch_warnings():  # pandas 3 warns that infer_freq will return an offset;
        warnings.simplefilter("ignore")  # date_range takes either
        freq = pd.infer_freq(index[-min(len(index), 30):]) if len(index) >= 3 else None
    if freq:
        return pd.date_range(last, periods=steps + 1, freq=freq)[1:]
    step = pd.Timedelta(np.median(np.diff(index.to_numpy())))
    return last + step * pd.RangeIndex(1, steps + 1)


def session_times(index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray] | None:
    """For intraday bars with gaps between them (closed nights or weekends), the times of
    day and the weekdays the data shows: ((times,) timedelta64, (weekdays,) int), else None.

    A day or more of data is needed to know the times, a week to know the weekdays (with
    less, weekdays are Monday to Friday if the data has no weekend, else every day).
    """
    if len(index) < 3 or (index.normalize() == index).all():
        return None
    steps = np.diff(index.to_numpy())
    if (steps == steps[0]).all() or index[-1] - index[0] < pd.Timedelta(days=1):
        return None
    times = np.unique((index - index.normalize()).to_numpy())
    days = np.unique(index.day_of_week)
    if index[-1] - index[0] < pd.Timedelta(days=7):
        days = np.arange(5) if (days < 5).all() else np.arange(7)
    return times, days


def session_dates(last: pd.Timestamp, times: np.ndarray, weekdays: np.ndarray,
                  steps: int) -> pd.DatetimeIndex:
    """The next ``steps`` bars after ``last``: each of ``times`` on each day whose weekday is
    in ``weekdays``."""
    per_week = len(times) * len(weekdays)
    weeks = steps // per_week + 2
    days = pd.date_range(last.normalize(), periods=7 * weeks + 1, freq="D")
    days = days[np.isin(days.day_of_week, weekdays)]
    stamps = (days.to_numpy()[:, None] + times[None, :]).ravel()
    stamps = stamps[stamps > last.to_datetime64()]
    return pd.DatetimeIndex(stamps[:steps])
