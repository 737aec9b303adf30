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
from dataclasses import dataclass
from typing import IO, Any, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from forecast import baselines, evaluation, intervals, metrics, windows
from forecast.config import DEFAULT_INTERVAL, GUARD_Z, ForecastConfig, median_index
from forecast.data.panel import Panel, unique_sorted
from forecast.devices import DeviceSetup, setup_devices
from forecast import console
from forecast.console import HeldLines, progress
from forecast.errors import OUT_OF_MEMORY, ForecastError, TrainingError
from forecast.metrics import diebold_mariano
from forecast.models import (PinballLoss, build_model, cudnn_eligible,
                             quantile_start, summary_text)
from forecast.transforms import SeriesScaler
from forecast.windows import DateSplit, Prepared, prepare_training, sample_dates

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
        """Start the clock for the progress lines."""
        self._began = time.perf_counter()

    def erase_bar(self) -> None:
        """Erase the bar drawn on a terminal (training ended or failed: none left behind)."""
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False

    def on_epoch_begin(self, epoch, logs=None):
        """Note the epoch and its start."""
        self._start = time.perf_counter()
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        """Stop on a non-finite loss; redraw the terminal's bar at most ten times a second."""
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
        """Print the epoch's line (loss, validation loss, seconds)."""
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
        notes: IO[str] | None = None,
        initial_weights: list | None = None) -> dict[str, Any]:
    """Train on the training windows with early stopping on the validation windows.

    Args:
        sample_dates: (samples,) int64 date of each sample's first target (for the guard,
            which pools the series of a panel date by date).
        stream: where epoch progress goes (default stderr).
        callbacks: more Keras callbacks (e.g. a tuner's pruning), after the tool's own.
        notes: where the guard's verdict goes (default ``stream``).
        initial_weights: weights to start training from (a refit from a saved model); the
            baseline guard's start stays the built model's.

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
    if initial_weights is not None:
        model.set_weights(initial_weights)
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
    base = median_index(levels) if levels else None
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
        """Start the epoch's clock."""
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        """Record the epoch's seconds."""
        self.seconds.append(time.perf_counter() - self._start)


def compile_model(model: keras.Model, learning_rate: float, loss: Any = "mse",
                  mirrored: bool = False, clipnorm: float | None = None,
                  clipvalue: float | None = None) -> None:
    """Compile with Adam at ``learning_rate``, clipping each weight's gradient to the norm
    ``clipnorm`` and each entry to ``clipvalue`` where given (None: no clipping)."""
    optimizer = keras.optimizers.Adam(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)
    # Keras 3's multi-step loop fails to trace under MirroredStrategy, so one step there.
    model.compile(optimizer=optimizer, loss=loss,
                  steps_per_execution=1 if mirrored else STEPS_PER_EXECUTION)


def run_training(panel: Panel, config: ForecastConfig, stream: IO[str] | None = None,
                 dry_run: bool = False,
                 callbacks: Sequence[keras.callbacks.Callback] = (),
                 score: bool = True,
                 initial_weights: list | None = None) -> Trained | None:
    """The whole train stage: prepare, pick devices, build, fit, score on held-out rows.

    Args:
        callbacks: more Keras callbacks for ``fit`` (a tuner's pruning).
        score: with False, nothing is forecast after fitting: no validation or test
            scores, no interval calibration (``metrics`` is empty, ``calibration`` None).
            A hyperparameter search sets it so that test rows are never looked at.
        initial_weights: start fitting from these weights (``fit``).

    Returns None for a dry run (after printing the model summary on ``stream``).
    """
    notes = stream or HeldLines()  # without a stream: held, printed once the command ends
    m, t = config.model, config.training
    started = time.perf_counter()
    warn = console.warn if stream is None else \
        (lambda message: print(f"forecast: warning: {message}", file=stream))
    prepared, split, panel, config = prepare_training(panel, config, warn)
    intervals.check_calibratable(m.quantiles, int((prepared.val_end - prepared.train_end).sum()))
    progress(f"scaled and windowed {len(panel.values):,} rows of {panel.n_series:,} series",
             started, stream)
    setup = setup_devices(t.device, t.strategy, t.precision)
    seed_everything(t.seed)
    model = build_compiled(prepared, config, setup)
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
                  callbacks, notes, initial_weights)
    seconds = time.perf_counter() - started

    train_end = prepared.train_end
    scales = np.array([metrics.naive_scale(panel.target_of(s)[:train_end[s]])
                       for s in range(panel.n_series)])
    scores, calibration = {}, None
    quantile, garches = intervals.QuantileIntervals.point(), []
    if score:
        scores, calibration, quantile, garches = score_held_out(model, prepared, panel, config,
                                                                scales, notes)
    guard_result = history.pop("guard", None)
    kept_start = guard_result is not None and guard_result["kept"] == "start"
    best = 0 if kept_start else int(np.argmin(history["val_loss"])) + 1
    config = dataclasses.replace(config, facts=dataclasses.replace(
        config.facts, **data_facts(panel, prepared, split, scales),
        epochs_run=len(history["loss"]), best_epoch=best,
        loss="pinball" if m.quantiles else t.loss,
        baseline_guard=guard_result,
        interval_guard={f"{p['level']:g}": p["guard"] for p in quantile.pairs},
        train_seconds=round(seconds, 3), device=setup.describe(cudnn),
        cudnn_eligible=cudnn, parameters=int(model.count_params()),
        windows=n))
    garch = {name: None if g is None else g.to_dict() for name, g in zip(panel.names, garches)}
    return Trained(model, prepared.scaler, config, history, scores, calibration, quantile,
                   garch)


