"""Windows over the panel: the start rows of every window inside one series, the date
splits, the prepared (transformed, scaled, indexed) panel and the training data's checks
(``prepare_training``), forecasts from every origin, and which rows a future forecast
reads. NumPy and pandas only: tune checks its data without TensorFlow.

Windows are never materialised beyond a batch: sample i is gathered by its start row.
Shapes: inputs ``(samples, window, features)``, targets ``(samples, horizon)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from forecast import console
from forecast.config import DERIVED_SOURCES, VOLATILITY_WINDOW, ForecastConfig, median_index
from forecast.data.dates import option_date
from forecast.data.panel import Panel, unique_sorted
from forecast.errors import DataError, where
from forecast.transforms import (SeriesScaler, model_inputs, outputs_to_prices,
                                 transform_offset)


#: A future forecast reads each series' last rows only (``recent_rows``), and every row of
#: its last ``FUTURE_SPAN`` (a week of intraday sessions tells their times and weekdays).
FUTURE_ROWS = 256
FUTURE_SPAN = pd.Timedelta(days=8)


def rows_needed(window: int, horizon: int, offset: int, val_fraction: float,
                test_fraction: float) -> int:
    """The fewest rows of one series that give training, validation and test a full sample
    each, when the last ``test_fraction`` of its rows are the test rows and the
    ``val_fraction`` before them the validation rows (each rounded to whole rows)."""
    rows = window + horizon + offset
    while True:
        n_test, n_val = int(round(rows * test_fraction)), int(round(rows * val_fraction))
        if (rows - n_test - n_val >= offset + window + horizon and n_val >= horizon
                and n_test >= horizon):
            return rows
        rows += 1


@dataclass(frozen=True)
class DateSplit:
    """Chronological split by date, shared by every series of a panel: training rows are
    dated before ``val_start``, validation rows before ``test_start``, test rows from it."""

    val_start: pd.Timestamp
    test_start: pd.Timestamp

    def bounds(self, dates: pd.DatetimeIndex, offsets: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Per-series row boundaries: (train_end, val_end), each (series,), in rows of each
        series (train ``[0, train_end)``, validation ``[train_end, val_end)``)."""
        stamps = pd.DatetimeIndex(dates).as_unit("ns").asi8
        train_end, val_end = [], []
        for s in range(len(offsets) - 1):
            own = stamps[offsets[s]:offsets[s + 1]]
            train_end.append(np.searchsorted(own, self.val_start.value))
            val_end.append(np.searchsorted(own, self.test_start.value))
        return np.array(train_end, np.int64), np.array(val_end, np.int64)


def split_dates(dates: pd.DatetimeIndex, val_fraction: float, test_fraction: float,
                val_start: str | pd.Timestamp | None = None,
                test_start: str | pd.Timestamp | None = None, source: str = "input") -> DateSplit:
    """The cut dates: given ones, else the fractions of the union of every series' dates
    (for one series this is the last ``test_fraction`` of rows, the ``val_fraction`` before).

    Raises:
        DataError: a cut date leaves no rows on one side, or validation starts after test.
    """
    unique = unique_sorted(pd.DatetimeIndex(dates).as_unit("ns").asi8)
    n = len(unique)
    if test_start is not None:
        test = pd.Timestamp(test_start)
    else:
        test = pd.Timestamp(unique[max(n - int(round(n * test_fraction)), 0)])
    before = int(np.searchsorted(unique, test.value))
    if val_start is not None:
        val = pd.Timestamp(val_start)
    else:
        val = pd.Timestamp(unique[max(before - int(round(n * val_fraction)), 0)])
    if test_start is not None and (before == 0 or before == n):
        side = "before" if before == 0 else "on or after"
        raise DataError(f"--test-start {test.date()}: {source} has no rows {side} it "
                        f"(dates {pd.Timestamp(unique[0]).date()} to "
                        f"{pd.Timestamp(unique[-1]).date()})")
    if val >= test:
        raise DataError(f"--val-start {val.date()} is not before the test start {test.date()}; "
                        "validation rows must come before test rows")
    if val_start is not None and val.value <= unique[0]:
        raise DataError(f"--val-start {val.date()}: {source} has no training rows before it")
    return DateSplit(val, test)


