"""Scoring forecasts, for train (its validation and test scores) and evaluate alike.

One series' one-step forecasts are scored beside the naive and drift forecasts on exactly
the same rows (``compare``), and, given the band ``predict --interval`` gives, their interval
figures beside the rolling-volatility conformal and GARCH(1,1) bands
(``baselines.compare_intervals``): ``score_series``. A segment's scores are pooled over
series by ``pooled``; ``score_segment`` scores a panel's origin forecasts on a segment of
rows. Pure NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast import baselines, intervals, metrics
from forecast.baselines import drift_forecast, naive_forecast
from forecast.config import DEFAULT_INTERVAL
from forecast.data import Panel, unique_sorted
from forecast.metrics import mae, score, up_share
from forecast.windows import OriginForecasts

#: The model's interval figures every series' scores carry as "interval".
INTERVAL_KEYS = ("level", "coverage", "mean_width", "interval_score", "rows")


def compare(prices: np.ndarray, rows: np.ndarray, predicted: np.ndarray,
            scale: float) -> dict[str, dict[str, float]]:
    """Score the model beside the naive and drift forecasts on exactly the same rows.

    Args:
        prices: (n,) the whole series, in price units.
        rows: (k,) the rows scored (each >= 1).
        predicted: (k,) the model's one-step forecasts of those rows.
        scale: MASE's denominator (``naive_scale`` of the training rows).

    Returns:
        {"model": {...}, "naive": {...}, "drift": {...}, "rows": k, "up_share": f}.
    """
    prices = np.asarray(prices, dtype=float)
    actual = prices[rows]
    previous = naive_forecast(prices, rows)
    naive_mae = mae(actual, previous)
    forecasts = {"model": predicted, "naive": previous, "drift": drift_forecast(prices, rows)}
    out = {name: score(actual, f, previous, scale, naive_mae) for name, f in forecasts.items()}
    out["rows"] = int(len(rows))
    out["up_share"] = up_share(actual, previous)
    return out


@dataclass
class SeriesBand:
    """One series' interval to score beside the baselines: the band ``predict --interval``
    gives of the scored rows (k,) and what the baselines calibrate on.

    Attributes:
        level: nominal coverage. lower, upper: (k,) the band in price units.
        garch: the series' GARCH(1,1) fit on its training rows, or None.
        calibration_rows: (m,) the rows the rolling conformal band calibrates on.
        published: (k, levels) the published (calibrated) quantiles, or None.
        levels: the quantile levels (empty: a point model).
        band: "quantiles" or "conformal", the band the model gives at ``level``.
    """

    level: float
    lower: np.ndarray
    upper: np.ndarray
    garch: baselines.Garch | None
    calibration_rows: np.ndarray
    published: np.ndarray | None
    levels: list[float]
    band: str


def score_series(prices: np.ndarray, rows: np.ndarray, predicted: np.ndarray, scale: float,
                 band: SeriesBand | None = None) -> dict[str, Any]:
    """One series' one-step scores of ``rows`` (k,) (``compare``), with, given its ``band``,
    the model's interval figures ("interval") beside both baselines' ("intervals").

    Args:
        prices: (n,) the whole series. predicted: (k,) the model's one-step forecasts.
        scale: MASE's denominator.
    """
    out = compare(prices, rows, predicted, scale)
    if band is not None:
        compared = baselines.compare_intervals(
            prices, rows, band.level, (band.lower, band.upper), predicted, band.garch,
            band.calibration_rows, band.published, band.levels)
        compared["band"] = band.band
        out["interval"] = {k: compared["model"][k] for k in INTERVAL_KEYS}
        out["intervals"] = compared
    return out


def pooled(per_series: dict[str, dict]) -> dict[str, Any]:
    """A segment's scores: {"series": per_series, "aggregate": metrics.aggregate(...)}."""
    return {"series": per_series, "aggregate": metrics.aggregate(per_series)}


