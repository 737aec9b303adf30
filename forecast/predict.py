"""Future forecasts and walk-forward backtests, in price units, from a model directory.

Every forecast for a row is made from rows strictly before it: one batched prediction over
every input window of the series, never a Python loop calling the model per row.
"""

from __future__ import annotations

import functools
import math
import sys
import warnings
from typing import Callable

import numpy as np
import pandas as pd

from forecast import intervals, metrics
from forecast.bundle import Bundle
from forecast.config import DEFAULT_INTERVAL, ENGINES
from forecast.data import (Prices, describe_spacing, format_date, prices_from_table,
                           read_table)
from forecast.errors import DataError, UsageError
from forecast.errors import warn as warning
from forecast.transforms import forecasts_to_prices
from forecast.windows import origin_windows, prepare

Predictor = Callable[[np.ndarray], np.ndarray]
SEGMENTS = ("train", "validation", "test")


def load_predictor(bundle: Bundle, engine: str = "auto") -> Predictor:
    """A function (origins, window, features) scaled inputs -> (origins, horizon) outputs.

    ``auto`` uses the NumPy engine when the directory has its weights (no TensorFlow
    import), else Keras; ``numpy`` and ``keras`` force one.
    """
    if engine == "numpy" or (engine == "auto" and bundle.has_numpy_engine):
        if not bundle.has_numpy_engine:
            raise UsageError(f"{bundle.path} has no weights.npz for the NumPy engine; "
                             "use --engine keras or retrain")
        return bundle.load_numpy()
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}; got '{engine}'")
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    model = bundle.load_keras()

    def predict(X: np.ndarray) -> np.ndarray:
        out = model.predict(np.ascontiguousarray(X, np.float32), batch_size=1024, verbose=0)
        return np.asarray(out, dtype=np.float64)
    return predict


def read_for_model(source: str, bundle: Bundle, stdin=None, *, date_column: str | None = None,
                   missing: str | None = None, date_format: str | None = None,
                   decimal: str | None = None) -> Prices:
    """Read PRICES with the model's columns (case-insensitive); say which are missing.

    Options not given: decided from the file's own columns, and where they leave the date
    order or decimal separator open, as the model's training file was read."""
    d = bundle.config.data
    table = read_table(source, stdin)
    known = {c.lower() for c in table.cells.columns}
    absent = [c for c in bundle.config.columns if c.lower() not in known]
    if absent:
        raise DataError(f"{table.source} lacks column(s) {', '.join(absent)} that the model in "
                        f"{bundle.path} was trained on; columns are: "
                        f"{', '.join(table.cells.columns)}")
    if date_column is None and d.date_column and d.date_column.lower() in known:
        date_column = d.date_column

    def read(date_format, decimal):
        return prices_from_table(table, target=bundle.config.columns[0],
                                 features=bundle.config.columns[1:], date_column=date_column,
                                 missing=missing or d.missing, date_format=date_format,
                                 decimal=decimal)
    given = (date_format, decimal)
    trained = (date_format or d.date_format, decimal or d.decimal)
    try:  # what the file's own columns settle comes first: it cannot be misread
        return read(*given)
    except DataError:
        if trained == given:
            raise
        first = sys.exc_info()[1]
    try:  # what they leave open, the training file's --date-format and --decimal settle
        return read(*trained)
    except DataError:
        raise first from None


