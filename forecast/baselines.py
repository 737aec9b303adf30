"""The baselines every forecast stands beside: the naive and drift point forecasts, and
the interval references every network interval stands beside.

Two interval baselines, both one step ahead and in price units, both calibrated without
test rows:

- **Rolling-volatility conformal** (``rolling_conformal_band``): split-conformal scores of a
  point forecast, scaled by the last ``VOLATILITY_WINDOW`` steps' volatility (the machinery
  of ``forecast.intervals``), calibrated on validation rows.
- **GARCH(1,1)** (``Garch``): zero mean, Student-t innovations, fit on the training steps
  only (``arch``), then filtered forward over every row with those parameters fixed, so the
  volatility of each step uses the steps before it and nothing fitted after the training
  rows.

The interval guard that judges a network's band against these is
``intervals.interval_guard``. Pure NumPy; ``arch`` is imported only when a GARCH model is
fit or run (it pulls in SciPy and statsmodels).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast import intervals, metrics
from forecast.config import GARCH_DIST, GARCH_MIN_RETURNS, VOLATILITY_WINDOW
from forecast.data.panel import Panel
from forecast.errors import ModelDirError

#: ``arch``'s optimiser is happiest with variances between 1 and 1000; the steps are
#: multiplied by GARCH_SPREAD / their training standard deviation before fitting.
GARCH_SPREAD = 10.0
GARCH_DISTS = ("t", "normal")


def naive_forecast(prices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Tomorrow equals today: the price at row r is forecast as the price at r - 1.

    Args:
        prices: (n,) the whole series. rows: (k,) rows to forecast, each >= 1.
    Returns:
        (k,) forecasts.
    """
    return np.asarray(prices, dtype=float)[np.asarray(rows) - 1]


