import keras
import numpy as np
import pytest

from forecast.config import ModelConfig
from forecast.errors import UsageError
from forecast.models import (CELLS, MIN_START_GAP, PinballLoss, build_model, cell_layer,
                             cudnn_eligible, quantile_start)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("layers,horizon,bidirectional", [(1, 1, False), (2, 3, False),
                                                          (2, 1, True)])
def test_output_shape(cell, layers, horizon, bidirectional):
    config = ModelConfig(cell=cell, layers=layers, units=3, dropout=0.1, window=6,
                         horizon=horizon, bidirectional=bidirectional, quantiles=[])
    model = build_model(config, n_features=2)
    out = model(np.zeros((4, 6, 2), dtype="float32"))
    assert tuple(out.shape) == (4, horizon)


def test_layers_are_named_and_stacked():
    model = build_model(ModelConfig(cell="gru", layers=2, units=3, dropout=0.2,
                                    dense_units=5, quantiles=[]), n_features=1)
    names = [layer.name for layer in model.layers]
    assert names == ["window", "gru_1", "dropout_1", "gru_2", "dropout_2", "hidden_dense",
                     "forecast"]
    assert model.get_layer("gru_1").return_sequences
    assert not model.get_layer("gru_2").return_sequences
    assert model.get_layer("gru_1").cell.recurrent_dropout == 0


def test_unknown_cell_lists_the_valid_names():
    with pytest.raises(UsageError, match="choose one of: lstm, gru, rnn"):
        cell_layer("transformer")


def test_cudnn_eligibility():
    assert cudnn_eligible(build_model(ModelConfig(cell="lstm", layers=2, units=2), 1))
    assert cudnn_eligible(build_model(ModelConfig(cell="gru", bidirectional=True, units=2), 1))
    assert not cudnn_eligible(build_model(ModelConfig(cell="rnn", units=2), 1))


def test_mixed_precision_keeps_a_float32_output():
    model = build_model(ModelConfig(units=2, window=3), 1, precision="mixed")
    assert model.get_layer("lstm_1").compute_dtype == "float16"
    assert model.get_layer("forecast").compute_dtype == "float32"
    assert keras.backend.standardize_dtype(model(np.zeros((1, 3, 1))).dtype) == "float32"


LEVELS = [0.1, 0.5, 0.9]


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_quantile_output_shape(cell):
    config = ModelConfig(cell=cell, units=3, window=6, horizon=2, quantiles=LEVELS)
    model = build_model(config, n_features=2)
    assert tuple(model(np.zeros((4, 6, 2), dtype="float32")).shape) == (4, 2, 3)
    # The keyword overrides the config either way; empty gives the point output.
    assert tuple(build_model(config, 2, quantiles=[]).output_shape) == (None, 2)
    assert tuple(build_model(ModelConfig(window=6), 2, quantiles=LEVELS).output_shape) == \
        (None, 1, 3)


@pytest.mark.parametrize("levels", [LEVELS, [0.05, 0.1, 0.5, 0.9, 0.95], [0.5, 0.9],
                                    [0.1, 0.5], [0.5]])
def test_quantiles_never_cross(levels):
    config = ModelConfig(units=4, window=5, horizon=3, dense_units=3)
    model = build_model(config, n_features=2, quantiles=levels)
    rng = np.random.default_rng(len(levels))
    for scale in (0.5, 5.0):   # large weights push many softplus terms to ~0 or very large
        model.set_weights([rng.normal(0, scale, w.shape) for w in model.get_weights()])
        out = np.asarray(model(rng.normal(0, 3, (64, 5, 2)).astype("float32")))
        assert out.shape == (64, 3, len(levels))
        assert np.all(np.diff(out, axis=-1) >= 0)


def test_quantile_start_puts_the_untrained_median_at_the_start():
    y = np.random.default_rng(0).normal(0.5, 0.1, (200, 2))
    start = quantile_start(y, LEVELS)
    assert start.shape == (2, 3)
    np.testing.assert_allclose(start[:, 1], np.median(y, axis=0))
    model = build_model(ModelConfig(units=3, window=4, horizon=2), 1, output_start=start,
                        quantiles=LEVELS)
    out = np.asarray(model(np.random.default_rng(1).normal(size=(5, 4, 1)).astype("float32")))
    np.testing.assert_array_equal(out[:, :, 1], np.broadcast_to(
        start[:, 1].astype("float32"), (5, 2)))
    np.testing.assert_allclose(out, np.broadcast_to(start, out.shape), atol=1e-6)


def test_tied_start_quantiles_keep_a_small_gap():
    start = np.array([[0.2, 0.2, 0.3]])
    model = build_model(ModelConfig(units=2, window=3), 1, output_start=start, quantiles=LEVELS)
    out = np.asarray(model(np.zeros((1, 3, 1), dtype="float32")))[0, 0]
    assert out[1] == pytest.approx(0.2) and out[0] == pytest.approx(0.2 - MIN_START_GAP)


