"""Future forecasts and walk-forward backtests, in price units, from a model directory.

Every forecast for a row is made from rows strictly before it: one batched prediction over
every input window of the series, never a Python loop calling the model per row.
"""

from __future__ import annotations

import functools
import math
import sys
import warnings
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from forecast import intervals, metrics
from forecast.bundle import Bundle
from forecast.config import DEFAULT_INTERVAL, ENGINES
from forecast.data import Panel, describe_spacing, format_date, panel_from_tables, read_table
from forecast.errors import DataError, UsageError
from forecast.errors import warn as warning
from forecast.transforms import (SeriesScaler, outputs_to_prices, transform_offset,
                                 transform_panel)
from forecast.windows import origin_prices, predict_windows, prepare_panel, series_centers

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


def read_for_model(sources: Sequence[str], bundle: Bundle, *, series_column: str | None = None,
                   wide: bool | None = None, stdin=None, warn=None,
                   date_column: str | None = None, missing: str | None = None,
                   date_format: str | None = None, decimal: str | None = None) -> Panel:
    """Read PRICES with the model's columns (case-insensitive); say which are missing.

    The layout options default to the model's own (a model trained ``--wide`` reads wide
    files); a long file's series column is detected as in training. Options not given are
    decided from the files' own columns, and where those leave the date order or decimal
    separator open, as the model's training file was read.
    """
    d = bundle.config.data
    wide = d.wide if wide is None else wide
    if list(sources).count("-") > 1:
        raise UsageError("stdin (-) can be given only once")
    tables = [read_table(source, stdin) for source in sources]
    for table in tables:
        known = {c.lower() for c in table.cells.columns}
        absent = [c for c in bundle.config.columns if c.lower() not in known]
        if absent and not wide:
            raise DataError(f"{table.source} lacks column(s) {', '.join(absent)} that the model "
                            f"in {bundle.path} was trained on; columns are: "
                            f"{', '.join(table.cells.columns)}")
    known = {c.lower() for c in tables[0].cells.columns}
    if date_column is None and d.date_column and d.date_column.lower() in known:
        date_column = d.date_column
    if series_column is None and d.series_column and d.series_column.lower() in known:
        series_column = d.series_column

    def read(date_format, decimal):
        return panel_from_tables(tables, target=bundle.config.columns[0],
                                 features=[] if wide else bundle.config.columns[1:],
                                 date_column=date_column, series_column=series_column,
                                 wide=wide, missing=missing or d.missing, warn=warn,
                                 date_format=date_format, decimal=decimal)
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


def scaler_for(bundle: Bundle, panel: Panel, warn=None) -> SeriesScaler:
    """The scaling of each series of ``panel``: the stored one for series the model was
    trained on, else (a new ticker) one fit on that series' own rows dated before the
    model's test start (all its rows when it has too few there). A one-series model applied
    to one series uses its own scaling whatever the file is called."""
    trained = bundle.scaler
    if not bundle.multi and not panel.multi:
        return trained.subset([0], names=panel.names)
    picked = [trained.index(name) for name in panel.names]
    new = [name for name, s in zip(panel.names, picked) if s is None]
    if not new:
        return trained.subset(picked, names=panel.names)
    kind = bundle.config.training.target_transform
    offset = transform_offset(kind)
    transformed, offsets = transform_panel(panel.values, panel.offsets, kind,
                                           source=panel.source, lines=panel.lines,
                                           columns=panel.columns, sources=panel.sources)
    test_start = bundle.config.facts.get("test_start")
    cut = pd.Timestamp(test_start) if test_start else panel.dates.max() + pd.Timedelta(1)
    before = np.array([np.searchsorted(panel.dates.asi8[panel.rows(s)], cut.value) - offset
                       for s in range(panel.n_series)])
    own = np.diff(offsets)
    fit_rows = np.where(before >= 2, before, own)
    fallback = SeriesScaler.fit(transformed, offsets, fit_rows, panel.names)
    series = np.repeat(np.arange(panel.n_series), own)
    local = np.arange(len(transformed)) - np.repeat(offsets[:-1], own)
    use = local < fit_rows[series]
    scaled = fallback.transform(transformed, series)[:, 0]
    statistic = "median" if bundle.config.training.loss == "mae" else "mean"
    fallback = fallback.with_center(series_centers(scaled, series, use, panel.n_series,
                                                   statistic))
    (warn or warning)(f"{len(new)} series not in the model's training data ({', '.join(new[:10])}"
                    f"{', ...' if len(new) > 10 else ''}): each is scaled on its own rows "
                    f"dated before {cut.date()} (all its rows where it has fewer)")
    return trained.subset(picked, fallback, names=panel.names)


