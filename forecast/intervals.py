"""Conformal prediction intervals, calibrated on validation rows only. Pure NumPy.

Around a point forecast (``Calibration``): each calibration forecast gives a
nonconformity score, the absolute error in log-price (or in price, for series that are not
strictly positive) divided by the recent volatility at the forecast's origin, so a calm
period and a stormy one get bands of their own width. The band for level ``a`` is the
ceil((n + 1) a)-th smallest score times the current volatility.

Around quantile forecasts (``QuantileCalibration``): conformalised quantile regression
(Romano, Patterson & Candes 2019) widens or narrows the network's own lower and upper
quantiles by one constant, so the band keeps the shape the network gave it.

Over a panel's origin forecasts (``windows.OriginForecasts``): ``calibrate`` and ``fit_cqr``
pool the scores of every series' validation rows; ``choose_bands`` lets the interval guard
(``interval_guard``: a one-sided Diebold-Mariano test on interval scores) pick, for each
trained central interval, the network's CQR band or the rolling-volatility conformal one.
"""

from __future__ import annotations

import math
from typing import IO, Any

import numpy as np

from forecast import metrics
from forecast.config import GUARD_Z, VOLATILITY_WINDOW, median_index
from forecast.data import Panel, unique_sorted
from forecast.errors import ModelDirError, UsageError
from forecast.windows import OriginForecasts


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


def scores_needed(level: float) -> int:
    """The fewest scores with a finite split-conformal quantile at ``level``: the smallest n
    with ceil((n + 1) level) <= n, that is n >= level / (1 - level) (4 for 80%, 49 for the
    98% band of the 0.01 and 0.99 quantiles, 199 for 99.5%)."""
    return max(math.ceil(level / (1.0 - level) - 1e-9), 1)


