"""Future forecasts and walk-forward backtests, in price units, from a model directory.

Every forecast for a row is made from rows strictly before it: one batched prediction over
every input window of the series, never a Python loop calling the model per row.
"""

from __future__ import annotations

import functools
import warnings
from typing import Callable

import numpy as np
import pandas as pd

from forecast import intervals, metrics
from forecast.bundle import Bundle
from forecast.config import ENGINES
from forecast.data import Prices, describe_spacing, prices_from_table, read_table
from forecast.errors import DataError, UsageError
from forecast.transforms import forecasts_to_prices
from forecast.windows import origin_windows, prepare

Predictor = Callable[[np.ndarray], np.ndarray]
SEGMENTS = ("train", "validation", "test")


def load_predictor(bundle: Bundle, engine: str = "auto") -> Predictor:
    """A function (origins, window, features) scaled inputs -> (origins, horizon) outputs.

    ``auto`` uses the NumPy engine when the directory has its weights (no TensorFlow
    import), else Keras; ``numpy`` and ``keras`` force one.
    """
    if engine == "numpy" or (engine == "auto" and bundle.has_numpy_engine):
        if not bundle.has_numpy_engine:
            raise UsageError(f"{bundle.path} has no weights.npz for the NumPy engine; "
                             "use --engine keras or retrain")
        return bundle.load_numpy()
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}; got '{engine}'")
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    model = bundle.load_keras()

    def predict(X: np.ndarray) -> np.ndarray:
        out = model.predict(np.ascontiguousarray(X, np.float32), batch_size=1024, verbose=0)
        return np.asarray(out, dtype=np.float64)
    return predict


def read_for_model(source: str, bundle: Bundle, stdin=None) -> Prices:
    """Read PRICES with the model's columns (case-insensitive); say which are missing."""
    d = bundle.config.data
    table = read_table(source, stdin)
    known = {c.lower() for c in table.cells.columns}
    absent = [c for c in bundle.config.columns if c.lower() not in known]
    if absent:
        raise DataError(f"{table.source} lacks column(s) {', '.join(absent)} that the model in "
                        f"{bundle.path} was trained on; columns are: "
                        f"{', '.join(table.cells.columns)}")
    date_column = d.date_column if d.date_column and d.date_column.lower() in known else None
    return prices_from_table(table, target=bundle.config.columns[0],
                             features=bundle.config.columns[1:], date_column=date_column,
                             missing=d.missing)


