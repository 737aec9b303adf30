"""Conformal prediction intervals, calibrated on validation rows only. Pure NumPy.

Around a point forecast (``Calibration``): each calibration forecast gives a
nonconformity score, the absolute error in log-price (or in price, for series that are not
strictly positive) divided by the recent volatility at the forecast's origin, so a calm
period and a stormy one get bands of their own width. The band for level ``a`` is the
ceil((n + 1) a)-th smallest score times the current volatility.

Around quantile forecasts (``QuantileCalibration``): conformalised quantile regression
(Romano, Patterson & Candes 2019) widens or narrows the network's own lower and upper
quantiles by one constant, so the band keeps the shape the network gave it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from forecast.config import VOLATILITY_WINDOW
from forecast.errors import ModelDirError


def error_space(prices: np.ndarray) -> str:
    """``log`` for strictly positive series (errors relative to the price), else ``abs``."""
    return "log" if np.all(np.asarray(prices) > 0) else "abs"


def volatility(prices: np.ndarray, space: str, window: int = VOLATILITY_WINDOW) -> np.ndarray:
    """Standard deviation of the last ``window`` steps ending at each row.

    Args:
        prices: (n,) the series.
    Returns:
        (n,) where entry r uses steps up to and including row r (so it is known at r).
    """
    prices = np.asarray(prices, dtype=float)
    steps = np.diff(np.log(prices)) if space == "log" else np.diff(prices)
    n = len(prices)
    out = np.full(n, np.nan)
    if len(steps) >= 2:
        csum = np.concatenate([[0.0], np.cumsum(steps)])
        csq = np.concatenate([[0.0], np.cumsum(steps ** 2)])
        ends = np.arange(1, len(steps) + 1)            # steps[0:end] seen at row `end`
        starts = np.maximum(ends - window, 0)
        count = ends - starts
        mean = (csum[ends] - csum[starts]) / count
        var = (csq[ends] - csq[starts]) / count - mean ** 2
        with np.errstate(invalid="ignore"):
            sd = np.sqrt(np.maximum(var, 0) * count / np.maximum(count - 1, 1))
        out[1:] = np.where(count >= 2, sd, np.nan)
    # Rows without two steps of history, or with a flat stretch, take the last usable value
    # before them (the first one for the very first rows), so that no band collapses to
    # nothing and no row borrows from far in its future.
    valid = np.isfinite(out) & (out > 0)
    if not valid.any():
        return np.ones(n)
    last_valid = np.maximum.accumulate(np.where(valid, np.arange(n), -1))
    return out[np.where(last_valid >= 0, last_valid, np.argmax(valid))]


def scores(actual: np.ndarray, predicted: np.ndarray, scale: np.ndarray, space: str) -> np.ndarray:
    """Nonconformity scores (rows,): |error| in ``space`` divided by ``scale``."""
    if space == "log":
        error = np.log(np.asarray(actual) / np.asarray(predicted))
    else:
        error = np.asarray(actual) - np.asarray(predicted)
    return np.abs(error) / np.asarray(scale)


def conformal_quantile(sorted_scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ceil((n + 1) * level)-th smallest score
    (infinite when there are too few scores for that level)."""
    n = len(sorted_scores)
    rank = math.ceil((n + 1) * level - 1e-9)  # level n / (n + 1) is rank n, not n + 1
    return float(sorted_scores[rank - 1]) if 1 <= rank <= n else float("inf")


