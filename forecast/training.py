"""Fit a model on the training windows, stop early on validation loss, and score it.

Progress goes to stderr (a bar on a terminal, a line per epoch otherwise); Keras's own
progress bar is never used because it writes to stdout.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

import keras
import numpy as np
import tensorflow as tf

from forecast import intervals, metrics
from forecast.config import DEFAULT_INTERVAL, GUARD_Z, ForecastConfig
from forecast.data import Prices
from forecast.devices import DeviceSetup, setup_devices
from forecast.errors import DataError, TrainingError, where
from forecast.models import build_model, cudnn_eligible, summary_text
from forecast.transforms import MinMaxScaler, forecasts_to_prices, transform_offset
from forecast.windows import Prepared, Split, check_rows, origin_windows, prepare

#: Batches run per call into the compiled training step: fewer Python round trips, which
#: is most of the cost for the small recurrent models this tool trains.
STEPS_PER_EXECUTION = 16


@dataclass
class Trained:
    """What a training run produced, ready for the model directory."""

    model: keras.Model
    scaler: MinMaxScaler
    config: ForecastConfig
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    calibration: intervals.Calibration


def seed_everything(seed: int) -> None:
    """Same seed, same CPU result: Python, NumPy and TensorFlow seeds plus deterministic ops."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def make_dataset(X: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool,
                 seed: int, replicas: int = 1) -> tf.data.Dataset:
    """A batched, prefetched tf.data pipeline over (samples, window, features) windows.

    With several replicas every batch must split evenly between them (Keras fails on a
    ragged last batch under MirroredStrategy), so up to ``replicas - 1`` windows are left out.
    """
    keep = len(X) - len(X) % replicas
    X, y = X[:keep], y[:keep]
    ds = tf.data.Dataset.from_tensor_slices((np.ascontiguousarray(X, np.float32),
                                             np.ascontiguousarray(y, np.float32)))
    if shuffle:
        ds = ds.shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class StderrProgress(keras.callbacks.Callback):
    """Epoch progress on a stream (stderr): a live bar on a terminal, else a line per epoch.

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

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._stop_nan()
        if self.tty and time.perf_counter() - self._last_draw > 0.1:
            self._last_draw = time.perf_counter()
            done = min(batch + 1, self.steps)
            bar = "#" * (20 * done // self.steps)
            self.stream.write(f"\repoch {self._epoch + 1}/{self.epochs}  [{bar:<20}] {done}/{self.steps} "
                              f"loss {float(loss or 0):.6f}")
            self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss, val = float(logs.get("loss", math.nan)), float(logs.get("val_loss", math.nan))
        if not (math.isfinite(loss) and math.isfinite(val)):
            self._stop_nan()
        mark = " *" if val < self.best else ""
        self.best = min(self.best, val)
        line = (f"epoch {epoch + 1}/{self.epochs}  loss {loss:.6f}  val_loss {val:.6f}  "
                f"{time.perf_counter() - self._start:.1f}s{mark}")
        self.stream.write(("\r\033[K" if self.tty else "") + line + "\n")
        self.stream.flush()

    def _stop_nan(self):
        if self.nan_epoch is None:
            self.nan_epoch = self._epoch + 1
        self.model.stop_training = True


def fit(model: keras.Model, prepared: Prepared, config: ForecastConfig, setup: DeviceSetup,
        stream: IO[str] | None = None) -> dict[str, list[float]]:
    """Train on the training windows with early stopping on the validation windows.

    Returns:
        history: "loss", "val_loss" and "seconds" per epoch, and "guard" (see ``guard``).
        The model keeps the weights of the epoch with the lowest validation loss, or its
        starting weights when the baseline guard finds no significant gain.
    Raises:
        TrainingError: the loss became NaN or infinite (nothing is written then).
    """
    t = config.training
    masks = prepared.masks
    replicas = setup.strategy.num_replicas_in_sync
    batch = t.batch_size * replicas
    train = make_dataset(prepared.X[masks["train"]], prepared.y[masks["train"]], batch, True,
                         t.seed, replicas)
    # With the guard on, early stopping picks the epoch on the first half of the validation
    # windows and the guard tests on the second half, which that choice never saw.
    stop_rows, guard_rows = split_validation(masks["val"], prepared.y.shape[1]) \
        if t.baseline_guard else (masks["val"], None)
    val = make_dataset(prepared.X[stop_rows], prepared.y[stop_rows], batch, False, t.seed,
                       replicas)
    steps = math.ceil(int(masks["train"].sum()) / batch)
    progress = StderrProgress(t.epochs, steps, stream)
    timer = EpochTimer()
    callbacks = [progress, timer, keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=t.patience, restore_best_weights=True)]
    start_weights = model.get_weights()
    result = model.fit(train, validation_data=val, epochs=t.epochs, callbacks=callbacks,
                       shuffle=False, verbose=0)  # the dataset shuffles itself, seeded
    if progress.nan_epoch is not None:
        raise TrainingError(f"the training loss became NaN or infinite in epoch "
                            f"{progress.nan_epoch}; nothing was written; try a smaller "
                            "--learning-rate or check the data for extreme values")
    history = {k: [float(v) for v in vals] for k, vals in result.history.items()}
    history["seconds"] = timer.seconds
    if t.baseline_guard:
        history["guard"] = guard(model, start_weights, prepared.X[guard_rows],
                                 prepared.y[guard_rows], t.loss, stream)
    return history


def predict_batched(model: keras.Model, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Model outputs (samples, horizon) as float64, calling the model directly in chunks:
    unlike ``predict`` this works the same under any distribution strategy."""
    X = np.ascontiguousarray(X, np.float32)
    parts = [np.asarray(model(X[i:i + batch], training=False), dtype=float)
             for i in range(0, len(X), batch)]
    return np.concatenate(parts) if parts else np.empty((0, model.output_shape[-1]))