def check_calibratable(levels: list[float], scores: int) -> None:
    """Refuse (UsageError, before training) quantile levels whose central interval the
    validation rows cannot calibrate: each trained pair (q, 1 - q) is a band of level
    1 - 2q, which CQR calibrates only from ``scores_needed`` scores; ``scores`` is the
    number each step gets, the validation rows pooled over series. Without the check its
    band would be silently infinite."""
    for coverage, lower, upper in central_pairs(levels):
        need = scores_needed(coverage)
        if scores < need:
            raise UsageError(
                f"--quantiles {levels[lower]:g} and {levels[upper]:g} make a {coverage:.4g} "
                f"band that needs at least {need} validation rows to calibrate (conformal: "
                f"n >= {coverage:.4g}/{1 - coverage:.4g}); the validation rows give {scores}; "
                "drop those levels or pass a larger --val-fraction or an earlier --val-start")


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
        """The number of validation scores the band of ``step`` (1-based) is ranked among."""
        return len(self.step_scores[min(step, len(self.step_scores)) - 1])

    def to_dict(self) -> dict[str, Any]:
        """The calibration as calibration.json stores it."""
        return {"method": "split-conformal, validation rows, scaled by recent volatility",
                "space": self.space, "volatility_window": self.window,
                "step_scores": [[float(v) for v in s] for s in self.step_scores]}

    @classmethod
    def from_dict(cls, raw: Any, source: str = "calibration.json") -> "Calibration":
        """Rebuild from calibration.json; a bad one is a ModelDirError naming ``source``."""
        try:
            space, steps = _space_and_scores(raw)
            return cls(space, steps, int(raw.get("volatility_window", VOLATILITY_WINDOW)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"{source} is damaged ({exc}); retrain the model") from None


def _space_and_scores(raw: Any) -> tuple[str, list[np.ndarray]]:
    """A stored calibration's space and per-step scores; ValueError where they are damaged."""
    space = raw["space"]
    if space not in ("log", "abs"):
        raise ValueError(f"unknown space {space!r}")
    steps = [np.asarray(s, dtype=float) for s in raw["step_scores"]]
    if not steps or any(s.ndim != 1 or not np.all(np.isfinite(s)) for s in steps):
        raise ValueError("step_scores must be lists of finite numbers")
    return space, steps


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
        """The CQR calibration as intervals.json stores it."""
        return {"method": "conformalised quantile regression, validation rows",
                "lower_level": self.lower_level, "upper_level": self.upper_level,
                "space": self.space,
                "step_scores": [[float(v) for v in s] for s in self.step_scores]}

    @classmethod
    def from_dict(cls, raw: Any, source: str = "calibration.json") -> "QuantileCalibration":
        """Rebuild from intervals.json's entry; a bad one is a ModelDirError naming ``source``."""
        try:
            space, steps = _space_and_scores(raw)
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


class QuantileIntervals:
    """What a quantile model's intervals need at prediction time (``intervals.json``).

    For every central interval whose two levels were trained (0.1 and 0.9: 80%), its CQR
    calibration on validation rows and the interval guard's verdict: ``band`` is
    ``quantiles`` when the guard kept the network's calibrated band, ``conformal`` when it
    fell back to the rolling-volatility conformal band (``Calibration``).

    Attributes:
        levels: the trained quantile levels (empty for a point model).
        space: ``log`` or ``abs``.
        pairs: one dict per central interval: ``level``, ``lower``, ``upper`` (indices into
            ``levels``), ``calibration`` (QuantileCalibration), ``guard`` (its result) and
            ``band``.
    """

    def __init__(self, levels: list[float], space: str, pairs: list[dict[str, Any]]):
        self.levels, self.space, self.pairs = [float(q) for q in levels], space, pairs

    @classmethod
    def point(cls) -> "QuantileIntervals":
        """A point model's: no quantile levels, every interval conformal."""
        return cls([], "log", [])

    def pair(self, level: float) -> dict[str, Any] | None:
        """The calibrated pair of quantile levels for interval ``level`` (None: not trained)."""
        found = interval_levels(self.levels, level)
        return next((p for p in self.pairs if found == (p["lower"], p["upper"])), None)

    def uses_quantiles(self, level: float, step: int = 1) -> bool:
        """Whether ``predict --interval level`` gives the network's CQR band at ``step``."""
        pair = self.pair(level)
        return (pair is not None and pair["band"] == "quantiles"
                and step <= len(pair["calibration"].step_scores))

    def calibrated(self, quantiles: np.ndarray, step: int = 1) -> np.ndarray:
        """Published quantiles: each calibrated pair's two levels CQR-adjusted; a level that
        a narrowing correction moved past its inner neighbour is held at it, so the median
        (the point forecast) stays as it is and no two levels cross.

        Args:
            quantiles: (rows, levels) the network's quantile forecasts ``step`` ahead, in
                price units.
        Returns:
            (rows, levels), non-decreasing along the levels.
        """
        quantiles = np.asarray(quantiles, dtype=float)
        out = quantiles.copy()
        for pair in self.pairs:
            cal = pair["calibration"]
            if step <= len(cal.step_scores):
                lo, hi = pair["lower"], pair["upper"]
                out[:, lo], out[:, hi] = cal.band(quantiles[:, lo], quantiles[:, hi], step)
        base = median_index(self.levels)
        out[:, base:] = np.maximum.accumulate(out[:, base:], axis=-1)
        out[:, :base + 1] = np.minimum.accumulate(out[:, base::-1], axis=-1)[:, ::-1]
        return out

    def to_dict(self) -> dict[str, Any]:
        """The calibrations and guard verdicts as intervals.json stores them."""
        return {"method": "conformalised quantile regression on validation rows, pooled over "
                          "series; the interval guard picks the band per level",
                "levels": self.levels, "space": self.space,
                "pairs": [{"level": p["level"], "lower": p["lower"], "upper": p["upper"],
                           "band": p["band"], "guard": p["guard"],
                           "calibration": p["calibration"].to_dict()} for p in self.pairs]}

    @classmethod
    def from_dict(cls, raw: Any, source: str = "intervals.json") -> "QuantileIntervals":
        """Rebuild from intervals.json; a bad one is a ModelDirError naming ``source``."""
        try:
            levels = [float(q) for q in raw["levels"]]
            space = raw["space"]
            if space not in ("log", "abs"):
                raise ValueError(f"unknown space {space!r}")
            pairs = []
            for p in raw["pairs"]:
                pair = {"level": float(p["level"]), "lower": int(p["lower"]),
                        "upper": int(p["upper"]), "band": p["band"], "guard": p["guard"],
                        "calibration": QuantileCalibration.from_dict(p["calibration"], source)}
                if pair["band"] not in ("quantiles", "conformal"):
                    raise ValueError(f"unknown band {pair['band']!r}")
                if not 0 <= pair["lower"] < pair["upper"] < len(levels):
                    raise ValueError("pair levels out of range")
                pairs.append(pair)
            return cls(levels, space, pairs)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelDirError(f"{source} is damaged ({exc}); retrain the model") from None


def widen(quantiles: np.ndarray, base: int, centre: np.ndarray, factor: float, space: str
          ) -> np.ndarray:
    """Quantiles beyond the trained horizon: the spread of the last direct step's quantiles
    (rows, levels) around their level ``base``, scaled by sqrt(``factor``) (steps / horizon,
    as a random walk's spread grows), around ``centre`` (rows,), the recursive point
    forecast; in log-price for ``space == "log"``. Order-preserving: no two levels cross."""
    q = np.asarray(quantiles, dtype=float)
    middle, centre = q[:, base:base + 1], np.asarray(centre, dtype=float)[:, None]
    grow = math.sqrt(factor)
    if space == "log":
        return centre * (q / middle) ** grow
    return centre + (q - middle) * grow


def step_intervals(quantile: QuantileIntervals, actual: np.ndarray, raw: np.ndarray,
                   step: int, what: str) -> QuantileIntervals:
    """Every central pair of ``quantile`` calibrated by CQR on the validation forecasts of
    one ``step`` beyond the horizon: ``raw`` (rows, levels) their uncalibrated quantiles,
    ``actual`` (rows,) the prices they forecast. The result's step 1 is that step.
    UsageError (naming ``what`` the rows came from) where a pair has too few of them."""
    pairs = []
    for p in quantile.pairs:
        need = scores_needed(p["level"])
        if len(actual) < need:
            raise UsageError(
                f"--quantiles {step} steps ahead (beyond the model's horizon) calibrate on the "
                f"validation rows of {what}: they give {len(actual)} forecasts, the "
                f"{p['level']:g} band needs {need}; pass the model's training data, or "
                f"retrain with `forecast train --horizon {step}`")
        cal = QuantileCalibration.fit(actual, raw[:, p["lower"]], raw[:, p["upper"]],
                                      quantile.levels[p["lower"]], quantile.levels[p["upper"]],
                                      quantile.space)
        pairs.append({**p, "calibration": cal})
    return QuantileIntervals(quantile.levels, quantile.space, pairs)


def prediction_band(level: float, step: int, point: np.ndarray, scale: np.ndarray,
                    calibration: Calibration, quantile: QuantileIntervals | None = None,
                    quantiles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The band ``predict --interval level`` gives forecasts ``step`` ahead: the network's
    CQR-calibrated quantiles where the interval guard kept them, else the rolling-volatility
    conformal band around the point forecast.

    Args:
        point: (rows,) point forecasts; scale: (rows,) the volatility at each origin.
        quantiles: (rows, levels) the network's quantile forecasts (quantile models).
    Returns:
        (lower, upper), each (rows,), in price units.
    """
    if quantile is not None and quantiles is not None and quantile.uses_quantiles(level, step):
        pair = quantile.pair(level)
        return pair["calibration"].band(quantiles[:, pair["lower"]], quantiles[:, pair["upper"]],
                                        step)
    return band(point, np.asarray(scale) * calibration.quantile(level, step), 1.0,
                calibration.space)


def calibrate(panel: Panel, forecasts: OriginForecasts, lo: np.ndarray, hi: np.ndarray,
              space: str, vols: list[np.ndarray]) -> Calibration:
    """Conformal scores for each step, pooled over series, from the forecasts whose target
    row lies in ``[lo[s], hi[s])`` of its series (the validation rows); each score is scaled
    by its own series' volatility ``vols[s]`` (rows of s,) at the origin."""
    steps = forecasts.prices.shape[1]
    step_scores: list[list[np.ndarray]] = [[] for _ in range(steps)]
    for s in range(panel.n_series):
        prices = panel.target_of(s)
        rows, predicted = forecasts.of(s)
        for k in range(steps):
            target = rows + k
            use = (target >= lo[s]) & (target < hi[s])
            step_scores[k].append(scores(prices[target[use]], predicted[use, k],
                                                   vols[s][rows[use] - 1], space))
    return Calibration(space, [np.concatenate(parts) for parts in step_scores])


def fit_cqr(panel: Panel, forecasts: OriginForecasts, lo: np.ndarray, hi: np.ndarray,
            space: str, levels: list[float], lower: int, upper: int
            ) -> QuantileCalibration:
    """CQR of the quantile levels ``lower`` and ``upper`` (indices into ``levels``) for each
    step, pooled over series, from the forecasts whose target row lies in
    ``[lo[s], hi[s])`` of its series; scores in ``space`` (log-price: relative to the
    price, so series of any price level pool)."""
    steps = forecasts.prices.shape[1]
    step_scores: list[list[np.ndarray]] = [[] for _ in range(steps)]
    for s in range(panel.n_series):
        prices = panel.target_of(s)
        rows, quantiles = forecasts.of(s)[0], forecasts.quantiles_of(s)
        for k in range(steps):
            target = rows + k
            use = (target >= lo[s]) & (target < hi[s])
            step_scores[k].append(cqr_scores(
                prices[target[use]], quantiles[use, k, lower], quantiles[use, k, upper], space))
    return QuantileCalibration(levels[lower], levels[upper], space,
                                         [np.concatenate(parts) for parts in step_scores])


def central_pairs(levels: list[float]) -> list[tuple[float, int, int]]:
    """(coverage, lower index, upper index) of every central interval whose two ends were
    both trained: 0.1 and 0.9 give (0.8, 0, 2)."""
    out = []
    for i, q in enumerate(levels):
        if q < 0.5:
            coverage = round(1.0 - 2.0 * q, 10)
            found = interval_levels(levels, coverage)
            if found is not None:
                out.append((coverage, *found))
    return out


def validation_halves(panel: Panel, train_end: np.ndarray, val_end: np.ndarray, horizon: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Split the validation rows by date, as the point guard splits its windows: the first
    half ``[train_end[s], half_end[s])`` calibrates, the second ``[held_start[s],
    val_end[s])`` judges, ``horizon - 1`` dates left out between them."""
    stamps = panel.dates.asi8
    own = [stamps[panel.rows(s)] for s in range(panel.n_series)]
    unique = unique_sorted(np.concatenate([d[train_end[s]:val_end[s]]
                                           for s, d in enumerate(own)]))
    cut, gap = len(unique) // 2, len(unique) // 2 + horizon - 1
    cut_date = unique[cut] if cut < len(unique) else np.iinfo(np.int64).max
    gap_date = unique[gap] if gap < len(unique) else np.iinfo(np.int64).max
    half_end = np.array([np.searchsorted(d, cut_date) for d in own])
    held_start = np.array([np.searchsorted(d, gap_date) for d in own])
    return (np.clip(half_end, train_end, val_end), np.clip(held_start, train_end, val_end))


def judge_intervals(panel: Panel, forecasts: OriginForecasts, lo: np.ndarray, hi: np.ndarray,
                    level: float, cqr: QuantileCalibration,
                    conformal: Calibration, lower: int, upper: int,
                    vols: list[np.ndarray], scales: np.ndarray) -> dict[str, Any]:
    """The interval guard on one-step forecasts of rows ``[lo[s], hi[s])`` (held out from
    both calibrations): the network's CQR band against the rolling-volatility conformal
    band around the same point forecast. Scores are in log-price (``abs`` space: in units
    of each series' naive MAE) so that series pool, and a panel's rows are averaged per
    date."""
    actual, network, baseline, dates = [], [], [], []
    for s in range(panel.n_series):
        prices = panel.target_of(s)
        rows, point = forecasts.of(s)
        quantiles = forecasts.quantiles_of(s)
        use = (rows >= max(int(lo[s]), 1)) & (rows < hi[s])
        r = rows[use]
        net = cqr.band(quantiles[use, 0, lower], quantiles[use, 0, upper], 1)
        base = band(point[use, 0], vols[s][r - 1] * conformal.quantile(level, 1), 1.0,
                              conformal.space)
        unit = np.log if cqr.space == "log" else (lambda v, k=float(scales[s]): v / k)
        actual.append(unit(prices[r]))
        with np.errstate(divide="ignore"):   # a band down to 0 is -inf in log price: an
            network.append([unit(b) for b in net])        # infinite score, and it loses
            baseline.append([unit(b) for b in base])
        dates.append(panel.dates.asi8[panel.offsets[s] + r])
    both = lambda parts, i: np.concatenate([p[i] for p in parts])  # noqa: E731
    with np.errstate(invalid="ignore", over="ignore"):
        return interval_guard(
            np.concatenate(actual), (both(network, 0), both(network, 1)),
            (both(baseline, 0), both(baseline, 1)), level, dates=np.concatenate(dates))


def choose_bands(panel: Panel, forecasts: OriginForecasts, train_end: np.ndarray,
                 val_end: np.ndarray, space: str, vols: list[np.ndarray], scales: np.ndarray,
                 levels: list[float], stream: IO[str]) -> QuantileIntervals:
    """For each trained central interval: calibrate the network's quantiles by CQR and the
    conformal band on the first half of the validation dates, let the interval guard judge
    them on the second half, then calibrate the chosen band on every validation row. Says
    on ``stream`` which band ``predict --interval`` will use, and why."""
    if not levels:
        return QuantileIntervals.point()
    horizon = forecasts.prices.shape[1]
    half_end, held_start = validation_halves(panel, train_end, val_end, horizon)
    conformal = calibrate(panel, forecasts, train_end, half_end, space, vols)
    pairs = []
    for level, lower, upper in central_pairs(levels):
        cqr = fit_cqr(panel, forecasts, train_end, half_end, space, levels, lower, upper)
        result = judge_intervals(panel, forecasts, held_start, val_end, level, cqr, conformal,
                                 lower, upper, vols, scales)
        band = "quantiles" if result["kept"] == "network" else "conformal"
        verdict = "beat" if band == "quantiles" else "did not beat"
        uses = "uses it" if band == "quantiles" else \
            "uses the rolling-volatility conformal band around the median"
        stream.write(f"forecast: {level:.0%} interval: the network's quantile band (CQR) "
                     f"{verdict} the rolling-volatility conformal band on "
                     f"{result['dates']} held-out validation dates (interval score, "
                     f"Diebold-Mariano p = {result['p_value']:.2f}); predict --interval "
                     f"{level:g} {uses}\n")
        pairs.append({"level": level, "lower": lower, "upper": upper, "band": band,
                      "guard": result, "calibration": fit_cqr(
                          panel, forecasts, train_end, val_end, space, levels, lower, upper)})
    return QuantileIntervals(levels, space, pairs)


def interval_guard(actual: np.ndarray, network: tuple[np.ndarray, np.ndarray],
                   baseline: tuple[np.ndarray, np.ndarray], level: float, horizon: int = 1,
                   z: float = GUARD_Z, dates: np.ndarray | None = None) -> dict[str, Any]:
    """Keep the network's intervals only if they beat the baseline's, significantly.

    A one-sided Diebold-Mariano test on per-row interval-score differences (network minus
    baseline) over held-out rows: the network is kept when the statistic is below ``-z``
    (5% level by default), else the caller falls back to the baseline and says so. In a
    panel the series of one date move together, so with ``dates`` the differences are
    averaged date by date and the test runs on that one series of dates (as the point
    guard does).

    Args:
        actual: (rows,) the observed values of held-out rows (not used to calibrate either
            band), in units comparable across rows (log-prices for a panel).
        network, baseline: (lower, upper) each, each (rows,), in the units of ``actual``.
        level: the intervals' nominal coverage (alpha = 1 - level).
        horizon: steps ahead; overlapping multi-step errors get a Newey-West variance.
        dates: (rows,) the date of each row, to average a panel's rows per date.

    Returns:
        ``{"dm_stat", "p_value", "kept": "network" | "baseline", "rows", "dates",
        "network_score", "baseline_score"}`` (mean interval scores; a statistic that
        cannot be computed, e.g. from an infinite band, is NaN and falls back).
    """
    alpha = 1.0 - level
    ours = metrics.interval_score_rows(actual, *network, alpha)
    theirs = metrics.interval_score_rows(actual, *baseline, alpha)
    with np.errstate(invalid="ignore"):
        diff = ours - theirs
    if dates is not None and len(diff):
        _, inverse = unique_sorted(dates, return_inverse=True)
        diff = np.bincount(inverse, weights=diff) / np.bincount(inverse)
    with np.errstate(invalid="ignore", over="ignore"):
        stat = metrics.diebold_mariano(diff, horizon) if np.all(np.isfinite(diff)) \
            else float("nan")
    return {"dm_stat": stat, "p_value": metrics.normal_cdf(stat),
            "kept": "network" if stat < -z else "baseline", "rows": int(len(ours)),
            "dates": int(len(diff)),
            "network_score": float(ours.mean()) if len(ours) else float("nan"),
            "baseline_score": float(theirs.mean()) if len(theirs) else float("nan")}