class Forecaster:
    """A model directory, its predictor and one price series: forecasts from every origin."""

    def __init__(self, bundle: Bundle, prices: Prices, predictor: Predictor):
        self.bundle, self.prices, self.predictor = bundle, prices, predictor
        cfg = bundle.config
        self.window, self.horizon = cfg.model.window, cfg.model.horizon
        self.kind = cfg.training.target_transform
        self.target = prices.frame.iloc[:, 0].to_numpy(float)
        self.prepared = prepare(prices.frame.to_numpy(float), self.kind, self.window,
                                self.horizon, scaler=bundle.scaler, source=prices.source,
                                lines=prices.lines, columns=prices.columns)
        needed = self.window + self.prepared.offset
        if len(self.target) < needed:
            raise DataError(f"{prices.source} has {len(self.target)} rows; the model needs at "
                            f"least {needed} ({self.window} for --window"
                            f"{' plus 1 for the log-return' if self.prepared.offset else ''})")
        self.windows, self.rows = origin_windows(self.prepared.scaled, self.window,
                                                 self.prepared.offset)
        space = bundle.calibration.space
        self.volatility = intervals.volatility(self.target, space)

    @functools.cached_property
    def outputs(self) -> np.ndarray:
        """(origins, horizon) model outputs for every input window, in one batched call."""
        return np.asarray(self.predictor(self.windows), dtype=np.float64)

    @functools.cached_property
    def forecasts(self) -> np.ndarray:
        """(origins, horizon) the same in price units."""
        return forecasts_to_prices(self.outputs, self.bundle.scaler, self.kind,
                                   self.target[self.rows - 1])

    def backtest_rows(self, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Which origins have a ``step``-ahead target inside the data, and those price rows.

        Returns:
            use (origins,) bool, and rows (backtested rows,) in the order ``backtest`` gives.
        """
        if not 1 <= step <= self.horizon:
            raise UsageError(f"--step must be between 1 and the model's horizon "
                             f"({self.horizon}); got {step}")
        target_rows = self.rows + step - 1
        use = target_rows < len(self.target)
        if not use.any():
            raise DataError(f"{self.prices.source} has {len(self.target)} rows: none has a full "
                            f"window of {self.window} rows before it; pass more rows")
        return use, target_rows[use]

    def backtest(self, step: int = 1, level: float | None = None) -> pd.DataFrame:
        """The ``step``-ahead forecast of every row that has one, made ``step`` rows earlier.

        Returns:
            DataFrame with date, actual, predicted (and lower, upper with ``level``).
        """
        use, rows = self.backtest_rows(step)
        out = pd.DataFrame({"date": self.prices.frame.index[rows],
                            "actual": self.target[rows],
                            "predicted": self.forecasts[use, step - 1]})
        if level is not None:
            out["lower"], out["upper"] = self._band(out["predicted"].to_numpy(),
                                                    self.rows[use] - 1, level, step)
        return out

    def future(self, steps: int | None = None, level: float | None = None) -> pd.DataFrame:
        """The next ``steps`` values after the last row: direct up to the horizon, then
        recursively feeding forecasts back (univariate models only).

        Returns:
            DataFrame with date, predicted (and lower, upper with ``level``).
        """
        steps = self.horizon if steps is None else steps
        if steps < 1:
            raise UsageError(f"--steps must be at least 1, got {steps}")
        if steps > self.horizon and len(self.prices.columns) > 1:
            raise UsageError(f"--steps {steps} is beyond the model's horizon ({self.horizon}) "
                             f"and the model also reads {', '.join(self.prices.columns[1:])}, "
                             "whose future values are unknown; use --steps "
                             f"{self.horizon} or train with a longer --horizon")
        # The direct forecast (steps 1..horizon) needs the last window only.
        outputs = list(np.asarray(self.predictor(self.windows[-1:]), dtype=np.float64)[0])
        history = self.prepared.scaled[:, 0]
        while len(outputs) < steps:                # beyond it: feed forecasts back in
            series = np.concatenate([history, outputs])
            outputs.extend(self.predictor(series[-self.window:][None, :, None])[0])
        predicted = forecasts_to_prices(np.asarray(outputs[:steps])[None], self.bundle.scaler,
                                        self.kind, self.target[-1:])[0]
        out = pd.DataFrame({"date": future_dates(self.prices.frame.index, steps),
                            "predicted": predicted})
        if level is not None:
            origin = np.full(steps, len(self.target) - 1)
            out["lower"], out["upper"] = self._band(predicted, origin, level,
                                                    np.arange(1, steps + 1))
        return out

    def evaluate(self, level: float) -> dict:
        """One-step scores of model, naive and drift: on all rows, and per segment of the
        training data (train / validation / test, by date; rows after it count as test)."""
        table = self.backtest(1, level)
        rows = self.backtest_rows(1)[1]
        scale = float(self.bundle.config.facts.get("naive_scale") or
                      metrics.naive_scale(self.target))
        facts = self.bundle.config.facts
        segment = segments(table["date"], facts.get("val_start"), facts.get("test_start"))
        result = {"source": self.prices.source, "model_dir": str(self.bundle.path)}
        for name, mask in [("all", np.ones(len(rows), bool))] + [
                (s, segment == s) for s in SEGMENTS]:
            if mask.any():
                scores = metrics.compare(self.target, rows[mask],
                                         table["predicted"].to_numpy()[mask], scale)
                scores["interval"] = {
                    "level": level,
                    "coverage": metrics.coverage(table["actual"][mask], table["lower"][mask],
                                                 table["upper"][mask]),
                    "mean_width": metrics.mean_width(table["lower"][mask], table["upper"][mask])}
                result[name] = scores
        return result

    def _band(self, predicted, origins, level, steps):
        """(lower, upper) for forecasts made at ``origins`` (price rows), ``steps`` ahead
        (an int, or one per forecast)."""
        if not 0 < level < 1:
            raise UsageError(f"--interval must be between 0 and 1 (e.g. 0.8), got {level}")
        cal = self.bundle.calibration
        q = np.array([cal.quantile(level, int(k))
                      for k in np.broadcast_to(steps, np.shape(predicted))])
        return intervals.band(predicted, self.volatility[origins] * q, 1.0, cal.space)


def segments(dates: pd.Series, val_start: str | None, test_start: str | None) -> np.ndarray:
    """Label each date train / validation / test by the training data's split dates."""
    dates = pd.DatetimeIndex(dates)
    out = np.full(len(dates), "test", dtype=object)
    if val_start and test_start:
        out[dates < pd.Timestamp(test_start)] = "validation"
        out[dates < pd.Timestamp(val_start)] = "train"
    return out


def future_dates(index: pd.DatetimeIndex, steps: int) -> pd.DatetimeIndex:
    """``steps`` dates after the last one, continuing the data's own spacing: business days
    for daily stock data, else the regular frequency pandas infers, else the median step."""
    last = index[-1]
    if describe_spacing(index) == "business days":
        return pd.bdate_range(last + pd.offsets.BDay(1), periods=steps)
    with warnings.catch_warnings():  # pandas 3 warns that infer_freq will return an offset;
        warnings.simplefilter("ignore")  # date_range takes either
        freq = pd.infer_freq(index[-min(len(index), 30):]) if len(index) >= 3 else None
    if freq:
        return pd.date_range(last, periods=steps + 1, freq=freq)[1:]
    step = pd.Timedelta(np.median(np.diff(index.to_numpy())))
    return pd.DatetimeIndex([last + step * (k + 1) for k in range(steps)])