@dataclass
class Prepared:
    """A panel made model-ready: transformed, scaled per series, with window indices.

    Windows are never copied here: sample i is rows ``starts[i] : starts[i] + window`` of
    ``scaled`` (inputs) and the ``horizon`` target values after them, gathered on demand.

    Attributes:
        scaled: (trows, features) the transformed, per-series scaled panel, end to end.
        offsets: (series + 1,) row boundaries of ``scaled``.
        offset: rows the transform drops at the start of each series (row j of series s in
            ``scaled`` is its price row j + offset).
        scaler: the SeriesScaler (fit on each series' training rows only).
        window, horizon: sample shape.
        starts: (samples,) first row in ``scaled`` of each sample with a full target.
        series: (samples,) series of each sample.
        first_rows: (samples,) price row, within its series, of each sample's first target.
        masks: "train" / "val" / "test" -> (samples,) bool (empty without a split).
        train_end, val_end: (series,) per-series split rows (None without a split).
    """

    scaled: np.ndarray
    offsets: np.ndarray
    offset: int
    scaler: SeriesScaler
    window: int
    horizon: int
    starts: np.ndarray
    series: np.ndarray
    first_rows: np.ndarray
    masks: dict
    train_end: np.ndarray | None = None
    val_end: np.ndarray | None = None

    def inputs(self, starts: np.ndarray) -> np.ndarray:
        """(k, window, features) input windows beginning at rows ``starts`` (k,)."""
        view = sliding_window_view(self.scaled, self.window, axis=0)
        return view[np.asarray(starts)].transpose(0, 2, 1)

    @property
    def target(self) -> np.ndarray:
        """(trows,) the network's target: the scaled target column minus its series' center."""
        series = np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))
        return self.scaled[:, 0] - self.scaler.center_[series]

    def targets(self, starts: np.ndarray) -> np.ndarray:
        """(k, horizon) network targets after the windows beginning at ``starts``."""
        rows = np.asarray(starts)[:, None] + self.window + np.arange(self.horizon)
        series = np.searchsorted(self.offsets, np.asarray(starts), side="right") - 1
        return self.scaled[rows, 0] - self.scaler.center_[series][:, None]

    @property
    def X(self) -> np.ndarray:
        """Every sample's inputs (samples, window, features), materialised: small data only."""
        return self.inputs(self.starts)

    @property
    def y(self) -> np.ndarray:
        """Every sample's targets (samples, horizon), materialised."""
        return self.targets(self.starts)

    def origins(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every input window of every series, including each series' last one.

        Returns:
            starts (origins,), series (origins,), and rows (origins,): the price row within
            its series of each window's first forecast (a series' last window gives its row
            count: the first future row).
        """
        return window_starts(self.offsets, self.window, 0, self.offset)


def window_starts(offsets: np.ndarray, window: int, horizon: int, offset: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start rows of every window of ``window`` inputs and ``horizon`` targets that stays
    inside one series of an end-to-end array with row boundaries ``offsets``.

    Returns:
        starts (samples,), series (samples,), and first_rows (samples,): the price row within
        its series of each sample's first target (``offset`` rows dropped by the transform).
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.maximum(np.diff(offsets) - window - horizon + 1, 0)
    series = np.repeat(np.arange(len(counts)), counts)
    local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    starts = offsets[:-1][series] + local
    return starts, series, local + window + offset


def prepare_panel(panel, kind: str, window: int, horizon: int, *,
                  split: DateSplit | None = None, scaler: SeriesScaler | None = None,
                  center: str = "median", derived: tuple[str, ...] | list[str] = ()) -> Prepared:
    """Transform each series, add its derived inputs, scale it and index its windows.

    Args:
        panel: a ``data.Panel``.
        kind: target transform (``level`` or ``log-return``).
        window, horizon: sample shape.
        derived: derived inputs (``transforms.model_inputs``), after target and features.
        split: cut dates; without ``scaler`` each series' scaler is fit on its rows dated
            before ``split.val_start`` only, so validation and test rows never shape it.
        scaler: a fitted SeriesScaler over exactly these series, in order (prediction).
        center: when fitting, each series' center is this statistic (``median`` or
            ``mean``) of its training windows' first targets, scaled.
    """
    offset = transform_offset(kind)
    transformed, offsets = model_inputs(panel, kind, derived)
    train_end = val_end = None
    if split is not None:
        train_end, val_end = split.bounds(panel.dates, panel.offsets)
    fitted = scaler is not None
    if scaler is None:
        if train_end is None:
            raise ValueError("prepare_panel needs a split to fit a scaler, or a fitted scaler")
        scaler = SeriesScaler.fit(transformed, offsets, np.maximum(train_end - offset, 1),
                                  panel.names, tied_columns(panel, kind, derived))
    series_of_rows = np.repeat(np.arange(panel.n_series), np.diff(offsets))
    scaled = np.ascontiguousarray(scaler.transform(transformed, series_of_rows))
    starts, series, first_rows = window_starts(offsets, window, horizon, offset)
    masks = {}
    if train_end is not None:
        last = first_rows + horizon - 1
        masks = {"train": last < train_end[series],
                 "val": (first_rows >= train_end[series]) & (last < val_end[series]),
                 "test": first_rows >= val_end[series]}
        if not fitted:
            scaler = scaler.with_center(series_centers(
                scaled[starts + window, 0], series, masks["train"], panel.n_series, center))
    return Prepared(scaled, offsets, offset, scaler, window, horizon, starts, series,
                    first_rows, masks, train_end, val_end)


def tied_columns(panel, kind: str, derived) -> list[int]:
    """The input columns scaled in the target's units (``SeriesScaler.fit``): with a
    log-return target, the derived inputs, which are log-moves too."""
    if kind != "log-return":
        return []
    first = len(panel.input_columns)
    return list(range(first, first + len(derived)))


def predict_windows(predictor, prepared: Prepared, starts: np.ndarray,
                    chunk: int = 65536) -> np.ndarray:
    """Run ``predictor`` ((k, window, features) -> (k, horizon) or (k, horizon, quantiles))
    over the windows beginning at ``starts`` (n,), gathering one chunk at a time so no more
    than ``chunk`` windows are ever materialised. Returns (n, horizon[, quantiles])
    float64."""
    starts = np.asarray(starts)
    parts = [np.asarray(predictor(prepared.inputs(starts[i:i + chunk])), dtype=np.float64)
             for i in range(0, len(starts), chunk)]
    if parts:
        return np.concatenate(parts)
    probe = np.asarray(predictor(np.zeros((1, prepared.window, prepared.scaled.shape[1]))))
    return np.empty((0, *probe.shape[1:]))


def origin_prices(prepared: Prepared, panel, kind: str, outputs: np.ndarray,
                  series: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Model outputs (k, steps[, quantiles]) for origins of ``series`` (k,) whose first step
    is price row ``rows`` (k,) of their series, in price units, shaped like ``outputs``."""
    anchor = panel.values[panel.offsets[series] + rows - 1, 0]
    return outputs_to_prices(outputs, series, prepared.scaler, kind, anchor)


