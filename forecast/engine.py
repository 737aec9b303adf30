"""A NumPy forward pass for every model the factory builds, so predicting needs no TensorFlow.

At train time ``export_model`` turns a Keras model into a list of layer descriptions (stored
in config.json) and plain weight arrays (stored in weights.npz). ``NumpyModel`` runs them
with Keras's own equations: LSTM (gates i, f, c, o), GRU with ``reset_after=True`` (gates
z, r, h; separate input and recurrent biases), SimpleRNN, Bidirectional (concat, backward
output flipped back into time order), Dropout (identity at inference), Dense, the
attention block (``models.attention_block``: the last step's dot-product attention over
the sequence, concatenated to it) and the quantile head's MonotoneQuantiles (base level
plus cumulative softplus steps). Weight penalties and gradient clipping shape training
only: nothing of them is exported.
Vectorised over the batch; the only loop is over the window's time steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forecast.errors import ModelDirError

RECURRENT = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}
#: The attention block's layers besides Attention itself (``models.ATTENTION_LAYERS``),
#: by name and kind: the block is exported as one step, at its Attention layer.
ATTENTION_PARTS = {"attention_query": "Cropping1D", "attention_concat": "Concatenate",
                   "attention_flatten": "Flatten"}
ACTIVATIONS = {"linear": lambda x: x, "relu": lambda x: np.maximum(x, 0.0),
               "tanh": np.tanh, "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))}


def export_model(model) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Describe a Keras model's layers and collect its weights as named arrays.

    Returns:
        layers: JSON-ready descriptions, in order; arrays: name -> ndarray for weights.npz.
    Raises:
        ValueError: for a layer this engine does not know (predict then uses Keras).
    """
    layers: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer" or kind == "Dropout":
            continue
        if ATTENTION_PARTS.get(layer.name) == kind:
            _check_attention_part(layer)
            continue
        weights = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
        if kind == "Dense":
            entry = {"kind": "dense", "activation": layer.get_config()["activation"]}
        elif kind in RECURRENT:
            entry = _recurrent_entry(layer)
        elif kind == "Attention":
            entry = _attention_entry(layer)
        elif kind == "MonotoneQuantiles":
            entry = {"kind": "quantiles", "n_quantiles": layer.n_quantiles, "base": layer.base}
        elif kind == "Bidirectional":
            if layer.merge_mode != "concat":
                raise ValueError(f"Bidirectional merge_mode {layer.merge_mode!r}")
            entry = {**_recurrent_entry(layer.forward_layer), "bidirectional": True}
        else:
            raise ValueError(f"layer {layer.name!r} of kind {kind} has no NumPy equivalent")
        if entry.get("activation", "linear") not in ACTIVATIONS:
            raise ValueError(f"activation {entry['activation']!r}")
        names = []
        for i, w in enumerate(weights):
            names.append(f"{layer.name}/{i}")
            arrays[names[-1]] = w
        layers.append({**entry, "name": layer.name, "weights": names})
    return layers, arrays


def _recurrent_entry(layer) -> dict[str, Any]:
    config = layer.get_config()
    kind = RECURRENT[type(layer).__name__]
    expected = {"activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
                "go_backwards": False, "unroll": False}
    if kind == "rnn":
        expected.pop("recurrent_activation")
    if kind == "gru":
        expected["reset_after"] = True
    for key, value in expected.items():
        if config.get(key, value) != value:
            raise ValueError(f"{layer.name}: {key}={config.get(key)!r} is not supported")
    return {"kind": kind, "units": int(config["units"]),
            "return_sequences": bool(config["return_sequences"]), "bidirectional": False}


def _attention_entry(layer) -> dict[str, Any]:
    config = layer.get_config()
    if layer.name != "attention":
        raise ValueError(f"Attention layer {layer.name!r} is not the factory's attention block")
    for key, value in (("score_mode", "dot"), ("dropout", 0.0)):
        if config.get(key, value) != value:
            raise ValueError(f"{layer.name}: {key}={config.get(key)!r} is not supported")
    return {"kind": "attention", "scale": bool(config.get("use_scale"))}


def _check_attention_part(layer) -> None:
    """The attention block's query must be the last time step alone."""
    if type(layer).__name__ == "Cropping1D" and (layer.cropping[1] != 0
                                                  or layer.output.shape[1] != 1):
        raise ValueError(f"{layer.name}: cropping {layer.cropping} does not keep the last step")


