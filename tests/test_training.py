import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from forecast.config import DataConfig, ForecastConfig, ModelConfig, TrainConfig
from forecast.data import read_panel
from forecast.errors import DataError, TrainingError
from forecast.training import StderrProgress, run_training
from tests.conftest import (MOVING, TINY, assert_forecasts_move, backtest_frame, implied_steps,
                            price_frame, run_forecast)


def tiny_config(**training) -> ForecastConfig:
    return ForecastConfig(DataConfig(), ModelConfig(window=5, units=4),
                          TrainConfig(epochs=2, batch_size=32, **training))


def test_same_seed_gives_identical_weights_and_metrics(prices_csv):
    prices = read_panel([prices_csv])
    runs = [run_training(prices, tiny_config(seed=7), stream=io.StringIO()) for _ in range(2)]
    for a, b in zip(runs[0].model.get_weights(), runs[1].model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert json.dumps(runs[0].metrics) == json.dumps(runs[1].metrics)
    other = run_training(prices, tiny_config(seed=8), stream=io.StringIO())
    assert not np.array_equal(other.model.get_weights()[0], runs[0].model.get_weights()[0])


def test_progress_is_one_line_per_epoch_off_a_terminal(prices_csv, monkeypatch):
    monkeypatch.setattr("forecast.console.PROGRESS_AFTER_S", -1.0)  # a slow training
    stream = io.StringIO()
    trained = run_training(read_panel([prices_csv]), tiny_config(), stream=stream)
    lines = [l for l in stream.getvalue().splitlines() if l.startswith("epoch ")]
    assert len(lines) == len(trained.history["loss"]) == 2
    assert "loss" in lines[0] and "val_loss" in lines[0]


def test_metrics_compare_model_with_baselines_on_the_test_rows(prices_csv):
    trained = run_training(read_panel([prices_csv]), tiny_config(), stream=io.StringIO())
    test = trained.metrics["test"]["series"]["prices"]
    assert test["rows"] == trained.config.facts.test_rows == 60
    assert test["naive"]["rel_mae"] == 1.0
    for name in ("model", "naive", "drift"):
        assert set(test[name]) >= {"mae", "rmse", "mape", "mase", "directional_accuracy"}
    assert 0 <= test["interval"]["coverage"] <= 1


def test_train_scores_the_test_rows_as_evaluate_does_and_naive_by_hand(cli, prices_csv):
    # train scores its Keras model in float32 (training.score_split); evaluate scores the
    # stored model with the NumPy engine (predict.Forecaster): two code paths, one answer.
    result = cli("train", prices_csv, *MOVING, "--model-dir", "m", "--json")
    assert result.exit_code == 0, result.stderr
    trained = json.loads(result.stdout)["test"]
    evaluated = json.loads(cli("evaluate", "--model", "m", "--json").stdout)["test"]
    close = price_frame(300)["Close"].to_numpy()
    assert trained["rows"] == evaluated["rows"] == 60
    naive = np.mean(np.abs(np.diff(close)[-60:]))
    for scores in (trained, evaluated):
        assert scores["naive"]["mae"] == pytest.approx(naive, rel=1e-12)
    for key in ("mae", "rmse", "rel_mae", "directional_accuracy"):
        assert trained["model"][key] == pytest.approx(evaluated["model"][key], rel=1e-5), key
    assert trained["interval"]["coverage"] == evaluated["interval"]["coverage"]
    assert trained["interval"]["mean_width"] == pytest.approx(
        evaluated["interval"]["mean_width"], rel=1e-5)
    assert trained["model"]["rel_mae"] != pytest.approx(1.0, abs=1e-3)  # a moving network


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
    prices = read_panel([prices_csv])
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
    trained = run_training(read_panel([path]), config, stream=io.StringIO())
    guard = trained.config.facts.baseline_guard
    assert guard["kept"] == kept, guard
    test = next(iter(trained.metrics["test"]["series"].values()))
    if kept == "network":
        assert trained.config.facts.best_epoch >= 1
        assert test["model"]["rel_mae"] < 0.9  # an AR(1) is predictable: it beats naive
    else:
        assert trained.config.facts.best_epoch == 0
        # the kept start forecasts the same median step from every window; the quantiles
        # around it stay the network's
        features = len(trained.config.inputs)
        outputs = trained.model.predict(
            np.random.default_rng(0).uniform(0, 1, (4, 5, features)), verbose=0)
        np.testing.assert_array_equal(outputs[:, :, 1], 0.0)
        assert np.ptp(outputs[:, :, 2]) > 0


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
        run_training(read_panel([path]), tiny_config(target_transform="level"),
                     stream=io.StringIO())


def test_epoch_lines_come_once_training_has_taken_a_while_notes_first(capsys, monkeypatch):
    """A quick training prints no epoch line (a failing one then prints only its error);
    once it has taken PROGRESS_AFTER_S, the held notes and the epochs so far come, then
    each epoch as it ends."""
    from forecast.console import held_warnings, info

    with held_warnings() as held:
        info("device: CPU")
        callback = StderrProgress(epochs=3, steps=1)
        callback.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.25})
        assert capsys.readouterr().err == "" and held == ["device: CPU"]
        monkeypatch.setattr("forecast.console.PROGRESS_AFTER_S", -1.0)
        callback.on_epoch_end(1, {"loss": 0.4, "val_loss": 0.2})
        callback.on_epoch_end(2, {"loss": 0.3, "val_loss": 0.3})
        assert held == []
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "forecast: device: CPU"
    assert [line.split()[1] for line in lines[1:]] == ["1/3", "2/3", "3/3"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_quick_training_on_a_terminal_leaves_no_bar_and_no_line():
    stream = Terminal()
    callback = StderrProgress(epochs=2, steps=4, stream=stream)
    callback.on_epoch_begin(0)
    callback.on_train_batch_end(1, {"loss": 0.5})
    callback.erase_bar()   # as fit does when training ends or fails
    assert stream.getvalue().endswith("\r\033[K") and "\n" not in stream.getvalue()


def test_progress_on_a_terminal_draws_a_bar_then_the_epoch_line(monkeypatch):
    monkeypatch.setattr("forecast.console.PROGRESS_AFTER_S", -1.0)  # a slow training
    stream = Terminal()
    callback = StderrProgress(epochs=2, steps=4, stream=stream)
    callback.on_epoch_begin(0)
    callback.on_train_batch_end(1, {"loss": 0.5})
    callback.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.25})
    text = stream.getvalue()
    assert text.startswith("\repoch 1/2  [##########          ] 2/4 loss 0.500000")
    assert text.endswith("\r\033[Kepoch 1/2  loss 0.500000  val_loss 0.250000  0.0s *\n")


