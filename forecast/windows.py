"""Sliding windows and chronological splits, with NumPy only.

Parameter names follow ``keras.utils.timeseries_dataset_from_array`` where they overlap.
Shapes: inputs ``(samples, window, features)``, targets ``(samples, horizon)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from forecast.errors import DataError
from forecast.transforms import MinMaxScaler, apply_transform, transform_offset


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


@dataclass
class Prepared:
    """Model-ready arrays for one price frame.

    Attributes:
        X: (samples, window, features) scaled, transformed inputs (a view on ``scaled``).
        y: (samples, horizon) scaled, transformed targets.
        first_rows: (samples,) price-frame row of each sample's first target.
        masks: "train" / "val" / "test" -> (samples,) bool, from ``assign_samples``.
        scaled: (rows - offset, features) the scaled, transformed series.
        scaler: the MinMaxScaler, fit on training rows only.
        offset: rows the transform drops at the start (row j of ``scaled`` is price row
            j + offset).
    """

    X: np.ndarray
    y: np.ndarray
    first_rows: np.ndarray
    masks: dict
    scaled: np.ndarray
    scaler: MinMaxScaler
    offset: int


def prepare(values: np.ndarray, kind: str, window: int, horizon: int,
            split: Split | None = None, scaler: MinMaxScaler | None = None,
            **where_args) -> Prepared:
    """Transform, scale and window a price frame.

    Args:
        values: (rows, features) prices, target first.
        kind: target transform (``level`` or ``log-return``).
        window, horizon: sample shape.
        split: row boundaries; without ``scaler`` one is fit on the rows before
            ``split.train_end`` only, so validation and test rows never shape the scaling.
            Without a split, ``masks`` is empty.
        scaler: a fitted scaler to reuse (prediction); one of split and scaler is needed.
        where_args: source / lines / columns, for error messages.
    """
    offset = transform_offset(kind)
    transformed = apply_transform(values, kind, **where_args)
    if scaler is None:
        if split is None:
            raise ValueError("prepare needs a split to fit a scaler, or a fitted scaler")
        scaler = MinMaxScaler().fit(transformed[: max(split.train_end - offset, 1)])
    scaled = scaler.transform(transformed)
    X, y = make_windows(scaled, scaled[:, 0], window, horizon)
    first_rows = np.arange(len(X)) + window + offset
    masks = assign_samples(first_rows, horizon, split) if split is not None else {}
    return Prepared(X, y, first_rows, masks, scaled, scaler, offset)


def origin_windows(scaled: np.ndarray, window: int, offset: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Every input window of a scaled series, including the last one.

    Returns:
        X (origins, window, features), and (origins,) the price row each window's first
        forecast is for (the last one equals the row count: the first future row).
    """
    X, _ = make_windows(scaled, None, window)
    return X, np.arange(len(X)) + window + offset