class Forecaster:
    """A model directory, its predictor and a panel: forecasts from every origin of every
    series, in price units."""

    def __init__(self, bundle: Bundle, prices: Panel, predictor: Predictor, warn=None):
        cfg = bundle.config
        self.bundle, self.predictor = bundle, predictor
        self.window, self.horizon = cfg.model.window, cfg.model.horizon
        self.kind = cfg.training.target_transform
        needed = self.window + transform_offset(self.kind)
        short = prices.lengths < needed
        if short.all() or (short.any() and not prices.multi):
            longest = int(prices.lengths.max())
            per = " in its longest series" if prices.multi else ""
            raise DataError(f"{prices.source} has {longest} usable row(s){per}; the model "
                            f"needs at least {needed} (its window of {self.window}"
                            f"{' plus 1 for the log-return' if needed > self.window else ''})")
        if short.any():
            names = [prices.names[s] for s in np.flatnonzero(short)]
            (warn or warning)(f"left out {len(names)} series shorter than the model's window "
                            f"({needed} rows): {', '.join(names[:10])}")
            prices = prices.take(np.flatnonzero(~short))
        self.prices = prices
        self.scaler = scaler_for(bundle, prices, warn)
        self.prepared = prepare_panel(prices, self.kind, self.window, self.horizon,
                                      scaler=self.scaler)

    @property
    def target(self) -> np.ndarray:
        """(rows,) the target prices of every series, end to end."""
        return self.prices.values[:, 0]

    @functools.cached_property
    def volatility(self) -> np.ndarray:
        """(rows,) each row's recent volatility within its own series."""
        space = self.bundle.calibration.space
        return np.concatenate([intervals.volatility(self.prices.target_of(s), space)
                               for s in range(self.prices.n_series)])

    @functools.cached_property
    def origins(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """starts, series, rows of every origin (see ``Prepared.origins``)."""
        return self.prepared.origins()

    @functools.cached_property
    def outputs(self) -> np.ndarray:
        """(origins, horizon) network outputs from every origin, in batched chunks."""
        return predict_windows(self.predictor, self.prepared, self.origins[0])

    def forecasts_from(self, use: np.ndarray) -> np.ndarray:
        """(k, horizon) price forecasts from the origins selected by ``use`` (origins,)."""
        starts, series, rows = (a[use] for a in self.origins)
        outputs = predict_windows(self.predictor, self.prepared, starts)
        return origin_prices(self.prepared, self.prices, self.kind, outputs, series, rows)

    def backtest_rows(self, step: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which origins have a ``step``-ahead target inside their series.

        Returns:
            use (origins,) bool; and for the backtested rows, in the order ``backtest``
            gives them: series (k,) and rows (k,), the price row within each series.
        """
        if not 1 <= step <= self.horizon:
            raise UsageError(f"--step must be between 1 and the model's horizon "
                             f"({self.horizon}); got {step}")
        _, series, rows = self.origins
        target_rows = rows + step - 1
        use = target_rows < self.prices.lengths[series]
        if not use.any():
            raise DataError(f"{self.prices.source} has {int(self.prices.lengths.max())} rows: "
                            f"none has a full window of {self.window} rows before it; pass "
                            "more rows")
        return use, series[use], target_rows[use]

    def backtest(self, step: int = 1, level: float | None = None) -> pd.DataFrame:
        """The ``step``-ahead forecast of every row that has one, made ``step`` rows earlier.

        Returns:
            DataFrame with [series,] date, actual, predicted (and lower, upper with ``level``).
        """
        use, series, rows = self.backtest_rows(step)
        at = self.prices.offsets[series] + rows
        predicted = self.forecasts_from(use)[:, step - 1]
        out = pd.DataFrame({"date": self.prices.dates[at], "actual": self.target[at],
                            "predicted": predicted})
        if self.prices.multi:
            out.insert(0, "series", np.asarray(self.prices.names, dtype=object)[series])
        if level is not None:
            out["lower"], out["upper"] = self._band(predicted, at - step, level, step)
        return out

    def future(self, steps: int | None = None, level: float | None = None) -> pd.DataFrame:
        """The next ``steps`` values after each series' last row: direct up to the horizon,
        then recursively feeding forecasts back (univariate models only).

        Returns:
            DataFrame with [series,] date, predicted (and lower, upper with ``level``).
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
        prepared, panel = self.prepared, self.prices
        dates = [checked_future_dates(panel.dates[panel.rows(s)], steps)   # before the
                 for s in range(panel.n_series)]                            # long work
        # The direct forecast (steps 1..horizon) needs each series' last window only;
        # beyond it, forecasts are fed back in, a window at a time, into a buffer of fixed
        # size (linear in steps).
        last = prepared.offsets[1:] - self.window
        windows = prepared.inputs(last)
        first = np.asarray(self.predictor(windows), dtype=np.float64)
        buffer = np.empty((panel.n_series, self.window + max(steps, first.shape[1])))
        buffer[:, :self.window] = windows[:, :, 0]
        buffer[:, self.window:self.window + first.shape[1]] = first
        done = first.shape[1]
        while done < steps:
            out = np.asarray(self.predictor(buffer[:, done:done + self.window, None]),
                             dtype=np.float64)
            take = min(out.shape[1], steps - done)
            buffer[:, self.window + done:self.window + done + take] = out[:, :take]
            done += take
        series = np.arange(panel.n_series)
        ends = panel.offsets[1:] - 1
        predicted = outputs_to_prices(buffer[:, self.window:self.window + steps], series,
                                      self.scaler, self.kind, self.target[ends])
        out = pd.DataFrame({"date": np.concatenate([d.to_numpy() for d in dates]),
                            "predicted": predicted.ravel()})
        if panel.multi:
            out.insert(0, "series", np.repeat(np.asarray(panel.names, dtype=object), steps))
        if level is not None:
            out["lower"], out["upper"] = self._band(
                predicted.ravel(), np.repeat(ends, steps), level,
                np.tile(np.arange(1, steps + 1), panel.n_series))
        return out

    def naive_scale(self, s: int) -> float:
        """MASE's denominator for series ``s``: stored at training, else the naive MAE of
        its own rows dated before the model's test start (all rows if none)."""
        facts = self.bundle.config.facts
        name = self.prices.names[s]
        stored = facts.get("naive_scales", {})
        if not self.bundle.multi and not self.prices.multi and stored:
            return float(next(iter(stored.values())))
        if name in stored:
            return float(stored[name])
        if "naive_scale" in facts and not self.bundle.multi:  # format 1
            return float(facts["naive_scale"])
        target = self.prices.target_of(s)
        test_start = facts.get("test_start")
        cut = np.searchsorted(self.prices.dates.asi8[self.prices.rows(s)],
                              pd.Timestamp(test_start).value) if test_start else len(target)
        return metrics.naive_scale(target[:cut] if cut >= 2 else target)

    def evaluate(self, level: float) -> dict:
        """One-step scores of model, naive and drift per series: on all rows, and per
        segment of the training data (train / validation / test, by date; rows after it
        count as test), each with their aggregate over series."""
        table = self.backtest(1, level)
        _, series, rows = self.backtest_rows(1)
        facts = self.bundle.config.facts
        segment = segments(table["date"], facts.get("val_start"), facts.get("test_start"))
        predicted = table["predicted"].to_numpy()
        lower, upper = table["lower"].to_numpy(), table["upper"].to_numpy()
        result = {"source": self.prices.source, "model_dir": str(self.bundle.path)}
        scales = [self.naive_scale(s) for s in range(self.prices.n_series)]
        for name, mask in [("all", np.ones(len(rows), bool))] + [
                (s, segment == s) for s in SEGMENTS]:
            if not mask.any():
                continue
            per_series = {}
            for s in np.unique(series[mask]):
                use = mask & (series == s)
                target = self.prices.target_of(int(s))
                scores = metrics.compare(target, rows[use], predicted[use], scales[s])
                scores["interval"] = metrics.interval_summary(target[rows[use]], lower[use],
                                                              upper[use], level)
                per_series[self.prices.names[s]] = scores
            result[name] = {"series": per_series, "aggregate": metrics.aggregate(per_series)}
        return result

    def _band(self, predicted, origins, level, steps):
        """(lower, upper) for forecasts made at ``origins`` (rows of the panel), ``steps``
        ahead (an int, or one per forecast)."""
        check_level(self.bundle.calibration, level, int(np.max(steps)))
        cal = self.bundle.calibration
        steps = np.broadcast_to(steps, np.shape(predicted))
        q = {int(k): cal.quantile(level, int(k)) for k in np.unique(steps)}
        scale = np.array([q[int(k)] for k in steps]) if len(q) > 1 else \
            np.full(np.shape(predicted), next(iter(q.values())) if q else 0.0)
        return intervals.band(predicted, self.volatility[origins] * scale, 1.0, cal.space)


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
