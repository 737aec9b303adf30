"""The target transform (price level or log-return) and a JSON-safe MinMax scaler.

Pure NumPy. The scaler follows scikit-learn's contract (``fit`` / ``transform`` /
``inverse_transform``, learned attributes end in ``_``) and gives the same numbers as
``sklearn.preprocessing.MinMaxScaler``; it exists so that a model directory stores plain
numbers and a prediction can invert the target column alone, without padding.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from forecast.errors import DataError, ModelDirError, where


class MinMaxScaler:
    """Scale each column to [0, 1] from the rows it was fit on.

    Attributes (after ``fit``):
        data_min_, data_max_: (features,) per-column minimum and maximum of the fit rows.
        scale_, min_: (features,) so that ``scaled = X * scale_ + min_``.
    """

    def __init__(self) -> None:
        self.data_min_: np.ndarray | None = None
        self.data_max_: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> "MinMaxScaler":
        """Learn per-column min and max of X (rows, features); X is not modified."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"fit needs a non-empty 2-D array, got shape {X.shape}")
        self.data_min_ = X.min(axis=0)
        self.data_max_ = X.max(axis=0)
        return self

    @property
    def scale_(self) -> np.ndarray:
        data_min, data_max = self._fitted()
        with np.errstate(over="ignore"):  # an overflowing span is refused by the caller
            span = data_max - data_min
        # A constant column maps to 0, as scikit-learn's handle_zeros_in_scale does.
        return 1.0 / np.where(span == 0.0, 1.0, span)

    @property
    def min_(self) -> np.ndarray:
        return -self._fitted()[0] * self.scale_

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(rows, features) -> (rows, features) in [0, 1] on the fit rows."""
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are checked
            return np.asarray(X, dtype=float) * self.scale_ + self.min_

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """Exact inverse of ``transform`` for (rows, features)."""
        return (np.asarray(X, dtype=float) - self.min_) / self.scale_

    def inverse_column(self, values: np.ndarray, column: int = 0) -> np.ndarray:
        """Invert one column's scaling on an array of any shape (e.g. the target's forecasts)."""
        return (np.asarray(values, dtype=float) - self.min_[column]) / self.scale_[column]

    def to_dict(self) -> dict[str, Any]:
        data_min, data_max = self._fitted()
        return {"kind": "minmax", "feature_range": [0.0, 1.0],
                "data_min": [float(v) for v in data_min], "data_max": [float(v) for v in data_max]}

    @classmethod
    def from_dict(cls, raw: Any, source: str = "scaler.json") -> "MinMaxScaler":
        try:
            if raw.get("kind") != "minmax":
                raise ValueError("kind is not 'minmax'")
            data_min = np.asarray(raw["data_min"], dtype=float)
            data_max = np.asarray(raw["data_max"], dtype=float)
            if data_min.ndim != 1 or data_min.shape != data_max.shape or not data_min.size:
                raise ValueError("data_min and data_max must be equal-length lists")
            if not (np.all(np.isfinite(data_min)) and np.all(np.isfinite(data_max))):
                raise ValueError("non-finite numbers")
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"{source} is damaged ({exc}); retrain the model") from None
        scaler = cls()
        scaler.data_min_, scaler.data_max_ = data_min, data_max
        return scaler

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.data_min_ is None or self.data_max_ is None:
            raise RuntimeError("MinMaxScaler is not fitted; call fit first")
        return self.data_min_, self.data_max_


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
        forecasts: (samples, steps) consecutive transformed-target forecasts.
        anchor: (samples,) the last known price before the first forecast step.
        kind: the transform.

    Returns:
        (samples, steps) prices. For log-return, step k is anchor * exp(sum of steps 0..k).
    """
    forecasts = np.asarray(forecasts, dtype=float)
    if kind == "level":
        return forecasts.copy()
    return np.asarray(anchor, dtype=float)[:, None] * np.exp(np.cumsum(forecasts, axis=1))


def forecasts_to_prices(scaled: np.ndarray, scaler: MinMaxScaler, kind: str,
                        anchor: np.ndarray) -> np.ndarray:
    """Model output to prices: undo the target column's scaling, then the transform.

    Args:
        scaled: (samples, steps) model outputs (scaled, transformed target).
        scaler: the fitted scaler (the target is column 0).
        kind: the target transform.
        anchor: (samples,) the last known price before each sample's first step.
    Returns:
        (samples, steps) prices.
    """
    return to_prices(scaler.inverse_column(scaled, 0), anchor, kind)
