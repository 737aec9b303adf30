"""Future forecasts and walk-forward backtests, in price units, from a model directory.

Every forecast for a row is made from rows strictly before it: one batched prediction over
every input window of the series, never a Python loop calling the model per row.
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from forecast import baselines, evaluation, intervals, metrics
from forecast.bundle import Bundle
from forecast.config import DEFAULT_INTERVAL, ENGINES, check_interval, median_index
from forecast.calendar import future_dates_of_series
from forecast.data.tables import read_tables
from forecast.data.panel import Panel, panel_from_tables, unique_sorted
from forecast.console import warn as warning
from forecast.errors import DataError, ModelDirError, UsageError
from forecast.evaluation import SeriesBand, pooled, score_series
from forecast.transforms import (SeriesScaler, model_inputs, outputs_to_prices,
                                 transform_offset)
from forecast.windows import (origin_prices, predict_windows, prepare_panel, recent_of,
                              series_centers, tied_columns)

Predictor = Callable[[np.ndarray], np.ndarray]
SEGMENTS = ("train", "validation", "test")
#: The network's outputs are scaled steps (or levels) of its training data, about -1..1,
#: or of its inputs' size: outputs beyond this many times that are a damaged model's.
OUTPUT_LIMIT = 1e6
#: Origins fed back beyond the horizon at a time (their windows are copied: memory bound).
RECURSE_CHUNK = 65536


def load_predictor(bundle: Bundle, engine: str = "auto") -> Predictor:
    """A function (origins, window, features) scaled inputs -> (origins, horizon) outputs,
    or (origins, horizon, quantiles) for a quantile model.

    ``auto`` uses the NumPy engine when the directory has its weights (no TensorFlow
    import), else Keras; ``numpy`` and ``keras`` force one. Outputs that are no forecast
    (``checked_predictor``) are a ModelDirError naming the file.
    """
    if engine == "numpy" or (engine == "auto" and bundle.has_numpy_engine):
        if not bundle.has_numpy_engine:
            raise UsageError(f"{bundle.path} has no weights.npz for the NumPy engine; "
                             "use --engine keras or retrain")
        return checked_predictor(bundle.load_numpy(), bundle.path / "weights.npz")
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}; got '{engine}'")
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    from forecast.training import tensorflow_memory

    model = bundle.load_keras()

    @tensorflow_memory()
    def predict(X: np.ndarray) -> np.ndarray:
        out = model.predict(np.ascontiguousarray(X, np.float32), batch_size=1024, verbose=0)
        return np.asarray(out, dtype=np.float64)
    return checked_predictor(predict, bundle.path / "model.keras")


def checked_predictor(predict: Predictor, source) -> Predictor:
    """``predict``, refusing (ModelDirError naming ``source``) outputs that are not finite
    or beyond OUTPUT_LIMIT times the size of finite inputs: a damaged model's."""
    def checked(X: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.asarray(predict(X), dtype=np.float64)
        inputs = np.asarray(X)
        if out.size and np.isfinite(inputs).all():
            limit = OUTPUT_LIMIT * (1.0 + np.abs(inputs).max(initial=0.0))
            bad = ~(np.abs(out) <= limit)
            if bad.any():
                raise ModelDirError(f"{source} produces non-finite forecasts (network outputs "
                                    f"of {out[bad].flat[0]:g}); retrain the model")
        return out
    checked.source = source
    return checked


def read_for_model(sources: Sequence[str], bundle: Bundle, *, series_column: str | None = None,
                   wide: bool | None = None, stdin=None, warn=None,
                   date_column: str | None = None, missing: str | None = None,
                   date_format: str | None = None, decimal: str | None = None,
                   encoding: str | None = None) -> Panel:
    """Read PRICES with the model's columns (case-insensitive); say which are missing.

    The layout options default to the model's own (a model trained ``--wide`` reads wide
    files); a long file's series column is detected as in training. Options not given are
    decided from the files' own columns, and where those leave the date order or decimal
    separator open, as the model's training file was read.
    """
    d, columns = bundle.config.data, bundle.config.columns
    wide = d.wide if wide is None else wide
    if list(sources).count("-") > 1:
        raise UsageError("stdin (-) can be given only once")
    tables = read_tables(sources, stdin, encoding)
    inputs = columns[:len(columns) - len(d.extra)]
    for table in tables:
        absent = _absent(table, inputs)
        if absent and not wide:
            raise DataError(f"{table.source} lacks column(s) {', '.join(absent)} that the model "
                            f"in {bundle.path} was trained on; columns are: "
                            f"{', '.join(table.cells.columns)}")
    known = {c.lower() for c in tables[0].cells.columns}
    if date_column is None and d.date_column and d.date_column.lower() in known:
        date_column = d.date_column
    if series_column is None and d.series_column and d.series_column.lower() in known:
        series_column = d.series_column

    def read(date_format, decimal):
        return panel_from_tables(tables, target=columns[0],
                                 features=[] if wide else inputs[1:], extra=d.extra,
                                 extra_optional=True, date_column=date_column,
                                 series_column=series_column, wide=wide,
                                 missing=missing or d.missing, warn=warn,
                                 date_format=date_format, decimal=decimal)
    given = (date_format, decimal)
    trained = (date_format or d.date_format, decimal or d.decimal)
    try:  # what the file's own columns settle comes first: it cannot be misread
        panel = read(*given)
    except DataError:
        if trained == given:
            raise
        first = sys.exc_info()[1]
        try:  # what they leave open, the training file's --date-format and --decimal settle
            panel = read(*trained)
        except DataError:
            raise first from None
    # The columns its derived inputs read (High, Low) are checked last, so that a file's
    # own problems (dates, cells) are named first.
    absent = [c for c in d.extra if panel.column(c) is None]
    if absent:
        raise DataError(f"{tables[0].source} lacks column(s) {', '.join(absent)} that the "
                        f"model in {bundle.path} derives its {', '.join(d.derived or [])} "
                        f"input(s) from; columns are: {', '.join(tables[0].cells.columns)}")
    return panel


def _absent(table, names: Sequence[str]) -> list[str]:
    known = {c.lower() for c in table.cells.columns}
    return [c for c in names if c.lower() not in known]


def scaler_for(bundle: Bundle, panel: Panel, warn=None) -> SeriesScaler:
    """The scaling of each series of ``panel``: the stored one for series the model was
    trained on, else (a new ticker) one fit on that series' own rows dated before the
    model's test start (all its rows when it has too few there). A one-series model applied
    to one series uses its own scaling whatever the file is called."""
    trained = bundle.scaler
    if not bundle.multi and not panel.multi:
        return trained.subset([0], names=panel.names)
    picked = [trained.index(name) for name in panel.names]
    new = [name for name, s in zip(panel.names, picked) if s is None]
    if not new:
        return trained.subset(picked, names=panel.names)
    kind = bundle.config.training.target_transform
    offset = transform_offset(kind)
    transformed, offsets = model_inputs(panel, kind, bundle.config.data.derived)
    test_start = bundle.config.facts.test_start
    cut = pd.Timestamp(test_start) if test_start else panel.dates.max() + pd.Timedelta(1)
    before = np.array([np.searchsorted(panel.dates.asi8[panel.rows(s)], cut.value) - offset
                       for s in range(panel.n_series)])
    own = np.diff(offsets)
    fit_rows = np.where(before >= 2, before, own)
    fallback = SeriesScaler.fit(transformed, offsets, fit_rows, panel.names,
                                tied_columns(panel, kind, bundle.config.data.derived or []))
    series = np.repeat(np.arange(panel.n_series), own)
    local = np.arange(len(transformed)) - np.repeat(offsets[:-1], own)
    use = local < fit_rows[series]
    scaled = fallback.transform(transformed, series)[:, 0]
    statistic = "median" if bundle.config.training.loss == "mae" \
        or bundle.config.model.quantiles else "mean"
    fallback = fallback.with_center(series_centers(scaled, series, use, panel.n_series,
                                                   statistic))
    (warn or warning)(f"{len(new)} series not in the model's training data ({', '.join(new[:10])}"
                    f"{', ...' if len(new) > 10 else ''}): each is scaled on its own rows "
                    f"dated before {cut.date()} (all its rows where it has fewer)")
    return trained.subset(picked, fallback, names=panel.names)


class Forecaster:
    """A model directory, its predictor and a panel: forecasts from every origin of every
    series, in price units (a quantile model's median is its point forecast)."""

    def __init__(self, bundle: Bundle, prices: Panel, predictor: Predictor, warn=None):
        cfg = bundle.config
        self.bundle, self.predictor = bundle, predictor
        self.window, self.horizon = cfg.model.window, cfg.model.horizon
        self.kind = cfg.training.target_transform
        self.levels = [float(q) for q in cfg.model.quantiles]
        self.derived = list(cfg.data.derived or [])
        needed = self.window + transform_offset(self.kind)
        short = prices.lengths < needed
        if short.all() or (short.any() and not prices.multi):
            longest = int(prices.lengths.max())
            per = " in its longest series" if prices.multi else ""
            raise DataError(f"{prices.source} has {longest} usable row(s){per}; the model "
                            f"needs at least {needed} (its window of {self.window}"
                            f"{' plus 1 for the log-return' if needed > self.window else ''})")
        if short.any():
            names = [prices.names[s] for s in np.flatnonzero(short)]
            (warn or warning)(f"left out {len(names)} series shorter than the model's window "
                            f"({needed} rows): {', '.join(names[:10])}")
            prices = prices.take(np.flatnonzero(~short))
        self.prices = prices
        self.warn = warn or warning
        self.scaler = scaler_for(bundle, prices, warn)

    @functools.cached_property
    def prepared(self):
        """The panel transformed, scaled and indexed into windows (``prepare_panel``)."""
        return self._prepare(self.prices)

    def _prepare(self, panel: Panel):
        return prepare_panel(panel, self.kind, self.window, self.horizon, scaler=self.scaler,
                             derived=self.derived)

    @property
    def target(self) -> np.ndarray:
        """(rows,) the target prices of every series, end to end."""
        return self.prices.values[:, 0]

    @property
    def median_index(self) -> int | None:
        """The median's index among a quantile model's levels (None: a point model)."""
        return median_index(self.levels) if self.levels else None

    def point(self, outputs: np.ndarray) -> np.ndarray:
        """(k, steps) point outputs: the outputs, or a quantile model's median level."""
        return outputs if self.median_index is None else outputs[..., self.median_index]

    @functools.cached_property
    def volatility(self) -> np.ndarray:
        """(rows,) each row's recent volatility within its own series."""
        return self._volatility(self.prices)

    def _volatility(self, panel: Panel) -> np.ndarray:
        space = self.bundle.calibration.space
        return np.concatenate([intervals.volatility(panel.target_of(s), space)
                               for s in range(panel.n_series)])

    @functools.cached_property
    def origins(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """starts, series, rows of every origin (see ``Prepared.origins``)."""
        return self.prepared.origins()

    @functools.cached_property
    def outputs(self) -> np.ndarray:
        """(origins, horizon[, quantiles]) network outputs from every origin, in batched
        chunks, computed once."""
        return predict_windows(self.predictor, self.prepared, self.origins[0])

    def prices_from(self, use: np.ndarray) -> np.ndarray:
        """(k, horizon[, quantiles]) forecasts in price units from the origins selected by
        ``use`` (origins,); each quantile level's path on its own."""
        _, series, rows = (a[use] for a in self.origins)
        return self.checked_prices(origin_prices, self.prepared, self.prices, self.kind,
                                   self.outputs[use], series, rows)

    def checked_prices(self, convert: Callable[..., np.ndarray], *args) -> np.ndarray:
        """``convert(*args)``, model outputs to prices, refused (ModelDirError) unless every
        price is finite, and positive for a log-return model (whose prices are the last
        price times exp of the steps: 0 when they underflow)."""
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            prices = convert(*args)
        good = np.isfinite(prices)
        if self.kind == "log-return":
            good &= prices > 0
        if not good.all():
            source = getattr(self.predictor, "source", None)
            files = f"{source.name}, scaler.json" if source is not None else "scaler.json"
            raise ModelDirError(f"the model in {self.bundle.path} ({files}) produces "
                                "non-finite forecasts; retrain the model")
        return prices

    def backtest_rows(self, step: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which origins have a ``step``-ahead target inside their series.

        Returns:
            use (origins,) bool; and for the backtested rows, in the order ``backtest``
            gives them: series (k,) and rows (k,), the price row within each series.
        """
        if step < 1:
            raise UsageError(f"--step must be at least 1, got {step}")
        self._check_recursive(step, "--step")
        _, series, rows = self.origins
        target_rows = rows + step - 1
        use = target_rows < self.prices.lengths[series]
        if not use.any():
            raise DataError(f"{self.prices.source} has {int(self.prices.lengths.max())} rows: "
                            f"none has a full window of {self.window} rows before it; pass "
                            "more rows")
        return use, series[use], target_rows[use]

    def backtest(self, step: int = 1, level: float | None = None,
                 quantiles: bool = False) -> pd.DataFrame:
        """The ``step``-ahead forecast of every row that has one, made ``step`` rows earlier.

        Returns:
            DataFrame with [series,] date, actual, predicted (and lower, upper with
            ``level``; one column per trained level, q0.1, ..., with ``quantiles``).
        """
        self._check_quantiles(quantiles)
        use, series, rows = self.backtest_rows(step)
        at = self.prices.offsets[series] + rows
        predicted, raw = self.ahead(step, use)
        out = pd.DataFrame({"date": self.prices.dates[at], "actual": self.target[at],
                            "predicted": predicted})
        if self.prices.multi:
            out.insert(0, "series", np.asarray(self.prices.names, dtype=object)[series])
        if level is not None:
            out["lower"], out["upper"] = self._band(predicted, at - step, level, step, raw)
        if quantiles:
            self._add_quantiles(out, self.published(raw, step))
        return out

    def ahead(self, step: int, use: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Forecasts ``step`` ahead from the origins selected by ``use`` (origins,), in
        price units: the point forecasts (k,) and a quantile model's uncalibrated
        quantiles (k, levels) (None for a point model). Direct up to the horizon; beyond
        it the point forecast is fed back (``_recurse``) and the quantiles are the last
        direct step's, their spread widened by sqrt(step / horizon) around that point
        forecast (``intervals.widen``; docs/quantiles.md says why)."""
        direct = self.prices_from(use)
        if step <= self.horizon:
            prices = direct[:, step - 1]
            return self.point(prices), (prices if self.levels else None)
        starts, series, rows = (a[use] for a in self.origins)
        anchor = self.target[self.prices.offsets[series] + rows - 1]
        outputs = self.point(self.outputs[use])
        point = np.empty(len(starts))
        for at in range(0, len(starts), RECURSE_CHUNK):   # windows of a chunk at a time
            part = slice(at, at + RECURSE_CHUNK)
            path = self._recurse(self.prepared.inputs(starts[part]), outputs[part], step,
                                 series[part], anchor[part])
            point[part] = self.checked_prices(outputs_to_prices, path[:, :step], series[part],
                                              self.scaler, self.kind, anchor[part])[:, step - 1]
        if not self.levels:
            return point, None
        return point, intervals.widen(direct[:, -1], self.median_index, point,
                                      step / self.horizon, self.bundle.quantile.space)

    def published(self, raw: np.ndarray, step: int) -> np.ndarray:
        """(k, levels) published quantiles ``step`` ahead from the uncalibrated ``raw``:
        CQR-calibrated per step, by the model's own calibration up to the horizon and,
        beyond it, by one fit now on this step's forecasts of the validation rows."""
        if step <= self.horizon:
            return self.bundle.quantile.calibrated(raw, step)
        return self.step_calibration(step).calibrated(raw, 1)

    @functools.lru_cache(maxsize=None)
    def step_calibration(self, step: int) -> intervals.QuantileIntervals:
        """The CQR of every trained central pair for forecasts ``step`` (beyond the
        horizon) ahead, from the ``step``-ahead forecasts of the model's validation rows
        (dated from its validation start to its test start; never a test row), pooled over
        series, as training calibrates the steps up to the horizon."""
        _, series, rows = self.origins
        target = rows + step - 1
        bounds = np.array([self.split_rows(s) for s in range(self.prices.n_series)])
        use = (target >= bounds[series, 0]) & (target < bounds[series, 1])
        if use.any():
            _, raw = self.ahead(step, use)
        else:
            raw = np.empty((0, len(self.levels)))
        actual = self.target[self.prices.offsets[series[use]] + target[use]]
        return intervals.step_intervals(self.bundle.quantile, actual, raw, step,
                                        self.prices.source)

    def _check_recursive(self, steps: int, flag: str) -> None:
        """Refuse forecasts beyond the horizon for a model that reads inputs other than the
        target and its derived volatility: their future values are unknown."""
        features = self.prices.input_columns[1:]
        if steps > self.horizon and features:
            raise UsageError(f"{flag} {steps} is beyond the model's horizon ({self.horizon}) "
                             f"and the model also reads {', '.join(features)}, "
                             f"whose future values are unknown; use {flag} "
                             f"{self.horizon} or retrain with a longer horizon "
                             "(`forecast train --horizon N`)")

    def future(self, steps: int | None = None, level: float | None = None,
               quantiles: bool = False) -> pd.DataFrame:
        """The next ``steps`` values after each series' last row: direct up to the horizon,
        then recursively feeding the point forecasts back (models whose inputs are the
        target and its derived volatility inputs only; these are held at their mean over
        the last window where they cannot be rebuilt from the forecast).

        Returns:
            DataFrame with [series,] date, predicted (and lower, upper with ``level``;
            q0.1, ... with ``quantiles``, up to the horizon).
        """
        steps = self.horizon if steps is None else steps
        if steps < 1:
            raise UsageError(f"--steps must be at least 1, got {steps}")
        self._check_quantiles(quantiles)
        self._check_recursive(steps, "--steps")
        if level is not None:
            check_level(self.bundle.calibration, level, steps)
        # Each series' last rows only (``recent_of``): the direct forecast (steps
        # 1..horizon) reads its last window; beyond it, forecasts are fed back in, a window
        # at a time, into a buffer of fixed size (linear in steps).
        panel = recent_of(self.prices, self.window, self.kind)
        prepared = self.prepared if panel is self.prices else self._prepare(panel)
        dates = future_dates_of_series(panel, steps)   # before the long work
        last = prepared.offsets[1:] - self.window
        windows = prepared.inputs(last)
        raw = np.asarray(self.predictor(windows), dtype=np.float64)
        series = np.arange(panel.n_series)
        ends = panel.offsets[1:] - 1
        anchor = panel.values[ends, 0]
        outputs = self.point(raw)
        if steps > self.horizon:
            outputs = self._recurse(windows, outputs, steps, series, anchor)
        predicted = self.checked_prices(outputs_to_prices, outputs[:, :steps], series,
                                        self.scaler, self.kind, anchor)
        out = pd.DataFrame({"date": np.concatenate([d.to_numpy() for d in dates]),
                            "predicted": predicted.ravel()})
        if panel.multi:
            out.insert(0, "series", np.repeat(np.asarray(panel.names, dtype=object), steps))
        qprices = None
        if self.levels:   # (series * steps, levels); widened beyond the horizon
            direct = self.checked_prices(outputs_to_prices, raw, series, self.scaler,
                                         self.kind, anchor)
            qprices = np.full((panel.n_series, steps, len(self.levels)), np.nan)
            qprices[:, :min(steps, self.horizon)] = direct[:, :steps]
            for k in range(self.horizon + 1, steps + 1 if quantiles else 0):
                qprices[:, k - 1] = intervals.widen(direct[:, -1], self.median_index,
                                                    predicted[:, k - 1], k / self.horizon,
                                                    self.bundle.quantile.space)
            qprices = qprices.reshape(-1, len(self.levels))
        ahead = np.tile(np.arange(1, steps + 1), panel.n_series)
        if level is not None:
            volatility = self.volatility if panel is self.prices else self._volatility(panel)
            out["lower"], out["upper"] = self._band(
                predicted.ravel(), np.repeat(ends, steps), level, ahead, qprices, volatility)
        if quantiles:
            published = np.empty_like(qprices)
            for k in range(1, steps + 1):
                published[ahead == k] = self.published(qprices[ahead == k], k)
            self._add_quantiles(out, published)
        return out

    def _recurse(self, windows: np.ndarray, outputs: np.ndarray, steps: int,
                 series: np.ndarray, anchor: np.ndarray) -> np.ndarray:
        """Extend (series, horizon) point outputs to at least ``steps`` by feeding them back:
        each forecast step becomes an input row (its scaled target, its absolute return,
        and any other derived input held at its mean over the last window). Buffers of
        fixed size and one new chunk a round keep it linear in ``steps``."""
        scaler, n, horizon = self.scaler, len(series), outputs.shape[1]
        total = steps + horizon
        out = np.empty((n, total))
        out[:, :horizon] = outputs
        inputs = np.empty((n, self.window + total, windows.shape[2]))
        inputs[:, :self.window] = windows
        held = windows.mean(axis=1)                   # (series, columns)
        first = len(self.prices.input_columns)
        last_price, done, filled = np.asarray(anchor, dtype=float), 0, horizon
        while filled < steps:
            new = out[:, done:filled]                 # forecasts not yet turned into rows
            path = self.checked_prices(outputs_to_prices, new, series, scaler, self.kind,
                                       last_price)
            before = np.concatenate([last_price[:, None], path[:, :-1]], axis=1)
            rows = inputs[:, self.window + done:self.window + filled]
            rows[:, :, 0] = new + scaler.center_[series][:, None]
            for j, name in enumerate(self.derived):
                col = first + j
                if name == "abs-return":
                    moved = np.abs(np.log(path / before))
                    rows[:, :, col] = moved * scaler.scale_[series, col][:, None] \
                        + scaler.min_[series, col][:, None]
                else:
                    rows[:, :, col] = held[:, col][:, None]
            last_price, done = path[:, -1], filled
            recent = inputs[:, filled:filled + self.window]
            more = self.point(np.asarray(self.predictor(recent), dtype=np.float64))
            take = min(more.shape[1], total - filled)
            out[:, filled:filled + take] = more[:, :take]
            filled += take
        return out[:, :filled]

    def _check_quantiles(self, quantiles: bool) -> None:
        if quantiles and not self.levels:
            raise UsageError(f"the model in {self.bundle.path} has no quantile outputs (it was "
                             "trained with --no-quantiles); retrain it with --quantiles "
                             "0.1,0.5,0.9, or use --interval")

    def _add_quantiles(self, table: pd.DataFrame, published: np.ndarray) -> None:
        for j, q in enumerate(self.levels):
            table[metrics.quantile_name(q)] = published[:, j]

    def naive_scale(self, s: int) -> float:
        """MASE's denominator for series ``s``: stored at training, else the naive MAE of
        its own rows dated before the model's test start (all rows if none)."""
        facts = self.bundle.config.facts
        name = self.prices.names[s]
        stored = facts.naive_scales or {}
        if not self.bundle.multi and not self.prices.multi and stored:
            return float(next(iter(stored.values())))
        if name in stored:
            return float(stored[name])
        if facts.naive_scale is not None and not self.bundle.multi:  # format 1
            return float(facts.naive_scale)
        target = self.prices.target_of(s)
        test_start = facts.test_start
        cut = np.searchsorted(self.prices.dates.asi8[self.prices.rows(s)],
                              pd.Timestamp(test_start).value) if test_start else len(target)
        return metrics.naive_scale(target[:cut] if cut >= 2 else target)

    def split_rows(self, s: int) -> tuple[int, int]:
        """Series ``s``'s rows before the model's validation and test starts (by date)."""
        facts = self.bundle.config.facts
        stamps = self.prices.dates.asi8[self.prices.rows(s)]
        cut = [np.searchsorted(stamps, pd.Timestamp(start).value) if start else len(stamps)
               for start in (facts.val_start, facts.test_start)]
        return int(cut[0]), int(cut[1])

    @functools.cached_property
    def garches(self) -> list[baselines.Garch | None]:
        """Each series' GARCH(1,1) baseline: the one stored at training for a series of the
        same name, else one fit now on the series' rows dated before the model's
        validation start (None: too few of them)."""
        stored = self.bundle.garch
        out = []
        for s, name in enumerate(self.prices.names):
            if name in stored:
                out.append(stored[name])
            else:
                out.append(baselines.fit_garch(self.prices.target_of(s)[:self.split_rows(s)[0]])[0])
        return out

    def evaluate(self, level: float) -> dict:
        """One-step scores of model, naive and drift per series, and interval figures of the
        model's band beside the rolling-volatility conformal and GARCH(1,1) bands: on all
        rows, and per segment of the training data (train / validation / test, by date;
        rows after it count as test), each with their aggregate over series."""
        table = self.backtest(1, level, quantiles=bool(self.levels))
        _, series, rows = self.backtest_rows(1)
        facts = self.bundle.config.facts
        segment = segments(table["date"], facts.val_start, facts.test_start)
        predicted = table["predicted"].to_numpy()
        lower, upper = table["lower"].to_numpy(), table["upper"].to_numpy()
        published = table[[metrics.quantile_name(q) for q in self.levels]].to_numpy() \
            if self.levels else None
        band = "quantiles" if self.bundle.quantile.uses_quantiles(level) else "conformal"
        result = {"source": self.prices.source, "model_dir": str(self.bundle.path),
                  "interval_band": band}
        scales = [self.naive_scale(s) for s in range(self.prices.n_series)]
        calibration_rows = [np.arange(*self.split_rows(s)) for s in range(self.prices.n_series)]
        for name, mask in [("all", np.ones(len(rows), bool))] + [
                (s, segment == s) for s in SEGMENTS]:
            if not mask.any():
                continue
            per_series = {}
            for s in unique_sorted(series[mask]):
                use = mask & (series == s)
                per_series[self.prices.names[s]] = score_series(
                    self.prices.target_of(int(s)), rows[use], predicted[use], scales[s],
                    SeriesBand(level, lower[use], upper[use], self.garches[s],
                               calibration_rows[s],
                               None if published is None else published[use], self.levels,
                               band))
            result[name] = pooled(per_series)
        return result

    def var_backtests(self, steps: Sequence[int]) -> dict:
        """VaR backtests of every tail level (the trained levels but the median) ``step``
        ahead for each of ``steps``: the model's published quantiles beside GARCH(1,1)-t's
        and the rolling-volatility conformal band's on exactly the same rows, per series and
        pooled (``evaluation.var_pooled``), on all rows and per segment.

        Returns:
            {"levels", "note", "steps": {"1": {segment: {"series": {name: ...},
            "pooled": ...}}}} (``evaluation.var_series`` per series).
        """
        if not self.levels:
            raise UsageError(f"--var backtests quantiles; the model in {self.bundle.path} has "
                             "none (it was trained with --no-quantiles); retrain it with "
                             "--quantiles 0.01,0.05,0.5,0.95,0.99")
        tails = [q for q in self.levels if q != 0.5]
        columns = [metrics.quantile_name(q) for q in self.levels]
        tail_cols = [self.levels.index(q) for q in tails]
        facts = self.bundle.config.facts
        out: dict = {"levels": tails, "note": evaluation.VAR_POOLED_NOTE, "steps": {}}
        for step in steps:
            table = self.backtest(step, quantiles=True)
            _, series, rows = self.backtest_rows(step)
            published = table[columns].to_numpy()[:, tail_cols]
            segment = segments(table["date"], facts.val_start, facts.test_start)
            by_segment: dict = {}
            losses: dict = {}     # segment -> (dates, {method: (rows, tails)} pinball / scale)
            for s in unique_sorted(series):
                mine = series == s
                prices, r = self.prices.target_of(int(s)), rows[mine]
                garch = self.garches[s]
                methods = {
                    "model": published[mine],
                    "garch": None if garch is None else baselines.garch_quantiles(
                        garch, prices, r, step, tails),
                    "rolling_conformal": baselines.rolling_conformal_quantiles(
                        prices, r, np.arange(*self.split_rows(int(s))), step, tails)}
                dates = table["date"].to_numpy()[mine]
                for name, mask in [("all", np.ones(len(r), bool))] + [
                        (g, segment[mine] == g) for g in SEGMENTS]:
                    if mask.any():
                        by_segment.setdefault(name, {})[self.prices.names[s]] = \
                            evaluation.var_series(prices[r[mask]], {
                                k: None if v is None else v[mask] for k, v in methods.items()},
                                tails, self.naive_scale(int(s)), step)
                        if all(v is not None for v in methods.values()):
                            losses.setdefault(name, []).append((dates[mask], {
                                k: metrics.pinball_rows(prices[r[mask]], v[mask], tails)
                                / self.naive_scale(int(s)) for k, v in methods.items()}))
            out["steps"][str(step)] = {
                name: {"pooled": evaluation.var_pooled(per), "series": per,
                       "mcs": self._mcs(losses.get(name, []), tails)}
                for name, per in by_segment.items()}
        return out

    @staticmethod
    def _mcs(parts: list, tails: list[float]) -> dict:
        """Per tail level, the 90% Model Confidence Set of model, GARCH-t and rolling
        conformal on the pinball losses of the series that have all three
        (``evaluation.var_mcs``)."""
        if not parts:
            return {metrics.quantile_name(q): None for q in tails}
        dates = np.concatenate([d for d, _ in parts])
        return {metrics.quantile_name(q): evaluation.var_mcs(
            {k: np.concatenate([m[k][:, j] for _, m in parts]) for k in parts[0][1]}, dates)
            for j, q in enumerate(tails)}

    def _band(self, predicted, origins, level, steps, quantiles=None, volatility=None):
        """(lower, upper) for forecasts made at ``origins`` (rows of the panel, or of the
        rows whose ``volatility`` is given), ``steps`` ahead (an int, or one per forecast):
        the network's calibrated quantiles where the interval guard kept them
        (``quantiles``: (k, levels) in price units), else the rolling-volatility conformal
        band."""
        volatility = self.volatility if volatility is None else volatility
        check_level(self.bundle.calibration, level, int(np.max(steps)))
        predicted = np.asarray(predicted, dtype=float)
        steps = np.broadcast_to(steps, predicted.shape)
        origins = np.broadcast_to(origins, predicted.shape)
        lower, upper = np.empty_like(predicted), np.empty_like(predicted)
        for k in unique_sorted(steps):
            sel = steps == k
            lower[sel], upper[sel] = intervals.prediction_band(
                level, int(k), predicted[sel], volatility[origins[sel]],
                self.bundle.calibration, self.bundle.quantile,
                None if quantiles is None else quantiles[sel])
        return lower, upper


def segments(dates: pd.Series, val_start: str | None, test_start: str | None) -> np.ndarray:
    """Label each date train / validation / test by the training data's split dates."""
    dates = pd.DatetimeIndex(dates)
    out = np.full(len(dates), "test", dtype=object)
    if val_start and test_start:
        out[dates < pd.Timestamp(test_start)] = "validation"
        out[dates < pd.Timestamp(val_start)] = "train"
    return out


def check_level(calibration: intervals.Calibration, level: float, max_step: int = 1) -> None:
    """Refuse an interval level outside INTERVAL_RANGE (``check_interval``), or wider than
    the calibration forecasts of steps 1..``max_step`` can support (its band would be
    infinite)."""
    check_interval(level)
    steps = range(1, min(max_step, len(calibration.step_scores)) + 1)
    widest = min(steps, key=calibration.widest_level)
    if level > calibration.widest_level(widest):
        n = calibration.scores_count(widest)
        most = math.floor(calibration.widest_level(widest) * 1000) / 1000
        ahead = f" {widest} steps ahead" if widest > 1 else ""
        raise UsageError(f"--interval {level:g} is wider than the model's {n} calibration "
                         f"forecast(s){ahead} can support (at most {n}/{n + 1} = "
                         f"{calibration.widest_level(widest):.4g}); use --interval {most:g} or "
                         "less, or retrain with more validation rows "
                         "(`forecast train --val-fraction F`)")


def default_level(calibration: intervals.Calibration, max_step: int = 1,
                  warn=None) -> float:
    """DEFAULT_INTERVAL, or the widest level the calibration supports if that is less (said
    on stderr): for commands whose --interval was not given."""
    widest = min(calibration.widest_level(k)
                 for k in range(1, min(max_step, len(calibration.step_scores)) + 1))
    if DEFAULT_INTERVAL <= widest:
        return DEFAULT_INTERVAL
    level = math.floor(widest * 1000) / 1000
    (warn or warning)(f"the model's calibration supports intervals up to {level:g} only; "
                      f"showing {level:g} instead of {DEFAULT_INTERVAL:g}")
    return level