def drift_forecast(prices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The naive forecast plus the average step of all history before the row:
    ``p[r-1] + (p[r-1] - p[0]) / (r - 1)`` (Hyndman & Athanasopoulos, section 5.2).

    Args:
        prices: (n,) the whole series. rows: (k,) rows to forecast, each >= 1.
    Returns:
        (k,) forecasts; for r == 1 there is no step yet, so it equals the naive forecast.
    """
    prices = np.asarray(prices, dtype=float)
    rows = np.asarray(rows)
    last = prices[rows - 1]
    steps = np.maximum(rows - 1, 1)
    return last + np.where(rows > 1, (last - prices[0]) / steps, 0.0)


def steps(prices: np.ndarray, space: str) -> np.ndarray:
    """The steps a price series moves by: log-returns (``log``) or differences (``abs``).

    Args:
        prices: (n,). space: ``intervals.error_space(prices)``.
    Returns:
        (n - 1,) where entry i is the step from row i to row i + 1.
    """
    prices = np.asarray(prices, dtype=float)
    return np.diff(np.log(prices)) if space == "log" else np.diff(prices)


def rolling_conformal_band(prices: np.ndarray, rows: np.ndarray, calibration_rows: np.ndarray,
                           level: float, forecast: np.ndarray | None = None,
                           calibration_forecast: np.ndarray | None = None,
                           window: int = VOLATILITY_WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Split-conformal interval scaled by rolling volatility, for rows' one-step forecasts.

    Scores are |error| / volatility at the origin (``intervals.scores``) on
    ``calibration_rows`` (validation rows); the band is the ceil((n + 1) level)-th smallest
    score times each row's origin volatility, around its forecast.

    Args:
        prices: (n,) the whole series. rows: (k,) price rows to give intervals for (>= 1).
        calibration_rows: (m,) price rows to calibrate on (>= 1), never test rows.
        level: nominal coverage, e.g. 0.8.
        forecast: (k,) point forecasts of ``rows``; default the naive forecast (last price).
        calibration_forecast: (m,) the same for ``calibration_rows``; default naive.
        window: steps of history in the volatility.

    Returns:
        (lower, upper), each (k,), in price units.
    """
    prices = np.asarray(prices, dtype=float)
    rows, calibration_rows = np.asarray(rows), np.asarray(calibration_rows)
    if forecast is None:
        forecast = naive_forecast(prices, rows)
    if calibration_forecast is None:
        calibration_forecast = naive_forecast(prices, calibration_rows)
    space = intervals.error_space(prices)
    vol = intervals.volatility(prices, space, window)
    scores = intervals.scores(prices[calibration_rows], calibration_forecast,
                              vol[calibration_rows - 1], space)
    q = intervals.conformal_quantile(np.sort(scores), level)
    return intervals.band(forecast, vol[rows - 1], q, space)


@dataclass
class Garch:
    """A fitted GARCH(1,1) with zero mean, on steps multiplied by ``scale``.

    sigma2[t] = omega + alpha * e[t-1]**2 + beta * sigma2[t-1], e[t] = scale * step[t],
    with arch's backcast (a weighted mean of the first 75 squared steps) as sigma2[0].

    Attributes:
        params: arch's names and values: ``omega``, ``alpha[1]``, ``beta[1]``, and ``nu``
            (degrees of freedom) for Student-t innovations.
        scale: the factor the steps were multiplied by before fitting.
        dist: ``t`` (Student-t, unit variance) or ``normal``.
        space: ``log`` (the steps are log-returns) or ``abs`` (differences).
    """

    params: dict[str, float]
    scale: float
    dist: str = GARCH_DIST
    space: str = "log"

    @classmethod
    def fit(cls, prices_train: np.ndarray, dist: str = GARCH_DIST,
            space: str | None = None) -> "Garch":
        """Fit on the training prices only, by arch's maximum likelihood.

        Args:
            prices_train: (n_train,) the training rows of one series.
            dist: ``t`` or ``normal``. space: default ``intervals.error_space``.
        Raises:
            ValueError: fewer than ``GARCH_MIN_RETURNS`` steps, a flat series, or a fit
                that gives non-finite parameters.
        """
        space = space or intervals.error_space(prices_train)
        return cls.fit_steps(steps(prices_train, space), dist, space)

    @classmethod
    def fit_steps(cls, steps_train: np.ndarray, dist: str = GARCH_DIST,
                  space: str = "log") -> "Garch":
        """Fit on training steps (n_train,) directly (see ``fit``)."""
        if dist not in GARCH_DISTS:
            raise ValueError(f"dist must be one of {', '.join(GARCH_DISTS)}; got {dist!r}")
        steps_train = np.asarray(steps_train, dtype=float)
        if len(steps_train) < GARCH_MIN_RETURNS:
            raise ValueError(f"GARCH(1,1) needs at least {GARCH_MIN_RETURNS} training steps, "
                             f"got {len(steps_train)}")
        sd = float(np.std(steps_train))
        if not (np.all(np.isfinite(steps_train)) and sd > 0):
            raise ValueError("GARCH(1,1) needs finite training steps that vary")
        scale = GARCH_SPREAD / sd
        with warnings.catch_warnings():  # convergence chatter; the parameters are checked
            warnings.simplefilter("ignore")   # (arch turns its own warning back on unless
            result = _arch_model(steps_train * scale, dist).fit(   # show_warning is off)
                disp="off", show_warning=False)
        params = {name: float(value) for name, value in result.params.items()}
        if not all(math.isfinite(v) for v in params.values()):
            raise ValueError(f"the GARCH(1,1) fit did not converge ({params})")
        return cls(params, scale, dist, space)

    def volatility(self, steps_all: np.ndarray) -> np.ndarray:
        """Filter the steps forward with the fitted parameters fixed.

        Args:
            steps_all: (n,) every step of the series, starting with the training steps
                (arch's backcast reads the first 75: they must be training steps).

        Returns:
            (n + 1,) the standard deviation of each step given the steps before it, in the
            steps' units; entry n is for the next step after the data.
        """
        scaled = np.asarray(steps_all, dtype=float) * self.scale
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fixed = _arch_model(scaled, self.dist).fix(self.param_vector())
            after = fixed.forecast(horizon=1, start=len(scaled) - 1, reindex=False)
        sigma = np.append(np.asarray(fixed.conditional_volatility, dtype=float),
                          math.sqrt(float(after.variance.to_numpy()[-1, 0])))
        return sigma / self.scale

    def innovation_quantile(self, p: float) -> float:
        """The p-quantile of the unit-variance innovation (arch's own distribution)."""
        from arch.univariate import Normal, StudentsT

        if self.dist == "t":
            return float(StudentsT().ppf(np.array([p]), np.array([self.params["nu"]]))[0])
        return float(Normal().ppf(np.array([p]), None)[0])

    def band(self, prices: np.ndarray, rows: np.ndarray, level: float
             ) -> tuple[np.ndarray, np.ndarray]:
        """Central ``level`` intervals for the price at each of ``rows``, from its origin.

        Args:
            prices: (n,) the whole series, its first rows the training rows it was fit on.
            rows: (k,) price rows, each in 1..n (n is the next, unknown row).
            level: nominal coverage, e.g. 0.8.

        Returns:
            (lower, upper), each (k,), in price units: the last price moved by the
            innovation's (1 -+ level) / 2 quantiles times the step's volatility.
        """
        prices = np.asarray(prices, dtype=float)
        rows = np.asarray(rows)
        sigma = self.volatility(steps(prices, self.space))[rows - 1]
        lo = self.innovation_quantile((1 - level) / 2) * sigma
        hi = self.innovation_quantile((1 + level) / 2) * sigma
        last = prices[rows - 1]
        if self.space == "log":
            return last * np.exp(lo), last * np.exp(hi)
        return last + lo, last + hi

    def to_dict(self) -> dict[str, Any]:
        """The fit as garch.json stores it (params, scale, dist, space)."""
        return {"method": "GARCH(1,1), zero mean, fit on training rows, filtered with fixed "
                          "parameters", "params": self.params, "scale": self.scale,
                "dist": self.dist, "space": self.space}

    @classmethod
    def from_dict(cls, raw: Any, source: str = "garch.json") -> "Garch":
        """Rebuild from garch.json's entry; a bad one is a ModelDirError naming ``source``."""
        try:
            params = {str(k): float(v) for k, v in raw["params"].items()}
            garch = cls(params, float(raw["scale"]), str(raw["dist"]), str(raw["space"]))
            if garch.dist not in GARCH_DISTS or garch.space not in ("log", "abs"):
                raise ValueError(f"unknown dist {garch.dist!r} or space {garch.space!r}")
            garch.param_vector()
            return garch
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelDirError(f"{source} is damaged ({exc}); retrain the model") from None

    def param_vector(self) -> list[float]:
        """The parameters in arch's order (omega, alpha[1], beta[1][, nu]), for ``fix``."""
        names = ["omega", "alpha[1]", "beta[1]"] + (["nu"] if self.dist == "t" else [])
        return [self.params[name] for name in names]


def _arch_model(scaled_steps: np.ndarray, dist: str):
    from arch import arch_model

    return arch_model(scaled_steps, mean="Zero", vol="GARCH", p=1, q=1, dist=dist,
                      rescale=False)


def fit_garch(prices_train: np.ndarray) -> tuple["Garch | None", str]:
    """GARCH(1,1) fit on one series' training prices, or None and the reason it has none
    (too few training returns, a flat series, no convergence)."""
    try:
        return Garch.fit(prices_train), ""
    except ValueError as exc:
        return None, str(exc)


#: The interval methods every interval figure reports, in table order.
INTERVAL_METHODS = ("model", "rolling_conformal", "garch")


def compare_intervals(prices: np.ndarray, rows: np.ndarray, level: float,
                      model_band: tuple[np.ndarray, np.ndarray], point: np.ndarray,
                      garch: Garch | None, calibration_rows: np.ndarray,
                      quantiles: np.ndarray | None = None,
                      levels: list[float] | None = None) -> dict[str, Any]:
    """Interval figures of the model beside both baselines, on exactly the same rows.

    Each method's central ``level`` band gives coverage, mean width, interval (Winkler)
    score and the pinball loss of its three quantiles (lower end, centre, upper end: the
    model's point forecast, the last price for both baselines); scores are also divided by
    the naive forecast's MAE on the same rows (``rel_``), so series can be compared.

    Args:
        prices: (n,) the whole series. rows: (k,) the rows scored (each >= 1).
        model_band: (lower, upper) each (k,); point: (k,) the model's point forecasts.
        garch: the series' GARCH(1,1) fit on its training rows, or None (figures null).
        calibration_rows: (m,) the rows the rolling-volatility conformal band calibrates
            on (validation rows; none: its figures are null).
        quantiles: (k, levels) the model's published quantiles, for their pinball loss.

    Returns:
        {"level", "model": {...}, "rolling_conformal": {...} | None, "garch": {...} | None},
        and "model_quantile_pinball" with ``quantiles``.
    """
    prices = np.asarray(prices, dtype=float)
    rows = np.asarray(rows)
    actual = prices[rows]
    last = prices[rows - 1]
    naive_mae = metrics.mae(actual, last) if len(rows) else float("nan")
    out: dict[str, Any] = {"level": level}
    bands = {"model": (model_band, point)}
    calibration_rows = np.asarray(calibration_rows)
    calibration_rows = calibration_rows[calibration_rows >= 1]
    bands["rolling_conformal"] = (rolling_conformal_band(prices, rows, calibration_rows, level),
                                  last) if len(calibration_rows) else None
    bands["garch"] = (garch.band(prices, rows, level), last) if garch is not None else None
    for name, entry in bands.items():
        if entry is None:
            out[name] = None
            continue
        (lower, upper), centre = entry
        out[name] = interval_figures(actual, lower, upper, centre, level, naive_mae)
    if quantiles is not None and levels:
        out["model_quantile_pinball"] = metrics.pinball_loss(actual, quantiles, levels)
    return out


def interval_figures(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     centre: np.ndarray, level: float, naive_mae: float) -> dict[str, float]:
    """``metrics.interval_summary`` plus the pinball loss of (lower, centre, upper) at
    levels ((1 - level) / 2, 0.5, (1 + level) / 2), each also over ``naive_mae``."""
    summary = metrics.interval_summary(actual, lower, upper, level)
    tails = ((1 - level) / 2, 0.5, (1 + level) / 2)
    summary["pinball"] = metrics.pinball_loss(
        actual, np.column_stack([lower, centre, upper]), tails)["mean"] \
        if len(actual) else float("nan")
    ok = naive_mae > 0
    summary["rel_interval_score"] = summary["interval_score"] / naive_mae if ok else float("nan")
    summary["rel_pinball"] = summary["pinball"] / naive_mae if ok else float("nan")
    return summary


def fit_garches(panel: Panel, train_end: np.ndarray) -> list[Garch | None]:
    """Each series' GARCH(1,1) baseline, fit on its training rows only (None where it has
    too few training returns or the fit fails)."""
    return [fit_garch(panel.target_of(s)[:int(train_end[s])])[0]
            for s in range(panel.n_series)]


def garch_quantiles(garch: Garch, prices: np.ndarray, rows: np.ndarray, step: int,
                    levels: list[float]) -> np.ndarray:
    """GARCH(1,1)'s ``step``-ahead quantiles (k, levels) of the prices at ``rows`` (k,),
    each from its origin ``row - step``: the origin's price moved by the innovation's
    quantile times the sd of the summed steps, whose variances follow the GARCH recursion
    forward from the origin (as arch's ``forecast(horizon=step)``: sigma2[h] = vbar +
    (alpha + beta)^(h - 1) (sigma2[1] - vbar)), parameters fit on training rows only and
    filtered, never refit. For step > 1 the sum of Student-t steps is not itself Student-t:
    its quantile is taken as the t's times that sd (exact for step 1)."""
    prices = np.asarray(prices, dtype=float)
    origin = np.asarray(rows) - step
    sigma = garch.volatility(steps(prices, garch.space))[origin]          # step 1's sd
    var1 = (sigma * garch.scale) ** 2
    a, b, w = garch.params["alpha[1]"], garch.params["beta[1]"], garch.params["omega"]
    total, ahead = var1.copy(), var1.copy()
    for _ in range(2, step + 1):
        ahead = w + (a + b) * ahead          # E[sigma2[h]] from sigma2[h - 1]
        total += ahead
    sd = np.sqrt(total) / garch.scale
    z = np.array([garch.innovation_quantile(q) for q in levels])
    moved = sd[:, None] * z[None, :]
    last = prices[origin][:, None]
    return last * np.exp(moved) if garch.space == "log" else last + moved


def rolling_conformal_quantiles(prices: np.ndarray, rows: np.ndarray,
                                calibration_rows: np.ndarray, step: int, levels: list[float],
                                window: int = VOLATILITY_WINDOW) -> np.ndarray:
    """The rolling-volatility conformal band's ``step``-ahead quantiles (k, levels) of the
    prices at ``rows``: around the origin's price (``row - step``), the level-tau quantile
    is the lower end of the central (1 - 2 tau) band below the median and the upper end of
    the (2 tau - 1) band above it; scores |move over step rows| / volatility at the origin,
    on ``calibration_rows`` (validation rows, never test rows). Infinite where too few."""
    prices = np.asarray(prices, dtype=float)
    rows, calibration_rows = np.asarray(rows), np.asarray(calibration_rows)
    calibration_rows = calibration_rows[calibration_rows >= step]
    space = intervals.error_space(prices)
    vol = intervals.volatility(prices, space, window)
    scores = np.sort(intervals.scores(prices[calibration_rows],
                                      prices[calibration_rows - step],
                                      vol[calibration_rows - step], space))
    origin = rows - step
    out = np.empty((len(rows), len(levels)))
    for j, q in enumerate(levels):
        if q == 0.5:
            out[:, j] = prices[origin]
            continue
        half = intervals.conformal_quantile(scores, abs(1 - 2 * q))
        lower, upper = intervals.band(prices[origin], vol[origin], half, space)
        out[:, j] = lower if q < 0.5 else upper
    return out
