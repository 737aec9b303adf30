"""Fit a model on the training windows, stop early on validation loss, and score it.

Progress goes to stderr (a bar on a terminal, a line per epoch once training has taken a
second); Keras's own progress bar is never used because it writes to stdout. Notes (the
device, the windows, the guards' verdicts) are held until the command ends (see
``console.HeldLines``), so a failing train prints only its error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from forecast import baselines, intervals, metrics
from forecast.config import DEFAULT_INTERVAL, DERIVED_SOURCES, GUARD_Z, ForecastConfig
from forecast.data.dates import option_date
from forecast.data.panel import Panel, unique_sorted
from forecast.devices import DeviceSetup, setup_devices
from forecast import console
from forecast.console import HeldLines, progress
from forecast.errors import OUT_OF_MEMORY, DataError, ForecastError, TrainingError, where
from forecast.metrics import diebold_mariano
from forecast.models import (PinballLoss, base_index, build_model, cudnn_eligible,
                             quantile_start, summary_text)
from forecast.transforms import SeriesScaler, transform_offset
from forecast.windows import (DateSplit, Prepared, origin_prices, predict_windows,
                              prepare_panel, rows_needed, split_dates)

#: Batches run per call into the compiled training step: fewer Python round trips, which
#: is most of the cost for the small recurrent models this tool trains.
STEPS_PER_EXECUTION = 16


@dataclass
class Trained:
    """What a training run produced, ready for the model directory."""

    model: keras.Model
    scaler: SeriesScaler
    config: ForecastConfig
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    calibration: intervals.Calibration | None
    #: The quantile model's CQR calibrations and interval-guard verdicts (intervals.json).
    quantile: intervals.QuantileIntervals = dataclasses.field(
        default_factory=intervals.QuantileIntervals.point)
    #: Each series' GARCH(1,1) baseline as JSON, None where it has none (garch.json).
    garch: dict[str, Any] = dataclasses.field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Same seed, same CPU result: Python, NumPy and TensorFlow seeds plus deterministic ops."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def make_dataset(prepared: Prepared, starts: np.ndarray, batch_size: int, shuffle: bool,
                 seed: int, replicas: int = 1, data: tf.Tensor | None = None) -> tf.data.Dataset:
    """A batched, prefetched tf.data pipeline of (window, target) pairs gathered by index.

    Only the (samples,) start rows travel through the pipeline; each batch of
    (batch, window, features) inputs and (batch, horizon) targets is gathered from the
    panel's one contiguous array, so no window is ever materialised beyond its batch.
    ``data`` is that array as a tensor (pass one to share it between datasets).

    With several replicas every batch must split evenly between them (Keras fails on a
    ragged last batch under MirroredStrategy), so up to ``replicas - 1`` windows are left out.
    """
    starts = np.asarray(starts, dtype=np.int64)
    starts = starts[: len(starts) - len(starts) % replicas]
    if data is None:
        data = dataset_tensor(prepared)
    window, span = prepared.window, prepared.window + prepared.horizon
    features = prepared.scaled.shape[1]

    def gather(index):
        block = tf.gather(data, index[:, None] + tf.range(span, dtype=tf.int64))
        return block[:, :window, :features], block[:, window:, features]

    if shuffle:
        # A new permutation of the starts each epoch, drawn in the graph: a tf.data shuffle
        # buffer as long as the windows would hold a tensor per window (gigabytes for
        # millions of windows), this holds one array of start rows.
        every = tf.constant(starts)
        ds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        ds = ds.flat_map(lambda draw: tf.data.Dataset.from_tensor_slices(
            tf.random.experimental.stateless_shuffle(every, seed=tf.stack([draw, seed]))))
        # flat_map hides the length; Keras needs it to run every epoch to its end
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(starts)))
    else:
        ds = tf.data.Dataset.from_tensor_slices(starts)
    return ds.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE,
                                    deterministic=True).prefetch(tf.data.AUTOTUNE)


def dataset_tensor(prepared: Prepared) -> tf.Tensor:
    """The panel as one (trows, features + 1) float32 tensor: the scaled inputs, then the
    network's target column (see ``Prepared.target``)."""
    columns = prepared.scaled.shape[1]
    table = np.empty((len(prepared.scaled), columns + 1), np.float32)   # float32 from the
    table[:, :columns] = prepared.scaled                   # start: no float64 copy of it
    table[:, columns] = prepared.target
    return tf.constant(table)