def series_centers(values: np.ndarray, series: np.ndarray, use: np.ndarray, n_series: int,
                   statistic: str = "median") -> np.ndarray:
    """(series,) the median (or mean) of ``values`` (k,) over the entries ``use`` (k,) of
    each series ``series`` (k,); 0 for a series with none."""
    frame = pd.Series(values[use]).groupby(series[use])
    found = frame.median() if statistic == "median" else frame.mean()
    out = np.zeros(n_series)
    out[found.index.to_numpy()] = found.to_numpy()
    return out


def recent_rows(window: int, kind: str) -> int:
    """How many of each series' last rows a future forecast reads: its last window (and
    the row before it for a log-return), the steps of its recent volatility, and at
    least ``FUTURE_ROWS`` to continue its dates' spacing."""
    return max(FUTURE_ROWS, window + transform_offset(kind) + VOLATILITY_WINDOW + 2)


def recent_of(panel: Panel, window: int, kind: str) -> Panel:
    """The rows of ``panel`` that a future forecast reads (``recent_rows``, ``FUTURE_SPAN``)."""
    return panel.recent(recent_rows(window, kind), FUTURE_SPAN)


@dataclass
class OriginForecasts:
    """Forecasts in price units from origins of a panel's series.

    Attributes:
        series: (k,) series of each origin; rows: (k,) the price row, within its series, of
        each origin's first step; prices: (k, horizon) point forecasts in price units;
        quantiles: (k, horizon, levels) a quantile model's forecasts, else None.
    """

    series: np.ndarray
    rows: np.ndarray
    prices: np.ndarray
    quantiles: np.ndarray | None = None
    _ordered: bool | None = field(default=None, repr=False, compare=False)

    def _select(self, s: int):
        """Series ``s``'s origins: a slice where origins come series by series (as
        ``origin_forecasts`` gives them: no scan of every origin per series), else a mask."""
        if self._ordered is None:
            self._ordered = bool((self.series[1:] >= self.series[:-1]).all())
        if self._ordered:
            return slice(*np.searchsorted(self.series, [s, s + 1]))
        return self.series == s

    def of(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, prices) of series ``s``."""
        use = self._select(s)
        return self.rows[use], self.prices[use]

    def quantiles_of(self, s: int) -> np.ndarray | None:
        """(rows of s, horizon, levels) quantile forecasts of series ``s``, or None."""
        return None if self.quantiles is None else self.quantiles[self._select(s)]


def origin_forecasts(predictor, prepared: Prepared, panel: Panel, kind: str,
                     first_row: np.ndarray | None = None,
                     levels: list[float] | None = None) -> OriginForecasts:
    """Forecasts from every origin of every series whose first step is at or after
    ``first_row[s]`` (series,) (default: all), in batched, gathered chunks; a quantile
    model (``levels``) gives each level's path and its median as the point forecast."""
    starts, series, rows = prepared.origins()
    if first_row is not None:
        use = rows >= first_row[series]
        starts, series, rows = starts[use], series[use], rows[use]
    outputs = predict_windows(predictor, prepared, starts)
    prices = origin_prices(prepared, panel, kind, outputs, series, rows)
    if not levels:
        return OriginForecasts(series, rows, prices)
    return OriginForecasts(series, rows, prices[..., median_index(levels)], prices)


