"""The model factory: a registry of recurrent cells, stacked into a direct multi-step model.

Input ``(batch, window, features)``; output ``(batch, horizon)``, or with quantile levels
``(batch, horizon, quantiles)`` from a head whose quantiles cannot cross.
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np

from forecast.config import ModelConfig, median_index
from forecast.errors import UsageError

#: Cell name -> Keras layer class. Every layer keeps its defaults (tanh / sigmoid,
#: no recurrent dropout, not unrolled, GRU reset_after=True), which is what makes LSTM and
#: GRU eligible for the fused cuDNN kernel on a GPU.
CELLS: dict[str, Callable[..., keras.layers.Layer]] = {
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "rnn": keras.layers.SimpleRNN,
}


def cell_layer(name: str) -> Callable[..., keras.layers.Layer]:
    """The Keras layer class for ``name``; unknown names list the valid ones."""
    try:
        return CELLS[name]
    except KeyError:
        raise UsageError(f"unknown cell '{name}'; choose one of: {', '.join(CELLS)}") from None


def build_model(config: ModelConfig, n_features: int, precision: str = "float32",
                output_start: np.ndarray | None = None,
                quantiles: Sequence[float] | None = None,
                zero_kernel: bool = True) -> keras.Model:
    """Build (uncompiled) the stacked recurrent model.

    Args:
        config: cell, layers, units, dropout, bidirectional, dense_units, window, horizon,
            quantiles, l1 and l2 (``regularizer``: on every kernel and recurrent kernel),
            attention (``attention_block`` after the last recurrent layer, which then
            returns sequences).
        n_features: input columns per time step.
        precision: ``float32``, or ``mixed`` (float16 compute; the output layers stay float32).
        output_start: if given, the output layer starts with a zero kernel and a bias that
            makes the untrained model forecast exactly this constant: (horizon,) for a
            point model; (horizon, n_quantiles), non-decreasing along the last axis, for a
            quantile model (``quantile_start`` of the training targets).
        quantiles: increasing levels in (0, 1) for a quantile output; None takes
            ``config.quantiles``; empty gives the point output.
        zero_kernel: with ``output_start``, start the output kernel at zero (the untrained
            model forecasts exactly the start, as the baseline guard needs); False keeps
            Keras's random kernel and only sets the bias (training without the guard).

    Returns:
        keras.Model mapping (batch, window, n_features) -> (batch, horizon), or
        (batch, horizon, n_quantiles) with quantile levels: a Dense layer ``forecast`` of
        horizon * n_quantiles units followed by ``MonotoneQuantiles``.
    """
    levels = list(config.quantiles if quantiles is None else quantiles)
    layer_cls = cell_layer(config.cell)
    dtype = "mixed_float16" if precision == "mixed" else "float32"
    penalty = regularizer(config.l1, config.l2)
    inputs = keras.Input(shape=(config.window, n_features), name="window")
    x = inputs
    for i in range(1, config.layers + 1):
        last = i == config.layers
        rnn = layer_cls(config.units, return_sequences=config.attention or not last,
                        dtype=dtype, name=f"{config.cell}_{i}", kernel_regularizer=penalty,
                        recurrent_regularizer=penalty)
        if config.bidirectional:
            rnn = keras.layers.Bidirectional(rnn, dtype=dtype,
                                             name=f"bidirectional_{config.cell}_{i}")
        x = rnn(x)
        if config.dropout > 0:
            # Dropout between layers, not recurrent_dropout, which rules out cuDNN.
            x = keras.layers.Dropout(config.dropout, dtype=dtype, name=f"dropout_{i}")(x)
    if config.attention:
        x = attention_block(x, config.window, dtype)
    if config.dense_units:
        x = keras.layers.Dense(config.dense_units, activation="relu", dtype=dtype,
                               name="hidden_dense", kernel_regularizer=penalty)(x)
    if levels:
        return keras.Model(inputs, _quantile_head(x, config.horizon, levels, output_start,
                                                  zero_kernel, penalty),
                           name=f"{config.cell}_quantile_forecaster")
    start = {}
    if output_start is not None:
        start = {"kernel_initializer": "zeros", "bias_initializer":
                 keras.initializers.Constant(np.asarray(output_start, dtype="float32"))}
    outputs = keras.layers.Dense(config.horizon, dtype="float32", name="forecast",
                                 kernel_regularizer=penalty, **start)(x)
    return keras.Model(inputs, outputs, name=f"{config.cell}_forecaster")


def regularizer(l1: float, l2: float) -> keras.regularizers.Regularizer | None:
    """The weight penalty of ``--l1`` and ``--l2`` (None when both are 0). It adds to the
    training loss, and so to the validation loss early stopping watches, but never
    changes a forecast: the NumPy engine needs nothing for it, and cuDNN eligibility
    does not depend on it."""
    if not (l1 or l2):
        return None
    return keras.regularizers.L1L2(l1=float(l1), l2=float(l2))


#: The layers of the attention block, by name, in the order the model holds them: the
#: NumPy engine exports the block as one step (engine.py).
ATTENTION_LAYERS = ("attention_query", "attention", "attention_concat", "attention_flatten")


def attention_block(sequence, window: int, dtype: str):
    """Attention over the recurrent outputs (batch, window, units) -> (batch, 2 * units).

    The query is the last time step's output, the keys and values all of them
    (``keras.layers.Attention``: dot-product scores times one learned scale, softmax
    over the window), and the context it gives stands beside that last output
    (Luong-style: concatenated, then flattened for the head). Why this form:

    - The last step carries the most recent state, which the model without attention
      forecasts from alone; keeping it beside the context means attention can only add
      what earlier steps hold, rather than replacing the latest state by an average (as
      self-attention pooled by GlobalAveragePooling1D would).
    - One query instead of ``window`` (full self-attention then its last step): the
      same output for a window-th of the work.
    - No projection weights (MultiHeadAttention has four matrices per head): a single
      scale, which suits short, noisy price series.
    - Built-in layers only (Cropping1D, Attention, Concatenate, Flatten), so a .keras
      file still loads with ``safe_mode=True``.

    The recurrent layers themselves are unchanged (the last returns sequences, which
    the cuDNN kernel supports), so cuDNN eligibility is as without attention.
    """
    query = keras.layers.Cropping1D((window - 1, 0), dtype=dtype,
                                    name=ATTENTION_LAYERS[0])(sequence)     # (batch, 1, u)
    context = keras.layers.Attention(use_scale=True, dtype=dtype,
                                     name=ATTENTION_LAYERS[1])([query, sequence])
    both = keras.layers.Concatenate(dtype=dtype, name=ATTENTION_LAYERS[2])([query, context])
    return keras.layers.Flatten(dtype=dtype, name=ATTENTION_LAYERS[3])(both)


#: The smallest starting gap between neighbouring quantiles (in target units, which are
#: min-max scaled): a zero gap would start its softplus at -inf, where it cannot learn.
MIN_START_GAP = 1e-4


def quantile_start(y: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Empirical quantiles of the training targets, the quantile head's starting output.

    Args:
        y: (samples, horizon) training targets. levels: (n_quantiles,) increasing.

    Returns:
        (horizon, n_quantiles), non-decreasing along the last axis; its median column is
        the median training target (the drift start the baseline guard judges against).
    """
    return np.quantile(np.asarray(y, dtype=float), list(levels), axis=0).T