def test_pin_median_puts_the_median_back_and_keeps_the_spread():
    import keras

    from forecast.models import build_model, quantile_start
    from forecast.training import pin_median

    config = ModelConfig(units=3, window=4, horizon=2)
    start = quantile_start(np.random.default_rng(0).normal(size=(50, 2)), [0.1, 0.5, 0.9])
    start[:, 1] = 0.0
    model = build_model(config, 2, output_start=start)
    head = model.get_layer("forecast").get_weights()
    keras.utils.set_random_seed(1)
    model.set_weights([w + np.random.default_rng(i).normal(0, 0.3, w.shape)
                       for i, w in enumerate(model.get_weights())])
    X = np.random.default_rng(2).uniform(0, 1, (6, 4, 2)).astype("float32")
    trained = model.predict(X, verbose=0)
    pin_median(model, head, 3, 1)
    pinned = model.predict(X, verbose=0)
    np.testing.assert_allclose(pinned[..., 1], 0.0, atol=1e-7)
    np.testing.assert_allclose(pinned - pinned[..., 1:2], trained - trained[..., 1:2],
                               atol=1e-6)


def test_a_quantile_model_starts_at_the_training_spread_with_its_median_at_zero(prices_csv):
    from forecast.training import output_start
    from forecast.windows import prepare_training

    config = tiny_config()
    prepared, _, _, config = prepare_training(read_panel([prices_csv]), config)
    start = output_start(prepared, config)
    y = prepared.targets(prepared.starts[prepared.masks["train"]])
    assert start.shape == (1, 3) and start[0, 1] == 0.0
    np.testing.assert_allclose(start[0, [0, 2]], np.quantile(y, [0.1, 0.9]))