class Forecaster:
    """A model directory, its predictor and one price series: forecasts from every origin."""

    def __init__(self, bundle: Bundle, prices: Prices, predictor: Predictor):
        self.bundle, self.prices, self.predictor = bundle, prices, predictor
        cfg = bundle.config
        self.window, self.horizon = cfg.model.window, cfg.model.horizon
        self.kind = cfg.training.target_transform
        self.target = prices.frame.iloc[:, 0].to_numpy(float)
        self.prepared = prepare(prices.frame.to_numpy(float), self.kind, self.window,
                                self.horizon, scaler=bundle.scaler, source=prices.source,
                                lines=prices.lines, columns=prices.columns)
        needed = self.window + self.prepared.offset
        if len(self.target) < needed:
            raise DataError(f"{prices.source} has {len(self.target)} usable row(s); the model "
                            f"needs at least {needed} (its window of {self.window}"
                            f"{' plus 1 for the log-return' if self.prepared.offset else ''})")
        self.windows, self.rows = origin_windows(self.prepared.scaled, self.window,
                                                 self.prepared.offset)
        space = bundle.calibration.space
        self.volatility = intervals.volatility(self.target, space)

    @functools.cached_property
    def outputs(self) -> np.ndarray:
        """(origins, horizon) model outputs for every input window, in one batched call."""
        return np.asarray(self.predictor(self.windows), dtype=np.float64)

    @functools.cached_property
    def forecasts(self) -> np.ndarray:
        """(origins, horizon) the same in price units."""
        return forecasts_to_prices(self.outputs, self.bundle.scaler, self.kind,
                                   self.target[self.rows - 1])

    def backtest_rows(self, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Which origins have a ``step``-ahead target inside the data, and those price rows.

        Returns:
            use (origins,) bool, and rows (backtested rows,) in the order ``backtest`` gives.
        """
        if not 1 <= step <= self.horizon:
            raise UsageError(f"--step must be between 1 and the model's horizon "
                             f"({self.horizon}); got {step}")
        target_rows = self.rows + step - 1
        use = target_rows < len(self.target)
        if not use.any():
            raise DataError(f"{self.prices.source} has {len(self.target)} rows: none has a full "
                            f"window of {self.window} rows before it; pass more rows")
        return use, target_rows[use]

    def backtest(self, step: int = 1, level: float | None = None) -> pd.DataFrame:
        """The ``step``-ahead forecast of every row that has one, made ``step`` rows earlier.

        Returns:
            DataFrame with date, actual, predicted (and lower, upper with ``level``).
        """
        use, rows = self.backtest_rows(step)
        out = pd.DataFrame({"date": self.prices.frame.index[rows],
                            "actual": self.target[rows],
                            "predicted": self.forecasts[use, step - 1]})
        if level is not None:
            out["lower"], out["upper"] = self._band(out["predicted"].to_numpy(),
                                                    self.rows[use] - 1, level, step)
        return out

    def future(self, steps: int | None = None, level: float | None = None) -> pd.DataFrame:
        """The next ``steps`` values after the last row: direct up to the horizon, then
        recursively feeding forecasts back (univariate models only).

        Returns:
            DataFrame with date, predicted (and lower, upper with ``level``).
        """
        steps = self.horizon if steps is None else steps
        if steps < 1:
            raise UsageError(f"--steps must be at least 1, got {steps}")
        if steps > self.horizon and len(self.prices.columns) > 1:
            raise UsageError(f"--steps {steps} is beyond the model's horizon ({self.horizon}) "
                             f"and the model also reads {', '.join(self.prices.columns[1:])}, "
                             "whose future values are unknown; use --steps "
                             f"{self.horizon} or retrain with a longer horizon "
                             "(`forecast train --horizon N`)")
        if level is not None:
            check_level(self.bundle.calibration, level, steps)
        dates = checked_future_dates(self.prices.frame.index, steps)  # before the long work
        # The direct forecast (steps 1..horizon) needs the last window only; beyond it,
        # forecasts are fed back in, one window at a time, into a buffer of fixed size.
        first = np.asarray(self.predictor(self.windows[-1:]), dtype=np.float64)[0]
        history = self.prepared.scaled[-self.window:, 0]
        series = np.concatenate([history, first, np.empty(max(steps - len(first), 0))])
        done = len(first)
        while done < steps:
            start = len(history) + done - self.window
            out = np.asarray(self.predictor(series[start:start + self.window][None, :, None]),
                             dtype=np.float64)[0]
            take = min(len(out), steps - done)
            series[len(history) + done:len(history) + done + take] = out[:take]
            done += take
        outputs = series[len(history):len(history) + steps]
        predicted = forecasts_to_prices(outputs[None], self.bundle.scaler, self.kind,
                                        self.target[-1:])[0]
        out = pd.DataFrame({"date": dates, "predicted": predicted})
        if level is not None:
            origin = np.full(steps, len(self.target) - 1)
            out["lower"], out["upper"] = self._band(predicted, origin, level,
                                                    np.arange(1, steps + 1))
        return out

    def evaluate(self, level: float) -> dict:
        """One-step scores of model, naive and drift: on all rows, and per segment of the
        training data (train / validation / test, by date; rows after it count as test)."""
        table = self.backtest(1, level)
        rows = self.backtest_rows(1)[1]
        scale = float(self.bundle.config.facts.get("naive_scale") or
                      metrics.naive_scale(self.target))
        facts = self.bundle.config.facts
        segment = segments(table["date"], facts.get("val_start"), facts.get("test_start"))
        result = {"source": self.prices.source, "model_dir": str(self.bundle.path)}
        for name, mask in [("all", np.ones(len(rows), bool))] + [
                (s, segment == s) for s in SEGMENTS]:
            if mask.any():
                scores = metrics.compare(self.target, rows[mask],
                                         table["predicted"].to_numpy()[mask], scale)
                scores["interval"] = {
                    "level": level,
                    "coverage": metrics.coverage(table["actual"][mask], table["lower"][mask],
                                                 table["upper"][mask]),
                    "mean_width": metrics.mean_width(table["lower"][mask], table["upper"][mask])}
                result[name] = scores
        return result

    def _band(self, predicted, origins, level, steps):
        """(lower, upper) for forecasts made at ``origins`` (price rows), ``steps`` ahead
        (an int, or one per forecast)."""
        check_level(self.bundle.calibration, level, int(np.max(steps)))
        cal = self.bundle.calibration
        q = np.array([cal.quantile(level, int(k))
                      for k in np.broadcast_to(steps, np.shape(predicted))])
        return intervals.band(predicted, self.volatility[origins] * q, 1.0, cal.space)


def segments(dates: pd.Series, val_start: str | None, test_start: str | None) -> np.ndarray:
    """Label each date train / validation / test by the training data's split dates."""
    dates = pd.DatetimeIndex(dates)
    out = np.full(len(dates), "test", dtype=object)
    if val_start and test_start:
        out[dates < pd.Timestamp(test_start)] = "validation"
        out[dates < pd.Timestamp(val_start)] = "train"
    return out


def check_level(calibration: intervals.Calibration, level: float, max_step: int = 1) -> None:
    """Refuse an interval level outside (0, 1), or wider than the calibration forecasts of
    steps 1..``max_step`` can support (its band would be infinite)."""
    if not 0 < level < 1:
        raise UsageError(f"--interval must be between 0 and 1 (e.g. 0.8), got {level}")
    steps = range(1, min(max_step, len(calibration.step_scores)) + 1)
    widest = min(steps, key=calibration.widest_level)
    if level > calibration.widest_level(widest):
        n = calibration.scores_count(widest)
        most = math.floor(calibration.widest_level(widest) * 1000) / 1000
        ahead = f" {widest} steps ahead" if widest > 1 else ""
        raise UsageError(f"--interval {level:g} is wider than the model's {n} calibration "
                         f"forecast(s){ahead} can support (at most {n}/{n + 1} = "
                         f"{calibration.widest_level(widest):.4g}); use --interval {most:g} or "
                         "less, or retrain with more validation rows "
                         "(`forecast train --val-fraction F`)")


def default_level(calibration: intervals.Calibration, max_step: int = 1,
                  warn=None) -> float:
    """DEFAULT_INTERVAL, or the widest level the calibration supports if that is less (said
    on stderr): for commands whose --interval was not given."""
    widest = min(calibration.widest_level(k)
                 for k in range(1, min(max_step, len(calibration.step_scores)) + 1))
    if DEFAULT_INTERVAL <= widest:
        return DEFAULT_INTERVAL
    level = math.floor(widest * 1000) / 1000
    (warn or warning)(f"the model's calibration supports intervals up to {level:g} only; "
                      f"showing {level:g} instead of {DEFAULT_INTERVAL:g}")
    return level


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