def prepare_training(panel: Panel, config: ForecastConfig,
                     warn: Callable[[str], None] | None = None
                     ) -> tuple[Prepared, DateSplit, Panel, ForecastConfig]:
    """Split by date, leave out series too short to train on, transform, scale each series
    on its training rows only and index the windows; refuse anything non-finite.

    Returns:
        the prepared panel, the split, the panel of the series trained on, and ``config``
        completed with that panel's inputs (its derived inputs decided, its extra raw
        columns and its columns in model order): a new config; ``config`` is read only.
    """
    m, t = config.model, config.training
    warn = warn or console.warn
    offset = transform_offset(t.target_transform)
    starts = [None if value is None else option_date(value, flag, panel.date_order,
                                                     config.data.date_format)
              for value, flag in ((t.val_start, "--val-start"), (t.test_start, "--test-start"))]
    split = split_dates(panel.dates, t.val_fraction, t.test_fraction, *starts, panel.source)
    train_end, val_end = split.bounds(panel.dates, panel.offsets)
    trainable = train_end >= offset + m.window + m.horizon
    if not trainable.any():
        need = rows_needed(m.window, m.horizon, offset, t.val_fraction, t.test_fraction)
        longest = int(panel.lengths.max())
        which = "" if panel.n_series == 1 else " in its longest series"
        raise DataError(f"{panel.source} has {longest} usable row(s){which}; --window "
                        f"{m.window}, --horizon {m.horizon} and the validation/test splits "
                        f"need at least {need} (a training window before the validation start, "
                        f"{split.val_start.date()}); pass more rows or a smaller --window")
    if not trainable.all():
        short = [panel.names[s] for s in np.flatnonzero(~trainable)]
        warn(f"left out of training {len(short)} series with too few rows before "
             f"{split.val_start.date()} for one training window: {', '.join(short[:20])}"
             f"{', ...' if len(short) > 20 else ''}")
        panel = panel.take(np.flatnonzero(trainable))
    config = dataclasses.replace(
        config, data=dataclasses.replace(config.data,
                                         derived=resolve_derived(panel, config.data.derived),
                                         extra=list(panel.extra)),
        columns=list(panel.columns))
    prepared = prepare_panel(panel, t.target_transform, m.window, m.horizon, split=split,
                             center="median" if t.loss == "mae" or m.quantiles else "mean",
                             derived=config.data.derived)
    for name, what in (("val", "validation"), ("test", "test")):
        if not prepared.masks[name].any():
            need = rows_needed(m.window, m.horizon, offset, t.val_fraction, t.test_fraction)
            raise DataError(f"{panel.source}: no {what} window (validation from "
                            f"{split.val_start.date()}, test from {split.test_start.date()}); "
                            f"--window {m.window} and --horizon {m.horizon} need at least "
                            f"{need} rows, or move --val-start/--test-start")
    val_dates = len(unique_sorted(sample_dates(panel, prepared)[prepared.masks["val"]]))
    needed = m.horizon + 1 if t.baseline_guard else 1   # one half to stop on, one to test
    if val_dates < needed:
        raise DataError(f"{panel.source}: {val_dates} validation date(s) from "
                        f"{split.val_start.date()} to {split.test_start.date()}, but early "
                        f"stopping{' and the baseline guard' if t.baseline_guard else ''} need "
                        f"at least {needed}; pass more rows, a larger --val-fraction or an "
                        "earlier --val-start")
    _check_finite(panel, prepared, config.data.derived)
    return prepared, split, panel, config