def inverse_softplus(x: np.ndarray) -> np.ndarray:
    """The raw value whose softplus is ``x`` (> 0): log(exp(x) - 1), computed stably."""
    x = np.asarray(x, dtype=float)
    return x + np.log(-np.expm1(-x))


def quantile_head_bias(start: np.ndarray, base: int) -> np.ndarray:
    """The raw Dense bias (horizon * n_quantiles,) that makes ``MonotoneQuantiles`` output
    ``start`` (horizon, n_quantiles): the base level as is, the others as the inverse
    softplus of the gaps to their inner neighbour (each at least ``MIN_START_GAP``)."""
    start = np.asarray(start, dtype=float)
    gaps = np.maximum(np.diff(start, axis=-1), MIN_START_GAP)    # (horizon, n_quantiles - 1)
    raw = np.empty_like(start)
    raw[:, base] = start[:, base]
    raw[:, base + 1:] = inverse_softplus(gaps[:, base:])        # gap to the level below
    raw[:, :base] = inverse_softplus(gaps[:, :base])            # gap to the level above
    return raw.reshape(-1)


def _quantile_head(x, horizon: int, levels: list[float], output_start: np.ndarray | None,
                   zero_kernel: bool = True, penalty=None):
    n = len(levels)
    base = median_index(levels)
    start = {}
    if output_start is not None:
        output_start = np.asarray(output_start, dtype=float)
        if output_start.shape != (horizon, n):
            raise ValueError(f"output_start has shape {output_start.shape}; a quantile model "
                             f"needs ({horizon}, {n}) (see quantile_start)")
        start = {"bias_initializer": keras.initializers.Constant(
            quantile_head_bias(output_start, base).astype("float32"))}
        if zero_kernel:
            start["kernel_initializer"] = "zeros"
    raw = keras.layers.Dense(horizon * n, dtype="float32", name="forecast",
                             kernel_regularizer=penalty, **start)(x)
    return MonotoneQuantiles(n, base, dtype="float32", name="quantiles")(raw)


