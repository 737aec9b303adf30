"""The NumPy forward pass agrees with Keras for every architecture the factory builds."""

import subprocess
import sys

import numpy as np
import pytest

from forecast.config import ModelConfig
from forecast.engine import NumpyModel, export_model
from forecast.models import build_model


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("horizon,features,dense", [(1, 1, 0), (5, 3, 4)])
def test_numpy_matches_keras(cell, layers, bidirectional, horizon, features, dense):
    import keras
    keras.utils.set_random_seed(layers * 7 + horizon)
    config = ModelConfig(cell=cell, layers=layers, units=5, dropout=0.1, window=7,
                         horizon=horizon, bidirectional=bidirectional, dense_units=dense,
                         quantiles=[])
    model = build_model(config, features)
    # Random weights far from zero exercise every gate.
    model.set_weights([np.random.default_rng(i).normal(0, 0.5, w.shape)
                       for i, w in enumerate(model.get_weights())])
    X = np.random.default_rng(0).uniform(0, 1, (16, 7, features)).astype("float32")
    layers_desc, arrays = export_model(model)
    ours = NumpyModel(layers_desc, arrays)(X)
    theirs = model.predict(X, verbose=0)
    assert ours.shape == (16, horizon)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_numpy_and_keras_backtests_agree_on_sp500(tmp_path):
    from forecast.bundle import read_bundle
    from forecast.predict import Forecaster, load_predictor
    from tests.conftest import SP500, run_forecast

    out = tmp_path / "gru"
    done = run_forecast("train", SP500, "--model-dir", out, "--cell", "gru", "--layers", "2",
                        "--units", "6", "--window", "10", "--epochs", "1", "--features",
                        "High,Volume", "--no-baseline-guard", "--learning-rate", "0.01")
    assert done.returncode == 0, done.stderr.decode()
    bundle = read_bundle(out)
    data = bundle.data()
    numpy_path = Forecaster(bundle, data, load_predictor(bundle, "numpy"))
    keras_path = Forecaster(bundle, data, load_predictor(bundle, "keras"))
    # The default quantile head, and the derived volatility inputs beside the features
    # (Low is read for the log range only).
    assert bundle.config.inputs == ["Close", "High", "Volume", "abs-return", "log-range"]
    assert bundle.config.columns == ["Close", "High", "Volume", "Low"]
    assert numpy_path.outputs.shape == (5031 - 10 - 1 + 1, 1, 3)
    # the trained network is in use: its median moves with the input (a constant would
    # agree between engines whatever the GRU equations); 0.001 is 100 times the tolerance
    assert np.std(keras_path.outputs[:, 0, 1]) > 0.001
    np.testing.assert_allclose(numpy_path.outputs, keras_path.outputs, atol=1e-5)


#: name -> (model fixture, arguments): the moving point model, and the default quantile
#: model for what only it has (the quantile head, --quantiles, CQR bands, GARCH figures).
NO_TENSORFLOW = {
    "backtest": ("tiny_model", ["predict", "--backtest", "--interval", "0.8"]),
    "future": ("tiny_model", ["predict", "--steps", "3", "--interval", "0.8"]),
    "future beyond the horizon": ("tiny_model", ["predict", "--steps", "25"]),
    "evaluate": ("tiny_model", ["evaluate", "--json"]),
    "plot": ("tiny_model", ["plot", "--out", "PLOT"]),
    "quantile backtest": ("tiny_quantile_model",
                          ["predict", "--backtest", "--quantiles", "--interval", "0.8"]),
    "quantile future": ("tiny_quantile_model",
                        ["predict", "--steps", "1", "--quantiles", "--interval", "0.8"]),
    "quantile evaluate": ("tiny_quantile_model", ["evaluate", "--json"]),
    "quantile plot": ("tiny_quantile_model", ["plot", "--out", "PLOT"]),
}


