"""Forecast accuracy and interval scores (the baselines' forecasts are in ``baselines``;
``evaluation.compare`` scores a forecast beside them).

Pure NumPy. All arrays are 1-D over the scored rows, in price units: ``actual`` (rows,),
``predicted`` (rows,), and ``previous`` (rows,), the last known price before each row;
interval bounds ``lower`` and ``upper`` (rows,); quantile forecasts (rows, levels).
Functions ending in ``_rows`` give one loss per row, for Diebold-Mariano tests.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

METRICS = ("mae", "rmse", "mape", "mase", "rel_mae", "directional_accuracy")
BASELINES = ("naive", "drift")


def naive_scale(prices: np.ndarray) -> float:
    """In-sample MAE of the naive forecast over ``prices`` (n,): MASE's denominator."""
    diffs = np.abs(np.diff(np.asarray(prices, dtype=float)))
    return float(diffs.mean()) if diffs.size else float("nan")


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute error of ``predicted`` against ``actual`` (same shape, any)."""
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(predicted))))


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Root mean squared error of ``predicted`` against ``actual`` (same shape, any)."""
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(predicted)) ** 2)))


def mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error, in percent; rows with actual == 0 are skipped."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    nonzero = actual != 0
    if not nonzero.any():
        return float("nan")
    return float(100 * np.mean(np.abs((actual - predicted)[nonzero] / actual[nonzero])))


def mase(actual: np.ndarray, predicted: np.ndarray, scale: float) -> float:
    """MAE divided by ``scale``, the naive forecast's in-sample MAE on the training rows."""
    return mae(actual, predicted) / scale if scale > 0 else float("nan")


def directional_accuracy(actual: np.ndarray, predicted: np.ndarray,
                         previous: np.ndarray) -> float | None:
    """Share of rows where the forecast moves the same way as the price (up, down or flat).

    None for a forecast that never predicts a move (the naive one): it has no direction to
    score, and its share of flat prices would read like one.
    """
    actual_move = np.sign(np.asarray(actual) - np.asarray(previous))
    predicted_move = np.sign(np.asarray(predicted) - np.asarray(previous))
    if not predicted_move.any():
        return None
    return float(np.mean(actual_move == predicted_move))


def up_share(actual: np.ndarray, previous: np.ndarray) -> float:
    """Share of rows where the price rose: the directional accuracy of "always up"."""
    return float(np.mean(np.asarray(actual) > np.asarray(previous)))