def build_compiled(prepared: Prepared, config: ForecastConfig, setup: DeviceSetup
                   ) -> keras.Model:
    """The network for ``prepared``'s inputs, starting at ``output_start``, compiled with
    its loss (the pinball loss for a quantile model) under the devices' strategy."""
    m, t = config.model, config.training
    start = output_start(prepared, config)
    loss = PinballLoss(m.quantiles) if m.quantiles else t.loss
    with setup.strategy.scope():
        model = build_model(m, prepared.scaled.shape[1], t.precision, output_start=start,
                            zero_kernel=t.baseline_guard)
        compile_model(model, t.learning_rate, loss, setup.mirrored, t.clipnorm, t.clipvalue)
    return model


def score_held_out(model: keras.Model, prepared: Prepared, panel: Panel,
                   config: ForecastConfig, scales: np.ndarray, notes: IO[str]
                   ) -> tuple[dict[str, Any], intervals.Calibration, intervals.QuantileIntervals,
                              list[baselines.Garch | None]]:
    """Forecast every origin from the last training windows on, calibrate the intervals on
    the validation rows (the band choice said on ``notes``), fit each series' GARCH on its
    training rows, and score the validation and test rows (``scales``: (series,) MASE
    denominators).

    Returns:
        scores {"val", "test"} (``evaluation.score_segment``), the conformal calibration,
        the quantile intervals and the GARCH fits (series,).
    """
    m, t = config.model, config.training
    train_end, val_end = prepared.train_end, prepared.val_end
    forecasts = windows.origin_forecasts(lambda X: predict_batched(model, X), prepared, panel,
                                         t.target_transform,
                                         first_row=train_end - m.horizon + 1,
                                         levels=m.quantiles)
    space = intervals.error_space(panel.values[:, 0])
    vols = [intervals.volatility(panel.target_of(s), space) for s in range(panel.n_series)]
    calibration = intervals.calibrate(panel, forecasts, train_end, val_end, space, vols)
    quantile = intervals.choose_bands(panel, forecasts, train_end, val_end, space, vols,
                                      scales, m.quantiles, notes)
    garches = baselines.fit_garches(panel, train_end)
    # few validation rows: the widest level they support, so every band is finite
    bands = evaluation.IntervalBands(calibration, quantile, vols, garches, train_end, val_end,
                                     min(DEFAULT_INTERVAL, calibration.widest_level()))
    scores = {
        "val": evaluation.score_segment(panel, forecasts, train_end, val_end, scales),
        "test": evaluation.score_segment(panel, forecasts, val_end, panel.lengths, scales,
                                         bands),
    }
    return scores, calibration, quantile, garches


def data_facts(panel: Panel, prepared: Prepared, split: DateSplit, scales: np.ndarray
               ) -> dict[str, Any]:
    """The training data's facts for config.json: rows and series, each split's rows and
    dates, and each series' MASE denominator (``scales`` (series,))."""
    train_end, val_end, ends = prepared.train_end, prepared.val_end, panel.lengths
    dates = panel.dates
    return {
        "rows": int(len(panel.values)), "series": list(panel.names),
        "train_rows": int(train_end.sum()), "val_rows": int((val_end - train_end).sum()),
        "test_rows": int((ends - val_end).sum()),
        "first_date": dates.min().isoformat(),
        "val_start": split.val_start.isoformat(),
        "test_start": split.test_start.isoformat(),
        "last_date": dates.max().isoformat(),
        "naive_scales": {name: float(v) for name, v in zip(panel.names, scales)},
    }


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
    base = median_index(m.quantiles)
    start[:, base] = 0.0
    start[:, :base] = np.minimum(start[:, :base], 0.0)
    start[:, base + 1:] = np.maximum(start[:, base + 1:], 0.0)
    return start
