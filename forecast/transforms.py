"""The target transform (price level or log-return), the derived volatility inputs, and a
JSON-safe MinMax scaler per series (``SeriesScaler``, fit on each series' training rows).

Pure NumPy. The scaler's learned attributes end in ``_`` as scikit-learn's do, and one
series of it gives the same numbers as ``sklearn.preprocessing.MinMaxScaler``; it exists so
that a model directory stores plain numbers and a prediction can invert the target column
alone, without padding.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from forecast.config import DERIVED, DERIVED_SOURCES
from forecast.errors import DataError, ModelDirError, UsageError, where


def transform_offset(kind: str) -> int:
    """Rows lost at the start by the transform: 0 for level, 1 for log-return."""
    return 1 if kind == "log-return" else 0


def apply_transform(values: np.ndarray, kind: str, *, source: str = "input",
                    lines: Sequence[int] | None = None,
                    columns: Sequence[str] | None = None) -> np.ndarray:
    """Transform every input column.

    Args:
        values: (rows, features) prices (target first).
        kind: ``level`` (unchanged) or ``log-return`` (log of each row over the previous one,
            which needs strictly positive values; the first offending row is named).
        source, lines, columns: used to name the file, line and column in errors.

    Returns:
        (rows - transform_offset(kind), features); row j belongs to input row
        j + transform_offset(kind).
    """
    values = np.asarray(values, dtype=float)
    if kind == "level":
        return values.copy()
    if kind != "log-return":
        raise ValueError(f"unknown target transform {kind!r}")
    bad = ~(values > 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        line = None if lines is None else int(lines[row])
        name = None if columns is None else columns[col]
        raise DataError(f"{where(source, line, name)}: value {values[row, col]:g} is not "
                        "positive, so a log-return model cannot use it; fix the value, or "
                        "train on price levels (`forecast train --target-transform level`)")
    out = np.diff(np.log(values), axis=0)
    if not np.all(np.isfinite(out)):
        row, col = np.argwhere(~np.isfinite(out))[0]
        line = None if lines is None else int(lines[row + 1])
        raise DataError(f"{where(source, line)}: the log-return overflows; check the value")
    return out


def to_prices(forecasts: np.ndarray, anchor: np.ndarray, kind: str) -> np.ndarray:
    """Turn forecasts of the transformed target (already unscaled) into prices.

    Args:
        forecasts: (samples, steps) consecutive transformed-target forecasts, or
            (samples, steps, quantiles): then each level's path is summed on its own.
        anchor: (samples,) the last known price before the first forecast step.
        kind: the transform.

    Returns:
        prices shaped like ``forecasts``. For log-return, step k is anchor * exp(sum of
        steps 0..k).
    """
    forecasts = np.asarray(forecasts, dtype=float)
    if kind == "level":
        return forecasts.copy()
    anchor = np.asarray(anchor, dtype=float).reshape((-1,) + (1,) * (forecasts.ndim - 1))
    return anchor * np.exp(np.cumsum(forecasts, axis=1))


class SeriesScaler:
    """MinMax scaling per series: each series to [0, 1] on its own training rows.

    The network's target is the scaled target column minus ``center_``, each series' typical
    scaled step (the median, or mean, of its training targets): an output of 0 is then each
    series' own drift-like forecast, which is what one network's untrained start can give
    every series at once, and what the baseline guard compares the trained network with.

    Attributes:
        names: (series,) the series names, in panel order.
        data_min_, data_max_: (series, features) minimum and maximum of each series' fit rows.
        center_: (series,) subtracted from the scaled target column to make the target.
    """

    def __init__(self, names: Sequence[str], data_min: np.ndarray, data_max: np.ndarray,
                 center: np.ndarray | None = None):
        self.names = list(names)
        self.data_min_ = np.asarray(data_min, dtype=float).reshape(len(self.names), -1)
        self.data_max_ = np.asarray(data_max, dtype=float).reshape(len(self.names), -1)
        self.center_ = np.zeros(len(self.names)) if center is None else \
            np.asarray(center, dtype=float).reshape(len(self.names))

    def with_center(self, center: np.ndarray) -> "SeriesScaler":
        """The same scaler with ``center`` (series,) subtracted from the scaled target."""
        return SeriesScaler(self.names, self.data_min_, self.data_max_, center)

    def inverse_target(self, outputs: np.ndarray, series: np.ndarray) -> np.ndarray:
        """Network outputs (samples, ...) of ``series`` (samples,) to the transformed target:
        add back the center, undo the target column's scaling."""
        outputs = np.asarray(outputs, dtype=float)
        shape = (-1,) + (1,) * (outputs.ndim - 1)
        return self.inverse_column(outputs + self.center_[series].reshape(shape), series, 0)

    @classmethod
    def fit(cls, values: np.ndarray, offsets: np.ndarray, fit_rows: np.ndarray,
            names: Sequence[str], tied: Sequence[int] = ()) -> "SeriesScaler":
        """Learn each series' min and max from its first ``fit_rows[s]`` rows.

        Args:
            values: (rows, features) the (transformed) panel, series end to end.
            offsets: (series + 1,) row boundaries of ``values``.
            fit_rows: (series,) leading rows of each series to fit on (at least 1 each).
            names: (series,) names.
            tied: columns scaled by the target column's span, from 0 (min 0, max the
                target's max - min), instead of their own: volatility inputs in the
                target's units, so that a move of one size reads the same in every series.
        """
        values = np.asarray(values, dtype=float)
        lows, highs = [], []
        for s in range(len(names)):
            rows = values[offsets[s]: offsets[s] + max(int(fit_rows[s]), 1)]
            if len(rows) == 0:
                raise ValueError(f"fit needs a non-empty 2-D array, got shape {rows.shape}")
            low, high = rows.min(axis=0), rows.max(axis=0)
            for c in tied:
                low[c], high[c] = 0.0, high[0] - low[0]
            lows.append(low)
            highs.append(high)
        return cls(names, np.array(lows), np.array(highs))

    @property
    def scale_(self) -> np.ndarray:
        """(series, features) so that ``scaled = X * scale_ + min_`` row by row."""
        with np.errstate(over="ignore"):  # an overflowing span is refused by the caller
            span = self.data_max_ - self.data_min_
        return 1.0 / np.where(span == 0.0, 1.0, span)

    @property
    def min_(self) -> np.ndarray:
        """(series, columns) offsets of the scaling, as scikit-learn's MinMaxScaler has them."""
        return -self.data_min_ * self.scale_

    def transform(self, X: np.ndarray, series: np.ndarray) -> np.ndarray:
        """(rows, features) -> (rows, features), row i scaled by series ``series[i]``."""
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are checked
            return np.asarray(X, dtype=float) * self.scale_[series] + self.min_[series]

    def inverse_column(self, values: np.ndarray, series: np.ndarray,
                       column: int = 0) -> np.ndarray:
        """Invert one column's scaling on (samples, ...) values, sample i of ``series[i]``."""
        values = np.asarray(values, dtype=float)
        shape = (-1,) + (1,) * (values.ndim - 1)
        scale = self.scale_[series, column].reshape(shape)
        return (values - self.min_[series, column].reshape(shape)) / scale

    def index(self, name: str) -> int | None:
        """Series ``name``'s index, None where the scaler has no such series."""
        try:
            return self.names.index(name)
        except ValueError:
            return None

    def subset(self, picked: Sequence[int | None], fallback: "SeriesScaler | None" = None,
               names: Sequence[str] | None = None) -> "SeriesScaler":
        """A scaler for other series: entry i is this one's series ``picked[i]``, or, where
        that is None, ``fallback``'s series i."""
        lows, highs, centers = [], [], []
        for i, s in enumerate(picked):
            source, row = (self, s) if s is not None else (fallback, i)
            lows.append(source.data_min_[row])
            highs.append(source.data_max_[row])
            centers.append(source.center_[row])
        return SeriesScaler(names if names is not None else
                            [self.names[s] if s is not None else fallback.names[i]
                             for i, s in enumerate(picked)], np.array(lows), np.array(highs),
                            np.array(centers))

    def to_dict(self) -> dict[str, Any]:
        """The scaler as scaler.json stores it."""
        return {"kind": "minmax-per-series", "feature_range": [0.0, 1.0],
                "series": {name: {"data_min": [float(v) for v in self.data_min_[s]],
                                  "data_max": [float(v) for v in self.data_max_[s]],
                                  "center": float(self.center_[s])}
                           for s, name in enumerate(self.names)}}

    @classmethod
    def from_dict(cls, raw: Any, source: str = "scaler.json") -> "SeriesScaler":
        """Read back ``to_dict``; a format-1 single ``minmax`` scaler becomes one series ''."""
        if isinstance(raw, dict) and raw.get("kind") == "minmax":
            return cls._from_format_1(raw, source)
        try:
            if raw.get("kind") != "minmax-per-series":
                raise ValueError("kind is not 'minmax-per-series'")
            series = raw["series"]
            if not isinstance(series, dict) or not series:
                raise ValueError("no series")
            names = list(series)
            lows = np.array([series[n]["data_min"] for n in names], dtype=float)
            highs = np.array([series[n]["data_max"] for n in names], dtype=float)
            center = np.array([series[n].get("center", 0.0) for n in names], dtype=float)
            if lows.ndim != 2 or lows.shape != highs.shape or not lows.shape[1]:
                raise ValueError("data_min and data_max must be equal-length lists")
            if not (np.all(np.isfinite(lows)) and np.all(np.isfinite(highs))
                    and np.all(np.isfinite(center))):
                raise ValueError("non-finite numbers")
            if (highs < lows).any():
                raise ValueError("a data_max below its data_min")
            # the median (or mean) of scaled training targets, which the scaling puts in
            # [0, 1]: anything else scales every forecast step out of all proportion
            if ((center < -1e-9) | (center > 1 + 1e-9)).any():
                raise ValueError(f"a center of {center[np.argmax(np.abs(center - 0.5))]:g}, "
                                 "outside [0, 1]")
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"{source} is damaged ({exc}); retrain the model") from None
        return cls(names, lows, highs, center)

    @classmethod
    def _from_format_1(cls, raw: dict, source: str) -> "SeriesScaler":
        """Format 1's one ``minmax`` scaler ({"data_min": [...], "data_max": [...]}) as one
        series ''."""
        try:
            data_min = np.asarray(raw["data_min"], dtype=float)
            data_max = np.asarray(raw["data_max"], dtype=float)
            if data_min.ndim != 1 or data_min.shape != data_max.shape or not data_min.size:
                raise ValueError("data_min and data_max must be equal-length lists")
            if not (np.all(np.isfinite(data_min)) and np.all(np.isfinite(data_max))):
                raise ValueError("non-finite numbers")
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"{source} is damaged ({exc}); retrain the model") from None
        return cls([""], data_min[None], data_max[None])