class StderrProgress(keras.callbacks.Callback):
    """Epoch progress on a stream (stderr): a live bar on a terminal, and a line per epoch
    once training has taken longer than ``console.PROGRESS_AFTER_S`` (the lines of the
    epochs before then come at that moment): a quick training prints no epoch lines, so
    that a failing one prints only its error. On a terminal the bar is erased when done.

    Also stops training at the first non-finite loss and records where.
    """

    def __init__(self, epochs: int, steps: int, stream: IO[str] | None = None):
        super().__init__()
        self.epochs, self.steps = epochs, steps
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.nan_epoch: int | None = None
        self.best = math.inf
        self._start = self._last_draw = 0.0
        self._epoch = 0
        self._began = time.perf_counter()
        self._live = self._drawn = False
        self._pending: list[str] = []   # epoch lines not printed yet

    def on_train_begin(self, logs=None):
        self._began = time.perf_counter()

    def erase_bar(self) -> None:
        """Erase the bar drawn on a terminal (training ended or failed: none left behind)."""
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._stop_nan()
        if not self._live:
            self._show()
        if self.tty and time.perf_counter() - self._last_draw > 0.1:
            self._last_draw = time.perf_counter()
            done = min(batch + 1, self.steps)
            bar = "#" * (20 * done // self.steps)
            self.stream.write(f"\repoch {self._epoch + 1}/{self.epochs}  [{bar:<20}] {done}/{self.steps} "
                              f"loss {float(loss or 0):.6f}")
            self.stream.flush()
            self._drawn = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss, val = float(logs.get("loss", math.nan)), float(logs.get("val_loss", math.nan))
        if not (math.isfinite(loss) and math.isfinite(val)):
            self._stop_nan()
        mark = " *" if val < self.best else ""
        self.best = min(self.best, val)
        line = (f"epoch {epoch + 1}/{self.epochs}  loss {loss:.6f}  val_loss {val:.6f}  "
                f"{time.perf_counter() - self._start:.1f}s{mark}")
        self.erase_bar()
        self._pending.append(line)
        self._show()

    def _show(self) -> None:
        """Print the epoch lines not printed yet, once training has taken long enough; the
        first time, on stderr, the notes held so far come first (``console.release_held``)."""
        if not self._live:
            if time.perf_counter() - self._began <= console.PROGRESS_AFTER_S:
                return
            self._live = True
            self.erase_bar()
            if self.stream is sys.stderr:
                console.release_held()
        for line in self._pending:
            self.stream.write(line + "\n")
        self._pending.clear()
        self.stream.flush()

    def _stop_nan(self):
        if self.nan_epoch is None:
            self.nan_epoch = self._epoch + 1
        self.model.stop_training = True


@contextlib.contextmanager
def tensorflow_memory() -> Iterator[None]:
    """TensorFlow's out-of-memory error (a ResourceExhaustedError from the GPU or the CPU
    allocator) as the tool's one line, OUT_OF_MEMORY (exit 1). A ForecastError, it ends
    only the tune trial that ran out, recorded as that trial's error."""
    try:
        yield
    except tf.errors.ResourceExhaustedError:
        raise ForecastError(OUT_OF_MEMORY) from None


@tensorflow_memory()
def fit(model: keras.Model, prepared: Prepared, sample_dates: np.ndarray,
        config: ForecastConfig, setup: DeviceSetup,
        stream: IO[str] | None = None,
        callbacks: Sequence[keras.callbacks.Callback] = (),
        notes: IO[str] | None = None) -> dict[str, Any]:
    """Train on the training windows with early stopping on the validation windows.

    Args:
        sample_dates: (samples,) int64 date of each sample's first target (for the guard,
            which pools the series of a panel date by date).
        stream: where epoch progress goes (default stderr).
        callbacks: more Keras callbacks (e.g. a tuner's pruning), after the tool's own.
        notes: where the guard's verdict goes (default ``stream``).

    Returns:
        history: "loss", "val_loss" and "seconds" per epoch, and "guard" (see ``guard``).
        The model keeps the weights of the epoch with the lowest validation loss, or its
        starting weights when the baseline guard finds no significant gain (a quantile
        model: its starting median, with the trained spread around it).
    Raises:
        TrainingError: the loss became NaN or infinite (nothing is written then).
    """
    t = config.training
    masks = prepared.masks
    replicas = setup.strategy.num_replicas_in_sync
    batch = t.batch_size * replicas
    data = dataset_tensor(prepared)
    train = make_dataset(prepared, prepared.starts[masks["train"]], batch, True, t.seed,
                         replicas, data)
    # With the guard on, early stopping picks the epoch on the first half of the validation
    # dates and the guard tests on the second half, which that choice never saw.
    stop_rows, guard_rows = split_validation(masks["val"], prepared.horizon, sample_dates) \
        if t.baseline_guard else (masks["val"], None)
    val = make_dataset(prepared, prepared.starts[stop_rows], batch, False, t.seed, replicas,
                       data)
    steps = math.ceil(int(masks["train"].sum()) / batch)
    progress = StderrProgress(t.epochs, steps, stream)
    timer = EpochTimer()
    callbacks = [progress, timer, keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=t.patience, restore_best_weights=True), *callbacks]
    start_weights = model.get_weights()
    try:
        result = model.fit(train, validation_data=val, epochs=t.epochs, callbacks=callbacks,
                           shuffle=False, verbose=0)  # the dataset shuffles itself, seeded
    finally:
        progress.erase_bar()
    if progress.nan_epoch is not None:
        raise TrainingError(f"the training loss became NaN or infinite in epoch "
                            f"{progress.nan_epoch}; nothing was written; try a smaller "
                            "--learning-rate or check the data for extreme values")
    history = {k: [float(v) for v in vals] for k, vals in result.history.items()}
    history["seconds"] = timer.seconds
    if t.baseline_guard:
        starts = prepared.starts[guard_rows]
        history["guard"] = guard(model, start_weights, prepared.inputs(starts),
                                 prepared.targets(starts), t.loss, notes or stream,
                                 sample_dates[guard_rows], config.model.quantiles)
    return history