def band(predicted: np.ndarray, scale: np.ndarray, q: float, space: str
         ) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) around ``predicted`` for a score quantile ``q`` and scale per row."""
    half = q * np.asarray(scale)
    predicted = np.asarray(predicted, dtype=float)
    if space == "log":
        return predicted * np.exp(-half), predicted * np.exp(half)
    return predicted - half, predicted + half


class Calibration:
    """Sorted validation scores for each forecast step 1..horizon.

    Attributes:
        space: ``log`` or ``abs``. step_scores: list over steps of sorted (n_k,) arrays.
    """

    def __init__(self, space: str, step_scores: list[np.ndarray],
                 window: int = VOLATILITY_WINDOW):
        self.space = space
        self.step_scores = [np.sort(np.asarray(s, dtype=float)) for s in step_scores]
        self.window = window

    def quantile(self, level: float, step: int = 1) -> float:
        """Score quantile for a forecast ``step`` ahead (1-based). Beyond the calibrated
        steps the last one is widened by sqrt(step / last), as for a random walk."""
        last = len(self.step_scores)
        q = conformal_quantile(self.step_scores[min(step, last) - 1], level)
        return q * math.sqrt(step / last) if step > last else q

    def widest_level(self, step: int = 1) -> float:
        """The highest level with a finite band ``step`` ahead: n / (n + 1) for n scores."""
        n = len(self.step_scores[min(step, len(self.step_scores)) - 1])
        return n / (n + 1)

    def scores_count(self, step: int = 1) -> int:
        return len(self.step_scores[min(step, len(self.step_scores)) - 1])

    def to_dict(self) -> dict[str, Any]:
        return {"method": "split-conformal, validation rows, scaled by recent volatility",
                "space": self.space, "volatility_window": self.window,
                "step_scores": [[float(v) for v in s] for s in self.step_scores]}

    @classmethod
    def from_dict(cls, raw: Any, source: str = "calibration.json") -> "Calibration":
        try:
            space = raw["space"]
            if space not in ("log", "abs"):
                raise ValueError(f"unknown space {space!r}")
            steps = [np.asarray(s, dtype=float) for s in raw["step_scores"]]
            if not steps or any(s.ndim != 1 or not np.all(np.isfinite(s)) for s in steps):
                raise ValueError("step_scores must be lists of finite numbers")
            return cls(space, steps, int(raw.get("volatility_window", VOLATILITY_WINDOW)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"{source} is damaged ({exc}); retrain the model") from None


def cqr_scores(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray,
               space: str = "abs") -> np.ndarray:
    """Conformity scores of quantile intervals (Romano et al. 2019): E = max(lo - y, y - hi).

    Positive by how far the actual fell outside the band, negative by how far inside it
    stayed from the nearer end; in log-price for ``space == "log"`` (relative to the price).

    Args:
        actual, lower, upper: (rows,) in price units.
    Returns:
        (rows,) scores.
    """
    actual = np.asarray(actual, dtype=float)
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if space == "log":
        return np.maximum(np.log(lower / actual), np.log(actual / upper))
    return np.maximum(lower - actual, actual - upper)


class QuantileCalibration:
    """Conformalised quantile regression (CQR) of one pair of quantile levels, per step.

    From validation rows' lower and upper quantile forecasts and actuals, the correction Q
    is the ceil((n + 1)(1 - alpha))-th smallest score ``cqr_scores`` (1 - alpha =
    ``upper_level - lower_level``), and the calibrated band is [lo - Q, hi + Q] (in
    log-price: [lo * exp(-Q), hi * exp(Q)]). Q < 0 narrows a band that was too wide.

    Attributes:
        lower_level, upper_level: the quantile levels calibrated, e.g. 0.1 and 0.9.
        space: ``log`` or ``abs``. step_scores: list over steps of sorted (n_k,) arrays.
    """

    def __init__(self, lower_level: float, upper_level: float, space: str,
                 step_scores: list[np.ndarray]):
        if not 0.0 < lower_level < upper_level < 1.0:
            raise ValueError(f"levels must satisfy 0 < lower < upper < 1, got "
                             f"{lower_level}, {upper_level}")
        self.lower_level, self.upper_level = float(lower_level), float(upper_level)
        self.space = space
        self.step_scores = [np.sort(np.asarray(s, dtype=float)) for s in step_scores]

    @classmethod
    def fit(cls, actual: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            lower_level: float, upper_level: float, space: str = "abs") -> "QuantileCalibration":
        """Calibrate on validation rows.

        Args:
            actual, lower, upper: (rows,) for one step, or (rows, steps) for steps
                1..steps, in price units; a NaN actual (no target row) is left out.
            lower_level, upper_level: the levels ``lower`` and ``upper`` forecast.
            space: ``intervals.error_space`` of the series.
        """
        actual, lower, upper = (np.asarray(a, dtype=float).reshape(len(a), -1)
                                for a in (actual, lower, upper))
        step_scores = []
        for k in range(actual.shape[1]):
            seen = np.isfinite(actual[:, k])
            step_scores.append(cqr_scores(actual[seen, k], lower[seen, k], upper[seen, k],
                                          space))
        return cls(lower_level, upper_level, space, step_scores)

    @property
    def level(self) -> float:
        """The nominal coverage of the calibrated band: upper_level - lower_level."""
        return self.upper_level - self.lower_level

    def correction(self, step: int = 1) -> float:
        """Q for forecasts ``step`` ahead (1-based): infinite with too few scores."""
        if not 1 <= step <= len(self.step_scores):
            raise ValueError(f"step {step} is outside the calibrated steps "
                             f"1..{len(self.step_scores)}")
        return conformal_quantile(self.step_scores[step - 1], self.level)

    def band(self, lower: np.ndarray, upper: np.ndarray, step: int = 1
             ) -> tuple[np.ndarray, np.ndarray]:
        """The calibrated band (lower, upper), each (rows,), from quantile forecasts (rows,)
        ``step`` ahead. Where a negative Q would cross the ends, both become their
        midpoint."""
        q = self.correction(step)
        lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        if self.space == "log":
            lo, hi = lower * np.exp(-q), upper * np.exp(q)
            middle = np.sqrt(lower * upper)
        else:
            lo, hi = lower - q, upper + q
            middle = (lower + upper) / 2
        crossed = lo > hi
        return np.where(crossed, middle, lo), np.where(crossed, middle, hi)

    def to_dict(self) -> dict[str, Any]:
        return {"method": "conformalised quantile regression, validation rows",
                "lower_level": self.lower_level, "upper_level": self.upper_level,
                "space": self.space,
                "step_scores": [[float(v) for v in s] for s in self.step_scores]}

    @classmethod
    def from_dict(cls, raw: Any, source: str = "calibration.json") -> "QuantileCalibration":
        try:
            space = raw["space"]
            if space not in ("log", "abs"):
                raise ValueError(f"unknown space {space!r}")
            steps = [np.asarray(s, dtype=float) for s in raw["step_scores"]]
            if not steps or any(s.ndim != 1 or not np.all(np.isfinite(s)) for s in steps):
                raise ValueError("step_scores must be lists of finite numbers")
            return cls(float(raw["lower_level"]), float(raw["upper_level"]), space, steps)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"{source} is damaged ({exc}); retrain the model") from None


def interval_levels(levels: list[float], coverage: float, tol: float = 1e-9
                    ) -> tuple[int, int] | None:
    """Indices (lower, upper) of the quantile levels that bound a central ``coverage``
    interval, (1 - coverage) / 2 and (1 + coverage) / 2; None when they were not trained
    (then ``predict --interval`` falls back to the rolling-volatility conformal band)."""
    lower, upper = (1 - coverage) / 2, (1 + coverage) / 2
    found = [next((i for i, q in enumerate(levels) if abs(q - target) <= tol), None)
             for target in (lower, upper)]
    return None if None in found else (found[0], found[1])