def split_validation(val: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Halve the validation mask (samples,) chronologically: (first half, second half),
    leaving ``horizon - 1`` windows out between them so no target row is in both."""
    index = np.flatnonzero(val)
    cut = len(index) // 2
    first, second = np.zeros_like(val), np.zeros_like(val)
    first[index[:cut]] = True
    second[index[cut + horizon - 1:]] = True
    return first, second


def guard(model: keras.Model, start_weights: list, X: np.ndarray, y: np.ndarray, loss: str,
          stream: IO[str] | None = None) -> dict[str, Any]:
    """Keep the trained network only if it beats its starting forecast (the training mean:
    the drift forecast) on the validation windows by a significant margin.

    The test is a one-sided Diebold-Mariano test on per-window losses (in the training
    loss) over held-out validation windows X (samples, window, features), y (samples,
    horizon). Otherwise the starting weights are restored and the model forecasts the
    average step. Returns the statistic, its p-value and which was kept.
    """
    trained = predict_batched(model, X)
    trained_weights = model.get_weights()
    model.set_weights(start_weights)
    start = predict_batched(model, X[:1])
    if loss == "mae":
        diff = np.abs(y - trained).mean(axis=1) - np.abs(y - start).mean(axis=1)
    else:
        diff = ((y - trained) ** 2).mean(axis=1) - ((y - start) ** 2).mean(axis=1)
    stat = diebold_mariano(diff, y.shape[1])
    p_value = 0.5 * (1 + math.erf(stat / math.sqrt(2)))
    kept = "network" if stat < -GUARD_Z else "start"
    if kept == "network":
        model.set_weights(trained_weights)
    else:
        (stream or sys.stderr).write(
            f"forecast: the network did not beat its starting forecast (the "
            f"{'median' if loss == 'mae' else 'mean'} training step, close to the drift "
            f"forecast) on validation (Diebold-Mariano p = {p_value:.2f}); keeping the "
            "starting forecast. --no-baseline-guard keeps the network anyway.\n")
    return {"dm_stat": stat, "p_value": p_value, "kept": kept}


def diebold_mariano(diff: np.ndarray, horizon: int = 1) -> float:
    """DM statistic of a loss differential (n,), with a Newey-West variance over
    ``horizon - 1`` lags for overlapping multi-step forecasts."""
    n = len(diff)
    if n < 2:
        return 0.0
    d = diff - diff.mean()
    var = float(d @ d) / n
    for lag in range(1, horizon):
        var += 2 * (1 - lag / horizon) * float(d[lag:] @ d[:-lag]) / n
    return float(diff.mean() / math.sqrt(var / n)) if var > 0 else 0.0


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds per epoch (training plus validation)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def compile_model(model: keras.Model, learning_rate: float, loss: str = "mse",
                  mirrored: bool = False) -> None:
    # Keras 3's multi-step loop fails to trace under MirroredStrategy, so one step there.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  steps_per_execution=1 if mirrored else STEPS_PER_EXECUTION)


def prepare_prices(prices: Prices, config: ForecastConfig) -> tuple[Prepared, Split]:
    """Check the row count, transform, scale (training rows only) and window; refuse
    anything non-finite before a model ever sees it."""
    m, t = config.model, config.training
    offset = transform_offset(t.target_transform)
    split = check_rows(len(prices.frame), m.window, m.horizon, offset, t.val_fraction,
                       t.test_fraction, prices.source)
    prepared = prepare(prices.frame.to_numpy(float), t.target_transform, m.window, m.horizon,
                       split=split, source=prices.source, lines=prices.lines,
                       columns=prices.columns)
    with np.errstate(over="ignore"):
        span = prepared.scaler.data_max_ - prepared.scaler.data_min_
    bad = ~np.isfinite(prepared.scaled)
    if bad.any() or not np.all(np.isfinite(span)):
        # The row to name: the first non-finite scaled value, or the most extreme value of
        # a column whose training span overflows (its scale would silently become 0).
        if bad.any():
            row, col = np.argwhere(bad)[0]
        else:
            col = int(np.argmax(~np.isfinite(span)))
            row = int(np.argmax(np.abs(prices.frame.to_numpy(float)[offset:, col])))
        place = where(prices.source, int(prices.lines[row + offset]), prices.columns[col])
        raise DataError(f"{place}: value is too large to scale (it overflows); check the value")
    return prepared, split


def one_step_forecasts(model: keras.Model, prepared: Prepared, prices: np.ndarray, kind: str,
                       window: int) -> tuple[np.ndarray, np.ndarray]:
    """Price forecasts from every origin window, in one batched prediction.

    Returns:
        rows (origins,) the price row of each first step (the last equals len(prices)),
        and forecasts (origins, horizon) in price units.
    """
    X, rows = origin_windows(prepared.scaled, window, prepared.offset)
    out = predict_batched(model, X)
    return rows, forecasts_to_prices(out, prepared.scaler, kind, prices[rows - 1])


def calibrate(prices: np.ndarray, rows: np.ndarray, forecasts: np.ndarray, split: Split,
              vol: np.ndarray | None = None) -> intervals.Calibration:
    """Conformal scores for each step from forecasts whose target row is a validation row.

    ``vol`` (n,) is ``intervals.volatility`` of ``prices``, computed here if not given."""
    space = intervals.error_space(prices)
    if vol is None:
        vol = intervals.volatility(prices, space)
    step_scores = []
    for k in range(forecasts.shape[1]):
        target = rows + k
        use = (target >= split.train_end) & (target < split.val_end)
        step_scores.append(intervals.scores(prices[target[use]], forecasts[use, k],
                                            vol[rows[use] - 1], space))
    return intervals.Calibration(space, step_scores)


def score_split(prices: np.ndarray, rows: np.ndarray, forecasts: np.ndarray, lo: int, hi: int,
                scale: float, calibration: intervals.Calibration | None = None,
                vol: np.ndarray | None = None,
                level: float = DEFAULT_INTERVAL) -> dict[str, Any]:
    """One-step scores (model, naive, drift) on price rows [lo, hi), and, with a calibration
    and the series' volatility ``vol`` (n,), the interval coverage."""
    use = (rows >= max(lo, 1)) & (rows < hi)
    out = metrics.compare(prices, rows[use], forecasts[use, 0], scale)
    if calibration is not None and vol is not None and use.any():
        level = min(level, calibration.widest_level())  # few validation rows: a finite band
        lower, upper = intervals.band(forecasts[use, 0], vol[rows[use] - 1],
                                      calibration.quantile(level),
                                      calibration.space)
        out["interval"] = {"level": level, "coverage": metrics.coverage(prices[rows[use]],
                                                                        lower, upper),
                           "mean_width": metrics.mean_width(lower, upper)}
    return out


def run_training(prices: Prices, config: ForecastConfig, stream: IO[str] | None = None,
                 dry_run: bool = False) -> Trained | None:
    """The whole train stage: prepare, pick devices, build, fit, score on held-out rows.

    Returns None for a dry run (after printing the model summary on ``stream``).
    """
    stream = stream or sys.stderr
    m, t = config.model, config.training
    prepared, split = prepare_prices(prices, config)
    setup = setup_devices(t.device, t.strategy, t.precision)
    seed_everything(t.seed)
    train_y = prepared.y[prepared.masks["train"]]
    start = (np.median(train_y, axis=0) if t.loss == "mae" else train_y.mean(axis=0)) \
        if t.baseline_guard else None
    with setup.strategy.scope():
        model = build_model(m, len(prices.columns), t.precision, output_start=start)
        compile_model(model, t.learning_rate, t.loss, setup.mirrored)
    cudnn = cudnn_eligible(model)
    print(f"forecast: {setup.describe(cudnn)}", file=stream)
    if dry_run:
        print(summary_text(model), file=stream)
        return None
    n = {k: int(v.sum()) for k, v in prepared.masks.items()}
    print(f"forecast: training on {n['train']} windows, validating on {n['val']}, "
          f"holding out {split.n_test} test rows ({prices.frame.index[split.val_end].date()} on)",
          file=stream)
    started = time.perf_counter()
    history = fit(model, prepared, config, setup, stream)
    seconds = time.perf_counter() - started

    target = prices.frame.iloc[:, 0].to_numpy(float)
    rows, forecasts = one_step_forecasts(model, prepared, target, t.target_transform, m.window)
    vol = intervals.volatility(target, intervals.error_space(target))
    calibration = calibrate(target, rows, forecasts, split, vol)
    scale = metrics.naive_scale(target[: split.train_end])
    scores = {
        "naive_scale": scale,
        "val": score_split(target, rows, forecasts, split.train_end, split.val_end, scale),
        "test": score_split(target, rows, forecasts, split.val_end, split.rows, scale,
                            calibration, vol),
    }
    guard_result = history.pop("guard", None)
    kept_start = guard_result is not None and guard_result["kept"] == "start"
    best = 0 if kept_start else int(np.argmin(history["val_loss"])) + 1
    config.facts.update({
        "rows": split.rows, "train_rows": split.n_train, "val_rows": split.n_val,
        "test_rows": split.n_test,
        "first_date": prices.frame.index[0].isoformat(),
        "val_start": prices.frame.index[split.train_end].isoformat(),
        "test_start": prices.frame.index[split.val_end].isoformat(),
        "last_date": prices.frame.index[-1].isoformat(),
        "naive_scale": scale, "epochs_run": len(history["loss"]), "best_epoch": best,
        "baseline_guard": guard_result,
        "train_seconds": round(seconds, 3), "device": setup.describe(cudnn),
        "cudnn_eligible": cudnn, "parameters": int(model.count_params()),
    })
    return Trained(model, prepared.scaler, config, history, scores, calibration)
