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


# The interval machinery of training, on simulated panels where the answer is known.

def simulated_panel(kind, n=3000, seeds=(0, 1)):
    """Two series of GARCH(0.2, 0.75) steps (``garch``) or of constant-volatility noise,
    and for each origin the 0.1 / 0.5 / 0.9 quantiles that the GARCH filter with the true
    parameters gives: right on the first kind, following swings that are not there on the
    second."""
    import pandas as pd

    from forecast.data import Panel
    from tests.test_baselines import Z80, filtered_sd, garch_path, prices_of

    omega, alpha, beta = 1e-4 * 0.05, 0.2, 0.75
    frames, quantiles, rows_all, series_all = {}, [], [], []
    for s, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        if kind == "garch":
            steps, sd = garch_path(n, omega, alpha, beta, rng)
        else:
            steps = rng.normal(0, 0.01, n)
            sd = filtered_sd(steps, omega, alpha, beta)
        prices = prices_of(steps)
        frames[f"s{s}"] = pd.DataFrame({"Close": prices},
                                       index=pd.bdate_range("2000-01-03", periods=n + 1))
        rows = np.arange(1, n + 1)                    # row r moves by steps[r - 1]
        last = prices[rows - 1]
        quantiles.append(np.stack([last * np.exp(-Z80 * sd), last, last * np.exp(Z80 * sd)],
                                  axis=-1)[:, None, :])
        rows_all.append(rows)
        series_all.append(np.full(n, s))
    from forecast.training import OriginForecasts
    q = np.concatenate(quantiles)
    forecasts = OriginForecasts(np.concatenate(series_all), np.concatenate(rows_all),
                                q[..., 1], q)
    return Panel.from_frames(frames), forecasts


@pytest.mark.parametrize("kind,band", [("garch", "quantiles"), ("noise", "conformal")])
def test_the_interval_guard_keeps_quantiles_that_follow_true_volatility(kind, band):
    from forecast import intervals
    from forecast.training import choose_bands

    panel, forecasts = simulated_panel(kind)
    train_end, val_end = np.array([500, 500]), np.array([2500, 2500])
    vols = [intervals.volatility(panel.target_of(s), "log") for s in range(2)]
    stream = io.StringIO()
    chosen = choose_bands(panel, forecasts, train_end, val_end, "log", vols, np.ones(2),
                          [0.1, 0.5, 0.9], stream)
    pair = chosen.pairs[0]
    assert (pair["level"], pair["lower"], pair["upper"], pair["band"]) == (0.8, 0, 2, band)
    # Two series, one date each row: the test runs on the held-out half's dates.
    assert pair["guard"]["rows"] == 2 * pair["guard"]["dates"] >= 1900
    verdict = "beat" if band == "quantiles" else "did not beat"
    assert f"the network's quantile band (CQR) {verdict} the rolling-volatility" \
        in stream.getvalue()
    assert chosen.uses_quantiles(0.8) == (band == "quantiles")
    assert not chosen.uses_quantiles(0.9)          # no 0.05 / 0.95 levels: conformal


def test_pooled_cqr_calibrates_a_too_narrow_band_over_series_of_different_volatility():
    import pandas as pd

    from forecast.data import Panel
    from forecast.training import OriginForecasts, fit_cqr

    rng = np.random.default_rng(3)
    n, z = 6000, 1.2815515655446004
    frames, parts = {}, []
    for s, level in enumerate((0.01, 0.03)):       # exchangeable rows, volatility varies
        sigma = level * np.exp(rng.normal(0, 0.5, n))
        last = 100 * np.exp(rng.normal(0, 0.1, n))
        actual = last * np.exp(sigma * rng.standard_normal(n))
        prices = np.empty(2 * n)
        prices[0::2], prices[1::2] = last, actual    # row 2i + 1 is forecast from row 2i
        frames[f"s{s}"] = pd.DataFrame({"Close": prices},
                                       index=pd.bdate_range("2000-01-03", periods=2 * n))
        half = 0.5 * z * sigma                          # the right shape, half the width
        q = np.stack([last * np.exp(-half), last, last * np.exp(half)], -1)[:, None, :]
        parts.append((np.full(n, s), np.arange(1, 2 * n, 2), q))
    panel = Panel.from_frames(frames)
    series, rows, q = (np.concatenate(p) for p in zip(*parts))
    forecasts = OriginForecasts(series, rows, q[..., 1], q)
    cut = np.array([2000, 2000])                       # calibrate on rows before it
    cal = fit_cqr(panel, forecasts, np.zeros(2, int), cut, "log", [0.1, 0.5, 0.9], 0, 2)
    assert cal.space == "log" and len(cal.step_scores[0]) == 2 * 1000
    test = rows >= 2000
    lower, upper = cal.band(q[test, 0, 0], q[test, 0, 2])
    actual = np.concatenate([panel.target_of(s) for s in range(2)])[
        np.concatenate([[0], np.cumsum(panel.lengths)])[series[test]] + rows[test]]
    raw = np.mean((q[test, 0, 0] <= actual) & (actual <= q[test, 0, 2]))
    covered = np.mean((lower <= actual) & (actual <= upper))
    assert raw < 0.55 and abs(covered - 0.8) < 0.03   # about 0.009 of sampling error


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
    from forecast.training import output_start, prepare_training

    config = tiny_config()
    prepared, _, _ = prepare_training(read_prices(prices_csv), config)
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
    from forecast.training import origin_forecasts, predict_batched
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
    assert trained.config.facts["interval_guard"]["0.8"]["kept"] == "network"
    assert trained.metrics["test"]["series"]["x"]["intervals"]["band"] == "quantiles"
    prepared = prepare_panel(panel, "log-return", 10, 1, scaler=trained.scaler,
                             derived=["abs-return"])
    forecasts = origin_forecasts(lambda X: predict_batched(trained.model, X), prepared, panel,
                                 "log-return", levels=[0.1, 0.5, 0.9])
    width = np.log(forecasts.quantiles[:-1, 0, 2] / forecasts.quantiles[:-1, 0, 0])
    assert np.corrcoef(width, sd[forecasts.rows[:-1] - 1])[0, 1] > 0.9
