"""The model factory: a registry of recurrent cells, stacked into a direct multi-step model.

Input ``(batch, window, features)``; output ``(batch, horizon)``.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from forecast.config import ModelConfig
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
                output_start: np.ndarray | None = None) -> keras.Model:
    """Build (uncompiled) the stacked recurrent model.

    Args:
        config: cell, layers, units, dropout, bidirectional, dense_units, window, horizon.
        n_features: input columns per time step.
        precision: ``float32``, or ``mixed`` (float16 compute; the output layer stays float32).
        output_start: (horizon,) if given, the output layer starts with a zero kernel and
            this bias, so the untrained model forecasts exactly this constant.

    Returns:
        keras.Model mapping (batch, window, n_features) -> (batch, horizon).
    """
    layer_cls = cell_layer(config.cell)
    dtype = "mixed_float16" if precision == "mixed" else "float32"
    inputs = keras.Input(shape=(config.window, n_features), name="window")
    x = inputs
    for i in range(1, config.layers + 1):
        last = i == config.layers
        rnn = layer_cls(config.units, return_sequences=not last, dtype=dtype,
                        name=f"{config.cell}_{i}")
        if config.bidirectional:
            rnn = keras.layers.Bidirectional(rnn, dtype=dtype,
                                             name=f"bidirectional_{config.cell}_{i}")
        x = rnn(x)
        if config.dropout > 0:
            # Dropout between layers, not recurrent_dropout, which rules out cuDNN.
            x = keras.layers.Dropout(config.dropout, dtype=dtype, name=f"dropout_{i}")(x)
    if config.dense_units:
        x = keras.layers.Dense(config.dense_units, activation="relu", dtype=dtype,
                               name="hidden_dense")(x)
    start = {}
    if output_start is not None:
        start = {"kernel_initializer": "zeros", "bias_initializer":
                 keras.initializers.Constant(np.asarray(output_start, dtype="float32"))}
    outputs = keras.layers.Dense(config.horizon, dtype="float32", name="forecast", **start)(x)
    return keras.Model(inputs, outputs, name=f"{config.cell}_forecaster")


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
