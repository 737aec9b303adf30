"""Sliding windows and chronological splits, with NumPy only.

Parameter names follow ``keras.utils.timeseries_dataset_from_array`` where they overlap.
Shapes: inputs ``(samples, window, features)``, targets ``(samples, horizon)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from forecast.config import VOLATILITY_WINDOW
from forecast.data.panel import Panel, unique_sorted
from forecast.errors import DataError
from forecast.transforms import (SeriesScaler, model_inputs, outputs_to_prices,
                                 transform_offset)


#: A future forecast reads each series' last rows only (``recent_rows``), and every row of
#: its last ``FUTURE_SPAN`` (a week of intraday sessions tells their times and weekdays).
FUTURE_ROWS = 256
FUTURE_SPAN = pd.Timedelta(days=8)


def make_windows(data: np.ndarray, targets: np.ndarray | None, window: int,
                 horizon: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """Cut every window of ``window`` rows and the ``horizon`` target values after it.

    Sample i has inputs ``data[i : i + window]`` and targets
    ``targets[i + window : i + window + horizon]``; its first target row is ``i + window``.

    Args:
        data: (rows, features).
        targets: (rows,) or None for inputs only (then every full window is returned,
            including the last one, which has no target yet).
        window: rows per input window, >= 1.
        horizon: target steps per sample, >= 1.

    Returns:
        X (samples, window, features) as a read-only view, and y (samples, horizon) or None.
        samples = rows - window - horizon + 1 with targets, rows - window + 1 without.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"data must be (rows, features), got shape {data.shape}")
    if targets is not None and len(targets) != len(data):
        raise ValueError(f"targets has {len(targets)} rows but data has {len(data)}")
    needed = window + (horizon if targets is not None else 0)
    if len(data) < needed:
        empty = np.empty((0, window, data.shape[1]), dtype=data.dtype)
        return empty, (None if targets is None else np.empty((0, horizon)))
    # sliding_window_view puts the window axis last: (samples, features, window).
    X = sliding_window_view(data, window, axis=0).transpose(0, 2, 1)
    if targets is None:
        return X, None
    samples = len(data) - window - horizon + 1
    y = sliding_window_view(np.asarray(targets)[window:], horizon)[:samples]
    return X[:samples], y


@dataclass(frozen=True)
class Split:
    """Chronological row boundaries: train ``[0, train_end)``, validation
    ``[train_end, val_end)``, test ``[val_end, rows)``, in rows of the price frame."""

    rows: int
    train_end: int
    val_end: int

    @property
    def n_train(self) -> int:
        return self.train_end

    @property
    def n_val(self) -> int:
        return self.val_end - self.train_end

    @property
    def n_test(self) -> int:
        return self.rows - self.val_end


def split_rows(rows: int, val_fraction: float, test_fraction: float) -> Split:
    """The last ``test_fraction`` of rows for test, the ``val_fraction`` before them for
    validation, the rest for training (each rounded to whole rows)."""
    n_test = int(round(rows * test_fraction))
    n_val = int(round(rows * val_fraction))
    return Split(rows, rows - n_test - n_val, rows - n_test)


def rows_needed(window: int, horizon: int, offset: int, val_fraction: float,
                test_fraction: float) -> int:
    """The fewest rows that give every split at least one full sample."""
    rows = window + horizon + offset
    while not _enough(split_rows(rows, val_fraction, test_fraction), window, horizon, offset):
        rows += 1
    return rows


def _enough(split: Split, window: int, horizon: int, offset: int) -> bool:
    return (split.train_end >= offset + window + horizon and split.n_val >= horizon
            and split.n_test >= horizon)


def check_rows(rows: int, window: int, horizon: int, offset: int, val_fraction: float,
               test_fraction: float, source: str) -> Split:
    """The split, or a DataError saying how many rows these settings need."""
    split = split_rows(rows, val_fraction, test_fraction)
    if not _enough(split, window, horizon, offset):
        need = rows_needed(window, horizon, offset, val_fraction, test_fraction)
        raise DataError(f"{source} has {rows} usable row(s); --window {window}, --horizon "
                        f"{horizon} and the validation/test splits need at least {need}; "
                        "pass more rows or a smaller --window")
    return split


def assign_samples(first_target_rows: np.ndarray, horizon: int,
                   split: Split) -> dict[str, np.ndarray]:
    """Which samples belong to which split: all of a sample's target rows in one split.

    Args:
        first_target_rows: (samples,) the price-frame row of each sample's first target.
        horizon: target rows per sample.
        split: the row boundaries.

    Returns:
        boolean masks (samples,) under "train", "val" and "test". Samples whose targets
        straddle a boundary belong to none. Inputs may reach back across a boundary.
    """
    first = np.asarray(first_target_rows)
    last = first + horizon - 1
    return {
        "train": last < split.train_end,
        "val": (first >= split.train_end) & (last < split.val_end),
        "test": first >= split.val_end,
    }


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