class NumpyModel:
    """Run exported layers on (batch, window, features) inputs -> (batch, horizon), or
    (batch, horizon, quantiles) for a model with a quantile head."""

    def __init__(self, layers: list[dict[str, Any]], arrays: dict[str, np.ndarray],
                 source: str = "weights.npz"):
        self.layers = layers
        try:
            self.weights = [[np.asarray(arrays[n], dtype=np.float64) for n in layer["weights"]]
                            for layer in layers]
        except (KeyError, TypeError) as exc:
            raise ModelDirError(f"{source} lacks weights the model needs ({exc}); "
                                "retrain the model") from None
        if not all(np.isfinite(w).all() for layer in self.weights for w in layer):
            raise ModelDirError(f"{source} holds weights that are not finite numbers (NaN "
                                "or infinity); retrain the model")

    def __call__(self, X: np.ndarray, batch: int = 1024) -> np.ndarray:
        # In chunks: the input projection of every time step at once is
        # (batch, window, 4 * units) float64, which would dominate memory on long series.
        # Weights far out of range overflow to inf or NaN outputs: the caller refuses those
        # (predict.load_predictor), with one message instead of NumPy's warnings.
        parts = []
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, max(len(X), 1), batch):
                x = np.asarray(X[start:start + batch], dtype=np.float64)
                for layer, weights in zip(self.layers, self.weights):
                    x = _apply(layer, weights, x)
                parts.append(x)
        return np.concatenate(parts)


def _apply(layer: dict[str, Any], weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    kind = layer["kind"]
    if kind == "dense":
        kernel, bias = weights
        return ACTIVATIONS[layer["activation"]](x @ kernel + bias)
    if kind == "quantiles":
        return monotone_quantiles(x, int(layer["n_quantiles"]), int(layer["base"]))
    if kind == "attention":
        return attend(x, weights[0] if layer.get("scale") else 1.0)
    step = {"lstm": _lstm, "gru": _gru, "rnn": _simple_rnn}[kind]
    sequences = layer["return_sequences"]
    if not layer.get("bidirectional"):
        return _run(step, weights, x, sequences)
    half = len(weights) // 2
    forward = _run(step, weights[:half], x, sequences)
    backward = _run(step, weights[half:], x[:, ::-1], sequences)
    if sequences:
        backward = backward[:, ::-1]
    return np.concatenate([forward, backward], axis=-1)


def _run(step, weights: list[np.ndarray], x: np.ndarray, sequences: bool) -> np.ndarray:
    """Unroll one recurrent layer over time: (batch, time, in) -> (batch, [time,] units)."""
    kernel, recurrent, bias = weights
    units = recurrent.shape[0]
    batch, steps = x.shape[0], x.shape[1]
    input_bias = bias if bias.ndim == 1 else bias[0]
    projected = x @ kernel + input_bias            # all time steps at once
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    outputs = np.empty((batch, steps, units)) if sequences else None
    for t in range(steps):
        h, c = step(projected[:, t], h, c, recurrent, bias)
        if sequences:
            outputs[:, t] = h
    return outputs if sequences else h


def attend(sequence: np.ndarray, scale: float | np.ndarray = 1.0) -> np.ndarray:
    """Keras's attention block: (batch, time, units) -> (batch, 2 * units), the last step
    beside its dot-product attention (scores times ``scale``, softmax over time) over
    every step."""
    query = sequence[:, -1]                                        # (batch, units)
    scores = np.einsum("bu,btu->bt", query, sequence) * scale
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights = scores / scores.sum(axis=1, keepdims=True)
    context = np.einsum("bt,btu->bu", weights, sequence)
    return np.concatenate([query, context], axis=-1)


def monotone_quantiles(raw: np.ndarray, n_quantiles: int, base: int) -> np.ndarray:
    """Keras's ``MonotoneQuantiles``: (batch, horizon * n) raw -> (batch, horizon, n)
    quantiles, level ``base`` as is, the others cumulative softplus steps away from it."""
    x = raw.reshape(len(raw), -1, n_quantiles)
    steps = np.logaddexp(0.0, x)                   # softplus, without overflow
    out = np.empty_like(x)
    out[..., base] = x[..., base]
    out[..., base + 1:] = x[..., base:base + 1] + np.cumsum(steps[..., base + 1:], axis=-1)
    below = np.cumsum(steps[..., :base][..., ::-1], axis=-1)[..., ::-1]
    out[..., :base] = x[..., base:base + 1] - below
    return out


_sigmoid = ACTIVATIONS["sigmoid"]


def _lstm(xw, h, c, recurrent, bias):
    z = xw + h @ recurrent
    u = h.shape[1]
    i, f = _sigmoid(z[:, :u]), _sigmoid(z[:, u:2 * u])
    g, o = np.tanh(z[:, 2 * u:3 * u]), _sigmoid(z[:, 3 * u:])
    c = f * c + i * g
    return o * np.tanh(c), c


def _gru(xw, h, c, recurrent, bias):
    u = h.shape[1]
    inner = h @ recurrent + bias[1]
    z = _sigmoid(xw[:, :u] + inner[:, :u])
    r = _sigmoid(xw[:, u:2 * u] + inner[:, u:2 * u])
    candidate = np.tanh(xw[:, 2 * u:] + r * inner[:, 2 * u:])
    return z * h + (1.0 - z) * candidate, c


def _simple_rnn(xw, h, c, recurrent, bias):
    return np.tanh(xw + h @ recurrent), c