@pytest.mark.parametrize("name", sorted(NO_TENSORFLOW))
def test_predicting_evaluating_and_plotting_never_import_tensorflow(request, tmp_path, name):
    fixture, raw = NO_TENSORFLOW[name]
    model = request.getfixturevalue(fixture)
    args = [a.replace("PLOT", str(tmp_path / "p.png")) for a in raw]
    code = (
        "import sys\n"
        "from forecast.cli import app\n"
        "from typer.testing import CliRunner\n"
        f"r = CliRunner().invoke(app, {args!r} + ['--model', r'{model}'])\n"
        "assert r.exit_code == 0, r.stderr\n"
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "print(heavy); sys.exit(1 if heavy else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("levels", [[0.1, 0.5, 0.9], [0.05, 0.1, 0.5, 0.9, 0.95], [0.5, 0.9]])
def test_numpy_matches_keras_with_the_quantile_head(cell, levels):
    import keras
    keras.utils.set_random_seed(len(levels))
    config = ModelConfig(cell=cell, layers=2, units=5, window=7, horizon=3, dense_units=4,
                         quantiles=levels)
    model = build_model(config, 2)
    model.set_weights([np.random.default_rng(i).normal(0, 0.5, w.shape)
                       for i, w in enumerate(model.get_weights())])
    X = np.random.default_rng(0).uniform(0, 1, (16, 7, 2)).astype("float32")
    layers_desc, arrays = export_model(model)
    assert layers_desc[-1] == {"kind": "quantiles", "n_quantiles": len(levels),
                               "base": levels.index(0.5), "name": "quantiles", "weights": []}
    ours = NumpyModel(layers_desc, arrays)(X)
    assert ours.shape == (16, 3, len(levels))
    np.testing.assert_allclose(ours, model.predict(X, verbose=0), atol=1e-5)
    assert np.all(np.diff(ours, axis=-1) >= 0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("levels,dense", [([], 0), ([0.1, 0.5, 0.9], 4)])
def test_numpy_matches_keras_with_attention(cell, layers, bidirectional, levels, dense):
    import keras
    keras.utils.set_random_seed(layers + len(levels))
    config = ModelConfig(cell=cell, layers=layers, units=5, dropout=0.1, window=7, horizon=3,
                         bidirectional=bidirectional, dense_units=dense, quantiles=levels,
                         attention=True, l1=1e-5, l2=1e-4)
    model = build_model(config, 2)
    model.set_weights([np.random.default_rng(i).normal(0, 0.5, w.shape)
                       for i, w in enumerate(model.get_weights())])
    X = np.random.default_rng(0).uniform(0, 1, (16, 7, 2)).astype("float32")
    layers_desc, arrays = export_model(model)
    assert [d["kind"] for d in layers_desc].count("attention") == 1
    assert all(d["return_sequences"] for d in layers_desc if "return_sequences" in d)
    ours = NumpyModel(layers_desc, arrays)(X)
    assert ours.shape == ((16, 3, len(levels)) if levels else (16, 3))
    np.testing.assert_allclose(ours, model.predict(X, verbose=0), atol=1e-5)


def test_attention_is_not_a_plain_last_step():
    """The attention's context counts: zeroing the weights of the context half of the
    head's input changes the forecast (and the engine still follows Keras)."""
    import keras
    keras.utils.set_random_seed(3)
    model = build_model(ModelConfig(units=4, window=6, quantiles=[], attention=True), 1)
    model.set_weights([np.random.default_rng(i).normal(0, 0.5, w.shape)
                       for i, w in enumerate(model.get_weights())])
    X = np.random.default_rng(1).uniform(0, 1, (8, 6, 1)).astype("float32")
    layers_desc, arrays = export_model(model)
    full = NumpyModel(layers_desc, arrays)(X)
    arrays = dict(arrays)
    arrays["forecast/0"] = arrays["forecast/0"].copy()
    arrays["forecast/0"][4:] = 0.0              # the head's weights on the context
    assert not np.allclose(NumpyModel(layers_desc, arrays)(X), full)