def resolve_derived(panel: Panel, derived: list[str] | None) -> list[str]:
    """The derived inputs to train with: as given, or (None, ``auto``) the absolute
    log-return when the target is positive, plus the log high-low range when the panel has
    High and Low columns, positive."""
    if derived is not None:
        return list(derived)
    out = []
    if np.all(panel.values[:, 0] > 0):
        out.append("abs-return")
    sources = [panel.column(c) for c in DERIVED_SOURCES["log-range"]]
    if None not in sources and np.all(panel.values[:, sources] > 0):
        out.append("log-range")
    return out


def _check_finite(panel: Panel, prepared: Prepared, derived: list[str] | None = None) -> None:
    with np.errstate(over="ignore"):
        span = prepared.scaler.data_max_ - prepared.scaler.data_min_
    bad = ~np.isfinite(prepared.scaled)
    if not bad.any() and np.all(np.isfinite(span)):
        return
    # The row to name: the first non-finite scaled value, or the most extreme value of
    # a column whose training span overflows (its scale would silently become 0).
    if bad.any():
        trow, col = np.argwhere(bad)[0]
        s = int(np.searchsorted(prepared.offsets, trow, side="right") - 1)
        row = panel.offsets[s] + trow - prepared.offsets[s] + prepared.offset
    else:
        s, col = np.argwhere(~np.isfinite(span))[0]
        rows = panel.rows(int(s))
        row = rows.start + int(np.argmax(np.abs(panel.values[rows, col])))
    names = panel.input_columns + [
        panel.columns[panel.column(DERIVED_SOURCES[name][0])] if DERIVED_SOURCES[name]
        else panel.target for name in derived or []]
    place = where(panel.sources[int(s)], int(panel.lines[row]), names[int(col)])
    raise DataError(f"{place}: value is too large to scale (it overflows); check the value")


def sample_dates(panel: Panel, prepared: Prepared) -> np.ndarray:
    """(samples,) int64 date of each sample's first target row."""
    return panel.dates.asi8[panel.offsets[prepared.series] + prepared.first_rows]