def test_training_on_garch_returns_learns_the_volatility_and_keeps_its_band():
    """End to end: on GARCH(1,1) returns the trained quantile band widens and narrows with
    the true volatility (the absolute-return input makes that learnable), and the interval
    guard keeps it. (On constant-volatility noise a trained network learns a nearly constant
    band, which may fairly beat the rolling band; the fallback is tested above with a band
    that chases swings that are not there.)"""
    import pandas as pd

    from forecast.data import Panel
    from forecast.training import predict_batched
    from forecast.windows import origin_forecasts
    from forecast.windows import prepare_panel
    from tests.test_baselines import garch_path, prices_of

    steps, sd = garch_path(3000, 1e-4 * 0.05, 0.2, 0.75, np.random.default_rng(1))
    frame = pd.DataFrame({"Close": prices_of(steps)},
                         index=pd.bdate_range("2000-01-03", periods=3001))
    panel = Panel.from_frames({"x": frame})
    config = ForecastConfig(DataConfig(), ModelConfig(window=10, units=8),
                            TrainConfig(epochs=20, learning_rate=1e-2, val_fraction=0.4,
                                        test_fraction=0.1))
    trained = run_training(panel, config, stream=io.StringIO())
    assert trained.config.data.derived == ["abs-return"]
    assert trained.config.facts.interval_guard["0.8"]["kept"] == "network"
    assert trained.metrics["test"]["series"]["x"]["intervals"]["band"] == "quantiles"
    prepared = prepare_panel(panel, "log-return", 10, 1, scaler=trained.scaler,
                             derived=["abs-return"])
    forecasts = origin_forecasts(lambda X: predict_batched(trained.model, X), prepared, panel,
                                 "log-return", levels=[0.1, 0.5, 0.9])
    width = np.log(forecasts.quantiles[:-1, 0, 2] / forecasts.quantiles[:-1, 0, 0])
    assert np.corrcoef(width, sd[forecasts.rows[:-1] - 1])[0, 1] > 0.9


# The baseline guard, on a stand-in model whose forecasts the test chooses exactly.

class LineModel:
    """A stand-in for a Keras model: forecasts ``a + b * X[:, 0, :]`` (samples, horizon),
    with weights [a, b]; enough of the Keras API for ``training.guard``."""

    def __init__(self, a, b):
        self.weights = [np.asarray(a, float), np.asarray(b, float)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.asarray(w, float).copy() for w in weights]

    def __call__(self, X, training=False):
        a, b = self.weights
        return a + b * np.asarray(X, float)[:, 0, :]


def guard_case(diff, loss="mae", horizon=1):
    """Run the guard where the trained network's per-window loss minus the start's
    (a constant forecast 0 of targets 1) is exactly ``diff`` (n,).

    Returns the guard's result, the model after it, and the start and trained weights."""
    from forecast.training import guard

    diff = np.asarray(diff, float)
    # |1 - x| - 1 = d for x = -d (d > -1); (1 - x)^2 - 1 = d for x = 1 - sqrt(1 + d)
    x = -diff if loss == "mae" else 1 - np.sqrt(1 + diff)
    X = np.repeat(x[:, None, None], horizon, axis=2)          # (n, 1, horizon)
    y = np.ones((len(diff), horizon))
    start = [np.zeros(horizon), np.zeros(horizon)]
    model = LineModel(np.zeros(horizon), np.ones(horizon))      # the trained weights
    trained = model.get_weights()
    result = guard(model, start, X, y, loss, io.StringIO())
    return result, model, start, trained


def diff_with_stat(stat, n=100):
    """A loss differential (n,) whose Diebold-Mariano statistic (horizon 1) is ``stat``:
    mean stat * 0.05 around an alternating +-0.5 (standard error 0.5 / sqrt(100))."""
    return stat * 0.05 + 0.5 * (-1.0) ** np.arange(n)


@pytest.mark.parametrize("stat,kept", [(-2.5, "network"), (-1.0, "start"), (1.0, "start"),
                                       (3.0, "start")])
def test_the_guard_keeps_the_network_only_below_minus_1_645(stat, kept):
    from forecast.training import diebold_mariano

    diff = diff_with_stat(stat)
    assert diebold_mariano(diff) == pytest.approx(stat)
    result, model, start, trained = guard_case(diff)
    assert result["kept"] == kept
    assert result["dm_stat"] == pytest.approx(stat, rel=1e-5)
    assert result["p_value"] == pytest.approx(0.5 * (1 + math.erf(stat / math.sqrt(2))),
                                              rel=1e-4)
    # and the model holds the weights of what was kept
    for got, want in zip(model.get_weights(), trained if kept == "network" else start):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("loss", ["mae", "mse", "huber"])