@keras.saving.register_keras_serializable(package="forecast")
class MonotoneQuantiles(keras.layers.Layer):
    """Raw outputs (batch, horizon * n_quantiles) -> quantiles (batch, horizon, n_quantiles)
    that never decrease along the last axis, by construction.

    The raw value of level ``base`` is that quantile; each level above it is the one below
    plus softplus(raw), each level below it the one above minus softplus(raw).
    No weights; registered so that a .keras file loads with ``safe_mode=True`` once this
    module is imported.
    """

    def __init__(self, n_quantiles: int, base: int, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= base < n_quantiles:
            raise ValueError(f"base {base} is not one of {n_quantiles} quantiles")
        self.n_quantiles, self.base = int(n_quantiles), int(base)

    def call(self, raw):
        """(batch, horizon * n_quantiles) raw outputs -> (batch, horizon, n_quantiles)
        increasing quantiles around the base level."""
        x = keras.ops.reshape(raw, (-1, raw.shape[-1] // self.n_quantiles, self.n_quantiles))
        b = self.base
        centre = x[..., b:b + 1]
        parts = [centre]
        if b > 0:
            below = keras.ops.flip(keras.ops.cumsum(
                keras.ops.flip(keras.ops.softplus(x[..., :b]), axis=-1), axis=-1), axis=-1)
            parts.insert(0, centre - below)
        if b < self.n_quantiles - 1:
            parts.append(centre + keras.ops.cumsum(keras.ops.softplus(x[..., b + 1:]), axis=-1))
        return keras.ops.concatenate(parts, axis=-1) if len(parts) > 1 else centre

    def compute_output_shape(self, input_shape):
        """(batch, horizon * n_quantiles) -> (batch, horizon, n_quantiles)."""
        return (input_shape[0], input_shape[-1] // self.n_quantiles, self.n_quantiles)

    def get_config(self):
        """The layer's config, for saving."""
        return {**super().get_config(), "n_quantiles": self.n_quantiles, "base": self.base}


@keras.saving.register_keras_serializable(package="forecast")
class PinballLoss(keras.losses.Loss):
    """Mean pinball loss of (batch, horizon) targets against (batch, horizon, n_quantiles)
    quantile outputs, averaged over horizon and levels per sample (so its value equals
    ``metrics.pinball_loss(...)["mean"]``).

    Args:
        levels: (n_quantiles,) the quantile levels of the output's last axis.
    """

    def __init__(self, levels: Sequence[float], name: str = "pinball",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.levels = [float(q) for q in levels]

    def call(self, y_true, y_pred):
        """Per-sample pinball loss: (batch, horizon) targets, (batch, horizon, n_quantiles)
        outputs -> (batch,)."""
        tau = keras.ops.convert_to_tensor(self.levels, dtype=y_pred.dtype)
        error = keras.ops.expand_dims(keras.ops.cast(y_true, y_pred.dtype), -1) - y_pred
        return keras.ops.mean(keras.ops.maximum(tau * error, (tau - 1.0) * error), axis=(-2, -1))

    def get_config(self):
        """The loss's config, for saving."""
        return {**super().get_config(), "levels": self.levels}


def cudnn_eligible(model: keras.Model) -> bool:
    """Whether every recurrent layer keeps the settings the cuDNN kernel requires."""
    recurrent = [layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
                 for layer in model.layers
                 if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))]
    if not recurrent:
        return False
    for layer in recurrent:
        if not isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
            return False
        cell = layer.cell
        if (cell.activation is not keras.activations.tanh
                or cell.recurrent_activation is not keras.activations.sigmoid
                or cell.recurrent_dropout or layer.unroll or not cell.use_bias
                or getattr(cell, "reset_after", True) is not True):
            return False
    return True


def summary_text(model: keras.Model) -> str:
    """The model summary as text (Keras prints it to stdout by default)."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=88)
    return "\n".join(lines)