def test_a_point_start_for_a_quantile_model_is_refused():
    with pytest.raises(ValueError, match=r"needs \(1, 3\)"):
        build_model(ModelConfig(units=2, window=3), 1, output_start=np.zeros(1),
                    quantiles=LEVELS)


def test_pinball_loss_matches_the_hand_computation():
    from forecast.metrics import pinball_loss

    y_true = np.array([[10.0, 4.0]])                       # (batch 1, horizon 2)
    y_pred = np.array([[[8.0, 10.0, 12.0], [5.0, 6.0, 7.0]]])
    loss = float(PinballLoss(LEVELS)(y_true, y_pred))
    # the same numbers as tests/test_metrics.py: (0.2 + 0 + 0.2 + 0.9 + 1.0 + 0.3) / 6
    assert loss == pytest.approx(2.6 / 6, rel=1e-6)
    rng = np.random.default_rng(2)
    y_true, y_pred = rng.normal(size=(8, 3)), np.sort(rng.normal(size=(8, 3, 3)), axis=-1)
    expected = pinball_loss(y_true.reshape(-1), y_pred.reshape(-1, 3), LEVELS)["mean"]
    assert float(PinballLoss(LEVELS)(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)


def test_a_quantile_model_trains_saves_and_loads_in_safe_mode(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 5, 1)).astype("float32"), rng.normal(size=(64, 2))
    model = build_model(ModelConfig(units=3, window=5, horizon=2), 1,
                        output_start=quantile_start(y, LEVELS), quantiles=LEVELS)
    model.compile(optimizer="adam", loss=PinballLoss(LEVELS))
    history = model.fit(X, y, epochs=2, batch_size=32, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(X)), np.asarray(model(X)), atol=1e-6)
    assert isinstance(again.loss, PinballLoss) and again.loss.levels == LEVELS


def test_l1_and_l2_reach_every_kernel_and_recurrent_kernel():
    config = ModelConfig(layers=2, units=3, dense_units=4, l1=1e-5, l2=1e-4,
                         bidirectional=True)
    model = build_model(config, 2)
    recurrent = [layer.forward_layer for layer in model.layers
                 if isinstance(layer, keras.layers.Bidirectional)]
    recurrent += [layer.backward_layer for layer in model.layers
                  if isinstance(layer, keras.layers.Bidirectional)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(recurrent) == 4 and [d.name for d in dense] == ["hidden_dense", "forecast"]
    penalties = [layer.cell.kernel_regularizer for layer in recurrent]
    penalties += [layer.cell.recurrent_regularizer for layer in recurrent]
    penalties += [layer.kernel_regularizer for layer in dense]
    for penalty in penalties:
        assert isinstance(penalty, keras.regularizers.L1L2)
        assert penalty.l1 == pytest.approx(1e-5) and penalty.l2 == pytest.approx(1e-4)
    assert model.losses   # the penalty joins the loss


def test_no_penalty_by_default():
    model = build_model(ModelConfig(units=3, dense_units=2), 1)
    assert not model.losses
    assert all(getattr(layer, "kernel_regularizer", None) is None for layer in model.layers)
    assert model.get_layer("lstm_1").cell.recurrent_regularizer is None


@pytest.mark.parametrize("l1,l2", [(1e-3, 0.0), (0.0, 1e-3)])
def test_each_penalty_has_its_own_factor(l1, l2):
    penalty = build_model(ModelConfig(units=3, l1=l1, l2=l2), 1).get_layer("forecast") \
        .kernel_regularizer
    assert (penalty.l1, penalty.l2) == (pytest.approx(l1), pytest.approx(l2))


@pytest.mark.parametrize("layers", [1, 2])
def test_attention_sits_between_the_last_recurrent_layer_and_the_head(layers):
    model = build_model(ModelConfig(units=3, window=6, layers=layers, dense_units=2,
                                    attention=True), 1)
    names = [layer.name for layer in model.layers]
    attention = model.get_layer("attention")
    assert isinstance(attention, keras.layers.Attention)
    assert names.index(f"lstm_{layers}") < names.index("attention") < names.index("hidden_dense")
    assert model.get_layer(f"lstm_{layers}").return_sequences
    assert model.get_layer("attention_flatten").output.shape == (None, 6)   # last + context
    assert model.output_shape == (None, 1, 3)
    assert cudnn_eligible(model)   # attention leaves the recurrent layers eligible
    plain = build_model(ModelConfig(units=3, window=6, layers=layers), 1)
    assert not any(isinstance(layer, keras.layers.Attention) for layer in plain.layers)
    assert not plain.get_layer(f"lstm_{layers}").return_sequences


def test_an_attention_model_saves_and_loads_in_safe_mode(tmp_path):
    keras.utils.set_random_seed(0)
    X = np.random.default_rng(0).normal(size=(8, 5, 1)).astype("float32")
    model = build_model(ModelConfig(units=3, window=5, attention=True, l2=1e-4), 1)
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(X)), np.asarray(model(X)), atol=1e-6)