def score(actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray, scale: float,
          naive_mae: float | None = None) -> dict[str, float | None]:
    """Every metric in METRICS for one forecast. ``rel_mae`` is MAE over the naive
    forecast's MAE on the same rows (1.0 = as good as naive, below 1 = better). Figures
    that are undefined are NaN or None (``config.json_safe`` makes both null)."""
    if naive_mae is None:
        naive_mae = mae(actual, previous)
    model_mae = mae(actual, predicted)
    return {
        "mae": model_mae,
        "rmse": rmse(actual, predicted),
        "mape": mape(actual, predicted),
        "mase": mase(actual, predicted, scale),
        "rel_mae": model_mae / naive_mae if naive_mae > 0 else float("nan"),
        "directional_accuracy": directional_accuracy(actual, predicted, previous),
    }


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of rows with lower <= actual <= upper."""
    actual = np.asarray(actual)
    return float(np.mean((np.asarray(lower) <= actual) & (actual <= np.asarray(upper))))


def mean_width(lower: np.ndarray, upper: np.ndarray) -> float:
    """Mean width of an interval, ``lower`` and ``upper`` of the same shape."""
    return float(np.mean(np.asarray(upper) - np.asarray(lower)))


def pinball_rows(actual: np.ndarray, quantile_forecasts: np.ndarray,
                 levels: Sequence[float]) -> np.ndarray:
    """Pinball (quantile) loss of each row at each level.

    For level tau and error u = actual - forecast the loss is ``max(tau * u, (tau - 1) * u)``:
    tau times the shortfall when the actual lies above the forecast, 1 - tau times the
    excess when it lies below.

    Args:
        actual: (rows,) observed values.
        quantile_forecasts: (rows, n_levels) forecasts of the quantiles at ``levels``.
        levels: (n_levels,) quantile levels in (0, 1).

    Returns:
        (rows, n_levels) losses, in the units of ``actual``.
    """
    actual = np.asarray(actual, dtype=float)
    forecasts = np.asarray(quantile_forecasts, dtype=float)
    tau = np.asarray(levels, dtype=float)
    if forecasts.shape != (*actual.shape, len(tau)):
        raise ValueError(f"quantile_forecasts has shape {forecasts.shape}; expected "
                         f"{(*actual.shape, len(tau))} for {len(tau)} levels")
    error = actual[..., None] - forecasts
    return np.maximum(tau * error, (tau - 1.0) * error)


def pinball_loss(actual: np.ndarray, quantile_forecasts: np.ndarray,
                 levels: Sequence[float]) -> dict[str, float]:
    """Mean pinball loss over rows, per level and over all levels.

    Args:
        actual: (rows,). quantile_forecasts: (rows, n_levels). levels: (n_levels,).

    Returns:
        ``{"mean": ..., "q0.1": ..., "q0.5": ..., ...}``: the mean over rows and levels,
        and the mean over rows of each level (keys ``quantile_name(level)``).
    """
    losses = pinball_rows(actual, quantile_forecasts, levels)
    out = {"mean": float(losses.mean())}
    out.update({quantile_name(tau): float(v) for tau, v in zip(levels, losses.mean(axis=0))})
    return out


def quantile_name(level: float) -> str:
    """The column name of a quantile level: 0.1 -> ``q0.1``."""
    return f"q{level:g}"


def interval_score_rows(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                        alpha: float) -> np.ndarray:
    """Interval (Winkler) score of each row for a central (1 - alpha) interval.

    ``(upper - lower) + 2/alpha * (lower - actual)+ + 2/alpha * (actual - upper)+``
    (Gneiting & Raftery 2007, eq. 43): the width, plus a penalty for each miss that grows
    with its distance. Lower is better; it is minimised in expectation by the true
    alpha/2 and 1 - alpha/2 quantiles.

    Args:
        actual, lower, upper: (rows,). alpha: 1 - the nominal coverage (0.2 for 80%).

    Returns:
        (rows,) scores, in the units of ``actual``.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    actual = np.asarray(actual, dtype=float)
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    below = np.maximum(lower - actual, 0.0)
    above = np.maximum(actual - upper, 0.0)
    return (upper - lower) + (2.0 / alpha) * (below + above)


def interval_score(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                   alpha: float) -> float:
    """Mean interval (Winkler) score over rows (see ``interval_score_rows``)."""
    return float(np.mean(interval_score_rows(actual, lower, upper, alpha)))


def interval_summary(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     level: float) -> dict[str, float]:
    """Coverage, mean width and interval score of a central ``level`` interval.

    Args:
        actual, lower, upper: (rows,). level: nominal coverage, e.g. 0.8.

    Returns:
        ``{"level", "coverage", "mean_width", "interval_score", "rows"}``.
    """
    return {"level": level, "coverage": coverage(actual, lower, upper),
            "mean_width": mean_width(lower, upper),
            "interval_score": interval_score(actual, lower, upper, 1.0 - level),
            "rows": int(len(np.asarray(actual)))}


def diebold_mariano(diff: np.ndarray, horizon: int = 1) -> float:
    """DM statistic of a loss differential (n,), with a Newey-West variance over
    ``horizon - 1`` lags for overlapping multi-step forecasts.

    Negative when the first forecast's losses are lower; approximately standard normal
    under the null of equal expected loss.
    """
    diff = np.asarray(diff, dtype=float)
    n = len(diff)
    if n < 2:
        return 0.0
    d = diff - diff.mean()
    var = float(d @ d) / n
    for lag in range(1, horizon):
        var += 2 * (1 - lag / horizon) * float(d[lag:] @ d[:-lag]) / n
    return float(diff.mean() / math.sqrt(var / n)) if var > 0 else 0.0