def test_the_guard_compares_losses_in_the_training_loss(loss):
    result, *_ = guard_case(diff_with_stat(-2.5), "mse" if loss == "huber" else loss)
    assert result["dm_stat"] == pytest.approx(-2.5, rel=1e-5)
    # Small errors mostly, and a few large ones: MAE prefers the network, MSE the start.
    from forecast.training import guard

    x = np.where(np.arange(100) % 10 == 0, -3.0, 0.9)[:, None, None]
    y = np.ones((100, 1))
    verdicts = {}
    for name in ("mae", "mse", "huber"):
        model = LineModel([0.0], [1.0])
        verdicts[name] = guard(model, [np.zeros(1), np.zeros(1)], x, y, name,
                               io.StringIO())["kept"]
    assert verdicts == {"mae": "network", "mse": "start", "huber": "start"}


def test_diebold_mariano_newey_west_by_hand():
    from forecast.training import diebold_mariano

    diff = np.array([1.0, 3.0, 2.0, 6.0])   # mean 3, deviations -2, 0, -1, 3
    gamma0 = (4 + 0 + 1 + 9) / 4             # 3.5
    gamma1 = (0 * -2 + -1 * 0 + 3 * -1) / 4  # -0.75
    gamma2 = (-1 * -2 + 3 * 0) / 4           # 0.5
    assert diebold_mariano(diff, 1) == pytest.approx(3 / math.sqrt(gamma0 / 4))
    assert diebold_mariano(diff, 2) == pytest.approx(
        3 / math.sqrt((gamma0 + 2 * (1 / 2) * gamma1) / 4))
    assert diebold_mariano(diff, 3) == pytest.approx(
        3 / math.sqrt((gamma0 + 2 * (2 / 3) * gamma1 + 2 * (1 / 3) * gamma2) / 4))


def test_the_guard_allows_for_overlapping_multi_step_forecasts():
    # Two-step forecasts overlap, so their loss differentials are autocorrelated (here in
    # runs of four). Without the Newey-West lag term the statistic is -1.9 and the network
    # would pass; with it the start is kept.
    from forecast.training import diebold_mariano

    runs = 0.5 * np.repeat((-1.0) ** np.arange(24), 4)        # +,+,+,+,-,-,-,-,...
    diff = runs - runs.mean() - 1.9 * runs.std() / math.sqrt(len(runs))
    assert diebold_mariano(diff, 1) == pytest.approx(-1.9)
    assert -1.645 < diebold_mariano(diff, 2) < -1.4
    result, *_ = guard_case(diff, horizon=2)
    assert result["kept"] == "start"
    assert result["dm_stat"] == pytest.approx(diebold_mariano(diff, 2), rel=1e-5)


def test_split_validation_halves_without_sharing_a_target_row():
    from forecast.training import split_validation

    val = np.zeros(40, bool)
    val[10:30] = True                       # 20 validation windows
    first, second = split_validation(val, horizon=3)
    assert np.flatnonzero(first).tolist() == list(range(10, 20))
    assert np.flatnonzero(second).tolist() == list(range(22, 30))  # 2 windows left out
    # window i targets rows i .. i + 2 (in window units): the halves share none
    assert max(np.flatnonzero(first)) + 2 < min(np.flatnonzero(second))


def test_the_guard_tests_on_windows_early_stopping_never_saw(cli, prices_csv, monkeypatch):
    # Spy on the validation data Keras's fit gets (early stopping chooses the epoch on it)
    # and on the windows the guard gets.
    import keras

    from forecast import training

    seen = {"val": [], "guard": []}
    fit, guard = keras.Model.fit, training.guard

    def spy_fit(self, *args, **kwargs):
        seen["val"].append(np.concatenate([np.asarray(y) for _, y in
                                           kwargs["validation_data"]]))
        return fit(self, *args, **kwargs)

    def spy_guard(model, start_weights, X, y, *args, **kwargs):
        seen["guard"].append(np.array(y))
        return guard(model, start_weights, X, y, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy_fit)
    monkeypatch.setattr(training, "guard", spy_guard)
    result = cli("train", prices_csv, *TINY, "--epochs", "1", "--horizon", "2")
    assert result.exit_code == 0, result.stderr
    [stop], [tested] = seen["val"], seen["guard"]
    assert len(stop) >= 10 and len(tested) >= 10
    # targets are scaled log-returns of a random walk: each value names one price row
    # (float32 in the dataset, float64 in the guard: compare as float32)
    assert not set(stop.astype(np.float32).ravel()) & set(tested.astype(np.float32).ravel())


