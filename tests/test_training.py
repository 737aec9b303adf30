import io
import json
import math

import numpy as np
import pytest

from forecast.config import DataConfig, ForecastConfig, ModelConfig, TrainConfig
from forecast.data import read_prices
from forecast.errors import DataError, TrainingError
from forecast.training import StderrProgress, run_training
from tests.conftest import TINY, price_frame, run_forecast


def tiny_config(**training) -> ForecastConfig:
    return ForecastConfig(DataConfig(), ModelConfig(window=5, units=4),
                          TrainConfig(epochs=2, batch_size=32, **training))


def test_same_seed_gives_identical_weights_and_metrics(prices_csv):
    prices = read_prices(prices_csv)
    runs = [run_training(prices, tiny_config(seed=7), stream=io.StringIO()) for _ in range(2)]
    for a, b in zip(runs[0].model.get_weights(), runs[1].model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert json.dumps(runs[0].metrics) == json.dumps(runs[1].metrics)
    other = run_training(prices, tiny_config(seed=8), stream=io.StringIO())
    assert not np.array_equal(other.model.get_weights()[0], runs[0].model.get_weights()[0])


def test_progress_is_one_line_per_epoch_off_a_terminal(prices_csv):
    stream = io.StringIO()
    trained = run_training(read_prices(prices_csv), tiny_config(), stream=stream)
    lines = [l for l in stream.getvalue().splitlines() if l.startswith("epoch ")]
    assert len(lines) == len(trained.history["loss"]) == 2
    assert "loss" in lines[0] and "val_loss" in lines[0]


def test_metrics_compare_model_with_baselines_on_the_test_rows(prices_csv):
    trained = run_training(read_prices(prices_csv), tiny_config(), stream=io.StringIO())
    test = trained.metrics["test"]["series"]["prices"]
    assert test["rows"] == trained.config.facts["test_rows"] == 60
    assert test["naive"]["rel_mae"] == 1.0
    for name in ("model", "naive", "drift"):
        assert set(test[name]) >= {"mae", "rmse", "mape", "mase", "directional_accuracy"}
    assert 0 <= test["interval"]["coverage"] <= 1


def test_nan_loss_stops_and_says_so():
    callback = StderrProgress(epochs=3, steps=1, stream=io.StringIO())

    class Model:
        stop_training = False
    callback.set_model(Model())
    callback.on_epoch_begin(1)
    callback.on_train_batch_end(0, {"loss": math.nan})
    assert callback.model.stop_training and callback.nan_epoch == 2


def test_a_huge_learning_rate_that_diverges_writes_nothing(prices_csv, tmp_path):
    frame = price_frame(300)
    frame.loc[150, "Close"] *= 1e150  # scaling squashes every other return to one value
    frame.to_csv(prices_csv, index=False)
    prices = read_prices(prices_csv)
    with pytest.raises(TrainingError, match="NaN or infinite in epoch 1"):
        run_training(prices, tiny_config(learning_rate=1e30, target_transform="level"),
                     stream=io.StringIO())


def test_mirrored_strategy_on_two_logical_cpus(prices_csv, tmp_path):
    out = tmp_path / "mirrored"
    done = run_forecast("train", prices_csv, "--model-dir", out, "--strategy", "mirrored",
                        *TINY, env={"FORECAST_LOGICAL_CPUS": "2"})
    assert done.returncode == 0, done.stderr.decode()
    assert b"MirroredStrategy" in done.stderr and b"/device:CPU:1" in done.stderr
    assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()


def ar_prices(rows: int, phi: float, seed: int = 0):
    """Prices whose daily log-returns follow an AR(1) with coefficient phi."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.01, rows)
    returns = np.zeros(rows)
    for t in range(1, rows):
        returns[t] = phi * returns[t - 1] + noise[t]
    return pd.DataFrame({"Date": pd.bdate_range("2000-01-03", periods=rows),
                         "Close": 100 * np.exp(np.cumsum(returns))})


@pytest.mark.parametrize("phi,kept", [(0.5, "network"), (0.0, "start")])
def test_the_baseline_guard_keeps_a_network_only_when_it_has_found_something(tmp_path, phi,
                                                                             kept):
    path = tmp_path / "ar.csv"
    ar_prices(4000, phi).to_csv(path, index=False)  # 200 validation windows for the test
    config = ForecastConfig(DataConfig(), ModelConfig(window=5, units=8),
                            TrainConfig(epochs=40, patience=8, learning_rate=1e-2))
    trained = run_training(read_prices(path), config, stream=io.StringIO())
    guard = trained.config.facts["baseline_guard"]
    assert guard["kept"] == kept, guard
    test = next(iter(trained.metrics["test"]["series"].values()))
    if kept == "network":
        assert trained.config.facts["best_epoch"] >= 1
        assert test["model"]["rel_mae"] < 0.9  # an AR(1) is predictable: it beats naive
    else:
        assert trained.config.facts["best_epoch"] == 0
        # the kept start forecasts the same median step from every window
        outputs = trained.model.predict(np.random.default_rng(0).uniform(0, 1, (4, 5, 1)),
                                        verbose=0)
        np.testing.assert_allclose(outputs, outputs[0:1].repeat(4, axis=0))


def test_diebold_mariano_on_a_hand_case():
    from forecast.training import diebold_mariano
    diff = np.array([-1.0, -2.0, -3.0])      # mean -2, sample var (ddof 0) 2/3
    assert diebold_mariano(diff) == pytest.approx(-2 / np.sqrt((2 / 3) / 3))
    assert diebold_mariano(np.zeros(5)) == 0.0


def test_values_that_overflow_when_scaled_are_refused_with_the_line(tmp_path):
    frame = price_frame(300)
    frame["Close"] = frame["Close"].astype(object)
    frame.loc[10, "Close"] = "1e308"
    frame.loc[20, "Close"] = "-1e308"   # the span overflows to inf: nothing can be scaled
    path = tmp_path / "huge.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"huge.csv line \d+, column 'Close': value is too large"):
        run_training(read_prices(path), tiny_config(target_transform="level"),
                     stream=io.StringIO())


def test_progress_on_a_terminal_draws_a_bar_then_the_epoch_line():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    callback = StderrProgress(epochs=2, steps=4, stream=stream)
    callback.on_epoch_begin(0)
    callback.on_train_batch_end(1, {"loss": 0.5})
    callback.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.25})
    text = stream.getvalue()
    assert text.startswith("\repoch 1/2  [##########          ] 2/4 loss 0.500000")
    assert text.endswith("\r\033[Kepoch 1/2  loss 0.500000  val_loss 0.250000  0.0s *\n")
