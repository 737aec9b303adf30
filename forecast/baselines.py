"""The interval references every network interval stands beside, and the interval guard.

Two baselines, both one step ahead and in price units, both calibrated without test rows:

- **Rolling-volatility conformal** (``rolling_conformal_band``): split-conformal scores of a
  point forecast, scaled by the last ``VOLATILITY_WINDOW`` steps' volatility (the machinery
  of ``forecast.intervals``), calibrated on validation rows.
- **GARCH(1,1)** (``Garch``): zero mean, Student-t innovations, fit on the training steps
  only (``arch``), then filtered forward over every row with those parameters fixed, so the
  volatility of each step uses the steps before it and nothing fitted after the training
  rows.

``interval_guard`` keeps a network's intervals only if their interval score beats a
baseline's on held-out rows by a one-sided Diebold-Mariano test. Pure NumPy; ``arch`` is
imported only when a GARCH model is fit or run (it pulls in SciPy and statsmodels).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast import intervals, metrics
from forecast.config import GARCH_DIST, GARCH_MIN_RETURNS, GUARD_Z, VOLATILITY_WINDOW
from forecast.data.panel import unique_sorted
from forecast.errors import ModelDirError

#: ``arch``'s optimiser is happiest with variances between 1 and 1000; the steps are
#: multiplied by GARCH_SPREAD / their training standard deviation before fitting.
GARCH_SPREAD = 10.0
GARCH_DISTS = ("t", "normal")


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
        forecast = metrics.naive_forecast(prices, rows)
    if calibration_forecast is None:
        calibration_forecast = metrics.naive_forecast(prices, calibration_rows)
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
        return {"method": "GARCH(1,1), zero mean, fit on training rows, filtered with fixed "
                          "parameters", "params": self.params, "scale": self.scale,
                "dist": self.dist, "space": self.space}

    @classmethod
    def from_dict(cls, raw: Any, source: str = "garch.json") -> "Garch":
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


def garch_intervals(returns_train: np.ndarray, returns_all: np.ndarray, level: float,
                    dist: str = GARCH_DIST) -> tuple[np.ndarray, np.ndarray]:
    """GARCH(1,1) intervals for each return: fit on ``returns_train``, filtered over all.

    Args:
        returns_train: (n_train,) the training steps, the first rows of ``returns_all``.
        returns_all: (n,) every step of the series. level: nominal coverage, e.g. 0.8.

    Returns:
        (lower, upper), each (n + 1,), in the returns' units: the interval of each return
        given the ones before it; entry n is for the next return after the data.
    """
    returns_all = np.asarray(returns_all, dtype=float)
    if not np.array_equal(returns_all[:len(returns_train)], returns_train):
        raise ValueError("returns_all must start with returns_train")
    garch = Garch.fit_steps(returns_train, dist)
    sigma = garch.volatility(returns_all)
    return (garch.innovation_quantile((1 - level) / 2) * sigma,
            garch.innovation_quantile((1 + level) / 2) * sigma)


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
