"""Forecast accuracy, the baselines every figure is shown beside, and interval coverage.

Pure NumPy. All arrays are 1-D over the scored rows, in price units: ``actual`` (rows,),
``predicted`` (rows,), and ``previous`` (rows,), the last known price before each row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

METRICS = ("mae", "rmse", "mape", "mase", "rel_mae", "directional_accuracy")
BASELINES = ("naive", "drift")


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


def naive_scale(prices: np.ndarray) -> float:
    """In-sample MAE of the naive forecast over ``prices`` (n,): MASE's denominator."""
    diffs = np.abs(np.diff(np.asarray(prices, dtype=float)))
    return float(diffs.mean()) if diffs.size else float("nan")


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(predicted))))


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
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
    that are undefined are NaN or None (``json_ready`` makes both null)."""
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


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of rows with lower <= actual <= upper."""
    actual = np.asarray(actual)
    return float(np.mean((np.asarray(lower) <= actual) & (actual <= np.asarray(upper))))


def mean_width(lower: np.ndarray, upper: np.ndarray) -> float:
    return float(np.mean(np.asarray(upper) - np.asarray(lower)))


def format_scores(scores: dict, title: str = "") -> str:
    """A fixed-width table: one row per forecast, one column per metric."""
    names = [n for n in ("model", *BASELINES) if n in scores]
    headers = ["forecast", "MAE", "RMSE", "MAPE%", "MASE", "MAE/naive", "direction"]
    lines = [title] if title else []
    lines.append("".join(h.rjust(11) if i else h.ljust(9) for i, h in enumerate(headers)))
    for name in names:
        s = scores[name]
        cells = [s["mae"], s["rmse"], s["mape"], s["mase"], s["rel_mae"],
                 s["directional_accuracy"]]
        lines.append(name.ljust(9) + "".join(_fmt(v).rjust(11) for v in cells))
    footer = f"{scores.get('rows', 0)} rows; up-days {_pct(scores.get('up_share'))}" \
             " (the direction score of always-up)"
    if scores.get("interval"):
        iv = scores["interval"]
        footer += (f"; {iv['level'] * 100:.4g}% interval covered {_pct(iv['coverage'])}, "
                   f"mean width {_fmt(iv['mean_width'])}")
    lines.append(footer)
    return "\n".join(lines)


def _undefined(value: float | None) -> bool:
    return value is None or not math.isfinite(value)


def _fmt(value: float | None) -> str:
    if _undefined(value):
        return "-"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def _pct(value: float | None) -> str:
    return "-" if _undefined(value) else f"{value:.1%}"


def json_ready(value: Any) -> Any:
    """``value`` with every NaN or infinite figure as None, NumPy scalars as Python numbers
    and dates as ISO text, so that ``json.dumps(..., allow_nan=False)`` writes strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_ready(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return None if value != value else value.isoformat()  # NaT != NaT
    return value