def test_choosing_and_testing_on_the_same_rows_lets_noise_through():
    """Why the guard tests on rows early stopping did not see, in NumPy: on white noise,
    pick the best of 20 noise forecasts (20 "epochs") on one half of the validation
    windows, then run the real guard on that half and on the other half."""
    from forecast.training import guard, split_validation

    rng = np.random.default_rng(0)
    kept = {"same rows": 0, "held-out rows": 0}
    trials = 200
    stop, held = split_validation(np.ones(120, bool), 1)
    for _ in range(trials):
        y = rng.normal(0, 1, (120, 1))                     # nothing to predict
        X = rng.normal(0, 1, (120, 1, 20))                 # 20 candidate forecasts / 0.1
        errors = np.abs(y[stop] - 0.1 * X[stop, 0]).mean(axis=0)
        best = int(np.argmin(errors))                      # what early stopping does
        for name, rows in (("same rows", stop), ("held-out rows", held)):
            model = LineModel([0.0], [0.1])
            result = guard(model, [np.zeros(1), np.zeros(1)], X[rows][:, :, best:best + 1],
                           y[rows], "mae", io.StringIO())
            kept[name] += result["kept"] == "network"
    assert kept["held-out rows"] / trials <= 0.05       # the test's own 5% level, or less
    assert kept["same rows"] / trials >= 0.25           # selection bias: noise gets through


def test_no_baseline_guard_keeps_the_best_epoch_of_the_network(cli, prices_csv):
    result = cli("train", prices_csv, *MOVING, "--model-dir", "m")
    assert result.exit_code == 0, result.stderr
    assert "did not beat its starting forecast" not in result.stderr
    config = json.loads((prices_csv.parent / "m" / "config.json").read_text())
    assert config["training"]["baseline_guard"] is False
    assert config["facts"]["baseline_guard"] is None and config["facts"]["best_epoch"] >= 1
    assert_forecasts_move(prices_csv.parent / "m")   # the network's forecasts, not a constant


@pytest.mark.parametrize("args,centre", [
    (["--no-quantiles", "--loss", "mae"], np.median),
    (["--no-quantiles", "--loss", "mse"], np.mean),
    ([], np.median)],                               # a quantile model: its median level
    ids=["mae-median", "mse-mean", "quantiles-median"])
def test_the_guard_starts_from_the_median_or_mean_training_step(cli, prices_csv, args,
                                                                centre):
    # With a learning rate of 1e-9 the network cannot move from its start: every forecast
    # is the start, 0 in the centred targets, which is the median (MAE, quantiles) or mean
    # (MSE) log-return of the training targets.
    result = cli("train", prices_csv, *TINY, "--epochs", "1", "--learning-rate", "1e-9",
                 *args, "--model-dir", "m")
    assert result.exit_code == 0, result.stderr
    steps = implied_steps(backtest_frame(cli("predict", "--model", "m", "--backtest").stdout))
    returns = np.diff(np.log(price_frame(300)["Close"].to_numpy()))
    train_end = json.loads((prices_csv.parent / "m" / "config.json").read_text()
                           )["facts"]["val_start"]
    assert train_end.startswith(price_frame(300)["Date"].iloc[210])
    expected = centre(returns[5:209])          # target rows 6 .. 209: the training windows'
    np.testing.assert_allclose(steps, expected, rtol=0, atol=1e-7)
    other = (np.mean if centre is np.median else np.median)(returns[5:209])
    assert abs(expected - other) > 1e-5


def test_early_stopping_restores_the_best_epoch(cli, prices_csv):
    # A point MAE model, lr 0.03 on a random walk: validation loss is best before the last
    # of 6 epochs, and the stored model must be that epoch's. Its validation MAE in scaled
    # log-returns (centring shifts forecast and target alike) is
    # scale * mean |log(predicted / actual)| over the validation rows of the backtest.
    result = cli("train", prices_csv, "--window", "5", "--units", "4", "--batch-size", "32",
                 "--epochs", "6", "--patience", "6", "--no-baseline-guard", "--no-quantiles",
                 "--learning-rate", "0.03", "--model-dir", "m")
    assert result.exit_code == 0, result.stderr
    model = prices_csv.parent / "m"
    val_loss = pd.read_csv(model / "history.csv")["val_loss"].to_numpy()
    facts = json.loads((model / "config.json").read_text())["facts"]
    best = int(np.argmin(val_loss))
    assert facts["best_epoch"] == best + 1 < len(val_loss)
    assert abs(val_loss[-1] - val_loss[best]) > 1e-3       # the last epoch is worse
    [scaler] = json.loads((model / "scaler.json").read_text())["series"].values()
    scale = 1 / (scaler["data_max"][0] - scaler["data_min"][0])
    table = backtest_frame(cli("predict", "--model", "m", "--backtest").stdout)
    val = ((table["date"] >= facts["val_start"]) & (table["date"] < facts["test_start"]))
    mae = scale * np.mean(np.abs(np.log(table["predicted"][val] / table["actual"][val])))
    assert mae == pytest.approx(val_loss[best], rel=1e-5)