@dataclass
class IntervalBands:
    """What scoring a segment's intervals needs: the model's bands (conformal calibration,
    quantile calibrations, each series' volatility) and the baselines' (GARCH fits and the
    validation rows the rolling conformal band calibrates on)."""

    calibration: intervals.Calibration
    quantile: intervals.QuantileIntervals
    vols: list[np.ndarray]
    garches: list[baselines.Garch | None]
    train_end: np.ndarray
    val_end: np.ndarray
    level: float = DEFAULT_INTERVAL

    def of(self, s: int, rows: np.ndarray, point: np.ndarray,
           quantiles: np.ndarray | None) -> SeriesBand:
        """Series ``s``'s band of its one-step forecasts of ``rows`` (k,): the band
        ``predict --interval`` gives around ``point`` (k,) (from ``quantiles`` (k, levels)
        where the interval guard kept the network's), and the baselines' calibration rows
        (its validation rows)."""
        level, q = self.level, self.quantile
        lower, upper = intervals.prediction_band(level, 1, point, self.vols[s][rows - 1],
                                                 self.calibration, q, quantiles)
        published = q.calibrated(quantiles, 1) if quantiles is not None else None
        return SeriesBand(level, lower, upper, self.garches[s],
                          np.arange(int(self.train_end[s]), int(self.val_end[s])), published,
                          q.levels, "quantiles" if q.uses_quantiles(level) else "conformal")


def score_segment(panel: Panel, forecasts: OriginForecasts, lo: np.ndarray, hi: np.ndarray,
                  scales: np.ndarray, bands: IntervalBands | None = None) -> dict[str, Any]:
    """One-step scores (model, naive, drift) of every series on its rows ``[lo[s], hi[s])``,
    with interval figures (the model's band, rolling conformal, GARCH) when ``bands`` are
    given, and their aggregate over series.

    Returns:
        ``pooled``: {"series": {name: ``score_series(...)``}, "aggregate": ...}.
    """
    per_series = {}
    for s, name in enumerate(panel.names):
        prices = panel.target_of(s)
        rows, predicted = forecasts.of(s)
        use = (rows >= max(int(lo[s]), 1)) & (rows < hi[s])
        if not use.any():
            continue
        band = None
        if bands is not None:
            quantiles = forecasts.quantiles_of(s)
            band = bands.of(s, rows[use], predicted[use, 0],
                            None if quantiles is None else quantiles[use, 0])
        per_series[name] = score_series(prices, rows[use], predicted[use, 0],
                                        float(scales[s]), band)
    return pooled(per_series)


# --- VaR backtests (evaluate --var) ------------------------------------------------------
#: The methods whose quantiles are backtested, as the tables name them.
VAR_METHODS = {"model": "model", "garch": "GARCH(1,1)-t", "rolling_conformal": "rolling conformal"}
#: The pooled figures' caveat (in --json and under the table).
VAR_POOLED_NOTE = ("series are not independent (one date's returns move together): the tests "
                   "are run per series; pooled figures are the exceedance rate over every row, "
                   "the share of series each test rejects at 5% and the median pinball loss")
#: The significance level of the shares rejected.
VAR_TEST_LEVEL = 0.05


def var_series(actual: np.ndarray, quantiles: dict[str, np.ndarray | None],
               levels: list[float], scale: float, step: int = 1) -> dict[str, dict]:
    """One series' VaR backtests of rows (k,) in date order: for each tail level, each
    method's ``metrics.var_backtest`` (None where the method has no quantiles, e.g. GARCH
    on a series too short to fit), with its pinball loss also in units of ``scale`` (the
    series' naive MAE on its training rows) as ``rel_pinball``.

    Args:
        quantiles: method -> (k, levels) quantile forecasts of ``actual``, or None.
    """
    out: dict[str, dict] = {}
    for j, level in enumerate(levels):
        per: dict[str, Any] = {}
        for method, q in quantiles.items():
            if q is None:
                per[method] = None
                continue
            with np.errstate(invalid="ignore"):
                figures = metrics.var_backtest(actual, q[:, j], level, step)
            figures["rel_pinball"] = figures["pinball"] / scale if scale > 0 else float("nan")
            per[method] = figures
        out[metrics.quantile_name(level)] = per
    return out