def transform_panel(values: np.ndarray, offsets: np.ndarray, kind: str, *,
                    source: str = "input", lines: Sequence[int] | None = None,
                    columns: Sequence[str] | None = None,
                    sources: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``apply_transform`` on every series of a panel at once, never across two series.

    Args:
        values: (rows, features) prices, series end to end; offsets: (series + 1,).
        kind: ``level`` or ``log-return``.
        source, lines, columns, sources: to name the file (per series), line and column in
            errors.

    Returns:
        transformed (rows - series * offset, features) and its (series + 1,) offsets; row j
        of series s in it is that series' price row j + transform_offset(kind).
    """
    values = np.asarray(values, dtype=float)
    offsets = np.asarray(offsets, dtype=np.int64)
    if kind == "level":
        return values.copy(), offsets.copy()
    if sources is not None:
        bad = ~(values > 0)
        if bad.any():  # name the file the offending row came from
            row = int(np.argwhere(bad)[0][0])
            source = sources[int(np.searchsorted(offsets, row, side="right") - 1)]
    out = apply_transform(values, kind, source=source, lines=lines, columns=columns)
    # out[i] is the step from row i to i + 1; a step into the first row of a series is none.
    keep = np.ones(len(out), bool)
    keep[offsets[1:-1] - 1] = False
    new_offsets = offsets - np.arange(len(offsets))
    return np.ascontiguousarray(out[keep]), new_offsets


def outputs_to_prices(outputs: np.ndarray, series: np.ndarray, scaler: SeriesScaler, kind: str,
                      anchor: np.ndarray) -> np.ndarray:
    """Model outputs to prices: undo each sample's series scaling (target column), then the
    transform.

    Args:
        outputs: (samples, steps) scaled, transformed target forecasts.
        series: (samples,) the series of each sample.
        anchor: (samples,) the last known price before each sample's first step.
    Returns:
        (samples, steps) prices.
    """
    return to_prices(scaler.inverse_target(outputs, series), anchor, kind)


def derived_inputs(panel, derived: Sequence[str]) -> np.ndarray:
    """The derived inputs of every row of a panel, from its raw columns, series by series.

    ``abs-return``: |log(p[r] / p[r - 1])| of the target (0 on each series' first row,
    which has no step before it). ``log-range``: log(High[r] / Low[r]). Both are known at
    the close of row r, so a window ending at r may read them.

    Args:
        panel: a ``data.Panel`` holding the columns each input needs (DERIVED_SOURCES).
        derived: names from DERIVED, in model order.

    Returns:
        (rows, len(derived)) float64, row-aligned with ``panel.values``.
    Raises:
        DataError: a non-positive value (named by file, line and column) or a missing column.
    """
    out = np.empty((len(panel.values), len(derived)))
    for j, name in enumerate(derived):
        if name not in DERIVED:
            raise UsageError(f"--derived-inputs must list some of {', '.join(DERIVED)}; "
                             f"got '{name}'")
        sources = [0] if name == "abs-return" else [_column(panel, c, name)
                                                   for c in DERIVED_SOURCES[name]]
        raw = panel.values[:, sources]
        bad = ~(raw > 0)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            s = int(np.searchsorted(panel.offsets, row, side="right") - 1)
            place = where(panel.sources[s], int(panel.lines[row]), panel.columns[sources[col]])
            raise DataError(f"{place}: value {raw[row, col]:g} is not positive, so the {name} "
                            "input (a logarithm) cannot use it; fix it or pass "
                            "--derived-inputs none")
        logs = np.log(raw)
        if name == "abs-return":
            step = np.abs(np.diff(logs[:, 0], prepend=logs[:1, 0]))
            step[panel.offsets[:-1][panel.lengths > 0]] = 0.0
            out[:, j] = step
        else:
            out[:, j] = logs[:, 0] - logs[:, 1]
    return out


def _column(panel, name: str, derived: str) -> int:
    index = panel.column(name)
    if index is None:
        raise DataError(f"{panel.source} has no column '{name}', which the {derived} input "
                        f"reads; columns are: {', '.join(panel.columns)}; pass "
                        "--derived-inputs abs-return to do without it")
    return index


def model_inputs(panel, kind: str, derived: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """What the network reads, before scaling: the target transform of the target and
    features, then the derived inputs, each row of each series. The one place they are
    computed, for training and prediction alike.

    Args:
        panel: a ``data.Panel``. kind: the target transform. derived: names from DERIVED.

    Returns:
        inputs (rows - series * offset, inputs) and its (series + 1,) offsets, as
        ``transform_panel`` (row j of series s is its price row j + transform_offset(kind)).
    """
    n = len(panel.input_columns)
    transformed, offsets = transform_panel(panel.values[:, :n], panel.offsets, kind,
                                           source=panel.source, lines=panel.lines,
                                           columns=panel.columns, sources=panel.sources)
    if not len(derived):
        return transformed, offsets
    extra = derived_inputs(panel, derived)
    if transform_offset(kind):
        keep = np.ones(len(extra), bool)
        keep[panel.offsets[:-1][panel.lengths > 0]] = False   # each series' first row
        extra = extra[keep]
    return np.ascontiguousarray(np.column_stack([transformed, extra])), offsets
