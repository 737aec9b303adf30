import keras
import numpy as np
import pytest

from forecast.config import ModelConfig
from forecast.errors import UsageError
from forecast.models import CELLS, build_model, cell_layer, cudnn_eligible


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("layers,horizon,bidirectional", [(1, 1, False), (2, 3, False),
                                                          (2, 1, True)])
def test_output_shape(cell, layers, horizon, bidirectional):
    config = ModelConfig(cell=cell, layers=layers, units=3, dropout=0.1, window=6,
                         horizon=horizon, bidirectional=bidirectional)
    model = build_model(config, n_features=2)
    out = model(np.zeros((4, 6, 2), dtype="float32"))
    assert tuple(out.shape) == (4, horizon)


def test_layers_are_named_and_stacked():
    model = build_model(ModelConfig(cell="gru", layers=2, units=3, dropout=0.2,
                                    dense_units=5), n_features=1)
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