def var_pooled(per_series: dict[str, dict]) -> dict[str, dict]:
    """A segment's VaR figures over series (see ``VAR_POOLED_NOTE``): per level and method,
    rows, exceedances and their rate over every row beside the promised rate, the share of
    series Kupiec's, Christoffersen's independence and conditional-coverage tests reject at
    5%, the median relative pinball loss, and at the 1% tails the series per Basel zone."""
    out: dict[str, dict] = {}
    names = list(per_series)
    if not names:
        return out
    for key in per_series[names[0]]:
        per: dict[str, Any] = {}
        for method in VAR_METHODS:
            found = [per_series[n][key][method] for n in names if per_series[n][key].get(method)]
            if not found:
                per[method] = None
                continue
            rows = sum(f["rows"] for f in found)
            hits = sum(f["exceedances"] for f in found)

            def share(p_key: str) -> float:
                p = np.array([f[p_key] for f in found], dtype=float)
                p = p[np.isfinite(p)]
                return float(np.mean(p < VAR_TEST_LEVEL)) if p.size else float("nan")
            zones = [f["traffic_light"]["zone"] for f in found if f["traffic_light"]]
            per[method] = {
                "series": len(found), "rows": rows, "exceedances": hits,
                "rate": hits / rows if rows else float("nan"),
                "expected_rate": found[0]["expected_rate"],
                "share_rejected_pof": share("p_pof"), "share_rejected_ind": share("p_ind"),
                "share_rejected_cc": share("p_cc"),
                "median_rel_pinball": _median([f["rel_pinball"] for f in found]),
                "traffic_light": ({z: zones.count(z) for z in ("green", "yellow", "red")}
                                  if zones else None)}
        out[key] = per
    return out


def _median(values: list[float]) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


#: The Model Confidence Set's size (a 90% MCS), bootstrap repetitions and seed.
MCS_SIZE, MCS_REPS, MCS_SEED = 0.1, 1000, 0


def var_mcs(losses: dict[str, np.ndarray], dates: np.ndarray, size: float = MCS_SIZE,
            reps: int = MCS_REPS, seed: int = MCS_SEED) -> dict[str, Any] | None:
    """Hansen, Lunde & Nason's Model Confidence Set (``arch.bootstrap.MCS``, stationary
    block bootstrap over dates) of the methods' pinball losses: which stay in the
    (1 - ``size``) MCS. A panel's rows are averaged date by date first (one date's series
    move together, as the interval guard treats them).

    Args:
        losses: method -> (rows,) per-row losses, every method on the same rows.
        dates: (rows,) the date of each row (any sortable stamps).
    Returns:
        {"size", "dates", "included": [methods], "pvalues": {method: p}, "mean_loss":
        {method: the mean over dates of the date-averaged loss, what the MCS compares}}, or
        None with
        fewer than 10 dates or fewer than 2 methods.
    """
    import pandas as pd
    from arch.bootstrap import MCS

    names = list(losses)
    if len(names) < 2 or len(dates) == 0:
        return None
    _, inverse = unique_sorted(np.asarray(dates), return_inverse=True)
    counts = np.bincount(inverse)
    frame = pd.DataFrame({name: np.bincount(inverse, weights=losses[name]) / counts
                          for name in names})
    if len(frame) < 10 or not np.isfinite(frame.to_numpy()).all():
        return None
    mcs = MCS(frame, size=size, reps=reps, seed=seed)
    mcs.compute()
    pvalues = mcs.pvalues.iloc[:, 0]
    return {"size": size, "dates": int(len(frame)),
            "included": [n for n in names if n in set(mcs.included)],
            "pvalues": {n: float(pvalues[n]) for n in names},
            "mean_loss": {n: float(frame[n].mean()) for n in names}}