def normal_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z: the one-sided p-value of a DM statistic."""
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def aggregate(per_series: dict[str, dict]) -> dict:
    """Summarise ``compare`` results over the series of a panel.

    MAE in price units cannot be pooled across series, so the summary is of each series'
    MAE / naive: its median and mean per forecast, and the share of series where a forecast
    is at or below naive (1.0). Interval coverage is pooled over every row.

    Args:
        per_series: series name -> ``compare`` result (with "interval" where scored).
    """
    names = list(per_series)
    out: dict = {"series": len(names), "rows": int(sum(per_series[n]["rows"] for n in names))}
    for forecast in ("model", *BASELINES):
        rel = np.array([per_series[n][forecast]["rel_mae"] for n in names], dtype=float)
        rel = rel[np.isfinite(rel)]
        out[forecast] = {
            "median_rel_mae": float(np.median(rel)) if rel.size else float("nan"),
            "mean_rel_mae": float(np.mean(rel)) if rel.size else float("nan"),
            "share_at_or_below_naive": float(np.mean(rel <= 1.0)) if rel.size else float("nan"),
        }
    scored = [per_series[n]["interval"] for n in names if "interval" in per_series[n]]
    if scored:
        rows = np.array([iv["rows"] for iv in scored], dtype=float)
        cov = np.array([iv["coverage"] for iv in scored], dtype=float)
        out["interval"] = {"level": scored[0]["level"],
                           "coverage": float((cov * rows).sum() / rows.sum())}
    compared = [per_series[n]["intervals"] for n in names if per_series[n].get("intervals")]
    if compared:
        out["intervals"] = aggregate_intervals(compared)
    return out


#: Interval methods as the tables name them.
INTERVAL_NAMES = {"model": "model", "rolling_conformal": "rolling conformal",
                  "garch": "GARCH(1,1)"}


def aggregate_intervals(compared: list[dict]) -> dict:
    """Summarise ``baselines.compare_intervals`` results over series: per method the median
    over series of the interval score and pinball loss in units of each series' naive MAE
    and the coverage pooled over every row; and the share of series (of those with a
    GARCH fit) where the model's interval score is below GARCH(1,1)'s."""
    out: dict = {"level": compared[0]["level"], "series": len(compared)}
    for method in INTERVAL_NAMES:
        scored = [c[method] for c in compared if c.get(method)]
        rel = np.array([f["rel_interval_score"] for f in scored], dtype=float)
        pin = np.array([f["rel_pinball"] for f in scored], dtype=float)
        rows = np.array([f["rows"] for f in scored], dtype=float)
        cov = np.array([f["coverage"] for f in scored], dtype=float)
        out[method] = {
            "series": len(scored),
            "median_rel_interval_score": _finite_median(rel),
            "median_rel_pinball": _finite_median(pin),
            "coverage": float((cov * rows).sum() / rows.sum()) if rows.sum() else float("nan"),
        }
    both = [c for c in compared if c.get("garch") and c.get("model")]
    wins = [c["model"]["interval_score"] < c["garch"]["interval_score"] for c in both]
    out["share_model_beats_garch"] = float(np.mean(wins)) if wins else float("nan")
    out["series_with_garch"] = len(both)
    return out


def _finite_median(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


# --- Value-at-Risk backtests -------------------------------------------------------------
#: Basel's traffic light for a 99% VaR over 250 days: green up to 4 exceptions, yellow 5-9,
#: red 10 or more (Basel Committee, "Supervisory framework for the use of backtesting", 1996).
TRAFFIC_LIGHT_DAYS = 250
TRAFFIC_LIGHT_ZONES = ((4, "green"), (9, "yellow"))


def exceedances(actual: np.ndarray, quantile: np.ndarray, level: float) -> np.ndarray:
    """Hits (rows,) bool of a quantile forecast at ``level``: for a lower tail (level < 0.5)
    the actual fell below the quantile, for an upper tail (level > 0.5) above it. A hit's
    expected rate is ``tail_probability(level)``."""
    actual, quantile = np.asarray(actual, dtype=float), np.asarray(quantile, dtype=float)
    return actual < quantile if level < 0.5 else actual > quantile


def tail_probability(level: float) -> float:
    """The promised exceedance rate of a quantile at ``level``: level below the median,
    1 - level above it (0.01 and 0.99 both promise 1%)."""
    return float(level) if level < 0.5 else 1.0 - float(level)


def _xlogy(x: float, y: float) -> float:
    """x * log(y) with 0 * log(0) = 0 (the likelihoods' convention)."""
    return 0.0 if x == 0 else x * math.log(y)


def _chi2_sf(stat: float, df: int) -> float:
    from scipy.stats import chi2

    return float(chi2.sf(stat, df)) if math.isfinite(stat) else float("nan")


def kupiec(hits: np.ndarray, p: float) -> dict[str, float]:
    """Kupiec's (1995) proportion-of-failures test: are the hits (n,) bool at rate ``p``?

    LR_pof = -2 log[(1 - p)^(n - x) p^x] + 2 log[(1 - x/n)^(n - x) (x/n)^x] for x hits,
    chi-squared with 1 degree of freedom under the null.

    Returns:
        ``{"rows", "exceedances", "rate", "lr_pof", "p_pof"}`` (NaN for no rows).
    """
    hits = np.asarray(hits, dtype=bool)
    n, x = int(hits.size), int(hits.sum())
    if n == 0:
        return {"rows": 0, "exceedances": 0, "rate": float("nan"), "lr_pof": float("nan"),
                "p_pof": float("nan")}
    phat = x / n
    null = _xlogy(n - x, 1 - p) + _xlogy(x, p)
    alt = _xlogy(n - x, 1 - phat) + _xlogy(x, phat)
    stat = max(-2.0 * (null - alt), 0.0)
    return {"rows": n, "exceedances": x, "rate": phat, "lr_pof": stat,
            "p_pof": _chi2_sf(stat, 1)}


def christoffersen(hits: np.ndarray, p: float) -> dict[str, float]:
    """Christoffersen's (1998) independence and conditional-coverage tests of hits (n,).

    From the transitions of consecutive hits (n_ij: a state i followed by j; pi01 =
    n01 / (n00 + n01), pi11 = n11 / (n10 + n11), pi = (n01 + n11) / (n - 1)):
    LR_ind = -2 log[(1 - pi)^(n00 + n10) pi^(n01 + n11)]
             + 2 log[(1 - pi01)^n00 pi01^n01 (1 - pi11)^n10 pi11^n11],  chi2(1);
    LR_cc = LR_pof + LR_ind (Kupiec's on all n rows), chi2(2). NaN for fewer than 2 rows.

    Returns:
        ``kupiec(...)`` and ``{"lr_ind", "p_ind", "lr_cc", "p_cc", "transitions":
        [n00, n01, n10, n11]}``.
    """
    hits = np.asarray(hits, dtype=bool)
    out: dict = dict(kupiec(hits, p))
    if hits.size < 2:
        out.update(lr_ind=float("nan"), p_ind=float("nan"), lr_cc=float("nan"),
                   p_cc=float("nan"), transitions=[0, 0, 0, 0])
        return out
    before, after = hits[:-1], hits[1:]
    n00 = int(np.sum(~before & ~after))
    n01 = int(np.sum(~before & after))
    n10 = int(np.sum(before & ~after))
    n11 = int(np.sum(before & after))
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    null = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    alt = (_xlogy(n00, 1 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1 - pi11)
           + _xlogy(n11, pi11))
    ind = max(-2.0 * (null - alt), 0.0)
    cc = out["lr_pof"] + ind
    out.update(lr_ind=ind, p_ind=_chi2_sf(ind, 1), lr_cc=cc, p_cc=_chi2_sf(cc, 2),
               transitions=[n00, n01, n10, n11])
    return out


def traffic_light(hits: np.ndarray, days: int = TRAFFIC_LIGHT_DAYS) -> dict | None:
    """Basel's traffic-light zone of a 99% VaR from its hits (n,) over the last ``days``
    rows: green for 0-4 exceptions, yellow 5-9, red 10+; None with fewer rows than that."""
    hits = np.asarray(hits, dtype=bool)
    if hits.size < days:
        return None
    count = int(hits[-days:].sum())
    zone = next((name for most, name in TRAFFIC_LIGHT_ZONES if count <= most), "red")
    return {"days": days, "exceptions": count, "zone": zone}


def var_backtest(actual: np.ndarray, quantile: np.ndarray, level: float, step: int = 1
                 ) -> dict:
    """Every VaR backtest of one ``step``-ahead quantile forecast (rows,) at ``level`` of
    consecutive rows in date order: the exceedance rate and pinball loss over every row;
    Kupiec's and Christoffersen's tests on non-overlapping forecasts (every ``step``-th
    row, ending at the last: overlapping ones share steps, so their hits cluster by
    construction); and for one-step forecasts at the 1% tails (0.01, 0.99) Basel's traffic
    light (which judges the one-day VaR)."""
    actual, quantile = np.asarray(actual, dtype=float), np.asarray(quantile, dtype=float)
    p = tail_probability(level)
    hits = exceedances(actual, quantile, level)
    tested = hits[::-1][::step][::-1]
    out = {"level": float(level), "expected_rate": p, **christoffersen(tested, p)}
    out.update(rows=int(hits.size), exceedances=int(hits.sum()), tested_rows=int(tested.size),
               rate=float(hits.mean()) if hits.size else float("nan"))
    out["pinball"] = float(pinball_rows(actual, quantile[:, None], [level]).mean()) \
        if actual.size else float("nan")
    out["traffic_light"] = traffic_light(hits) if abs(p - 0.01) < 1e-9 and step == 1 else None
    return out