@tensorflow_memory()
def predict_batched(model: keras.Model, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Model outputs (samples, horizon) as float64, calling the model directly in chunks:
    unlike ``predict`` this works the same under any distribution strategy."""
    X = np.ascontiguousarray(X, np.float32)
    parts = [np.asarray(model(X[i:i + batch], training=False), dtype=float)
             for i in range(0, len(X), batch)]
    return np.concatenate(parts) if parts else np.empty((0, *model.output_shape[1:]))


def split_validation(val: np.ndarray, horizon: int, dates: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Halve the validation mask (samples,) chronologically, by the date of each sample's
    first target (``dates`` (samples,); default: sample order, one series): (first half,
    second half), leaving ``horizon - 1`` dates out between them so no target is in both."""
    if dates is None:
        dates = np.arange(len(val))
    unique = unique_sorted(dates[val])
    cut = len(unique) // 2
    first = val & (dates < unique[cut]) if cut < len(unique) else val.copy()
    gap = cut + horizon - 1
    second = val & (dates >= unique[gap]) if gap < len(unique) else np.zeros_like(val)
    return first, second


def guard(model: keras.Model, start_weights: list, X: np.ndarray, y: np.ndarray, loss: str,
          stream: IO[str] | None = None, dates: np.ndarray | None = None,
          levels: list[float] | None = None) -> dict[str, Any]:
    """Keep the trained network only if it beats its starting forecast (the training mean:
    the drift forecast) on the validation windows by a significant margin.

    The test is a one-sided Diebold-Mariano test on per-window losses (in the training
    loss) over held-out validation windows X (samples, window, features), y (samples,
    horizon). In a panel the series of one date move together, so their loss differences
    are averaged date by date (``dates`` (samples,)) and the test runs on that one series
    of dates. Otherwise the starting weights are restored and the model forecasts the
    average step. Returns the statistic, its p-value and which was kept.

    A quantile model (``levels``) is judged on its median output by absolute error. When
    its start is kept, only the median goes back to the start (``pin_median``): the spread
    around it stays the trained network's, which the interval guard judges on its own.
    """
    base = base_index(levels) if levels else None
    trained = point_outputs(predict_batched(model, X), base)
    trained_weights = model.get_weights()
    model.set_weights(start_weights)
    start = point_outputs(predict_batched(model, X[:1]), base)
    if levels:
        loss = "mae"
        start_head = model.get_layer("forecast").get_weights()
    if loss == "mae":
        diff = np.abs(y - trained).mean(axis=1) - np.abs(y - start).mean(axis=1)
    else:
        diff = ((y - trained) ** 2).mean(axis=1) - ((y - start) ** 2).mean(axis=1)
    if dates is not None and len(diff):
        unique, inverse = unique_sorted(dates, return_inverse=True)
        diff = np.bincount(inverse, weights=diff) / np.bincount(inverse)
    stat = diebold_mariano(diff, y.shape[1])
    p_value = 0.5 * (1 + math.erf(stat / math.sqrt(2)))
    kept = "network" if stat < -GUARD_Z else "start"
    if kept == "network":
        model.set_weights(trained_weights)
    elif levels:
        model.set_weights(trained_weights)
        pin_median(model, start_head, len(levels), base)
    if kept == "start":
        spread = (" for the median; the quantiles around it stay the network's"
                  if levels else "")
        (stream or sys.stderr).write(
            f"forecast: the network did not beat its starting forecast (the "
            f"{'median' if loss == 'mae' else 'mean'} training step, close to the drift "
            f"forecast) on validation (Diebold-Mariano p = {p_value:.2f}); keeping the "
            f"starting forecast{spread}. --no-baseline-guard keeps the network anyway.\n")
    return {"dm_stat": stat, "p_value": p_value, "kept": kept, "dates": int(len(diff))}


def point_outputs(outputs: np.ndarray, base: int | None) -> np.ndarray:
    """(samples, horizon) point forecasts: the outputs, or a quantile model's median level
    ``base`` of (samples, horizon, quantiles)."""
    return outputs if base is None else outputs[..., base]


def pin_median(model: keras.Model, start_head: list[np.ndarray], n_quantiles: int,
               base: int) -> None:
    """Put a quantile model's median back at its start: its columns of the output layer get
    the starting (zero) kernel and bias. The other levels are offsets from the median
    (``MonotoneQuantiles``), so they keep the trained spread around the start."""
    layer = model.get_layer("forecast")
    kernel, bias = layer.get_weights()
    columns = np.arange(bias.shape[0] // n_quantiles) * n_quantiles + base
    kernel[:, columns] = start_head[0][:, columns]
    bias[columns] = start_head[1][columns]
    layer.set_weights([kernel, bias])


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds per epoch (training plus validation)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def compile_model(model: keras.Model, learning_rate: float, loss: Any = "mse",
                  mirrored: bool = False) -> None:
    # Keras 3's multi-step loop fails to trace under MirroredStrategy, so one step there.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  steps_per_execution=1 if mirrored else STEPS_PER_EXECUTION)


def prepare_training(panel: Panel, config: ForecastConfig,
                     warn: Callable[[str], None] | None = None
                     ) -> tuple[Prepared, DateSplit, Panel]:
    """Split by date, leave out series too short to train on, transform, scale each series
    on its training rows only and index the windows; refuse anything non-finite.

    Returns:
        the prepared panel, the split, and the panel of the series trained on.
    """
    m, t = config.model, config.training
    warn = warn or (lambda message: print(f"forecast: warning: {message}", file=sys.stderr))
    offset = transform_offset(t.target_transform)
    starts = [None if value is None else option_date(value, flag, panel.date_order,
                                                     config.data.date_format)
              for value, flag in ((t.val_start, "--val-start"), (t.test_start, "--test-start"))]
    split = split_dates(panel.dates, t.val_fraction, t.test_fraction, *starts, panel.source)
    train_end, val_end = split.bounds(panel.dates, panel.offsets)
    trainable = train_end >= offset + m.window + m.horizon
    if not trainable.any():
        need = rows_needed(m.window, m.horizon, offset, t.val_fraction, t.test_fraction)
        longest = int(panel.lengths.max())
        which = "" if panel.n_series == 1 else " in its longest series"
        raise DataError(f"{panel.source} has {longest} usable row(s){which}; --window "
                        f"{m.window}, --horizon {m.horizon} and the validation/test splits "
                        f"need at least {need} (a training window before the validation start, "
                        f"{split.val_start.date()}); pass more rows or a smaller --window")
    if not trainable.all():
        short = [panel.names[s] for s in np.flatnonzero(~trainable)]
        warn(f"left out of training {len(short)} series with too few rows before "
             f"{split.val_start.date()} for one training window: {', '.join(short[:20])}"
             f"{', ...' if len(short) > 20 else ''}")
        panel = panel.take(np.flatnonzero(trainable))
    config.data.derived = resolve_derived(panel, config.data.derived)
    config.data.extra, config.columns = list(panel.extra), list(panel.columns)
    prepared = prepare_panel(panel, t.target_transform, m.window, m.horizon, split=split,
                             center="median" if t.loss == "mae" or m.quantiles else "mean",
                             derived=config.data.derived)
    for name, what in (("val", "validation"), ("test", "test")):
        if not prepared.masks[name].any():
            need = rows_needed(m.window, m.horizon, offset, t.val_fraction, t.test_fraction)
            raise DataError(f"{panel.source}: no {what} window (validation from "
                            f"{split.val_start.date()}, test from {split.test_start.date()}); "
                            f"--window {m.window} and --horizon {m.horizon} need at least "
                            f"{need} rows, or move --val-start/--test-start")
    val_dates = len(unique_sorted(sample_dates(panel, prepared)[prepared.masks["val"]]))
    needed = m.horizon + 1 if t.baseline_guard else 1   # one half to stop on, one to test
    if val_dates < needed:
        raise DataError(f"{panel.source}: {val_dates} validation date(s) from "
                        f"{split.val_start.date()} to {split.test_start.date()}, but early "
                        f"stopping{' and the baseline guard' if t.baseline_guard else ''} need "
                        f"at least {needed}; pass more rows, a larger --val-fraction or an "
                        "earlier --val-start")
    _check_finite(panel, prepared, config.data.derived)
    return prepared, split, panel


def resolve_derived(panel: Panel, derived: list[str] | None) -> list[str]:
    """The derived inputs to train with: as given, or (None, ``auto``) the absolute
    log-return when the target is positive, plus the log high-low range when the panel has
    High and Low columns, positive."""
    if derived is not None:
        return list(derived)
    out = []
    if np.all(panel.values[:, 0] > 0):
        out.append("abs-return")
    sources = [panel.column(c) for c in DERIVED_SOURCES["log-range"]]
    if None not in sources and np.all(panel.values[:, sources] > 0):
        out.append("log-range")
    return out


def _check_finite(panel: Panel, prepared: Prepared, derived: list[str] | None = None) -> None:
    with np.errstate(over="ignore"):
        span = prepared.scaler.data_max_ - prepared.scaler.data_min_
    bad = ~np.isfinite(prepared.scaled)
    if not bad.any() and np.all(np.isfinite(span)):
        return
    # The row to name: the first non-finite scaled value, or the most extreme value of
    # a column whose training span overflows (its scale would silently become 0).
    if bad.any():
        trow, col = np.argwhere(bad)[0]
        s = int(np.searchsorted(prepared.offsets, trow, side="right") - 1)
        row = panel.offsets[s] + trow - prepared.offsets[s] + prepared.offset
    else:
        s, col = np.argwhere(~np.isfinite(span))[0]
        rows = panel.rows(int(s))
        row = rows.start + int(np.argmax(np.abs(panel.values[rows, col])))
    names = panel.input_columns + [
        panel.columns[panel.column(DERIVED_SOURCES[name][0])] if DERIVED_SOURCES[name]
        else panel.target for name in derived or []]
    place = where(panel.sources[int(s)], int(panel.lines[row]), names[int(col)])
    raise DataError(f"{place}: value is too large to scale (it overflows); check the value")


def sample_dates(panel: Panel, prepared: Prepared) -> np.ndarray:
    """(samples,) int64 date of each sample's first target row."""
    return panel.dates.asi8[panel.offsets[prepared.series] + prepared.first_rows]


@dataclass
class OriginForecasts:
    """Forecasts in price units from origins of a panel's series.

    Attributes:
        series: (k,) series of each origin; rows: (k,) the price row, within its series, of
        each origin's first step; prices: (k, horizon) point forecasts in price units;
        quantiles: (k, horizon, levels) a quantile model's forecasts, else None.
    """

    series: np.ndarray
    rows: np.ndarray
    prices: np.ndarray
    quantiles: np.ndarray | None = None
    _ordered: bool | None = field(default=None, repr=False, compare=False)

    def _select(self, s: int):
        """Series ``s``'s origins: a slice where origins come series by series (as
        ``origin_forecasts`` gives them: no scan of every origin per series), else a mask."""
        if self._ordered is None:
            self._ordered = bool((self.series[1:] >= self.series[:-1]).all())
        if self._ordered:
            return slice(*np.searchsorted(self.series, [s, s + 1]))
        return self.series == s

    def of(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, prices) of series ``s``."""
        use = self._select(s)
        return self.rows[use], self.prices[use]

    def quantiles_of(self, s: int) -> np.ndarray | None:
        """(rows of s, horizon, levels) quantile forecasts of series ``s``, or None."""
        return None if self.quantiles is None else self.quantiles[self._select(s)]


def origin_forecasts(predictor, prepared: Prepared, panel: Panel, kind: str,
                     first_row: np.ndarray | None = None,
                     levels: list[float] | None = None) -> OriginForecasts:
    """Forecasts from every origin of every series whose first step is at or after
    ``first_row[s]`` (series,) (default: all), in batched, gathered chunks; a quantile
    model (``levels``) gives each level's path and its median as the point forecast."""
    starts, series, rows = prepared.origins()
    if first_row is not None:
        use = rows >= first_row[series]
        starts, series, rows = starts[use], series[use], rows[use]
    outputs = predict_windows(predictor, prepared, starts)
    prices = origin_prices(prepared, panel, kind, outputs, series, rows)
    if not levels:
        return OriginForecasts(series, rows, prices)
    return OriginForecasts(series, rows, prices[..., base_index(levels)], prices)


def calibrate(panel: Panel, forecasts: OriginForecasts, lo: np.ndarray, hi: np.ndarray,
              space: str, vols: list[np.ndarray]) -> intervals.Calibration:
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
            step_scores[k].append(intervals.scores(prices[target[use]], predicted[use, k],
                                                   vols[s][rows[use] - 1], space))
    return intervals.Calibration(space, [np.concatenate(parts) for parts in step_scores])


def fit_cqr(panel: Panel, forecasts: OriginForecasts, lo: np.ndarray, hi: np.ndarray,
            space: str, levels: list[float], lower: int, upper: int
            ) -> intervals.QuantileCalibration:
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
            step_scores[k].append(intervals.cqr_scores(
                prices[target[use]], quantiles[use, k, lower], quantiles[use, k, upper], space))
    return intervals.QuantileCalibration(levels[lower], levels[upper], space,
                                         [np.concatenate(parts) for parts in step_scores])


def central_pairs(levels: list[float]) -> list[tuple[float, int, int]]:
    """(coverage, lower index, upper index) of every central interval whose two ends were
    both trained: 0.1 and 0.9 give (0.8, 0, 2)."""
    out = []
    for i, q in enumerate(levels):
        if q < 0.5:
            coverage = round(1.0 - 2.0 * q, 10)
            found = intervals.interval_levels(levels, coverage)
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
                    level: float, cqr: intervals.QuantileCalibration,
                    conformal: intervals.Calibration, lower: int, upper: int,
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
        base = intervals.band(point[use, 0], vols[s][r - 1] * conformal.quantile(level, 1), 1.0,
                              conformal.space)
        unit = np.log if cqr.space == "log" else (lambda v, k=float(scales[s]): v / k)
        actual.append(unit(prices[r]))
        with np.errstate(divide="ignore"):   # a band down to 0 is -inf in log price: an
            network.append([unit(b) for b in net])        # infinite score, and it loses
            baseline.append([unit(b) for b in base])
        dates.append(panel.dates.asi8[panel.offsets[s] + r])
    both = lambda parts, i: np.concatenate([p[i] for p in parts])  # noqa: E731
    with np.errstate(invalid="ignore", over="ignore"):
        return baselines.interval_guard(
            np.concatenate(actual), (both(network, 0), both(network, 1)),
            (both(baseline, 0), both(baseline, 1)), level, dates=np.concatenate(dates))


def choose_bands(panel: Panel, forecasts: OriginForecasts, train_end: np.ndarray,
                 val_end: np.ndarray, space: str, vols: list[np.ndarray], scales: np.ndarray,
                 levels: list[float], stream: IO[str]) -> intervals.QuantileIntervals:
    """For each trained central interval: calibrate the network's quantiles by CQR and the
    conformal band on the first half of the validation dates, let the interval guard judge
    them on the second half, then calibrate the chosen band on every validation row. Says
    on ``stream`` which band ``predict --interval`` will use, and why."""
    if not levels:
        return intervals.QuantileIntervals.point()
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
    return intervals.QuantileIntervals(levels, space, pairs)


def fit_garches(panel: Panel, train_end: np.ndarray) -> list[baselines.Garch | None]:
    """Each series' GARCH(1,1) baseline, fit on its training rows only (None where it has
    too few training returns or the fit fails)."""
    return [baselines.fit_garch(panel.target_of(s)[:int(train_end[s])])[0]
            for s in range(panel.n_series)]


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


def score_intervals(bands: IntervalBands, s: int, prices: np.ndarray, rows: np.ndarray,
                    point: np.ndarray, quantiles: np.ndarray | None) -> dict[str, Any]:
    """The interval figures of one series' one-step forecasts of ``rows`` (k,): the band
    ``predict --interval`` gives beside both baselines (``baselines.compare_intervals``)."""
    level, q = bands.level, bands.quantile
    lower, upper = intervals.prediction_band(level, 1, point, bands.vols[s][rows - 1],
                                             bands.calibration, q, quantiles)
    published = q.calibrated(quantiles, 1) if quantiles is not None else None
    out = baselines.compare_intervals(
        prices, rows, level, (lower, upper), point, bands.garches[s],
        np.arange(int(bands.train_end[s]), int(bands.val_end[s])), published, q.levels)
    out["band"] = "quantiles" if q.uses_quantiles(level) else "conformal"
    return out


def score_segment(panel: Panel, forecasts: OriginForecasts, lo: np.ndarray, hi: np.ndarray,
                  scales: np.ndarray, bands: IntervalBands | None = None) -> dict[str, Any]:
    """One-step scores (model, naive, drift) of every series on its rows ``[lo[s], hi[s])``,
    with interval figures (the model's band, rolling conformal, GARCH) when ``bands`` are
    given, and their aggregate over series.

    Returns:
        {"series": {name: metrics.compare(...) [+ "interval", "intervals"]},
        "aggregate": metrics.aggregate(...)}.
    """
    per_series = {}
    for s, name in enumerate(panel.names):
        prices = panel.target_of(s)
        rows, predicted = forecasts.of(s)
        use = (rows >= max(int(lo[s]), 1)) & (rows < hi[s])
        if not use.any():
            continue
        out = metrics.compare(prices, rows[use], predicted[use, 0], float(scales[s]))
        if bands is not None:
            quantiles = forecasts.quantiles_of(s)
            compared = score_intervals(bands, s, prices, rows[use], predicted[use, 0],
                                       None if quantiles is None else quantiles[use, 0])
            out["interval"] = {k: compared["model"][k] for k in
                               ("level", "coverage", "mean_width", "interval_score", "rows")}
            out["intervals"] = compared
        per_series[name] = out
    return {"series": per_series, "aggregate": metrics.aggregate(per_series)}


def run_training(panel: Panel, config: ForecastConfig, stream: IO[str] | None = None,
                 dry_run: bool = False,
                 callbacks: Sequence[keras.callbacks.Callback] = (),
                 score: bool = True) -> Trained | None:
    """The whole train stage: prepare, pick devices, build, fit, score on held-out rows.

    Args:
        callbacks: more Keras callbacks for ``fit`` (a tuner's pruning).
        score: with False, nothing is forecast after fitting: no validation or test
            scores, no interval calibration (``metrics`` is empty, ``calibration`` None).
            A hyperparameter search sets it so that test rows are never looked at.

    Returns None for a dry run (after printing the model summary on ``stream``).
    """
    notes = stream or HeldLines()  # without a stream: held, printed once the command ends
    m, t = config.model, config.training
    started = time.perf_counter()
    prepared, split, panel = prepare_training(
        panel, config, lambda message: print(f"forecast: warning: {message}", file=notes))
    progress(f"scaled and windowed {len(panel.values):,} rows of {panel.n_series:,} series",
             started, stream)
    setup = setup_devices(t.device, t.strategy, t.precision)
    seed_everything(t.seed)
    start = output_start(prepared, config)
    loss = PinballLoss(m.quantiles) if m.quantiles else t.loss
    with setup.strategy.scope():
        model = build_model(m, prepared.scaled.shape[1], t.precision, output_start=start,
                            zero_kernel=t.baseline_guard)
        compile_model(model, t.learning_rate, loss, setup.mirrored)
    cudnn = cudnn_eligible(model)
    print(f"forecast: {setup.describe(cudnn)}", file=notes)
    if dry_run:
        if stream is None:
            console.release_held()
        print(summary_text(model), file=stream or sys.stderr)
        return None
    n = {k: int(v.sum()) for k, v in prepared.masks.items()}
    across = f" across {panel.n_series} series" if panel.multi else ""
    inputs = ", ".join(config.inputs)
    print(f"forecast: training on {n['train']} windows{across} (inputs: {inputs}), validating "
          f"on {n['val']}, holding out {n['test']} test windows ({split.test_start.date()} on)",
          file=notes)
    started = time.perf_counter()
    history = fit(model, prepared, sample_dates(panel, prepared), config, setup, stream,
                  callbacks, notes)
    seconds = time.perf_counter() - started

    train_end, val_end = prepared.train_end, prepared.val_end
    scales = np.array([metrics.naive_scale(panel.target_of(s)[:train_end[s]])
                       for s in range(panel.n_series)])
    ends = panel.lengths
    scores, calibration = {}, None
    quantile, garches = intervals.QuantileIntervals.point(), []
    if score:
        forecasts = origin_forecasts(lambda X: predict_batched(model, X), prepared, panel,
                                     t.target_transform, first_row=train_end - m.horizon + 1,
                                     levels=m.quantiles)
        space = intervals.error_space(panel.values[:, 0])
        vols = [intervals.volatility(panel.target_of(s), space)
                for s in range(panel.n_series)]
        calibration = calibrate(panel, forecasts, train_end, val_end, space, vols)
        quantile = choose_bands(panel, forecasts, train_end, val_end, space, vols, scales,
                                m.quantiles, notes)
        garches = fit_garches(panel, train_end)
        # few validation rows: the widest level they support, so every band is finite
        bands = IntervalBands(calibration, quantile, vols, garches, train_end, val_end,
                              min(DEFAULT_INTERVAL, calibration.widest_level()))
        scores = {
            "val": score_segment(panel, forecasts, train_end, val_end, scales),
            "test": score_segment(panel, forecasts, val_end, ends, scales, bands),
        }
    guard_result = history.pop("guard", None)
    kept_start = guard_result is not None and guard_result["kept"] == "start"
    best = 0 if kept_start else int(np.argmin(history["val_loss"])) + 1
    dates = panel.dates
    config.facts.update({
        "rows": int(len(panel.values)), "series": list(panel.names),
        "train_rows": int(train_end.sum()), "val_rows": int((val_end - train_end).sum()),
        "test_rows": int((ends - val_end).sum()),
        "first_date": dates.min().isoformat(),
        "val_start": split.val_start.isoformat(),
        "test_start": split.test_start.isoformat(),
        "last_date": dates.max().isoformat(),
        "naive_scales": {name: float(v) for name, v in zip(panel.names, scales)},
        "epochs_run": len(history["loss"]), "best_epoch": best,
        "loss": "pinball" if m.quantiles else t.loss,
        "baseline_guard": guard_result,
        "interval_guard": {f"{p['level']:g}": p["guard"] for p in quantile.pairs},
        "train_seconds": round(seconds, 3), "device": setup.describe(cudnn),
        "cudnn_eligible": cudnn, "parameters": int(model.count_params()),
        "windows": n,
    })
    garch = {name: None if g is None else g.to_dict() for name, g in zip(panel.names, garches)}
    return Trained(model, prepared.scaler, config, history, scores, calibration, quantile,
                   garch)


def output_start(prepared: Prepared, config: ForecastConfig) -> np.ndarray | None:
    """The untrained model's output: (horizon,) zeros for a point model with the guard (the
    centered target's 0 is each series' median or mean step); for a quantile model
    (horizon, levels), the training targets' quantiles pooled over series, with the median
    at 0 for the same reason. None: a point model without the guard starts at random."""
    m = config.model
    if not m.quantiles:
        return np.zeros(m.horizon) if config.training.baseline_guard else None
    y = prepared.targets(prepared.starts[prepared.masks["train"]])
    start = quantile_start(y, m.quantiles)
    base = base_index(m.quantiles)
    start[:, base] = 0.0
    start[:, :base] = np.minimum(start[:, :base], 0.0)
    start[:, base + 1:] = np.maximum(start[:, base + 1:], 0.0)
    return start