def test_the_gathered_batches_equal_the_materialised_windows():
    """make_dataset sends only start rows through tf.data and gathers each batch from the
    panel's one array: what the network sees must be exactly the materialised windows."""
    import pandas as pd

    from forecast.data import Panel
    from forecast.training import make_dataset
    from forecast.windows import prepare_panel, split_dates

    rng = np.random.default_rng(3)
    frames = {name: pd.DataFrame({"Close": 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n))),
                                  "Volume": rng.uniform(1, 2, n)},
                                 index=pd.bdate_range("2020-01-01", periods=n))
              for name, n in (("a", 90), ("b", 70), ("c", 40))}
    panel = Panel.from_frames(frames)
    prepared = prepare_panel(panel, "log-return", window=6, horizon=2,
                             split=split_dates(panel.dates, 0.1, 0.2))
    starts = prepared.starts[prepared.masks["train"]]
    batches = list(make_dataset(prepared, starts, 16, shuffle=False, seed=0))
    X = np.concatenate([x.numpy() for x, _ in batches])
    y = np.concatenate([t.numpy() for _, t in batches])
    np.testing.assert_allclose(X, prepared.X[prepared.masks["train"]], rtol=1e-6)
    np.testing.assert_allclose(y, prepared.y[prepared.masks["train"]], rtol=1e-6, atol=1e-7)
    assert len(set(prepared.series[prepared.masks["train"]])) == 3


def test_the_shuffled_pipeline_is_a_new_permutation_each_epoch_and_seeded():
    """Shuffling draws one permutation of the start rows per epoch (no shuffle buffer the
    size of the data): every window once per epoch, epochs in different orders, the same
    orders again for the same seed."""
    import pandas as pd

    from forecast.data import Panel
    from forecast.training import make_dataset
    from forecast.windows import prepare_panel, split_dates

    n = 300
    panel = Panel.from_frames({"a": pd.DataFrame(
        {"Close": 50 + np.arange(n, dtype=float)}, index=pd.bdate_range("2020-01-01",
                                                                        periods=n))})
    prepared = prepare_panel(panel, "level", window=4, horizon=1,
                             split=split_dates(panel.dates, 0.1, 0.2))
    starts = prepared.starts[prepared.masks["train"]]

    def epochs(seed, count=3):
        ds = make_dataset(prepared, starts, 32, shuffle=True, seed=seed)
        # the first input of a window identifies it (the prices are all different)
        return [np.concatenate([x.numpy()[:, 0, 0] for x, _ in ds]) for _ in range(count)]

    first = epochs(7)
    expected = np.sort(prepared.X[prepared.masks["train"]][:, 0, 0])
    for order in first:
        np.testing.assert_allclose(np.sort(order), expected, rtol=1e-6)   # float32
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])
    assert not np.array_equal(first[0], np.sort(first[0]))
    again = epochs(7)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(epochs(8, 1)[0], first[0])


def test_origin_forecasts_of_a_series_are_its_own_whatever_the_order():
    from forecast.windows import OriginForecasts

    series = np.array([0, 0, 1, 1, 1, 3])
    rows = np.arange(6) * 10
    prices = np.arange(12.0).reshape(6, 2)
    quantiles = np.arange(36.0).reshape(6, 2, 3)
    for order in (np.arange(6), np.array([5, 2, 0, 3, 1, 4])):   # grouped, shuffled
        f = OriginForecasts(series[order], rows[order], prices[order], quantiles[order])
        for s in range(5):
            got_rows, got_prices = f.of(s)
            use = series[order] == s
            assert got_rows.tolist() == rows[order][use].tolist()
            np.testing.assert_array_equal(got_prices, prices[order][use])
            np.testing.assert_array_equal(f.quantiles_of(s), quantiles[order][use])
